"""pytest-benchmark suite: fused contrastive loss vs the reference vs pytorch-metric-learning,
forward + backward, D = 128. Run: pytest benchmarks/test_bench_contrastive.py --benchmark-enable
(groups compare the three implementations at each K)."""
from __future__ import annotations

import pytest

from contrastive_table import make_step

KS = [2, 64, 256, 1024]


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("method", ["emofast", "reference", "pml"])
def test_contrastive_forward_backward(benchmark, method, k):
    if method == "pml":
        pytest.importorskip("pytorch_metric_learning")
    if method == "reference" and k == 1024:
        benchmark.extra_info["note"] = "materialises K*K*D"
    benchmark.group = f"contrastive K={k}"
    step = make_step(method, k)
    benchmark(step)
