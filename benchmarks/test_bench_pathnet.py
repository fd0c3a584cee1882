"""PathNet benchmarks (pytest-benchmark): the native population kernel and fused tournament step
against the per-module-loop reference (the structure of public PathNet code).

Run: ``pytest benchmarks/test_bench_pathnet.py --benchmark-group-by=group``; the table with ratios
comes from ``python benchmarks/pathnet_table.py``.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emofast.nn import PathNet
from emofast.ops.pathnet import pathnet, pathnet_reference

P, B, L, M, H, N, IN, C = 20, 64, 3, 20, 20, 4, 64 * 64 * 3, 6


def make_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    net = PathNet(IN, C, generator=g)
    x = torch.randn(B, IN, generator=g)
    y = torch.randint(0, C, (B,), generator=g)
    genotypes = net.random_genotypes(P, g)
    return net, x, y, genotypes


def reference_step(net: PathNet, x, y, genotype, lr: float = 0.02) -> None:
    """One SGD step of one pathway the way public PathNet code does it: per-module loop forward,
    autograd backward (dense gradients), SGD over every parameter."""
    for p in net.parameters():
        p.grad = None
    feats = pathnet_reference(x, net.layer_weights(), list(net.biases), genotype[None], net.frozen)
    loss = F.cross_entropy(net.heads[0](feats[0]), y)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p.sub_(p.grad, alpha=lr)


@pytest.fixture(scope="module")
def problem():
    return make_problem()


@pytest.mark.benchmark(group="pathnet-population-forward")
def test_forward_kernel(benchmark, problem):
    net, x, _, g = problem
    w, b = net.layer_weights(), list(net.biases)
    with torch.no_grad():
        benchmark(pathnet, x, w, b, g)


@pytest.mark.benchmark(group="pathnet-population-forward")
def test_forward_reference_loop(benchmark, problem):
    net, x, _, g = problem
    w, b = net.layer_weights(), list(net.biases)
    with torch.no_grad():
        benchmark.pedantic(pathnet_reference, (x, w, b, g), rounds=5, iterations=1)


@pytest.mark.benchmark(group="pathnet-population-forward")
def test_forward_dense_gemm_bound(benchmark, problem):
    _, x, _, _ = problem
    w = torch.randn(IN, M * H)
    benchmark(torch.mm, x, w)


@pytest.mark.benchmark(group="pathnet-tournament-step")
def test_two_contenders_fused_step(benchmark):
    net, x, y, g = make_problem(1)
    benchmark(net.train_step, x, y, g[:2], lr=0.02)


@pytest.mark.benchmark(group="pathnet-tournament-step")
def test_two_contenders_sequential_reference_steps(benchmark):
    net, x, y, g = make_problem(1)

    def two():
        reference_step(net, x, y, g[0])
        reference_step(net, x, y, g[1])

    benchmark.pedantic(two, rounds=10, iterations=1)
