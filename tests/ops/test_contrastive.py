"""Fused pairwise contrastive loss: parity with the pure-PyTorch reference, gradients, opcheck,
edge cases and bad input.

Tests of the op take the ``device`` fixture (tests/conftest.py): cpu here, cpu and cuda on a GPU
machine. Tests of CPU-only behaviour (the forced CPU formulations' thread-count independence) run
on cpu only."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import emofast
from emofast.errors import InputError
from emofast.nn import ContrastiveLoss
from emofast.ops import (
    contrastive_loss,
    contrastive_loss_in_batch,
    contrastive_loss_in_batch_reference,
    contrastive_loss_reference,
)

FORMS = ["paper", "hadsell"]
REDUCTIONS = ["mean", "sum", "none"]
# Settings of the hypothesis tests: no deadline (shapes up to 1024 x 1024), and the function-scoped
# fixtures they take (device, cpu_path) hold no state that examples could share.
HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _batch(ka, kb, d, n_classes, dtype, seed, scale=1.0, device="cpu"):
    """Features and labels drawn on the CPU (the same values on every device), then moved."""
    g = torch.Generator().manual_seed(seed)
    a = (torch.randn(ka, d, generator=g, dtype=torch.float64) * scale).to(dtype)
    b = (torch.randn(kb, d, generator=g, dtype=torch.float64) * scale).to(dtype)
    la = torch.randint(0, n_classes, (ka,), generator=g)
    lb = torch.randint(0, n_classes, (kb,), generator=g)
    return a.to(device), b.to(device), la.to(device), lb.to(device)


def _close_fixed(x, ref):
    """float32: relative 2e-4 and absolute 1e-5 of the largest magnitude; float64: 1e-10."""
    scale = max(1.0, ref.detach().abs().max().item()) if ref.numel() else 1.0
    if ref.dtype == torch.float32:
        torch.testing.assert_close(x, ref, rtol=2e-4, atol=1e-5 * scale)
    else:
        torch.testing.assert_close(x, ref, rtol=1e-10, atol=1e-10 * scale)


def _check_parity(a, b, la, lb, *, margin, form, reduction):
    a1 = a.clone().requires_grad_(True)
    b1 = b.clone().requires_grad_(True)
    a2 = a.clone().requires_grad_(True)
    b2 = b.clone().requires_grad_(True)
    out = contrastive_loss(a1, b1, la, lb, margin=margin, form=form, reduction=reduction)
    ref = contrastive_loss_reference(a2, b2, la, lb, margin=margin, form=form, reduction=reduction)
    assert out.shape == ref.shape
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1)).to(out.device)
    out.backward(g)
    ref.backward(g)
    exact = None
    if a.dtype == torch.float32:
        # float32 sums of many terms that cancel can differ from the float32 reference by more
        # than the fixed tolerance; then the kernel must be as close to float64 as the reference.
        a3, b3 = a.double().requires_grad_(True), b.double().requires_grad_(True)
        out64 = contrastive_loss_reference(a3, b3, la, lb, margin=margin, form=form, reduction=reduction)
        out64.backward(g.double())
        exact = (out64, a3.grad, b3.grad)
    slack = _hinge_flip_slack(a, b, g, margin, form, reduction) if exact is not None else (0.0, 0.0)
    for i, (x, r) in enumerate(((out, ref), (a1.grad, a2.grad), (b1.grad, b2.grad))):
        _close(x, r, None if exact is None else exact[i], slack=0.0 if i == 0 else slack[i - 1])


def _hinge_flip_slack(a, b, g, margin, form, reduction):
    """The largest change of an a- and a b-gradient element if every pair whose squared distance
    is within float32 rounding of the margin fell on the other side of the hinge. The ``paper``
    form's gradient jumps there (max(0, m - d^2): -2(a - b) inside, 0 outside), so float32 and
    float64 may legitimately disagree on such pairs; ``hadsell``'s gradient is continuous."""
    if form != "paper":
        return 0.0, 0.0
    a64, b64 = a.double(), b.double()
    d2 = torch.cdist(a64, b64) ** 2
    near = (d2 - margin).abs() <= 1e-5 * max(margin, 1.0)
    if not near.any():
        return 0.0, 0.0
    scale = g.double().abs().max().item() / (d2.numel() if reduction == "mean" else 1)
    diff = (a64[:, None, :] - b64[None, :, :]).abs() * near[..., None]
    return (2 * scale * diff.sum(1).max().item(), 2 * scale * diff.sum(0).max().item())


def _close(x, ref, exact=None, slack=0.0):
    """float32: relative 2e-4 and absolute 1e-5 of the largest magnitude (summation order and the
    Hadsell 1/d factor differ between kernel and reference), or, where that fails, at most twice
    the float32 reference's own largest error against the float64 result ``exact``, plus ``slack``
    (what pairs on the hinge's edge may flip, :func:`_hinge_flip_slack`); float64: 1e-10."""
    try:
        _close_fixed(x, ref)
    except AssertionError:
        if exact is None:
            raise
        err, ref_err = (x.double() - exact).abs().max().item(), (ref.double() - exact).abs().max().item()
        assert err <= 2.0 * ref_err + slack + 1e-7, (
            f"kernel error {err:.3g} vs float64, reference error {ref_err:.3g}, slack {slack:.3g}")


@settings(max_examples=60, **HYPOTHESIS)
@given(
    ka=st.integers(1, 1024),
    kb=st.integers(1, 1024),
    d=st.integers(1, 512),
    n_classes=st.integers(1, 8),
    form=st.sampled_from(FORMS),
    reduction=st.sampled_from(REDUCTIONS),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    margin=st.floats(0.0, 400.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_parity_with_reference(device, ka, kb, d, n_classes, form, reduction, dtype, margin, seed):
    # The reference materialises Ka*Kb*D: keep it within a few hundred MB.
    assume(ka * kb * d <= 2**21)
    a, b, la, lb = _batch(ka, kb, d, n_classes, dtype, seed, device=device)
    _check_parity(a, b, la, lb, margin=margin, form=form, reduction=reduction)


@pytest.mark.parametrize("ka,kb,d", [(1024, 1024, 1), (1024, 3, 512), (1, 1024, 512), (1, 1, 1), (5, 7, 33)])
@pytest.mark.parametrize("form", FORMS)
def test_parity_extreme_shapes(device, ka, kb, d, form):
    a, b, la, lb = _batch(ka, kb, d, 3, torch.float32, seed=ka + kb + d, device=device)
    # margin around the typical squared distance (2d) so both hinge branches occur
    _check_parity(a, b, la, lb, margin=2.0 * d if form == "paper" else math.sqrt(2.0 * d), form=form, reduction="mean")


@settings(max_examples=15, **HYPOTHESIS)
@given(
    k=st.integers(2, 300),
    d=st.integers(1, 64),
    form=st.sampled_from(FORMS),
    reduction=st.sampled_from(REDUCTIONS),
    seed=st.integers(0, 2**31 - 1),
)
def test_in_batch_parity(cpu_path, device, k, d, form, reduction, seed):
    x, _, labels, _ = _batch(k, 1, d, 3, torch.float64, seed, device=device)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    margin = 2.0 * d
    out = contrastive_loss_in_batch(x1, labels, margin=margin, form=form, reduction=reduction)
    ref = contrastive_loss_in_batch_reference(x2, labels, margin=margin, form=form, reduction=reduction)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    if reduction == "none":
        assert torch.all(torch.tril(out) == 0)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_float64(form, reduction, cpu_path, device):
    a, b, la, lb = _batch(6, 5, 4, 2, torch.float64, seed=3, device=device)
    a.requires_grad_(True)
    b.requires_grad_(True)
    # margin chosen so some negatives are inside it and some outside, away from the kink
    f = lambda a, b: contrastive_loss(a, b, la, lb, margin=8.0, form=form, reduction=reduction)  # noqa: E731
    assert torch.autograd.gradcheck(f, (a, b))


@pytest.mark.parametrize("form", FORMS)
def test_gradcheck_in_batch(form, cpu_path, device):
    x, _, labels, _ = _batch(7, 1, 3, 2, torch.float64, seed=4, device=device)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: contrastive_loss_in_batch(x, labels, margin=6.0, form=form), (x,))


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("reduction", [0, 1, 2])
@pytest.mark.parametrize("form", [0, 1])
def test_opcheck(form, reduction, upper, cpu_path, device):
    a, b, la, lb = _batch(4, 4, 3, 2, torch.float64, seed=5, device=device)
    a.requires_grad_(True)
    b.requires_grad_(True)
    if upper:
        b, lb = a, la
    torch.library.opcheck(torch.ops.emofast.contrastive_loss.default, (a, b, la, lb, 3.0, form, reduction, upper))


def test_opcheck_forward_and_backward_ops(device):
    a, b, la, lb = _batch(3, 4, 5, 2, torch.float32, seed=6, device=device)
    torch.library.opcheck(torch.ops.emofast.contrastive_loss_forward.default, (a, b, la, lb, 9.0, 0, 1, False))
    _, w = torch.ops.emofast.contrastive_loss_forward(a, b, la, lb, 9.0, 0, 1, False)
    torch.library.opcheck(
        torch.ops.emofast.contrastive_loss_backward.default,
        (torch.tensor(1.0, device=device), w, a, b, la, lb, 1, False),
    )


def test_backward_op_checks_its_labels(device):
    a, b, la, lb = _batch(3, 4, 5, 2, torch.float32, seed=6, device=device)
    _, w = torch.ops.emofast.contrastive_loss_forward(a, b, la, lb, 9.0, 0, 1, False)
    bwd = torch.ops.emofast.contrastive_loss_backward.default
    one = torch.tensor(1.0, device=device)
    with pytest.raises(ValueError, match="labels must be int64 of shapes"):
        bwd(one, w, a, b, la[:2], lb, 1, False)
    with pytest.raises(TypeError, match="labels must be int64 of shapes"):
        bwd(one, w, a, b, la, lb.int(), 1, False)


def test_backward_op_raises_value_and_type_errors(device):
    # Bad shapes raise ValueError, bad dtypes TypeError, as in the forward.
    a, b, la, lb = _batch(3, 4, 5, 2, torch.float32, seed=6, device=device)
    _, w = torch.ops.emofast.contrastive_loss_forward(a, b, la, lb, 9.0, 0, 0, False)
    bwd = torch.ops.emofast.contrastive_loss_backward.default
    with pytest.raises(ValueError, match="grad must have shape"):
        bwd(torch.ones(3, 3, device=device), w, a, b, la, lb, 0, False)
    with pytest.raises(ValueError, match="grad of a reduced loss must be a scalar"):
        bwd(torch.ones(3, 4, device=device), w, a, b, la, lb, 1, False)
    with pytest.raises(ValueError, match="weights must have shape"):
        bwd(torch.tensor(1.0, device=device), w[:2], a, b, la, lb, 1, False)
    with pytest.raises(TypeError, match="dtypes differ"):
        bwd(torch.tensor(1.0, dtype=torch.float64, device=device), w, a, b, la, lb, 1, False)


def test_large_backward_uses_gemm_path_and_matches(device):
    # Ka*Kb*D above the fused-loop threshold: the GEMM backward must agree with the reference.
    a, b, la, lb = _batch(300, 200, 64, 4, torch.float64, seed=7, device=device)
    _check_parity(a, b, la, lb, margin=100.0, form="hadsell", reduction="none")


# --- the two CPU forward paths -----------------------------------------------------------------
# Large problems take squared distances from a GEMM (|a|^2 + |b|^2 - 2ab on centred features) and
# recompute exactly the pairs near the hinge or near zero; EMOFAST_CONTRASTIVE_PATH forces a path so
# that both are checked on every shape.


# The backward has three CPU forms: the exact per-pair loop ("pairs"), the GEMM form ("gemm") and,
# for reduced losses, per-class sums for the positive pairs plus the active negatives pair by pair
# ("classes"); EMOFAST_CONTRASTIVE_BACKWARD forces one. The fixture runs a forward path with each
# backward it is paired with in practice, and the class-sum backward after both forwards.
CPU_PATHS = [("exact", "pairs"), ("gemm", "gemm"), ("gemm", "classes"), ("exact", "classes")]


@pytest.fixture(params=CPU_PATHS, ids=["+".join(p) for p in CPU_PATHS])
def cpu_path(request, monkeypatch, device):
    # The variables only steer the CPU kernels: on other devices one pairing runs, the others skip.
    if device.type != "cpu" and request.param != CPU_PATHS[0]:
        pytest.skip(f"EMOFAST_CONTRASTIVE_* select CPU formulations; one run suffices on {device.type}")
    forward, backward = request.param
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_PATH", forward)
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_BACKWARD", backward)
    return request.param


@settings(max_examples=25, **HYPOTHESIS)
@given(
    ka=st.integers(1, 300),
    kb=st.integers(1, 300),
    d=st.integers(1, 256),
    form=st.sampled_from(FORMS),
    reduction=st.sampled_from(REDUCTIONS),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    offset=st.sampled_from([0.0, 30.0]),
    spread=st.sampled_from([1.0, 1e-2]),
    seed=st.integers(0, 2**31 - 1),
)
def test_parity_both_paths(cpu_path, device, ka, kb, d, form, reduction, dtype, offset, spread, seed):
    # Features far from the origin and tightly clustered are where |a|^2 + |b|^2 - 2ab cancels.
    a, b, la, lb = _batch(ka, kb, d, 3, torch.float64, seed, device=device)
    a, b = (offset + spread * a).to(dtype), (offset + spread * b).to(dtype)
    typical = 2.0 * d * spread**2
    margin = typical if form == "paper" else math.sqrt(typical)
    _check_parity(a, b, la, lb, margin=margin, form=form, reduction=reduction)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("form", FORMS)
def test_class_sum_backward_sparse_negatives(form, upper, device):
    # The benchmark's regime (K=256, D=128, margin 1, randn features): no negative pair is inside the
    # margin, so the default backward is all per-class sums; features far from the origin check the
    # centring of those sums. Labels are arbitrary int64 values, not 0..C-1.
    g = torch.Generator().manual_seed(21)
    a = 1000.0 + torch.randn(256, 128, generator=g, dtype=torch.float64)
    b = a.clone() if upper else 1000.0 + torch.randn(250, 128, generator=g, dtype=torch.float64)
    values = torch.tensor([-(2**62), -7, 0, 3, 10**12, 2**62])
    la = values[torch.randint(0, 6, (256,), generator=g)]
    lb = la.clone() if upper else values[torch.randint(0, 6, (250,), generator=g)]
    a, b, la, lb = a.to(device), b.to(device), la.to(device), lb.to(device)
    for dtype in (torch.float64, torch.float32):
        if upper:
            x1 = a.to(dtype).clone().requires_grad_(True)
            x2 = a.to(dtype).clone().requires_grad_(True)
            out = contrastive_loss_in_batch(x1, la, margin=1.0, form=form)
            ref = contrastive_loss_in_batch_reference(x2, la, margin=1.0, form=form)
            _close(out, ref)
            out.backward()
            ref.backward()
            _close(x1.grad, x2.grad)
        else:
            _check_parity(a.to(dtype), b.to(dtype), la, lb, margin=1.0, form=form, reduction="sum")


@pytest.mark.parametrize("form", FORMS)
def test_class_sum_backward_few_active_negatives(form, device):
    # A margin at the 3% quantile of the squared distances: a few active negatives per row, below the
    # density at which the default backward switches to the dense GEMM form (Kb = 203: a tail after
    # the blocks of 16 that the negative scan skips).
    a, b, la, lb = _batch(190, 203, 48, 5, torch.float64, seed=23, device=device)
    d2 = torch.cdist(a, b) ** 2
    q = torch.quantile(d2.flatten(), 0.03).item()
    margin = q if form == "paper" else math.sqrt(q)
    _check_parity(a, b, la, lb, margin=margin, form=form, reduction="mean")
    _check_parity(a.float(), b.float(), la, lb, margin=margin, form=form, reduction="sum")


def test_class_sum_backward_single_class_and_distinct_classes(cpu_path, device):
    # One class (every pair positive) and all-distinct labels (no pair positive, all negatives active).
    a, b, _, _ = _batch(40, 33, 16, 1, torch.float64, seed=22, device=device)
    same_a, same_b = torch.full((40,), 5, device=device), torch.full((33,), 5, device=device)
    _check_parity(a, b, same_a, same_b, margin=1.0, form="paper", reduction="mean")
    distinct_a, distinct_b = torch.arange(40, device=device), torch.arange(100, 133, device=device)
    _check_parity(a, b, distinct_a, distinct_b, margin=1e3, form="hadsell", reduction="mean")


def test_large_backward_with_huge_hadsell_weights(device):
    # Found by hypothesis in CI: D=1, margin 115, so Hadsell negatives at d << m have weights
    # -(m - d)/2d in the thousands; the GEMM form of the backward would cancel.
    a, b, la, lb = _batch(390, 389, 1, 3, torch.float32, seed=0, device=device)
    _check_parity(a, b, la, lb, margin=115.0, form="hadsell", reduction="mean")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", FORMS)
def test_gemm_path_hinge_decided_by_exact_distance(monkeypatch, device, dtype, form):
    # Margins set exactly at squared distances of negative pairs: the GEMM's rounding (on centred,
    # no longer dyadic features) must not move any pair across the hinge. Features on a dyadic grid
    # make every exact summation order give the same d2, so "exactly at the margin" is well defined.
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_PATH", "gemm")
    g = torch.Generator().manual_seed(21)
    a = (3.0 + torch.randint(-16, 17, (64, 40), generator=g) / 4).to(dtype)
    b = (3.0 + torch.randint(-16, 17, (48, 40), generator=g) / 4).to(dtype)
    la, lb = torch.randint(0, 4, (64,), generator=g), torch.randint(0, 4, (48,), generator=g)
    a, b, la, lb = a.to(device), b.to(device), la.to(device), lb.to(device)
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    neg = la[:, None] != lb[None, :]
    for q in (0.1, 0.5, 0.9):
        m2 = d2[neg].quantile(q).item()
        m2 = d2[neg][(d2[neg] - m2).abs().argmin()].item()  # exactly one pair's d2
        margin = m2 if form == "paper" else math.sqrt(m2)
        _check_parity(a, b, la, lb, margin=margin, form=form, reduction="none")


def test_gemm_path_identical_and_offset_features(monkeypatch, device):
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_PATH", "gemm")
    g = torch.Generator().manual_seed(24)
    x = (1000.0 + torch.randn(32, 64, generator=g)).to(device)
    labels = torch.randint(0, 3, (32,), generator=g).to(device)
    none = contrastive_loss(x, x.clone(), labels, labels, reduction="none", form="hadsell")
    assert torch.all(torch.diagonal(none) == 0)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    loss = contrastive_loss(a, b, labels, labels + 1, margin=2.0, form="hadsell", reduction="sum")
    loss.backward()
    assert torch.isfinite(a.grad).all()
    near = x + 1e-3 * torch.randn(32, 64, generator=g).to(device)
    _check_parity(x, near, labels, labels, margin=1.0, form="paper", reduction="none")


def test_gemm_path_independent_of_thread_count(monkeypatch):
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_PATH", "gemm")
    a, b, la, lb = _batch(700, 300, 64, 4, torch.float32, seed=22)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = contrastive_loss(a, b, la, lb, reduction="none")
        torch.set_num_threads(max(2, old))
        many = contrastive_loss(a, b, la, lb, reduction="none")
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, many)


def test_gemm_path_non_finite_features_raise(monkeypatch, device):
    monkeypatch.setenv("EMOFAST_CONTRASTIVE_PATH", "gemm")
    a, b, la, lb = _batch(40, 40, 32, 2, torch.float32, seed=23, device=device)
    for bad in (float("nan"), float("inf")):
        a2 = a.clone()
        a2[3, 5] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            contrastive_loss(a2, b, la, lb)
    # huge but finite features whose distances are finite: exact recomputation, no false alarm
    big = torch.full((20, 16), 1e19, device=device)
    zeros = torch.zeros(20, dtype=torch.long, device=device)
    out = contrastive_loss(big, big.clone(), zeros, zeros)
    assert out.item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_squared_distance_exactly_at_margin(dtype, device):
    # d^2 = 1 + 4 = 5 exactly; negative pair at the margin: zero loss and zero gradient (paper form)
    a = torch.tensor([[0.0, 0.0]], dtype=dtype, device=device, requires_grad=True)
    b = torch.tensor([[1.0, 2.0]], dtype=dtype, device=device, requires_grad=True)
    la, lb = torch.tensor([0], device=device), torch.tensor([1], device=device)
    loss = contrastive_loss(a, b, la, lb, margin=5.0)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.all(a.grad == 0) and torch.all(b.grad == 0)
    ref = contrastive_loss_reference(a.detach(), b.detach(), la, lb, margin=5.0)
    assert ref.item() == 0.0
    # Hadsell: d = 5 exactly (3-4-5), margin 5
    a2 = torch.tensor([[0.0, 0.0]], dtype=dtype, device=device, requires_grad=True)
    b2 = torch.tensor([[3.0, 4.0]], dtype=dtype, device=device, requires_grad=True)
    loss2 = contrastive_loss(a2, b2, la, lb, margin=5.0, form="hadsell")
    loss2.backward()
    assert loss2.item() == 0.0 and torch.all(a2.grad == 0)
    # just inside the margin the hinge is active
    assert contrastive_loss(a.detach(), b.detach(), la, lb, margin=5.5).item() == pytest.approx(0.25)


@pytest.mark.parametrize("form", FORMS)
def test_identical_features(form, device):
    x = torch.randn(4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(25)).to(device)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1], device=device)
    other = torch.tensor([1, 1, 0, 0], device=device)
    # positives on identical rows: zero loss on the diagonal
    diag = torch.diagonal(contrastive_loss(a, b, labels, labels, form=form, reduction="none"))
    assert torch.all(diag == 0)
    # all negatives on identical rows: full hinge, and the gradient at d = 0 is zero (no NaN)
    loss = contrastive_loss(a[:1], b[:1], labels[:1], other[:1], margin=2.0, form=form, reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(1.0 if form == "paper" else 2.0)
    assert torch.isfinite(a.grad).all() and torch.all(a.grad == 0)


def test_all_positive_and_all_negative(device):
    a, b, _, _ = _batch(16, 12, 8, 1, torch.float64, seed=8, device=device)
    ones_a = torch.zeros(16, dtype=torch.long, device=device)
    ones_b = torch.zeros(12, dtype=torch.long, device=device)
    pos = contrastive_loss(a, b, ones_a, ones_b, reduction="none")
    d2 = torch.cdist(a, b) ** 2
    torch.testing.assert_close(pos, 0.5 * d2)
    neg = contrastive_loss(a, b, ones_a, ones_b + 1, margin=20.0, reduction="none")
    torch.testing.assert_close(neg, 0.5 * torch.relu(20.0 - d2))
    for la, lb in [(ones_a, ones_b), (ones_a, ones_b + 1)]:
        _check_parity(a, b, la, lb, margin=20.0, form="paper", reduction="mean")


def test_mean_is_over_all_pairs(device):
    a, b, la, lb = _batch(3, 5, 4, 2, torch.float64, seed=9, device=device)
    none = contrastive_loss(a, b, la, lb, reduction="none")
    assert none.shape == (3, 5)
    torch.testing.assert_close(contrastive_loss(a, b, la, lb, reduction="sum"), none.sum())
    torch.testing.assert_close(contrastive_loss(a, b, la, lb), none.sum() / 15)


def test_int32_labels_accepted_and_module(device):
    a, b, la, lb = _batch(4, 4, 3, 2, torch.float32, seed=10, device=device)
    x = contrastive_loss(a, b, la.int(), lb.int())
    torch.testing.assert_close(x, contrastive_loss(a, b, la, lb))
    module = ContrastiveLoss(margin=2.0, form="hadsell")
    torch.testing.assert_close(module(a, b, la, lb), contrastive_loss(a, b, la, lb, margin=2.0, form="hadsell"))
    torch.testing.assert_close(module.in_batch(a, la), contrastive_loss_in_batch(a, la, margin=2.0, form="hadsell"))
    assert "hadsell" in repr(module)
    assert emofast.contrastive_loss is contrastive_loss


def test_module_takes_the_functions_argument_order(device):
    # (a, b, labels_a, labels_b) as emofast.contrastive_loss; the old (a, labels_a, b, labels_b) order
    # and the old two-argument in-batch call fail loudly instead of scoring the wrong pairs.
    a, b, la, lb = _batch(4, 5, 3, 2, torch.float32, seed=10, device=device)
    module = ContrastiveLoss()
    torch.testing.assert_close(module(a=a, b=b, labels_a=la, labels_b=lb), contrastive_loss(a, b, la, lb))
    with pytest.raises(TypeError, match=r"\(a, b, labels_a, labels_b\)"):
        module(a, la, b, lb)
    with pytest.raises(TypeError):
        module(a, la)


def test_no_grad_path_matches_grad_path(device):
    a, b, la, lb = _batch(9, 7, 5, 3, torch.float32, seed=11, device=device)
    with torch.no_grad():
        x = contrastive_loss(a.requires_grad_(True), b, la, lb)
    y = contrastive_loss(a, b, la, lb)
    assert x.item() == y.item()
    assert y.requires_grad and not x.requires_grad


def test_result_independent_of_thread_count():
    a, b, la, lb = _batch(257, 129, 64, 4, torch.float32, seed=12)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = contrastive_loss(a, b, la, lb)
        torch.set_num_threads(max(2, old))
        many = contrastive_loss(a, b, la, lb)
    finally:
        torch.set_num_threads(old)
    assert one.item() == many.item()


# --- bad input -----------------------------------------------------------------------------------


def _good(device="cpu"):
    return _batch(3, 4, 5, 2, torch.float32, seed=13, device=device)


@pytest.mark.parametrize(
    "mutate,exc,match",
    [
        (lambda a, b, la, lb: (a, b[:, :4], la, lb), ValueError, "feature sizes differ"),
        (lambda a, b, la, lb: (a, b, la[:2], lb), ValueError, "labels_a must have shape"),
        (lambda a, b, la, lb: (a, b, la, lb[None]), ValueError, "labels_b must have shape"),
        (lambda a, b, la, lb: (a, b, la.float(), lb), TypeError, "integer tensor"),
        (lambda a, b, la, lb: (a, b.double(), la, lb), TypeError, "dtypes differ"),
        (lambda a, b, la, lb: (a.half(), b.half(), la, lb), TypeError, "float32 or float64"),
        (lambda a, b, la, lb: (a[:0], b, la[:0], lb), ValueError, "empty batch"),
        (lambda a, b, la, lb: (a[0], b, la, lb), ValueError, "2-D"),
        (lambda a, b, la, lb: (a, b.to("meta"), la, lb), InputError, "one device"),
    ],
)
def test_bad_input_raises(mutate, exc, match, device):
    args = mutate(*_good(device))
    with pytest.raises(exc, match=match):
        contrastive_loss(*args)


def test_negative_or_nan_margin_raises(device):
    a, b, la, lb = _good(device)
    for margin in (-1.0, float("nan")):
        with pytest.raises(InputError, match="margin"):
            contrastive_loss(a, b, la, lb, margin=margin)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        torch.ops.emofast.contrastive_loss(a, b, la, lb, -1.0, 0, 1, False)
    with pytest.raises(ValueError, match="unknown form"):
        torch.ops.emofast.contrastive_loss(a, b, la, lb, 1.0, 7, 1, False)
    with pytest.raises(InputError, match="margin"):
        ContrastiveLoss(margin=-0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_features_raise(bad, device):
    a, b, la, lb = _good(device)
    a[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        contrastive_loss(a, b, la, lb)
    with pytest.raises(ValueError, match="NaN or Inf"):
        contrastive_loss(a.requires_grad_(True), b, la, lb)


def test_unknown_form_or_reduction_raises(device):
    a, b, la, lb = _good(device)
    with pytest.raises(InputError, match="form"):
        contrastive_loss(a, b, la, lb, form="pml")
    with pytest.raises(InputError, match="reduction"):
        contrastive_loss(a, b, la, lb, reduction="max")
    with pytest.raises(TypeError, match="torch.Tensor"):
        contrastive_loss(a.cpu().numpy(), b, la, lb)


def test_in_batch_needs_two_samples(device):
    x = torch.randn(1, 3, device=device)
    with pytest.raises(ValueError, match="at least 2"):
        contrastive_loss_in_batch(x, torch.tensor([0], device=device))


def test_inputs_are_not_modified_and_non_contiguous_ok(device):
    a, b, la, lb = _batch(6, 8, 5, 2, torch.float64, seed=14, device=device)
    at = a.t().contiguous().t()  # non-contiguous view with the same values
    a0, b0 = a.clone(), b.clone()
    torch.testing.assert_close(contrastive_loss(at, b, la, lb), contrastive_loss(a, b, la, lb))
    assert torch.equal(a, a0) and torch.equal(b, b0)


def test_torch_compile_fullgraph_with_backward(device):
    a, b, la, lb = _batch(4, 5, 8, 2, torch.float32, seed=15, device=device)
    a1 = a.clone().requires_grad_(True)
    a2 = a.clone().requires_grad_(True)
    compiled = torch.compile(lambda x, y: 2 * contrastive_loss(x, y, la, lb, form="hadsell"), fullgraph=True)
    out = compiled(a1, b)
    out.backward()
    ref = 2 * contrastive_loss(a2, b, la, lb, form="hadsell")
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(a1.grad, a2.grad)


def test_import_is_light():
    # `import emofast` must not pull torch or the heavy feature libraries (they load on first use).
    import subprocess
    import sys

    code = "import sys, emofast; print(sorted(m for m in ('torch', 'numba', 'cv2', 'av', 'librosa', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
