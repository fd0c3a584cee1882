"""One generation's contenders of :func:`emofast.train.evolve.evolve`, shared out across the ranks.

The rule (``W`` ranks, ``2K`` contenders in the order the generation picked them):

* contender ``j`` trains on rank ``j % W``; every rank draws the same picks, shuffles and mutations
  from the seed, so nothing but parameter updates and fitness counts is communicated;
* **after every SGD step the ranks' parameter updates are summed**: each rank's in-place step
  changes the modules (and the task head) of its own contenders, and every rank then holds
  ``start + Σ_r (rank r's change)`` (:class:`~emofast.distributed.SummedUpdates`, one all-reduce of
  the modules any contender of the generation may touch). For plain SGD this is the sum of the
  ranks' gradients: the parallel mode's rule ("modules and the head shared by several contenders
  receive the sum of their gradients") carried across ranks;
* ``mode="parallel"``: all contenders take each step on the same mini-batch (one shuffle per
  generation), so a run on ``W`` ranks **is** the single-process parallel run, up to float
  rounding in the summed update;
* ``mode="sequential"``: contenders train in rounds, ``W`` at a time (round ``q`` trains
  contenders ``qW .. qW + W - 1``), each on its own shuffle, one after the other on its rank, the
  concurrent ones' updates summed per step. With ``W = 1`` this is the single-process sequential
  mode; with ``W > 1`` it is its own algorithm, deterministic for a seed and ``W`` (a checkpoint
  records ``W`` and refuses another);
* fitness counts are summed over ranks (a contender is counted on its rank only).
"""
from __future__ import annotations

import numpy as np
import torch

from emofast.distributed.collectives import SummedUpdates, all_reduce_sum
from emofast.distributed.group import rank, world

__all__ = ["touched_modules", "train_contenders"]


def touched_modules(net, genotypes: np.ndarray, fixed: torch.Tensor | None, task: int) -> SummedUpdates:
    """The tensors a step of these pathways may change: their active, unfrozen modules and the
    task head, as a :class:`~emofast.distributed.SummedUpdates`."""
    mask = net.masks(torch.from_numpy(np.asarray(genotypes)), fixed).any(0) & ~net.frozen
    parts = []
    for layer in range(net.num_layers):
        idx = mask[layer].nonzero().flatten().to(net.weights[layer].device)
        parts += [(net.weights[layer].data, idx), (net.biases[layer].data, idx)]
    head = net.heads[task]
    return SummedUpdates([*parts, (head.weight.data, None), (head.bias.data, None)])


def _window(perm: torch.Tensor, s: int, bs: int) -> torch.Tensor:
    n = perm.numel()
    return perm[(s * bs) % n: (s * bs) % n + bs]


def train_contenders(net, X: torch.Tensor, y: torch.Tensor, genotypes: np.ndarray,
                     perms: list[torch.Tensor], *, mode: str, steps: int, batch_size: int, lr: float,
                     task: int, fixed: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
    """Train the generation's contenders on this rank's share and return every contender's
    ``(correct, seen)`` counts, summed over ranks.

    Parameters
    ----------
    net : PathNet
    X, y : torch.Tensor
        The (standardised) training data, the same on every rank.
    genotypes : numpy.ndarray
        ``(2K, L, N)`` the contenders, in pick order.
    perms : list of torch.Tensor
        The shuffles: one (parallel mode) or one per contender (sequential mode).
    mode, steps, batch_size, lr, task, fixed
        As in :func:`emofast.train.evolve.evolve`.
    """
    P, W, R = len(genotypes), world(), rank()
    correct = np.zeros(P, dtype=np.int64)
    sync = touched_modules(net, genotypes, fixed, task)
    if mode == "parallel":
        mine = np.arange(R, P, W)
        g = torch.from_numpy(np.ascontiguousarray(genotypes[mine]))
        for s in range(steps):
            idx = _window(perms[0], s, batch_size)
            with sync:
                if mine.size:
                    _, c = net.train_step(X[idx], y[idx], g, lr=lr, task=task, fixed=fixed)
                    correct[mine] += c.numpy()
    else:
        for first in range(0, P, W):
            j = first + R
            for s in range(steps):
                with sync:
                    if j < P:
                        idx = _window(perms[j], s, batch_size)
                        g = torch.from_numpy(np.ascontiguousarray(genotypes[j][None]))
                        _, c = net.train_step(X[idx], y[idx], g, lr=lr, task=task, fixed=fixed)
                        correct[j] += int(c[0])
    seen = sum(_window(perms[0], s, batch_size).numel() for s in range(steps))
    return all_reduce_sum(correct), np.full(P, seen, dtype=np.int64)
