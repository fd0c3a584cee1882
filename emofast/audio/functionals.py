"""openSMILE functionals as a feature-store extractor: the classic baseline's features.

One feature vector per file: the statistics (functionals) of frame-level low-level descriptors
that the ``opensmile`` package computes (Eyben et al., 2010). Two standard sets:

``compare``   ComParE_2016, 6,373 functionals (Schuller et al., 2016)
``egemaps``   eGeMAPSv02, 88 functionals (Eyben et al., 2016)

The ``opensmile`` package is an optional extra (``pip install "emofast[classic]"``); emofast
reads the audio itself (:func:`emofast.audio.load_audio`, so the audio tracks of videos work too)
and hands openSMILE the waveform at 16 kHz.

Examples
--------
>>> ex = FunctionalsExtractor("egemaps")                  # doctest: +SKIP
>>> ex("03a01Fa.wav").shape                               # doctest: +SKIP
(1, 88)
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from emofast.errors import InputError
from emofast.store.extractor import Extractor

__all__ = ["FUNCTIONAL_SETS", "FunctionalsExtractor", "require_opensmile"]

#: emofast's name -> (openSMILE feature set, number of functionals).
FUNCTIONAL_SETS: dict[str, tuple[str, int]] = {
    "compare": ("ComParE_2016", 6373),
    "egemaps": ("eGeMAPSv02", 88),
}

_SMILES: dict[str, Any] = {}  # one openSMILE engine per feature set and process


def require_opensmile() -> Any:
    """The ``opensmile`` module, or an :class:`~emofast.errors.InputError` saying how to get it."""
    try:
        import opensmile
    except ImportError:
        raise InputError("openSMILE functionals need the `opensmile` package: "
                         "pip install 'emofast[classic]' (or pip install opensmile)") from None
    return opensmile


def _smile(feature_set: str) -> Any:
    if feature_set not in _SMILES:
        opensmile = require_opensmile()
        _SMILES[feature_set] = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, feature_set),
            feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILES[feature_set]


class FunctionalsExtractor(Extractor):
    """openSMILE functionals of audio files (or of the audio track of videos), one row per file.

    Parameters
    ----------
    feature_set : {"compare", "egemaps"}, default "compare"
        See :data:`FUNCTIONAL_SETS`.
    sample_rate : int, default 16000
        Rate the audio is resampled to before openSMILE, Hz.
    """

    modality = "audio"
    name = "opensmile.functionals"
    version = 1
    dtype = np.dtype(np.float32)

    def __init__(self, feature_set: str = "compare", sample_rate: int = 16000):
        if feature_set not in FUNCTIONAL_SETS:
            raise InputError(f"functionals set must be one of {sorted(FUNCTIONAL_SETS)}, "
                             f"got {feature_set!r}")
        self.feature_set = feature_set
        self.sample_rate = int(sample_rate)
        self.row_shape = (FUNCTIONAL_SETS[feature_set][1],)

    def settings(self) -> dict:
        smile_set = FUNCTIONAL_SETS[self.feature_set][0]
        return {"feature_set": smile_set, "level": "functionals", "sample_rate": self.sample_rate}

    def __call__(self, path: str | os.PathLike) -> np.ndarray:
        from emofast.audio.io import load_audio

        y, sr = load_audio(path, sr=self.sample_rate)
        if y.size < sr // 10:
            raise InputError(f"{os.fspath(path)}: {y.size / sr:.3f} s of audio is too short for "
                             "openSMILE functionals (need >= 0.1 s)")
        smile = _smile(FUNCTIONAL_SETS[self.feature_set][0])
        values = smile.process_signal(y, sr).to_numpy(dtype=np.float32)
        if values.shape != (1, self.row_shape[0]) or not np.isfinite(values).all():
            raise InputError(f"{os.fspath(path)}: openSMILE returned {values.shape} values "
                             f"(finite: {bool(np.isfinite(values).all())}), expected "
                             f"(1, {self.row_shape[0]})")
        return values
