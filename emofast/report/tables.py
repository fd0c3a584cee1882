"""Paper-shaped text tables.

:func:`results_table` and :func:`recall_table` render the one Table-3 shape of the papers — a method
column, one column per emotion (per-class recall) and overall columns — from evaluations or from
plain summaries; :func:`class_table` details one evaluation (precision, recall, F1, AUC, support per
emotion) and :func:`confusion_table` its confusion matrix. Rows obtained under a leaky protocol
(the papers' segment-level split) end in ``*`` and the table carries :data:`LEAKY_FOOTNOTE`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from emofast.errors import InputError
from emofast.report.evaluation import Evaluation, row_label

__all__ = ["abbreviate", "results_table", "recall_table", "class_table", "confusion_table",
           "cross_corpus_cells", "cross_corpus_table", "LEAKY_FOOTNOTE", "TRANSDUCTIVE_FOOTNOTE"]

LEAKY_FOOTNOTE = ("* leaky: segment-level split, segments of one utterance are in both train and "
                  "test; optimistic, not comparable with utterance-level rows")

TRANSDUCTIVE_FOOTNOTE = ("† transductive: inputs normalised per speaker (or corpus) with that "
                         "speaker's own statistics, test speakers included (no labels used)")

_OVERALL = ("WAR", "UAR", "UAP", "F1", "AUC", "folds")


def abbreviate(emotion: str) -> str:
    """Column header of an emotion as in the papers: ``"anger" -> "Ang"``."""
    return emotion[:3].capitalize()


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _render(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))

    rule = "-" * len(line(header))
    out = ([title] if title else []) + [rule, line(header), rule] + [line(r) for r in rows] + [rule]
    return "\n".join(out)


def _overall(row: dict[str, Any], col: str, digits: int) -> str:
    if col == "folds":
        fw = np.asarray(row.get("fold_war") or [], dtype=float)
        return f"{fw.mean():.{digits}f}±{fw.std():.{digits}f}" if fw.size else "-"
    return _fmt(row.get(col.lower()), digits)


def recall_table(
    rows: dict[str, dict[str, Any]],
    classes: Sequence[str],
    *,
    title: str | None = None,
    overall: Sequence[str] = ("WAR", "UAR"),
    digits: int = 2,
) -> str:
    """Table 3-shaped text from plain summaries: the one renderer of that shape.

    Parameters
    ----------
    rows : dict of str to dict
        Row label -> ``{"recall": per-class list or dict by class name, "war": float, "uar":
        float}``, optionally ``"uap"``, ``"f1"``, ``"auc"``, ``"fold_war"`` for the overall
        columns, ``"leaky": True`` to mark the row ``*`` and ``"transductive": "speaker"`` (or
        ``"corpus"``) to mark it ``†``.
    classes : sequence of str
        Emotion columns; a list ``recall`` is in this order.
    title : str, optional
    overall : sequence of {"WAR", "UAR", "UAP", "F1", "AUC", "folds"}, default ("WAR", "UAR")
        ``"folds"`` is mean ± std of per-fold WAR, ``"F1"`` macro-F1, ``"AUC"`` macro AUC.
    digits : int, default 2

    Returns
    -------
    str
    """
    bad = [c for c in overall if c not in _OVERALL]
    if bad:
        raise InputError(f"unknown overall column(s) {bad}; choose from {list(_OVERALL)}")
    header = ["Method", *[abbreviate(c) for c in classes], *overall]
    body = []
    leaky = transductive = False
    for name, r in rows.items():
        recall = r["recall"]
        if not isinstance(recall, dict):
            if len(recall) != len(classes):
                raise InputError(f"row {name!r} has {len(recall)} recalls for {len(classes)} "
                                 "classes")
            recall = dict(zip(classes, recall))
        leaky |= bool(r.get("leaky"))
        transductive |= bool(r.get("transductive"))
        body.append([row_label(name, bool(r.get("leaky")), r.get("transductive")),
                     *[_fmt(None if recall.get(c) is None else float(recall[c]), digits)
                       for c in classes],
                     *[_overall(r, col, digits) for col in overall]])
    text = _render(header, body, title)
    return text + ("\n" + LEAKY_FOOTNOTE if leaky else "") + (
        "\n" + TRANSDUCTIVE_FOOTNOTE if transductive else "")


def results_table(
    evaluations: Sequence[Evaluation],
    *,
    title: str | None = None,
    overall: Sequence[str] = ("WAR", "UAR"),
    digits: int = 2,
) -> str:
    """Table 3-shaped text of evaluations (see :func:`recall_table`); the emotion columns are the
    union of their classes, in first-seen order."""
    if not evaluations:
        raise InputError("no evaluations to tabulate")
    classes: list[str] = []
    for ev in evaluations:
        classes += [c for c in ev.classes if c not in classes]
    rows = {}
    for ev in evaluations:
        s = ev.scores
        rows[ev.name] = {"recall": dict(zip(ev.classes, s.recall)), "war": s.war, "uar": s.uar,
                         "uap": s.uap, "f1": s.macro_f1, "auc": s.roc.macro_auc if s.roc else None,
                         "fold_war": ev.fold_war, "leaky": ev.leaky,
                         "transductive": ev.transductive}
    return recall_table(rows, classes, title=title, overall=overall, digits=digits)


def cross_corpus_cells(evaluations: Sequence[Evaluation], *, metric: str = "war",
                       rows: str = "arm_label", columns: str = "target"
                       ) -> dict[str, dict[str, float]]:
    """``{row: {column: score}}`` of evaluations laid out by two of their ``info`` entries.

    Rows are ``ev.info[rows]`` (default: the method; fallback ``ev.name``), columns
    ``ev.info[columns]`` (default: the test corpus; fallback ``ev.info["corpus"]``), both in
    first-seen order; the score is ``ev.scores.<metric>`` (``war``, ``uar``, ``uap``,
    ``macro_f1``). Two evaluations in one cell are refused.
    """
    cells: dict[str, dict[str, float]] = {}
    for ev in evaluations:
        row = str(ev.info.get(rows, ev.name))
        col = str(ev.info.get(columns, ev.info.get("corpus", "")))
        if col in cells.setdefault(row, {}):
            raise InputError(f"two evaluations for row {row!r}, column {col!r}")
        cells[row][col] = float(getattr(ev.scores, metric))
    return cells


def cross_corpus_table(evaluations: Sequence[Evaluation], *, metric: str = "war",
                       rows: str = "arm_label", columns: str = "target",
                       title: str | None = None, digits: int = 2) -> str:
    """The joint-learning paper's Table 7 shape: one row per method, one column per test corpus
    and their average (``Avg.``, over the corpora the row has).

    Parameters are as in :func:`cross_corpus_cells`; rows of leaky or transductive evaluations
    carry their marks and footnotes.
    """
    if not evaluations:
        raise InputError("no evaluations to tabulate")
    cells = cross_corpus_cells(evaluations, metric=metric, rows=rows, columns=columns)
    marks = {}
    for ev in evaluations:
        row = str(ev.info.get(rows, ev.name))
        leaky, trans = marks.get(row, (False, None))
        marks[row] = (leaky or ev.leaky, trans or ev.transductive)
    cols = list(dict.fromkeys(c for r in cells.values() for c in r))
    body = [[row_label(row, *marks[row]), *[_fmt(r.get(c), digits) for c in cols],
             _fmt(float(np.mean(list(r.values()))), digits)] for row, r in cells.items()]
    text = _render(["Method", *cols, "Avg."], body, title)
    return text + ("\n" + LEAKY_FOOTNOTE if any(m[0] for m in marks.values()) else "") + (
        "\n" + TRANSDUCTIVE_FOOTNOTE if any(m[1] for m in marks.values()) else "")


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
    return text + ("\n" + LEAKY_FOOTNOTE if ev.leaky else "") + (
        "\n" + TRANSDUCTIVE_FOOTNOTE if ev.transductive else "")


def confusion_table(ev: Evaluation) -> str:
    """Confusion matrix as text: rows true emotions, columns predicted."""
    cm = ev.scores.confusion
    head = ["true \\ pred", *[abbreviate(c) for c in ev.classes]]
    rows = [[c, *[str(int(v)) for v in cm[i]]] for i, c in enumerate(ev.classes)]
    return _render(head, rows, f"{ev.label}: confusion matrix (counts)")
