"""What the distributed tests run on every rank (imported by name in each rank process).

Every function returns plain numpy data and lists, and uses tiny data and models so that a
two-rank run takes a second or two once torch is imported.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from torch import nn


def gloo_available() -> bool:
    """Whether this torch can run a gloo process group."""
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_gloo_available())


#: Mark of every test that starts ranks: skipped where torch has no gloo backend.
needs_gloo = pytest.mark.skipif(not gloo_available(), reason="torch.distributed with gloo is unavailable")


def rank() -> int:
    from emofast import distributed as dist

    return dist.rank()


# --- fit ---------------------------------------------------------------------------------------

def fit_data(n: int = 37) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 3x8x8 segments of 3 classes (37 rows: uneven batches on purpose)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    return X, rng.integers(0, 3, n)


def small_cnn(n_classes: int = 3) -> nn.Module:
    """A seeded conv + GroupNorm + linear network for 3x8x8 inputs."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, n_classes))


def flat_params(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def fit_runs(configs: list[dict]) -> list[dict]:
    """:func:`emofast.train.fit.fit` of :func:`small_cnn` on :func:`fit_data` per config; the
    ``evaluate`` and ``select`` callbacks count their calls (``select`` gets worse every epoch)."""
    from emofast.train.fit import FitConfig, fit

    X, y = fit_data()
    out = []
    for kw in configs:
        model, calls = small_cnn(), {"evaluate": 0, "select": 0}

        def evaluate(m: nn.Module) -> float:
            calls["evaluate"] += 1
            return 0.5

        def select(m: nn.Module) -> float:
            calls["select"] += 1
            return -float(calls["select"])

        hist = fit(model, X, y, FitConfig(progress=False, **kw), evaluate=evaluate, select=select)
        out.append({"params": flat_params(model), "train_loss": hist.train_loss,
                    "train_acc": hist.train_acc, "eval_acc": hist.eval_acc,
                    "select_score": hist.select_score, "best_epoch": hist.best_epoch, "calls": calls})
    return out


# --- evolve --------------------------------------------------------------------------------------

def evolve_once(mode: str = "parallel", tournaments: int = 1, seed: int = 0, generations: int = 5,
                checkpoint: str | None = None, stop_after: int | None = None) -> dict:
    """A small PathNet (L=3, M=6, H=8, N=2) evolved on 60 random 24-feature rows."""
    from emofast.nn import PathNet
    from emofast.train.evolve import EvolveConfig, evolve

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 24)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    net = PathNet(24, 3, num_modules=6, hidden=8, max_active=2,
                  generator=torch.Generator().manual_seed(seed))
    cfg = EvolveConfig(population=6, generations=generations, batch_size=16, steps_per_epoch=3,
                       mode=mode, tournaments=tournaments)
    res = evolve(net, X, y, task=0, config=cfg, seed=seed, checkpoint=checkpoint,
                 stop_after=stop_after)
    return {"genotypes": res.genotypes, "fitness": res.fitness, "params": flat_params(net),
            "history": [h["fitness"] for h in res.history], "resumed_from": res.resumed_from}


def evolve_runs(jobs: list[dict]) -> list[dict]:
    """:func:`evolve_once` per job (keyword arguments), in order."""
    return [evolve_once(**job) for job in jobs]


def evolve_resume(folder: str) -> dict:
    """An uninterrupted run, then the same run interrupted after 2 of 5 generations and resumed
    from its checkpoint in ``folder``."""
    path = os.path.join(folder, "evolve.pt")
    full = evolve_once(tournaments=2)
    cut = evolve_once(tournaments=2, checkpoint=path, stop_after=2)
    resumed = evolve_once(tournaments=2, checkpoint=path)
    return {"full": full, "cut": cut, "resumed": resumed}


# --- files ---------------------------------------------------------------------------------------

_WRITE_EVENTS = ("os.rename", "os.mkdir", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree",
                 "shutil.copyfile", "os.symlink", "os.link", "os.chmod")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def watch_writes(root: str) -> list[tuple[str, str]]:
    """Record (event, path) of every file-system change under ``root`` this process makes from
    now on (audit hooks: file opens for writing, renames, mkdir, removals)."""
    writes: list[tuple[str, str]] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, _mode, flags = args
            if isinstance(flags, int) and flags & _WRITE_FLAGS and str(path).startswith(root):
                writes.append((event, str(path)))
        elif event in _WRITE_EVENTS and args and str(args[0]).startswith(root):
            writes.append((event, str(args[0])))

    sys.addaudithook(hook)
    return writes


def tiny_arrays(seed: int, n_utt: int = 12) -> dict[str, np.ndarray]:
    """An archive's arrays (``X``, ``groups``, ``labels``, ``speakers``): 3x8x8 segments, 2 per
    utterance, 3 classes, 3 speakers who each speak every class."""
    emos = ["anger", "fear", "sadness"]
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_utt), 2)
    labels = np.array([emos[i % 3] for i in range(n_utt)])
    X = rng.normal(size=(2 * n_utt, 3, 8, 8)).astype(np.float32)
    X[:, 0, 0, :3] += 3 * np.eye(3)[[emos.index(labels[g]) for g in groups]]
    return {"X": X, "groups": groups, "labels": labels,
            "speakers": np.array([f"s{(i // 3) % 3}" for i in range(n_utt)])}


def tiny_corpus(seed: int, n_utt: int = 12):
    """:func:`tiny_arrays` as a :class:`~emofast.dataset.SegmentData`."""
    from emofast.dataset import from_arrays

    a = tiny_arrays(seed, n_utt)
    return from_arrays(a["X"], a["groups"], list(a["labels"]), list(a["speakers"]), corpus=f"c{seed}")


def _numbers(evaluations) -> list[dict]:
    return [{"name": ev.name, "war": ev.scores.war, "fold_uar": list(ev.fold_uar),
             "posteriors": np.asarray(ev.predictions["posteriors"]),
             "best": [f.get("best") for f in ev.folds]} for ev in evaluations]


def experiments(folder: str) -> list[dict]:
    """PathNet scratch and transfer (parallel mode) and the CNN fold callback over 2 folds, with
    checkpoints in ``folder``."""
    from emofast.experiments.baseline import BaselineConfig, cnn_fold
    from emofast.experiments.crossval import cross_validate
    from emofast.experiments.pathnet import scratch_vs_transfer
    from emofast.train.evolve import EvolveConfig

    target, source = tiny_corpus(0), tiny_corpus(1)
    cfg = EvolveConfig(population=4, generations=2, batch_size=8, steps_per_epoch=2, mode="parallel",
                       tournaments=2)
    arms = scratch_vs_transfer(target, sources=[source], protocol="kfold", folds=2, config=cfg,
                               checkpoint_dir=os.path.join(folder, "pathnet"))
    cnn = cross_validate(target, "kfold", cnn_fold(BaselineConfig(epochs=2, batch_size=6, dropout=0.0),
                                                   make_model=small_cnn, progress=False),
                         name="cnn", folds=2, checkpoint_dir=os.path.join(folder, "cnn"))
    return _numbers([*arms.values(), cnn])


def experiments_watched(folder: str) -> dict:
    """:func:`experiments` twice (the second resumes every fold) with this rank's writes recorded."""
    writes = watch_writes(folder)
    first = experiments(folder)
    second = experiments(folder)
    return {"first": first, "second": second, "writes": list(writes)}


# --- collectives -----------------------------------------------------------------------------------

def collectives_probe() -> dict:
    """Each collective once, with rank-dependent inputs; errors caught and reported by type."""
    from emofast import distributed as dist
    from emofast.errors import StoreError

    r = dist.rank()
    out: dict = {"rank": r, "world": dist.world(), "main": dist.is_main(), "active": dist.active()}
    out["gathered"] = dist.all_gather_arrays(np.arange(r + 2) * 10)
    out["summed"] = dist.all_reduce_sum(np.array([1.0, r]))
    out["broadcast"] = dist.broadcast_object({"from": r})
    out["on_main"] = dist.on_main(lambda: f"computed on rank {dist.rank()}")
    try:
        dist.on_main(lambda: (_ for _ in ()).throw(StoreError("disk full")))
    except StoreError as exc:
        out["on_main_error"] = str(exc)
    try:
        dist.check_same("values", np.array([r]))
    except RuntimeError as exc:
        out["drift"] = str(exc)
    dist.check_same("values", np.array([7]))
    a = nn.Parameter(torch.zeros(2))
    b = nn.Parameter(torch.zeros(1))
    c = nn.Parameter(torch.zeros(1))
    a.grad = torch.full((2,), float(r + 1))
    b.grad = torch.ones(1) if r == 1 else None  # a gradient on one rank only
    dist.sum_gradients([a, b, c])
    out["grads"] = [a.grad.numpy().copy(), b.grad.numpy().copy(), c.grad]
    dist.barrier()
    return out


# --- joint learning ----------------------------------------------------------------------------------

def joint_runs(configs: list[dict], folder: str | None = None) -> list[dict]:
    """:func:`emofast.train.joint.fit_joint` of a tiny GroupNorm CNN on two random corpora of 3x8x8
    segments (13 and 9 rows, 3 shared classes) per config; ``evaluate`` counts its calls and, with
    ``folder``, writes a file there (the rank-0 writer); this rank's writes under ``folder`` are
    recorded."""
    from emofast.nn import GroupNormCNN
    from emofast.train.joint import JointConfig, fit_joint

    writes = watch_writes(folder) if folder else []
    rng = np.random.default_rng(2)
    first = rng.normal(size=(13, 3, 8, 8)).astype(np.float32), rng.integers(0, 3, 13)
    second = (rng.normal(size=(9, 3, 8, 8)) + 0.5).astype(np.float32), rng.integers(0, 3, 9)
    out = []
    for i, kw in enumerate(configs):
        torch.manual_seed(0)
        net = GroupNormCNN(3, input_size=8, channels=(4,), hidden=(8,), groups=2, dropout=0.0)
        calls = {"evaluate": 0}

        def evaluate(m: nn.Module) -> float:
            calls["evaluate"] += 1
            if folder:
                with open(os.path.join(folder, f"eval{i}-{calls['evaluate']}.txt"), "w") as fh:
                    fh.write("0.5")
            return 0.5

        hist = fit_joint(net, first, second, JointConfig(progress=False, **kw), evaluate=evaluate)
        out.append({"params": flat_params(net), "train_loss": hist.train_loss,
                    "train_acc": hist.train_acc, "train_acc2": hist.train_acc2, "terms": hist.terms,
                    "eval_acc": hist.eval_acc, "steps": hist.steps, "calls": calls})
    return [out, list(writes)] if folder else out
