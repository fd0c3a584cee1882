"""Windows, the Mel filterbank, Savitzky–Golay taps and the per-configuration plan (numpy/scipy).

Everything here is computed once per configuration (:func:`_plan` is cached) and handed to the
Numba kernels of :mod:`emofast.audio.kernels` as plain arrays.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from emofast.audio.config import LogMelConfig

__all__ = ["mel_filterbank"]


_COSINE_WINDOWS = {"hamming": (0.54, 0.46), "hann": (0.5, 0.5), "hanning": (0.5, 0.5)}


def _window(window: str | tuple, n: int) -> np.ndarray:
    """Periodic window (``scipy.signal.get_window(window, n, fftbins=True)``), float32.

    Hamming and Hann are computed directly (``a - b·cos(2πk/n)``) so the common path never imports
    ``scipy.signal``; any other scipy window name or tuple is delegated to scipy.
    """
    if isinstance(window, str) and window in _COSINE_WINDOWS:
        a, b = _COSINE_WINDOWS[window]
        return (a - b * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)
    from scipy.signal import get_window

    return get_window(window, n, fftbins=True).astype(np.float32)


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int, n_fft: int, n_mels: int = 64, fmin: float = 20.0, fmax: float | None = 8000.0,
                   mel_scale: str = "slaney", mel_norm: str | None = "slaney") -> np.ndarray:
    """Triangular Mel filterbank, shape ``(n_mels, n_fft // 2 + 1)`` float32.

    Same construction as ``librosa.filters.mel`` (float64 arithmetic, cast at the end).
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    htk = mel_scale == "htk"
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if mel_norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def _savgol_delta_coeffs(width: int, order: int) -> np.ndarray:
    """Correlation taps of librosa's ``delta(width, order, mode="interp")``.

    The Savitzky–Golay filter with ``polyorder = deriv = order``: the minimum-norm solution ``c`` of
    ``Σ_k c_k · k^j = order! · [j == order]`` for ``j = 0..order``, ``k = -width//2..width//2`` (what
    ``scipy.signal.savgol_coeffs(width, order, deriv=order, use="dot")`` computes).
    """
    h = width // 2
    k = np.arange(-h, h + 1, dtype=np.float64)
    A = k[None, :] ** np.arange(order + 1, dtype=np.float64)[:, None]  # (order+1, width)
    rhs = np.zeros(order + 1)
    rhs[order] = math.factorial(order)
    return (A.T @ np.linalg.solve(A @ A.T, rhs)).astype(np.float32)


class _Plan(NamedTuple):
    win: int
    hop: int
    n_fft: int
    window: np.ndarray
    bin_lo: int
    bin_hi: int
    mel_lo: np.ndarray   # first bin of each band (relative to bin_lo)
    mel_len: np.ndarray  # number of bins of each band
    mel_off: np.ndarray  # offset of each band in mel_w
    mel_w: np.ndarray
    c1: np.ndarray
    c2: np.ndarray


@lru_cache(maxsize=64)
def _plan(cfg: LogMelConfig) -> _Plan:
    win, hop, n_fft = cfg.win_length, cfg.hop_length, cfg.fft_size
    fb = mel_filterbank(cfg.sr, n_fft, cfg.n_mels, cfg.fmin, cfg.fmax, cfg.mel_scale, cfg.mel_norm)
    nz = fb > 0
    any_bin = np.flatnonzero(nz.any(axis=0))
    bin_lo = int(any_bin[0]) if any_bin.size else 0
    bin_hi = int(any_bin[-1]) + 1 if any_bin.size else 1
    lo = np.zeros(cfg.n_mels, np.int64)
    ln = np.zeros(cfg.n_mels, np.int64)
    chunks = []
    for m in range(cfg.n_mels):
        idx = np.flatnonzero(nz[m])
        if idx.size:
            a, b = int(idx[0]), int(idx[-1]) + 1
            lo[m], ln[m] = a - bin_lo, b - a
            chunks.append(fb[m, a:b])
    off = np.concatenate([[0], np.cumsum(ln)[:-1]]).astype(np.int64)
    w = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(1, np.float32)
    return _Plan(win, hop, n_fft, _window(cfg.window, win), bin_lo, bin_hi, lo, ln, off, w,
                 _savgol_delta_coeffs(cfg.delta_width, 1), _savgol_delta_coeffs(cfg.delta_width, 2))
