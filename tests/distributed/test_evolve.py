"""evolve on 2 gloo ranks: deterministic for a seed and a world size, and in parallel mode the
single-process result.

The equivalence tested: with ``mode="parallel"`` every contender of a generation takes each step on
the same mini-batch and shared modules receive the sum of the contenders' gradients; on 2 ranks the
contenders are split between the ranks and the ranks' updates are summed after every step, which
is the same sum. So the population, the fitness (integer counts) and the history are equal and the
parameters equal up to float rounding. ``mode="sequential"`` on 2 ranks trains two contenders at a
time (its own algorithm): only determinism and agreement between ranks are required of it.
"""
from __future__ import annotations

import numpy as np
from dist_workers import evolve_runs, needs_gloo

from emofast.distributed.local import run_local

pytestmark = needs_gloo

JOBS = [dict(mode="parallel", tournaments=1), dict(mode="parallel", tournaments=3),
        dict(mode="sequential", tournaments=2), dict(mode="sequential", tournaments=2)]


def _same(a: dict, b: dict) -> bool:
    return (np.array_equal(a["genotypes"], b["genotypes"])
            and np.array_equal(a["fitness"], b["fitness"], equal_nan=True)
            and np.array_equal(a["params"], b["params"]) and a["history"] == b["history"])


def test_two_ranks_are_deterministic_and_parallel_mode_equals_one_process():
    ranks = run_local(evolve_runs, 2, JOBS, timeout_s=90)
    single = evolve_runs(JOBS[:2])
    for job in range(len(JOBS)):
        assert _same(ranks[0][job], ranks[1][job])  # every rank holds the same result
    assert _same(ranks[0][2], ranks[0][3])  # same seed and world size: the same run
    for r, one in zip(ranks[0][:2], single):
        np.testing.assert_array_equal(r["genotypes"], one["genotypes"])
        np.testing.assert_array_equal(r["fitness"], one["fitness"])
        assert r["history"] == one["history"]
        np.testing.assert_allclose(r["params"], one["params"], rtol=1e-5, atol=1e-5)
