"""Tests of emofast.audio: librosa parity, padding, I/O formats, bad inputs, corpus streaming."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emofast.audio import (LogMelConfig, deltas, iter_logmel_segments, load_audio, logmel,
                           logmel_segments, logmel_segments_many)

librosa = pytest.importorskip("librosa")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

TOL = 1e-3  # log units (dB by default)


# ------------------------------------------------------------------------------------------ helpers
def speechlike(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise plus a gliding harmonic tone: broadband, like voiced speech over a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 80 * t
    tone = sum(np.sin(2 * np.pi * h * np.cumsum(f0) / sr) / h for h in range(1, 6))
    return (0.05 * rng.standard_normal(t.size) + 0.3 * tone).astype(np.float32)


def librosa_logmel(y: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """librosa at identical settings: center=False and the window left-aligned in the frame."""
    win, hop, n_fft = cfg.win_length, cfg.hop_length, cfg.fft_size
    lp = (n_fft - win) // 2
    yp = np.pad(y, (lp, n_fft - win - lp))
    M = librosa.feature.melspectrogram(
        y=yp, sr=cfg.sr, n_fft=n_fft, hop_length=hop, win_length=win, window=cfg.window, center=False,
        power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=cfg.mel_scale == "htk",
        norm=cfg.mel_norm)
    if cfg.log == "db":
        return librosa.power_to_db(M, ref=1.0, amin=cfg.floor, top_db=cfg.top_db)
    L = np.log(np.maximum(M, cfg.floor)) if cfg.log == "ln" else np.log10(np.maximum(M, cfg.floor))
    if cfg.top_db is not None:
        L = np.maximum(L, L.max() - cfg.top_db)
    return L


def librosa_segments(y: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    L = librosa_logmel(y, cfg)
    d1 = librosa.feature.delta(L, width=cfg.delta_width, order=1, mode="interp")
    d2 = librosa.feature.delta(L, width=cfg.delta_width, order=2, mode="interp")
    full = np.stack([L, d1, d2])
    step = cfg.frames - cfg.overlap
    n = 1 + (L.shape[1] - cfg.frames) // step
    return np.stack([full[:, :, i * step:i * step + cfg.frames] for i in range(n)])


# ------------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100])
def test_logmel_matches_librosa(sr):
    cfg = LogMelConfig(sr=sr, fmax=min(8000.0, sr / 2))
    y = speechlike(sr, 1.7)
    ours = logmel(y, sr, cfg)
    ref = librosa_logmel(y, cfg)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert ours.shape[1] == 1 + (y.size - cfg.win_length) // cfg.hop_length
    assert np.abs(ours - ref).max() <= TOL


@pytest.mark.parametrize("sr,width", [(16000, 9), (16000, 5), (22050, 11), (8000, 7)])
def test_segments_match_librosa(sr, width):
    cfg = LogMelConfig(sr=sr, fmax=min(8000.0, sr / 2), delta_width=width)
    y = speechlike(sr, 2.3, seed=1)
    ours = logmel_segments(y, sr, cfg)
    ref = librosa_segments(y, cfg)
    assert ours.shape == ref.shape == (ours.shape[0], 3, 64, 64) and ours.shape[0] >= 4
    assert ours.flags.c_contiguous and ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= TOL


@settings(max_examples=12, deadline=None)
@given(sr=st.sampled_from([8000, 16000, 22050]), n_mels=st.sampled_from([40, 64, 80]),
       width=st.sampled_from([3, 5, 9]), scale=st.sampled_from(["slaney", "htk"]),
       norm=st.sampled_from(["slaney", None]), log=st.sampled_from(["db", "ln", "log10"]),
       nfft_extra=st.sampled_from([0, 1]), window=st.sampled_from(["hamming", "hann"]),
       power=st.sampled_from([1.0, 2.0]), top_db=st.sampled_from([None, 60.0]),
       frames=st.sampled_from([32, 64]), overlap=st.sampled_from([0, 30]))
def test_settings_match_librosa(sr, n_mels, width, scale, norm, log, nfft_extra, window, power, top_db,
                                frames, overlap):
    base = LogMelConfig(sr=sr, fmax=min(8000.0, sr / 2))
    n_fft = None if nfft_extra == 0 else 2 * base.fft_size
    cfg = LogMelConfig(sr=sr, fmax=min(8000.0, sr / 2), n_mels=n_mels, delta_width=width, mel_scale=scale,
                       mel_norm=norm, log=log, n_fft=n_fft, window=window, power=power, top_db=top_db,
                       frames=frames, overlap=overlap)
    y = speechlike(sr, 1.1, seed=2)
    assert np.abs(logmel_segments(y, sr, cfg) - librosa_segments(y, cfg)).max() <= TOL


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("width", [5, 9])
def test_deltas_match_librosa(order, width):
    rng = np.random.default_rng(order)
    S = rng.standard_normal((7, 50)).cumsum(axis=1).astype(np.float32)
    ours = deltas(S, width=width, order=order)
    ref = librosa.feature.delta(S, width=width, order=order, mode="interp")
    assert np.abs(ours - ref).max() <= 1e-4
    ours0 = deltas(S.T, width=width, order=order, axis=0)
    assert np.allclose(ours0, ours.T, atol=1e-6)


@pytest.mark.parametrize("width", [3, 9, 11])
@pytest.mark.parametrize("seconds", [0.655, 0.9, 2.3, 5.0])
def test_segment_kernel_equals_logmel_and_deltas(width, seconds):
    # logmel_segments computes Δ/ΔΔ inside its own kernel (straight into each segment) and processes
    # frames in blocks; it must equal logmel() + deltas() cut into segments, edges included
    # (0.655 s is exactly one segment, so both edge clamps fall in the same segment).
    cfg = LogMelConfig(delta_width=width)
    y = speechlike(16000, seconds, seed=3)
    L = logmel(y, 16000, cfg)
    full = np.stack([L, deltas(L, width, 1), deltas(L, width, 2)])
    step = cfg.frames - cfg.overlap
    n = 1 + (L.shape[1] - cfg.frames) // step
    ref = np.stack([full[:, :, i * step:i * step + cfg.frames] for i in range(n)])
    ours = logmel_segments(y, 16000, cfg)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4


def test_frame_blocks_do_not_change_results(monkeypatch):
    import emofast.audio.transforms as transforms

    y = speechlike(16000, 4.1, seed=4)  # 408 frames: several blocks and a partial one
    blocked = logmel(y, 16000)
    monkeypatch.setattr(transforms, "_FRAME_BLOCK", 10**6)
    assert np.array_equal(blocked, logmel(y, 16000))


@pytest.mark.parametrize("extra", [0, 1, 3, 4, 5, 20, 33])
@pytest.mark.parametrize("width", [3, 9])
def test_unused_trailing_frames_are_skipped_exactly(extra, width):
    # logmel_segments skips the frames after the last segment (beyond the Δ context): bit-identical
    # to computing every frame, including when the cut falls inside the Δ half-width.
    import emofast.audio as audio

    cfg = LogMelConfig(delta_width=width)
    n_frames = cfg.frames + 2 * (cfg.frames - cfg.overlap) + extra
    y = speechlike(16000, ((n_frames - 1) * cfg.hop_length + cfg.win_length) / 16000, seed=5)
    lm, scale = audio._log_mel(y, cfg)
    assert lm.shape[1] == n_frames
    p = audio._plan(cfg)
    full = np.empty((3, 3, cfg.n_mels, cfg.frames), np.float32)
    from emofast.audio import kernels

    kernels.segments(lm, p.c1, p.c2, np.float32(scale), cfg.frames - cfg.overlap, full)
    assert np.array_equal(logmel_segments(y, 16000, cfg), full)


def test_delta9_is_n4_regression():
    x = np.random.default_rng(0).standard_normal((1, 40)).astype(np.float32)
    k = np.arange(-4, 5)
    reg = np.array([(k * x[0, t + k]).sum() / (k * k).sum() for t in range(4, 36)])
    assert np.allclose(deltas(x)[0, 4:36], reg, atol=1e-5)


def test_deltas_rejects_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        deltas(np.zeros((2, 5)), width=9)
    with pytest.raises(ValueError, match="width"):
        deltas(np.zeros((2, 20)), width=4)
    with pytest.raises(ValueError, match="order"):
        deltas(np.zeros((2, 20)), width=5, order=5)


def test_resampling_inside_features_matches_explicit_resample():
    y = speechlike(22050, 1.5)
    direct = logmel_segments(y, 22050)
    from scipy.signal import resample_poly

    y16 = resample_poly(y, 320, 441).astype(np.float32)
    assert np.allclose(direct, logmel_segments(y16, 16000), atol=1e-4)


def test_cached_resample_filter_is_bit_identical_to_resample_poly():
    from scipy.signal import resample_poly

    from emofast.audio import _resample

    y = speechlike(22050, 0.7)
    for sr_in, sr_out in [(22050, 16000), (44100, 16000), (8000, 16000), (16000, 22050)]:
        g = np.gcd(sr_in, sr_out)
        for _ in range(2):  # second call uses the cached filter
            assert np.array_equal(_resample(y, sr_in, sr_out), resample_poly(y, sr_out // g, sr_in // g))


def test_config_overrides_are_validated_every_time():
    assert logmel(speechlike(16000, 0.5), 16000, n_mels=40).shape[0] == 40
    with pytest.raises(ValueError, match="n_mels"):
        logmel(speechlike(16000, 0.5), 16000, n_mels=40.0)  # equal to 40 but not an integer
    assert logmel(speechlike(16000, 0.5), 16000, window=["kaiser", 8.0]).shape[0] == 64  # unhashable


# ------------------------------------------------------------------------------------------ padding
@pytest.mark.parametrize("pad", ["repeat", "reflect", "zero"])
@pytest.mark.parametrize("n", [1, 100, 400, 4000, 10479])
def test_pad_policies_short_clips(pad, n):
    y = speechlike(16000, 1.0)[:n]
    out = logmel_segments(y, 16000, pad=pad)
    assert out.shape == (1, 3, 64, 64) and np.isfinite(out).all()


def test_pad_drop_and_exact_lengths():
    cfg = LogMelConfig()
    assert cfg.segment_samples == 10480
    y = speechlike(16000, 1.0)
    assert logmel_segments(y[:10479], 16000, pad="drop").shape == (0, 3, 64, 64)
    assert logmel_segments(y[:10480], 16000, pad="drop").shape == (1, 3, 64, 64)
    assert logmel_segments(y[:10480 + 34 * 160 - 1], 16000).shape == (1, 3, 64, 64)
    assert logmel_segments(y[:10480 + 34 * 160], 16000).shape == (2, 3, 64, 64)
    assert logmel(y[:399], 16000, pad="drop").shape == (64, 0)
    assert logmel(y[:399], 16000).shape == (64, 1)


def test_pad_semantics():
    y = speechlike(16000, 0.3)
    need = LogMelConfig().segment_samples
    rep = logmel_segments(y, 16000, pad="repeat")
    assert np.allclose(rep, logmel_segments(np.resize(y, need), 16000), atol=1e-5)
    refl = logmel_segments(y, 16000, pad="reflect")
    assert np.allclose(refl, logmel_segments(np.pad(y, (0, need - y.size), mode="reflect"), 16000),
                       atol=1e-5)
    zero = logmel_segments(y, 16000, pad="zero")
    assert np.allclose(zero[0, 0, :, -1], -100.0)  # last frame is pure padding: the floor


def test_all_zero_audio_gives_floor():
    out = logmel_segments(np.zeros(20000, np.float32), 16000)
    assert np.isfinite(out).all()
    assert np.allclose(out[:, 0], -100.0, atol=1e-4) and np.abs(out[:, 1:]).max() < 1e-4
    ln = logmel(np.zeros(1000), 16000, log="ln", floor=1e-6)
    assert np.allclose(ln, np.log(1e-6))


def test_integer_arrays_are_scaled():
    y = speechlike(16000, 1.0)
    i16 = np.round(y * 32767).astype(np.int16)
    assert np.abs(logmel(i16, 16000) - logmel(i16 / 32768.0, 16000)).max() < 1e-3


def test_array_input_errors():
    with pytest.raises(ValueError, match="zero-length"):
        logmel_segments(np.zeros(0, np.float32), 16000)
    y = speechlike(16000, 1.0)
    y[500] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        logmel_segments(y, 16000)
    y[500] = np.inf
    with pytest.raises(ValueError, match="NaN/Inf"):
        logmel(y, 16000)
    with pytest.raises(ValueError, match="1-D"):
        logmel(np.zeros((2, 1000)), 16000)
    with pytest.raises(TypeError, match="unknown"):
        logmel(np.zeros(1000), 16000, nmels=3)


# ------------------------------------------------------------------------------------------ config
def test_config_to_dict_is_stable_json():
    cfg = LogMelConfig()
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d and list(d) == sorted(d)
    assert d["n_mels"] == 64 and d["fmin"] == 20.0 and d["fmax"] == 8000.0 and d["window"] == "hamming"
    assert d["frames"] == 64 and d["overlap"] == 30 and d["delta_width"] == 9 and "feature_version" in d
    assert LogMelConfig.from_dict(d) == cfg
    assert LogMelConfig(n_mels=np.int64(64)).to_dict() == d
    assert (cfg.win_length, cfg.hop_length, cfg.fft_size) == (400, 160, 512)
    assert LogMelConfig(window=("kaiser", 8.0)).to_dict()["window"] == ["kaiser", 8.0]


@pytest.mark.parametrize("bad", [dict(mel_scale="mel"), dict(log="log2"), dict(pad="wrap"),
                                 dict(delta_width=4), dict(overlap=64), dict(fmax=9000.0),
                                 dict(n_fft=256), dict(window="nope"), dict(floor=0.0),
                                 dict(fmin=9000.0, fmax=8000.0), dict(frames=5)])
def test_config_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="LogMelConfig"):
        LogMelConfig(**bad)


# ------------------------------------------------------------------------------------------ I/O
@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_sample_formats(tmp_path, subtype):
    y = speechlike(16000, 0.5)
    p = tmp_path / f"x_{subtype}.wav"
    sf.write(p, y, 16000, subtype=subtype)
    z, sr = load_audio(p)
    assert sr == 16000 and z.dtype == np.float32 and z.shape == y.shape
    assert np.abs(z - y).max() < (1e-2 if subtype == "PCM_U8" else 1e-4)


def test_stereo_mixdown_flac_and_resample(tmp_path):
    left, right = speechlike(22050, 0.8, 1), speechlike(22050, 0.8, 2)
    p = tmp_path / "st.flac"
    sf.write(p, np.stack([left, right], axis=1), 22050, subtype="PCM_16")
    z, sr = load_audio(p, sr=None)
    assert sr == 22050 and np.abs(z - (left + right) / 2).max() < 1e-3
    z16, sr16 = load_audio(p)
    assert sr16 == 16000 and z16.dtype == np.float32 and z16.size == int(np.ceil(z.size * 320 / 441))


def test_mp4_audio_track(tmp_path):
    av = pytest.importorskip("av")
    sr, seconds = 44100, 1.0
    y = speechlike(sr, seconds, 3)
    p = tmp_path / "clip.mp4"
    with av.open(str(p), mode="w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        a = c.add_stream("aac", rate=sr)
        a.layout = "stereo"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), format="rgb24")
            for pkt in vs.encode(frame):
                c.mux(pkt)
        stereo = np.stack([y, y]).astype(np.float32)
        for s in range(0, stereo.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, s:s + 1024]), format="fltp",
                                            layout="stereo")
            fr.sample_rate = sr
            for pkt in a.encode(fr):
                c.mux(pkt)
        for s in (vs, a):
            for pkt in s.encode(None):
                c.mux(pkt)
    z, zsr = load_audio(p, sr=None)
    assert zsr == sr and z.dtype == np.float32
    assert abs(z.size - y.size) < 4096
    rms = lambda v: float(np.sqrt(np.mean(v ** 2)))  # noqa: E731
    assert abs(rms(z) - rms(y)) / rms(y) < 0.2
    z16, sr16 = load_audio(p)
    assert sr16 == 16000 and logmel_segments(z16, sr16).shape[1:] == (3, 64, 64)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.wav"
    sf.write(good, speechlike(16000, 1.0), 16000, subtype="PCM_16")
    raw = good.read_bytes()
    files = {}
    files["missing"] = (tmp_path / "nope.wav", "not found")
    (tmp_path / "empty.wav").write_bytes(b"")
    files["empty"] = (tmp_path / "empty.wav", "empty")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFX not a wave at all" + bytes(range(200)))
    files["corrupt"] = (tmp_path / "corrupt.wav", "corrupt|cannot decode")
    (tmp_path / "trunc.wav").write_bytes(raw[: len(raw) // 2])
    files["truncated"] = (tmp_path / "trunc.wav", "truncated")
    (tmp_path / "hdr.wav").write_bytes(raw[:30])
    files["truncated header"] = (tmp_path / "hdr.wav", "truncated")
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    files["zero-length"] = (tmp_path / "zero.wav", "zero-length")
    nan = speechlike(16000, 0.5)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    files["nan"] = (tmp_path / "nan.wav", "NaN")
    (tmp_path / "notes.xyz").write_text("hello, I am not a media file\n" * 20)
    files["unsupported"] = (tmp_path / "notes.xyz", "cannot decode|no audio")
    return files


def test_bad_files_raise_valueerror_naming_file(tmp_path):
    for kind, (path, pattern) in _bad_files(tmp_path).items():
        with pytest.raises(ValueError, match=pattern) as info:
            load_audio(path)
        assert path.name in str(info.value), kind


def test_video_without_audio_track(tmp_path):
    av = pytest.importorskip("av")
    p = tmp_path / "silent.mp4"
    with av.open(str(p), mode="w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in vs.encode(None):
            c.mux(pkt)
    with pytest.raises(ValueError, match="no audio stream") as info:
        load_audio(p)
    assert "silent.mp4" in str(info.value)


# ------------------------------------------------------------------------------------------ batches
def test_many_equals_one_by_one():
    ys = [speechlike(16000, s, i) for i, s in enumerate([0.2, 1.0, 2.5, 0.9])]
    many = logmel_segments_many(ys, 16000, workers=2)
    for y, m in zip(ys, many):
        assert np.array_equal(m, logmel_segments(y, 16000))


def test_iter_streams_in_order_and_skips_bad_file(tmp_path):
    paths = []
    for i, s in enumerate([1.0, 0.4, 2.0]):
        p = tmp_path / f"u{i}.wav"
        sf.write(p, speechlike(22050, s, i), 22050, subtype="PCM_16")
        paths.append(p)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(paths[0].read_bytes()[:300])
    paths.insert(2, bad)
    recs = list(iter_logmel_segments(paths, workers=2, progress=False, on_error="skip"))
    assert [r.index for r in recs] == [0, 1, 2, 3] and [r.path for r in recs] == [str(p) for p in paths]
    assert recs[2].segments is None and isinstance(recs[2].error, ValueError)
    assert "broken.wav" in str(recs[2].error)
    for r in (recs[0], recs[1], recs[3]):
        assert r.error is None
        y, sr = load_audio(r.path)
        assert np.array_equal(r.segments, logmel_segments(y, sr))
    with pytest.raises(ValueError, match="broken.wav"):
        list(iter_logmel_segments(paths, workers=2, progress=False))
    small = list(iter_logmel_segments(paths[:2], progress=False, n_mels=40, frames=32, overlap=8))
    assert small[0].segments.shape[1:] == (3, 40, 32)


def test_iter_early_stop_does_not_hang(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"e{i}.wav"
        sf.write(p, speechlike(16000, 0.7, i), 16000)
        paths.append(p)
    gen = iter_logmel_segments(paths, workers=2, progress=False)
    first = next(gen)
    gen.close()
    assert first.index == 0 and first.segments.shape[1:] == (3, 64, 64)


# ------------------------------------------------------------------------------------------ corpus
@pytest.mark.corpus
def test_emodb_sample(emodb_root):
    files = sorted((emodb_root / "wav").glob("*.wav"))
    assert len(files) == 535
    recs = list(iter_logmel_segments(files[::180], progress=False))
    for r in recs:
        assert r.error is None and r.segments.shape[1:] == (3, 64, 64) and r.segments.shape[0] >= 1
        assert np.isfinite(r.segments).all()
    y, sr = load_audio(files[0], sr=None)
    assert sr == 22050
    cfg = LogMelConfig(sr=22050)
    assert np.abs(logmel_segments(y, sr, cfg) - librosa_segments(y, cfg)).max() <= TOL


# ------------------------------------------------------------------------------------------ import
def test_import_is_light():
    code = ("import sys, emofast, emofast.audio; "
            "assert 'numba' not in sys.modules and 'librosa' not in sys.modules, sorted(sys.modules); "
            "assert callable(emofast.logmel_segments) and callable(emofast.load_audio)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_errors_use_the_error_root(tmp_path):
    from emofast.errors import EmofastError, InputError, MediaError, MissingFileError

    files = _bad_files(tmp_path)
    with pytest.raises(MissingFileError, match="nope.wav"):
        load_audio(files["missing"][0])
    for kind in ("empty", "corrupt", "truncated", "zero-length", "nan", "unsupported"):
        with pytest.raises(MediaError) as info:
            load_audio(files[kind][0])
        assert files[kind][0].name in str(info.value), kind
    with pytest.raises(InputError, match="sample rate"):
        load_audio(files["corrupt"][0], sr=0)
    with pytest.raises(InputError, match="LogMelConfig"):
        LogMelConfig(n_mels=0)
    with pytest.raises(InputError, match="zero-length"):
        logmel_segments(np.zeros(0, np.float32), 16000)
    with pytest.raises(EmofastError):
        list(iter_logmel_segments([files["corrupt"][0]], progress=False))


def test_kernels_are_module_level_and_imported_on_first_use():
    code = ("import sys, numpy as np, emofast.audio as a; "
            "assert 'emofast.audio.kernels' not in sys.modules and 'numba' not in sys.modules; "
            "a.logmel(np.ones(800, np.float32), 16000); "
            "from numba.core.registry import CPUDispatcher; import emofast.audio.kernels as k; "
            "assert all(isinstance(getattr(k, n), CPUDispatcher) for n in k.__all__)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
