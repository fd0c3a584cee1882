"""Run every benchmark table script in turn and print their markdown tables (``make bench``).

Each script measures its own references in the same run, so every ratio it prints compares
numbers taken back to back on the same machine. Pass ``--only contrastive,audio`` to select.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = {
    "contrastive": ["contrastive_table.py"],
    "audio": ["audio_table.py"],
    "video": ["video_table.py"],
    "pathnet": ["pathnet_table.py"],
    "joint": ["bench_joint.py"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(TABLES), help="comma-separated subset of " + ", ".join(TABLES))
    args = ap.parse_args()
    failed = []
    for name in args.only.split(","):
        if name not in TABLES:
            ap.error(f"unknown table {name!r}; choose from {', '.join(TABLES)}")
        print(f"\n## {name}\n", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / TABLES[name][0]), *TABLES[name][1:]], cwd=HERE)
        print(f"\n({name}: {time.perf_counter() - t0:.0f} s, exit {rc})", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
