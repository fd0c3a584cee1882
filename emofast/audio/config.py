"""Settings of the log-Mel segment features: :class:`LogMelConfig` and its cached resolution.

Every setting is a field with the papers' default; :meth:`LogMelConfig.to_dict` keys the feature
store. Validation, resolution of ``**overrides`` and the per-configuration caches live here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from emofast.audio.filters import _window
from emofast.errors import InputError

__all__ = ["LogMelConfig", "FEATURE_VERSION"]

#: Bumped whenever an algorithm change alters feature values (part of :meth:`LogMelConfig.to_dict`).
FEATURE_VERSION = 1

_LOG_FORMS = {"db": 0, "ln": 1, "log10": 2}
_PAD_POLICIES = ("repeat", "reflect", "zero", "drop")


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
