"""Audio features: loading, resampling and 3-channel log-Mel segments.

Pipeline (all steps but the FFT are Numba kernels, compiled on first call and cached on disk)::

    waveform ─► frames × window ─► rfft (scipy.fft) ─► power ─► Mel ─► log ─► Δ, ΔΔ ─► segments

Conventions (the defaults follow the papers; every one is a :class:`LogMelConfig` field)

* **Frames are not centred.** Frame ``t`` covers samples ``[t·hop, t·hop + win_length)``; an utterance of
  ``L`` samples has ``1 + (L - win_length) // hop`` frames. A 64-frame context window therefore spans
  ``10 ms × 63 + 25 ms = 655 ms``, as in the papers. The ``win_length`` windowed samples are zero-padded to
  ``n_fft`` (the Kaldi/torchaudio convention). librosa with ``center=False`` centres a short window inside
  its ``n_fft`` frame instead; it gives identical numbers when ``y`` is padded by
  ``(n_fft - win_length) // 2`` zeros on the left (and the rest on the right) — the parity tests do this.
* **Window**: periodic, as ``scipy.signal.get_window(window, win_length, fftbins=True)`` (librosa's
  choice); Hamming and Hann are computed in numpy, other names are delegated to scipy.
  ``win_length = round(sr · win_ms / 1000)``, ``hop = round(sr · hop_ms / 1000)``, ``n_fft`` defaults to the
  next power of two ≥ ``win_length`` (512 at 16 kHz).
* **Mel filterbank**: identical to ``librosa.filters.mel`` (Slaney or HTK Mel scale, Slaney area
  normalisation or none).
* **Log**: ``"db"`` = ``10·log10(max(S, floor))`` (``librosa.power_to_db(S, ref=1, amin=floor, top_db=...)``),
  ``"ln"`` = ``log(max(S, floor))``, ``"log10"`` = ``log10(max(S, floor))``. All-zero audio gives the floor.
* **Deltas**: the Savitzky–Golay filter of ``librosa.feature.delta(S, width, order, mode="interp")``:
  Δ is the order-1 fit over ``width`` frames (for width 9, the N = 4 regression ``Σ k·x[t+k] / Σ k²``),
  ΔΔ is the order-2 Savitzky–Golay second derivative (``delta(S, order=2)``, *not* Δ of Δ). At the edges the
  polynomial fitted to the first/last ``width`` frames is used, i.e. the nearest full-window value is
  repeated. This is not torchaudio's ``compute_deltas`` (N = 2 regression with replicate padding).
  Deltas are computed over the whole utterance, then cut into segments, so segments see true context.
* **Segments**: ``frames`` frames every ``frames - overlap`` frames; trailing frames that do not fill a
  segment are dropped. Output axis order is ``(N, channel, mel, frame)`` with channels
  ``(static, Δ, ΔΔ)``, float32, C-contiguous.
* **Short utterances**: shorter than one context window (``win_length + hop·(frames-1)`` samples) are
  padded by the ``pad`` policy: ``"repeat"`` (tile the utterance), ``"reflect"``, ``"zero"``, or ``"drop"``
  (no segments).
* **Resampling**: ``scipy.signal.resample_poly`` (polyphase FIR, Kaiser β = 5 window, scipy's default
  filter), ratio reduced by the gcd. It is exact-rate and deterministic across platforms.

FFT: ``scipy.fft.rfft`` (pocketfft, float32) with ``workers=1`` (no hidden thread pools, GIL released).
``torch.fft.rfft`` (MKL) is ~2.5x faster per frame, but importing torch takes 3-5 s on the development
machine (numba + scipy.fft: ~0.5-1 s), which would break the ≤ 2 s first-call target, and a
feature-extraction worker should not need torch.

Data flow (what makes it fast): frames are processed in blocks of 128 (frame buffer, spectrum and power
spectrum stay in the L2 cache; the buffer is reused); the power spectrum is stored bin-major so each
sparse Mel band is a sum of a few whole rows vectorised over frames, floored in the same pass; one
in-place ``log10``; Δ and ΔΔ are computed straight into each output segment (dB factor folded in), so
no full-utterance (3, n_mels, T) array exists. Resampling filters and configurations are built once.

Threads and caching: the Numba kernels are serial and release the GIL; parallelism across utterances
and files comes from a thread pool (``workers``, default ``NUMBA_NUM_THREADS``, i.e. the core count unless
that environment variable caps it), so nothing is oversubscribed. Compiled kernels are cached next to this
file (``__pycache__``); set ``NUMBA_CACHE_DIR`` to cache elsewhere (e.g. read-only installs).
"""
from __future__ import annotations

import functools
import math
import os
import struct
from contextlib import closing
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from emofast.corpora import MissingPathError
from emofast.errors import InputError, MediaError
from emofast.parallel import ordered_map

__all__ = [
    "LogMelConfig",
    "SegmentsResult",
    "load_audio",
    "logmel",
    "deltas",
    "logmel_segments",
    "logmel_segments_many",
    "iter_logmel_segments",
]

#: Bumped whenever an algorithm change alters feature values (part of :meth:`LogMelConfig.to_dict`).
FEATURE_VERSION = 1

_LOG_FORMS = {"db": 0, "ln": 1, "log10": 2}
_PAD_POLICIES = ("repeat", "reflect", "zero", "drop")
_SOUNDFILE_EXTS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au",
                   ".snd", ".caf", ".w64", ".rf64", ".sf", ".voc", ".nist", ".sph", ".htk", ".svx"}


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogMelConfig:
    """Every setting of the log-Mel segment features, with the papers' defaults.

    Parameters
    ----------
    sr : int
        Analysis sample rate in Hz (16000). Input at another rate is resampled to it.
    n_mels : int
        Number of Mel bands (64).
    fmin, fmax : float
        Lowest and highest filterbank frequency in Hz (20, 8000). ``fmax=None`` means ``sr / 2``.
    win_ms, hop_ms : float
        Analysis window and hop in milliseconds (25, 10); rounded to whole samples.
    window : str or tuple
        Window name understood by ``scipy.signal.get_window`` ("hamming", periodic).
    n_fft : int or None
        FFT size; ``None`` selects the next power of two ≥ the window length.
    mel_scale : {"slaney", "htk"}
        Mel scale formula ("slaney", librosa's default).
    mel_norm : {"slaney", None}
        Filter normalisation: "slaney" divides each triangle by its bandwidth (area 1); ``None`` keeps
        unit peaks.
    power : float
        Exponent of the magnitude spectrum (2.0: power spectrum).
    log : {"db", "ln", "log10"}
        Log form applied to ``max(S, floor)``; "db" is ``10·log10``.
    floor : float
        Smallest Mel energy before the log (1e-10, i.e. -100 dB).
    top_db : float or None
        If set, clip each utterance's log-Mel to ``max - top_db`` (in the units of ``log``).
    delta_width : int
        Odd Savitzky–Golay window for Δ and ΔΔ, in frames (9).
    frames : int
        Frames per segment (64).
    overlap : int
        Frames shared by consecutive segments (30; hop of 34 frames).
    pad : {"repeat", "reflect", "zero", "drop"}
        Policy for utterances shorter than one segment ("repeat").
    """

    sr: int = 16000
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float | None = 8000.0
    win_ms: float = 25.0
    hop_ms: float = 10.0
    window: str | tuple = "hamming"
    n_fft: int | None = None
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    power: float = 2.0
    log: str = "db"
    floor: float = 1e-10
    top_db: float | None = None
    delta_width: int = 9
    frames: int = 64
    overlap: int = 30
    pad: str = "repeat"

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> InputError:
            return InputError(f"LogMelConfig: {name}={getattr(self, name)!r} {why}")

        if isinstance(self.window, list):
            object.__setattr__(self, "window", tuple(self.window))
        for name in ("sr", "n_mels", "delta_width", "frames"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise bad(name, "must be a positive integer")
        if not (0 <= self.fmin) or (self.fmax is not None and self.fmax <= self.fmin):
            raise bad("fmin", f"must satisfy 0 <= fmin < fmax (fmax={self.fmax!r})")
        if self.fmax is not None and self.fmax > self.sr / 2:
            raise bad("fmax", f"exceeds the Nyquist frequency {self.sr / 2:g} Hz of sr={self.sr}; "
                              "lower it or pass fmax=None")
        if self.win_ms <= 0 or self.hop_ms <= 0:
            raise InputError(f"LogMelConfig: win_ms={self.win_ms!r} and hop_ms={self.hop_ms!r} must be > 0")
        win = self.win_length
        if win < 2 or self.hop_length < 1:
            raise bad("win_ms", f"gives a window of {win} samples at sr={self.sr}; need at least 2")
        if self.n_fft is not None and (not isinstance(self.n_fft, (int, np.integer)) or self.n_fft < win):
            raise bad("n_fft", f"must be an integer >= the window length ({win} samples)")
        if self.mel_scale not in ("slaney", "htk"):
            raise bad("mel_scale", "must be 'slaney' or 'htk'")
        if self.mel_norm not in ("slaney", None):
            raise bad("mel_norm", "must be 'slaney' or None")
        if not self.power > 0:
            raise bad("power", "must be > 0")
        if self.log not in _LOG_FORMS:
            raise bad("log", f"must be one of {sorted(_LOG_FORMS)}")
        if not self.floor > 0:
            raise bad("floor", "must be > 0")
        if self.top_db is not None and not self.top_db >= 0:
            raise bad("top_db", "must be >= 0 or None")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise bad("delta_width", "must be odd and >= 3")
        if self.frames < self.delta_width:
            raise bad("frames", f"must be >= delta_width={self.delta_width}")
        if not isinstance(self.overlap, (int, np.integer)) or not 0 <= self.overlap < self.frames:
            raise bad("overlap", f"must be an integer in [0, frames={self.frames})")
        if self.pad not in _PAD_POLICIES:
            raise bad("pad", f"must be one of {_PAD_POLICIES}")
        try:
            _window(self.window, win)
        except ValueError as exc:
            raise bad("window", f"is not a scipy window: {exc}") from None

    # derived sizes ---------------------------------------------------------------------------------
    @property
    def win_length(self) -> int:
        """Window length in samples, ``round(sr · win_ms / 1000)``."""
        return int(round(self.sr * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        """Hop in samples, ``round(sr · hop_ms / 1000)``."""
        return int(round(self.sr * self.hop_ms / 1000.0))

    @property
    def fft_size(self) -> int:
        """The FFT size actually used (``n_fft`` or the next power of two ≥ ``win_length``)."""
        return int(self.n_fft) if self.n_fft is not None else 1 << (self.win_length - 1).bit_length()

    @property
    def segment_samples(self) -> int:
        """Samples spanned by one segment: ``win_length + hop_length · (frames - 1)``."""
        return self.win_length + self.hop_length * (self.frames - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, key-sorted settings plus the feature algorithm version (for keying stores)."""
        d = asdict(self)
        if isinstance(d["window"], tuple):
            d["window"] = list(d["window"])
        for k in ("fmin", "fmax", "win_ms", "hop_ms", "power", "floor", "top_db"):
            if d[k] is not None:
                d[k] = float(d[k])
        for k in ("sr", "n_mels", "n_fft", "delta_width", "frames", "overlap"):
            if d[k] is not None:
                d[k] = int(d[k])
        d["feature_version"] = FEATURE_VERSION
        return dict(sorted(d.items()))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LogMelConfig":
        """Inverse of :meth:`to_dict` (ignores ``feature_version``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@lru_cache(maxsize=1)
def _default_config() -> LogMelConfig:
    return LogMelConfig()


@lru_cache(maxsize=64)
def _replace_cached(config: LogMelConfig, key: tuple) -> LogMelConfig:
    return replace(config, **{name: value for name, _, value in key})


def _resolve_config(config: LogMelConfig | None, overrides: dict[str, Any]) -> LogMelConfig:
    # Validating a LogMelConfig costs tens of µs (a few % of a 2 s utterance's features), so the
    # default and overridden configs are built once; the key holds each value's type so that e.g.
    # n_mels=64.0 is still rejected after n_mels=64 was accepted.
    if config is None:
        config = _default_config()
    elif not isinstance(config, LogMelConfig):
        raise TypeError(f"config must be a LogMelConfig or None, got {type(config).__name__}")
    if overrides:
        unknown = set(overrides) - {f.name for f in fields(LogMelConfig)}
        if unknown:
            raise TypeError(f"unknown log-Mel setting(s): {sorted(unknown)}")
        key = tuple((name, type(v), v) for name, v in sorted(overrides.items()))
        try:
            hash(key)
        except TypeError:  # unhashable value (e.g. a list window): validate without caching
            return replace(config, **overrides)
        config = _replace_cached(config, key)
    return config


# --------------------------------------------------------------------------------------------------
# Filters (numpy/scipy, computed once per configuration)
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# Numba kernels (compiled lazily on first call, cached on disk; serial and GIL-free)
# --------------------------------------------------------------------------------------------------
_KERNELS: dict[str, Any] = {}
_FRAME_BLOCK = 128  # frames per framing -> FFT -> Mel block (see _log_mel)


def _kernels() -> dict[str, Any]:
    if _KERNELS:
        return _KERNELS
    import numba

    jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    # reassociation lets LLVM vectorise the reductions; no nnan/ninf, so NaN checks stay valid
    fjit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

    @jit
    def count_nonfinite(y):
        n = 0
        for i in range(y.shape[0]):
            v = y[i]
            if v - v != 0.0:  # NaN or ±Inf
                n += 1
        return n

    @fjit
    def frame_window(y, window, hop, out):
        # out: (T, n_fft) frames, windowed and zero-padded. Slices keep the indices non-negative so
        # LLVM vectorises without wraparound checks.
        n_frames, n_fft = out.shape
        win = window.shape[0]
        for t in range(n_frames):
            o = out[t]
            x = y[t * hop:t * hop + win]
            for i in range(win):
                o[i] = x[i] * window[i]
            for i in range(win, n_fft):
                o[i] = 0.0

    @fjit
    def mel_bands(spec, bin_lo, bin_hi, mel_lo, mel_len, mel_off, mel_w, power, floor, out, t0):
        # spec: (n, 2*n_bins) float32 view of the complex rfft of frames t0..t0+n; out: (n_mels, T)
        # Mel energies, floored, written to columns t0..t0+n. The power spectrum is stored bin-major
        # (P[k, t]) so that every band is a sum of a few whole rows, vectorised over frames; each band
        # touches only its own bins (sparse).
        n = spec.shape[0]
        n_mels = mel_lo.shape[0]
        nb = bin_hi - bin_lo
        # Row stride: an odd number of 64-byte lines. With a power-of-two stride (e.g. 128-frame blocks)
        # the column writes below would all map to a few L1 sets and miss (2x slower).
        lines = (n + 15) // 16
        P = np.empty((nb, 16 * (lines + 1 - lines % 2)), np.float32)
        for t in range(n):
            row = spec[t, 2 * bin_lo:2 * bin_hi]
            for k in range(nb):
                re = row[2 * k]
                im = row[2 * k + 1]
                P[k, t] = re * re + im * im
        half = np.float32(power * 0.5)
        if half != 1.0:
            for k in range(nb):
                pk = P[k]
                for t in range(n):
                    pk[t] = pk[t] ** half
        fl = np.float32(floor)
        for m in range(n_mels):
            a = mel_lo[m]
            o = mel_off[m]
            ln = mel_len[m]
            acc = out[m, t0:t0 + n]
            if ln == 0:
                for t in range(n):
                    acc[t] = fl
                continue
            w0 = mel_w[o]
            p0 = P[a]
            for t in range(n):
                acc[t] = w0 * p0[t]
            i = 1
            while i + 1 < ln:  # two bins per pass over the row
                wa = mel_w[o + i]
                wb = mel_w[o + i + 1]
                pa = P[a + i]
                pb = P[a + i + 1]
                for t in range(n):
                    acc[t] += wa * pa[t] + wb * pb[t]
                i += 2
            if i < ln:
                wa = mel_w[o + i]
                pa = P[a + i]
                for t in range(n):
                    acc[t] += wa * pa[t]
            for t in range(n):
                acc[t] = max(acc[t], fl)

    @fjit
    def _sg_row(xr, c, out):
        # Savitzky–Golay (deriv == polyorder) of one row; edges repeat the nearest full-window value.
        n = xr.shape[0]
        w = c.shape[0]
        h = w // 2
        for t in range(h, n - h):
            acc = np.float32(0.0)
            for k in range(w):
                acc += c[k] * xr[t - h + k]
            out[t] = acc
        for t in range(h):
            out[t] = out[h]
            out[n - 1 - t] = out[n - 1 - h]

    @fjit
    def delta_rows(x, c, out):
        for r in range(x.shape[0]):
            _sg_row(x[r], c, out[r])

    @fjit
    def segments(lm, c1, c2, scale, step, out):
        # lm: (n_mels, T) log-Mel (multiplied by ``scale`` on the way out); out: (N, 3, n_mels, frames).
        # Δ/ΔΔ are computed straight into each segment from the whole utterance's frames (segments see
        # true context), vectorised over frames; frames within width//2 of the utterance's ends repeat
        # the nearest full-window value.
        n_mels, n = lm.shape
        n_seg = out.shape[0]
        frames = out.shape[3]
        w = c1.shape[0]
        h = w // 2
        for s in range(n_seg):
            t0 = s * step
            f_lo = max(0, h - t0)  # valid Savitzky–Golay centres in this segment: [f_lo, f_hi)
            f_hi = min(frames, n - h - t0)
            nv = f_hi - f_lo
            for m in range(n_mels):
                row = lm[m]
                o0 = out[s, 0, m]
                src = row[t0:t0 + frames]
                for f in range(frames):
                    o0[f] = src[f] * scale
                o1 = out[s, 1, m, f_lo:f_hi]
                o2 = out[s, 2, m, f_lo:f_hi]
                x = row[t0 + f_lo - h:t0 + f_hi - h]
                a = c1[0] * scale
                b = c2[0] * scale
                for f in range(nv):
                    o1[f] = a * x[f]
                    o2[f] = b * x[f]
                for k in range(1, w):
                    a = c1[k] * scale
                    b = c2[k] * scale
                    x = row[t0 + f_lo - h + k:t0 + f_hi - h + k]
                    for f in range(nv):
                        o1[f] += a * x[f]
                        o2[f] += b * x[f]
                for c in range(1, 3):
                    oc = out[s, c, m]
                    for f in range(f_lo):
                        oc[f] = oc[f_lo]
                    for f in range(f_hi, frames):
                        oc[f] = oc[f_hi - 1]

    _KERNELS.update(count_nonfinite=count_nonfinite, frame_window=frame_window, mel_bands=mel_bands,
                    delta_rows=delta_rows, segments=segments)
    return _KERNELS


# --------------------------------------------------------------------------------------------------
# Waveform helpers
# --------------------------------------------------------------------------------------------------
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
    bad = _kernels()["count_nonfinite"](y)
    if bad:
        raise InputError(f"{what}: {bad} NaN/Inf sample(s)")
    return y


def _int_to_float(a: np.ndarray) -> np.ndarray:
    info = np.iinfo(a.dtype)
    if info.min == 0:  # unsigned, offset binary (e.g. 8-bit PCM)
        mid = (info.max + 1) // 2
        return ((a.astype(np.float64) - mid) / mid).astype(np.float32)
    return (a.astype(np.float32) / np.float32(-float(info.min)))


@lru_cache(maxsize=16)
def _resample_filter(up: int, down: int) -> np.ndarray:
    """The FIR filter ``scipy.signal.resample_poly(x, up, down)`` designs for float32 ``x``.

    Designing it (``firwin`` with 8821 Kaiser-windowed taps for 22.05 → 16 kHz) costs more than the
    filtering of a typical utterance, so it is built once per rate pair; passing it back as
    ``window=`` gives bit-identical output.
    """
    from scipy.signal import firwin

    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)
    h.flags.writeable = False
    return h


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return y
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    out = resample_poly(y, up, down, window=_resample_filter(up, down))
    return np.ascontiguousarray(out, dtype=np.float32)


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

    k = _kernels()
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
        k["frame_window"](y[t0 * p.hop:(t0 + n - 1) * p.hop + p.win], p.window, p.hop, b)
        spec = rfft(b, axis=1, workers=1).view(np.float32)
        k["mel_bands"](spec, p.bin_lo, p.bin_hi, p.mel_lo, p.mel_len, p.mel_off, p.mel_w,
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


# --------------------------------------------------------------------------------------------------
# Public feature functions
# --------------------------------------------------------------------------------------------------
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
    _kernels()["delta_rows"](x, _savgol_delta_coeffs(int(width), int(order)), out)
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
    _kernels()["segments"](lm, p.c1, p.c2, np.float32(scale), step, out)
    return out


def _default_workers(n_items: int) -> int:
    from numba import config as numba_config

    return max(1, min(int(numba_config.NUMBA_NUM_THREADS), n_items))


def logmel_segments_many(ys: Sequence[np.ndarray], sr: int, config: LogMelConfig | None = None, *,
                         workers: int | None = None, **overrides: Any) -> list[np.ndarray]:
    """:func:`logmel_segments` of many in-memory utterances, in parallel across utterances.

    Parameters
    ----------
    ys : sequence of np.ndarray
        Mono waveforms, all at rate ``sr``.
    sr : int
        Their sample rate.
    config, **overrides
        As for :func:`logmel_segments`.
    workers : int, optional
        Threads (default ``NUMBA_NUM_THREADS``); each runs the serial, GIL-free kernels on whole
        utterances, so total threads never exceed ``workers``.

    Returns
    -------
    list of np.ndarray
        One ``(N_i, 3, n_mels, frames)`` array per utterance, in input order.
    """
    cfg = _resolve_config(config, overrides)
    ys = list(ys)
    if not ys:
        return []
    _plan(cfg)
    _kernels()
    workers = _default_workers(len(ys)) if workers is None else max(1, int(workers))
    out = []
    with closing(ordered_map(lambda iy: _segments_one(iy[1], sr, cfg, f"utterance {iy[0]}"), enumerate(ys),
                             workers=workers, total=len(ys))) as results:
        for r in results:
            if r.error is not None:
                raise r.error
            out.append(r.value)
    return out


# --------------------------------------------------------------------------------------------------
# Audio I/O
# --------------------------------------------------------------------------------------------------
def _check_wav_truncation(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk claims more bytes than the file holds."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not plain RIFF/WAVE (RF64, W64...): left to the decoder
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                raise MediaError(f"{path}: truncated WAV file (no data chunk in {size} bytes)")
            cid, csize = ch[:4], struct.unpack(endian + "I", ch[4:])[0]
            pos += 8
            if cid == b"data":
                if csize not in (0, 0xFFFFFFFF) and csize > size - pos:
                    raise MediaError(f"{path}: truncated WAV file (data chunk declares {csize} bytes, "
                                     f"only {size - pos} present)")
                return
            pos += csize + (csize & 1)
            if pos > size:
                raise MediaError(f"{path}: truncated WAV file (chunk {cid!r} runs past the end)")
            f.seek(pos)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        declared = f.frames
        data = f.read(dtype="float32", always_2d=True)
        sr = f.samplerate
    if declared > 0 and data.shape[0] < declared:
        raise MediaError(f"{path}: truncated audio ({data.shape[0]} of {declared} frames decoded)")
    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


_AV_SCALE = {"u8": None, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0,
             "flt": 1.0, "dbl": 1.0}


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream in the container")
            stream = container.streams.audio[0]
            sr = stream.rate or stream.codec_context.sample_rate
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                name = frame.format.name
                base = name[:-1] if name.endswith("p") else name
                n_ch = len(frame.layout.channels)
                if not frame.format.is_planar:
                    a = a.reshape(-1, n_ch).T
                if base not in _AV_SCALE:
                    raise MediaError(f"{path}: unsupported sample format {name!r}")
                if base == "u8":
                    a = (a.astype(np.float32) - 128.0) / 128.0
                elif _AV_SCALE[base] != 1.0:
                    a = (a.astype(np.float64) / _AV_SCALE[base]).astype(np.float32)
                a = a.astype(np.float32, copy=False)
                chunks.append(a[0] if a.shape[0] == 1 else a.mean(axis=0, dtype=np.float32))
                sr = frame.sample_rate or sr
    except av.error.FFmpegError as exc:  # some FFmpeg errors subclass ValueError: wrap them first
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    if not chunks:
        raise MediaError(f"{path}: zero-length audio (no samples decoded)")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32), int(sr)


def load_audio(path: str | os.PathLike, sr: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read a sound file or the audio track of a video as a mono float32 waveform.

    Parameters
    ----------
    path : str or PathLike
        WAV/FLAC/OGG/AIFF... are read with soundfile (libsndfile); other containers (MP4, MOV, AVI,
        MKV, MP3, M4A, ...) with PyAV (FFmpeg), first audio stream.
    sr : int or None
        Target rate in Hz (16000); ``None`` keeps the file's native rate. Resampling uses
        ``scipy.signal.resample_poly`` (polyphase FIR, Kaiser β = 5, ratio reduced by the gcd).

    Returns
    -------
    y : np.ndarray
        float32 mono waveform: channels averaged; integer PCM scaled to [-1, 1), float kept as is.
    sr : int
        Its sample rate.

    Raises
    ------
    emofast.corpora.MissingPathError
        The file does not exist (a :class:`~emofast.errors.MissingFileError`, also a ``ValueError``).
    emofast.errors.MediaError
        Corrupt, truncated or empty file, unsupported container or no audio stream, zero-length
        audio, NaN/Inf samples.
    emofast.errors.InputError
        Bad ``sr``, or ``path`` is not a regular file.

    Every message names the file; all three are ``ValueError`` subclasses.
    """
    p = Path(path)
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise InputError(f"{p}: target sample rate must be a positive integer or None, got {sr!r}")
    if not p.exists():
        raise MissingPathError(f"{p}: file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes)")
    ext = p.suffix.lower()
    if ext in (".wav", ".wave"):
        _check_wav_truncation(p)
    if ext in _SOUNDFILE_EXTS:
        try:
            y, native = _read_soundfile(p)
        except MediaError:
            raise
        except Exception as exc:  # soundfile.LibsndfileError / RuntimeError: try FFmpeg before giving up
            try:
                y, native = _read_pyav(p)
            except MediaError:
                raise MediaError(f"{p}: corrupt or unsupported audio file ({exc})") from exc
    else:
        y, native = _read_pyav(p)
    if y.size == 0:
        raise MediaError(f"{p}: zero-length audio (no samples)")
    bad = _kernels()["count_nonfinite"](y)
    if bad:
        raise MediaError(f"{p}: {bad} NaN/Inf sample(s)")
    if sr is None or sr == native:
        return y, native
    return _resample(y, native, int(sr)), int(sr)


# --------------------------------------------------------------------------------------------------
# Corpus-scale extraction
# --------------------------------------------------------------------------------------------------
class SegmentsResult(NamedTuple):
    """One file's outcome from :func:`iter_logmel_segments`."""

    index: int
    """Position of the file in the input."""
    path: str
    """The file path as given."""
    segments: np.ndarray | None
    """``(N, 3, n_mels, frames)`` float32, or ``None`` when ``error`` is set."""
    error: BaseException | None
    """The exception raised for this file (only with ``on_error="skip"``)."""


def _extract_file(path: str, cfg: LogMelConfig) -> np.ndarray:
    y, sr = load_audio(path, sr=cfg.sr)
    return _segments_one(y, sr, cfg, str(path))


def iter_logmel_segments(paths: Iterable[str | os.PathLike], config: LogMelConfig | None = None, *,
                         workers: int | None = None, progress: bool = True, on_error: str = "raise",
                         **overrides: Any) -> Iterator[SegmentsResult]:
    """Stream log-Mel segments of many files, in input order, computed in parallel across files.

    Each worker thread reads, resamples and featurises whole files with GIL-free code
    (:func:`emofast.parallel.ordered_map` on threads); at most ``2 · workers`` files are in flight,
    so a corpus is never in memory twice.

    Parameters
    ----------
    paths : iterable of path-like
        Audio or video files (see :func:`load_audio`).
    config, **overrides
        Feature settings, as for :func:`logmel_segments`; audio is loaded at ``config.sr``.
    workers : int, optional
        Threads (default ``NUMBA_NUM_THREADS``, capped at the number of files).
    progress : bool
        Show a progress bar (files; only when stderr is a terminal).
    on_error : {"raise", "skip"}
        ``"raise"`` re-raises the first failure (a ``ValueError`` naming the file); ``"skip"`` yields a
        record whose ``error`` holds the exception and continues with the next files.

    Yields
    ------
    SegmentsResult
        ``(index, path, segments, error)`` for every input file, in input order.
    """
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error={on_error!r} must be 'raise' or 'skip'")
    cfg = _resolve_config(config, overrides)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        return
    _plan(cfg)
    _kernels()
    workers = _default_workers(len(paths)) if workers is None else max(1, int(workers))
    with closing(ordered_map(functools.partial(_extract_file, cfg=cfg), paths, workers=workers,
                             progress=progress, desc="log-Mel segments", unit="file")) as results:
        for r in results:
            if r.error is not None and on_error == "raise":
                raise r.error
            yield SegmentsResult(r.index, paths[r.index], r.value, r.error)
