"""After cross-validation: train the baseline on all the data and save it as a bundle
(:func:`save_final_model`, what ``emofast evaluate --save-model`` runs)."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from emofast.errors import InputError

__all__ = ["final_epochs", "save_final_model"]


def final_epochs(evaluations: Sequence[Any]) -> int | None:
    """Epochs to train the final model for: the median (rounded, at least 1) of the best epochs
    that validation speakers chose in the folds of ``evaluations``; None when no fold chose one."""
    best = [f["best_epoch"] for ev in evaluations for f in ev.folds if f.get("best_epoch")]
    return max(1, int(round(float(np.median(best))))) if best else None


def save_final_model(path: str | os.PathLike, data: Any, config: Any, *, features: Any,
                     evaluations: Sequence[Any] = (), seed: int = 0, aggregate: str = "mean",
                     progress: bool = True, provenance: dict | None = None) -> tuple[Any, dict]:
    """Train the baseline CNN on every utterance of ``data`` and write it to a bundle.

    Parameters
    ----------
    path : path
        The bundle file.
    data : SegmentData
        All the data (not normalised per speaker or corpus: that needs the test speakers'
        statistics, which a deployed model does not have).
    config : BaselineConfig
        The cross-validated settings. With ``val_speakers`` the final model trains on every
        speaker for :func:`final_epochs` of ``evaluations`` (the epoch count validation chose in
        cross-validation) instead of ``config.epochs``.
    features : Extractor, FeatureSet or dict
        The feature settings of ``data`` (see :func:`emofast.bundle.save_bundle`).
    evaluations : sequence of Evaluation
        The cross-validation results, recorded in the provenance.
    seed : int
    aggregate : {"mean", "logmean"}
    progress : bool
    provenance : dict, optional
        More provenance (e.g. ``command``, ``store``); corpora, classes, sizes, the training
        settings and the cross-validation scores are added.

    Returns
    -------
    (FinalModel, dict)
        The trained model and the provenance written.

    Normalised ``data`` (:func:`emofast.dataset.normalize`) gives a bundle that records it:
    :meth:`~emofast.bundle.Model.predict` then normalises recordings of one speaker together.
    """
    from emofast.bundle.storage import save_bundle
    from emofast.experiments.baseline import train_final

    epochs_from = "config.epochs"
    if config.val_speakers:
        chosen = final_epochs(evaluations)
        if chosen is not None:
            epochs_from = "median best epoch of the cross-validation folds"
        config = dataclasses.replace(config, epochs=chosen or config.epochs, val_speakers=0,
                                     patience=None)
    final = train_final(data, config, seed=seed, progress=progress)
    record = {
        "corpora": [data.corpus], "classes": list(data.classes),
        "utterances": data.n_utterances, "segments": len(data.X),
        "speakers": int(np.unique(data.speakers).size), "dropped": dict(data.dropped),
        "trained_on": "all utterances", "seed": seed,
        "config": dataclasses.asdict(config), "epochs_from": epochs_from,
        "cross_validation": [{"name": ev.name, "protocol": ev.protocol, "war": float(ev.scores.war),
                              "uar": float(ev.scores.uar), "folds": len(ev.fold_uar)}
                             for ev in evaluations],
        "protocol": [ev.protocol for ev in evaluations],
        **(provenance or {})}
    save_bundle(path, final, features=features, provenance=record, aggregate=aggregate,
                normalization=data.normalization)
    return final, record
