"""``emofast features --functionals`` and ``emofast evaluate --model logreg|svm``, the recipe
options and per-speaker normalisation through the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emofast import cli

pytest.importorskip("opensmile")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def store(tmp_path_factory, demo_roots):
    path = tmp_path_factory.mktemp("store")
    root = str(demo_roots["demo_studio"])
    assert cli.main(["features", "demo", root, "--out", str(path), "--no-progress"]) == 0
    assert cli.main(["features", "demo", root, "--out", str(path), "--no-progress",
                     "--functionals", "egemaps", "--workers", "1"]) == 0
    return path


def test_functionals_are_stored_beside_the_segments(store):
    from emofast.audio.functionals import FunctionalsExtractor
    from emofast.store import FeatureStore

    fs = FeatureStore(store).open("demo_studio", FunctionalsExtractor("egemaps"))
    assert fs.features.shape == (48, 88) and np.isfinite(fs.features).all()
    assert FeatureStore(store).open("demo_studio", "audio", config={}).features.ndim == 4


def test_logreg_on_functionals_with_speaker_normalisation(store, tmp_path, capsys):
    rc = cli.main(["evaluate", str(store), "--protocol", "loso", "--model", "logreg",
                   "--features", "egemaps", "--normalize", "speaker", "--out", str(tmp_path),
                   "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "†" in text and "transductive" in text
    ev = json.loads((tmp_path / "results.json").read_text())["evaluations"][0]
    assert ev["transductive"] == "speaker" and ev["info"]["model"] == "logreg"
    assert len(ev["fold_uar"]) == 4
    assert all(f["C"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) for f in ev["folds"])  # chosen on val


def test_cnn_recipe_options_and_validation_speakers(store, tmp_path, capsys):
    rc = cli.main(["evaluate", str(store), "--protocol", "loso", "--max-folds", "1",
                   "--epochs", "2", "--val-speakers", "1", "--spec-augment", "1", "1",
                   "--mixup", "0.2", "--balanced", "--schedule", "cosine", "--aggregate",
                   "logmean", "--out", str(tmp_path), "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    ev = json.loads((tmp_path / "results.json").read_text())["evaluations"][0]
    assert ev["info"]["val_speakers"] == 1 and ev["info"]["aggregate"] == "logmean"
    assert ev["folds"][0]["best_epoch"] in (1, 2) and len(ev["curves"][0]["val_uar"]) == 2


def test_cnn_refuses_feature_vectors(store, tmp_path, capsys):
    rc = cli.main(["evaluate", str(store), "--features", "egemaps", "--out", str(tmp_path),
                   "--no-progress"])
    assert rc != 0
    assert "use --model logreg" in capsys.readouterr().err


def test_combine_cnn_and_logreg_over_the_same_folds(store, tmp_path, capsys):
    common = ["--protocol", "loso", "--no-plots", "--no-progress"]
    assert cli.main(["evaluate", str(store), *common, "--epochs", "1",
                     "--out", str(tmp_path / "cnn")]) == 0
    assert cli.main(["evaluate", str(store), *common, "--model", "logreg", "--features",
                     "egemaps", "--C", "1", "--out", str(tmp_path / "lr")]) == 0
    capsys.readouterr()
    rc = cli.main(["combine", str(tmp_path / "cnn"), str(tmp_path / "lr" / "results.json"),
                   "--out", str(tmp_path / "both"), "--no-plots"])
    text = capsys.readouterr().out
    assert rc == 0, text
    evs = json.loads((tmp_path / "both" / "results.json").read_text())["evaluations"]
    assert len(evs) == 3 and evs[2]["info"]["members"] == [evs[0]["name"], evs[1]["name"]]
    assert len(evs[2]["predictions"]["ids"]) == 48 and len(evs[2]["fold_uar"]) == 4


def test_combine_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    assert cli.main(["combine", str(bad), str(bad), "--out", str(tmp_path / "o")]) == 1
    assert str(bad) in capsys.readouterr().err
