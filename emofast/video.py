"""Video faces: PyAV decoding, OpenCV Viola-Jones detection and 64x64x3 face crops.

The visual stream of the papers (pathnet-meta-transfer-learning §3.1, pathnet-transfer-learning
§3.1): every frame goes through a Viola-Jones face detector; the face with the highest detection
score is kept; a frame without a face reuses the most recently detected face; the face region is
cropped and resized to 64x64x3.

Rules implemented by :func:`extract_faces`

- several faces in a frame: the highest detection score (``detectMultiScale3`` level weight) wins
  (``multiple="score"``, paper 001), or the previous face is kept (``multiple="previous"``, paper 002);
- no face in a frame: the most recently detected face is reused (``detected[i]`` is False);
- no face *yet*: frames before the first detection take the first face found later;
- no face in the whole video: :class:`NoFaceError` (``on_no_face="error"``) or an empty
  :class:`FaceTrack` whose ``reason`` says why (``on_no_face="empty"``).

Speed: detection runs on a downscaled luma plane (read straight from the decoded YUV frame), first
in a search region around the last face with a face-size window derived from it, and on the whole
frame only when the face is lost; ``detect_every=n`` detects on every n-th frame and reuses the last
face in between. :func:`iter_faces` runs videos in parallel processes with OpenCV threads capped per
worker. ``cv2`` and ``av`` are imported here only, so ``import emofast`` stays light.
"""
from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from emofast.corpora import MissingPathError
from emofast.errors import InputError, MediaError

if TYPE_CHECKING:  # pragma: no cover
    import av

__all__ = ["iter_frames", "extract_faces", "FaceTrack", "iter_faces", "VideoError", "NoFaceError",
           "VIDEO_EXTENSIONS"]

#: File extensions :func:`iter_faces` picks up when given a directory.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".flv", ".wmv")

_CASCADE = "haarcascade_frontalface_default.xml"
# luma formats whose first plane is the Y (grey) image at full resolution
_PLANAR_Y = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p",
             "yuv410p", "yuv440p", "yuvj440p", "nv12", "nv21", "gray"}


class VideoError(MediaError):
    """A file that cannot be used as a video: unreadable, no video stream, or no decodable frame.

    A :class:`~emofast.errors.MediaError` (hence a ``ValueError``)."""


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


# --------------------------------------------------------------------------------------------------
# decoding


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _open_video(path: str | os.PathLike, threads: int | None) -> tuple[Any, Any]:
    """Open ``path`` and return ``(container, video_stream)`` or raise a clear error."""
    import av

    p = Path(path)
    if not p.exists():
        raise MissingPathError(f"no such video file: {str(p)!r}")
    if p.is_dir():
        raise InputError(f"expected a video file, got a directory: {str(p)!r}")
    try:
        container = av.open(str(p), "r")
    except av.FFmpegError as exc:
        raise VideoError(f"cannot read video {str(p)!r}: {exc}") from exc
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoError(f"{str(p)!r} has no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        container.close()
        raise VideoError(f"{str(p)!r}: no decoder for its video codec")
    if threads is None:
        stream.thread_type = "AUTO"
    else:
        stream.codec_context.thread_count = threads
        stream.thread_type = "AUTO" if threads != 1 else "SLICE"
    return container, stream


def _iter_decoded(path: str | os.PathLike, stride: int, fps: float | None,
                  threads: int | None) -> Iterator[tuple[int, float, Any]]:
    """Yield ``(index, time_s, av.VideoFrame)`` of the selected frames; raise when none decodes."""
    import av

    if fps is not None and stride != 1:
        raise InputError(f"give either stride or fps, not both (stride={stride!r}, fps={fps!r})")
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    container, stream = _open_video(path, threads)
    rate = float(stream.average_rate or stream.guessed_rate or 25.0)
    period = 1.0 / fps if fps is not None else 0.0
    tol = 0.5 / rate
    t0: float | None = None
    next_t = 0.0
    index = -1
    try:
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                raise VideoError(f"cannot decode {str(path)!r} after frame {index}: {exc}") from exc
            index += 1
            t = frame.time if frame.pts is not None and frame.time is not None else index / rate
            if t0 is None:
                t0 = t
            t -= t0
            if fps is not None:
                if t + tol < next_t:
                    continue
                while next_t <= t + tol:
                    next_t += period
            elif index % stride:
                continue
            yield index, t, frame
    finally:
        container.close()
    if index < 0:
        raise VideoError(f"{str(path)!r}: the video stream has no decodable frame")


def _to_rgb(frame: Any) -> np.ndarray:
    """Decoded frame -> (H, W, 3) uint8 RGB (fast OpenCV path for yuv420p)."""
    import cv2

    if frame.format.name == "yuv420p" and not (frame.width % 2 or frame.height % 2):
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def _to_gray(frame: Any, rgb: np.ndarray | None) -> np.ndarray:
    """Decoded frame -> (H, W) uint8 luma, a view of the Y plane when the format has one."""
    import cv2

    if frame.format.name in _PLANAR_Y:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
    if rgb is None:
        rgb = _to_rgb(frame)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation (degrees, multiple of 90) to an image."""
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def iter_frames(path: str | os.PathLike, *, stride: int = 1, fps: float | None = None,
                format: Literal["rgb24", "gray"] = "rgb24", rotate: bool = True,
                threads: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video with PyAV and yield its frames as numpy arrays.

    Parameters
    ----------
    path : str or os.PathLike
        Video file (any container/codec FFmpeg reads: .avi, .mp4, .mov, .mkv, ...).
    stride : int, default 1
        Keep every ``stride``-th decoded frame (frames 0, stride, 2·stride, ...).
    fps : float, optional
        Target frame rate: keep the first frame at or after each tick ``k / fps`` seconds from the
        first frame (never duplicates frames, so a target above the source rate keeps all frames).
        Exclusive with ``stride``.
    format : {"rgb24", "gray"}, default "rgb24"
        ``"rgb24"``: (H, W, 3) uint8 RGB. ``"gray"``: (H, W) uint8 luma (the decoded Y plane when the
        stream is YUV, no colour conversion).
    rotate : bool, default True
        Apply the stream's display-matrix rotation (phone videos) so frames come out upright.
    threads : int, optional
        Decoder threads; None lets FFmpeg choose (``thread_type="AUTO"``), 1 decodes on one core.

    Yields
    ------
    index : int
        Index of the frame in decoding order (0-based, counting every decoded frame).
    frame : numpy.ndarray
        The frame, C-contiguous uint8.

    Raises
    ------
    emofast.corpora.MissingPathError
        ``path`` does not exist (a ``FileNotFoundError``).
    VideoError
        The file cannot be opened or decoded, has no video stream, or has no frame.
    emofast.errors.InputError, TypeError
        Invalid ``stride``, ``fps`` or ``format``, or ``path`` is a directory.
    """
    stride = _check_int("stride", stride, 1)
    if format not in ("rgb24", "gray"):
        raise InputError(f"format must be 'rgb24' or 'gray', got {format!r}")
    for index, _, frame in _iter_decoded(path, stride, fps, threads):
        if format == "rgb24":
            img = _to_rgb(frame)
        else:
            img = np.ascontiguousarray(_to_gray(frame, None))
        if rotate and frame.rotation:
            img = _rotate(img, frame.rotation)
        yield index, img


# --------------------------------------------------------------------------------------------------
# detection


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
    emofast.corpora.MissingPathError
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
        raise MissingPathError(f"no such cascade file: {cascade_path!r}")

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


# --------------------------------------------------------------------------------------------------
# many videos


def _video_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        root = Path(paths)
        if root.is_dir():
            return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        return [root]
    return [Path(p) for p in paths]


def _init_worker(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)


def _extract_one(path: Path, kwargs: dict[str, Any]) -> FaceTrack:
    return extract_faces(path, **kwargs)


def iter_faces(paths: str | os.PathLike | Iterable[str | os.PathLike], *, workers: int | None = None,
               progress: bool = True, on_error: Literal["raise", "skip"] = "raise",
               **kwargs: Any) -> Iterator[tuple[Path, FaceTrack | Exception]]:
    """Run :func:`extract_faces` over many videos, in parallel across videos, with a progress bar.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        A directory (searched recursively for :data:`VIDEO_EXTENSIONS`, sorted), one video file, or
        video files.
    workers : int, optional
        Worker processes; None uses one per core (at most one per video); 0 or 1 runs in this thread.
        Each worker gets ``cores // workers`` OpenCV and decoder threads (at least 1) unless
        ``threads`` is passed in ``kwargs``, so workers x threads <= cores.
    progress : bool, default True
        Show a bar counting videos (only when stderr is a terminal).
    on_error : {"raise", "skip"}, default "raise"
        ``"raise"``: the first failing video's exception stops the run and is raised.
        ``"skip"``: the exception is yielded in place of its track and the run goes on.
    **kwargs
        Passed to :func:`extract_faces` (``size``, ``margin``, ``detect_every``, ...).

    Yields
    ------
    path : pathlib.Path
        The video.
    result : FaceTrack or Exception
        Its face track, or (``on_error="skip"``) the exception it raised. Results arrive in input
        order (directory: sorted paths), at most ``2 · workers`` videos in flight
        (:func:`emofast.parallel.ordered_map`).

    Notes
    -----
    Worker processes start from a fork server (``spawn`` where there is none), which imports the
    calling script again in each worker. Called from a script's top-level code without an
    ``if __name__ == "__main__":`` guard, that would re-run the script in every worker; such calls
    run on threads instead (OpenCV and FFmpeg release the GIL), with a ``RuntimeWarning``.
    """
    from contextlib import closing

    from emofast.parallel import ordered_map

    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    files = _video_paths(paths)
    cores = os.cpu_count() or 1
    if workers is None:
        workers = min(cores, len(files))
    workers = _check_int("workers", workers, 0)
    kwargs = dict(kwargs)
    pool: dict[str, Any] = {}
    if workers > 1 and len(files) > 1:
        kwargs.setdefault("threads", max(1, cores // workers))
        pool = dict(kind="processes", initializer=_init_worker, initargs=(kwargs["threads"],),
                    preload=("emofast.video",))  # cv2 and av imported once, in the fork server
    results = ordered_map(functools.partial(_extract_one, kwargs=kwargs), files,
                          workers=workers if len(files) > 1 else 1, progress=progress, desc="faces",
                          unit="video", **pool)
    with closing(results):
        for r in results:
            if r.error is not None and on_error == "raise":
                raise r.error
            yield files[r.index], (r.value if r.error is None else r.error)
