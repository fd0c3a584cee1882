"""Many videos: :func:`iter_faces` runs :func:`~emofast.video.extract.extract_faces` over files or a
folder on worker processes (:func:`emofast.parallel.ordered_map`), results in input order.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from emofast.errors import InputError
from emofast.video.decode import _check_int
from emofast.video.extract import FaceTrack, extract_faces

__all__ = ["iter_faces", "VIDEO_EXTENSIONS"]

#: File extensions :func:`iter_faces` picks up when given a directory.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".flv", ".wmv")


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
                    preload=("emofast.video", "cv2", "av"))  # imported once, in the fork server
    results = ordered_map(functools.partial(_extract_one, kwargs=kwargs), files,
                          workers=workers if len(files) > 1 else 1, progress=progress, desc="faces",
                          unit="video", **pool)
    with closing(results):
        for r in results:
            if r.error is not None and on_error == "raise":
                raise r.error
            yield files[r.index], (r.value if r.error is None else r.error)
