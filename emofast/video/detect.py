"""Viola-Jones face detection (OpenCV Haar cascade) with a per-video tracking state, and square crops.

:class:`_Detector` runs ``detectMultiScale3`` on a downscaled luma plane, first in a region around
the last face with a face-size window derived from it, and on the whole frame only when the face is
lost; :func:`_crop` cuts the square around a box, zero-padded at the frame edge.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

from emofast.errors import MediaError

__all__: list[str] = []

_CASCADE = "haarcascade_frontalface_default.xml"


@functools.lru_cache(maxsize=4)
def _cascade(path: str) -> Any:
    import cv2

    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise MediaError(f"cannot load the Haar cascade {path!r}")
    return clf


def _default_cascade() -> str:
    import cv2

    return os.path.join(cv2.data.haarcascades, _CASCADE)


def _detect(clf: Any, gray: np.ndarray, scale_factor: float, min_neighbors: int, min_size: int,
            max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``detectMultiScale3``; return boxes (K, 4) float64 and scores (K,) float64."""
    if min(gray.shape) < min_size:
        return np.zeros((0, 4)), np.zeros(0)
    boxes, _, weights = clf.detectMultiScale3(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                              minSize=(min_size, min_size), maxSize=(max_size, max_size),
                                              outputRejectLevels=True)
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(weights, np.float64).reshape(-1)


def _crop(rgb: np.ndarray, box: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Square crop around ``box`` (x, y, w, h) widened by ``margin`` per side, zero-padded, INTER_AREA."""
    import cv2

    h, w = rgb.shape[:2]
    x, y, bw, bh = (float(v) for v in box)
    side = max(1, int(round(max(bw, bh) * (1.0 + 2.0 * margin))))
    x0 = int(round(x + bw / 2.0 - side / 2.0))
    y0 = int(round(y + bh / 2.0 - side / 2.0))
    x1, y1 = x0 + side, y0 + side
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        return np.zeros((size, size, 3), np.uint8)
    region = rgb[cy0:cy1, cx0:cx1]
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        region = cv2.copyMakeBorder(region, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_CONSTANT,
                                    value=(0, 0, 0))
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interp)


class _Detector:
    """Per-video detection state: face-size window, downscale, and the region around the last face."""

    #: the last face is searched in a region scaled so that the face measures about this many pixels
    TRACK_PX = 30.0

    def __init__(self, height: int, width: int, *, downscale: float | None, min_face: float,
                 track: bool, scale_factor: float, min_neighbors: int, cascade: str | None) -> None:
        self.clf = _cascade(cascade or _default_cascade())
        short = min(height, width)
        min_px = max(24.0, min_face * short)  # smallest face searched, full-frame pixels
        if downscale is None:
            downscale = max(1.0, min_px / 28.0)  # smallest face ~28 px where the detector runs
        self.f = float(downscale)
        self.size = (max(1, int(round(width / self.f))), max(1, int(round(height / self.f))))
        self.sx = width / self.size[0]
        self.sy = height / self.size[1]
        self.min_size = max(24, int(math.floor(min_px / self.f)))
        self.max_size = max(self.min_size, int(math.ceil(short / self.f)))
        self.min_px = min_px
        self.track = track
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.last: np.ndarray | None = None  # last detected box, full-frame coordinates

    def _around_last(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        assert self.last is not None
        x, y, w, h = self.last
        side = max(w, h)
        pad = 0.5 * side
        x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
        x1, y1 = int(min(gray.shape[1], x + w + pad)), int(min(gray.shape[0], y + h + pad))
        if x1 - x0 < 24 or y1 - y0 < 24:
            return np.zeros((0, 4)), np.zeros(0)
        r = min(1.0, self.TRACK_PX / side)
        roi = gray[y0:y1, x0:x1]
        if r < 1.0:
            roi = cv2.resize(roi, (max(1, int(round((x1 - x0) * r))), max(1, int(round((y1 - y0) * r)))),
                             interpolation=cv2.INTER_AREA)
            rx, ry = (x1 - x0) / roi.shape[1], (y1 - y0) / roi.shape[0]
        else:
            rx = ry = 1.0
        lo = max(24, int(max(self.min_px, 0.8 * side) / max(rx, ry)))
        hi = max(lo, int(math.ceil(1.25 * side / min(rx, ry))))
        b, s = _detect(self.clf, roi, self.scale_factor, self.min_neighbors, lo, hi)
        if len(b):
            b = b * np.array([rx, ry, rx, ry]) + np.array([x0, y0, 0.0, 0.0])
        return b, s

    def __call__(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect on a full-resolution luma frame; return boxes in full-frame coords and scores."""
        import cv2

        if self.track and self.last is not None:
            b, s = self._around_last(gray)
            if len(b):
                return b, s
        g = gray if self.f == 1.0 else cv2.resize(gray, self.size, interpolation=cv2.INTER_LINEAR)
        b, s = _detect(self.clf, g, self.scale_factor, self.min_neighbors, self.min_size, self.max_size)
        if len(b):
            b = b * np.array([self.sx, self.sy, self.sx, self.sy])
        return b, s
