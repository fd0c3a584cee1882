"""Decision-level fusion of per-modality posteriors (multimodal fusion paper, §2.2 and §4).

Why one ~680-line module (about 40% docstrings): eq. 3/5, the micro-F1 prior, its search, the
logistic regression and the method table share one set of input checks (shapes, NaN rows for a
missing modality, [0, 1] posteriors) and one result type, and :func:`fuse` composes all of them;
split files would pass the same private helpers back and forth.

Every function takes one posterior matrix per modality, each of shape ``(n, C)`` (``n`` samples,
``C`` classes, rows in [0, 1]), listed in one fixed order. emofast's order is **audio first, video
second** (the order of ``--modality audio|video``); the names ``"audio"`` and ``"video"`` in
:func:`fuse` mean modality 0 and 1.

Missing modalities
------------------
A modality missing for a sample (no face found, no audio track) is a row of NaN in its matrix. No
sample is ever dropped: each method falls back to the modalities present, and only a sample with
*every* modality missing is refused (:class:`~emofast.errors.InputError` naming its indices).
Any other non-finite value, a value outside [0, 1], matrices of different shapes, fewer than two
modalities or labels outside ``0 .. C-1`` raise :class:`~emofast.errors.InputError` too.

The ensemble method with confidence (eq. 3)
-------------------------------------------
Each sample takes the prediction of the modality with the largest top-two margin ``y1 - y2`` of its
posteriors (:func:`top2_margin`), "larger difference of posterior probability makes predicted
results more reliable".

The ensemble method with prior knowledge (eq. 5)
------------------------------------------------
A bonus ``d_k >= 0`` is added to modality ``k``'s margin before the comparison. The paper's ``d`` is
"the positive difference of micro-F1 values" of the two modalities, given to the one with the
higher micro-F1; it "is obtained from the validation set and applied in the test set"
(:func:`micro_f1_prior`). With more than two modalities, ``d_k = F1_k - min_j F1_j``: since only
differences of bonuses matter, every pair ``j, k`` is then compared exactly as eq. 5 compares two
modalities, with bonus ``F1_j - F1_k`` for the better of the pair.

Logistic regression and its combinations (Tables 3-5)
-----------------------------------------------------
:class:`LogisticFusion` is the paper's LR: "LR regards them [the posteriors] as intermediate
features to train recognition models". The paper then lets "the results of LR act as the new model
results for decision level fusion": LR's posteriors enter the ensemble as one more modality, with
audio, with video, or with both (Table 4), and with the micro-F1 prior (Table 5). :func:`fuse` runs
every method by name (:data:`FUSION_METHODS`), fitting LR and choosing ``d`` on the validation split
only and applying them to the test split.

Ties
----
Eq. 3 and eq. 5 write ``>=``: on equal (bonused) margins the modality on the left wins, and in eq. 5
that is the one receiving ``d``. emofast's rule, which reproduces both: among the modalities with
the largest bonused margin, the one with the **largest bonus** wins, and among equal bonuses the
**earliest in the list**. (The paper puts video on the left of eq. 3; with emofast's audio-first
order an exact tie of eq. 3 goes to audio. Ties of real-valued margins are rare in practice.)
Within the winning modality the class is ``argmax`` of its posteriors, the smallest class index on
equal posteriors.

Examples
--------
>>> import numpy as np
>>> audio = np.array([[0.6, 0.3, 0.1], [0.4, 0.35, 0.25]])
>>> video = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
>>> top2_margin(audio).round(2).tolist()
[0.3, 0.05]
>>> r = confidence_ensemble([audio, video])
>>> r.labels.tolist(), r.winner.tolist()
([0, 2], [0, 1])
>>> confidence_ensemble([audio, video], prior=[0.0, 0.2]).winner.tolist()
[1, 1]
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emofast.errors import InputError
from emofast.metrics import f1_scores

__all__ = [
    "FusionResult",
    "top2_margin",
    "confidence_ensemble",
    "micro_f1_prior",
    "search_prior",
    "LogisticFusion",
    "fuse",
    "FUSION_METHODS",
]

# Names of modalities 0 and 1 in emofast's order.
MODALITY_NAMES = ("audio", "video")


@dataclass
class FusionResult:
    """Fused decisions for ``n`` samples.

    Attributes
    ----------
    labels : numpy.ndarray of int64, shape (n,)
        Fused class of every sample.
    posteriors : numpy.ndarray of float64, shape (n, C)
        The posteriors the decision came from: the winning modality's row (the paper keeps them for
        the next fusion step), or logistic regression's.
    winner : numpy.ndarray of int64, shape (n,)
        Index of the modality that decided each sample; -1 for logistic regression.
    """

    labels: np.ndarray
    posteriors: np.ndarray
    winner: np.ndarray


# ----------------------------------------------------------------------------------------- checks

def _check_matrix(p, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``p`` as float64 ``(n, C)`` and its mask of present rows; refuses anything else."""
    a = np.asarray(p)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise InputError(f"{name} must hold numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 2:
        raise InputError(f"{name} must have shape (n_samples, n_classes), got {a.shape}")
    n, c = a.shape
    if n == 0:
        raise InputError(f"{name} holds no samples")
    if c < 2:
        raise InputError(f"{name} has {c} class column(s); need at least two")
    nan = np.isnan(a)
    missing = nan.all(axis=1)
    bad = np.flatnonzero(~missing & ~np.isfinite(a).all(axis=1))
    if bad.size:
        raise InputError(f"{name} row(s) {_few(bad)} hold NaN or inf in some columns; a missing "
                         "modality must be a whole row of NaN")
    rows = a[~missing]
    if rows.size and (rows.min() < 0.0 or rows.max() > 1.0):
        out = np.flatnonzero(~missing & ((a < 0) | (a > 1)).any(axis=1))
        raise InputError(f"{name} row(s) {_few(out)} hold values outside [0, 1]; pass posterior "
                         "probabilities, not scores or logits")
    return a, ~missing


def _few(idx: np.ndarray, k: int = 10) -> str:
    """At most ``k`` indices, for error messages."""
    idx = [int(i) for i in idx]
    more = f" and {len(idx) - k} more" if len(idx) > k else ""
    return f"{idx[:k]}{more}"


def _stack(posteriors, name: str = "posteriors") -> tuple[np.ndarray, np.ndarray]:
    """Modalities stacked ``(K, n, C)`` and the ``(K, n)`` mask of present rows."""
    if isinstance(posteriors, np.ndarray) and posteriors.ndim == 2:
        raise InputError(f"{name} must be a list of (n, C) matrices, one per modality; got one "
                         f"matrix of shape {posteriors.shape}")
    mats = list(posteriors)
    if len(mats) < 2:
        raise InputError(f"{name} holds {len(mats)} modality(ies); fusion needs at least two")
    checked = [_check_matrix(p, f"{name}[{k}]") for k, p in enumerate(mats)]
    shape = checked[0][0].shape
    for k, (a, _) in enumerate(checked[1:], start=1):
        if a.shape != shape:
            raise InputError(f"{name}[{k}] has shape {a.shape} but {name}[0] has {shape}; every "
                             "modality needs one row per sample and one column per class")
    P = np.stack([a for a, _ in checked])
    present = np.stack([m for _, m in checked])
    gone = np.flatnonzero(~present.any(axis=0))
    if gone.size:
        raise InputError(f"every modality is missing (NaN) for sample(s) {_few(gone)} of {name}; "
                         "nothing to fuse")
    return P, present


def _check_labels(labels, n: int, c: int, name: str = "labels") -> np.ndarray:
    t = np.asarray(labels)
    if t.ndim != 1 or t.size != n:
        raise InputError(f"{name} must have shape ({n},), one class per sample, got {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise InputError(f"{name} must hold integer class indices, got dtype {t.dtype}")
    out = np.flatnonzero((t < 0) | (t >= c))
    if out.size:
        raise InputError(f"{name} at index(es) {_few(out)} lie outside [0, {c}) "
                         f"(e.g. {int(t[out[0]])})")
    return t.astype(np.int64)


def _check_prior(prior, k: int) -> np.ndarray:
    if prior is None:
        return np.zeros(k)
    d = np.asarray(prior, dtype=np.float64)
    if d.shape != (k,):
        raise InputError(f"prior must hold one bonus per modality, shape ({k},), got {d.shape}")
    if not np.isfinite(d).all() or (d < 0).any():
        raise InputError(f"prior bonuses must be finite and >= 0, got {d.tolist()}")
    return d


# ----------------------------------------------------------------------------------------- eq. 3/5

def _margins(P: np.ndarray) -> np.ndarray:
    """Top-two margin along the last axis (NaN rows give NaN)."""
    top = -np.partition(-np.nan_to_num(P, nan=0.0), 1, axis=-1)[..., :2]
    m = top[..., 0] - top[..., 1]
    m[np.isnan(P).all(axis=-1)] = np.nan
    return m


def top2_margin(posteriors: np.ndarray) -> np.ndarray:
    """Difference ``y1 - y2`` of the two largest posteriors of every row (the paper's confidence).

    Parameters
    ----------
    posteriors : array-like of float, shape (n, C)
        One modality's posteriors, ``C >= 2``; a missing sample is a row of NaN.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        In [0, 1]; NaN for a missing row.

    Examples
    --------
    >>> p = [[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [np.nan, np.nan, np.nan]]
    >>> top2_margin(p).round(2).tolist()
    [0.5, 0.0, nan]
    """
    P, _ = _check_matrix(posteriors, "posteriors")
    return _margins(P)


def _decide(P: np.ndarray, present: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Winning modality per sample under eq. 5 (eq. 3 when ``prior`` is 0) and the tie rule.

    ``prior`` may be ``(K,)`` or ``(G, K)`` (G bonus vectors at once, for the search); the result
    is ``(n,)`` or ``(G, n)``.
    """
    margins = np.where(present, _margins(P), -np.inf)              # (K, n)
    pr = prior[..., :, None]                                       # (K, 1) or (G, K, 1)
    score = margins + pr
    best = score.max(axis=-2, keepdims=True)
    cand = score == best
    bonus = np.where(cand, pr, -np.inf)
    cand &= bonus == bonus.max(axis=-2, keepdims=True)
    return cand.argmax(axis=-2)                                    # first True: earliest modality


def _result(P: np.ndarray, winner: np.ndarray) -> FusionResult:
    post = P[winner, np.arange(P.shape[1])]
    return FusionResult(labels=post.argmax(axis=1).astype(np.int64), posteriors=post,
                        winner=winner.astype(np.int64))


def confidence_ensemble(posteriors: Sequence[np.ndarray],
                        prior: Sequence[float] | np.ndarray | None = None) -> FusionResult:
    """The ensemble method with confidence (eq. 3), or with prior knowledge (eq. 5).

    Each sample goes to the modality with the largest ``top2_margin + prior[k]`` among the
    modalities present for it; ties as in the module notes (largest bonus, then earliest).

    Parameters
    ----------
    posteriors : sequence of array-like, each of shape (n, C)
        One matrix per modality (two or more); a missing modality is a row of NaN.
    prior : sequence of float, shape (K,), optional
        Bonus ``d_k >= 0`` added to modality ``k``'s margin (eq. 5); default 0 (eq. 3).

    Returns
    -------
    FusionResult
        ``posteriors`` are the winning modality's.

    Raises
    ------
    InputError
        Bad shapes or values, fewer than two modalities, or a sample with every modality missing.

    Examples
    --------
    >>> a = np.array([[0.5, 0.4, 0.1]])          # margin 0.1
    >>> v = np.array([[0.1, 0.3, 0.6]])          # margin 0.3
    >>> confidence_ensemble([a, v]).labels.tolist()
    [2]
    >>> confidence_ensemble([a, v], prior=[0.2, 0.0]).labels.tolist()   # 0.1 + 0.2 >= 0.3
    [0]
    """
    P, present = _stack(posteriors)
    d = _check_prior(prior, P.shape[0])
    return _result(P, _decide(P, present, d))


# ----------------------------------------------------------------------------------- prior from val

def _validation(val_posteriors, val_labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    P, present = _stack(val_posteriors, "val_posteriors")
    t = _check_labels(val_labels, P.shape[1], P.shape[2], "val_labels")
    return P, present, t


def _micro_f1s(P: np.ndarray, present: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Micro-F1 (eq. 4) of every modality's argmax, over the samples where it is present."""
    out = np.empty(P.shape[0])
    for k in range(P.shape[0]):
        rows = present[k]
        if not rows.any():
            raise InputError(f"val_posteriors[{k}] is missing (NaN) for every validation sample; "
                             "its micro-F1 is undefined")
        out[k] = f1_scores(t[rows], P[k, rows].argmax(axis=1))[0]
    return out


def micro_f1_prior(val_posteriors: Sequence[np.ndarray], val_labels: np.ndarray) -> np.ndarray:
    """The paper's bonus ``d`` (eq. 5) from the validation split: differences of micro-F1 (eq. 4).

    Each modality's micro-F1 is computed from its own predictions (``argmax`` of its posteriors) on
    the validation samples where it is present. ``d_k = F1_k - min_j F1_j``: with two modalities,
    the positive difference goes to the better one and the other gets 0, as in the paper; with more,
    every pair is compared with the pair's own difference (module notes).

    Parameters
    ----------
    val_posteriors : sequence of array-like, each of shape (n, C)
        Validation posteriors, one matrix per modality.
    val_labels : array-like of int, shape (n,)

    Returns
    -------
    numpy.ndarray of float64, shape (K,)
        Bonuses, all >= 0, the smallest 0.

    Examples
    --------
    >>> y = np.array([0, 1, 1, 0])
    >>> audio = np.eye(2)[[0, 1, 0, 1]] * 0.8 + 0.1     # right on 2 of 4 samples
    >>> video = np.eye(2)[[0, 1, 1, 1]] * 0.8 + 0.1     # right on 3 of 4
    >>> micro_f1_prior([audio, video], y).tolist()
    [0.0, 0.25]
    """
    return _f1_prior(*_validation(val_posteriors, val_labels))


def _f1_prior(P: np.ndarray, present: np.ndarray, t: np.ndarray) -> np.ndarray:
    f1 = _micro_f1s(P, present, t)
    return f1 - f1.min()


def search_prior(val_posteriors: Sequence[np.ndarray], val_labels: np.ndarray, *,
                 grid: np.ndarray | None = None) -> np.ndarray:
    """A bonus for the better modality chosen by validation accuracy (an extension of eq. 5).

    The paper sets ``d`` to the micro-F1 difference (:func:`micro_f1_prior`) and does not search.
    This searches instead: the modality with the highest validation micro-F1 (the earliest on a
    tie) receives the bonus ``d`` that maximises the validation accuracy of eq. 5, the smallest
    such ``d`` on a tie; the other modalities get 0. Only validation data are used.

    Parameters
    ----------
    val_posteriors : sequence of array-like, each of shape (n, C)
    val_labels : array-like of int, shape (n,)
    grid : array-like of float, optional
        Bonuses to try (finite, >= 0). Default: every value at which the validation accuracy can
        change, i.e. 0 and, for each sample, the smallest bonus that hands it to the better
        modality (plus the smallest positive float, which hands it the exact ties): an exact
        search, not an approximation on a grid.

    Returns
    -------
    numpy.ndarray of float64, shape (K,)
        ``d`` at the better modality, 0 elsewhere.

    Examples
    --------
    >>> y = np.array([0, 1, 1, 0])
    >>> audio = np.array([[0.9, 0.1], [0.45, 0.55], [0.6, 0.4], [0.7, 0.3]])  # 3 of 4 right
    >>> video = np.array([[0.2, 0.8], [0.7, 0.3], [0.1, 0.9], [0.3, 0.7]])    # 1 of 4 right
    >>> confidence_ensemble([audio, video]).labels.tolist()       # sample 1 goes to video
    [0, 0, 1, 0]
    >>> search_prior([audio, video], y).round(2).tolist()         # 0.1 + 0.3 >= 0.4
    [0.3, 0.0]
    >>> micro_f1_prior([audio, video], y).tolist()
    [0.5, 0.0]
    """
    P, present, t = _validation(val_posteriors, val_labels)
    return _search(P, present, t, grid)


def _search(P: np.ndarray, present: np.ndarray, t: np.ndarray, grid) -> np.ndarray:
    k = P.shape[0]
    better = int(np.argmax(_micro_f1s(P, present, t)))
    if grid is None:
        cands = _breakpoints(P, present, better)
    else:
        cands = np.asarray(grid, dtype=np.float64)
        if cands.ndim != 1 or cands.size == 0:
            raise InputError("grid must be a non-empty 1-D array of bonuses, got shape "
                             f"{cands.shape}")
        if not np.isfinite(cands).all() or (cands < 0).any():
            raise InputError("grid bonuses must be finite and >= 0")
        cands = np.unique(cands)                                   # sorted: ties -> smallest
    correct = np.nan_to_num(P, nan=0.0).argmax(axis=2) == t      # (K, n)
    cols = np.arange(P.shape[1])
    acc = np.empty(cands.size)
    step = max(1, 2**21 // (k * P.shape[1]))
    for lo in range(0, cands.size, step):
        priors = np.zeros((min(step, cands.size - lo), k))
        priors[:, better] = cands[lo:lo + step]
        winner = _decide(P, present, priors)                        # (G, n)
        acc[lo:lo + step] = correct[winner, cols].mean(axis=1)
    out = np.zeros(k)
    out[better] = cands[int(np.argmax(acc))]
    return out


def _breakpoints(P: np.ndarray, present: np.ndarray, better: int) -> np.ndarray:
    """Every bonus for modality ``better`` at which eq. 5 hands some sample over to it."""
    margins = np.where(present, _margins(P), -np.inf)
    mine = margins[better]
    other = np.delete(margins, better, axis=0).max(axis=0)
    both = present[better] & np.isfinite(other)
    need = other[both] - mine[both]
    for _ in range(2):              # the smallest float d with mine + d >= other (rounding)
        need = np.where(mine[both] + need < other[both], np.nextafter(need, np.inf), need)
    return np.unique(np.r_[0.0, np.nextafter(0.0, 1.0), need[need > 0]])


# ------------------------------------------------------------------------------ logistic regression

class LogisticFusion:
    """Logistic regression on the concatenated posteriors of all modalities (the paper's LR).

    Multinomial logistic regression with an L2 penalty, fitted by L-BFGS (``scipy.optimize``) from
    zero weights, so fitting is deterministic. It minimises ``C * sum_i -log p(y_i | x_i) +
    ||W||^2 / 2`` (intercepts unpenalised), the objective of scikit-learn's
    ``LogisticRegression(C=C)`` with its multinomial loss; with two classes scikit-learn fits a
    single binary logit instead, which matches this model at ``2 * C``.

    The features of a sample are its ``K`` posterior rows side by side (``K * C`` values). A
    modality missing for a sample (NaN row) is filled with the uniform posterior ``1 / C``, in
    fitting and in prediction alike; a sample with every modality missing is refused. Classes
    absent from the fitting labels get probability 0 (only the classes seen are modelled); with a
    single class seen, that class is predicted with probability 1.

    Parameters
    ----------
    C : float
        Inverse L2 strength (> 0).
    max_iter : int
        L-BFGS iteration limit; reaching it warns (``RuntimeWarning``).

    Attributes
    ----------
    classes_ : numpy.ndarray of int64
        The classes seen in fitting.
    coef_ : numpy.ndarray of float64, shape (K * C, len(classes_))
    intercept_ : numpy.ndarray of float64, shape (len(classes_),)
    n_iter_ : int

    Examples
    --------
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> audio = np.eye(3)[[0, 1, 2, 0, 1, 1]] * 0.7 + 0.1
    >>> video = np.eye(3)[[0, 1, 2, 1, 1, 2]] * 0.7 + 0.1
    >>> lr = LogisticFusion(C=10.0).fit([audio, video], y)
    >>> r = lr.predict([audio, video])
    >>> r.labels.tolist(), r.winner.tolist()
    ([0, 1, 2, 0, 1, 2], [-1, -1, -1, -1, -1, -1])
    """

    def __init__(self, C: float = 1.0, max_iter: int = 500) -> None:
        if not (isinstance(C, (int, float, np.number)) and np.isfinite(C) and C > 0):
            raise InputError(f"C must be a finite number > 0, got {C!r}")
        if (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer))
                or max_iter < 1):
            raise InputError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        self.C = float(C)
        self.max_iter = int(max_iter)

    def _features(self, posteriors, name: str) -> tuple[np.ndarray, int, int]:
        P, present = _stack(posteriors, name)
        k, n, c = P.shape
        P[~present] = 1.0 / c
        return P.transpose(1, 0, 2).reshape(n, k * c), k, c

    def fit(self, posteriors: Sequence[np.ndarray], labels: np.ndarray) -> LogisticFusion:
        """Fit on one split (in emofast: validation) and return ``self``."""
        X, k, c = self._features(posteriors, "posteriors")
        t = _check_labels(labels, X.shape[0], c)
        self.n_modalities_, self.n_classes_ = k, c
        self.classes_ = np.unique(t)
        d, m = X.shape[1], self.classes_.size
        self.n_iter_ = 0
        if m == 1:
            self.coef_, self.intercept_ = np.zeros((d, 1)), np.zeros(1)
            return self
        from scipy.optimize import minimize

        Y = (t[:, None] == self.classes_).astype(np.float64)
        alpha = 1.0 / (self.C * X.shape[0])        # the objective divided by C * n

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[:d * m].reshape(d, m), theta[d * m:]
            Z = X @ W + b
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            S = E.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(S[:, 0]) - (Z * Y).sum(axis=1)) + 0.5 * alpha * np.sum(W * W)
            G = (E / S - Y) / X.shape[0]
            return loss, np.r_[(X.T @ G + alpha * W).ravel(), G.sum(axis=0)]

        res = minimize(objective, np.zeros(d * m + m), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter, "maxls": 50, "gtol": 1e-10,
                                "ftol": 64 * np.finfo(np.float64).eps})
        self.coef_ = res.x[:d * m].reshape(d, m).copy()
        self.intercept_ = res.x[d * m:].copy()
        self.n_iter_ = int(res.nit)
        if res.nit >= self.max_iter and not res.success:
            import warnings

            warnings.warn(f"LogisticFusion did not converge in max_iter={self.max_iter} "
                          "iterations; raise max_iter", RuntimeWarning, stacklevel=2)
        return self

    def predict_proba(self, posteriors: Sequence[np.ndarray]) -> np.ndarray:
        """Fused posteriors, shape ``(n, C)``; 0 for the classes not seen in fitting."""
        if not hasattr(self, "coef_"):
            raise InputError("LogisticFusion is not fitted: call fit() first")
        X, k, c = self._features(posteriors, "posteriors")
        if (k, c) != (self.n_modalities_, self.n_classes_):
            raise InputError(f"fitted on {self.n_modalities_} modalities x {self.n_classes_} "
                             f"classes, given {k} x {c}")
        Z = X @ self.coef_ + self.intercept_
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        out = np.zeros((X.shape[0], c))
        out[:, self.classes_] = E / E.sum(axis=1, keepdims=True)
        return out

    def predict(self, posteriors: Sequence[np.ndarray]) -> FusionResult:
        """Fused decisions; ``winner`` is -1 (logistic regression decided every sample)."""
        proba = self.predict_proba(posteriors)
        return FusionResult(labels=proba.argmax(axis=1).astype(np.int64), posteriors=proba,
                            winner=np.full(proba.shape[0], -1, dtype=np.int64))


def _out_of_fold(P: np.ndarray, t: np.ndarray, folds: int = 5, **lr) -> np.ndarray:
    """LR posteriors of every validation sample from a model fitted on the other folds.

    Folds are assigned deterministically (samples sorted by label, dealt round-robin), so each
    holds about the same class mix.
    """
    n = t.size
    folds = min(folds, n)
    if folds < 2:
        return LogisticFusion(**lr).fit(P, t).predict_proba(P)
    fold = np.empty(n, dtype=np.int64)
    fold[np.argsort(t, kind="stable")] = np.arange(n) % folds
    out = np.empty((n, P.shape[2]))
    for f in range(folds):
        held = fold == f
        out[held] = LogisticFusion(**lr).fit(P[:, ~held], t[~held]).predict_proba(P[:, held])
    return out


# ------------------------------------------------------------------------------------------- fuse

FUSION_METHODS: tuple[str, ...] = (
    "audio", "video",                                          # Table 2: one modality
    "lr", "ensemble",                                          # Table 3: LR, eq. 3
    "lr+ensemble:audio", "lr+ensemble:video", "lr+ensemble",   # Table 4: LR's output + eq. 3
    "lr+ensemble+prior:audio", "lr+ensemble+prior:video",      # Table 5: ... with eq. 5
    "lr+ensemble+prior", "ensemble+prior",                     # eq. 5, not tabled in the paper
    "ensemble+search", "lr+ensemble+search:audio", "lr+ensemble+search:video",
    "lr+ensemble+search",                                      # eq. 5 with a searched d
)

_NAME = re.compile(r"(?P<lr>lr\+)?ensemble(?P<prior>\+prior|\+search)?(?::(?P<mod>\w+))?")


def _modality_index(token: str, k: int) -> int:
    if token in MODALITY_NAMES:
        i = MODALITY_NAMES.index(token)
    elif re.fullmatch(r"\d+", token):
        i = int(token)
    else:
        raise InputError(f"unknown modality {token!r}: give an index or one of {MODALITY_NAMES}")
    if i >= k:
        raise InputError(f"modality {token!r} (index {i}) does not exist: {k} modalities given")
    return i


def _single(P: np.ndarray, present: np.ndarray, k: int) -> FusionResult:
    """Modality ``k`` alone; where it is missing, eq. 3 over the others present."""
    winner = _decide(P, present, np.zeros(P.shape[0]))
    winner = np.where(present[k], k, winner)
    return _result(P, winner)


def fuse(method: str, val_posteriors: Sequence[np.ndarray], val_labels: np.ndarray,
         test_posteriors: Sequence[np.ndarray]) -> FusionResult:
    """One fusion method of the paper's Tables 2-5, fitted or tuned on validation, applied to test.

    Methods (``<m>`` is ``audio``, ``video`` or a modality index):

    ``audio``, ``video``, ``modality:<m>``
        Table 2: one modality alone; where it is missing, eq. 3 over the modalities present.
    ``lr``
        Table 3: :class:`LogisticFusion` fitted on the validation posteriors of all modalities.
    ``ensemble``
        Table 3: eq. 3 over all modalities (:func:`confidence_ensemble`).
    ``lr+ensemble:<m>``, ``lr+ensemble``
        Table 4 (the paper's Fig. 5): "the results of LR act as the new model results": LR's
        posteriors join the ensemble (eq. 3) as one more modality, placed after the others, with
        modality ``<m>`` alone (columns "Audio", "Video") or with all modalities ("Audio+Video").
        ``winner`` is -1 where LR decided.
    ``lr+ensemble+prior:<m>``
        Table 5: the Table 4 ensembles with eq. 5, ``d`` from :func:`micro_f1_prior` on
        validation. LR's validation micro-F1 is measured on out-of-fold predictions (5 folds
        within the validation split): LR fitted on all of validation would be scored on its own
        training data, and ``d`` would favour it for that alone.
    ``lr+ensemble+prior``, ``ensemble+prior``
        Eq. 5 the same way for LR with all modalities, and for the modalities alone (the paper
        tables neither).
    ``...+search`` (``ensemble+search``, ``lr+ensemble+search[:<m>]``)
        As ``+prior`` with ``d`` from :func:`search_prior` (not in the paper).

    Parameters
    ----------
    method : str
        One of :data:`FUSION_METHODS`, or a name built as above.
    val_posteriors : sequence of array-like, each of shape (n_val, C)
        Validation posteriors, one matrix per modality (same order as ``test_posteriors``).
    val_labels : array-like of int, shape (n_val,)
    test_posteriors : sequence of array-like, each of shape (n_test, C)

    Returns
    -------
    FusionResult
        Decisions for the test samples. Nothing is fitted or tuned on them.

    Examples
    --------
    >>> y = np.array([0, 1])
    >>> val = [np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([[0.7, 0.3], [0.2, 0.8]])]
    >>> test = [np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]])]
    >>> fuse("ensemble", val, y, test).labels.tolist()        # audio margin 0.6 > 0.2
    [0]
    >>> fuse("ensemble+prior", val, y, test).labels.tolist()  # video +0.5: 0.7 >= 0.6
    [1]
    """
    Pv, present_v, t = _validation(val_posteriors, val_labels)
    Pt, present_t = _stack(test_posteriors, "test_posteriors")
    if Pt.shape[0] != Pv.shape[0] or Pt.shape[2] != Pv.shape[2]:
        raise InputError(f"test_posteriors have {Pt.shape[0]} modalities x {Pt.shape[2]} classes "
                         f"but val_posteriors {Pv.shape[0]} x {Pv.shape[2]}")
    K = Pt.shape[0]
    name = method.strip().lower() if isinstance(method, str) else ""
    if name in MODALITY_NAMES or name.startswith("modality:"):
        return _single(Pt, present_t, _modality_index(name.split(":", 1)[-1], K))
    if name == "lr":
        return LogisticFusion().fit(Pv, t).predict(Pt)
    match = _NAME.fullmatch(name)
    if match is None or (match["mod"] is not None and not match["lr"]):
        raise InputError(f"unknown fusion method {method!r}; known: {', '.join(FUSION_METHODS)}, "
                         "'modality:<k>' and 'lr+ensemble[+prior|+search]:<k>'")
    keep = list(range(K)) if match["mod"] is None else [_modality_index(match["mod"], K)]
    members_v, members_t = (Pv[keep], present_v[keep]), (Pt[keep], present_t[keep])
    if match["lr"]:             # LR's posteriors join as one more modality, always present
        lr = LogisticFusion().fit(Pv, t)
        members_t = _append(members_t, lr.predict_proba(Pt))
        if match["prior"]:
            members_v = _append(members_v, _out_of_fold(Pv, t))
    if match["prior"] == "+prior":
        d = _f1_prior(*members_v, t)
    elif match["prior"] == "+search":
        d = _search(*members_v, t, None)
    else:
        d = np.zeros(len(members_t[0]))
    r = _result(members_t[0], _decide(*members_t, d))
    r.winner = np.array(keep + [-1], dtype=np.int64)[r.winner]   # LR (last member) -> -1
    return r


def _append(members: tuple[np.ndarray, np.ndarray], p: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    P, present = members
    return np.concatenate([P, p[None]]), np.vstack([present, np.ones((1, p.shape[0]), bool)])
