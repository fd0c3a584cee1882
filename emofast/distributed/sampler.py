"""Mini-batches of a shuffled epoch, each shared out across the ranks.

:class:`ShardedSampler` draws every epoch's order from its seed exactly as :func:`emofast.train.fit.fit`
always has (``numpy.random.default_rng(seed).permutation(n)``, one draw per epoch), cuts it into
**global** batches of ``batch_size`` rows, and gives each rank a contiguous share of every global
batch (``numpy.array_split`` boundaries: the first ``size % world`` ranks get one row more). So:

* every rank draws the same order (nothing is communicated), and the ranks' shares of an epoch are
  disjoint and together are the epoch;
* ``batch_size`` is the **global** batch: a run on ``world`` ranks takes the same optimisation steps
  as one process with the same ``batch_size`` (each rank computes ``batch_size / world`` rows of
  each step). To scale the batch with the ranks, pass ``batch_size = per_rank * world`` yourself;
* with ``world == 1`` the batches are exactly those of the single-process loop.

Pairs (joint learning over two corpora)
---------------------------------------
A loop that trains on pairs, e.g. a source and a target segment, keeps each pair on one rank by
sharding the *pairs*, not the corpora: build the pairing as two aligned index arrays ``ia, ib``
(``ia[k]`` of corpus A goes with ``ib[k]`` of corpus B), make one ``ShardedSampler(len(ia), ...)``
and take ``ia[batch.local]`` and ``ib[batch.local]`` from each batch. Two corpora sampled
independently can instead use two samplers with the same ``batch_size`` (and each its own seed):
``zip(sa.epoch(), sb.epoch())`` gives aligned steps, and in every full global batch both samplers
cut at the same positions, so the ``k``-th rows of the two global batches land on the same rank.

Examples
--------
>>> s = ShardedSampler(10, 4, seed=0, rank=1, world=2)
>>> [b.local.size for b in s.epoch()]
[2, 2, 1]
>>> s.steps
3
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from emofast.errors import InputError

__all__ = ["Batch", "ShardedSampler", "shard_bounds"]


def shard_bounds(size: int, rank: int, world: int) -> slice:
    """Positions of ``rank``'s share of a global batch of ``size`` rows (``numpy.array_split``
    boundaries: the first ``size % world`` ranks get one row more; a share may be empty)."""
    base, extra = divmod(int(size), int(world))
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


@dataclass(frozen=True)
class Batch:
    """One global mini-batch and this rank's share of it.

    Attributes
    ----------
    indices : numpy.ndarray of int64
        Row indices of the global batch, identical on every rank.
    rows : slice
        This rank's positions within ``indices``.
    """

    indices: np.ndarray
    rows: slice

    @property
    def local(self) -> np.ndarray:
        """Row indices this rank trains on: ``indices[rows]``."""
        return self.indices[self.rows]

    @property
    def size(self) -> int:
        """Rows of the global batch."""
        return int(self.indices.size)


class ShardedSampler:
    """Shuffled epochs of ``n`` rows in global batches, each shared out across the ranks.

    Parameters
    ----------
    n : int
        Rows of the data.
    batch_size : int
        Rows of a global batch (all ranks together); the last batch of an epoch may be smaller.
    seed : int or numpy.random.Generator
        Seeds the epochs' orders (the generator is consumed: one permutation per epoch).
    rank, world : int, optional
        Default: those of the process group (:func:`emofast.distributed.rank` and
        :func:`~emofast.distributed.world`; 0 and 1 without one).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int | np.random.Generator = 0,
                 rank: int | None = None, world: int | None = None) -> None:
        from emofast.distributed import group

        if n < 1 or batch_size < 1:
            raise InputError(f"ShardedSampler: need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
        self.n, self.batch_size = int(n), int(batch_size)
        self.world = group.world() if world is None else int(world)
        self.rank = group.rank() if rank is None else int(rank)
        if not 0 <= self.rank < self.world:
            raise InputError(f"ShardedSampler: rank {self.rank} is outside a world of {self.world}")
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    @property
    def steps(self) -> int:
        """Global batches per epoch: ``ceil(n / batch_size)``."""
        return -(-self.n // self.batch_size)

    def batches(self, order: np.ndarray) -> Iterator[Batch]:
        """Global batches of a given ``order`` (every rank must pass the same), with this rank's
        share of each."""
        order = np.asarray(order)
        for start in range(0, order.size, self.batch_size):
            sel = order[start:start + self.batch_size]
            yield Batch(sel, shard_bounds(sel.size, self.rank, self.world))

    def epoch(self) -> Iterator[Batch]:
        """The next epoch: one permutation drawn from the seed, cut by :meth:`batches`."""
        return self.batches(self.rng.permutation(self.n))
