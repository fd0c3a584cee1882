"""Face extraction from one video: :func:`extract_faces` → :class:`FaceTrack` (the papers' rules).

Decoding comes from :mod:`emofast.video.decode`, detection and cropping from :mod:`emofast.video.detect`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from emofast.errors import InputError, MediaError, MissingFileError
from emofast.video.decode import _check_int, _iter_decoded, _rotate, _to_gray, _to_rgb
from emofast.video.detect import _crop, _Detector

__all__ = ["extract_faces", "FaceTrack", "NoFaceError"]


class NoFaceError(MediaError):
    """No face was detected in any frame of a video (``extract_faces(..., on_no_face="error")``).

    A :class:`~emofast.errors.MediaError` (hence a ``ValueError``)."""


@dataclass(frozen=True)
class FaceTrack:
    """Face crops of one video, one per selected frame.

    Attributes
    ----------
    crops : numpy.ndarray
        ``(N, size, size, 3)`` uint8 RGB face crops.
    frame_indices : numpy.ndarray
        ``(N,)`` int64 indices of the frames in decoding order (0 = first frame of the stream).
    times : numpy.ndarray
        ``(N,)`` float64 presentation times in seconds from the first frame (for audio alignment).
    boxes : numpy.ndarray
        ``(N, 4)`` int32 face boxes ``(x, y, w, h)`` in full-frame pixel coordinates of the displayed
        (rotation-corrected) frame; the crop is the square around this box widened by ``margin``.
    detected : numpy.ndarray
        ``(N,)`` bool: True where the face was detected in that frame, False where it was filled in
        (most recent face, first later face, or a frame skipped by ``detect_every``).
    scores : numpy.ndarray
        ``(N,)`` float32 detection scores (cascade level weights); NaN where not detected.
    reason : str or None
        Why the track is empty (``on_no_face="empty"``); None otherwise.
    """

    crops: np.ndarray
    frame_indices: np.ndarray
    times: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray
    scores: np.ndarray
    reason: str | None = None

    def __len__(self) -> int:
        return int(self.frame_indices.shape[0])

    @classmethod
    def empty(cls, size: int, reason: str) -> FaceTrack:
        """An empty track of crop size ``size`` with the given ``reason``."""
        return cls(np.zeros((0, size, size, 3), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.float64),
                   np.zeros((0, 4), np.int32), np.zeros(0, bool), np.zeros(0, np.float32), reason)


def extract_faces(path: str | os.PathLike, size: int = 64, *, margin: float = 0.0, detect_every: int = 1,
                  downscale: float | None = None, min_face: float = 0.12, track: bool = True,
                  multiple: Literal["score", "previous"] = "score",
                  on_no_face: Literal["error", "empty"] = "error", stride: int = 1,
                  fps: float | None = None, scale_factor: float = 1.1, min_neighbors: int = 3,
                  cascade: str | os.PathLike | None = None, threads: int | None = None) -> FaceTrack:
    """Detect the face in every selected frame of a video and return square RGB crops.

    Parameters
    ----------
    path : str or os.PathLike
        Video file.
    size : int, default 64
        Side of the output crops in pixels (the papers use 64x64x3).
    margin : float, default 0.0
        Extra context around the detected box, as a fraction of the box side added on each side
        (0.0 crops the Viola-Jones box itself, as in the papers; 0.2 widens it by 40 %).
        Parts of the square outside the frame are zero (black).
    detect_every : int, default 1
        Run the detector on every n-th selected frame and reuse the most recent face in between.
        Until the first face is found, every frame is searched.
    downscale : float, optional
        Factor by which frames are shrunk for detection (2.0 = half size); boxes are mapped back to
        full-frame pixels. None (default) picks it from the frame so that the smallest searched face
        (``min_face``) is about 28 px where the cascade runs.
    min_face : float, default 0.12
        Smallest face searched, as a fraction of the frame's shorter side (never below the cascade's
        24 px window). Faces smaller than this are not looked for.
    track : bool, default True
        Search a region around the last face first (window 0.7-1.45x its size), the whole frame only
        when that finds nothing. With ``track=False`` every detection scans the whole frame, so the
        highest-score rule applies across all faces in every frame.
    multiple : {"score", "previous"}, default "score"
        With several faces in a frame: keep the highest detection score (pathnet-meta-transfer-learning
        §3.1) or reuse the previous face (pathnet-transfer-learning §3.1; highest score while there is
        no previous face).
    on_no_face : {"error", "empty"}, default "error"
        A video without any face raises :class:`NoFaceError`, or returns an empty :class:`FaceTrack`
        whose ``reason`` says so.
    stride, fps :
        Frame selection, as in :func:`iter_frames`.
    scale_factor : float, default 1.1
        Pyramid step of ``detectMultiScale3``.
    min_neighbors : int, default 3
        Overlapping detections needed to accept a face (OpenCV's default).
    cascade : str or os.PathLike, optional
        Haar cascade XML; default OpenCV's ``haarcascade_frontalface_default.xml``.
    threads : int, optional
        Threads for OpenCV and the decoder during this call (OpenCV's global setting is restored on
        return); None keeps the current OpenCV setting and lets FFmpeg choose.

    Returns
    -------
    FaceTrack
        One crop per selected frame (all frames are kept; undetected ones are filled in).

    Raises
    ------
    emofast.errors.MissingFileError
        ``path`` does not exist (a ``FileNotFoundError``).
    VideoError
        Unreadable file, no video stream, or no frame.
    NoFaceError
        No face in the whole video and ``on_no_face="error"``.
    emofast.errors.InputError, TypeError
        Invalid parameters, or ``path`` is a directory.
    """
    import cv2

    size = _check_int("size", size, 1)
    detect_every = _check_int("detect_every", detect_every, 1)
    stride = _check_int("stride", stride, 1)
    min_neighbors = _check_int("min_neighbors", min_neighbors, 0)
    if not (isinstance(margin, (int, float)) and 0.0 <= margin < 10.0):
        raise InputError(f"margin must be a number in [0, 10), got {margin!r}")
    if downscale is not None and not (isinstance(downscale, (int, float)) and downscale >= 1.0):
        raise InputError(f"downscale must be >= 1 (2.0 = half size) or None, got {downscale!r}")
    if not (isinstance(min_face, (int, float)) and 0.0 <= min_face <= 1.0):
        raise InputError(f"min_face must be a fraction in [0, 1], got {min_face!r}")
    if not (isinstance(scale_factor, (int, float)) and scale_factor > 1.0):
        raise InputError(f"scale_factor must be > 1, got {scale_factor!r}")
    if multiple not in ("score", "previous"):
        raise InputError(f"multiple must be 'score' or 'previous', got {multiple!r}")
    if on_no_face not in ("error", "empty"):
        raise InputError(f"on_no_face must be 'error' or 'empty', got {on_no_face!r}")
    if threads is not None:
        threads = _check_int("threads", threads, 1)
    cascade_path = None if cascade is None else str(cascade)
    if cascade_path is not None and not os.path.isfile(cascade_path):
        raise MissingFileError(f"no such cascade file: {cascade_path!r}")

    old_threads = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    try:
        crops: list[np.ndarray | None] = []
        indices: list[int] = []
        times: list[float] = []
        boxes: list[np.ndarray | None] = []
        detected: list[bool] = []
        scores: list[float] = []
        det: _Detector | None = None
        last_full: np.ndarray | None = None  # most recent face box, full-frame coords
        since = detect_every  # selected frames since the last detection attempt
        for index, t, frame in _iter_decoded(path, stride, fps, threads):
            rotation = frame.rotation if frame.rotation else 0
            rgb = _rotate(_to_rgb(frame), rotation)
            found = False
            score = math.nan
            if last_full is None or since >= detect_every:
                since = 0
                gray = _rotate(_to_gray(frame, rgb), rotation) if rotation else _to_gray(frame, rgb)
                if det is None:
                    det = _Detector(gray.shape[0], gray.shape[1], downscale=downscale, min_face=min_face,
                                    track=track, scale_factor=float(scale_factor),
                                    min_neighbors=min_neighbors, cascade=cascade_path)
                b, s = det(gray)
                if len(b) and not (multiple == "previous" and len(b) > 1 and last_full is not None):
                    k = int(np.argmax(s))
                    det.last = last_full = b[k]
                    found, score = True, float(s[k])
            since += 1
            indices.append(index)
            times.append(t)
            detected.append(found)
            scores.append(score)
            if last_full is None:  # no face yet: filled in once the first face is known
                crops.append(None)
                boxes.append(None)
            else:
                crops.append(_crop(rgb, last_full, size, margin))
                boxes.append(last_full)

        if last_full is None:
            reason = f"no face detected in {len(indices)} frame(s) of {str(path)!r}"
            if on_no_face == "error":
                raise NoFaceError(reason)
            return FaceTrack.empty(size, reason)

        n_lead = next(i for i, c in enumerate(crops) if c is not None)
        if n_lead:  # frames before the first detection take the first face found: decode them again
            first = boxes[n_lead]
            assert first is not None
            lead = set(indices[:n_lead])
            for j, (index, _, frame) in enumerate(_iter_decoded(path, stride, fps, threads)):
                if j >= n_lead:
                    break
                if index in lead:
                    rotation = frame.rotation if frame.rotation else 0
                    crops[j] = _crop(_rotate(_to_rgb(frame), rotation), first, size, margin)
                    boxes[j] = first
    finally:
        if threads is not None:
            cv2.setNumThreads(old_threads)

    return FaceTrack(
        crops=np.stack(crops),  # type: ignore[arg-type]
        frame_indices=np.asarray(indices, np.int64),
        times=np.asarray(times, np.float64),
        boxes=np.rint(np.stack(boxes)).astype(np.int32),  # type: ignore[arg-type]
        detected=np.asarray(detected, bool),
        scores=np.asarray(scores, np.float32),
    )
