"""The feature store's face extractors, as :class:`~emofast.store.Extractor` s: face crops of videos
(:class:`FaceExtractor`, modality ``video``) and faces of still images (:class:`ImageExtractor`,
modality ``image``); both store rows of ``(size, size, 3)`` uint8 RGB."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from emofast.parallel import Result
from emofast.store.extractor import Extractor, config_dict
from emofast.video.batch import iter_faces
from emofast.video.extract import FaceTrack, extract_faces
from emofast.video.image import face_image

__all__ = ["FaceExtractor", "ImageExtractor"]

#: keyword arguments of extract_faces that change no crop, so they stay out of the store key
NONKEY = frozenset({"threads", "on_no_face"})


class FaceExtractor(Extractor):
    """Face crops of every frame (:func:`extract_faces`), ``(n_frames, size, size, 3)`` uint8.

    A video without any face gives an empty result with the reason (``on_no_face="empty"``), which
    the store records as ``"empty"``.

    Parameters
    ----------
    config : dict or object with ``to_dict()``, optional
        Keyword arguments of :func:`extract_faces` (default ``{"size": 64}``); ``threads`` and
        ``on_no_face`` change no crop and stay out of :meth:`settings`.
    """

    modality = "video"
    name = "emofast.video.extract_faces"
    version = None
    dtype = np.dtype(np.uint8)

    def __init__(self, config: Mapping[str, Any] | Any = None):
        kwargs = {} if config is None else dict(config_dict(config))
        kwargs.setdefault("size", 64)
        self.kwargs = kwargs
        self.row_shape = (kwargs["size"], kwargs["size"], 3)

    def settings(self) -> dict:
        return {k: v for k, v in sorted(self.kwargs.items()) if k not in NONKEY}

    def __call__(self, path: str | os.PathLike) -> FaceTrack:
        return extract_faces(path, **{**self.kwargs, "on_no_face": "empty"})

    def extract_many(self, paths: Sequence[str], *, workers: int | None = None,
                     progress: bool = True) -> Iterator[Result]:
        """Worker processes (:func:`iter_faces`), in input order."""
        kwargs = {**self.kwargs, "on_no_face": "empty"}
        results = iter_faces(list(paths), workers=workers, progress=progress, on_error="skip", **kwargs)
        for i, (_, result) in enumerate(results):
            if isinstance(result, BaseException):
                yield Result(i, None, result)
            else:
                yield Result(i, result, None)


class ImageExtractor(Extractor):
    """The face of every still image (:func:`~emofast.video.image.face_image`), one row
    ``(size, size, 3)`` uint8 per image.

    Face crops (FER2013, CK+48) are used as they are, resized; Viola-Jones runs only on images
    that are not crops (``detect="auto"``: shorter side above ``crop_max`` pixels). An image in
    which the detector finds no face gives an empty result with the reason (``on_no_face="empty"``),
    which the store records as ``"empty"``.

    Parameters
    ----------
    config : dict or object with ``to_dict()``, optional
        Keyword arguments of :func:`~emofast.video.image.face_image` (default ``{"size": 64,
        "detect": "auto"}``); every one is part of :meth:`settings`.

    Examples
    --------
    >>> ex = ImageExtractor({"detect": "never"})
    >>> ex.modality, ex.row_shape, ex.settings()
    ('image', (64, 64, 3), {'detect': 'never', 'size': 64})
    """

    modality = "image"
    name = "emofast.video.face_image"
    version = 1
    dtype = np.dtype(np.uint8)

    def __init__(self, config: Mapping[str, Any] | Any = None):
        kwargs = {} if config is None else dict(config_dict(config))
        kwargs.setdefault("size", 64)
        kwargs.setdefault("detect", "auto")
        self.kwargs = kwargs
        self.row_shape = (kwargs["size"], kwargs["size"], 3)

    def settings(self) -> dict:
        return dict(sorted(self.kwargs.items()))

    def __call__(self, path: str | os.PathLike) -> np.ndarray | FaceTrack:
        face = face_image(path, **self.kwargs)
        if face is None:
            return FaceTrack.empty(self.kwargs["size"], f"no face detected in image {str(path)!r}")
        return face[None]
