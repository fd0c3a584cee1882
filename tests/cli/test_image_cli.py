"""The command line on tiny image corpora: features (image modality) and evaluate under the
official split and k folds by subject; a user's CSV manifest end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emofast import cli

cv2 = pytest.importorskip("cv2")

SUBJECTS = ("S005", "S010", "S011", "S014")
CK_EMOTIONS = ("anger", "happy", "contempt")


def _face(path: Path, seed: int, bright: int) -> None:
    """A 48×48 gray 'face' whose brightness tells its class."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(0, 40, (48, 48))
    assert cv2.imwrite(str(path), np.clip(bright + noise, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def ck_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ckplus")
    n = 0
    for subject in SUBJECTS:
        for e, emotion in enumerate(CK_EMOTIONS):
            for frame in range(2):
                n += 1
                _face(root / emotion / f"{subject}_{e + 1:03d}_{frame + 10:08d}.png", n, 40 + 80 * e)
    return root


@pytest.fixture(scope="module")
def fer_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fer")
    usage = {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"}
    n = 0
    for folder, count in (("train", 6), ("validation", 2), ("test", 2)):
        for e, emotion in enumerate(("angry", "sad")):
            for _ in range(count):
                n += 1
                _face(root / folder / emotion / f"{usage[folder]}_{n}.jpg", n, 60 + 120 * e)
    return root


def _run(capsys, *argv: str) -> str:
    rc = cli.main(list(argv))
    text = capsys.readouterr().out
    assert rc == 0, text
    return text


def test_ckplus_features_and_speaker_kfold(ck_root: Path, tmp_path: Path, capsys):
    store, out = tmp_path / "store", tmp_path / "ev"
    text = _run(capsys, "features", "ckplus", str(ck_root), "--out", str(store), "--no-progress")
    assert "ckplus: 24 utterances, 4 speakers" in text and "24 new" in text
    assert "ckplus/image" in text
    # no --modality: the one stored for the corpus (image)
    text = _run(capsys, "evaluate", str(store), "--corpus", "ckplus", "--protocol", "speaker-kfold",
                "--folds", "2", "--epochs", "1", "--width", "tiny", "--out", str(out), "--no-plots",
                "--no-progress")
    assert "ckplus (image, face)" in text and "k-fold by speaker" in text
    ev = json.loads((out / "results.json").read_text())["evaluations"][0]
    assert ev["protocol"] == "speaker-kfold" and ev["n"] == 24 and len(ev["fold_war"]) == 2
    assert ev["classes"] == ["anger", "contempt", "happiness"]


def test_fer_features_and_official_split(fer_root: Path, tmp_path: Path, capsys):
    store, out = tmp_path / "store", tmp_path / "ev"
    text = _run(capsys, "features", "fer2013", str(fer_root), "--out", str(store), "--no-progress")
    assert "official split train 12, val 4, test 4" in text and "speakers unknown" in text
    text = _run(capsys, "evaluate", str(store), "--corpus", "fer2013", "--protocol", "split",
                "--modality", "image", "--epochs", "1", "--out", str(out), "--no-plots",
                "--no-progress")
    assert "official split (train / val / test)" in text
    ev = json.loads((out / "results.json").read_text())["evaluations"][0]
    assert ev["protocol"] == "split" and ev["n"] == 4          # the test split only
    assert ev["folds"][0]["val_segments"] == 4 and ev["folds"][0]["best_epoch"] == 1
    # a corpus without speakers refuses the speaker protocols with one line
    assert cli.main(["evaluate", str(store), "--protocol", "loso", "--epochs", "1",
                     "--out", str(out), "--no-progress"]) != 0
    assert "no speaker identity" in capsys.readouterr().err


def test_manifest_features_and_evaluate(ck_root: Path, tmp_path: Path, capsys):
    rows = ["path,speaker,label,split"]
    for path in sorted(ck_root.rglob("*.png")):
        subject = path.stem[:4]
        split = {"S005": "train", "S010": "train", "S011": "val", "S014": "test"}[subject]
        rows.append(f"{path.relative_to(ck_root)},{subject},{path.parent.name},{split}")
    local = ck_root / "my_faces.csv"               # paths relative to the CSV's folder
    local.write_text("\n".join(rows) + "\n")
    store = tmp_path / "store"
    text = _run(capsys, "features", "manifest", str(local), "--out", str(store), "--no-progress")
    assert "manifest: 24 utterances, 4 speakers" in text and "my_faces/image" in text
    out = tmp_path / "ev"
    _run(capsys, "evaluate", str(store), "--corpus", "my_faces", "--protocol", "split", "loso",
         "--epochs", "1", "--out", str(out), "--no-plots", "--no-progress")
    evs = json.loads((out / "results.json").read_text())["evaluations"]
    assert [(e["protocol"], e["n"]) for e in evs] == [("split", 6), ("loso", 24)]
    local.write_text("path,speaker,label\nanger/x.png,S1,awe\n")
    assert cli.main(["features", "manifest", str(local), "--out", str(store), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "my_faces.csv:2: unknown label 'awe'" in err and "Traceback" not in err
