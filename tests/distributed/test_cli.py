"""``emofast evolve``, ``emofast evaluate`` and ``emofast joint`` under torchrun (2 ranks, gloo):
the one-process result, rank 0 alone printing; other commands refuse to run under torchrun."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from dist_workers import needs_gloo, tiny_arrays

from emofast import cli

pytestmark = needs_gloo

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(args: list[str], timeout: float = 150) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EMOFAST_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "emofast", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _evaluations(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["evaluations"]


def _assert_same_results(one: Path, two: Path) -> None:
    for a, b in zip(_evaluations(one), _evaluations(two), strict=True):
        assert [f.get("best") for f in a["folds"]] == [f.get("best") for f in b["folds"]]
        np.testing.assert_allclose(a["predictions"]["posteriors"], b["predictions"]["posteriors"],
                                   atol=1e-5)


def _archive(path: Path, seed: int) -> Path:
    np.savez(path, **tiny_arrays(seed))
    return path


def test_evolve_under_torchrun_gives_the_one_process_result(tmp_path, capsys):
    common = ["evolve", "--target", str(_archive(tmp_path / "tgt.npz", 0)),
              "--source", str(_archive(tmp_path / "src.npz", 1)), "--protocol", "loso",
              "--generations", "3", "--population", "4", "--tournaments", "2", "--mode", "parallel",
              "--steps-per-epoch", "2", "--no-plots", "--no-progress"]
    assert cli.main(common + ["--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    proc = _torchrun(common + ["--out", str(tmp_path / "two")])
    assert proc.stdout.count("emofast evolve: PathNet on tgt") == 1  # rank 0 prints, alone
    assert (tmp_path / "two" / "checkpoints" / "transfer" / "fold3.pt").exists()
    _assert_same_results(tmp_path / "one", tmp_path / "two")


def test_evaluate_under_torchrun_gives_the_one_process_result(demo_store, tmp_path, capsys):
    common = ["evaluate", str(demo_store), "--protocol", "kfold", "--folds", "2", "--max-folds", "1",
              "--epochs", "1", "--dropout", "0", "--no-plots", "--no-progress", "--threads", "1"]
    assert cli.main(common + ["--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    proc = _torchrun(common + ["--out", str(tmp_path / "two")])
    assert proc.stdout.count("report: ") == 1
    _assert_same_results(tmp_path / "one", tmp_path / "two")


def test_joint_under_torchrun_gives_the_one_process_result(demo_roots, tmp_path, capsys):
    store = tmp_path / "store"
    for corpus in ("demo_studio", "demo_phone"):
        assert cli.main(["features", "demo", str(demo_roots[corpus]), "--out", str(store),
                         "--no-progress"]) == 0
    common = ["joint", str(store), "--target", "demo_phone", "--source", "demo_studio",
              "--protocol", "loso", "--max-folds", "1", "--steps", "3", "--batch", "3",
              "--align", "none", "contrastive", "--baselines", "--labels", "anger,happiness,sadness",
              "--dropout", "0", "--no-plots", "--no-progress", "--threads", "1"]
    assert cli.main(common + ["--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    proc = _torchrun(common + ["--out", str(tmp_path / "two")])
    assert proc.stdout.count("report: ") == 1  # rank 0 prints, alone
    assert (tmp_path / "two" / "checkpoints" / "loso" / "demo_phone" / "contrastive" /
            "fold1.pt").is_file()
    _assert_same_results(tmp_path / "one", tmp_path / "two")


def test_other_commands_refuse_torchrun(monkeypatch, tmp_path, capsys):
    for var, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(var, value)
    assert cli.main(["combine", "a.json", "b.json", "--out", str(tmp_path)]) == 1
    assert "does not run under torchrun" in capsys.readouterr().err
