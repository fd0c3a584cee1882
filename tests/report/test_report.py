"""Report tables, JSON and plots."""
from __future__ import annotations

import builtins
import io
import json

import numpy as np
import pytest

from emofast import metrics, report

CLASSES = ["anger", "surprise", "disgust", "fear", "happiness", "sadness"]


def _evaluation(name="GN-CNN", leaky=False, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(6), 5)
    post = rng.random((30, 6)) + 2.0 * np.eye(6)[y] * (rng.random(30) > 0.3)[:, None]
    post /= post.sum(1, keepdims=True)
    return report.Evaluation(
        name=name, classes=CLASSES, scores=metrics.score(y, scores=post), leaky=leaky,
        protocol="segment" if leaky else "kfold", fold_war=[0.7, 0.8, 0.75],
        curves=[{"train_loss": [1.5, 1.0, 0.8], "train_acc": [0.3, 0.5, 0.7],
                 "val_acc": [0.3, 0.45, 0.6]}] * 3)


def test_results_table_has_paper_shape():
    ev = _evaluation()
    text = report.results_table([ev])
    header = next(line for line in text.splitlines() if line.startswith("Method"))
    assert header.split() == ["Method", "Ang", "Sur", "Dis", "Fea", "Hap", "Sad", "WAR", "UAR"]
    row = next(line for line in text.splitlines() if line.startswith("GN-CNN"))
    cells = row.split()
    np.testing.assert_allclose([float(c) for c in cells[1:7]], ev.scores.recall, atol=0.005)
    assert float(cells[7]) == pytest.approx(ev.scores.war, abs=0.005)
    assert "leaky" not in text


def test_leaky_rows_are_marked():
    text = report.results_table([_evaluation(), _evaluation("papers split", leaky=True)])
    assert "papers split *" in text and report.LEAKY_FOOTNOTE in text
    assert report.LEAKY_FOOTNOTE in report.class_table(_evaluation("x", leaky=True))


def test_class_and_confusion_tables():
    ev = _evaluation()
    text = report.class_table(ev)
    assert "anger" in text and "macro (UAP/UAR/F1/AUC)" in text
    conf = report.confusion_table(ev)
    row = next(line for line in conf.splitlines() if line.startswith("anger"))
    assert [int(v) for v in row.split()[1:]] == ev.scores.confusion[0].tolist()


def test_write_report_files(tmp_path):
    pytest.importorskip("matplotlib")
    evs = [_evaluation(), _evaluation("seg", leaky=True, seed=1)]
    out = report.write_report(tmp_path / "rep", evs, title="t", extra_text="more")
    assert out["text"].read_text().startswith("t\n")
    assert "more" in out["text"].read_text()
    data = json.loads(out["json"].read_text())
    assert [e["name"] for e in data["evaluations"]] == ["GN-CNN", "seg"]
    assert data["evaluations"][1]["leaky"] is True
    names = sorted(p.name for p in out["plots"])
    assert names == sorted(f"{k}_{s}.png" for k in ("confusion", "roc", "learning")
                           for s in ("gn-cnn", "seg"))
    for p in out["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_skipped_without_matplotlib(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    notice = io.StringIO()
    out = report.write_report(tmp_path, [_evaluation()], notice=notice)
    assert out["plots"] == [] and out["text"].exists()
    assert notice.getvalue().count("\n") == 1 and "matplotlib" in notice.getvalue()


def test_no_plots_skips_every_figure_including_extra_ones(tmp_path):
    called = []
    out = report.write_report(tmp_path, [_evaluation()], plots=False,
                              extra_plots=[lambda out, plt: called.append(1) or []])
    assert out["plots"] == [] and called == [] and not list(tmp_path.glob("*.png"))


def test_one_table_renderer_for_evaluations_and_summaries():
    ev = _evaluation()
    from_ev = report.results_table([ev], overall=("WAR", "UAR"))
    from_rows = report.recall_table({ev.name: ev.recall_row()}, ev.classes)
    assert from_ev == from_rows
    with pytest.raises(ValueError, match="overall"):
        report.recall_table({ev.name: ev.recall_row()}, ev.classes, overall=("bogus",))


def test_learning_curves_of_generations_and_several_arms(tmp_path, monkeypatch):
    plt = report.pyplot()
    if plt is None:
        pytest.skip("matplotlib missing")
    labels = []
    real_plot = plt.Axes.plot

    def plot(self, *args, **kwargs):
        if kwargs.get("label"):
            labels.append(kwargs["label"])
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "plot", plot)
    arms = []
    for name in ("scratch", "transfer"):
        ev = _evaluation(name)
        ev.curves = [{"best_fitness": [0.2, 0.4, 0.5], "test_acc": [0.1, 0.3, None]}]
        ev.curves += [{"best_fitness": [0.3, 0.5, 0.6], "test_acc": [0.2, 0.4, 0.5]}]
        ev.curve_unit = "generation"
        arms.append(ev)
    path = report.plot_learning_curves(arms, tmp_path / "c.png", plt)
    assert path.read_bytes()[:4] == b"\x89PNG"
    # one line per arm and quantity (mean over folds), never one per fold
    assert len(labels) == 4 == len(set(labels))
    empty = _evaluation()
    empty.curves = []
    assert report.plot_learning_curves(empty, tmp_path / "none.png", plt) is None


def test_pathway_figure_marks_transferred_and_reused_modules(tmp_path, monkeypatch):
    plt = report.pyplot()
    if plt is None:
        pytest.skip("matplotlib missing")
    labels = []
    real_scatter = plt.Axes.scatter

    def scatter(self, *args, **kwargs):
        labels.append(kwargs.get("label"))
        return real_scatter(self, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "scatter", scatter)
    best = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    fixed = np.zeros((3, 20), bool)
    fixed[0, [3, 19]] = True  # module 3 transferred and reused, 19 transferred only
    path = report.draw_pathways(tmp_path / "p.png", plt, num_modules=20, best=best, fixed=fixed,
                                fold=2, title="t")
    assert path.exists()
    assert {"best pathway", "transferred (fixed, always active)",
            "transferred and reused by the best pathway"} <= set(labels)
