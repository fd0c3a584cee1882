"""One ordered parallel map for every per-file loop of emofast (audio, video, feature store).

:func:`ordered_map` runs ``fn(item)`` for each item of an iterable on a pool of threads or
processes and yields one :class:`Result` ``(index, value, error)`` per item, **in input order**:

* **bounded**: at most ``max_in_flight`` items (default ``2 · workers``) are submitted and not yet
  yielded, and the input is read lazily, so a corpus is never held in memory twice;
* **errors are records**: an ``Exception`` raised by ``fn`` becomes ``Result(i, None, exc)`` and the
  map goes on; ``KeyboardInterrupt``/``SystemExit`` and a broken process pool are raised;
* **clean shutdown**: when the consumer stops early (``close()``, ``break``, an exception in its loop)
  the items not started are cancelled and the running ones are waited for, so no worker is left
  behind and nothing hangs; every record yielded before stays the caller's;
* ``workers <= 1`` runs in the calling thread (no pool at all), with the same records.

Threads suit GIL-free work (the Numba log-Mel kernels, FFmpeg decoding, OpenCV detection);
processes suit Python-heavy work. Process pools use the ``forkserver`` start method where there is
one (else ``spawn``): children do not inherit the parent's threads and locks. Both methods re-import
the main script in every worker, so a script that starts a pool from top-level code without an
``if __name__ == "__main__":`` guard would start pools recursively and die with
``BrokenProcessPool``; :func:`ordered_map` detects that case (:func:`unguarded_main`) and runs on
threads instead, with one :class:`RuntimeWarning` per process.

Examples
--------
>>> from emofast.parallel import ordered_map
>>> [r.value for r in ordered_map(abs, [-3, 1, -2], workers=2)]
[3, 1, 2]
>>> r = list(ordered_map(int, ["1", "x"], workers=1))[1]
>>> r.index, r.value, type(r.error).__name__
(1, None, 'ValueError')
"""
from __future__ import annotations

import ast
import functools
import os
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

from emofast.errors import InputError

__all__ = ["Result", "ordered_map", "default_workers", "unguarded_main"]

Kind = Literal["threads", "processes"]


class Result(NamedTuple):
    """The outcome of one item of :func:`ordered_map`."""

    index: int
    """Position of the item in the input."""
    value: Any
    """``fn(item)``, or ``None`` when ``error`` is set."""
    error: BaseException | None
    """The exception ``fn(item)`` raised, or ``None``."""


def default_workers(n_items: int | None = None) -> int:
    """The core count (``os.sched_getaffinity`` where available), capped at ``n_items``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    return max(1, cores if n_items is None else min(cores, n_items))


_warned_unguarded = False


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int | None = None,
                kind: Kind = "threads", max_in_flight: int | None = None,
                initializer: Callable[..., None] | None = None, initargs: tuple = (),
                start_method: str | None = None, preload: tuple[str, ...] = (), progress: bool = False, desc: str | None = None,
                unit: str = "item", total: int | None = None) -> Iterator[Result]:
    """Yield ``Result(index, fn(item) or None, error or None)`` for every item, in input order.

    Parameters
    ----------
    fn : callable
        One argument. For ``kind="processes"`` it (and the items and results) must pickle: a
        module-level function or a ``functools.partial`` of one.
    items : iterable
        Read lazily, at most ``max_in_flight`` ahead of the consumer.
    workers : int, optional
        Pool size; default :func:`default_workers` (capped at ``len(items)`` when it has one).
        ``0`` or ``1`` runs every item in the calling thread.
    kind : {"threads", "processes"}
        Pool type.
    max_in_flight : int, optional
        Items submitted and not yet yielded, at most (default ``2 · workers``; at least ``workers``).
    initializer, initargs
        Run once in each pool worker (threads: each pool thread; processes: each child); not run
        when ``workers <= 1`` (the calling thread's state is left alone).
    start_method : str, optional
        Process start method (default ``forkserver`` where available, else ``spawn``).
    preload : tuple of str
        Modules the ``forkserver`` imports once, so that its children start with them (e.g.
        ``("emofast.video",)``: cv2 and av are imported once, not per worker). The fork server is
        shared by the whole process: the first pool's list applies.
    progress : bool
        Show a bar (:func:`emofast._progress.progress_bar`: only when stderr is a terminal).
    desc, unit, total
        Bar text; ``total`` defaults to ``len(items)`` when ``items`` has a length.

    Yields
    ------
    Result
        One per item, in input order.

    Raises
    ------
    emofast.errors.InputError
        Bad ``kind``, ``workers`` or ``max_in_flight``.
    concurrent.futures.process.BrokenProcessPool
        A worker process died (killed, crashed in native code); the items not yet yielded are lost
        with it, so this is raised rather than recorded against them.
    """
    if kind not in ("threads", "processes"):
        raise InputError(f"kind must be 'threads' or 'processes', got {kind!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InputError(f"workers must be a non-negative int or None, got {workers!r}")
    if max_in_flight is not None and (not isinstance(max_in_flight, int) or max_in_flight < 1):
        raise InputError(f"max_in_flight must be a positive int or None, got {max_in_flight!r}")
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if workers is None:
        workers = default_workers(total)
    if kind == "processes" and workers > 1:
        where = unguarded_main()
        if where is not None:
            _warn_unguarded(where)
            kind = "threads"
    pool = functools.partial(_make_pool, kind, workers, initializer, initargs, start_method, preload)
    return _run(fn, items, workers, max_in_flight, pool, progress, desc, unit, total)


def _run(fn, items, workers, max_in_flight, make_pool, progress, desc, unit, total) -> Iterator[Result]:
    from emofast._progress import progress_bar

    bar = progress_bar(total=total, desc=desc, unit=unit, enabled=progress)
    try:
        if workers <= 1:
            for i, item in enumerate(items):
                try:
                    res = Result(i, fn(item), None)
                except Exception as exc:
                    res = Result(i, None, exc)
                bar.update(1)
                yield res
            return
        pool = make_pool()
        bound = max(workers, max_in_flight if max_in_flight is not None else 2 * workers)
        pending: deque = deque()
        todo = enumerate(items)
        try:
            for i, item in todo:
                pending.append((i, pool.submit(fn, item)))
                if len(pending) >= bound:
                    break
            while pending:
                i, fut = pending.popleft()
                res = _collect(i, fut)
                nxt = next(todo, None)  # refill before yielding: the pool works while the caller does
                if nxt is not None:
                    pending.append((nxt[0], pool.submit(fn, nxt[1])))
                bar.update(1)
                yield res
        finally:
            for _, fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


def _collect(i: int, fut: Any) -> Result:
    from concurrent.futures import BrokenExecutor

    try:
        return Result(i, fut.result(), None)
    except BrokenExecutor:
        raise
    except Exception as exc:
        return Result(i, None, exc)


def _make_pool(kind: Kind, workers: int, initializer, initargs, start_method, preload):
    if kind == "threads":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers, thread_name_prefix="emofast", initializer=initializer,
                                  initargs=initargs)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if start_method is None:
        start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(start_method)
    if preload and start_method == "forkserver":
        ctx.set_forkserver_preload(list(preload))
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs)


def _warn_unguarded(where: str) -> None:
    global _warned_unguarded
    if _warned_unguarded:
        return
    _warned_unguarded = True
    warnings.warn(f"{where}: worker processes started from a script's top-level code without an "
                  "'if __name__ == \"__main__\":' guard would re-run the script and die; running on "
                  "threads instead. Put the script's work under that guard to use processes.",
                  RuntimeWarning, stacklevel=4)


# --------------------------------------------------------------------------------------------------
# the unguarded-main check
# --------------------------------------------------------------------------------------------------
def unguarded_main() -> str | None:
    """``"script.py:LINE"`` when this call comes from unguarded top-level code of ``__main__``.

    Worker processes (``spawn`` and ``forkserver``) import the main module again; code at its top
    level that is not under ``if __name__ == "__main__":`` then runs in every worker. This looks for
    the main module's ``<module>`` frame on the current stack and checks, in the script's syntax
    tree, whether the line it is executing lies inside such a guard. ``None`` when it does, when
    the main module has no file (interactive, ``python -c``), is a package's ``__main__.py``
    (``python -m emofast``: multiprocessing never re-imports those) or is not executing (a thread
    started later): then processes are safe as far as this can tell.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return None
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if spec_name.endswith(".__main__") or os.path.splitext(os.path.basename(path))[0] == "__main__":
        return None  # a package's __main__ (python -m pkg, python dir/): workers never re-import it
    frame = sys._getframe(1)
    line = None
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            line = frame.f_lineno
        frame = frame.f_back
    if line is None:
        return None
    guards = _main_guards(os.path.abspath(path))
    if guards is not None and any(a <= line <= b for a, b in guards):
        return None
    return f"{path}:{line}"


@functools.lru_cache(maxsize=8)
def _main_guards(path: str) -> tuple[tuple[int, int], ...] | None:
    """Line ranges of the top-level ``if __name__ == "__main__":`` blocks of a script (None: unreadable,
    which is treated as unguarded)."""
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    out = []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            out.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return tuple(out)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1
