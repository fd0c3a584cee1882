"""Paper-shaped result tables and plots.

:func:`results_table` prints rows like the PathNet paper's Table 3 — a method column, one column per
emotion (per-class recall) and overall WAR/UAR columns; :func:`class_table` details one evaluation
(precision, recall, F1, AUC, support per emotion); :func:`write_report` writes both as text and JSON
plus confusion-matrix, ROC and learning-curve PNGs into a folder.

Numbers obtained under a leaky protocol (the papers' segment-level split) are marked with ``*`` and a
footnote wherever they appear.

matplotlib is optional (``pip install emofast[plots]``): it is imported lazily with the Agg backend,
and when it is missing the plots are skipped with a one-line notice.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from emofast.metrics import Scores

__all__ = [
    "Evaluation",
    "abbreviate",
    "results_table",
    "recall_table",
    "class_table",
    "confusion_table",
    "write_report",
    "plot_confusion",
    "plot_roc",
    "plot_learning_curves",
    "LEAKY_FOOTNOTE",
]

LEAKY_FOOTNOTE = ("* leaky: segment-level split, segments of one utterance are in both train and "
                  "test; optimistic, not comparable with utterance-level rows")


@dataclass
class Evaluation:
    """One evaluated method, ready to report.

    Attributes
    ----------
    name : str
        Row label (e.g. ``"GN-CNN demo-emodb kfold"``).
    classes : list of str
        Emotion names in class-index order.
    scores : emofast.metrics.Scores
        Pooled test metrics.
    protocol : str
        ``"kfold"``, ``"loso"``, ``"segment"`` or free text.
    leaky : bool
        Numbers come from a split that leaks (marked ``*``).
    level : str
        ``"utterance"`` or ``"segment"``: what one scored item is.
    fold_war : list of float
        Accuracy of each fold (for the mean ± std column).
    curves : list of dict
        Per fold learning curve: ``{"train_loss": [...], "train_acc": [...], "val_acc": [...]}``.
    seconds : float
        Wall time of the evaluation.
    info : dict
        Free-form extras written to JSON (corpus, sizes, settings).
    """

    name: str
    classes: list[str]
    scores: Scores
    protocol: str = "kfold"
    leaky: bool = False
    level: str = "utterance"
    fold_war: list[float] = field(default_factory=list)
    curves: list[dict[str, list[float]]] = field(default_factory=list)
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Row label, with ``*`` when leaky."""
        return f"{self.name} *" if self.leaky else self.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no curves' raw arrays beyond per-epoch lists)."""
        s = self.scores
        return {
            "name": self.name,
            "protocol": self.protocol,
            "leaky": self.leaky,
            "level": self.level,
            "n": s.n,
            "classes": self.classes,
            "war": s.war,
            "uar": s.uar,
            "uap": s.uap,
            "micro_f1": s.micro_f1,
            "macro_f1": s.macro_f1,
            "micro_auc": _nan_to_none([s.roc.micro_auc])[0] if s.roc else None,
            "macro_auc": _nan_to_none([s.roc.macro_auc])[0] if s.roc else None,
            "recall": dict(zip(self.classes, _nan_to_none(s.recall))),
            "precision": dict(zip(self.classes, _nan_to_none(s.precision))),
            "auc": dict(zip(self.classes, _nan_to_none(s.roc.auc))) if s.roc else None,
            "confusion": s.confusion.tolist(),
            "fold_war": self.fold_war,
            "curves": self.curves,
            "seconds": self.seconds,
            "info": self.info,
        }


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=float)]


def abbreviate(emotion: str) -> str:
    """Column header of an emotion as in the papers: ``"anger" -> "Ang"``."""
    return emotion[:3].capitalize()


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _render(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(line(header))
    out = ([title] if title else []) + [rule, line(header), rule] + [line(r) for r in rows] + [rule]
    return "\n".join(out)


def results_table(
    evaluations: Sequence[Evaluation],
    *,
    title: str | None = None,
    overall: Sequence[str] = ("WAR", "UAR"),
    digits: int = 2,
) -> str:
    """Table 3-shaped text: method, per-emotion recall columns, overall columns.

    Parameters
    ----------
    evaluations : sequence of Evaluation
        Rows; the emotion columns are the union of their classes, in first-seen order.
    title : str, optional
    overall : sequence of {"WAR", "UAR", "UAP", "F1", "AUC", "folds"}, default ("WAR", "UAR")
        Overall columns; ``"folds"`` is mean ± std of per-fold WAR; ``"F1"`` is macro-F1 and
        ``"AUC"`` macro AUC.
    digits : int, default 2

    Returns
    -------
    str
        Plain-text table; leaky rows end in ``*`` and a footnote explains the mark.
    """
    if not evaluations:
        raise ValueError("no evaluations to tabulate")
    classes: list[str] = []
    for ev in evaluations:
        classes += [c for c in ev.classes if c not in classes]
    header = ["Method", *[abbreviate(c) for c in classes], *overall]
    rows = []
    for ev in evaluations:
        rec = dict(zip(ev.classes, ev.scores.recall))
        row = [ev.label] + [_fmt(rec.get(c), digits) for c in classes]
        for col in overall:
            s = ev.scores
            value = {
                "WAR": s.war, "UAR": s.uar, "UAP": s.uap, "F1": s.macro_f1,
                "AUC": s.roc.macro_auc if s.roc else None,
            }.get(col.upper())
            if col == "folds":
                fw = np.asarray(ev.fold_war, dtype=float)
                row.append(f"{fw.mean():.{digits}f}±{fw.std():.{digits}f}" if fw.size else "-")
            elif col.upper() in ("WAR", "UAR", "UAP", "F1", "AUC"):
                row.append(_fmt(value, digits))
            else:
                raise ValueError(f"unknown overall column {col!r}")
        rows.append(row)
    text = _render(header, rows, title)
    if any(ev.leaky for ev in evaluations):
        text += "\n" + LEAKY_FOOTNOTE
    return text


def recall_table(
    rows: dict[str, dict[str, Any]],
    classes: Sequence[str],
    *,
    title: str | None = None,
    digits: int = 2,
) -> str:
    """Table 3-shaped text from plain summaries (e.g. another stage's results).

    Parameters
    ----------
    rows : dict of str to dict
        Row label -> ``{"recall": per-class list, "war": float, "uar": float}`` (``"leaky": True``
        marks the row ``*``).
    classes : sequence of str
        Emotion names in the order of the ``recall`` lists.
    title : str, optional
    digits : int, default 2

    Returns
    -------
    str
    """
    header = ["Method", *[abbreviate(c) for c in classes], "WAR", "UAR"]
    body = []
    leaky = False
    for name, r in rows.items():
        recall = [None if v is None else float(v) for v in r["recall"]]
        if len(recall) != len(classes):
            raise ValueError(f"row {name!r} has {len(recall)} recalls for {len(classes)} classes")
        leaky |= bool(r.get("leaky"))
        body.append([f"{name} *" if r.get("leaky") else name,
                     *[_fmt(v, digits) for v in recall],
                     _fmt(r.get("war"), digits), _fmt(r.get("uar"), digits)])
    text = _render(header, body, title)
    return text + ("\n" + LEAKY_FOOTNOTE if leaky else "")


def class_table(ev: Evaluation, *, digits: int = 2) -> str:
    """Per-emotion precision, recall, F1, one-vs-rest AUC and support of one evaluation."""
    s = ev.scores
    support = s.confusion.sum(axis=1)
    rows = []
    for i, c in enumerate(ev.classes):
        p, r = s.precision[i], s.recall[i]
        f1 = 2 * p * r / (p + r) if (p + r) > 0 else (0.0 if not math.isnan(p + r) else math.nan)
        a = s.roc.auc[i] if s.roc else math.nan
        rows.append([c, _fmt(p, digits), _fmt(r, digits), _fmt(f1, digits), _fmt(a, digits),
                     str(int(support[i]))])
    a_micro = s.roc.micro_auc if s.roc else math.nan
    a_macro = s.roc.macro_auc if s.roc else math.nan
    rows.append(["macro (UAP/UAR/F1/AUC)", _fmt(s.uap, digits), _fmt(s.uar, digits),
                 _fmt(s.macro_f1, digits), _fmt(a_macro, digits), str(int(support.sum()))])
    rows.append(["micro (WAR = micro-F1)", _fmt(s.war, digits), _fmt(s.war, digits),
                 _fmt(s.micro_f1, digits), _fmt(a_micro, digits), str(int(support.sum()))])
    title = f"{ev.label}: per-emotion scores ({ev.level} level, {ev.protocol})"
    text = _render(["Emotion", "Prec", "Recall", "F1", "AUC", "N"], rows, title)
    return text + ("\n" + LEAKY_FOOTNOTE if ev.leaky else "")


def confusion_table(ev: Evaluation) -> str:
    """Confusion matrix as text: rows true emotions, columns predicted."""
    cm = ev.scores.confusion
    head = ["true \\ pred", *[abbreviate(c) for c in ev.classes]]
    rows = [[c, *[str(int(v)) for v in cm[i]]] for i, c in enumerate(ev.classes)]
    return _render(head, rows, f"{ev.label}: confusion matrix (counts)")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "result"


def _pyplot(notice: TextIO | None):
    try:
        import matplotlib
    except ImportError:
        if notice is not None:
            print("note: matplotlib is not installed; skipping plots "
                  "(pip install 'emofast[plots]')", file=notice)
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(ev: Evaluation, path: Path, plt: Any) -> Path:
    """Row-normalised confusion matrix heat map with counts, written to ``path``."""
    cm = ev.scores.confusion.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    n = len(ev.classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.8 * n))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), [abbreviate(c) for c in ev.classes])
    ax.set_yticks(range(n), [abbreviate(c) for c in ev.classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{ev.label}\nWAR {ev.scores.war:.2f}  UAR {ev.scores.uar:.2f}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc(ev: Evaluation, path: Path, plt: Any) -> Path | None:
    """One-vs-rest ROC curves per emotion plus micro and macro averages (as the papers' Fig. 16)."""
    roc = ev.scores.roc
    if roc is None:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if not math.isnan(roc.micro_auc):
        ax.plot(roc.micro_fpr, roc.micro_tpr, ":", lw=2.5,
                label=f"micro-average ROC curve (area = {roc.micro_auc:.2f})")
    if not math.isnan(roc.macro_auc):
        ax.plot(roc.macro_fpr, roc.macro_tpr, ":", lw=2.5,
                label=f"macro-average ROC curve (area = {roc.macro_auc:.2f})")
    for c, f, t, a in zip(ev.classes, roc.fpr, roc.tpr, roc.auc):
        if not math.isnan(a):
            ax.plot(f, t, lw=1, label=f"ROC curve of emotion: {c.capitalize()} (area = {a:.2f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("False Positive Rate")
    ax.set_ylabel("True Positive Rate")
    ax.set_title(ev.label, fontsize=9)
    ax.legend(loc="lower right", fontsize=6.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_learning_curves(ev: Evaluation, path: Path, plt: Any) -> Path | None:
    """Training loss and train/test accuracy per epoch, one thin line per fold and their mean."""
    curves = [c for c in ev.curves if c.get("train_loss")]
    if not curves:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, ax, style in (("train_loss", a1, "-"), ("train_acc", a2, "-"), ("val_acc", a2, "--")):
        runs = [np.asarray(c[key]) for c in curves if c.get(key)]
        if not runs:
            continue
        length = min(len(r) for r in runs)
        epochs = np.arange(1, length + 1)
        for r in runs:
            ax.plot(epochs, r[:length], style, lw=0.6, alpha=0.35, color="gray")
        label = {"train_loss": "train loss", "train_acc": "train accuracy (segments)",
                 "val_acc": f"test accuracy ({ev.level}s)"}[key]
        ax.plot(epochs, np.mean([r[:length] for r in runs], axis=0), style, lw=2, label=label)
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.set_ylim(0, 1)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    fig.suptitle(f"{ev.label}: learning curves ({len(curves)} folds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    out_dir: str | Path,
    evaluations: Sequence[Evaluation],
    *,
    title: str = "emofast results",
    plots: bool = True,
    notice: TextIO | None = None,
    extra_text: str | None = None,
) -> dict[str, Any]:
    """Write tables, JSON and plots of ``evaluations`` into ``out_dir``.

    Files: ``results.txt`` (Table 3-shaped summary, then per evaluation its per-emotion table and
    confusion matrix), ``results.json``, and per evaluation ``confusion_<name>.png``,
    ``roc_<name>.png``, ``learning_<name>.png`` when matplotlib is available.

    Parameters
    ----------
    out_dir : str or Path
        Created if missing.
    evaluations : sequence of Evaluation
    title : str
    plots : bool, default True
        Set False to skip plots.
    notice : text stream, optional
        Where the "matplotlib missing" notice goes (default: none).
    extra_text : str, optional
        Appended to ``results.txt`` (e.g. another stage's table).

    Returns
    -------
    dict
        ``{"summary": str, "text": Path, "json": Path, "plots": [Path, ...]}``; ``summary`` is the
        Table 3-shaped text.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = results_table(evaluations, title=title, overall=("WAR", "UAR", "F1", "AUC", "folds"))
    parts = [summary]
    for ev in evaluations:
        parts += ["", class_table(ev), "", confusion_table(ev)]
    if extra_text:
        parts += ["", extra_text]
    text_path = out / "results.txt"
    text_path.write_text("\n".join(parts) + "\n")
    json_path = out / "results.json"
    json_path.write_text(json.dumps({"title": title,
                                     "evaluations": [ev.to_dict() for ev in evaluations]},
                                    indent=1, default=_json_default))
    written: list[Path] = []
    plt = _pyplot(notice) if plots else None
    if plt is not None:
        for ev in evaluations:
            slug = _slug(ev.name)
            written.append(plot_confusion(ev, out / f"confusion_{slug}.png", plt))
            for fn, stem in ((plot_roc, "roc"), (plot_learning_curves, "learning")):
                p = fn(ev, out / f"{stem}_{slug}.png", plt)
                if p is not None:
                    written.append(p)
    return {"summary": summary, "text": text_path, "json": json_path, "plots": written}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
