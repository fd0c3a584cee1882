"""Writing a report folder: text tables, JSON and plots."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from emofast.report.evaluation import Evaluation
from emofast.report.plots import plot_confusion, plot_learning_curves, plot_roc, pyplot
from emofast.report.tables import class_table, confusion_table, results_table

__all__ = ["write_report", "slug"]


def slug(name: str) -> str:
    """A file-name-safe form of a row label: ``"GN-CNN a kfold" -> "gn-cnn-a-kfold"``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "result"


def write_report(
    out_dir: str | Path,
    evaluations: Sequence[Evaluation],
    *,
    title: str = "emofast results",
    plots: bool = True,
    notice: TextIO | None = None,
    extra_text: str | None = None,
    extra_plots: Sequence[Callable[[Path, Any], Sequence[Path]]] = (),
    extra_json: dict[str, Any] | None = None,
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
    extra_plots : sequence of callables
        ``draw(out_dir, plt) -> [paths]``, called only when plots are drawn (e.g. a PathNet
        pathway figure); their files join ``plots``.
    extra_json : dict, optional
        Merged into ``results.json`` (e.g. the command line and the corpora).

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
    json_path.write_text(json.dumps({"title": title, **(extra_json or {}),
                                     "evaluations": [ev.to_dict() for ev in evaluations]},
                                    indent=1, default=_json_default))
    written: list[Path] = []
    plt = pyplot(notice) if plots else None
    if plt is not None:
        for ev in evaluations:
            stem_of = slug(ev.name)
            written.append(plot_confusion(ev, out / f"confusion_{stem_of}.png", plt))
            for fn, stem in ((plot_roc, "roc"), (plot_learning_curves, "learning")):
                p = fn(ev, out / f"{stem}_{stem_of}.png", plt)
                if p is not None:
                    written.append(p)
        for draw in extra_plots:
            written += list(draw(out, plt))
    return {"summary": summary, "text": text_path, "json": json_path, "plots": written}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
