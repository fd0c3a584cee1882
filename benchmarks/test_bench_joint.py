"""pytest-benchmark suite: one joint-learning training step (Algorithm 1, the demo's tiny GroupNorm
CNN) with the fused contrastive loss vs the pure-PyTorch reference vs no contrastive term.
Run: pytest benchmarks/test_bench_joint.py --benchmark-enable (groups compare the loops at each K);
the table with ratios and the loss's share of a step comes from ``python benchmarks/bench_joint.py``.
"""
from __future__ import annotations

import pytest

from bench_joint import LOOPS, make_trainer


@pytest.mark.parametrize("k", [2, 64])
@pytest.mark.parametrize("loop", LOOPS)
def test_joint_step(benchmark, loop, k):
    benchmark.group = f"joint step K={k}"
    benchmark(make_trainer(loop, k).step)
