"""Checkpoints know their run: identity mismatches, damaged files, temp files, malicious pickles."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from emofast.errors import StoreError
from emofast.nn import PathNet
from emofast.train import checkpoint as ckpt_io
from emofast.train.evolve import EvolveConfig, evolve

CFG = EvolveConfig(population=4, generations=3, batch_size=16, lr=0.1)


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 48)
    X = (rng.normal(0, 2, (3, 12))[y] + rng.normal(0, 0.7, (48, 12))).astype(np.float32)
    return X, y


def net(seed=0):
    return PathNet(12, 3, num_layers=3, num_modules=6, hidden=5, max_active=2,
                   generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def written(toy, tmp_path):
    X, y = toy
    ck = tmp_path / "run.pt"
    evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=ck, stop_after=2,
           identity={"fold": 1})
    return ck


@pytest.mark.parametrize("change,field", [
    ({"seed": 1}, "seed"),
    ({"identity": {"fold": 2}}, "fold"),
    ({"config": EvolveConfig(population=4, generations=3, batch_size=16, lr=0.2)}, "config.lr"),
    ({"data": True}, "data"),
    ({"standardize": False}, "standardize"),
])
def test_other_runs_are_refused_with_the_field_named(toy, written, change, field):
    X, y = toy
    kw = dict(task=0, config=CFG, seed=0, identity={"fold": 1})
    if change.pop("data", False):
        X = X.copy()
        X[0, 0] += 1e-3
    kw.update(change)
    with pytest.raises(StoreError, match=field) as exc:
        evolve(net(), X, y, checkpoint=written, **kw)
    assert str(written) in str(exc.value)


def test_resume_says_so_and_is_flagged(toy, written):
    X, y = toy
    with pytest.warns(ckpt_io.ResumeWarning, match=r"resuming .*run\.pt at generation 2/3"):
        res = evolve(net(5), X, y, task=0, config=CFG, seed=0, checkpoint=written,
                     identity={"fold": 1})
    assert res.resumed_from == 2 and len(res.history) == 3
    assert evolve(net(), X, y, task=0, config=CFG, seed=0).resumed_from is None


def _damage(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how == "text":
        path.write_text("not a checkpoint\n")
    elif how == "foreign":  # a valid torch file, but not an emofast checkpoint
        torch.save({"net": torch.zeros(3)}, path)
    elif how == "other-kind":
        ckpt_io.save(path, "emofast.fold", {}, {})
    elif how == "old-format":  # what emofast wrote before: numpy arrays need full unpickling
        torch.save({"genotypes": np.zeros((4, 3, 2)), "generation": 1}, path)


@pytest.mark.parametrize("how", ["empty", "truncated", "random", "text", "foreign", "other-kind",
                                 "old-format"])
def test_damaged_checkpoints_name_the_file(toy, written, how):
    X, y = toy
    _damage(written, how)
    with pytest.raises(StoreError) as exc:
        evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=written, identity={"fold": 1})
    assert str(written) in str(exc.value)
    assert "Traceback" not in str(exc.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("zipped", [True, False])
def test_a_malicious_pickle_is_refused_not_run(tmp_path, monkeypatch, zipped):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    if zipped:
        torch.save({"format": 1, "kind": "emofast.evolve", "identity": "{}", "state": _Evil()}, path)
    else:
        path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(StoreError, match="is refused: .*never runs code") as exc:
        ckpt_io.load(path, "emofast.evolve", {})
    assert str(path) in str(exc.value)
    assert not (tmp_path / "PWNED").exists()


def test_failed_write_leaves_no_temporary_file(toy, tmp_path, monkeypatch):
    X, y = toy
    real_save = torch.save

    def disk_full(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        with open(f, "r+b") as fh:  # part of the file is there, then the disk is full
            fh.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    ck = tmp_path / "run.pt"
    with pytest.raises(StoreError, match="cannot write checkpoint .*run.pt"):
        evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=ck)
    assert os.listdir(tmp_path) == []


def test_an_interrupted_write_keeps_the_previous_checkpoint(toy, tmp_path, monkeypatch):
    X, y = toy
    ck = tmp_path / "run.pt"
    evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=ck, stop_after=1)

    def interrupted(obj, f, *a, **k):
        open(f, "wb").write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=ck, stop_after=2)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["run.pt"]
    with pytest.warns(ckpt_io.ResumeWarning, match="generation 1/3"):
        evolve(net(), X, y, task=0, config=CFG, seed=0, checkpoint=ck)


def test_fingerprint_sees_values_shapes_and_dtypes():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    fp = ckpt_io.fingerprint
    assert fp(a) == fp(a.copy()) == fp(torch.from_numpy(a))
    assert fp(a) != fp(a.reshape(4, 3)) != fp(a.astype(np.float64))
    b = a.copy()
    b[2, 3] = np.nextafter(b[2, 3], 100)
    assert fp(a) != fp(b)
    assert fp(np.array(["x", "y"], dtype=object)) == fp(np.array(["x", "y"]))
