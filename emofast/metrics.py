"""Classification metrics of the emotion-recognition papers.

All functions take integer class indices ``0 .. n_classes-1`` (``y_true``, ``y_pred``) and, for ROC,
a score matrix of shape ``(n, n_classes)`` (posteriors). They depend on numpy only; the tests
cross-check them against scikit-learn.

Classes absent from the data
----------------------------
With a fixed vocabulary some classes may be missing from ``y_true`` or ``y_pred`` (a small test fold,
a classifier that never predicts "fear"). The rules, chosen to agree with scikit-learn:

* **Recall** of a class absent from ``y_true`` is undefined (NaN in :func:`per_class_recall`) and
  the class is left out of **UAR**, which equals ``sklearn.metrics.balanced_accuracy_score``.
* **Precision** of a class never predicted is 0 when the class occurs in ``y_true`` (the classifier
  failed to find it). **UAP** and **macro-F1** average over the classes present in ``y_true`` or
  ``y_pred`` (``precision_score`` / ``f1_score`` with ``average="macro"``, ``zero_division=0``);
  classes absent from both are ignored.
* **ROC/AUC** of a class is undefined (NaN) when the class has no positive or no negative sample in
  ``y_true``; macro AUC averages the defined ones (NaN if none is defined).
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from emofast.errors import InputError

__all__ = [
    "confusion_matrix",
    "war",
    "uar",
    "uap",
    "per_class_recall",
    "per_class_precision",
    "f1_scores",
    "roc_curve",
    "auc",
    "roc_ovr",
    "RocResult",
    "Scores",
    "score",
]


def _labels(y_true, y_pred, n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise InputError(f"y_true and y_pred must be 1-D, got shapes {t.shape} and {p.shape}")
    if t.shape != p.shape:
        raise InputError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    if t.size == 0:
        raise InputError("y_true is empty: no predictions to score")
    for name, a in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must hold integer class indices, got dtype {a.dtype}")
        if a.min() < 0:
            raise InputError(f"{name} holds a negative class index {int(a.min())}")
    top = int(max(t.max(), p.max())) + 1
    if n_classes is None:
        n_classes = top
    elif top > n_classes:
        raise InputError(f"class index {top - 1} is out of range for n_classes={n_classes}")
    return t.astype(np.int64), p.astype(np.int64), int(n_classes)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
    n_classes : int, optional
        Size of the matrix (default: largest index seen + 1).

    Returns
    -------
    numpy.ndarray of int64, shape (n_classes, n_classes)
    """
    t, p, c = _labels(y_true, y_pred, n_classes)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def war(y_true, y_pred) -> float:
    """Weighted averaged recall: plain accuracy, the fraction of correct predictions."""
    t, p, _ = _labels(y_true, y_pred, None)
    return float(np.mean(t == p))


def per_class_recall(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Recall ``tp / (tp + fn)`` of each class; NaN for classes absent from ``y_true``."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def per_class_precision(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Precision ``tp / (tp + fp)`` of each class.

    0 for a class never predicted but present in ``y_true``; NaN for a class absent from both.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    predicted = cm.sum(axis=0)
    present = (cm.sum(axis=1) + predicted) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, np.diag(cm) / predicted, 0.0)
    return np.where(present, prec, np.nan)


def uar(y_true, y_pred) -> float:
    """Unweighted averaged recall: mean recall over the classes present in ``y_true``."""
    return float(np.nanmean(per_class_recall(y_true, y_pred)))


def uap(y_true, y_pred) -> float:
    """Unweighted averaged precision: mean precision over classes in ``y_true`` or ``y_pred``."""
    return float(np.nanmean(per_class_precision(y_true, y_pred)))


def f1_scores(y_true, y_pred) -> tuple[float, float]:
    """Micro- and macro-averaged F1.

    Micro-F1 pools tp/fp/fn over classes; for single-label multi-class data it equals accuracy.
    Macro-F1 averages per-class F1 over classes present in ``y_true`` or ``y_pred``; a class with
    ``tp = 0`` scores 0.

    Returns
    -------
    micro_f1, macro_f1 : float
    """
    cm = confusion_matrix(y_true, y_pred)
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(denom > 0, 2 * tp / denom, 0.0)
    return float(micro), float(per[present].mean())


def roc_curve(y_binary, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a binary problem, one point per distinct score threshold.

    Parameters
    ----------
    y_binary : array-like of bool/int, shape (n,)
        1 for positives.
    scores : array-like of float, shape (n,)
        Higher means more positive.

    Returns
    -------
    fpr, tpr, thresholds : numpy.ndarray
        Starting at (0, 0) with threshold ``+inf``; ``tpr``/``fpr`` are NaN when the data hold no
        positive/negative sample. Same points as ``sklearn.metrics.roc_curve(...,
        drop_intermediate=False)``.
    """
    y = np.asarray(y_binary).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels and scores differ in length: {y.size} vs {s.size}")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # last index of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thresholds = np.r_[np.inf, s[last]]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full_like(tps, np.nan)
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full_like(fps, np.nan)
    return fpr, tpr, thresholds


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under a curve by the trapezoidal rule (``x`` monotone)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return float(abs(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0)))


@dataclass
class RocResult:
    """One-vs-rest ROC curves and areas.

    Attributes
    ----------
    fpr, tpr : list of numpy.ndarray
        Per-class curves (NaN arrays for undefined classes).
    auc : numpy.ndarray of shape (n_classes,)
        Per-class AUC (NaN when undefined).
    micro_fpr, micro_tpr : numpy.ndarray
        Curve of all (sample, class) decisions pooled.
    micro_auc : float
    macro_fpr, macro_tpr : numpy.ndarray
        Mean of the defined per-class TPRs interpolated on the union of their FPRs (for plotting).
    macro_auc : float
        Mean of the defined per-class AUCs (``roc_auc_score(average="macro", multi_class="ovr")``).
    """

    fpr: list[np.ndarray]
    tpr: list[np.ndarray]
    auc: np.ndarray
    micro_fpr: np.ndarray
    micro_tpr: np.ndarray
    micro_auc: float
    macro_fpr: np.ndarray
    macro_tpr: np.ndarray
    macro_auc: float


def roc_ovr(y_true, scores) -> RocResult:
    """One-vs-rest ROC/AUC for every class, plus micro and macro averages.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    scores : array-like of float, shape (n, n_classes)
        Class scores or posteriors.

    Returns
    -------
    RocResult
    """
    t = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != t.shape[0]:
        raise InputError(f"scores must have shape ({t.shape[0]}, n_classes), got {s.shape}")
    n_classes = s.shape[1]
    _labels(t, t, n_classes)
    onehot = np.zeros_like(s, dtype=bool)
    onehot[np.arange(t.size), t] = True
    fprs, tprs, aucs = [], [], np.full(n_classes, np.nan)
    for c in range(n_classes):
        f, r, _ = roc_curve(onehot[:, c], s[:, c])
        fprs.append(f)
        tprs.append(r)
        aucs[c] = auc(f, r)
    mf, mt, _ = roc_curve(onehot.ravel(), s.ravel())
    defined = ~np.isnan(aucs)
    if defined.any():
        grid = np.unique(np.concatenate([fprs[c] for c in np.flatnonzero(defined)]))
        mean_tpr = np.mean([np.interp(grid, fprs[c], tprs[c]) for c in np.flatnonzero(defined)],
                           axis=0)
        macro_auc = float(aucs[defined].mean())
    else:
        grid = mean_tpr = np.array([np.nan])
        macro_auc = float("nan")
    return RocResult(fprs, tprs, aucs, mf, mt, auc(mf, mt), grid, mean_tpr, macro_auc)


@dataclass
class Scores:
    """Every metric of one evaluation, computed by :func:`score`.

    Attributes
    ----------
    war, uar, uap, micro_f1, macro_f1 : float
    recall, precision : numpy.ndarray of shape (n_classes,)
        Per class (see the module notes for NaN).
    confusion : numpy.ndarray of shape (n_classes, n_classes)
    roc : RocResult or None
        Present when scores were given.
    n : int
        Number of scored items.
    """

    war: float
    uar: float
    uap: float
    micro_f1: float
    macro_f1: float
    recall: np.ndarray
    precision: np.ndarray
    confusion: np.ndarray
    roc: RocResult | None = None
    n: int = 0


def score(y_true, y_pred=None, scores=None, n_classes: int | None = None) -> Scores:
    """Compute all metrics at once.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    y_pred : array-like of int, shape (n,), optional
        Defaults to ``argmax(scores, axis=1)``.
    scores : array-like of float, shape (n, n_classes), optional
        Posteriors; enables ROC/AUC.
    n_classes : int, optional
        Vocabulary size (default: from ``scores`` or the largest index seen).

    Returns
    -------
    Scores
    """
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        n_classes = scores.shape[1] if n_classes is None else n_classes
        if y_pred is None:
            y_pred = scores.argmax(axis=1)
    if y_pred is None:
        raise InputError("give y_pred or scores")
    t, p, c = _labels(y_true, y_pred, n_classes)
    micro, macro = f1_scores(t, p)
    return Scores(
        war=war(t, p),
        uar=uar(t, p),
        uap=uap(t, p),
        micro_f1=micro,
        macro_f1=macro,
        recall=per_class_recall(t, p, c),
        precision=per_class_precision(t, p, c),
        confusion=confusion_matrix(t, p, c),
        roc=roc_ovr(t, scores) if scores is not None else None,
        n=int(t.size),
    )
