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
