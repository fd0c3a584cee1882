"""Collectives for numpy arrays and Python values, the rank-0 writer, and parameter updates.

Each function is the identity (or a plain call) without a process group of several ranks, so
library code calls them unconditionally.
"""
from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from emofast.distributed.group import _torch_dist, active, is_main, rank

__all__ = ["broadcast_object", "all_gather_arrays", "all_reduce_sum", "on_main", "check_same",
           "broadcast_module", "sum_gradients", "gather_rows", "SummedUpdates"]

T = TypeVar("T")


def broadcast_object(obj: T, src: int = 0) -> T:
    """``obj`` of rank ``src`` on every rank (pickled; tensors arrive on the CPU)."""
    if not active():
        return obj
    box = [obj]
    _torch_dist().broadcast_object_list(box, src=src)
    return box[0]


def all_gather_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Every rank's ``array``, in rank order (shapes and dtypes may differ between ranks)."""
    array = np.asarray(array)
    if not active():
        return [array]
    dist = _torch_dist()
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, array)
    return [np.asarray(a) for a in out]


def all_reduce_sum(array: np.ndarray) -> np.ndarray:
    """Element-wise sum of every rank's ``array`` (same shape and dtype on every rank)."""
    array = np.asarray(array)
    if not active():
        return array
    import torch

    t = torch.from_numpy(np.ascontiguousarray(array).copy())
    _torch_dist().all_reduce(t)
    return t.numpy()


def _picklable(payload: tuple[str, Any]) -> tuple[str, Any]:
    try:
        pickle.dumps(payload)
        return payload
    except Exception as exc:  # noqa: BLE001 - anything pickle raises
        kind, value = payload
        if kind == "error":
            return "error", RuntimeError(f"{type(value).__name__} on rank 0: {value}")
        return "error", TypeError(f"rank 0's result cannot be sent to the other ranks: {exc}")


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on rank 0 only and give every rank its return value: the rank-0 writer.

    Use it for everything that touches files (checkpoints, reports, output folders): rank 0
    writes, or reads and sends what it read. When ``fn`` raises on rank 0, every rank raises
    (rank 0 the original exception, the others a copy), so no rank is left waiting in a
    collective. Without a process group of several ranks this is ``fn(*args, **kwargs)``.
    """
    if not active():
        return fn(*args, **kwargs)
    payload: tuple[str, Any] | None = None
    error: BaseException | None = None
    if is_main():
        try:
            payload = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            error, payload = exc, ("error", exc)
        payload = _picklable(payload)
    kind, value = broadcast_object(payload)
    if kind == "error":
        raise error if error is not None else value
    return value


def check_same(what: str, *arrays: Any) -> None:
    """Raise ``RuntimeError`` unless every rank holds the same bytes in ``arrays`` (a guard
    against ranks drifting apart; one small all-gather of a hash)."""
    if not active():
        return
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        h.update(np.ascontiguousarray(a).tobytes())
    digests = all_gather_arrays(np.frombuffer(h.digest(), dtype=np.uint8))
    if any(not np.array_equal(d, digests[0]) for d in digests):
        raise RuntimeError(f"{what} differ between ranks (rank {rank()}); the ranks no longer run "
                           "the same computation")


def broadcast_module(module: Any, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers of ``module`` into every rank's, in place."""
    if not active():
        return
    dist = _torch_dist()
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=src)


def sum_gradients(params: Sequence[Any]) -> None:
    """Replace every parameter's ``.grad`` by the sum over ranks, in one all-reduce per dtype.

    A parameter that has no gradient on any rank keeps ``grad = None`` (optimisers then skip it,
    as in one process); one that has a gradient on some rank gets the sum, zeros standing in for
    the ranks without one.
    """
    if not active():
        return
    import torch

    by_dtype: dict[Any, list[Any]] = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    for dtype, group in by_dtype.items():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                          for p in group]
                         + [torch.tensor([p.grad is not None for p in group], dtype=dtype)])
        _torch_dist().all_reduce(flat)
        offset = 0
        flags = flat[-len(group):]
        for p, flag in zip(group, flags.tolist()):
            n = p.numel()
            if flag:
                p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n


_GATHER_ROWS: Any = None


def _gather_rows_function() -> Any:
    """The autograd function of :func:`gather_rows` (built on first use: torch is imported lazily)."""
    global _GATHER_ROWS
    if _GATHER_ROWS is None:
        import torch

        class GatherRows(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, local: Any, sizes: tuple[int, ...]) -> Any:
                ctx.sizes = sizes
                pad = max(sizes)
                box = local.new_zeros((pad, *local.shape[1:]))
                box[:local.shape[0]] = local
                parts = [torch.empty_like(box) for _ in sizes]
                _torch_dist().all_gather(parts, box.contiguous())
                return torch.cat([part[:n] for part, n in zip(parts, sizes)])

            @staticmethod
            def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
                start = sum(ctx.sizes[:rank()])
                return grad[start:start + ctx.sizes[rank()]], None

        _GATHER_ROWS = GatherRows
    return _GATHER_ROWS


def gather_rows(local: Any, sizes: Sequence[int]) -> Any:
    """Every rank's rows of ``local`` concatenated in rank order, differentiable.

    ``sizes[r]`` is rank ``r``'s row count (every rank passes the same list; a share may be empty).
    Backward hands each rank the gradient of its *own* rows only, with no communication: this is
    exact for a loss that every rank computes identically from the gathered rows (a term over all
    pairs of a batch, MMD), once the gradients are summed over ranks (:func:`sum_gradients`): each
    row's gradient then reaches the parameters once, through the rank that computed the row.
    Without a process group of several ranks this returns ``local``.
    """
    if not active():
        return local
    return _gather_rows_function().apply(local, tuple(int(n) for n in sizes))


class SummedUpdates:
    """Sum the in-place updates the ranks make to the same tensors: ``t = t0 + Σ_r (t_r - t0)``.

    Use as a context manager around an in-place training step: entering records the tensors
    (or the rows ``index`` of them), leaving all-reduces each rank's change and writes the
    start value plus the summed change into every rank's tensors. For plain SGD this is the sum
    of the ranks' gradients, so parameters stay identical on every rank. A no-op without a
    process group of several ranks.

    Parameters
    ----------
    parts : iterable of (tensor, index or None)
        Tensors of one dtype that the step may change, each whole (None) or only rows ``index``
        (a 1-D int64 tensor along dimension 0). Every rank must pass the same parts.
    """

    def __init__(self, parts: Iterable[tuple[Any, Any]]) -> None:
        self.parts = [(t, i) for t, i in parts if i is None or i.numel()]
        self.start: Any = None

    def _flat(self) -> Any:
        import torch

        with torch.no_grad():
            return torch.cat([(t if i is None else t.index_select(0, i)).reshape(-1)
                              for t, i in self.parts])

    def __enter__(self) -> "SummedUpdates":
        if active() and self.parts:
            self.start = self._flat()
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None or self.start is None:
            return
        import torch

        delta = self._flat().sub_(self.start)
        _torch_dist().all_reduce(delta)
        new = self.start.add_(delta)
        offset = 0
        with torch.no_grad():
            for t, i in self.parts:
                shape = t.shape if i is None else (i.numel(), *t.shape[1:])
                n = int(np.prod(shape))
                value = new[offset:offset + n].view(shape)
                if i is None:
                    t.copy_(value)
                else:
                    t.index_copy_(0, i, value)
                offset += n
        self.start = None
