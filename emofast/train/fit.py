"""A plain supervised training loop and protocol-driven cross-validation.

:func:`fit` trains a classifier on segment arrays (mini-batches, Adam or SGD, a seed, a tqdm bar);
:func:`predict_proba` returns softmax posteriors; :func:`cross_validate` runs a model over the
splits of an :mod:`emofast.protocols` protocol, standardising with training-fold statistics only,
and returns utterance-level posteriors (mean of segment posteriors) for every test fold.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from emofast.protocols import aggregate_segments, segments_of

__all__ = [
    "FitConfig",
    "FitHistory",
    "fit",
    "predict_proba",
    "standardizer",
    "FoldResult",
    "CVResult",
    "cross_validate",
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
        Seeds mini-batch order, dropout and (in :func:`cross_validate`) model initialisation.
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
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")


@dataclass
class FitHistory:
    """Per-epoch learning curve.

    Attributes
    ----------
    train_loss, train_acc : list of float
        Mean loss / segment accuracy over each epoch's mini-batches.
    val_acc : list of float
        Accuracy on the validation data after each epoch (utterance level when validation groups
        were given), empty without validation data.
    seconds : float
        Wall time of the loop.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _group_labels(segment_labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Label of each group in sorted group order (segments of a group share their label)."""
    _, first = np.unique(np.asarray(groups), return_index=True)
    return np.asarray(segment_labels)[first]


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
    val: tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
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
    val : (X_val, y_val) or (X_val, y_val, groups_val), optional
        Evaluated after every epoch for the learning curve. With ``groups_val`` (utterance index of
        each validation segment, ``y_val`` then per segment) the accuracy is utterance-level.
    desc : str
        Progress-bar label.

    Returns
    -------
    FitHistory
    """
    from tqdm.auto import tqdm

    cfg = config or FitConfig()
    y = np.asarray(y, dtype=np.int64)
    if len(X) != y.size:
        raise ValueError(f"X has {len(X)} rows but y has {y.size} labels")
    if y.size == 0:
        raise ValueError("no training data")
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
    bar = tqdm(total=steps, desc=desc, disable=not cfg.progress, leave=False, unit="batch")
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
        if val is not None:
            post = predict_proba(model, val[0])
            yv = np.asarray(val[1])
            if len(val) == 3:
                post, _ = aggregate_segments(post, val[2])
                yv = _group_labels(yv, val[2])
            hist.val_acc.append(float(np.mean(post.argmax(1) == yv)))
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.3f}", acc=f"{hist.train_acc[-1]:.2f}")
    bar.close()
    hist.seconds = time.perf_counter() - t0
    return hist


def standardizer(X: np.ndarray, idx: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``X[idx]`` (shape ``(1, C, 1, 1)``, float32)."""
    n = 0
    s = ss = None
    for start in range(0, idx.size, chunk):
        xb = np.asarray(X[idx[start:start + chunk]], dtype=np.float64)
        axes = (0,) + tuple(range(2, xb.ndim))
        s = xb.sum(axis=axes) if s is None else s + xb.sum(axis=axes)
        ss = (xb ** 2).sum(axis=axes) if ss is None else ss + (xb ** 2).sum(axis=axes)
        n += xb.size // xb.shape[1]
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean ** 2, 0.0)) + 1e-6
    shape = (1, -1) + (1,) * (len(X.shape) - 2)
    return mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32)


@dataclass
class FoldResult:
    """One split of :func:`cross_validate`.

    Attributes
    ----------
    test_idx : numpy.ndarray
        Utterance indices (segment indices for segment-level protocols) that were tested.
    posteriors : numpy.ndarray of shape (len(test_idx), n_classes)
    y_true : numpy.ndarray of int
    history : FitHistory
    """

    test_idx: np.ndarray
    posteriors: np.ndarray
    y_true: np.ndarray
    history: FitHistory


@dataclass
class CVResult:
    """All folds of a protocol, pooled.

    Attributes
    ----------
    folds : list of FoldResult
    y_true : numpy.ndarray of int
        Concatenated test labels over folds.
    posteriors : numpy.ndarray of shape (n_tested, n_classes)
        Concatenated test posteriors over folds.
    segment_level : bool
        True when items are segments (the papers' leaky split), False for utterances.
    seconds : float
    """

    folds: list[FoldResult]
    y_true: np.ndarray
    posteriors: np.ndarray
    segment_level: bool
    seconds: float

    @property
    def fold_war(self) -> np.ndarray:
        """Accuracy of each fold."""
        return np.array([np.mean(f.posteriors.argmax(1) == f.y_true) for f in self.folds])


def cross_validate(
    make_model: Callable[[], nn.Module],
    X: np.ndarray,
    segment_labels: np.ndarray,
    groups: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    config: FitConfig | None = None,
    *,
    segment_level: bool = False,
    standardize: bool = True,
    desc: str = "cv",
) -> CVResult:
    """Train a fresh model per split and collect test posteriors.

    Parameters
    ----------
    make_model : callable
        Returns a new, untrained model (called once per split after seeding torch).
    X : array of shape (n_segments, ...)
        Segment features (e.g. a :class:`emofast.store.FeatureSet`'s memmap).
    segment_labels : array of int, shape (n_segments,)
    groups : array of int, shape (n_segments,)
        Utterance index of every segment.
    splits : sequence of (train_idx, test_idx)
        Utterance indices from :func:`emofast.protocols.stratified_kfold` /
        :func:`~emofast.protocols.leave_one_speaker_out`; segment indices when ``segment_level``.
    config : FitConfig, optional
    segment_level : bool, default False
        Splits index segments and test items are segments (papers' leaky protocol); otherwise
        test posteriors are aggregated per utterance (mean of segment posteriors).
    standardize : bool, default True
        Scale each input channel by the mean/std of the training segments of the split.
    desc : str
        Progress-bar label prefix.

    Returns
    -------
    CVResult
    """
    cfg = config or FitConfig()
    y_seg = np.asarray(segment_labels, dtype=np.int64)
    g = np.asarray(groups, dtype=np.int64)
    if len(X) != y_seg.size or g.size != y_seg.size:
        raise ValueError(
            f"X ({len(X)}), segment_labels ({y_seg.size}) and groups ({g.size}) differ in length")
    t0 = time.perf_counter()
    folds: list[FoldResult] = []
    for i, (tr, te) in enumerate(splits):
        if segment_level:
            seg_tr, seg_te = np.asarray(tr), np.asarray(te)
        else:
            seg_tr, seg_te = segments_of(tr, g), segments_of(te, g)
        if seg_tr.size == 0 or seg_te.size == 0:
            raise ValueError(f"split {i} has an empty side ({seg_tr.size} train, "
                             f"{seg_te.size} test segments)")
        Xtr = np.asarray(X[seg_tr], dtype=np.float32)
        Xte = np.asarray(X[seg_te], dtype=np.float32)
        if standardize:
            mean, std = standardizer(Xtr, np.arange(len(Xtr)))
            Xtr = (Xtr - mean) / std
            Xte = (Xte - mean) / std
        torch.manual_seed(cfg.seed + i)
        model = make_model()
        fold_cfg = FitConfig(**{**cfg.__dict__, "seed": cfg.seed + i})
        val = (Xte, y_seg[seg_te]) if segment_level else (Xte, y_seg[seg_te], g[seg_te])
        hist = fit(model, Xtr, y_seg[seg_tr], fold_cfg, val=val,
                   desc=f"{desc} {i + 1}/{len(splits)}")
        post = predict_proba(model, Xte)
        if segment_level:
            test_idx, y_true = seg_te, y_seg[seg_te]
        else:
            post, test_idx = aggregate_segments(post, g[seg_te])
            y_true = _group_labels(y_seg[seg_te], g[seg_te])
        folds.append(FoldResult(test_idx, post.astype(np.float64), y_true, hist))
    if not folds:
        raise ValueError("no splits given")
    return CVResult(
        folds=folds,
        y_true=np.concatenate([f.y_true for f in folds]),
        posteriors=np.concatenate([f.posteriors for f in folds]),
        segment_level=segment_level,
        seconds=time.perf_counter() - t0,
    )
