"""The feature store's audio extractor: log-Mel segments of files, as an :class:`~emofast.store.Extractor`."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from emofast.audio.batch import _extract_file, iter_logmel_segments
from emofast.audio.config import LogMelConfig
from emofast.parallel import Result
from emofast.store.extractor import Extractor

__all__ = ["LogMelExtractor"]


class LogMelExtractor(Extractor):
    """3-channel log-Mel segments of audio files (or of the audio track of videos).

    Parameters
    ----------
    config : LogMelConfig or dict, optional
        Settings (default ``LogMelConfig()``); a dict is read by :meth:`LogMelConfig.from_dict`.

    Examples
    --------
    >>> ex = LogMelExtractor()
    >>> ex.modality, ex.row_shape, ex.settings()["n_mels"]
    ('audio', (3, 64, 64), 64)
    """

    modality = "audio"
    name = "emofast.audio.logmel_segments"
    version = None
    dtype = np.dtype(np.float32)

    def __init__(self, config: LogMelConfig | Mapping[str, Any] | None = None):
        if config is None:
            config = LogMelConfig()
        elif isinstance(config, Mapping):
            config = LogMelConfig.from_dict(dict(config))
        if not isinstance(config, LogMelConfig):
            raise TypeError(f"audio config must be a LogMelConfig or dict, got {type(config).__name__}")
        self.config = config
        self.row_shape = (3, config.n_mels, config.frames)

    def settings(self) -> dict:
        return self.config.to_dict()

    def __call__(self, path: str | os.PathLike) -> np.ndarray:
        return _extract_file(os.fspath(path), self.config)

    def extract_many(self, paths: Sequence[str], *, workers: int | None = None,
                     progress: bool = True) -> Iterator[Result]:
        """Threads running the GIL-free kernels (:func:`iter_logmel_segments`), in input order."""
        for r in iter_logmel_segments(paths, self.config, workers=workers, progress=progress,
                                      on_error="skip"):
            yield Result(r.index, r.segments, r.error)
