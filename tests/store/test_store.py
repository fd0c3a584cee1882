"""Feature store: layout, resuming, keying by settings, failures, real extractors, EMO-DB."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emofast.corpora import Utterance, load_corpus
from emofast.store import Extractor, FeatureSet, FeatureStore

LABELS = ("anger", "sadness", "happiness")


def fake_extractor(path: str) -> np.ndarray:
    """Deterministic features from the file's content: '<n_segments> <value>' (or 'corrupt')."""
    text = Path(path).read_text()
    if text.startswith("corrupt"):
        raise ValueError(f"cannot decode {path}: corrupt header")
    n, value = text.split()
    return np.full((int(n), 3, 4, 4), float(value), np.float32)


fake_extractor.name = "fake"  # type: ignore[attr-defined]  # the store key uses name + version


class Interrupting:
    """Extractor that behaves like Ctrl-C after ``after`` files; counts its calls."""

    name = "fake"

    def __init__(self, after: int | None = None):
        self.after, self.calls = after, []

    def __call__(self, path: str) -> np.ndarray:
        if self.after is not None and len(self.calls) == self.after:
            raise KeyboardInterrupt
        self.calls.append(Path(path).name)
        return fake_extractor(path)


def make_utterances(root: Path, n: int = 12, corrupt: tuple[int, ...] = (), empty: tuple[int, ...] = ()
                    ) -> list[Utterance]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = root / f"u{i:02d}.wav"
        if i in corrupt:
            p.write_text("corrupt")
        else:
            p.write_text(f"{0 if i in empty else 1 + i % 3} {i}")
        out.append(Utterance(f"u{i:02d}", "fake", f"spk{i % 4}", LABELS[i % 3], p, "audio"))
    return out


def test_extract_layout_and_index(tmp_path: Path):
    us = make_utterances(tmp_path / "media")
    store = FeatureStore(tmp_path / "store")
    fs = store.extract("fake", us, "audio", extractor=fake_extractor, progress=False)
    assert isinstance(fs, FeatureSet) and isinstance(fs.features, np.memmap)
    n = sum(1 + i % 3 for i in range(12))
    assert fs.features.shape == (n, 3, 4, 4) and fs.features.dtype == np.float32
    assert fs.ids() == [u.id for u in us] and fs.failed == [] and store.errors == []
    for i, r in enumerate(fs.utterances):
        assert (r.label, r.speaker, r.stop - r.start) == (LABELS[i % 3], f"spk{i % 4}", 1 + i % 3)
        assert np.all(fs.features[r.start:r.stop] == i)
    groups = fs.segment_groups()
    assert groups.dtype == np.int64 and np.array_equal(np.unique(groups), np.arange(12))
    assert np.all(fs.features[:, 0, 0, 0] == groups)  # value i sits in utterance i's rows
    labels = fs.segment_labels(LABELS)
    assert labels.dtype == np.int64 and np.array_equal(labels, groups % 3)
    assert list(fs.speakers()) == [f"spk{i % 4}" for i in range(12)]
    assert list(fs.segment_speakers()[:3]) == ["spk0", "spk1", "spk1"]
    assert np.array_equal(fs.labels(LABELS), np.arange(12) % 3)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        fs.labels(("anger",))
    sad = fs.select_labels(["sadness"])
    assert sad.ids() == ["u01", "u04", "u07", "u10"]
    assert np.all(sad.segment_labels(LABELS)[sad.rows()] == 1)
    # reopening reads the same index, without the extractor
    again = store.open("fake", "audio", extractor=fake_extractor)
    assert again.ids() == fs.ids() and np.array_equal(again.features, fs.features)
    assert store.open("fake", "audio").key == fs.key
    assert store.open(None, "audio").key == fs.key
    d = fs.path
    assert {p.name for p in d.iterdir()} >= {"settings.json", "layout.json", "features.bin",
                                            "progress.jsonl", "index.json"}
    assert d.parent.parent.name == "fake" and d.parent.name == "audio"


def test_interrupted_extraction_resumes_and_loses_nothing(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=20)
    clean = FeatureStore(tmp_path / "clean").extract("fake", us, "audio", extractor=fake_extractor,
                                                     progress=False)
    store = FeatureStore(tmp_path / "store")
    first = Interrupting(after=7)
    with pytest.raises(KeyboardInterrupt):
        store.extract("fake", us, "audio", extractor=first, progress=False)
    assert len(first.calls) == 7
    key_dir = next((tmp_path / "store" / "fake" / "audio").iterdir())
    recorded = [json.loads(line)["id"] for line in (key_dir / "progress.jsonl").read_text().splitlines()]
    assert recorded == [u.id for u in us[:7]]
    assert not (key_dir / "index.json").exists()
    with pytest.raises(ValueError, match="incomplete|interrupted"):
        store.open("fake", "audio")
    with pytest.raises(ValueError, match="incomplete"):
        store.open("fake", "audio", extractor=first)
    # a torn tail, as left by a kill -9 between the two writes: rows without record, half a line
    with open(key_dir / "features.bin", "ab") as fh:
        fh.write(b"\x00" * 100)
    with open(key_dir / "progress.jsonl", "ab") as fh:
        fh.write(b'{"id": "u07", "sta')
    second = Interrupting()
    fs = store.extract("fake", us, "audio", extractor=second, progress=False)
    assert second.calls == [f"u{i:02d}.wav" for i in range(7, 20)]  # nothing recomputed
    assert fs.ids() == clean.ids()
    assert [(r.start, r.stop) for r in fs.utterances] == [(r.start, r.stop) for r in clean.utterances]
    assert np.array_equal(np.asarray(fs.features), np.asarray(clean.features))
    third = Interrupting()
    store.extract("fake", us, "audio", extractor=third, progress=False)
    assert third.calls == []


def test_new_utterances_are_appended(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=10)
    store = FeatureStore(tmp_path / "store")
    part = store.extract("fake", us[:4], "audio", extractor=fake_extractor, progress=False)
    assert part.ids() == [u.id for u in us[:4]]
    counting = Interrupting()
    full = store.extract("fake", us, "audio", extractor=counting, progress=False)
    assert counting.calls == [f"u{i:02d}.wav" for i in range(4, 10)]
    assert full.ids() == [u.id for u in us]
    sub = store.extract("fake", us[2:5], "audio", extractor=counting, progress=False)
    assert sub.ids() == ["u02", "u03", "u04"] and len(counting.calls) == 6
    groups = sub.segment_groups()
    assert set(np.unique(groups)) == {-1, 0, 1, 2}
    assert np.all(sub.features[groups == 2][:, 0, 0, 0] == 4)
    assert store.open("fake", "audio").ids() == full.ids()  # open() shows all that is stored


def test_unreadable_file_mid_corpus_is_counted_and_the_rest_kept(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=12, corrupt=(5,), empty=(8,))
    store = FeatureStore(tmp_path / "store")
    fs = store.extract("fake", us, "audio", extractor=fake_extractor, progress=False)
    assert len(fs) == 10 and "u05" not in fs.ids() and "u08" not in fs.ids()
    assert [(f.id, f.status) for f in fs.failed] == [("u05", "failed"), ("u08", "empty")]
    assert "corrupt header" in fs.failed[0].reason and "ValueError" in fs.failed[0].reason
    assert [e.id for e in store.errors] == ["u05", "u08"]
    assert "2 file(s) without features" in store.report() and "u05.wav" in store.report()
    assert np.all(fs.segment_groups() >= 0)
    # failures are remembered, not retried unless asked
    counting = Interrupting()
    again = store.extract("fake", us, "audio", extractor=counting, progress=False)
    assert counting.calls == [] and [f.id for f in again.failed] == ["u05", "u08"]
    (tmp_path / "media" / "u05.wav").write_text("2 5")
    fixed = store.extract("fake", us, "audio", extractor=counting, progress=False, retry_failed=True)
    assert counting.calls == ["u05.wav", "u08.wav"] and "u05" in fixed.ids()
    assert [f.id for f in fixed.failed] == ["u08"]
    assert np.all(fixed.features[fixed.segment_groups() == fixed.ids().index("u05")] == 5)
    reopened = store.open("fake", "audio", extractor=counting)
    assert reopened.ids() == fixed.ids() and [f.id for f in reopened.failed] == ["u08"]


def test_other_settings_never_return_old_features(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=6)
    store = FeatureStore(tmp_path / "store")
    a = store.extract("fake", us, "audio", extractor=fake_extractor, config={"n_mels": 64}, progress=False)
    with pytest.raises(ValueError, match="no audio features of 'fake' with these settings"):
        store.open("fake", "audio", extractor=fake_extractor, config={"n_mels": 40})
    b = store.extract("fake", us, "audio", extractor=fake_extractor, config={"n_mels": 40}, progress=False)
    assert a.key != b.key and a.path != b.path
    assert store.open("fake", "audio", extractor=fake_extractor, config={"n_mels": 40}).key == b.key
    with pytest.raises(ValueError, match="2 audio feature sets with different settings"):
        store.open("fake", "audio")
    with pytest.raises(ValueError, match="no complete video feature set"):
        store.open("fake", "video")
    with pytest.raises(ValueError, match="name the corpus"):
        FeatureStore(tmp_path / "nothing").open(None, "audio")

    def other(path: str) -> np.ndarray:
        return fake_extractor(path) * 2

    other.version = 2
    c = store.extract("fake", us, "audio", extractor=other, config={"n_mels": 40}, progress=False)
    assert c.key not in (a.key, b.key)
    # a key folder whose settings were tampered with is refused
    settings = json.loads((a.path / "settings.json").read_text())
    settings["config"]["n_mels"] = 1
    (a.path / "settings.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="other settings"):
        store.extract("fake", us, "audio", extractor=fake_extractor, config={"n_mels": 64}, progress=False)


def test_bad_requests(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=4)
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(ValueError, match="modality"):
        store.extract("fake", us, "faces", extractor=fake_extractor, progress=False)
    with pytest.raises(ValueError, match="corpus name"):
        store.extract("../x", us, "audio", extractor=fake_extractor, progress=False)
    with pytest.raises(ValueError, match="no video utterances"):
        store.extract("fake", us, "video", extractor=fake_extractor, progress=False)
    with pytest.raises(ValueError, match="duplicate utterance ids"):
        store.extract("fake", us + [Utterance("u00", "fake", "x", "anger", us[1].path, "audio")], "audio",
                      extractor=fake_extractor, progress=False)
    store.extract("fake", us, "audio", extractor=fake_extractor, progress=False)
    relabelled = [Utterance(u.id, u.corpus, u.speaker, "fear", u.path, u.modality) for u in us]
    with pytest.raises(ValueError, match="stored with label"):
        store.extract("fake", relabelled, "audio", extractor=fake_extractor, progress=False)
    with pytest.raises(TypeError, match="JSON"):
        store.extract("fake", us, "audio", extractor=fake_extractor, config={"x": object()}, progress=False)


def test_shape_mismatch_is_a_failure(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=3)

    def odd(path: str) -> np.ndarray:
        a = fake_extractor(path)
        return a[:, :2] if path.endswith("u01.wav") else a

    fs = FeatureStore(tmp_path / "s").extract("fake", us, "audio", extractor=odd, progress=False)
    assert fs.ids() == ["u00", "u02"] and "differ from the set's" in fs.failed[0].reason


def test_worker_processes_give_the_same_store(tmp_path: Path):
    us = make_utterances(tmp_path / "media", n=8, corrupt=(3,))
    serial = FeatureStore(tmp_path / "a").extract("fake", us, "audio", extractor=fake_extractor,
                                                  progress=False)
    parallel = FeatureStore(tmp_path / "b").extract("fake", us, "audio", extractor=fake_extractor,
                                                    workers=2, progress=False)
    assert parallel.ids() == serial.ids() and [f.id for f in parallel.failed] == ["u03"]
    assert np.array_equal(np.asarray(parallel.features), np.asarray(serial.features))


def test_builtin_extractors_on_generated_media(tmp_path: Path):
    pytest.importorskip("skimage")
    from emofast.audio import LogMelConfig
    from emofast.synthetic import (DEMO_CORPORA, _speaker_look, render_face_frames, synthesize_speech,
                                   write_mp4, write_wav)

    media = tmp_path / "media"
    media.mkdir()
    us = []
    for i, emotion in enumerate(("anger", "sadness", "fear")):
        rng = np.random.default_rng(i)
        y = synthesize_speech(emotion, rng, n_syllables=5)
        write_wav(media / f"s1_{emotion}_0.wav", y)
        frames = render_face_frames(emotion, 6, rng, look=_speaker_look(rng),
                                    light=DEMO_CORPORA["demo_studio"]["light"])
        write_mp4(media / f"s1_{emotion}_0.mp4", frames, 10, y)
        us += [Utterance(f"s1_{emotion}_0", "gen", "s1", emotion, media / f"s1_{emotion}_0.wav", "audio"),
               Utterance(f"s1_{emotion}_0", "gen", "s1", emotion, media / f"s1_{emotion}_0.mp4",
                         "audiovisual")]
    (media / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypjunkjunk")
    us += [Utterance("broken", "gen", "s2", "anger", media / "broken.wav", "audio"),
           Utterance("broken", "gen", "s2", "anger", media / "broken.mp4", "audiovisual")]
    store = FeatureStore(tmp_path / "store")
    audio = store.extract("gen", us, "audio", workers=1, progress=False)
    assert audio.features.shape[1:] == (3, 64, 64) and audio.features.dtype == np.float32
    assert audio.ids() == ["s1_anger_0", "s1_sadness_0", "s1_fear_0"]
    assert all(r.path.endswith(".wav") for r in audio.utterances)  # the WAV wins over the MP4
    assert [f.id for f in audio.failed] == ["broken"] and store.errors[0].status == "failed"
    assert np.isfinite(np.asarray(audio.features)).all()
    assert store.open("gen", "audio", config=LogMelConfig()).key == audio.key
    with pytest.raises(ValueError, match="with these settings"):
        store.open("gen", "audio", config=LogMelConfig(n_mels=40))
    video = store.extract("gen", us, "video", workers=1, progress=False)
    assert video.features.shape[1:] == (64, 64, 3) and video.features.dtype == np.uint8
    assert video.ids() == ["s1_anger_0", "s1_sadness_0", "s1_fear_0"]
    assert sum(r.n_segments for r in video.utterances) >= 15  # faces in most of the 18 frames
    assert [f.id for f in video.failed] == ["broken"]
    assert store.open("gen", "video").key == video.key


@pytest.mark.corpus
def test_real_emodb_features(tmp_path: Path, emodb_root: Path):
    ix = load_corpus("emodb", emodb_root)
    assert len(ix.utterances) == 535 and len(ix.speakers()) == 10 and len(ix.label_counts()) == 7
    store = FeatureStore(tmp_path / "store")
    fs = store.extract("emodb", ix.utterances, "audio", progress=False)
    assert len(fs) == 535 and fs.failed == []
    assert fs.features.shape[0] >= 535 and fs.features.shape[1:] == (3, 64, 64)
    assert len(set(fs.speakers())) == 10
    assert set(np.unique(fs.segment_labels())) == set(range(7))
    assert np.array_equal(np.unique(fs.segment_groups()), np.arange(535))
    sample = np.asarray(fs.features[:: max(1, fs.features.shape[0] // 50)])
    assert np.isfinite(sample).all() and sample.std() > 0
    assert store.open("emodb", "audio").ids() == fs.ids()


def test_default_class_numbering_is_contiguous_over_present_labels(tmp_path: Path):
    # A corpus without some of the 9 shared emotions must still get labels 0..n-1 (a PathNet chain
    # over a 7-emotion corpus failed with "labels must lie in [0, 6), got [0, 7]").
    us = make_utterances(tmp_path / "media", n=6)  # anger, sadness, happiness
    fs = FeatureStore(tmp_path / "s").extract("fake", us, "audio", extractor=fake_extractor,
                                              progress=False)
    assert fs.classes() == ["anger", "happiness", "sadness"]
    assert fs.labels().tolist() == [0, 2, 1, 0, 2, 1]
    assert set(fs.segment_labels()[fs.rows()].tolist()) == {0, 1, 2}
    from emofast.corpora import EMOTIONS

    assert fs.labels(EMOTIONS).tolist() == [0, 6, 4, 0, 6, 4]  # explicit vocabulary: as before
    assert fs.labels(vocabulary=EMOTIONS).tolist() == [0, 6, 4, 0, 6, 4]
    assert fs.classes(EMOTIONS) == list(EMOTIONS)
    sad = fs.select_labels(["sadness", "happiness"])
    assert sad.labels().tolist() == [1, 0, 1, 0] and sad.classes() == ["happiness", "sadness"]
    from emofast.errors import InputError

    with pytest.raises(InputError, match="not both"):
        fs.labels(EMOTIONS, vocabulary=EMOTIONS)


def test_store_errors_use_the_error_root(tmp_path: Path):
    from emofast.errors import InputError, StoreError

    us = make_utterances(tmp_path / "media", n=3)
    store = FeatureStore(tmp_path / "s")
    with pytest.raises(InputError, match="modality"):
        store.extract("fake", us, "smell", extractor=fake_extractor)
    with pytest.raises(StoreError, match="no complete audio feature set"):
        store.open("fake", "audio")
    fs = store.extract("fake", us, "audio", extractor=fake_extractor, progress=False)
    (fs.path / "features.bin").write_bytes(b"")  # rows lost behind the index's back
    with pytest.raises(StoreError, match="damaged") as info:
        store.open("fake", "audio")
    assert str(fs.path) in str(info.value) and isinstance(info.value, OSError)


class Constant(Extractor):
    """A user-defined extractor through the store's protocol."""

    modality, name, version = "audio", "constant", 2
    row_shape, dtype = (2,), np.dtype(np.float32)

    def __init__(self, value: float = 1.0):
        self.value = value

    def settings(self) -> dict:
        return {"value": self.value}

    def __call__(self, path: str) -> np.ndarray:
        if Path(path).read_text().startswith("corrupt"):
            raise ValueError(f"{path}: corrupt")
        return np.full((2, 2), self.value, np.float32)


def test_extractor_protocol(tmp_path: Path):
    from emofast.audio import LogMelExtractor
    from emofast.errors import InputError
    from emofast.store import FunctionExtractor, builtin_extractor
    from emofast.video import FaceExtractor

    us = make_utterances(tmp_path / "media", n=5, corrupt=(2,))
    store = FeatureStore(tmp_path / "s")
    for workers in (None, 2):
        fs = store.extract("c", us, Constant(3.0), workers=workers, progress=False)
        assert fs.modality == "audio" and fs.features.shape == (8, 2) and np.all(fs.features == 3.0)
        assert [f.id for f in fs.failed] == ["u02"] and "corrupt" in fs.failed[0].reason
    assert fs.settings == {"modality": "audio", "extractor": "constant", "extractor_version": 2,
                           "config": {"value": 3.0}, "store_format": 1}
    assert store.open("c", Constant(3.0)).key == fs.key
    with pytest.raises(ValueError, match="with these settings"):
        store.open("c", Constant(4.0))
    assert store.extract("c", us, "audio", extractor=Constant(3.0), progress=False).key == fs.key
    with pytest.raises(InputError, match="not 'video'"):
        store.extract("c", us, "video", extractor=Constant())
    with pytest.raises(InputError, match="own settings"):
        store.extract("c", us, Constant(), config={"value": 1})
    assert isinstance(builtin_extractor("audio"), LogMelExtractor)
    assert isinstance(builtin_extractor("video", {"size": 32}), FaceExtractor)
    assert builtin_extractor("video", {"size": 32, "threads": 1}).settings() == {"size": 32}
    assert LogMelExtractor().row_shape == (3, 64, 64) and FaceExtractor().row_shape == (64, 64, 3)
    wrapped = FunctionExtractor(fake_extractor, "audio", {"a": 1})
    assert (wrapped.name, wrapped.settings()) == ("fake", {"a": 1})
