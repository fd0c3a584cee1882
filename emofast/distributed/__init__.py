"""Distributed training: one process per rank, started by torchrun, gloo on CPU.

emofast's loops need no wrapper: start the processes with torchrun (the command line joins the
group itself) or call :func:`init` in each, and :func:`emofast.train.fit.fit`,
:func:`emofast.train.evolve.evolve` and the fold loop share the work. Without a process group of
more than one rank every function here is a no-op (or a plain call), and the loops run their
single-process code, bit-identical to a run that never imported this package.

What each loop does under a group of ``W`` ranks:

* :func:`~emofast.train.fit.fit` (data parallel): every epoch's order comes from the seed on every
  rank; each global batch of ``batch_size`` rows is shared out (:class:`ShardedSampler`), each rank
  computes the loss of its rows divided by the *global* batch's normaliser and, after backward, the
  gradients are summed over ranks (:func:`sum_gradients`, one all-reduce per step). So the step is
  the single-process step on the global batch, up to float rounding. Augmentation is drawn for the
  global batch on every rank; dropout draws per rank.
* :func:`~emofast.train.evolve.evolve`: contender ``j`` of a generation trains on rank ``j % W``;
  after every SGD step the ranks' parameter updates are summed (:class:`SummedUpdates`), which is
  the parallel mode's "sum of gradients" rule; fitness counts are all-reduced, and every rank
  draws the same tournaments and mutations from the seed.
* :func:`~emofast.train.joint.fit_joint` (Algorithm 1): both corpora's mini-batches of K are drawn
  from the seed on every rank and each rank embeds the same contiguous share of both; the
  cross-entropies (global normalisers) and DANN are per row, the contrastive term over all K² pairs
  and MMD are computed by every rank on embeddings gathered with :func:`gather_rows` (backward:
  each rank's own rows), and the gradients are summed: the single-process step up to rounding.
* Files: rank 0 alone writes checkpoints and reports, and reads checkpoints for everybody
  (:func:`on_main`).

Modules: :mod:`~emofast.distributed.group` (the group), :mod:`~emofast.distributed.collectives`
(arrays, objects, the rank-0 writer, differentiable row gathers, gradient and update sums), :mod:`~emofast.distributed.sampler`
(the sharded sampler), :mod:`~emofast.distributed.local` (run a function on local ranks).
"""
from __future__ import annotations

from emofast.distributed.collectives import (SummedUpdates, all_gather_arrays, all_reduce_sum,
                                             broadcast_module, broadcast_object, check_same,
                                             gather_rows, on_main, sum_gradients)
from emofast.distributed.group import (active, available, barrier, identity, init, initialized,
                                       is_main, launched, rank, shutdown, world)
from emofast.distributed.sampler import Batch, ShardedSampler, shard_bounds

__all__ = ["active", "available", "barrier", "identity", "init", "initialized", "is_main",
           "launched", "rank", "shutdown", "world", "SummedUpdates", "all_gather_arrays",
           "all_reduce_sum", "broadcast_module", "broadcast_object", "check_same", "gather_rows",
           "on_main", "sum_gradients", "Batch", "ShardedSampler", "shard_bounds"]
