"""The public feature transforms of one utterance: :func:`logmel`, :func:`deltas`, :func:`logmel_segments`.

Waveform checks and padding, then framing → FFT → Mel → log in cache-sized blocks, then Δ/ΔΔ and the
segment cut in one kernel pass (see :mod:`emofast.audio` for the conventions). The Numba kernels
(:mod:`emofast.audio.kernels`) are imported on the first call, so importing this module stays cheap.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from emofast.audio.config import LogMelConfig, _resolve_config
from emofast.audio.filters import _plan, _savgol_delta_coeffs
from emofast.audio.io import _resample
from emofast.errors import InputError

__all__ = ["logmel", "deltas", "logmel_segments"]

_FRAME_BLOCK = 128  # frames per framing -> FFT -> Mel block (see _log_mel)


def _as_waveform(y: Any, what: str = "audio") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"{what}: expected a mono 1-D waveform, got shape {y.shape}")
    if y.dtype.kind not in "fiu":
        raise InputError(f"{what}: unsupported sample dtype {y.dtype}")
    if y.dtype.kind in "iu":
        y = _int_to_float(y)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.size == 0:
        raise InputError(f"{what}: zero-length audio (no samples)")
    from emofast.audio import kernels

    bad = kernels.count_nonfinite(y)
    if bad:
        raise InputError(f"{what}: {bad} NaN/Inf sample(s)")
    return y


def _int_to_float(a: np.ndarray) -> np.ndarray:
    info = np.iinfo(a.dtype)
    if info.min == 0:  # unsigned, offset binary (e.g. 8-bit PCM)
        mid = (info.max + 1) // 2
        return ((a.astype(np.float64) - mid) / mid).astype(np.float32)
    return (a.astype(np.float32) / np.float32(-float(info.min)))


def _pad_to(y: np.ndarray, length: int, policy: str) -> np.ndarray:
    if y.shape[0] >= length:
        return y
    if policy == "repeat":
        return np.resize(y, length)  # tiles y
    if policy == "reflect":
        return np.pad(y, (0, length - y.shape[0]), mode="reflect" if y.shape[0] > 1 else "edge")
    return np.pad(y, (0, length - y.shape[0]))


def _prepare(y: Any, sr: int, cfg: LogMelConfig, min_len: int, what: str) -> np.ndarray | None:
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"{what}: sample rate must be a positive integer, got {sr!r}")
    y = _resample(_as_waveform(y, what), int(sr), cfg.sr)
    if y.shape[0] < min_len:
        if cfg.pad == "drop":
            return None
        y = _pad_to(y, min_len, cfg.pad)
    return y


def _log_mel(y: np.ndarray, cfg: LogMelConfig) -> tuple[np.ndarray, float]:
    """``(L, scale)`` with the log-Mel spectrogram equal to ``scale · L``, ``(n_mels, T)`` float32.

    The dB factor 10 is left to the caller so the segment kernel can fold it into its single pass.
    """
    from scipy.fft import rfft

    from emofast.audio import kernels as k

    p = _plan(cfg)
    n_frames = 1 + (y.shape[0] - p.win) // p.hop
    out = np.empty((cfg.n_mels, n_frames), np.float32)
    # Blocks of frames: the frame buffer, its spectrum and the power spectrum of one block stay in
    # the L2 cache (a 9 s utterance's would not); the buffer is reused across blocks.
    block = min(_FRAME_BLOCK, n_frames)
    buf = np.empty((block, p.n_fft), np.float32)
    for t0 in range(0, n_frames, block):
        n = min(block, n_frames - t0)
        b = buf[:n]
        k.frame_window(y[t0 * p.hop:(t0 + n - 1) * p.hop + p.win], p.window, p.hop, b)
        spec = rfft(b, axis=1, workers=1).view(np.float32)
        k.mel_bands(spec, p.bin_lo, p.bin_hi, p.mel_lo, p.mel_len, p.mel_off, p.mel_w,
                       float(cfg.power), float(cfg.floor), out, t0)
    scale = 1.0
    if cfg.log == "ln":
        np.log(out, out=out)
    else:
        np.log10(out, out=out)
        if cfg.log == "db":
            scale = 10.0
    if cfg.top_db is not None:
        if scale != 1.0:
            out *= np.float32(scale)
            scale = 1.0
        np.maximum(out, out.max() - np.float32(cfg.top_db), out=out)
    return out, scale


def _logmel_core(y: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    out, scale = _log_mel(y, cfg)
    if scale != 1.0:
        out *= np.float32(scale)
    return out


def logmel(y: np.ndarray, sr: int, config: LogMelConfig | None = None, **overrides: Any) -> np.ndarray:
    """Log-Mel spectrogram of one utterance (frames not centred).

    Parameters
    ----------
    y : np.ndarray
        Mono waveform, 1-D, float or integer PCM (integers are scaled to [-1, 1)).
    sr : int
        Sample rate of ``y`` in Hz; ``y`` is resampled to ``config.sr`` when they differ.
    config : LogMelConfig, optional
        Feature settings (papers' defaults when omitted).
    **overrides
        Any :class:`LogMelConfig` field, e.g. ``n_mels=40, log="ln"``.

    Returns
    -------
    np.ndarray
        ``(n_mels, n_frames)`` float32 with ``n_frames = 1 + (len(y) - win_length) // hop_length``.
        Inputs shorter than one analysis window are padded by ``config.pad`` (``"drop"`` gives
        ``n_frames = 0``).

    Raises
    ------
    emofast.errors.InputError
        Zero-length input, NaN/Inf samples, non-1-D input or an invalid setting (a ``ValueError``).
    """
    cfg = _resolve_config(config, overrides)
    y = _prepare(y, sr, cfg, cfg.win_length, "logmel")
    if y is None:
        return np.zeros((cfg.n_mels, 0), np.float32)
    return _logmel_core(y, cfg)


def deltas(S: np.ndarray, width: int = 9, order: int = 1, axis: int = -1) -> np.ndarray:
    """Savitzky–Golay derivative along ``axis``, equal to ``librosa.feature.delta(S, width=width,
    order=order, axis=axis, mode="interp")``.

    Parameters
    ----------
    S : np.ndarray
        Features, e.g. a ``(n_mels, n_frames)`` log-Mel spectrogram.
    width : int
        Odd window length in frames, ``3 <= width <= S.shape[axis]`` (9).
    order : int
        Derivative order (1: Δ, 2: ΔΔ as a second-order fit, not Δ of Δ); ``1 <= order < width``.
    axis : int
        Time axis (-1).

    Returns
    -------
    np.ndarray
        float32 array of ``S``'s shape. For width 9, order 1 this is the N = 4 regression
        ``Σ_k k·S[t+k] / Σ_k k²``; edge frames repeat the nearest full-window value.
    """
    S = np.asarray(S)
    if S.ndim == 0:
        raise InputError("deltas: S must have at least one dimension")
    if not isinstance(width, (int, np.integer)) or width < 3 or width % 2 == 0:
        raise InputError(f"deltas: width={width!r} must be an odd integer >= 3")
    if not isinstance(order, (int, np.integer)) or not 1 <= order < width:
        raise InputError(f"deltas: order={order!r} must be an integer in [1, width)")
    n = S.shape[axis]
    if n < width:
        raise InputError(f"deltas: width={width} exceeds the {n} frames along axis {axis}")
    if not np.isfinite(S).all():
        raise InputError("deltas: S contains NaN/Inf")
    moved = np.moveaxis(S, axis, -1)
    x = np.ascontiguousarray(moved.reshape(-1, n), dtype=np.float32)
    out = np.empty_like(x)
    from emofast.audio import kernels

    kernels.delta_rows(x, _savgol_delta_coeffs(int(width), int(order)), out)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def logmel_segments(y: np.ndarray, sr: int, config: LogMelConfig | None = None,
                    **overrides: Any) -> np.ndarray:
    """3-channel log-Mel segments of one utterance, the papers' 64 × 64 × 3 CNN input.

    Parameters
    ----------
    y : np.ndarray
        Mono waveform (1-D float or integer PCM).
    sr : int
        Sample rate of ``y``; resampled to ``config.sr`` when different.
    config : LogMelConfig, optional
        Settings; defaults: 16 kHz, 64 Mel bands 20–8000 Hz, 25 ms Hamming window, 10 ms hop,
        dB log with a 1e-10 floor, Δ/ΔΔ width 9, 64-frame segments overlapping by 30 frames,
        ``pad="repeat"``.
    **overrides
        Any :class:`LogMelConfig` field (``frames=64, overlap=30, n_mels=...``).

    Returns
    -------
    np.ndarray
        ``(N, 3, n_mels, frames)`` float32 — axis order (segment, channel, mel, frame), channels
        (static, Δ, ΔΔ). ``N = 1 + (n_frames - frames) // (frames - overlap)``; ``N = 0`` only with
        ``pad="drop"`` for an utterance shorter than one segment.

    Raises
    ------
    emofast.errors.InputError
        Zero-length input, NaN/Inf samples, non-1-D input or an invalid setting (a ``ValueError``).
    """
    cfg = _resolve_config(config, overrides)
    return _segments_one(y, sr, cfg, "logmel_segments")


def _segments_one(y: Any, sr: int, cfg: LogMelConfig, what: str) -> np.ndarray:
    y = _prepare(y, sr, cfg, cfg.segment_samples, what)
    if y is None:
        return np.zeros((0, 3, cfg.n_mels, cfg.frames), np.float32)
    p = _plan(cfg)
    step = cfg.frames - cfg.overlap
    n_frames = 1 + (y.shape[0] - p.win) // p.hop
    n_seg = 1 + (n_frames - cfg.frames) // step
    if cfg.top_db is None:
        # Frames after the last segment (plus the Δ half-width it needs as context) are dropped, so
        # they are not computed: bit-identical, since every kept frame's Δ window lies inside the
        # kept frames and the end-of-utterance edge rule still applies when nothing is cut. (top_db
        # clips to the whole utterance's maximum, so it needs every frame.)
        keep = min(n_frames, cfg.frames + step * (n_seg - 1) + cfg.delta_width // 2)
        y = y[:(keep - 1) * p.hop + p.win]
    lm, scale = _log_mel(y, cfg)
    out = np.empty((n_seg, 3, cfg.n_mels, cfg.frames), np.float32)
    from emofast.audio import kernels

    kernels.segments(lm, p.c1, p.c2, np.float32(scale), step, out)
    return out
