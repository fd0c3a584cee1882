"""The PathNet pathway figure (the papers' Figs. 9-10)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["draw_pathways"]


def draw_pathways(
    path: Path,
    plt: Any,
    *,
    num_modules: int,
    best: np.ndarray,
    fixed: np.ndarray | None = None,
    population: np.ndarray | None = None,
    fold: int | None = None,
    title: str = "",
) -> Path:
    """Draw a PathNet as a layers × modules grid with its pathways.

    Grey lines: the population's pathways; thick blue: the best pathway; red: fixed (transferred)
    modules; a red module with a thick blue ring is transferred **and** chosen again by the best
    pathway (reused). The legend sits outside the grid, right of the last module.

    Parameters
    ----------
    path : Path
    plt : module
        From :func:`emofast.report.plots.pyplot`.
    num_modules : int
        Modules per layer (M).
    best : array of int, shape (L, N)
        The best genotype: N active modules per layer.
    fixed : array of bool, shape (L, M), optional
        Transferred modules (always active in the target's pathways).
    population : array of int, shape (S, L, N), optional
    fold : int, optional
        0-based fold the pathways come from; said in the title.
    title : str

    Returns
    -------
    Path
    """
    best = np.asarray(best, dtype=np.int64)
    L = best.shape[0]
    fig, ax = plt.subplots(figsize=(max(5.0, num_modules * 0.38) + 2.4, 1.3 * L + 1.2))
    for layer in range(L):
        ax.scatter(np.arange(num_modules), np.full(num_modules, layer), s=60, c="white",
                   edgecolors="k", zorder=3)

    def links(genotype: np.ndarray, **style: Any) -> None:
        for layer in range(L - 1):
            for a in set(genotype[layer].tolist()):
                for b in set(genotype[layer + 1].tolist()):
                    ax.plot([a, b], [layer, layer + 1], **style)

    for g in ([] if population is None else np.asarray(population)):
        links(g, c="0.75", lw=0.5, zorder=1)
    links(best, c="tab:blue", lw=2.5, zorder=2)
    chosen = np.zeros((L, num_modules), dtype=bool)
    np.put_along_axis(chosen, best, True, axis=1)
    fixed = np.zeros_like(chosen) if fixed is None else np.asarray(fixed, dtype=bool)
    for mask, style, label in (
            (chosen & ~fixed, dict(c="tab:blue"), "best pathway"),
            (fixed & ~chosen, dict(c="red"), "transferred (fixed, always active)"),
            (fixed & chosen, dict(c="red", edgecolors="tab:blue", linewidths=2.5),
             "transferred and reused by the best pathway")):
        layer, module = np.nonzero(mask)
        if layer.size:
            ax.scatter(module, layer, s=95, zorder=5, label=label, **style)
    ax.set_yticks(range(L), [f"layer {i + 1}" for i in range(L)])
    ax.set_xticks(range(num_modules))
    ax.set_xlim(-0.6, num_modules - 0.4)
    ax.set_xlabel("module")
    where = f"fold {fold + 1}" if fold is not None else ""
    ax.set_title(" — ".join(t for t in (title, where) if t), fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
