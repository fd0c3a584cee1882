"""Tests of the native batched masked-module PathNet op against its pure-PyTorch reference.

Tests of the op take the ``device`` fixture (tests/conftest.py): cpu here, cpu and cuda on a GPU
machine; inputs are drawn on the CPU from seeded generators (the same values on every device) and
moved. The split of layer-1 GEMMs over CPU threads is tested on cpu only."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emofast.errors import InputError
from emofast.ops.pathnet import (
    genotype_to_mask,
    pathnet,
    pathnet_backward,
    pathnet_forward_train,
    pathnet_reference,
    pathnet_sgd_,
)


def make_stack(L, M, H, IN, *, merged=True, dtype=torch.float64, seed=0, requires_grad=True, device="cpu"):
    """Parameters of a PathNet stack; returns (leaves, weights as passed to the op, biases)."""
    g = torch.Generator().manual_seed(seed)

    def leaf(t):
        return t.to(device).requires_grad_(requires_grad)

    leaves, weights, biases = [], [], []
    for layer in range(L):
        fan_in = IN if layer == 0 else H
        if merged:  # nn.PathNet's layout: contiguous (M, H, in), passed transposed
            w = leaf(torch.rand(M, H, fan_in, generator=g, dtype=dtype) * 2 - 1)
            weights.append(w.transpose(1, 2))
        else:
            w = leaf(torch.rand(M, fan_in, H, generator=g, dtype=dtype) * 2 - 1)
            weights.append(w)
        leaves.append(w)
        biases.append(leaf(torch.rand(M, H, generator=g, dtype=dtype) * 0.4 - 0.1))
    return leaves, weights, biases


def rand_x(shape, *, seed, dtype=torch.float64, device="cpu", requires_grad=False):
    """An input x of normal values from a seeded generator, on `device`."""
    x = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    return x.to(device).requires_grad_(requires_grad)


def grads_or_zero(outputs, inputs, grad_outputs):
    gs = torch.autograd.grad(outputs, inputs, grad_outputs, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for g, i in zip(gs, inputs)]


def assert_parity(x, leaves, weights, biases, path, frozen, atol=1e-10, rtol=1e-7):
    out = pathnet(x, weights, biases, path, frozen)
    ref = pathnet_reference(x, weights, biases, path, frozen)
    torch.testing.assert_close(out, ref, atol=atol, rtol=rtol)
    go = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1)).to(out.device)
    inputs = [x] + leaves + biases
    got = grads_or_zero(out, inputs, go)
    want = grads_or_zero(ref, inputs, go)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
    return out, got


@st.composite
def problems(draw):
    P = draw(st.integers(1, 4))
    B = draw(st.integers(1, 4))
    L = draw(st.integers(1, 3))
    M = draw(st.integers(1, 5))
    H = draw(st.integers(1, 4))
    IN = draw(st.integers(1, 6))
    shared = draw(st.booleans())
    merged = draw(st.booleans())
    use_genotype = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    if use_genotype:  # repeated genes are likely with small M
        N = draw(st.integers(1, 4))
        path = torch.randint(0, M, (P, L, N), generator=g)
    else:
        path = torch.rand(P, L, M, generator=g) < 0.5
        first = torch.randint(0, M, (P, L), generator=g)
        path.scatter_(2, first.unsqueeze(-1), True)  # at least one active module per layer
    frozen = torch.rand(L, M, generator=g) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    return dict(P=P, B=B, L=L, M=M, H=H, IN=IN, shared=shared, merged=merged, path=path, frozen=frozen, seed=seed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(problems())
def test_parity_with_reference(device, pb):
    leaves, weights, biases = make_stack(pb["L"], pb["M"], pb["H"], pb["IN"], merged=pb["merged"], seed=pb["seed"],
                                         device=device)
    shape = (pb["B"], pb["IN"]) if pb["shared"] else (pb["P"], pb["B"], pb["IN"])
    x = rand_x(shape, seed=pb["seed"] + 1, device=device, requires_grad=True)
    assert_parity(x, leaves, weights, biases, pb["path"].to(device), pb["frozen"].to(device))


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("merged", [True, False])
def test_parity_wide_input(shared, merged, device):
    """in > 256 takes the per-pathway GEMM route when the input is per pathway."""
    P, B, L, M, H, IN = 3, 5, 3, 7, 4, 300
    leaves, weights, biases = make_stack(L, M, H, IN, merged=merged, seed=3, device=device)
    x = rand_x((B, IN) if shared else (P, B, IN), seed=4, device=device, requires_grad=True)
    path = torch.tensor([[[0, 1, 2, 3], [1, 1, 5, 6], [2, 4, 4, 4]],
                         [[3, 4, 5, 6], [0, 2, 2, 2], [6, 6, 6, 6]],
                         [[0, 6, 2, 2], [3, 4, 5, 6], [0, 1, 2, 3]]], device=device)
    frozen = torch.zeros(L, M, dtype=torch.bool, device=device)
    frozen[0, 2] = frozen[1, 5] = True
    assert_parity(x, leaves, weights, biases, path, frozen, atol=1e-9)


def test_float32_parity(device):
    leaves, weights, biases = make_stack(3, 6, 5, 40, dtype=torch.float32, seed=5, device=device)
    x = rand_x((8, 40), seed=6, dtype=torch.float32, device=device, requires_grad=True)
    path = torch.randint(0, 6, (4, 3, 4), generator=torch.Generator().manual_seed(2)).to(device)
    out, _ = assert_parity(x, leaves, weights, biases, path, None, atol=1e-5)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("H", [1, 8, 17, 20, 33, 70])
@pytest.mark.parametrize("shared", [True, False])
def test_parity_vector_widths(dtype, H, shared, device):
    """The CPU kernel of the narrow layers works on whole vectors of output units (16 float32 / 8
    float64 lanes, up to 4 vectors at a time) and on blocks of 4 rows: widths that are not a
    multiple of the vector, several chunks, and row tails."""
    P, B, L, M, IN = 3, 7, 3, 5, 9
    leaves, weights, biases = make_stack(L, M, H, IN, dtype=dtype, seed=H, device=device)
    x = rand_x((B, IN) if shared else (P, B, IN), seed=H + 1, dtype=dtype, device=device, requires_grad=True)
    path = torch.randint(0, M, (P, L, 3), generator=torch.Generator().manual_seed(H)).to(device)
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-10, rtol=1e-7)
    assert_parity(x, leaves, weights, biases, path, None, **tol)


@pytest.mark.parametrize("shared", [True, False])
def test_non_finite_in_deeper_layer(shared, device):
    """A NaN in an active module of a deeper layer raises; one in a module no pathway uses does not."""
    _, weights, biases = make_stack(3, 4, 20, 6, dtype=torch.float32, seed=41, requires_grad=False, device=device)
    x = rand_x((5, 6) if shared else (2, 5, 6), seed=42, dtype=torch.float32, device=device)
    path = torch.tensor([[[0, 1], [1, 2], [0, 0]], [[2, 3], [1, 1], [3, 3]]], device=device)
    biases[1] = biases[1].clone()
    biases[1][3, 7] = float("nan")  # module 3 of layer 1 is unused
    pathnet(x, weights, biases, path)
    biases[2] = biases[2].clone()
    biases[2][3, 19] = float("inf")  # module 3 of layer 2 is pathway 1's: 5 rows x 1 unit
    with pytest.raises(ValueError, match="5 non-finite pre-activation.*layer 2"):
        pathnet(x, weights, biases, path)


@pytest.mark.parametrize("merged", [True, False])
def test_split_gemms_over_threads(merged):
    """Layer-1 GEMMs big enough to be shared out over two threads (runs cut between them): forward,
    gradients and the fused SGD step still match the reference."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        P, B, L, M, H, IN = 3, 64, 2, 7, 20, 1100
        leaves, weights, biases = make_stack(L, M, H, IN, merged=merged, seed=43)
        x = rand_x((B, IN), seed=44, requires_grad=True)
        path = torch.tensor([[[0, 1, 2], [0, 1, 1]], [[2, 3, 5], [2, 4, 6]], [[6, 6, 1], [3, 3, 3]]])
        frozen = torch.zeros(L, M, dtype=torch.bool)
        frozen[0, 3] = True
        assert_parity(x, leaves, weights, biases, path, frozen, atol=1e-9)
        with torch.no_grad():
            ws = [w.detach().clone() for w in weights]
            bs = [b.detach().clone() for b in biases]
            out, saved = pathnet_forward_train(x.detach(), ws, bs, path)
            grad = torch.randn_like(out)
            _, gw, gb = pathnet_backward(grad, x.detach(), ws, bs, path, frozen, saved)
            want = [w - 0.01 * g for w, g in zip(ws, gw)]
            pathnet_sgd_(grad, x.detach(), ws, bs, path, frozen, saved, 0.01)
            for a, b in zip(ws, want):
                torch.testing.assert_close(a, b)
            assert torch.equal(ws[0][3], weights[0][3].detach()) and torch.equal(ws[0][4], weights[0][4].detach())
    finally:
        torch.set_num_threads(threads)


def test_repeated_genes_collapse(device):
    leaves, weights, biases = make_stack(2, 5, 3, 4, seed=7, device=device)
    x = rand_x((6, 4), seed=8, device=device)
    g = torch.tensor([[[2, 2, 2, 0], [1, 1, 1, 1]]], device=device)
    mask = torch.zeros(1, 2, 5, dtype=torch.bool, device=device)
    mask[0, 0, [0, 2]] = True
    mask[0, 1, 1] = True
    torch.testing.assert_close(pathnet(x, weights, biases, g), pathnet(x, weights, biases, mask))
    torch.testing.assert_close(genotype_to_mask(g, 5), mask)
    # mean over the two distinct modules, not a weighted sum over four genes
    a = (torch.relu(x @ weights[0][0] + biases[0][0]) + torch.relu(x @ weights[0][2] + biases[0][2])) / 2
    torch.testing.assert_close(pathnet(x, weights, biases, g)[0], torch.relu(a @ weights[1][1] + biases[1][1]))


def test_every_module_frozen(device):
    L, M = 3, 4
    leaves, weights, biases = make_stack(L, M, 3, 5, seed=11, device=device)
    x = rand_x((2, 4, 5), seed=12, device=device, requires_grad=True)
    path = torch.randint(0, M, (2, L, 2), generator=torch.Generator().manual_seed(0)).to(device)
    frozen = torch.ones(L, M, dtype=torch.bool, device=device)
    out, grads = assert_parity(x, leaves, weights, biases, path, frozen)
    assert grads[0].abs().sum() > 0  # the input gradient flows through frozen modules
    assert all(float(g.abs().sum()) == 0.0 for g in grads[1:])


@pytest.mark.parametrize("shared", [True, False])
def test_tiny_edges_p1_b1_m1(shared, device):
    leaves, weights, biases = make_stack(2, 1, 1, 1, seed=13, device=device)
    x = rand_x((1, 1) if shared else (1, 1, 1), seed=14, device=device, requires_grad=True)
    path = torch.zeros(1, 2, 1, dtype=torch.long, device=device)
    assert_parity(x, leaves, weights, biases, path, None)


def test_inactive_modules_get_zero_gradient(device):
    leaves, weights, biases = make_stack(2, 6, 3, 5, seed=17, device=device)
    x = rand_x((4, 5), seed=18, device=device)
    path = torch.tensor([[[0, 1], [2, 3]]], device=device)
    out = pathnet(x, weights, biases, path)
    out.sum().backward()
    assert float(leaves[0].grad[2:].abs().sum()) == 0.0 and float(leaves[0].grad[:2].abs().sum()) > 0
    assert float(biases[1].grad[[0, 1, 4, 5]].abs().sum()) == 0.0


@pytest.mark.parametrize("shared", [True, False])
def test_gradcheck(shared, device):
    leaves, weights, biases = make_stack(3, 4, 3, 5, seed=19, device=device)
    x = rand_x((3, 5) if shared else (2, 3, 5), seed=20, device=device, requires_grad=True)
    path = torch.tensor([[[0, 1], [1, 2], [3, 3]], [[1, 3], [0, 0], [2, 3]]], device=device)
    frozen = torch.zeros(3, 4, dtype=torch.bool, device=device)  # frozen modules are not differentiable: checked vs reference

    def f(x, *params):
        ws = [p.transpose(1, 2) for p in params[:3]]
        return pathnet(x, ws, list(params[3:]), path, frozen)

    assert torch.autograd.gradcheck(f, (x, *leaves, *biases), atol=1e-6)


def test_opcheck(device):
    leaves, weights, biases = make_stack(3, 4, 3, 5, seed=23, dtype=torch.float32, device=device)
    path = torch.tensor([[[0, 1], [1, 2], [3, 3]], [[1, 3], [0, 0], [2, 3]]], device=device)
    frozen = torch.zeros(3, 4, dtype=torch.bool, device=device)
    shared = rand_x((3, 5), seed=24, dtype=torch.float32, device=device, requires_grad=True)
    for x in (shared, rand_x((2, 3, 5), seed=25, dtype=torch.float32, device=device)):
        torch.library.opcheck(torch.ops.emofast.pathnet.default, (x, weights, biases, path, frozen))
        with torch.no_grad():
            torch.library.opcheck(torch.ops.emofast.pathnet_forward_train.default, (x, weights, biases, path))
            out, saved = pathnet_forward_train(x, weights, biases, path)
            grad = torch.randn_like(out)
            torch.library.opcheck(
                torch.ops.emofast.pathnet_backward.default, (grad, x, weights, biases, path, frozen, saved, True)
            )
            ws = [w.detach().clone() for w in weights]
            bs = [b.detach().clone() for b in biases]
            torch.library.opcheck(
                torch.ops.emofast.pathnet_sgd_.default, (grad, x, ws, bs, path, frozen, saved, 0.01),
                test_utils=("test_schema", "test_faketensor"),
            )


@pytest.mark.parametrize("shared", [True, False])
def test_fused_sgd_matches_dense_gradient_step(shared, device):
    L, M, H, IN = 3, 6, 4, 300 if shared else 7
    leaves, weights, biases = make_stack(L, M, H, IN, seed=29, requires_grad=False, device=device)
    x = rand_x((5, IN) if shared else (2, 5, IN), seed=30, device=device)
    path = torch.tensor([[[0, 1, 2], [1, 2, 2], [5, 5, 4]], [[2, 3, 0], [0, 1, 5], [4, 3, 3]]], device=device)
    frozen = torch.zeros(L, M, dtype=torch.bool, device=device)
    frozen[0, 1] = frozen[2, 4] = True
    out, saved = pathnet_forward_train(x, weights, biases, path)
    grad = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(31)).to(device)
    _, gw, gb = pathnet_backward(grad, x, weights, biases, path, frozen, saved)
    lr = 0.05
    want_w = [w - lr * g for w, g in zip(weights, gw)]
    want_b = [b - lr * g for b, g in zip(biases, gb)]
    untouched = leaves[0][4].clone()  # inactive module of layer 0
    pathnet_sgd_(grad, x, weights, biases, path, frozen, saved, lr)
    for a, b in zip(weights, want_w):
        torch.testing.assert_close(a, b)
    for a, b in zip(biases, want_b):
        torch.testing.assert_close(a, b)
    assert torch.equal(leaves[0][4], untouched)
    # frozen modules are bit-identical
    assert float(gw[0][1].abs().sum()) == 0.0 and float(gb[2][4].abs().sum()) == 0.0


def _stack_for_errors(device="cpu"):
    _, weights, biases = make_stack(2, 3, 2, 4, seed=31, dtype=torch.float32, requires_grad=False, device=device)
    return rand_x((5, 4), seed=32, dtype=torch.float32, device=device), weights, biases


@pytest.mark.parametrize(
    "mutate, exc, match",
    [
        (lambda x, w, b, p: (x[:, :3], w, b, p), ValueError, "weights\\[0\\] must have shape"),
        (lambda x, w, b, p: (x.double(), w, b, p), TypeError, "dtypes"),
        (lambda x, w, b, p: (x.long(), w, b, p), TypeError, "float32 or float64"),
        (lambda x, w, b, p: (x, w, b, p.clone().fill_(3)), ValueError, "out of range"),
        (lambda x, w, b, p: (x, w, b, p.clone().fill_(-1)), ValueError, "out of range"),
        (lambda x, w, b, p: (x, w, b, torch.zeros(2, 2, 3, dtype=torch.bool, device=x.device)), ValueError,
         "no active module"),
        (lambda x, w, b, p: (x, w, b, p[:, :1]), ValueError, "path must be"),
        (lambda x, w, b, p: (x, w, b, p.float()), TypeError, "bool mask or an int64"),
        (lambda x, w, b, p: (x, w[:1], b, p), ValueError, "bias tensors"),
        (lambda x, w, b, p: (x, w, [b[0], b[1][:2]], p), ValueError, "biases\\[1\\] must have shape"),
        (lambda x, w, b, p: (torch.randn(3, 5, 4, device=x.device), w, b, p), ValueError, "pathways but path has"),
        (lambda x, w, b, p: (x.clone().fill_(float("nan")), w, b, p), ValueError, "non-finite"),
        (lambda x, w, b, p: (torch.randn(0, 4, device=x.device), w, b, p), ValueError, "empty input"),
        (lambda x, w, b, p: (x.unsqueeze(0).unsqueeze(0), w, b, p), ValueError, "x must be"),
    ],
)
def test_bad_input_raises(mutate, exc, match, device):
    x, w, b = _stack_for_errors(device)
    p = torch.tensor([[[0, 1], [2, 2]], [[1, 1], [0, 2]]], device=device)
    args = mutate(x, w, b, p)
    with pytest.raises(exc, match=match):
        pathnet(*args)


def test_bad_frozen_and_devices_and_types(device):
    x, w, b = _stack_for_errors(device)
    p = torch.tensor([[[0, 1], [2, 2]]], device=device)
    with pytest.raises(ValueError, match="frozen must have shape"):
        pathnet(x, w, b, p, torch.zeros(2, 4, dtype=torch.bool, device=device))
    with pytest.raises(TypeError, match="frozen must be a bool"):
        pathnet(x, w, b, p, torch.zeros(2, 3, device=device))
    with pytest.raises(InputError, match="on one device"):
        pathnet(x, w, b, p.to("meta"))
    with pytest.raises(TypeError):
        pathnet(x, w[0], b, p)
    with pytest.raises(TypeError):
        pathnet(x.cpu().numpy(), w, b, p)
    with pytest.raises(InputError, match="out of range"):
        genotype_to_mask(torch.tensor([[5]]), 3)
    with pytest.raises(InputError, match="lr must be finite"):
        pathnet_sgd_(torch.zeros(1, 5, 2, device=device), x, w, b, p, None, [], math.inf)


def test_backward_rejects_mismatched_saved(device):
    x, w, b = _stack_for_errors(device)
    p = torch.tensor([[[0, 1], [2, 2]]], device=device)
    out, saved = pathnet_forward_train(x, w, b, p)
    with pytest.raises(ValueError, match="saved"):
        pathnet_backward(torch.zeros_like(out), x, w, b, p, None, saved[:1])
    with pytest.raises(ValueError, match="grad must have shape"):
        pathnet_backward(torch.zeros(2, 5, 2, device=device), x, w, b, p, None, saved)
    with pytest.raises(TypeError, match="grad dtype"):
        pathnet_backward(torch.zeros_like(out).double(), x, w, b, p, None, saved)
    with pytest.raises(ValueError, match="lr must be finite"):  # the op's own check
        frozen = torch.zeros(2, 3, dtype=torch.bool, device=device)
        torch.ops.emofast.pathnet_sgd_(torch.zeros_like(out), x, w, b, p, frozen, saved, math.nan)
