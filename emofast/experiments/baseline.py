"""The GroupNorm CNN baseline as an experiment: cross-validation, pretraining, fine-tuning.

Examples
--------
>>> from emofast.experiments.baseline import BaselineConfig, evaluate_cnn  # doctest: +SKIP
>>> ev = evaluate_cnn(data, "loso", BaselineConfig(epochs=20))              # doctest: +SKIP
>>> print(ev.scores.uar, ev.fold_uar)                                       # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emofast.dataset import SegmentData, Standardizer
from emofast.errors import InputError
from emofast.experiments.crossval import Fold, FoldOutput, FitFold, cross_validate
from emofast.report.evaluation import Evaluation
from emofast.train.fit import TrainingRecipe

__all__ = ["BASELINE_WIDTHS", "BaselineConfig", "make_baseline", "validation_split",
           "validation_selection", "utterance_uar", "load_transfer", "drop_head", "cnn_fold", "evaluate_cnn",
           "baseline_settings", "FinalModel", "train_final", "pretrain"]

#: GroupNorm CNN presets: name -> (conv channels, hidden fully-connected widths). ``paper`` is the
#: joint cross-domain paper's network; ``tiny`` is what the demo trains on 2 cores.
BASELINE_WIDTHS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((8, 16, 32, 32), (64, 32)),
    "small": ((16, 32, 64, 64), (128, 32)),
    "paper": ((64, 128, 256, 512), (512, 128, 32)),
}


@dataclass(frozen=True)
class BaselineConfig(TrainingRecipe):
    """Settings of the baseline CNN and its training.

    Attributes
    ----------
    width : {"tiny", "small", "paper"}, default "tiny"
        Preset of :data:`BASELINE_WIDTHS`.
    dropout : float, default 0.2
        After each conv block (the paper: 0.5).
    epochs : int, default 20
    batch_size : int, default 16
    norm : {"group", "batch"}, default "group"
        Normalisation of the conv blocks (:class:`emofast.nn.GroupNormCNN`).
    val_speakers : int, default 0
        Carve this many speakers from each fold's training side as validation data: the model
        trains on the others and keeps the epoch with the best validation UAR (utterance level).
        The test fold is never looked at. 0: train on the whole training side for ``epochs``.
        A protocol with its own validation part (``split``) selects on that instead.
    patience : int or None, default None
        With ``val_speakers``: stop after this many epochs without a better validation UAR.
    The other training options are those of :class:`emofast.train.fit.TrainingRecipe`.
    """

    width: str = "tiny"
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 16
    val_speakers: int = 0
    norm: str = "group"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width not in BASELINE_WIDTHS:
            raise InputError(f"width must be one of {sorted(BASELINE_WIDTHS)}, got {self.width!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.val_speakers < 0:
            raise InputError(f"val_speakers must be >= 0, got {self.val_speakers}")
        from emofast.nn.cnn import NORMS

        if self.norm not in NORMS:
            raise InputError(f"norm must be one of {list(NORMS)}, got {self.norm!r}")

    def fit_config(self, seed: int, progress: bool):
        from emofast.train.fit import FitConfig

        return FitConfig(**self.recipe(), seed=seed, progress=progress)


def baseline_settings(n_classes: int, width: str = "tiny", dropout: float = 0.2,
                      norm: str = "group") -> dict:
    """Keyword arguments of :class:`emofast.nn.GroupNormCNN` for a preset width (JSON-able: what a
    model bundle records to rebuild the network; ``norm`` only when it is not ``"group"``)."""
    if width not in BASELINE_WIDTHS:
        raise InputError(f"width must be one of {sorted(BASELINE_WIDTHS)}, got {width!r}")
    channels, hidden = BASELINE_WIDTHS[width]
    return {"n_classes": int(n_classes), "channels": list(channels), "hidden": list(hidden),
            "groups": 8, "dropout": float(dropout), **({} if norm == "group" else {"norm": norm})}


def make_baseline(n_classes: int, width: str = "tiny", dropout: float = 0.2,
                  norm: str = "group"):
    """A fresh :class:`emofast.nn.GroupNormCNN` of a preset width (``norm="batch"``: BatchNorm
    in place of GroupNorm)."""
    from emofast.nn.cnn import GroupNormCNN

    return GroupNormCNN(**baseline_settings(n_classes, width, dropout, norm))


def load_transfer(model: Any, state: dict) -> Any:
    """Load ``state`` into ``model`` for fine-tuning; a ``state`` without the output layer's
    weights (another class set: see :func:`drop_head`) keeps the model's fresh head. Returns
    ``model``."""
    head = {f"classifier.{len(model.classifier) - 1}.{k}" for k in ("weight", "bias")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - head:
        model.load_state_dict(state)  # raises with PyTorch's message
    return model


def drop_head(state: dict) -> dict:
    """``state`` of a :class:`~emofast.nn.GroupNormCNN` without its output layer (head 0), for a
    target with another class set: :func:`load_transfer` then keeps a fresh head."""
    last = max(int(k.split(".")[1]) for k in state if k.startswith("classifier."))
    return {k: v for k, v in state.items() if not k.startswith(f"classifier.{last}.")}


def validation_split(fold: Fold, n_speakers: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``fold.X_train`` to fit on and rows to validate on: ``n_speakers`` speakers of the
    training side, drawn with the fold's seed (the test fold is not involved).

    Raises
    ------
    InputError
        The training side has at most ``n_speakers`` speakers.
    """
    speakers = np.unique(fold.speakers_train)
    if speakers.size <= n_speakers:
        raise InputError(f"fold {fold.index + 1}: cannot hold out {n_speakers} validation "
                         f"speaker(s) from {speakers.size} training speaker(s)")
    held = np.random.default_rng(fold.seed).choice(speakers, n_speakers, replace=False)
    is_val = np.isin(fold.speakers_train, held)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def utterance_uar(posteriors: np.ndarray, segment_labels: np.ndarray, groups: np.ndarray,
                  how: str = "mean") -> float:
    """UAR of utterance posteriors aggregated from segment posteriors (validation scoring)."""
    from emofast.metrics import uar
    from emofast.protocols import aggregate_segments

    post, utts = aggregate_segments(posteriors, groups, how=how)
    first = np.unique(groups, return_index=True)[1]
    return uar(segment_labels[first], post.argmax(1))


def validation_selection(fold: Fold, n_speakers: int
                         ) -> tuple[np.ndarray, Callable[[Any], float] | None]:
    """Rows of ``fold.X_train`` to fit on and a ``select(model)`` callback scoring an utterance UAR
    on validation data: the protocol's own validation part where it has one (``fold.X_val``, e.g.
    FER2013's PublicTest; every training row is fitted), else ``n_speakers`` held-out training
    speakers (:func:`validation_split`); with neither, every row and no callback."""
    from emofast.train.fit import predict_proba

    fit_rows = np.arange(len(fold.y_train))
    if fold.X_val is not None:
        X_val, y_val, g_val = fold.X_val, fold.y_val, fold.groups_val
    elif n_speakers:
        fit_rows, val_rows = validation_split(fold, n_speakers)
        X_val = fold.X_train[val_rows]
        y_val, g_val = fold.y_train[val_rows], fold.groups_train[val_rows]
    else:
        return fit_rows, None

    def select(model: Any) -> float:
        return utterance_uar(predict_proba(model, X_val), y_val, g_val)

    return fit_rows, select


def cnn_fold(config: BaselineConfig = BaselineConfig(), *, init_state: dict | None = None,
             trainable: str = "all", make_model: Callable[[int], Any] | None = None,
             progress: bool = True, desc: str = "fold") -> FitFold:
    """A fit callback for :func:`~emofast.experiments.crossval.cross_validate`: a fresh CNN per
    fold (from ``init_state`` when fine-tuning, a fresh head where it lacks one: :func:`drop_head`),
    seeded by the fold; ``trainable="fc"`` trains the fully-connected layers only.

    ``make_model(n_classes)`` replaces the preset network (any module mapping
    ``(batch, C, H, W)`` to logits). The epoch is chosen on the protocol's validation part
    (:attr:`Fold.X_val`, e.g. the official ``val`` split) where it has one, else, with
    ``config.val_speakers``, on speakers held out of the training side (:func:`validation_split`);
    the test curve is recorded but never used.
    """
    import torch

    from emofast.train.fit import fit, predict_proba

    def fit_fold(fold: Fold) -> FoldOutput:
        torch.manual_seed(fold.seed)
        model = (make_model(fold.n_classes) if make_model is not None
                 else make_baseline(fold.n_classes, config.width, config.dropout, config.norm))
        if init_state is not None:
            load_transfer(model, init_state)
        if trainable != "all":
            model.set_trainable(trainable)
        fit_rows, select = validation_selection(fold, config.val_speakers)
        X_fit = fold.X_train if fit_rows.size == len(fold.y_train) else fold.X_train[fit_rows]
        hist = fit(model, X_fit, fold.y_train[fit_rows], config.fit_config(fold.seed, progress),
                   evaluate=lambda m: fold.test_accuracy(predict_proba(m, fold.X_test)),
                   select=select, desc=f"{desc} {fold.index + 1}")
        curve = {"train_loss": hist.train_loss, "train_acc": hist.train_acc,
                 "test_acc": hist.eval_acc}
        if select is not None:
            curve["val_uar"] = hist.select_score
        return FoldOutput(predict_proba(model, fold.X_test), curve=curve,
                          info={"seconds": hist.seconds, "best_epoch": hist.best_epoch,
                                "epochs_run": len(hist.train_loss)})

    return fit_fold


def evaluate_cnn(
    data: SegmentData,
    protocol: str,
    config: BaselineConfig = BaselineConfig(),
    *,
    name: str | None = None,
    init_state: dict | None = None,
    trainable: str = "all",
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    progress: bool = True,
    on_fold: Callable[[int, int, dict], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    normalize: str | None = None,
    aggregate: str = "mean",
) -> Evaluation:
    """Cross-validate the baseline CNN on ``data`` under ``protocol``.

    Parameters
    ----------
    data : SegmentData
    protocol : {"kfold", "loso", "segment"}
    config : BaselineConfig
    name : str, optional
        Row label (default ``"GN-CNN <corpus> <protocol>"``).
    init_state : dict, optional
        ``state_dict`` every fold's model starts from (fine-tuning a model from :func:`pretrain`;
        without the output layer, :func:`drop_head`, for another class set).
    trainable : {"all", "fc"}
        Train every layer, or the fully-connected ones only (conv blocks frozen).
    folds, repeats, seed, max_folds, fold_indices, on_fold
        As in :func:`~emofast.experiments.crossval.cross_validate`.
    progress : bool
    checkpoint_dir : path, optional
        Make the run resumable at fold granularity (see
        :func:`~emofast.experiments.crossval.cross_validate`): finished folds are saved and skipped
        on a rerun; a fold interrupted mid-training restarts from its beginning, which its seed
        makes deterministic, so the result is the one of an uninterrupted run.
    normalize, aggregate
        As in :func:`~emofast.experiments.crossval.cross_validate` (per-speaker normalisation,
        utterance aggregation).

    Returns
    -------
    emofast.report.Evaluation
    """
    from emofast.train.checkpoint import fingerprint

    init = None if init_state is None else fingerprint(*[init_state[k] for k in sorted(init_state)])
    return cross_validate(
        data, protocol, cnn_fold(config, init_state=init_state, trainable=trainable,
                                 progress=progress),
        name=name or f"GN-CNN {data.corpus} {protocol}".replace("  ", " "),
        folds=folds, repeats=repeats, seed=seed, max_folds=max_folds, fold_indices=fold_indices,
        standardize="channel", curve_unit="epoch", on_fold=on_fold,
        checkpoint_dir=checkpoint_dir, identity={"init_state": init}, normalize=normalize,
        aggregate=aggregate,
        # norm only when not the default: checkpoints of runs from before the option still resume
        info={"model": "GN-CNN", **{k: v for k, v in asdict(config).items()
                                    if (k, v) != ("norm", "group")},
              "fine_tuned": init_state is not None,
              **({} if trainable == "all" else {"trainable": trainable})})


@dataclass
class FinalModel:
    """The baseline trained on all the data (:func:`train_final`).

    Attributes
    ----------
    model : GroupNormCNN
        Trained network, in evaluation mode.
    standardizer : Standardizer
        Per-channel statistics of all the training segments (apply before ``model``).
    classes : list of str
        Class names in output order.
    architecture : str
        ``"GroupNormCNN"``; with ``settings`` (its keyword arguments) it rebuilds ``model``.
    settings : dict
    config : BaselineConfig
    seed : int
    history : FitHistory
    """

    model: Any
    standardizer: Standardizer
    classes: list[str]
    architecture: str
    settings: dict
    config: BaselineConfig
    seed: int
    history: Any

    def state_dict(self) -> dict:
        """A detached copy of the network's weights."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def train_final(data: SegmentData, config: BaselineConfig = BaselineConfig(), *, seed: int = 0,
                progress: bool = True, desc: str = "final", init_state: dict | None = None,
                trainable: str = "all") -> FinalModel:
    """Train the baseline on every segment of ``data``, inputs standardised per channel by
    statistics of all of them: the model to deploy after cross-validation has estimated its
    accuracy.

    Every segment is trained on for ``config.epochs`` epochs: ``val_speakers`` and ``patience``
    are not used (no data is held out). To reuse an epoch count chosen by validation speakers in
    cross-validation, pass ``dataclasses.replace(config, epochs=n, val_speakers=0)``.
    ``init_state`` and ``trainable`` fine-tune as in :func:`cnn_fold`.
    """
    import torch

    from emofast.train.fit import fit

    X = data.arrays()
    standardizer = Standardizer.fit(X, per="channel")
    X = standardizer(X)
    torch.manual_seed(seed)
    settings = baseline_settings(data.n_classes, config.width, config.dropout, config.norm)
    model = make_baseline(data.n_classes, config.width, config.dropout, config.norm)
    if init_state is not None:
        load_transfer(model, init_state)
    model.set_trainable(trainable)
    hist = fit(model, X, data.segment_labels, config.fit_config(seed, progress), desc=desc)
    return FinalModel(model.eval(), standardizer, list(data.classes), "GroupNormCNN", settings,
                      config, seed, hist)


def pretrain(data: SegmentData, config: BaselineConfig = BaselineConfig(), *, seed: int = 0,
             progress: bool = True) -> tuple[dict, Any]:
    """Train the baseline on every segment of a source corpus (:func:`train_final`) and return its
    ``state_dict`` and :class:`FitHistory`.

    The classes of ``data`` must be those of the target it will be fine-tuned on (same order).
    """
    final = train_final(data, config, seed=seed, progress=progress, desc="pretrain")
    return final.state_dict(), final.history
