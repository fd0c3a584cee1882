"""The process group: started from torchrun's environment, asked who and how many we are.

Every function here is cheap and safe without a process group (one process: rank 0 of a world of
1), and none imports torch on its own: a process that never imported torch has no group.

Backend: ``gloo`` on CPU; where CUDA is available, ``"cpu:gloo,cuda:nccl"``, so CPU tensors
(emofast's training loops and every object collective) go through gloo and CUDA tensors through
NCCL, and each rank uses the GPU ``LOCAL_RANK``.
"""
from __future__ import annotations

import datetime
import os
import sys
from typing import Any

from emofast.errors import InputError

__all__ = ["launched", "available", "init", "shutdown", "initialized", "active", "world", "rank",
           "is_main", "barrier", "identity"]

#: Variables torchrun (``python -m torch.distributed.run``) sets for every rank.
ENV_VARS: tuple[str, ...] = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _torch_dist() -> Any:
    """``torch.distributed`` if torch is already imported and it is usable, else None."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() else None


def available() -> bool:
    """Whether this torch can run a gloo process group (the CPU backend emofast uses)."""
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_gloo_available())


def launched() -> bool:
    """Whether the environment describes a process group (torchrun sets :data:`ENV_VARS`)."""
    return all(os.environ.get(v) for v in ENV_VARS)


def init(backend: str | None = None, *, timeout_s: float = 1800.0) -> bool:
    """Join the process group described by the environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``), as torchrun sets it.

    Parameters
    ----------
    backend : str, optional
        Default ``"gloo"``, or ``"cpu:gloo,cuda:nccl"`` where CUDA and NCCL are available.
    timeout_s : float, default 1800
        How long a collective waits for the other ranks.

    Returns
    -------
    bool
        True when a group is initialised (now or before), False when the environment describes
        none (a plain single process).

    Raises
    ------
    InputError
        The environment describes a group but this torch has no distributed support.
    """
    dist = _torch_dist()
    if dist is not None and dist.is_initialized():
        return True
    if not launched():
        return False
    import torch
    import torch.distributed as tdist

    if not tdist.is_available():
        raise InputError("torchrun started this process, but this torch build has no "
                         "torch.distributed support")
    if backend is None:
        backend = "gloo"
        if torch.cuda.is_available() and tdist.is_nccl_available():
            backend = "cpu:gloo,cuda:nccl"
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    tdist.init_process_group(backend, init_method="env://",
                             timeout=datetime.timedelta(seconds=timeout_s))
    return True


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    dist = _torch_dist()
    if dist is not None and dist.is_initialized():
        dist.destroy_process_group()


def initialized() -> bool:
    """Whether a process group is initialised (of any size)."""
    dist = _torch_dist()
    return bool(dist is not None and dist.is_initialized())


def world() -> int:
    """Number of ranks (1 without a process group)."""
    return _torch_dist().get_world_size() if initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return _torch_dist().get_rank() if initialized() else 0


def active() -> bool:
    """Whether work is shared: a process group of more than one rank.

    emofast's loops take their distributed paths only then; a group of one rank runs the
    single-process code, with identical results.
    """
    return world() > 1


def is_main() -> bool:
    """Whether this process is rank 0: the one that prints, writes files and reads checkpoints."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op without a group of several ranks)."""
    if active():
        _torch_dist().barrier()


def identity() -> dict[str, int]:
    """What a checkpoint's identity records about the group: ``{"world": n}`` when ``n > 1``,
    else nothing (so single-process checkpoints keep their identity)."""
    return {"world": world()} if active() else {}
