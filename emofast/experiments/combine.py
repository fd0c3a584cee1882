"""Combining evaluated systems at the decision level: one more row from the saved predictions.

Two systems cross-validated over the same folds (e.g. the GroupNorm CNN on log-Mel segments and
logistic regression on openSMILE functionals, both ``emofast evaluate ... --protocol loso``) each
keep every test utterance's posteriors (:attr:`emofast.report.Evaluation.predictions`).
:func:`combine_evaluations` averages them utterance by utterance, with equal weights, so nothing is
tuned on the test folds; the confidence ensemble of :mod:`emofast.fusion` needs validation
posteriors, which saved cross-validation runs do not keep.

Examples
--------
>>> from emofast.experiments.combine import combine_evaluations  # doctest: +SKIP
>>> both = combine_evaluations([cnn, logreg], how="mean")         # doctest: +SKIP
>>> print(both.scores.uar, both.fold_uar)                        # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emofast.errors import InputError
from emofast.metrics import score, uar
from emofast.protocols import AGGREGATIONS, aggregate_segments
from emofast.report.evaluation import Evaluation

__all__ = ["combine_evaluations"]


def _aligned(ev: Evaluation, order: np.ndarray) -> dict[str, np.ndarray]:
    """``ev``'s predictions re-ordered to the utterance ids ``order``."""
    pred = ev.predictions
    index = {u: i for i, u in enumerate(pred["ids"])}
    missing = [u for u in order if u not in index]
    if missing or len(index) != len(order):
        raise InputError(f"{ev.name!r} scored other utterances than the first system "
                         f"({len(index)} vs {len(order)}; e.g. {missing[:3]}): combine runs of "
                         "the same corpus, labels and protocol")
    rows = np.array([index[u] for u in order])
    return {k: np.asarray(v)[rows] for k, v in pred.items()}


def combine_evaluations(evaluations: Sequence[Evaluation], *, how: str = "mean",
                        name: str | None = None) -> Evaluation:
    """Average the utterance posteriors of systems evaluated over the same folds.

    Parameters
    ----------
    evaluations : sequence of Evaluation
        Two or more utterance-level evaluations with :attr:`~Evaluation.predictions`, of the same
        utterances, classes and fold assignment (same corpus, labels, protocol and seed).
    how : {"mean", "logmean"}, default "mean"
        Equal-weight mean of the posteriors, or their normalised geometric mean
        (:func:`emofast.protocols.aggregate_segments`).
    name : str, optional
        Row label (default: the members' names joined by ``" + "``).

    Returns
    -------
    Evaluation
        Scores, per-fold WAR/UAR and predictions of the combination; ``info["members"]`` names
        the systems; transductive when any member is.

    Raises
    ------
    InputError
        Fewer than two systems, a member without predictions or at segment level, or members
        that disagree on classes, utterances, labels or folds.
    """
    evs = list(evaluations)
    if len(evs) < 2:
        raise InputError(f"combine needs two or more evaluations, got {len(evs)}")
    if how not in AGGREGATIONS:
        raise InputError(f"how must be one of {AGGREGATIONS}, got {how!r}")
    for ev in evs:
        if ev.predictions is None or ev.level != "utterance":
            raise InputError(f"{ev.name!r} has no utterance-level predictions to combine")
        if list(ev.classes) != list(evs[0].classes):
            raise InputError(f"{ev.name!r} has classes {ev.classes}, {evs[0].name!r} "
                             f"{evs[0].classes}")
    order = np.asarray(evs[0].predictions["ids"], dtype=str)
    members = [_aligned(ev, order) for ev in evs]
    for ev, m in zip(evs[1:], members[1:]):
        for key in ("labels", "folds"):
            if not np.array_equal(m[key], members[0][key]):
                raise InputError(f"{ev.name!r} and {evs[0].name!r} differ in their {key} of "
                                 "the same utterances: not the same labels and folds")
    n, k = len(order), len(evs)
    post, _ = aggregate_segments(np.concatenate([m["posteriors"] for m in members]),
                                 np.tile(np.arange(n), k), how=how)
    labels, folds = members[0]["labels"], members[0]["folds"]
    fold_war, fold_uar, details = [], [], []
    for f in np.unique(folds):
        sel = folds == f
        pred = post[sel].argmax(1)
        fold_war.append(float(np.mean(pred == labels[sel])))
        fold_uar.append(uar(labels[sel], pred))
        details.append({"fold": int(f), "test_items": int(sel.sum()), "war": fold_war[-1],
                        "uar": fold_uar[-1]})
    transductive = sorted({ev.transductive for ev in evs if ev.transductive})
    return Evaluation(
        name=name or " + ".join(ev.name for ev in evs), classes=list(evs[0].classes),
        scores=score(labels, scores=post, n_classes=len(evs[0].classes)),
        protocol=evs[0].protocol, leaky=any(ev.leaky for ev in evs), fold_war=fold_war,
        fold_uar=fold_uar, folds=details, seconds=sum(ev.seconds for ev in evs),
        transductive="+".join(transductive) or None,
        info={"members": [ev.name for ev in evs], "combine": how,
              "corpus": evs[0].info.get("corpus")},
        predictions={"ids": order, "folds": folds, "labels": labels, "posteriors": post})
