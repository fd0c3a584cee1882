"""Demo corpora: real media files, determinism, cache reuse, corpus differences, learnability."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage")
av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")
sf = pytest.importorskip("soundfile")

from emofast.corpora import PAPER_SIX, detect_corpus, load_corpus, select_modality  # noqa: E402
from emofast.synthetic import (DEMO_CORPORA, make_demo_corpora, render_face_frames,  # noqa: E402
                               synthesize_speech, _speaker_look)

CASCADE = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


@pytest.fixture(scope="module")
def cascade():
    return cv2.CascadeClassifier(CASCADE)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, Path]:
    return make_demo_corpora(tmp_path_factory.mktemp("cache"), seed=0, quick=True)


@pytest.fixture(scope="module")
def indexes(demo):
    return {name: load_corpus("demo", root) for name, root in demo.items()}


def test_three_corpora_in_the_demo_layout(demo, indexes):
    assert list(demo) == ["demo_studio", "demo_phone", "demo_street"]
    speakers = set()
    for name, root in demo.items():
        assert detect_corpus(root) == "demo"
        ix = indexes[name]
        assert ix.skipped == []
        assert {u.corpus for u in ix.utterances} == {name}
        audio, video = select_modality(ix.utterances, "audio"), select_modality(ix.utterances, "video")
        assert len(audio) == len(video) == 4 * 6 * 2
        assert all(u.path.suffix == ".wav" for u in audio) and all(u.path.suffix == ".mp4" for u in video)
        assert sorted(ix.label_counts()) == sorted(PAPER_SIX)
        assert {u.gender for u in ix.utterances} == {"female", "male"}
        manifest = json.loads((root / "manifest.json").read_text())
        assert manifest["corpus"] == name and len(manifest["files"]) == len(ix.utterances)
        for u in ix.utterances:
            assert u.path.parent.name == u.speaker and u.path.stem.startswith(f"{u.speaker}_{u.label}_")
        assert not speakers & set(ix.speakers())  # other people in every corpus
        speakers |= set(ix.speakers())


def test_wav_and_mp4_are_real_media(indexes):
    ix = indexes["demo_phone"]
    wav = next(u for u in ix.utterances if u.modality == "audio")
    info = sf.info(str(wav.path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert 0.5 < info.duration < 3.0
    mp4 = wav.path.with_suffix(".mp4")
    with av.open(str(mp4)) as c:
        assert {s.type for s in c.streams} == {"video", "audio"}
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(mp4)) as c:
        n_audio = sum(f.samples for f in c.decode(audio=0))
    assert frames[0].shape == (128, 128, 3)
    assert abs(len(frames) / 10 - info.duration) < 0.2
    assert n_audio >= info.frames


def test_haar_cascade_finds_the_faces(indexes, cascade):
    for name, ix in indexes.items():
        videos = [u for u in ix.utterances if u.modality == "audiovisual"][::8]
        found = total = 0
        for u in videos:
            with av.open(str(u.path)) as c:
                for i, f in enumerate(c.decode(video=0)):
                    if i % 2:
                        continue
                    gray = f.to_ndarray(format="gray")
                    found += len(cascade.detectMultiScale(gray, 1.1, 5, minSize=(30, 30))) > 0
                    total += 1
        assert found / total > 0.85, (name, found, total)


def _wav_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def test_deterministic_reused_and_regenerated_when_incomplete(demo, tmp_path):
    mtimes = {p: p.stat().st_mtime_ns for p in demo["demo_studio"].rglob("*")}
    assert make_demo_corpora(demo["demo_studio"].parent.parent, seed=0, quick=True) == demo
    assert {p: p.stat().st_mtime_ns for p in demo["demo_studio"].rglob("*")} == mtimes
    # same seed in another cache (audio only: faster) -> byte-identical speech
    audio_only = make_demo_corpora(tmp_path, seed=0, quick=True, video=False, workers=1)
    for name in demo:
        assert _wav_bytes(audio_only[name]) == _wav_bytes(demo[name])
        assert not list(audio_only[name].rglob("*.mp4"))
    # a missing file makes the corpus incomplete: it is generated again, identically
    victim = next(audio_only["demo_street"].rglob("*.wav"))
    before = victim.read_bytes()
    victim.unlink()
    again = make_demo_corpora(tmp_path, seed=0, quick=True, video=False, workers=1)
    assert victim.read_bytes() == before and again == audio_only
    # another seed -> other utterances
    a = synthesize_speech("anger", np.random.default_rng(1))
    b = synthesize_speech("anger", np.random.default_rng(2))
    assert not np.array_equal(a[: min(len(a), len(b))], b[: min(len(a), len(b))])
    with pytest.raises(ValueError, match="unknown or no emotions"):
        make_demo_corpora(tmp_path, emotions=("anger", "joy"))


def _band_ratio(paths, lo_hz: float) -> float:
    ratios = []
    for p in paths:
        y, sr = sf.read(str(p))
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / sr)
        ratios.append(spec[f > lo_hz].sum() / spec.sum())
    return float(np.mean(ratios))


def _noise_floor_db(paths) -> float:
    floors = []
    for p in paths:
        y, _ = sf.read(str(p))
        frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::160]
        e = 10 * np.log10((frames ** 2).mean(1) + 1e-12)
        floors.append(np.percentile(e, 5) - np.percentile(e, 95))
    return float(np.mean(floors))


def test_corpora_differ_in_channel_noise_and_lighting(indexes):
    wavs = {n: [u.path for u in ix.utterances if u.modality == "audio"][::4] for n, ix in indexes.items()}
    # telephone band: almost nothing above 3.6 kHz
    assert _band_ratio(wavs["demo_phone"], 3600) < 0.2 * _band_ratio(wavs["demo_studio"], 3600)
    # street noise: the quiet frames sit much closer to the loud ones
    assert _noise_floor_db(wavs["demo_street"]) > _noise_floor_db(wavs["demo_studio"]) + 10
    brightness = {}
    for n, ix in indexes.items():
        u = next(u for u in ix.utterances if u.modality == "audiovisual")
        with av.open(str(u.path)) as c:
            brightness[n] = np.mean([f.to_ndarray(format="rgb24").mean((0, 1)) for f in c.decode(video=0)],
                                    axis=0)
    assert brightness["demo_street"].sum() < 0.85 * brightness["demo_studio"].sum()  # darker
    r, _, b = brightness["demo_phone"]
    assert r / b > 1.2 * brightness["demo_studio"][0] / brightness["demo_studio"][2]  # warm cast


def _audio_features(path: Path) -> np.ndarray:
    """Crude prosody: level, voiced share, duration, centroid, pitch level and range."""
    y, sr = sf.read(str(path))
    frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::160]
    e = 10 * np.log10((frames ** 2).mean(1) + 1e-10)
    act = frames[e > e.max() - 25]
    spec = np.abs(np.fft.rfft(act * np.hanning(400), axis=1))
    freqs = np.fft.rfftfreq(400, 1 / sr)
    centroid = (spec * freqs).sum(1) / spec.sum(1)
    f0 = []
    for x in act[::3]:
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[399:]
        f0.append(sr / (32 + np.argmax(ac[32:228])))
    f0 = np.log(f0)
    return np.array([e[e > e.max() - 25].mean(), (e > e.max() - 25).mean(), len(y) / sr,
                     np.median(centroid), np.median(f0), np.percentile(f0, 90) - np.percentile(f0, 10)])


def _face_features(path: Path, cascade) -> np.ndarray | None:
    """Crude appearance: the detected face of the last frames, 16x16 grey, averaged."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)][-2:]
    crops = []
    for g in frames:
        boxes = cascade.detectMultiScale(g, 1.2, 4, minSize=(40, 40))
        if len(boxes):
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
            crops.append(cv2.resize(g[y:y + h, x:x + w], (16, 16)).astype(float).ravel())
    return np.mean(crops, 0) if crops else None


def _loso_nearest_centroid(X: np.ndarray, y: np.ndarray, speakers: np.ndarray) -> float:
    accs = []
    for s in np.unique(speakers):
        tr, te = speakers != s, speakers == s
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-9
        Z = (X - mu) / sd
        centroids = np.stack([Z[tr][y[tr] == c].mean(0) for c in range(len(PAPER_SIX))])
        pred = np.argmin(((Z[te][:, None] - centroids[None]) ** 2).sum(-1), axis=1)
        accs.append(float((pred == y[te]).mean()))
    return float(np.mean(accs))


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_emotions_learnable_but_not_trivial(indexes, cascade, modality):
    """Nearest centroid on crude features, leave-one-speaker-out: well above chance (1/6), far from
    perfect."""
    accs = []
    for ix in indexes.values():
        us = select_modality(ix.utterances, modality)
        feats = [_audio_features(u.path) if modality == "audio" else _face_features(u.path, cascade)
                 for u in us]
        keep = [i for i, f in enumerate(feats) if f is not None]
        X = np.stack([feats[i] for i in keep])
        y = np.array([PAPER_SIX.index(us[i].label) for i in keep])
        spk = np.array([us[i].speaker for i in keep])
        accs.append(_loso_nearest_centroid(X, y, spk))
    assert np.mean(accs) > 0.28, accs
    assert max(accs) < 0.9, accs


def test_expressions_move_the_face():
    look = _speaker_look(np.random.default_rng(0))
    light = DEMO_CORPORA["demo_studio"]["light"]
    last = {e: render_face_frames(e, 6, np.random.default_rng(3), look=look, light=light)[-1].astype(float)
            for e in ("happiness", "sadness", "surprise")}
    mouth = (slice(70, 100), slice(40, 90))
    assert np.abs(last["happiness"][mouth] - last["sadness"][mouth]).mean() > 3
    assert np.abs(last["surprise"][mouth] - last["sadness"][mouth]).mean() > 3
    with pytest.raises(ValueError, match="unknown emotion"):
        render_face_frames("joy", 2, np.random.default_rng(0), look=look, light=light)
