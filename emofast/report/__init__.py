"""Paper-shaped reports: tables, JSON and plots of evaluations.

- :class:`Evaluation`: one evaluated method (pooled scores, per-fold results, learning curves);
- :func:`results_table` / :func:`recall_table`: the papers' Table 3 shape (per-emotion recall,
  WAR, UAR), :func:`class_table` and :func:`confusion_table`: details of one evaluation;
- :func:`write_report`: a folder with ``results.txt``, ``results.json`` and PNG plots;
- plots (:mod:`emofast.report.plots`, :mod:`emofast.report.pathways`): confusion matrix, ROC,
  learning curves (epochs or generations) and PathNet pathways, every one behind the optional
  matplotlib guard :func:`pyplot`.

Rows from a leaky protocol (the papers' segment-level split) are marked ``*`` with a footnote.
"""
from emofast.report.evaluation import PROTOCOL_NAMES, Evaluation
from emofast.report.pathways import draw_pathways
from emofast.report.plots import plot_confusion, plot_learning_curves, plot_roc, pyplot
from emofast.report.tables import (LEAKY_FOOTNOTE, TRANSDUCTIVE_FOOTNOTE, abbreviate,
                                   class_table, confusion_table, cross_corpus_cells,
                                   cross_corpus_table, recall_table, results_table)
from emofast.report.writer import slug, write_report

__all__ = [
    "Evaluation",
    "PROTOCOL_NAMES",
    "abbreviate",
    "results_table",
    "recall_table",
    "class_table",
    "confusion_table",
    "cross_corpus_cells",
    "cross_corpus_table",
    "write_report",
    "slug",
    "pyplot",
    "plot_confusion",
    "plot_roc",
    "plot_learning_curves",
    "draw_pathways",
    "LEAKY_FOOTNOTE",
    "TRANSDUCTIVE_FOOTNOTE",
]
