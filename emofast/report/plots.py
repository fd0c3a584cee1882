"""Plots of evaluations: confusion matrix, ROC curves, learning curves.

matplotlib is optional (``pip install emofast[plots]``). Every plot of emofast goes through
:func:`pyplot`, which imports it lazily with the Agg backend and returns None (after a one-line
notice) when it is missing; each plotting function takes the module it returned.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from emofast.report.evaluation import PROTOCOL_NAMES, Evaluation
from emofast.report.tables import abbreviate

__all__ = ["pyplot", "plot_confusion", "plot_roc", "plot_learning_curves"]


def pyplot(notice: TextIO | None = None) -> Any:
    """``matplotlib.pyplot`` with the Agg backend, or None (and a notice) when not installed."""
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


def _curve_label(key: str, level: str) -> str:
    return {"train_loss": "train loss", "train_acc": "train accuracy (segments)",
            "test_acc": f"test accuracy ({level}s)", "val_acc": f"validation accuracy ({level}s)",
            "best_fitness": "best fitness (train accuracy)"}.get(key, key.replace("_", " "))


def _curve_runs(ev: Evaluation, key: str) -> np.ndarray | None:
    runs = [np.asarray(c[key], dtype=float) for c in ev.curves
            if c.get(key) and all(v is not None for v in c[key])]
    if not runs:
        return None
    length = min(len(r) for r in runs)
    return np.stack([r[:length] for r in runs])


def plot_learning_curves(evaluations: Evaluation | Sequence[Evaluation], path: Path, plt: Any,
                         *, title: str | None = None) -> Path | None:
    """Learning curves per epoch (CNN) or generation (PathNet): the one learning-curve plot.

    Losses go to a left panel, accuracies and fitness to a right one. With one evaluation every
    fold is a thin grey line under the mean; with several (e.g. PathNet scratch vs transfer, the
    papers' Fig. 15) each evaluation's mean over folds is one line, labelled with its name.

    Parameters
    ----------
    evaluations : Evaluation or sequence of Evaluation
        Their ``curves`` (per fold dicts of lists) and ``curve_unit``.
    path : Path
    plt : module
        From :func:`pyplot`.
    title : str, optional
        Default: the evaluation, protocol and number of folds.

    Returns
    -------
    Path or None
        None when no evaluation has a curve.
    """
    evs = [evaluations] if isinstance(evaluations, Evaluation) else list(evaluations)
    keys: list[str] = []
    for ev in evs:
        for k in (k for c in ev.curves for k in c):
            if k not in keys and _curve_runs(ev, k) is not None:
                keys.append(k)
    if not keys:
        return None
    loss_keys = [k for k in keys if k.endswith("loss")]
    acc_keys = [k for k in keys if not k.endswith("loss")]
    panels = [ks for ks in (loss_keys, acc_keys) if ks]
    n_lines = max(len(ks) for ks in panels) * len(evs)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 0.5, 3.4 + 0.2 * n_lines),
                             squeeze=False)
    unit = evs[0].curve_unit
    styles = ["-", "--", ":", "-."]
    for ax, ks in zip(axes[0], panels):
        for ki, key in enumerate(ks):
            for ei, ev in enumerate(evs):
                runs = _curve_runs(ev, key)
                if runs is None:
                    continue
                x = np.arange(1, runs.shape[1] + 1)
                if len(evs) == 1:
                    for r in runs:
                        ax.plot(x, r, styles[ki % 4], lw=0.6, alpha=0.35, color="gray")
                label = _curve_label(key, ev.level) + ("" if len(evs) == 1 else f": {ev.name}")
                # several evaluations: one colour per evaluation, one line style per quantity
                color = f"C{ei if len(evs) > 1 else ki}"
                ax.plot(x, runs.mean(axis=0), styles[ki % 4], lw=2, label=label, color=color)
        ax.set_xlabel(unit)
        if ks is acc_keys:
            ax.set_ylabel("accuracy")
            ax.set_ylim(0, 1)
        else:
            ax.set_ylabel("loss")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    first = evs[0]
    n_folds = max(len(ev.curves) for ev in evs)
    protocol = PROTOCOL_NAMES.get(first.protocol, first.protocol)
    if title is None:
        what = first.label if len(evs) == 1 else " vs ".join(ev.label for ev in evs)
        title = f"{what}: learning curves"
    fig.suptitle(f"{title}\n{protocol}, {n_folds} fold(s), mean over folds, per {unit}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
