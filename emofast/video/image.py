"""Face images: a still image to one ``size × size × 3`` uint8 RGB face, the layout of video crops.

Face corpora (FER2013, CK+48) ship faces already cropped, often 48×48 grayscale: they are used as
they are (centre square, resized to ``size``, gray copied to three channels). Viola-Jones runs only
where an image is not a crop: with ``detect="auto"`` an image whose shorter side exceeds
``crop_max`` pixels is searched for a face (the highest-scoring one is cut as the video crops are,
:func:`emofast.video.detect._crop`); ``"always"`` and ``"never"`` force either way.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from emofast.errors import InputError, MediaError, MissingFileError
from emofast.video.decode import _check_int
from emofast.video.detect import _crop, _Detector
from emofast.video.extract import NoFaceError

__all__ = ["face_image", "DETECT_MODES", "NO_FACE_MODES"]

#: When :func:`face_image` runs the face detector.
DETECT_MODES: tuple[str, ...] = ("auto", "always", "never")
#: What :func:`face_image` does when the detector finds no face.
NO_FACE_MODES: tuple[str, ...] = ("empty", "whole", "error")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB (gray copied to three channels, alpha dropped,
    16-bit scaled to 8).

    Raises
    ------
    MissingFileError
        No such file.
    MediaError
        OpenCV cannot decode it.
    """
    import cv2

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"no such image file: {str(p)!r}")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(f"cannot decode image {str(p)!r} (not an image OpenCV reads, or corrupt)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _centre_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The centred square of ``rgb`` resized to ``size`` (area averaging down, bilinear up)."""
    import cv2

    h, w = rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = rgb[y0:y0 + side, x0:x0 + side]
    if side == size:
        return np.ascontiguousarray(square)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


def face_image(path: str | os.PathLike, size: int = 64, *,
               detect: Literal["auto", "always", "never"] = "auto", crop_max: int = 128,
               margin: float = 0.0, min_face: float = 0.12, scale_factor: float = 1.1,
               min_neighbors: int = 3, on_no_face: Literal["empty", "whole", "error"] = "empty",
               ) -> np.ndarray | None:
    """The face of a still image as a ``(size, size, 3)`` uint8 RGB crop.

    Parameters
    ----------
    path : str or os.PathLike
        Image file (anything OpenCV reads: PNG, JPEG, BMP, TIFF, WebP).
    size : int, default 64
        Side of the output crop, pixels.
    detect : {"auto", "always", "never"}, default "auto"
        ``never``: the image is a face crop, used as it is (its centred square, resized);
        ``always``: Viola-Jones finds the face; ``auto``: detect only when the image's shorter side
        exceeds ``crop_max``.
    crop_max : int, default 128
        Largest shorter side, pixels, of an image ``auto`` takes for a crop.
    margin, min_face, scale_factor, min_neighbors
        Detection and cropping as in :func:`emofast.video.extract_faces` (``margin``: context
        added per side, fraction of the box; ``min_face``: smallest face, fraction of the shorter
        side).
    on_no_face : {"empty", "whole", "error"}, default "empty"
        When the detector finds no face: return None, use the whole image as a crop, or raise
        :class:`~emofast.video.NoFaceError`.

    Returns
    -------
    numpy.ndarray of uint8, shape (size, size, 3), or None
        None only for ``on_no_face="empty"`` when no face was found.

    Raises
    ------
    MissingFileError, MediaError
        No such file; not decodable.
    NoFaceError
        No face and ``on_no_face="error"``.
    emofast.errors.InputError, TypeError
        Invalid parameters.
    """
    import cv2

    size = _check_int("size", size, 1)
    crop_max = _check_int("crop_max", crop_max, 1)
    if detect not in DETECT_MODES:
        raise InputError(f"detect must be one of {DETECT_MODES}, got {detect!r}")
    if on_no_face not in NO_FACE_MODES:
        raise InputError(f"on_no_face must be one of {NO_FACE_MODES}, got {on_no_face!r}")
    if not (isinstance(margin, (int, float)) and 0.0 <= margin < 10.0):
        raise InputError(f"margin must be a number in [0, 10), got {margin!r}")
    rgb = read_rgb(path)
    h, w = rgb.shape[:2]
    if detect == "never" or (detect == "auto" and min(h, w) <= crop_max):
        return _centre_square(rgb, size)
    det = _Detector(h, w, downscale=None, min_face=min_face, track=False,
                    scale_factor=float(scale_factor), min_neighbors=int(min_neighbors), cascade=None)
    boxes, scores = det(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if len(boxes):
        return _crop(rgb, boxes[int(np.argmax(scores))], size, margin)
    if on_no_face == "whole":
        return _centre_square(rgb, size)
    if on_no_face == "error":
        raise NoFaceError(f"no face detected in image {str(path)!r} ({w}×{h})")
    return None
