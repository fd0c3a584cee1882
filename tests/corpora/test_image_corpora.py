"""Image corpora: FER2013 and CK+48 layouts on tiny generated PNG/JPEG fixtures, and the real
corpora beside the project when present (marker ``corpus``)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emofast.corpora import (EMOTIONS, UNKNOWN_SPEAKER, canonical_label, canonical_split,
                             detect_corpus, load_corpus, select_labels, select_modality)

cv2 = pytest.importorskip("cv2")


def write_face(path: Path, seed: int = 0, size: int = 48, gray: bool = True) -> Path:
    """A tiny random image file (PNG or JPEG by its extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if gray else (size, size, 3)
    img = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


FER_FILES = {
    "train/angry/Training_1.jpg": ("anger", "train"),
    "train/happy/Training_2.jpg": ("happiness", "train"),
    "train/neutral/Training_3.jpg": ("neutral", "train"),
    "train/surprise/Training_3.jpg": ("surprise", "train"),   # same name, other image and emotion
    "validation/sad/PublicTest_4.jpg": ("sadness", "val"),
    "validation/disgust/PublicTest_5.jpg": ("disgust", "val"),
    "test/fear/PrivateTest_6.jpg": ("fear", "test"),
    "test/happy/PrivateTest_7.jpg": ("happiness", "test"),
}


def write_tree(root: Path, rels) -> Path:
    """One random face per relative path under ``root``."""
    for i, rel in enumerate(rels):
        write_face(root / rel, seed=i)
    return root


@pytest.fixture
def fer(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "fer2013", FER_FILES)
    (root / "README.md").write_text("not media")
    return root


CK_FILES = {
    "anger/S010_004_00000017.png": ("anger", "S010"),
    "anger/S010_004_00000018.png": ("anger", "S010"),
    "contempt/S011_002_00000021.png": ("contempt", "S011"),
    "happy/S011_006_00000014.png": ("happiness", "S011"),
    "sadness/S014_003_00000028.png": ("sadness", "S014"),
    "surprise/S022_005_00000030.png": ("surprise", "S022"),
    "fear/S022_001_00000011.png": ("fear", "S022"),
    "disgust/S026_002_00000008.png": ("disgust", "S026"),
}


@pytest.fixture
def ckplus(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "ckplus48", CK_FILES)


def test_vocabulary_keeps_old_indices_and_maps_spellings():
    assert EMOTIONS[:9] == ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness",
                            "surprise", "calm")
    assert EMOTIONS[9] == "contempt"
    assert [canonical_label(x) for x in ("ANGRY", "happy", "sad", "fearful", "surprised",
                                         "disgusted", "calm", "Neutral", "contempt", "bored")] == [
        "anger", "happiness", "sadness", "fear", "surprise", "disgust", "calm", "neutral",
        "contempt", "boredom"]
    assert canonical_label("awe") is None
    assert [canonical_split(x) for x in ("Training", "PublicTest", "PrivateTest", "val", "dev")] == [
        "train", "val", "test", "val", "val"]


def test_fer2013_layout_split_labels_and_ids(fer: Path):
    assert detect_corpus(fer) == "fer2013"
    ix = load_corpus("fer2013", fer)
    assert len(ix) == len(FER_FILES) and ix.skipped == []
    got = {str(u.path.relative_to(fer)): (u.label, u.split) for u in ix}
    assert got == FER_FILES
    assert {u.speaker for u in ix} == {UNKNOWN_SPEAKER}
    assert {u.modality for u in ix} == {"image"} and {u.corpus for u in ix} == {"fer2013"}
    # one file name in two emotion folders: two images, two ids
    ids = [u.id for u in ix]
    assert len(set(ids)) == len(ids)
    assert "train/neutral/Training_3" in ids and "train/surprise/Training_3" in ids
    assert ix.split_counts() == {"train": 4, "val": 2, "test": 2}
    assert "speakers unknown" in ix.summary() and "official split train 4, val 2, test 2" in ix.summary()
    assert select_modality(ix, "image") == ix.utterances
    assert select_modality(ix, "audio") == [] and select_modality(ix, "video") == []


def test_fer2013_inside_one_split_and_kaggle_names(tmp_path: Path):
    root = tmp_path / "train"                        # a root inside one split: the name's usage
    write_face(root / "angry" / "Training_9.jpg")
    write_face(root / "happy" / "PrivateTest_8.jpg")
    ix = load_corpus("fer2013", root)
    assert {(u.label, u.split) for u in ix} == {("anger", "train"), ("happiness", "test")}
    kaggle = tmp_path / "kaggle"                     # no usage prefix: the folder gives the split
    write_face(kaggle / "train" / "angry" / "im0.png")
    write_face(kaggle / "test" / "angry" / "im0.png", seed=1)
    ix = load_corpus("fer2013", kaggle)
    assert sorted(u.id for u in ix) == ["test/anger/im0", "train/anger/im0"]


def test_fer2013_bad_files_are_reported(fer: Path):
    write_face(fer / "train" / "happy" / "PrivateTest_10.jpg")   # usage contradicts the folder
    write_face(fer / "train" / "bored" / "Training_11.jpg")      # not a FER2013 emotion
    (fer / "test" / "fear" / "PrivateTest_12.jpg").write_bytes(b"")
    ix = load_corpus("fer2013", fer)
    assert len(ix) == len(FER_FILES)
    reasons = {p.name: r for p, r in ix.skipped}
    assert "contradicts split folder 'train'" in reasons["PrivateTest_10.jpg"]
    assert "unknown FER2013 emotion folder 'bored'" in reasons["Training_11.jpg"]
    assert reasons["PrivateTest_12.jpg"] == "empty file (0 bytes)"


def test_ckplus_subjects_labels_and_contempt(ckplus: Path):
    assert detect_corpus(ckplus) == "ckplus"
    ix = load_corpus("auto", ckplus)
    assert ix.name == "ckplus" and len(ix) == len(CK_FILES) and ix.skipped == []
    got = {str(u.path.relative_to(ckplus)): (u.label, u.speaker) for u in ix}
    assert got == CK_FILES
    assert ix.speakers() == ["S010", "S011", "S014", "S022", "S026"]
    assert all(u.split is None and u.modality == "image" for u in ix)
    assert "contempt" in ix.label_counts()
    assert "contempt" not in {u.label for u in select_labels(ix, "paper_six")}


def test_ckplus_bad_names(ckplus: Path):
    write_face(ckplus / "anger" / "S10_4_17.png")
    write_face(ckplus / "joy2" / "S030_001_00000001.png")
    ix = load_corpus("ckplus", ckplus)
    reasons = {p.name: r for p, r in ix.skipped}
    assert "does not match CK+" in reasons["S10_4_17.png"]
    assert "unknown CK+ emotion folder 'joy2'" in reasons["S030_001_00000001.png"]


def test_image_and_speech_corpora_do_not_claim_each_other(fer: Path, ckplus: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="mixed corpora"):
        both = tmp_path / "both"
        write_tree(both / "fer", list(FER_FILES)[:3])
        write_tree(both / "ck", list(CK_FILES)[:3])
        detect_corpus(both)
    # an image next to EMO-DB files is not media of EMO-DB
    emodb = tmp_path / "emodb"
    (emodb / "wav").mkdir(parents=True)
    (emodb / "wav" / "03a01Fa.wav").write_bytes(b"RIFF0000")
    write_face(emodb / "cover.png")
    assert detect_corpus(emodb) == "emodb"
    assert [u.id for u in load_corpus("emodb", emodb)] == ["03a01Fa"]


# ------------------------------------------------------------------------------------------------
# the real corpora beside the project


@pytest.mark.corpus
def test_real_ckplus48(ckplus_root: Path):
    ix = load_corpus("auto", ckplus_root)
    assert ix.name == "ckplus" and len(ix) == 981 and ix.skipped == []
    assert len(ix.speakers()) == 118
    assert ix.label_counts() == {"anger": 135, "disgust": 177, "fear": 75, "happiness": 207,
                                 "sadness": 84, "surprise": 249, "contempt": 54}


@pytest.mark.corpus
def test_real_fer2013(fer2013_root: Path):
    ix = load_corpus("auto", fer2013_root)
    assert ix.name == "fer2013" and len(ix) == 35887 and ix.skipped == []
    assert ix.split_counts() == {"train": 28709, "val": 3589, "test": 3589}
    assert Counter(u.label for u in ix)["disgust"] == 547
