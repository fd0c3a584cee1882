"""Run a function on several local ranks (gloo on 127.0.0.1): tests, notebooks, quick checks.

:func:`run_local` starts ``world`` processes, gives each the environment torchrun would (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT``), joins them in a
gloo process group, calls ``fn(*args)`` on every rank and returns the ranks' return values. The
function must be importable by name (defined in a module, not in ``__main__`` of an interactive
session) and its arguments and result picklable. Processes start by ``forkserver`` where there is
one (``spawn`` elsewhere), so they do not inherit the caller's threads.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from emofast.errors import InputError

__all__ = ["free_port", "run_local"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_main(fn: Callable[..., Any], args: tuple, rank: int, world: int, port: int,
               env: dict[str, str], results: Any) -> None:
    os.environ.update({**env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    from emofast.distributed import group

    try:
        import torch

        torch.set_num_threads(1)
        group.init("gloo", timeout_s=120)
        try:
            results.put((rank, "ok", fn(*args)))
        finally:
            group.shutdown()
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put((rank, "error", traceback.format_exc()))


def run_local(fn: Callable[..., Any], world: int = 2, *args: Any, timeout_s: float = 120.0,
              env: dict[str, str] | None = None) -> list[Any]:
    """``[fn(*args) on rank 0, ..., on rank world-1]``, each rank a process of one gloo group.

    Parameters
    ----------
    fn : callable
        Importable by name; called with ``args`` on every rank after the group is initialised.
    world : int, default 2
    *args
        Picklable arguments (the same on every rank; read :func:`emofast.distributed.rank` in
        ``fn`` for per-rank work).
    timeout_s : float, default 120
        Every rank must have returned by then.
    env : dict, optional
        Extra environment variables of the ranks (e.g. ``{"OMP_NUM_THREADS": "1"}``).

    Returns
    -------
    list
        The ranks' return values, in rank order.

    Raises
    ------
    RuntimeError
        A rank raised (its traceback in the message; the other ranks are stopped) or the ranks
        did not finish in time.
    """
    if world < 1:
        raise InputError(f"run_local: world must be >= 1, got {world}")
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["torch"])  # ignored when the server already runs
    results = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(fn, args, r, world, port, dict(env or {}), results),
                         daemon=True)
             for r in range(world)]
    for p in procs:
        p.start()
    values: dict[int, Any] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < world:
            try:
                rank, kind, value = results.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                dead = [r for r, p in enumerate(procs) if p.exitcode not in (None, 0) and r not in values]
                if dead:
                    raise RuntimeError(f"run_local: rank {dead[0]} exited with status "
                                       f"{procs[dead[0]].exitcode} before returning") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run_local: the ranks did not finish in {timeout_s:.0f} s "
                                       f"(returned: {sorted(values)})") from None
                continue
            if kind == "error":
                raise RuntimeError(f"run_local: rank {rank} failed:\n{value}")
            values[rank] = value
    finally:
        for p in procs:
            p.join(timeout=5 if len(values) == world else 0.1)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        results.close()
    return [values[r] for r in range(world)]
