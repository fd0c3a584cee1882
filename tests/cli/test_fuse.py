"""``emofast fuse`` end to end on the quick audio-visual demo corpora."""
from __future__ import annotations

import json

from emofast import cli


def test_fuse_end_to_end(av_store, tmp_path, capsys):
    from emofast import fusion

    out = tmp_path / "fused"
    argv = ["fuse", str(av_store), "--corpus", "demo_studio", "--protocol", "loso",
            "--max-folds", "1", "--epochs", "3", "--hidden", "32", "--lstm", "32",
            "--out", str(out), "--no-plots"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "demo_studio video: 48 utterances" in text and "d (micro-F1)" in text
    report = (out / "results.txt").read_text()
    rows = ["audio loso", "video loso"] + [f"{m} loso" for m in fusion.FUSION_METHODS
                                           if m not in ("audio", "video")]
    for row in rows:
        assert row in report
    assert report.count("onfusion") >= len(rows)             # a confusion matrix per method
    saved = json.loads((out / "results.json").read_text())
    assert saved["command"][:2] == ["emofast", "fuse"]
    evs = saved["evaluations"]
    assert len(evs) == len(rows)
    # a rerun resumes every method's finished fold and reports the same numbers
    assert cli.main(argv) == 0
    rerun = capsys.readouterr().out
    assert rerun.count("finished in") == len(rows) and "not re-run" in rerun
    again = json.loads((out / "results.json").read_text())["evaluations"]
    assert [e["confusion"] for e in again] == [e["confusion"] for e in evs]


def test_fuse_cnn_features_writes_its_tables(av_store, tmp_path, capsys):
    out = tmp_path / "cnn"
    argv = ["fuse", str(av_store), "--corpus", "demo_studio", "--protocol", "loso",
            "--max-folds", "1", "--epochs", "1", "--hidden", "8", "--lstm", "8",
            "--max-steps", "4", "--features", "cnn", "--cnn-epochs", "1", "--cnn-width", "tiny",
            "--methods", "audio", "video", "ensemble+prior", "--out", str(out), "--no-plots"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    report = (out / "results.txt").read_text()
    for row in ("audio loso", "video loso", "ensemble+prior loso"):
        assert row in report
    evs = json.loads((out / "results.json").read_text())["evaluations"]
    assert len(evs) == 3
    assert all(e["info"]["features"] == "cnn" and e["info"]["cnn_epochs"] == 1 for e in evs)


def test_fuse_needs_both_modalities(tmp_path, demo_roots, capsys):
    store = tmp_path / "store"
    assert cli.main(["features", "demo", str(demo_roots["demo_phone"]), "--out", str(store),
                     "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["fuse", str(store), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("emofast fuse: error:") and "video" in err and len(err.splitlines()) == 1


def test_demo_quick_with_fusion_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--fusion", "--no-transfer", "--no-joint",
                     "--no-plots", "--no-progress", "--epochs", "1", "--folds", "2",
                     "--cache", str(tmp_path / "cache"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "audio-visual fusion on demo_phone" in text and "[5/5] report" in text
    report = (out / "results.txt").read_text()
    for row in ("fusion audio kfold", "fusion video kfold", "fusion ensemble+prior kfold",
                "fusion lr+ensemble+prior:audio kfold", "GN-CNN demo_phone"):
        assert row in report
