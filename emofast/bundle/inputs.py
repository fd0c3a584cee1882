"""What a loaded model reads: features of files recomputed as in training, or given segments.

Audio models read log-Mel segments of audio files (or of the audio track of videos) through
:class:`emofast.audio.LogMelExtractor` with the bundle's settings; video models read face crops of
video files through :class:`emofast.video.FaceExtractor`, laid out ``(n, 3, H, W)`` in [0, 1] by
the same :class:`emofast.dataset.RowView` conversion as the training data.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from emofast.errors import InputError, MediaError, MissingFileError

__all__ = ["AUDIO_ONLY_SUFFIXES", "feature_extractor", "file_segments", "as_segments"]

#: File suffixes that hold sound only: a video (face) model refuses them.
AUDIO_ONLY_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".aac", ".m4a"})


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def feature_extractor(features: dict) -> Any:
    """The built-in :class:`~emofast.store.Extractor` that recomputes a bundle's features exactly.

    Raises
    ------
    InputError
        The bundle's features came from another extractor, or from another version or settings
        of it than this emofast computes (e.g. a changed log-Mel algorithm version).
    """
    from emofast.store.extractor import builtin_extractor

    ex = builtin_extractor(features["modality"], features["config"])
    ours = {"extractor": ex.name, "extractor_version": ex.version, "config": _plain(ex.settings())}
    for key, value in ours.items():
        if _plain(features.get(key)) != value:
            raise InputError(
                f"the model was trained on features of {key} {features.get(key)!r}, but this "
                f"emofast computes {value!r}; predict from segments computed as in training")
    return ex


def file_segments(path: str | os.PathLike, modality: str, extractor: Any) -> np.ndarray:
    """Model inputs of one media file, ``(n, C, H, W)`` float32, before standardisation.

    Raises
    ------
    MissingFileError
        ``path`` does not exist.
    InputError
        A folder, or an audio-only file given to a video model.
    MediaError
        A file that cannot be decoded, a video without any face, audio too short for a segment.
    """
    from emofast.dataset import RowView

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{path} does not exist")
    if p.is_dir():
        raise InputError(f"{path} is a folder; give media files")
    if modality == "video" and p.suffix.lower() in AUDIO_ONLY_SUFFIXES:
        raise InputError(f"{path} is an audio file, but this model reads faces (it was trained "
                         "on video features); give a video file")
    out = extractor(str(p))
    if modality == "video":
        if len(out) == 0:
            raise MediaError(out.reason or f"no face found in {path}")
        return RowView(out.crops, np.arange(len(out)), channels_last=True)[:]
    if len(out) == 0:
        raise MediaError(f"{path} is too short for one segment")
    return np.asarray(out, dtype=np.float32)


def as_segments(array: Any, input_shape: tuple[int, ...], modality: str) -> np.ndarray:
    """Given segments as model inputs, ``(n, *input_shape)`` float32, before standardisation.

    Parameters
    ----------
    array : array-like
        ``(n, *input_shape)`` segments as the training data held them (log-Mel, Δ, ΔΔ; or RGB
        face crops ``(n, 3, H, W)`` in [0, 1]), or one segment ``input_shape``. A video model also
        takes uint8 crops ``(n, H, W, 3)`` as :func:`emofast.extract_faces` returns them.
    input_shape : tuple of int
    modality : {"audio", "video"}

    Raises
    ------
    InputError
        Another shape, no segment, or values that are not finite.
    """
    from emofast.dataset import RowView

    a = array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)
    if a.ndim == len(input_shape):
        a = a[None]
    channels, *plane = input_shape
    if modality == "video" and a.dtype == np.uint8 and a.shape[1:] == (*plane, channels):
        a = RowView(a, np.arange(len(a)), channels_last=True)[:]
    if a.shape[1:] != tuple(input_shape):
        raise InputError(f"segments of shape {a.shape[1:]} given; this model takes "
                         f"{tuple(input_shape)} ({modality} features)")
    if len(a) == 0:
        raise InputError("no segments given")
    if not np.issubdtype(a.dtype, np.number):
        raise InputError(f"segments must be numbers, got dtype {a.dtype}")
    a = np.asarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise InputError("segments hold NaN or infinite values")
    return a
