"""A plain supervised training loop.

:func:`fit` trains a classifier on segment arrays (mini-batches, Adam or SGD, a seed, a progress
bar); :func:`predict_proba` returns softmax posteriors. Cross-validation over a protocol is the
experiment layer's (:func:`emofast.experiments.crossval.cross_validate`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from emofast._progress import progress_bar
from emofast.errors import InputError

__all__ = [
    "FitConfig",
    "FitHistory",
    "fit",
    "predict_proba",
]


@dataclass
class FitConfig:
    """Hyper-parameters of :func:`fit`.

    Attributes
    ----------
    epochs : int, default 10
    batch_size : int, default 32
    lr : float, default 1e-3
    optimizer : {"adam", "sgd"}, default "adam"
    momentum : float, default 0.9
        SGD only.
    weight_decay : float, default 0.0
    seed : int, default 0
        Seeds mini-batch order and dropout (seed the model yourself before building it).
    progress : bool, default True
        Show a tqdm bar (stderr).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in ("adam", "sgd"):
            raise InputError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")


@dataclass
class FitHistory:
    """Per-epoch learning curve.

    Attributes
    ----------
    train_loss, train_acc : list of float
        Mean loss / segment accuracy over each epoch's mini-batches.
    eval_acc : list of float
        What the ``evaluate`` callback of :func:`fit` returned after each epoch (empty without
        one).
    seconds : float
        Wall time of the loop.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    eval_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _batches(X: np.ndarray, idx: np.ndarray, batch_size: int):
    for start in range(0, idx.size, batch_size):
        sel = idx[start:start + batch_size]
        yield sel, torch.from_numpy(np.ascontiguousarray(X[sel], dtype=np.float32))


@torch.no_grad()
def predict_proba(model: nn.Module, X: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Softmax posteriors of ``model`` over ``X`` in evaluation mode.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, ...)`` float32 tensors to logits ``(batch, n_classes)``.
    X : array of shape (n, ...)
    batch_size : int, default 256

    Returns
    -------
    numpy.ndarray of float32, shape (n, n_classes)
    """
    was_training = model.training
    model.eval()
    out = [torch.softmax(model(xb), dim=1).numpy()
           for _, xb in _batches(X, np.arange(len(X)), batch_size)]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def fit(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    config: FitConfig | None = None,
    *,
    evaluate: Callable[[nn.Module], float] | None = None,
    desc: str = "fit",
) -> FitHistory:
    """Train ``model`` with cross-entropy on ``(X, y)``.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits; trained in place.
    X : array of shape (n, ...)
        Inputs (numpy array or memmap; converted to float32 per batch).
    y : array of int, shape (n,)
        Class indices.
    config : FitConfig, optional
    evaluate : callable, optional
        ``evaluate(model) -> float`` after every epoch (in evaluation mode), for the learning
        curve (:attr:`FitHistory.eval_acc`).
    desc : str
        Progress-bar label.

    Returns
    -------
    FitHistory
    """
    cfg = config or FitConfig()
    y = np.asarray(y, dtype=np.int64)
    if len(X) != y.size:
        raise InputError(f"X has {len(X)} rows but y has {y.size} labels")
    if y.size == 0:
        raise InputError("no training data")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    yt = torch.from_numpy(y)
    hist = FitHistory()
    t0 = time.perf_counter()
    steps = cfg.epochs * -(-y.size // cfg.batch_size)
    bar = progress_bar(total=steps, desc=desc, enabled=cfg.progress, leave=False, unit="batch")
    model.train()
    for _ in range(cfg.epochs):
        order = rng.permutation(y.size)
        total_loss, correct = 0.0, 0
        for sel, xb in _batches(X, order, cfg.batch_size):
            yb = yt[sel]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * sel.size
            correct += int((logits.argmax(1) == yb).sum())
            bar.update(1)
        hist.train_loss.append(total_loss / y.size)
        hist.train_acc.append(correct / y.size)
        if evaluate is not None:
            was_training = model.training
            model.eval()
            hist.eval_acc.append(float(evaluate(model)))
            model.train(was_training)
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.3f}", acc=f"{hist.train_acc[-1]:.2f}")
    bar.close()
    hist.seconds = time.perf_counter() - t0
    return hist
