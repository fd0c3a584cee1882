"""Video decoding with PyAV: :func:`iter_frames`, frame selection (stride/fps), RGB and luma planes,
display rotation, and :class:`VideoError` for files that cannot be used as videos.

``av`` and ``cv2`` are imported inside the functions, so importing this module stays light.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emofast.errors import InputError, MediaError, MissingFileError

__all__ = ["iter_frames", "VideoError"]

# luma formats whose first plane is the Y (grey) image at full resolution
# luma formats whose first plane is the Y (grey) image at full resolution
_PLANAR_Y = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p",
             "yuv410p", "yuv440p", "yuvj440p", "nv12", "nv21", "gray"}


class VideoError(MediaError):
    """A file that cannot be used as a video: unreadable, no video stream, or no decodable frame.

    A :class:`~emofast.errors.MediaError` (hence a ``ValueError``)."""


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
        raise MissingFileError(f"no such video file: {str(p)!r}")
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
    emofast.errors.MissingFileError
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
