"""Many utterances and files at once: :func:`logmel_segments_many` (arrays) and
:func:`iter_logmel_segments` (files, streamed in input order), both on :func:`emofast.parallel.ordered_map`
threads running the GIL-free kernels on whole utterances.
"""
from __future__ import annotations

import functools
import os
from contextlib import closing
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from emofast.audio.config import LogMelConfig, _resolve_config
from emofast.audio.filters import _plan
from emofast.audio.io import load_audio
from emofast.audio.transforms import _segments_one
from emofast.errors import InputError
from emofast.parallel import ordered_map

__all__ = ["logmel_segments_many", "iter_logmel_segments", "SegmentsResult"]


def _default_workers(n_items: int) -> int:
    from numba import config as numba_config

    return max(1, min(int(numba_config.NUMBA_NUM_THREADS), n_items))


def logmel_segments_many(ys: Sequence[np.ndarray], sr: int, config: LogMelConfig | None = None, *,
                         workers: int | None = None, **overrides: Any) -> list[np.ndarray]:
    """:func:`logmel_segments` of many in-memory utterances, in parallel across utterances.

    Parameters
    ----------
    ys : sequence of np.ndarray
        Mono waveforms, all at rate ``sr``.
    sr : int
        Their sample rate.
    config, **overrides
        As for :func:`logmel_segments`.
    workers : int, optional
        Threads (default ``NUMBA_NUM_THREADS``); each runs the serial, GIL-free kernels on whole
        utterances, so total threads never exceed ``workers``.

    Returns
    -------
    list of np.ndarray
        One ``(N_i, 3, n_mels, frames)`` array per utterance, in input order.
    """
    cfg = _resolve_config(config, overrides)
    ys = list(ys)
    if not ys:
        return []
    _plan(cfg)
    workers = _default_workers(len(ys)) if workers is None else max(1, int(workers))
    out = []
    with closing(ordered_map(lambda iy: _segments_one(iy[1], sr, cfg, f"utterance {iy[0]}"), enumerate(ys),
                             workers=workers, total=len(ys))) as results:
        for r in results:
            if r.error is not None:
                raise r.error
            out.append(r.value)
    return out


class SegmentsResult(NamedTuple):
    """One file's outcome from :func:`iter_logmel_segments`."""

    index: int
    """Position of the file in the input."""
    path: str
    """The file path as given."""
    segments: np.ndarray | None
    """``(N, 3, n_mels, frames)`` float32, or ``None`` when ``error`` is set."""
    error: BaseException | None
    """The exception raised for this file (only with ``on_error="skip"``)."""


def _extract_file(path: str, cfg: LogMelConfig) -> np.ndarray:
    y, sr = load_audio(path, sr=cfg.sr)
    return _segments_one(y, sr, cfg, str(path))


def iter_logmel_segments(paths: Iterable[str | os.PathLike], config: LogMelConfig | None = None, *,
                         workers: int | None = None, progress: bool = True, on_error: str = "raise",
                         **overrides: Any) -> Iterator[SegmentsResult]:
    """Stream log-Mel segments of many files, in input order, computed in parallel across files.

    Each worker thread reads, resamples and featurises whole files with GIL-free code
    (:func:`emofast.parallel.ordered_map` on threads); at most ``2 · workers`` files are in flight,
    so a corpus is never in memory twice.

    Parameters
    ----------
    paths : iterable of path-like
        Audio or video files (see :func:`load_audio`).
    config, **overrides
        Feature settings, as for :func:`logmel_segments`; audio is loaded at ``config.sr``.
    workers : int, optional
        Threads (default ``NUMBA_NUM_THREADS``, capped at the number of files).
    progress : bool
        Show a progress bar (files; only when stderr is a terminal).
    on_error : {"raise", "skip"}
        ``"raise"`` re-raises the first failure (a ``ValueError`` naming the file); ``"skip"`` yields a
        record whose ``error`` holds the exception and continues with the next files.

    Yields
    ------
    SegmentsResult
        ``(index, path, segments, error)`` for every input file, in input order.
    """
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error={on_error!r} must be 'raise' or 'skip'")
    cfg = _resolve_config(config, overrides)
    paths = [os.fspath(p) for p in paths]
    if not paths:
        return
    _plan(cfg)
    workers = _default_workers(len(paths)) if workers is None else max(1, int(workers))
    with closing(ordered_map(functools.partial(_extract_file, cfg=cfg), paths, workers=workers,
                             progress=progress, desc="log-Mel segments", unit="file")) as results:
        for r in results:
            if r.error is not None and on_error == "raise":
                raise r.error
            yield SegmentsResult(r.index, paths[r.index], r.value, r.error)
