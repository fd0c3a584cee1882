"""The classic baseline as an experiment: linear models on feature vectors (openSMILE functionals).

Logistic regression or a linear SVM over per-utterance functionals
(:class:`emofast.audio.functionals.FunctionalsExtractor`), run through the same fold loop, folds,
seeds, normalisation options and reports as the deep models, so every table compares with it under
the same protocol. Inputs are standardised per feature with training statistics (after the optional
per-speaker normalisation). Needs scikit-learn (``pip install "emofast[classic]"``).

Examples
--------
>>> from emofast.experiments.classic import LinearConfig, evaluate_linear    # doctest: +SKIP
>>> ev = evaluate_linear(data, "loso", LinearConfig("logreg"), normalize="speaker")  # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from emofast.dataset import SegmentData
from emofast.errors import InputError
from emofast.experiments.baseline import utterance_uar, validation_split
from emofast.experiments.crossval import Fold, FoldOutput, FitFold, cross_validate
from emofast.report.evaluation import Evaluation

__all__ = ["LINEAR_MODELS", "C_GRID", "LinearConfig", "linear_fold", "evaluate_linear"]

#: Linear models of :class:`LinearConfig`.
LINEAR_MODELS: tuple[str, ...] = ("logreg", "svm")
#: Inverse regularisation strengths tried when ``C`` is chosen on validation speakers.
C_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass(frozen=True)
class LinearConfig:
    """A linear classifier and its regularisation.

    Attributes
    ----------
    model : {"logreg", "svm"}, default "logreg"
        Multinomial logistic regression (L-BFGS) or a one-vs-rest linear SVM (squared hinge).
        The SVM's posteriors are the softmax of its decision values (scores, not calibrated
        probabilities).
    C : float or None, default 1.0
        Inverse L2 strength; None: chosen from :data:`C_GRID` by the UAR on the protocol's
        validation part (``split``) or else on ``val_speakers`` speakers held out of each fold's
        training side, then refitted on the whole training side.
    val_speakers : int, default 2
        Validation speakers when ``C`` is None.
    balanced : bool, default True
        Class weights inversely proportional to the training class counts.
    max_iter : int, default 2000
    """

    model: str = "logreg"
    C: float | None = 1.0
    val_speakers: int = 2
    balanced: bool = True
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if self.model not in LINEAR_MODELS:
            raise InputError(f"model must be one of {LINEAR_MODELS}, got {self.model!r}")
        if self.C is not None and not self.C > 0:
            raise InputError(f"C must be > 0 or None, got {self.C}")
        if self.val_speakers < 1:
            raise InputError(f"val_speakers must be >= 1, got {self.val_speakers}")

    def estimator(self, C: float, seed: int):
        """The scikit-learn estimator with inverse regularisation ``C``."""
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.svm import LinearSVC
        except ImportError:
            raise InputError("linear models need scikit-learn: pip install 'emofast[classic]'"
                             ) from None
        weight = "balanced" if self.balanced else None
        if self.model == "logreg":
            return LogisticRegression(C=C, max_iter=self.max_iter, class_weight=weight)
        return LinearSVC(C=C, max_iter=self.max_iter, class_weight=weight, random_state=seed)


def _posteriors(est, X: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes) posteriors, columns for classes the fold's training side lacked set to 0."""
    if hasattr(est, "predict_proba"):
        scores = est.predict_proba(X)
    else:
        d = est.decision_function(X)
        d = np.stack([-d, d], axis=1) if d.ndim == 1 else d
        e = np.exp(d - d.max(axis=1, keepdims=True))
        scores = e / e.sum(axis=1, keepdims=True)
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    out[:, est.classes_] = scores
    return out


def linear_fold(config: LinearConfig = LinearConfig()) -> FitFold:
    """A fit callback for :func:`~emofast.experiments.crossval.cross_validate` (flattened inputs)."""
    import warnings

    def fit_fold(fold: Fold) -> FoldOutput:
        X, y = fold.X_train.reshape(len(fold.X_train), -1), fold.y_train
        info: dict = {}
        C = config.C
        if C is None:
            if fold.X_val is not None:  # the protocol's own validation part
                fit_rows = np.arange(len(y))
                X_val, y_val, g_val = (fold.X_val.reshape(len(fold.X_val), -1), fold.y_val,
                                       fold.groups_val)
            else:
                fit_rows, val_rows = validation_split(fold, config.val_speakers)
                X_val, y_val, g_val = X[val_rows], y[val_rows], fold.groups_train[val_rows]
            scores = []
            for c in C_GRID:
                est = config.estimator(c, fold.seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # convergence notes on the small grid values
                    est.fit(X[fit_rows], y[fit_rows])
                post = _posteriors(est, X_val, fold.n_classes)
                scores.append(utterance_uar(post, y_val, g_val))
            C = C_GRID[int(np.argmax(scores))]
            info["val_uar"] = dict(zip(map(str, C_GRID), scores))
        est = config.estimator(C, fold.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        info["C"] = C
        post = _posteriors(est, fold.X_test.reshape(len(fold.X_test), -1), fold.n_classes)
        return FoldOutput(post, info=info)

    return fit_fold


def evaluate_linear(
    data: SegmentData,
    protocol: str,
    config: LinearConfig = LinearConfig(),
    *,
    name: str | None = None,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    on_fold: Callable[[int, int, dict], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    normalize: str | None = None,
    aggregate: str = "mean",
) -> Evaluation:
    """Cross-validate a linear model on ``data`` (feature vectors, or flattened segments).

    Parameters are those of :func:`emofast.experiments.baseline.evaluate_cnn`, with a
    :class:`LinearConfig`.

    Returns
    -------
    emofast.report.Evaluation
    """
    label = "LogReg" if config.model == "logreg" else "LinSVM"
    return cross_validate(
        data, protocol, linear_fold(config),
        name=name or f"{label} {data.corpus} {protocol}".replace("  ", " "),
        folds=folds, repeats=repeats, seed=seed, max_folds=max_folds, fold_indices=fold_indices,
        standardize="feature", flatten=True, curve_unit="epoch", on_fold=on_fold,
        checkpoint_dir=checkpoint_dir, normalize=normalize, aggregate=aggregate,
        info={"model": config.model, **asdict(config)})
