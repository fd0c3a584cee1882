"""Corpus loaders: native layouts, naming quirks, detection and bad input."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emofast.corpora import (CORPORA, EMOTIONS, PAPER_SIX, CorpusIndex, Utterance, detect_corpus,
                             load_corpus, select_labels, select_modality)



def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"RIFF0000")


@pytest.fixture
def emodb(tmp_path: Path) -> Path:
    touch(tmp_path, "wav/03a01Fa.wav", "wav/08b02Wb.wav", "wav/16a07Tc.wav", "wav/10a05Lb.wav",
          "wav/09b03Eb.wav", "wav/13a02Aa.wav", "wav/14a04Nc.wav")
    (tmp_path / "README.txt").write_text("not media")
    return tmp_path


def test_constants():
    assert EMOTIONS == ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness",
                        "surprise", "calm", "contempt")
    assert PAPER_SIX == ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    assert set(CORPORA) == {"emodb", "savee", "enterface", "ravdess", "cremad", "demo", "fer2013",
                            "ckplus", "manifest"}


def test_emodb_layout(emodb: Path):
    ix = load_corpus("emodb", emodb)
    assert isinstance(ix, CorpusIndex) and len(ix) == 7 and ix.skipped == []
    u = {u.id: u for u in ix.utterances}
    assert u["03a01Fa"] == Utterance("03a01Fa", "emodb", "03", "happiness", emodb / "wav/03a01Fa.wav",
                                     "audio", "male")
    assert u["08b02Wb"].label == "anger" and u["08b02Wb"].gender == "female"
    assert {x.label for x in ix.utterances} == set(EMOTIONS) - {"surprise", "calm", "contempt"}
    assert detect_corpus(emodb) == "emodb"
    assert load_corpus("auto", emodb).utterances == ix.utterances


def test_unparsable_file_reported_not_guessed(emodb: Path):
    touch(emodb, "wav/03a01Xa.wav", "wav/99a01Fa.wav", "wav/hello.wav")
    (emodb / "wav/04a01Fa.wav").write_bytes(b"")
    ix = load_corpus("emodb", emodb)
    assert len(ix) == 7
    reasons = {p.name: r for p, r in ix.skipped}
    assert set(reasons) == {"03a01Xa.wav", "99a01Fa.wav", "hello.wav", "04a01Fa.wav"}
    assert "emotion letter 'X'" in reasons["03a01Xa.wav"]
    assert "speaker '99'" in reasons["99a01Fa.wav"]
    assert "unknown EMO-DB speaker" in reasons["04a01Fa.wav"]
    assert "7 utterances" in ix.summary() and "4 files skipped" in ix.summary()


def test_zero_byte_file_skipped(emodb: Path):
    (emodb / "wav/03a02Wa.wav").write_bytes(b"")
    ix = load_corpus("emodb", emodb)
    assert (emodb / "wav/03a02Wa.wav", "empty file (0 bytes)") in ix.skipped


def test_hidden_files_ignored(emodb: Path):
    touch(emodb, "wav/._03a01Fa.wav", ".trash/03a01Wa.wav")
    ix = load_corpus("emodb", emodb)
    assert len(ix) == 7 and ix.skipped == []


@pytest.mark.parametrize("layout", ["folders", "flat"])
def test_savee_layouts(tmp_path: Path, layout: str):
    rels = ["DC/a01.wav", "JE/sa03.wav", "JK/su15.wav", "KL/n30.wav", "DC/h02.wav"]
    if layout == "flat":
        rels = [r.replace("/", "_") for r in rels]
    touch(tmp_path / "AudioData", *rels)
    assert detect_corpus(tmp_path) == "savee"
    ix = load_corpus("savee", tmp_path)
    u = {u.id: u for u in ix.utterances}
    assert set(u) == {"DC_a01", "JE_sa03", "JK_su15", "KL_n30", "DC_h02"}
    assert u["JE_sa03"].label == "sadness" and u["JK_su15"].label == "surprise"
    assert u["KL_n30"].label == "neutral" and u["DC_a01"].speaker == "DC"
    assert all(x.gender == "male" and x.modality == "audio" for x in ix.utterances)


def test_savee_unknown_speaker_and_code(tmp_path: Path):
    touch(tmp_path, "DC/a01.wav", "ZZ/a01.wav", "DC/x01.wav")
    ix = load_corpus("savee", tmp_path)
    assert [u.id for u in ix.utterances] == ["DC_a01"]
    reasons = dict((str(p.relative_to(tmp_path)), r) for p, r in ix.skipped)
    assert "unknown SAVEE speaker 'ZZ'" in reasons["ZZ/a01.wav"]
    assert "does not match SAVEE" in reasons["DC/x01.wav"]


def test_enterface_quirks(tmp_path: Path):
    touch(tmp_path,
          "subject 1/anger/sentence 1/s1_an_1.avi",
          "subject 1/disgust/sentence 2/s1_di_2.avi",
          "subject 11/fear/sentence 3/s12_fe_3.avi",      # subject 11's files are named s12
          "subject 3/happiness/sentence 4/s_3_ha_4.avi",   # stray underscore
          "subject 16/surprise/sentence 3/s16_su_3avi",    # no dot before the extension
          "subject 2/sadness/sentence 5/s2_sa_5.avi",
          "subject 2/sadness/sentence 1/s2_an_1.avi",      # code contradicts folder: skipped
          "subject 2/boredom/sentence 1/s2_bo_1.avi")      # not an eNTERFACE emotion
    assert detect_corpus(tmp_path) == "enterface"
    ix = load_corpus("enterface", tmp_path)
    u = {u.id: u for u in ix.utterances}
    assert set(u) == {"s01_an_1", "s01_di_2", "s11_fe_3", "s03_ha_4", "s16_su_3", "s02_sa_5"}
    assert u["s11_fe_3"].speaker == "11" and u["s11_fe_3"].label == "fear"
    assert u["s16_su_3"].path.name == "s16_su_3avi" and u["s16_su_3"].label == "surprise"
    assert all(x.modality == "audiovisual" and x.gender is None for x in ix.utterances)
    reasons = {p.name: r for p, r in ix.skipped}
    assert "contradicts folder 'sadness'" in reasons["s2_an_1.avi"]
    assert "unknown eNTERFACE emotion folder 'boredom'" in reasons["s2_bo_1.avi"]


def test_ravdess(tmp_path: Path):
    touch(tmp_path,
          "Actor_01/03-01-05-02-01-01-01.wav",   # audio, angry, strong, actor 1 (male)
          "Actor_02/01-01-03-01-02-02-02.mp4",   # AV, happy, actor 2 (female)
          "Actor_02/02-01-08-01-01-01-02.mp4",   # video only, surprised
          "Actor_03/03-02-02-01-01-01-03.wav",   # song, calm
          "Actor_03/03-01-01-02-01-01-03.wav",   # neutral with strong intensity: invalid
          "Actor_03/01-01-01-01-01-01-03.wav",   # AV code on a .wav: invalid
          "Actor_04/03-01-04-01-01-01-05.wav")   # actor in name contradicts folder
    assert detect_corpus(tmp_path) == "ravdess"
    touch(tmp_path, "Actor_01/01-01-05-02-01-01-01.mp4")   # the AV file of the first performance
    ix = load_corpus("ravdess", tmp_path)
    u = {(u.id, u.modality): u for u in ix.utterances}
    assert set(u) == {("01-05-02-01-01-01", "audio"), ("01-05-02-01-01-01", "audiovisual"),
                      ("01-03-01-02-02-02", "audiovisual"), ("01-08-01-01-01-02", "video"),
                      ("02-02-01-01-01-03", "audio")}
    angry = u["01-05-02-01-01-01", "audio"]
    assert (angry.label, angry.gender, angry.speaker) == ("anger", "male", "01")
    assert u["01-03-01-02-02-02", "audiovisual"].gender == "female"
    assert u["02-02-01-01-01-03", "audio"].label == "calm"
    assert len(ix.skipped) == 3
    # one record per performance and modality: the WAV for audio, never the same take twice
    audio = select_modality(ix.utterances, "audio")
    assert sorted((x.id, x.path.suffix) for x in audio) == [
        ("01-03-01-02-02-02", ".mp4"), ("01-05-02-01-01-01", ".wav"), ("02-02-01-01-01-03", ".wav")]


def test_cremad(tmp_path: Path):
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav",
          "AudioWAV/1091_TSI_NEU_XX.wav", "AudioWAV/1076_MTI_SAD_XX.wav", "AudioWAV/1003_DFA_XYZ_XX.wav",
          "VideoFlash/1001_DFA_ANG_XX.flv")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n")
    assert detect_corpus(tmp_path) == "cremad"
    ix = load_corpus("cremad", tmp_path)
    u = {(u.id, u.modality): u for u in ix.utterances}
    assert set(u) == {("1001_DFA_ANG_XX", "audio"), ("1002_IEO_HAP_HI", "audio"),
                      ("1091_TSI_NEU_XX", "audio"), ("1001_DFA_ANG_XX", "audiovisual")}
    assert u["1001_DFA_ANG_XX", "audio"].gender == "male"
    assert u["1002_IEO_HAP_HI", "audio"].gender == "female"
    assert u["1091_TSI_NEU_XX", "audio"].gender is None
    reasons = {p.name: r for p, r in ix.skipped}
    assert "silent" in reasons["1076_MTI_SAD_XX.wav"]
    assert "emotion code 'XYZ'" in reasons["1003_DFA_XYZ_XX.wav"]
    audio = select_modality(ix.utterances, "audio")
    assert sorted(x.id for x in audio) == ["1001_DFA_ANG_XX", "1002_IEO_HAP_HI", "1091_TSI_NEU_XX"]
    assert all(x.modality == "audio" for x in audio)
    video = select_modality(ix.utterances, "video")
    assert [(x.id, x.modality) for x in video] == [("1001_DFA_ANG_XX", "audiovisual")]


def test_demo_layout(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"format": "emofast-demo", "corpus": "demo_x", "speakers": {"ab01": "female"}}))
    touch(tmp_path, "ab01/ab01_anger_0.wav", "ab01/ab01_anger_0.mp4", "ab01/ab01_joy_1.wav",
          "ab01/cd02_fear_0.wav")
    assert detect_corpus(tmp_path) == "demo"
    ix = load_corpus("demo", tmp_path)
    assert [(u.id, u.corpus, u.modality, u.gender) for u in ix.utterances] == [
        ("ab01_anger_0", "demo_x", "audiovisual", "female"), ("ab01_anger_0", "demo_x", "audio", "female")]
    assert len(ix.skipped) == 2
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(ValueError, match="not a demo corpus"):
        load_corpus("demo", tmp_path)


def test_bad_input(tmp_path: Path):
    with pytest.raises(ValueError, match="does not exist"):
        detect_corpus(tmp_path / "missing")
    with pytest.raises(ValueError, match="does not exist"):
        load_corpus("emodb", tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="empty"):
        detect_corpus(empty)
    with pytest.raises(ValueError, match="empty"):
        load_corpus("emodb", empty)
    unknown = tmp_path / "unknown"
    touch(unknown, "a.wav", "b.wav", "c/d.mp4")
    with pytest.raises(ValueError, match="unknown corpus layout"):
        detect_corpus(unknown)
    with pytest.raises(ValueError, match="no emodb utterances"):
        load_corpus("emodb", unknown)
    mixed = tmp_path / "mixed"
    touch(mixed, "emodb/03a01Fa.wav", "emodb/03a01Wa.wav", "crema/1001_DFA_ANG_XX.wav")
    with pytest.raises(ValueError, match="mixed corpora.*emodb.*cremad"):
        detect_corpus(mixed)
    with pytest.raises(ValueError, match="unknown corpus 'tess'"):
        load_corpus("tess", mixed)
    mostly_junk = tmp_path / "junk"
    touch(mostly_junk, "03a01Fa.wav", "x1.wav", "x2.wav", "x3.wav")
    with pytest.raises(ValueError, match="only 1 of 4"):
        detect_corpus(mostly_junk)


def test_select_labels(emodb: Path):
    us = load_corpus("emodb", emodb).utterances
    six = select_labels(us)
    assert {u.label for u in six} == {"anger", "disgust", "fear", "happiness", "sadness"}
    assert select_labels(us, "paper_six") == six
    assert [u.label for u in select_labels(us, ["neutral"])] == ["neutral"]
    with pytest.raises(ValueError, match="unknown emotion label.*'joy'"):
        select_labels(us, ["anger", "joy"])
    with pytest.raises(ValueError, match="empty"):
        select_labels(us, [])
    with pytest.raises(ValueError, match="modality"):
        select_modality(us, "faces")


@pytest.mark.corpus
def test_real_emodb_index(emodb_root: Path):
    assert detect_corpus(emodb_root) == "emodb"
    ix = load_corpus("emodb", emodb_root)
    assert len(ix.utterances) == 535 and ix.skipped == []
    assert len(ix.speakers()) == 10
    counts = Counter(u.label for u in ix.utterances)
    assert counts == {"anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69,
                      "sadness": 62, "disgust": 46}
    genders = {u.speaker: u.gender for u in ix.utterances}
    assert sorted(s for s, g in genders.items() if g == "male") == ["03", "10", "11", "12", "15"]
    assert len(select_labels(ix.utterances)) == 127 + 46 + 69 + 71 + 62


def test_index_is_iterable_and_sized(emodb: Path):
    ix = load_corpus("emodb", emodb)
    assert len(ix) == len(ix.utterances) and list(ix) == ix.utterances
    assert [u.id for u in ix] == [u.id for u in ix.utterances]
    assert select_labels(ix, ["neutral"]) == select_labels(ix.utterances, ["neutral"])


def test_errors_use_the_error_root(tmp_path: Path, emodb: Path):
    from emofast.errors import InputError, MissingFileError

    with pytest.raises(MissingFileError, match="missing") as info:
        load_corpus("emodb", tmp_path / "missing")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, MissingFileError)
    with pytest.raises(InputError, match="not a folder"):
        load_corpus("emodb", next(emodb.rglob("*.wav")))
    with pytest.raises(InputError, match="unknown corpus 'tess'"):
        load_corpus("tess", emodb)
