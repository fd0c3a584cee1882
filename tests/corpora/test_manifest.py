"""A user's own corpus as a CSV manifest: label mapping, paths, modalities, and bad rows."""
from __future__ import annotations

from pathlib import Path

import pytest

from emofast.corpora import UNKNOWN_SPEAKER, detect_corpus, load_corpus, load_manifest, select_modality
from emofast.errors import InputError, MissingFileError


def make(root: Path, rows: list[str], header: str = "path,speaker,label,split",
         name: str = "corpus.csv", files: bool = True) -> Path:
    """Write the CSV and (with ``files``) a small non-empty file for every listed path."""
    root.mkdir(parents=True, exist_ok=True)
    csv_path = root / name
    csv_path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    if files:
        for row in rows:
            rel = row.split(",")[0]
            if rel and not Path(rel).is_absolute():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(b"data")
    return csv_path


def test_labels_speakers_splits_and_modalities(tmp_path: Path):
    csv_path = make(tmp_path / "mine", [
        "clips/s01_a.wav,s01,angry,train",
        "clips/s01_a.mp4,s01,angry,train",
        "clips/s02_b.flac,s02,Happy,val",
        "faces/x.png,s03,surprised,test",
        "faces/y.JPG,s03,fearful,Training",
        "clips/s04.mp3,s04,sad,",
        "clips/s05.wav,s05,disgusted,dev",
        "clips/s06.wav,s06,calm,test",
        "clips/s07.wav,,neutral,test",
        "faces/z.png,s08,contempt,PrivateTest",
    ])
    ix = load_corpus("manifest", csv_path)
    assert ix.name == "manifest" and ix.root == csv_path and ix.skipped == []
    rows = [(u.id, u.speaker, u.label, u.split, u.modality) for u in ix]
    assert rows == [
        ("clips/s01_a", "s01", "anger", "train", "audio"),
        ("clips/s01_a", "s01", "anger", "train", "audiovisual"),
        ("clips/s02_b", "s02", "happiness", "val", "audio"),
        ("faces/x", "s03", "surprise", "test", "image"),
        ("faces/y", "s03", "fear", "train", "image"),
        ("clips/s04", "s04", "sadness", None, "audio"),
        ("clips/s05", "s05", "disgust", "val", "audio"),
        ("clips/s06", "s06", "calm", "test", "audio"),
        ("clips/s07", UNKNOWN_SPEAKER, "neutral", "test", "audio"),
        ("faces/z", "s08", "contempt", "test", "image"),
    ]
    assert {u.corpus for u in ix} == {"corpus"}
    assert ix.utterances[0].path == tmp_path / "mine" / "clips" / "s01_a.wav"
    # the audio and the video file of one recording share the id: one record per modality
    assert [u.path.suffix for u in select_modality(ix, "audio")][:1] == [".wav"]
    assert [u.id for u in select_modality(ix, "video")] == ["clips/s01_a"]
    assert [u.id for u in select_modality(ix, "image")] == ["faces/x", "faces/y", "faces/z"]
    # detection: a CSV file is a manifest
    assert detect_corpus(csv_path) == "manifest"
    assert load_corpus("auto", csv_path).utterances == ix.utterances


def test_optional_split_absolute_paths_extra_columns_and_bom(tmp_path: Path):
    media = tmp_path / "elsewhere" / "a.wav"
    media.parent.mkdir()
    media.write_bytes(b"x")
    csv_path = tmp_path / "m" / "list.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(f"\ufeffPath , Label,Speaker,notes\n{media},Angry,spk,hello\n", encoding="utf-8")
    ix = load_manifest(csv_path)
    (u,) = ix.utterances
    assert (u.path, u.label, u.speaker, u.split, u.corpus) == (media, "anger", "spk", None, "list")
    assert u.id == "../elsewhere/a"


def test_missing_and_empty_files_are_skipped_with_their_line(tmp_path: Path):
    csv_path = make(tmp_path, ["a.wav,s1,angry,train", "b.wav,s1,sad,train", "c.wav,s2,happy,test"])
    (tmp_path / "b.wav").unlink()
    (tmp_path / "c.wav").write_bytes(b"")
    ix = load_manifest(csv_path)
    assert [u.id for u in ix] == ["a"]
    reasons = {p.name: r for p, r in ix.skipped}
    assert reasons == {"b.wav": "no such file (line 3)", "c.wav": "empty file (0 bytes) (line 4)"}
    (tmp_path / "a.wav").unlink()
    with pytest.raises(InputError, match="no usable file"):
        load_manifest(csv_path)


@pytest.mark.parametrize("row, message", [
    ("a.wav,s1,awe,train", r"corpus.csv:3: unknown label 'awe'"),
    ("a.wav,s1,angry,holdout", r"corpus.csv:3: unknown split 'holdout'"),
    (",s1,angry,train", r"corpus.csv:3: empty path"),
    ("a.txt,s1,angry,train", r"corpus.csv:3: 'a.txt' is not a supported audio, video or image"),
    ("ok.wav,s1,sad,train", r"corpus.csv:3: 'ok.wav' is listed twice \(first on line 2\)"),
])
def test_bad_rows_name_the_csv_line(tmp_path: Path, row: str, message: str):
    csv_path = make(tmp_path, ["ok.wav,s1,angry,train", row])
    with pytest.raises(InputError, match=message):
        load_corpus("manifest", csv_path)


def test_bad_manifests(tmp_path: Path):
    with pytest.raises(MissingFileError):
        load_corpus("manifest", tmp_path / "absent.csv")
    with pytest.raises(InputError, match="is not a file"):
        load_corpus("manifest", tmp_path)
    with pytest.raises(InputError, match=r"lacks column\(s\) speaker"):
        load_manifest(make(tmp_path, ["a.wav,angry"], header="path,label"))
    with pytest.raises(InputError, match="lists no files"):
        load_manifest(make(tmp_path, [], name="empty.csv"))
    (tmp_path / "latin.csv").write_bytes("path,speaker,label\nä.wav,s,angry\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_manifest(tmp_path / "latin.csv")
