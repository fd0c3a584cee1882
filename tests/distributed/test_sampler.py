"""ShardedSampler: disjoint shares that make up each global batch, the single-process batches with
one rank, and pairs that stay together (no processes started)."""
from __future__ import annotations

import numpy as np
import pytest

from emofast.distributed import ShardedSampler, shard_bounds
from emofast.errors import InputError


@pytest.mark.parametrize("n, batch_size, world", [(10, 4, 2), (37, 6, 2), (5, 8, 3), (64, 16, 4)])
def test_shares_are_disjoint_and_make_up_every_global_batch(n, batch_size, world):
    samplers = [ShardedSampler(n, batch_size, seed=3, rank=r, world=world) for r in range(world)]
    epochs = [list(s.epoch()) for s in samplers]
    assert all(len(e) == samplers[0].steps == -(-n // batch_size) for e in epochs)
    seen = []
    for step in zip(*epochs):
        assert all(np.array_equal(b.indices, step[0].indices) for b in step)  # same on every rank
        parts = [b.local for b in step]
        assert np.array_equal(np.concatenate(parts), step[0].indices)  # in rank order, no gap
        assert max(p.size for p in parts) - min(p.size for p in parts) <= 1
        seen.append(step[0].indices)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(n))


def test_one_rank_gives_the_single_process_batches():
    rng = np.random.default_rng(7)
    s = ShardedSampler(23, 5, seed=7, rank=0, world=1)
    for _ in range(3):  # one permutation per epoch from the seed, as fit always drew them
        order = rng.permutation(23)
        got = [b.local for b in s.epoch()]
        assert all(np.array_equal(g, order[i:i + 5]) for g, i in zip(got, range(0, 23, 5)))


def test_epochs_differ_and_repeat_with_the_seed():
    a, b = ShardedSampler(20, 4, seed=1), ShardedSampler(20, 4, seed=1)
    e1a, e2a = [x.indices for x in a.epoch()], [x.indices for x in a.epoch()]
    e1b = [x.indices for x in b.epoch()]
    assert all(np.array_equal(x, y) for x, y in zip(e1a, e1b))
    assert not all(np.array_equal(x, y) for x, y in zip(e1a, e2a))


def test_pairs_stay_on_one_rank():
    # joint learning: shard the pairs (ia[k] with ib[k]), not the corpora
    ia, ib = np.arange(100, 130), np.arange(200, 230)
    for r in range(3):
        for batch in ShardedSampler(ia.size, 7, seed=0, rank=r, world=3).epoch():
            assert np.array_equal(ia[batch.local] - 100, ib[batch.local] - 200)
    # two corpora sampled independently: full global batches cut at the same positions
    a = ShardedSampler(40, 8, seed=1, rank=1, world=2)
    b = ShardedSampler(64, 8, seed=2, rank=1, world=2)
    for ba, bb in zip(a.epoch(), b.epoch()):
        assert ba.rows == bb.rows == shard_bounds(8, 1, 2)


def test_shard_bounds_follow_array_split():
    for size in range(0, 9):
        for world in (1, 2, 3, 4):
            parts = np.array_split(np.arange(size), world)
            assert [np.arange(size)[shard_bounds(size, r, world)].tolist() for r in range(world)] == \
                [p.tolist() for p in parts]


def test_refuses_bad_arguments():
    with pytest.raises(InputError):
        ShardedSampler(0, 4)
    with pytest.raises(InputError):
        ShardedSampler(10, 4, rank=2, world=2)
