"""A supervised training loop with the usual recipe options.

:func:`fit` trains a classifier on segment arrays: mini-batches, Adam or SGD, a seed, a progress
bar, and, each off by default, a learning-rate schedule (cosine or one-cycle), class-balanced loss
weights, label smoothing, SpecAugment masking and mixup (:mod:`emofast.train.augment`), and model
selection with early stopping on a validation score the caller computes on data it carved from the
training side. :func:`predict_proba` returns softmax posteriors. Cross-validation over a protocol is
the experiment layer's (:func:`emofast.experiments.crossval.cross_validate`).

Under a process group of several ranks (torchrun; :mod:`emofast.distributed`) :func:`fit` is data
parallel, with no wrapper to add: ``batch_size`` is the **global** batch, shared out across the ranks
by :class:`emofast.distributed.ShardedSampler`, and each step equals the single-process step on the
same global batch up to float rounding (see :func:`fit`). Without such a group nothing of this runs.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from emofast._progress import progress_bar
from emofast.errors import InputError

__all__ = [
    "SCHEDULES",
    "TrainingRecipe",
    "FitConfig",
    "FitHistory",
    "fit",
    "predict_proba",
    "make_optimizer",
    "EpochSelection",
]


#: Learning-rate schedules of :class:`FitConfig`.
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "onecycle")


@dataclass(frozen=True)
class TrainingRecipe:
    """The training recipe shared by :class:`FitConfig` and the experiment configurations.

    Attributes
    ----------
    epochs : int, default 10
    batch_size : int, default 32
    lr : float, default 1e-3
    weight_decay : float, default 0.0
    schedule : {"constant", "cosine", "onecycle"}, default "constant"
        Learning rate per step: constant; cosine decay from ``lr`` to 0; or one-cycle (30 % warm-up
        to ``lr``, cosine annealing after).
    class_weight : {None, "balanced"}, default None
        ``"balanced"``: cross-entropy weights ``n / (n_classes * count_c)`` from the training labels.
    label_smoothing : float, default 0.0
    freq_masks, time_masks : int, default 0
        SpecAugment masks per example (:func:`emofast.train.augment.spec_mask`), 4-D inputs only.
    mask_width : int, default 8
        Largest mask, in bands or frames.
    mixup : float, default 0.0
        Mixup's α; 0 turns it off.
    patience : int or None, default None
        With a ``select`` callback in :func:`fit`: stop after this many epochs without a better
        selection score (None: train every epoch, still restoring the best epoch's weights).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    class_weight: str | None = None
    label_smoothing: float = 0.0
    freq_masks: int = 0
    time_masks: int = 0
    mask_width: int = 8
    mixup: float = 0.0
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.class_weight not in (None, "balanced"):
            raise InputError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if min(self.freq_masks, self.time_masks, self.mask_width) < 0 or self.mixup < 0:
            raise InputError("freq_masks, time_masks, mask_width and mixup must be >= 0")
        if self.patience is not None and self.patience < 1:
            raise InputError(f"patience must be >= 1 or None, got {self.patience}")

    def recipe(self) -> dict:
        """The recipe's fields as keyword arguments (for :class:`FitConfig`)."""
        return {f.name: getattr(self, f.name) for f in fields(TrainingRecipe)}


@dataclass(frozen=True)
class FitConfig(TrainingRecipe):
    """Hyper-parameters of :func:`fit`: the :class:`TrainingRecipe` and the optimiser.

    Attributes
    ----------
    optimizer : {"adam", "sgd"}, default "adam"
    momentum : float, default 0.9
        SGD only.
    seed : int, default 0
        Seeds mini-batch order, augmentation and dropout (seed the model yourself before building
        it).
    progress : bool, default True
        Show a tqdm bar (stderr).
    The recipe's attributes are :class:`TrainingRecipe`'s.
    """

    optimizer: str = "adam"
    momentum: float = 0.9
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
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
    select_score : list of float
        What the ``select`` callback returned after each epoch (empty without one).
    best_epoch : int or None
        1-based epoch whose weights the model holds after a fit with ``select`` (None without).
    seconds : float
        Wall time of the loop.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    eval_acc: list[float] = field(default_factory=list)
    select_score: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0


def _rows(X: np.ndarray, sel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(X[sel], dtype=np.float32))


def _batches(X: np.ndarray, idx: np.ndarray, batch_size: int):
    for start in range(0, idx.size, batch_size):
        sel = idx[start:start + batch_size]
        yield sel, _rows(X, sel)


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


def _lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at 0-based ``step`` of ``total``."""
    import math

    t = step / max(total, 1)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "onecycle":
        warm = 0.3
        if t < warm:
            return 0.04 + 0.96 * t / warm
        return 0.5 * (1.0 + math.cos(math.pi * (t - warm) / (1 - warm)))
    return 1.0


def _class_weights(y: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, y.size / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(w, dtype=torch.float32)


def make_optimizer(params: list[nn.Parameter], config: FitConfig) -> torch.optim.Optimizer:
    """Adam or SGD (with ``config.momentum``) over ``params`` at ``config.lr`` and
    ``config.weight_decay``: the optimiser of :func:`fit` and of the other loops."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay)


class EpochSelection:
    """The end-of-epoch bookkeeping of a loop: learning-curve and model-selection callbacks.

    After each epoch :meth:`end_epoch` calls ``evaluate(model)`` (appended to
    ``history.eval_acc``) and ``select(model)`` (appended to ``history.select_score``; the best
    epoch's ``state_dict`` is kept, ties to the earlier epoch) in evaluation mode, and says whether
    ``patience`` epochs passed without a better score. :meth:`restore` loads the best weights.
    """

    def __init__(self, evaluate: Callable[[nn.Module], float] | None,
                 select: Callable[[nn.Module], float] | None, patience: int | None) -> None:
        self.evaluate, self.select, self.patience = evaluate, select, patience
        self.best_state: dict | None = None
        self.best_score, self.since_best = -np.inf, 0

    def end_epoch(self, model: nn.Module, epoch: int, history: Any) -> bool:
        """Run the callbacks after 0-based ``epoch``; True when training should stop."""
        import copy

        from emofast.distributed import on_main  # rank 0 runs the callbacks, every rank gets the value

        was_training = model.training
        model.eval()
        if self.evaluate is not None:
            history.eval_acc.append(float(on_main(self.evaluate, model)))
        if self.select is not None:
            score = float(on_main(self.select, model))
            history.select_score.append(score)
            if score > self.best_score:
                self.best_score, self.since_best, history.best_epoch = score, 0, epoch + 1
                self.best_state = copy.deepcopy(model.state_dict())
            else:
                self.since_best += 1
        model.train(was_training)
        return (self.patience is not None and self.select is not None
                and self.since_best >= self.patience)

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights (nothing without a ``select`` callback)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def _n_outputs(model: nn.Module, y: np.ndarray) -> int:
    n = getattr(model, "n_classes", None)
    return int(n) if n is not None else int(y.max()) + 1


def _rank_seed(seed: int, rank: int) -> int:
    """Torch seed of ``rank`` in a distributed fit (dropout draws): rank 0 keeps ``seed``."""
    return int(seed) if rank == 0 else int(np.random.SeedSequence([int(seed), rank]).generate_state(1)[0])


def _global_norm(weight: torch.Tensor | None, y_global: torch.Tensor, soft: bool) -> float:
    """The denominator of ``CrossEntropyLoss(reduction="mean")`` over a whole global batch: its
    size for soft (mixup) targets or without class weights, else the sum of its labels' weights."""
    if soft or weight is None:
        return float(y_global.numel())
    return float(weight[y_global].sum())


def fit(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    config: FitConfig | None = None,
    *,
    evaluate: Callable[[nn.Module], float] | None = None,
    select: Callable[[nn.Module], float] | None = None,
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
        curve (:attr:`FitHistory.eval_acc`) only: it never changes the training.
    select : callable, optional
        ``select(model) -> float`` after every epoch (in evaluation mode), higher is better,
        computed on validation data carved from the *training* side: the model ends with the
        weights of the best epoch (ties: the earlier), and training stops after
        ``config.patience`` epochs without a better score.
    desc : str
        Progress-bar label.

    Returns
    -------
    FitHistory

    Notes
    -----
    **Distributed** (a process group of ``W > 1`` ranks, e.g. under torchrun): every rank passes the
    same ``X``, ``y``, model and config. Rank 0's initial weights are copied to every rank; each
    epoch's order is drawn from ``config.seed`` on every rank and cut into global batches of
    ``batch_size`` rows, of which each rank trains a contiguous ``1/W`` share
    (:class:`emofast.distributed.ShardedSampler`). Each rank's loss is the summed loss of its rows
    divided by the normaliser of the *global* batch (its size, or the sum of its class weights), and
    the gradients are summed over ranks after backward (one all-reduce; no
    ``DistributedDataParallel`` wrapper, so the model stays the caller's module and an uneven last
    batch or class weights still give the exact global-batch gradient). SpecAugment and mixup are
    drawn for the global batch on every rank (same generator), then sliced. Hence a distributed step
    equals the single-process step with the same ``batch_size`` up to float rounding, except for
    dropout, which draws per rank (rank 0 keeps the seed; BatchNorm statistics would be per rank
    too, and rank 0's are copied to all after each epoch: emofast's networks use GroupNorm).
    ``train_loss``/``train_acc`` are summed over ranks; ``evaluate`` and ``select`` run on rank 0
    only and their values are sent to every rank, so early stopping stops every rank together
    (they must not use collectives themselves). The progress bar is rank 0's.
    """
    from emofast.train.augment import mixup, spec_mask

    cfg = config or FitConfig()
    y = np.asarray(y, dtype=np.int64)
    if len(X) != y.size:
        raise InputError(f"X has {len(X)} rows but y has {y.size} labels")
    if y.size == 0:
        raise InputError("no training data")
    if (cfg.freq_masks or cfg.time_masks) and len(np.shape(X[:1])) != 4:
        raise InputError("SpecAugment masking needs (n, channels, bands, frames) inputs, got "
                         f"rows of shape {np.shape(X[:1])[1:]}")
    from emofast import distributed as dist

    sharded = dist.active()
    torch.manual_seed(_rank_seed(cfg.seed, dist.rank()) if sharded else cfg.seed)
    sampler = dist.ShardedSampler(y.size, cfg.batch_size, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    if sharded:
        dist.broadcast_module(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg)
    n_out = _n_outputs(model, y)
    weight = _class_weights(y, n_out) if cfg.class_weight == "balanced" else None
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing,
                                  reduction="sum" if sharded else "mean")
    augment = bool(cfg.freq_masks or cfg.time_masks or cfg.mixup > 0)
    yt = torch.from_numpy(y)
    hist = FitHistory()
    t0 = time.perf_counter()
    steps = cfg.epochs * sampler.steps
    bar = progress_bar(total=steps, desc=desc, enabled=cfg.progress and dist.is_main(), leave=False,
                       unit="batch")
    selection, step = EpochSelection(evaluate, select, cfg.patience), 0
    model.train()
    for epoch in range(cfg.epochs):
        total_loss, correct = 0.0, 0
        for batch in sampler.epoch():
            for group in opt.param_groups:
                group["lr"] = cfg.lr * _lr_factor(cfg.schedule, step, steps)
            step += 1
            # sharded without augmentation: read only this rank's rows; else the global batch
            sel = batch.local if sharded and not augment else batch.indices
            xb, yb = _rows(X, sel), yt[sel]
            if cfg.freq_masks or cfg.time_masks:
                xb = spec_mask(xb, gen, freq_masks=cfg.freq_masks, time_masks=cfg.time_masks,
                               max_width=cfg.mask_width)
            if cfg.mixup > 0:
                xb, target = mixup(xb, nn.functional.one_hot(yb, n_out).float(), cfg.mixup, gen)
            else:
                target = yb
            opt.zero_grad(set_to_none=True)
            if sharded:
                if augment:
                    xb, target, yb = xb[batch.rows], target[batch.rows], yb[batch.rows]
                norm = _global_norm(weight, yt[batch.indices], cfg.mixup > 0)
                logits = model(xb) if len(yb) else None
                loss = loss_fn(logits, target) / norm if logits is not None else torch.zeros(())
                if logits is not None:
                    loss.backward()
                dist.sum_gradients(params)
            else:
                logits = model(xb)
                loss = loss_fn(logits, target)
                loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * batch.size
            if logits is not None:
                correct += int((logits.argmax(1) == yb).sum())
            bar.update(1)
        if sharded:
            total_loss, correct = dist.all_reduce_sum(np.array([total_loss, correct], np.float64))
            dist.broadcast_module(model)  # buffers (BatchNorm statistics): rank 0's everywhere
        hist.train_loss.append(float(total_loss) / y.size)
        hist.train_acc.append(int(correct) / y.size)
        stop = selection.end_epoch(model, epoch, hist)
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.3f}", acc=f"{hist.train_acc[-1]:.2f}")
        if stop:
            break
    bar.close()
    selection.restore(model)
    hist.seconds = time.perf_counter() - t0
    return hist
