"""emofast.parallel.ordered_map: input order, bounded work in flight, errors as records, clean close,
threads and processes, and the unguarded-script fallback."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from emofast.errors import InputError
from emofast.parallel import Result, ordered_map, unguarded_main

ROOT = Path(__file__).resolve().parents[1]


def slow_inverse(x: int) -> int:
    """Later items finish first: completion order is the reverse of input order."""
    time.sleep(0.02 * (5 - x % 5))
    if x == 7:
        raise ValueError(f"item {x} is bad")
    return x * x


@pytest.mark.parametrize("kind,workers", [("threads", 0), ("threads", 1), ("threads", 3), ("processes", 2)])
def test_input_order_and_errors_as_records(kind, workers):
    recs = list(ordered_map(slow_inverse, range(10), workers=workers, kind=kind))
    assert all(isinstance(r, Result) for r in recs)
    assert [r.index for r in recs] == list(range(10))
    assert [r.value for r in recs] == [None if i == 7 else i * i for i in range(10)]
    assert isinstance(recs[7].error, ValueError) and "item 7" in str(recs[7].error)
    assert all(r.error is None for r in recs if r.index != 7)


def test_serial_runs_in_the_calling_thread():
    me = threading.get_ident()
    assert {r.value for r in ordered_map(lambda _: threading.get_ident(), range(4), workers=1)} == {me}
    assert {r.value for r in ordered_map(lambda _: threading.get_ident(), range(4), workers=2)} != {me}


def test_processes_run_elsewhere():
    pids = {r.value for r in ordered_map(_pid, range(4), workers=2, kind="processes")}
    assert os.getpid() not in pids


def _pid(_: int) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers,bound", [(2, None), (3, 5), (1, None)])
def test_bounded_in_flight_and_lazy_input(workers, bound):
    pulled = []

    def items():
        for i in range(40):
            pulled.append(i)
            yield i

    gate = threading.Event()

    def fn(x):
        gate.wait(5)
        return x

    limit = max(workers, bound or 2 * workers) if workers > 1 else 1
    gen = ordered_map(fn, items(), workers=workers, max_in_flight=bound)
    assert pulled == []  # nothing starts before the first next()
    threading.Timer(0.2, gate.set).start()
    first = next(gen)
    assert first.index == 0
    seen = 1
    assert len(pulled) <= seen + limit
    for r in gen:
        seen += 1
        assert len(pulled) <= seen + limit, (len(pulled), seen)
    assert seen == 40


def test_close_midway_cancels_the_rest_and_does_not_hang():
    started = []

    def fn(x):
        started.append(x)
        time.sleep(0.1)
        return x

    t0 = time.monotonic()
    gen = ordered_map(fn, range(100), workers=2)
    assert next(gen).value == 0
    gen.close()
    assert time.monotonic() - t0 < 2.0
    n = len(started)
    time.sleep(0.3)
    assert len(started) == n <= 1 + 4  # the first, the bound (2 * workers), nothing after close


def test_consumer_exception_shuts_down_processes():
    gen = ordered_map(slow_inverse, range(20), workers=2, kind="processes")
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="consumer"):
        for r in gen:
            if r.index == 2:
                raise RuntimeError("consumer stopped")
    assert time.monotonic() - t0 < 10.0


def test_keyboard_interrupt_is_raised_not_recorded():
    def fn(x):
        if x == 2:
            raise KeyboardInterrupt
        return x

    for workers in (1, 2):
        got = []
        with pytest.raises(KeyboardInterrupt):
            for r in ordered_map(fn, range(6), workers=workers):
                got.append(r.value)
        assert got == [0, 1]


def test_bad_arguments():
    with pytest.raises(InputError, match="kind"):
        ordered_map(abs, [1], kind="fibers")
    with pytest.raises(InputError, match="workers"):
        ordered_map(abs, [1], workers=-1)
    with pytest.raises(InputError, match="max_in_flight"):
        ordered_map(abs, [1], max_in_flight=0)


def test_not_called_from_unguarded_main_under_pytest():
    assert unguarded_main() is None


SCRIPT = """
import os, warnings
warnings.simplefilter("always")
from emofast.parallel import ordered_map

def where(_):
    return os.getpid()

{body}
"""


def _run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(body=textwrap.dedent(body)))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


def test_unguarded_script_falls_back_to_threads(tmp_path):
    proc = _run_script(tmp_path, """
        pids = {r.value for r in ordered_map(where, range(4), workers=2, kind="processes")}
        print("same process" if pids == {os.getpid()} else "other processes", len(pids))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "same process 1"
    assert "running on threads" in proc.stderr and "job.py:" in proc.stderr


def test_guarded_script_uses_processes(tmp_path):
    proc = _run_script(tmp_path, """
        if __name__ == "__main__":
            pids = {r.value for r in ordered_map(where, range(4), workers=2, kind="processes")}
            print("same process" if pids == {os.getpid()} else "other processes")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "other processes" and "threads" not in proc.stderr


def test_package_main_is_not_reimported_so_it_keeps_processes(tmp_path):
    # python -m pkg runs pkg/__main__.py, which worker processes never re-import: processes are safe
    # there even without a guard (this is how ``python -m emofast`` runs).
    pkg = tmp_path / "jobpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "work.py").write_text("import os\n\ndef pid(_):\n    return os.getpid()\n")
    (pkg / "__main__.py").write_text(
        "import os\nfrom emofast.parallel import ordered_map\nfrom jobpkg.work import pid\n"
        "pids = {r.value for r in ordered_map(pid, range(4), workers=2, kind='processes')}\n"
        "print('other processes' if os.getpid() not in pids else 'same process')\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-W", "always", "-m", "jobpkg"], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "other processes" and "threads" not in proc.stderr
