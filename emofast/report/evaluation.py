"""What one evaluated method hands to the reports: :class:`Evaluation`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emofast.metrics import Scores

__all__ = ["Evaluation", "PROTOCOL_NAMES"]

#: Long names of the protocols, for titles and printed summaries.
PROTOCOL_NAMES = {"kfold": "k-fold by utterance", "loso": "leave-one-speaker-out",
                  "segment": "segment split (leaky)", "speaker-kfold": "k-fold by speaker",
                  "split": "official split (train / val / test)", "given": "given predictions"}


@dataclass
class Evaluation:
    """One evaluated method, ready to report.

    Attributes
    ----------
    name : str
        Row label (e.g. ``"GN-CNN demo_phone kfold"``).
    classes : list of str
        Emotion names in class-index order.
    scores : emofast.metrics.Scores
        Metrics of the test predictions pooled over folds.
    protocol : str
        ``"kfold"``, ``"loso"``, ``"speaker-kfold"``, ``"split"``, ``"segment"`` or free text.
    transductive : str or None
        What the inputs were normalised by without labels, test data included (``"speaker"``:
        every speaker by its own statistics; ``"corpus"``), or None. Marked ``†`` in tables.
    leaky : bool
        Numbers come from a split that leaks (marked ``*``).
    level : str
        ``"utterance"`` or ``"segment"``: what one scored item is.
    fold_war, fold_uar : list of float
        Accuracy and unweighted average recall of each fold (for the mean ± std column).
    curves : list of dict
        Per fold learning curve, lists keyed by what they measure (``train_loss``, ``train_acc``,
        ``test_acc``, ``best_fitness``, ...), one value per :attr:`curve_unit`.
    curve_unit : str
        ``"epoch"`` (CNN) or ``"generation"`` (PathNet evolution).
    folds : list of dict
        Per fold details: ``fold`` (index in the protocol's order), sizes, and what the method
        adds (e.g. a PathNet's best pathway).
    seconds : float
        Wall time of the evaluation.
    info : dict
        Free-form extras written to JSON (corpus, sizes, settings, command).
    predictions : dict or None
        Every scored item's ``ids`` (utterance ids, str), ``folds`` (fold index), ``labels`` (true
        class index) and ``posteriors`` (n, n_classes), as numpy arrays, so runs over the same
        folds can be combined later (:mod:`emofast.experiments.combine`). None where the method
        does not keep them.
    """

    name: str
    classes: list[str]
    scores: Scores
    protocol: str = "kfold"
    leaky: bool = False
    level: str = "utterance"
    fold_war: list[float] = field(default_factory=list)
    fold_uar: list[float] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    curve_unit: str = "epoch"
    folds: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    transductive: str | None = None
    predictions: dict[str, np.ndarray] | None = None

    @property
    def label(self) -> str:
        """Row label, with ``*`` when leaky and ``†`` when transductive."""
        return row_label(self.name, self.leaky, self.transductive)

    def recall_row(self) -> dict[str, Any]:
        """``{"recall": [...], "war", "uar", "leaky", "transductive"}``: the row
        :func:`recall_table` takes."""
        return {"recall": list(self.scores.recall), "war": self.scores.war,
                "uar": self.scores.uar, "leaky": self.leaky, "transductive": self.transductive}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (curves as per-epoch or per-generation lists)."""
        s = self.scores
        return {
            "name": self.name,
            "protocol": self.protocol,
            "leaky": self.leaky,
            "transductive": self.transductive,
            "level": self.level,
            "n": s.n,
            "classes": self.classes,
            "war": s.war,
            "uar": s.uar,
            "uap": s.uap,
            "micro_f1": s.micro_f1,
            "macro_f1": s.macro_f1,
            "micro_auc": nan_to_none([s.roc.micro_auc])[0] if s.roc else None,
            "macro_auc": nan_to_none([s.roc.macro_auc])[0] if s.roc else None,
            "recall": dict(zip(self.classes, nan_to_none(s.recall))),
            "precision": dict(zip(self.classes, nan_to_none(s.precision))),
            "auc": dict(zip(self.classes, nan_to_none(s.roc.auc))) if s.roc else None,
            "confusion": s.confusion.tolist(),
            "fold_war": self.fold_war,
            "fold_uar": self.fold_uar,
            "folds": self.folds,
            "curves": self.curves,
            "curve_unit": self.curve_unit,
            "seconds": self.seconds,
            "info": self.info,
            "predictions": None if self.predictions is None else {
                "ids": [str(i) for i in self.predictions["ids"]],
                "folds": np.asarray(self.predictions["folds"]).tolist(),
                "labels": np.asarray(self.predictions["labels"]).tolist(),
                "posteriors": np.round(np.asarray(self.predictions["posteriors"], float),
                                       7).tolist()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "results") -> Evaluation:
        """The :class:`Evaluation` that :meth:`to_dict` wrote, its scores recomputed from the
        saved predictions.

        Raises
        ------
        InputError
            ``d`` lacks a field, or per-item predictions (``source`` names the file in messages).
        """
        from emofast.errors import InputError
        from emofast.metrics import score

        missing = {"name", "classes", "protocol", "predictions"} - set(d)
        if missing or d.get("predictions") is None:
            raise InputError(f"{source}: evaluation {d.get('name', '?')!r} has no per-utterance "
                             "predictions (written by an older emofast or by a method that keeps "
                             f"none){'; missing ' + str(sorted(missing)) if missing else ''}")
        raw = d["predictions"]
        try:
            pred = {"ids": np.asarray(raw["ids"], dtype=str),
                    "folds": np.asarray(raw["folds"], dtype=np.int64),
                    "labels": np.asarray(raw["labels"], dtype=np.int64),
                    "posteriors": np.asarray(raw["posteriors"], dtype=np.float64)}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed predictions of {d['name']!r}: {exc}") from None
        n, c = len(pred["ids"]), len(d["classes"])
        if pred["posteriors"].shape != (n, c) or len(pred["labels"]) != n or len(pred["folds"]) != n:
            raise InputError(f"{source}: predictions of {d['name']!r} do not fit {n} items and "
                             f"{c} classes")
        return cls(name=d["name"], classes=list(d["classes"]),
                   scores=score(pred["labels"], scores=pred["posteriors"], n_classes=c),
                   protocol=d["protocol"], leaky=bool(d.get("leaky", False)),
                   level=d.get("level", "utterance"), fold_war=list(d.get("fold_war", [])),
                   fold_uar=list(d.get("fold_uar", [])), curves=list(d.get("curves", [])),
                   curve_unit=d.get("curve_unit", "epoch"), folds=list(d.get("folds", [])),
                   seconds=float(d.get("seconds", 0.0)), info=dict(d.get("info", {})),
                   transductive=d.get("transductive"), predictions=pred)


def row_label(name: str, leaky: bool = False, transductive: str | None = None) -> str:
    """``name``, then `` *`` when leaky and `` †`` when transductive."""
    return name + (" *" if leaky else "") + (" †" if transductive else "")


def nan_to_none(values: Any) -> list[float | None]:
    """Floats with NaN as None (JSON has no NaN)."""
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]
