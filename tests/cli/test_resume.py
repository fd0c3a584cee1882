"""Resumable ``emofast evolve`` / ``emofast evaluate``: interrupted (in process and by SIGKILL),
rerun, and the result equal to an uninterrupted run's; checkpoint folders of other runs refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emofast import cli
from emofast.train import checkpoint as ckpt_io

ROOT = Path(__file__).resolve().parents[2]
EMOS = ["anger", "fear", "sadness"]


def _archive(path: Path, n_utt: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_utt), 2)
    labels = np.array([EMOS[i % 3] for i in range(n_utt)])
    X = rng.normal(0, 1, (2 * n_utt, 3, 64, 64)).astype(np.float32)
    X[:, 0, 0, :3] += 3 * np.eye(3)[[EMOS.index(lab) for lab in labels[groups]]]
    np.savez(path, X=X, groups=groups, labels=labels,
             speakers=np.array([f"s{(i // 3) % 3}" for i in range(n_utt)]))
    return path


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("arch")
    return _archive(d / "tgt.npz", 12, 0), _archive(d / "src.npz", 12, 1)


def _evolve_args(archives, out, *extra, generations=4):
    tgt, src = archives
    return ["evolve", "--target", str(tgt), "--source", str(src), "--protocol", "loso",
            "--generations", str(generations), "--population", "4", "--steps-per-epoch", "1",
            "--no-plots", "--no-progress", "--out", str(out), *extra]


def _numbers(out: Path) -> list[dict]:
    """results.json's evaluations without wall times."""
    evs = json.loads((out / "results.json").read_text())["evaluations"]
    for ev in evs:
        ev.pop("seconds")
        for fd in ev["folds"]:
            fd.pop("seconds", None)
    return evs


@pytest.fixture(scope="module")
def reference(archives, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    assert cli.main(_evolve_args(archives, out, "--no-checkpoint")) == 0
    assert not (out / "checkpoints").exists()
    return _numbers(out)


def test_evolve_interrupted_in_process_resumes_to_the_same_result(archives, reference, tmp_path,
                                                                  monkeypatch, capsys):
    out = tmp_path / "out"
    saves = []
    real = ckpt_io.save

    def save_then_interrupt(path, *a, **k):
        real(path, *a, **k)
        saves.append(path)
        if len(saves) == 9:  # inside the transfer arm's first fold: source stage done
            raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_io, "save", save_then_interrupt)
    assert cli.main(_evolve_args(archives, out)) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert cli.main(_evolve_args(archives, out)) == 0
    text = capsys.readouterr().out
    assert "resuming" in text and "generation" in text and "not re-run" in text
    assert _numbers(out) == reference
    # a rerun of a finished run re-runs nothing and gives the same numbers again
    assert cli.main(_evolve_args(archives, out)) == 0
    assert _numbers(out) == reference


@pytest.mark.parametrize("change,field", [(["--seed", "1"], "seed"),
                                          (["--lr", "0.05"], "settings.evolve.lr"),
                                          (["--protocol", "kfold"], "protocol")])
def test_checkpoint_dir_of_another_run_is_refused(archives, tmp_path, capsys, change, field):
    ck = tmp_path / "ck"
    assert cli.main(_evolve_args(archives, tmp_path / "a", "--checkpoint-dir", str(ck),
                                 "--max-folds", "1", generations=1)) == 0
    args = _evolve_args(archives, tmp_path / "b", "--checkpoint-dir", str(ck), "--max-folds", "1",
                        generations=1)
    i = args.index("--protocol")
    args = args[:i] + args[i + 2:] + (change if "--protocol" in change else change + ["--protocol", "loso"])
    capsys.readouterr()
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert f"{ck}" in err and f"{field} is" in err, err


def test_other_data_is_refused(archives, tmp_path, capsys):
    ck = tmp_path / "ck"
    assert cli.main(_evolve_args(archives, tmp_path / "a", "--checkpoint-dir", str(ck),
                                 "--max-folds", "1", generations=1)) == 0
    other = _archive(tmp_path / "tgt.npz", 12, 5)
    args = _evolve_args((other, archives[1]), tmp_path / "b", "--checkpoint-dir", str(ck),
                        "--max-folds", "1", generations=1)
    assert cli.main(args) == 1
    assert "data is" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["evolve", "evaluate"])
def test_out_is_checked_before_any_work(tmp_path, capsys, command):
    (tmp_path / "file").write_text("x")
    argv = ([command, "--target", "missing.npz"] if command == "evolve"
            else [command, str(tmp_path / "no-store")])
    assert cli.main(argv + ["--out", str(tmp_path / "file")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert cli.main(argv + ["--out", str(tmp_path / "file" / "sub")]) == 1
    assert "cannot be created" in capsys.readouterr().err
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # (root can write anywhere: nothing to check)
            assert cli.main(argv + ["--out", str(ro)]) == 1
            assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------------------- killed runs

def _spawn(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "emofast", *argv], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (polling); fail if it ends first."""
    t0 = time.monotonic()
    while not ready():
        assert proc.poll() is None, f"finished before it could be killed:\n{proc.stdout.read()}"
        assert time.monotonic() - t0 < timeout, "timed out waiting for a checkpoint"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _run(argv: list[str]) -> str:
    proc = _spawn(argv)
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text
    return text


def _generation(path: Path, kind: str = "emofast.evolve") -> int:
    import torch

    try:
        return int(torch.load(path, weights_only=True)["state"]["generation"])
    except Exception:  # noqa: BLE001 - being replaced right now
        return -1


@pytest.mark.parametrize("moment", ["mid-scratch-fold", "mid-transfer-target"])
def test_evolve_killed_and_rerun_equals_uninterrupted(archives, reference, tmp_path, moment):
    out = tmp_path / "out"
    argv = _evolve_args(archives, out, "--threads", "1")
    ck = out / "checkpoints"
    if moment == "mid-scratch-fold":  # scratch arm, fold 2, after its 2nd generation
        def ready():
            return (ck / "scratch" / "fold1.pt").exists() and \
                _generation(ck / "scratch" / "fold2" / "evolve.pt") >= 2
    else:  # transfer arm, fold 1, target stage started
        def ready():
            return _generation(ck / "transfer" / "fold1" / "stage1.pt") >= 1
    _kill_when(_spawn(argv), ready)
    assert not (out / "results.json").exists()
    text = _run(argv)
    assert "resuming" in text
    assert _numbers(out) == reference


def _store(tmp_path_factory, demo_roots):
    path = tmp_path_factory.mktemp("store")
    assert cli.main(["features", "demo", str(demo_roots["demo_studio"]), "--out", str(path),
                     "--no-progress"]) == 0
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, demo_roots):
    return _store(tmp_path_factory, demo_roots)


def test_evaluate_killed_between_folds_and_rerun_equals_uninterrupted(store, tmp_path):
    common = ["evaluate", str(store), "--protocol", "kfold", "--folds", "3", "--epochs", "2",
              "--no-plots", "--no-progress", "--threads", "1"]
    ref = tmp_path / "ref"
    _run(common + ["--out", str(ref), "--no-checkpoint"])
    out = tmp_path / "out"
    ck = out / "checkpoints" / "kfold"
    proc = _spawn(common + ["--out", str(out)])
    _kill_when(proc, lambda: (ck / "fold1.pt").exists())
    assert not (out / "results.json").exists()
    text = _run(common + ["--out", str(out)])
    assert "fold 1: finished in" in text
    assert _numbers(out) == _numbers(ref)
