"""Domain alignment: multi-kernel MMD, gradient reversal, the DANN domain classifier."""
from __future__ import annotations

import math

import pytest
import torch

from emofast.errors import InputError
from emofast.nn.domain import (DomainClassifier, GradientReversal, dann_lambda, grad_reverse,
                               mmd_bandwidths, mmd_loss)


def _samples(n=200, d=4, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def test_mmd_is_near_zero_for_one_distribution_and_positive_when_shifted():
    x, y = _samples(seed=0), _samples(seed=1)
    same = float(mmd_loss(x, y))
    shifted = float(mmd_loss(x, _samples(seed=1, shift=1.0)))
    assert abs(same) < 0.01
    assert shifted > 0.1 > 10 * abs(same)
    assert float(mmd_loss(x, y, estimator="biased")) >= 0.0
    # a larger shift is a larger discrepancy (fixed bandwidths: the heuristic moves with the data)
    bw = [0.5, 1.0, 2.0]
    assert float(mmd_loss(x, _samples(seed=1, shift=2.0), bandwidths=bw)) > float(
        mmd_loss(x, _samples(seed=1, shift=1.0), bandwidths=bw))


def test_mmd_is_symmetric_and_zero_on_identical_samples_for_the_biased_estimator():
    x, y = _samples(50, seed=2), _samples(40, shift=0.5, seed=3)
    for est in ("unbiased", "biased"):
        assert torch.allclose(mmd_loss(x, y, estimator=est), mmd_loss(y, x, estimator=est))
    assert float(mmd_loss(x, x.clone(), estimator="biased")) == pytest.approx(0.0, abs=1e-12)


def test_mmd_matches_the_definition_on_a_tiny_sample():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [3.0]], dtype=torch.float64)

    def k(a, b):
        return math.exp(-((a - b) ** 2) / 2.0)  # sigma = 1

    xs, ys = [0.0, 1.0], [0.0, 3.0]
    unbiased = (k(0, 1) + k(1, 0)) / 2 + (k(0, 3) + k(3, 0)) / 2 - 2 * sum(
        k(a, b) for a in xs for b in ys) / 4
    biased = sum(k(a, b) for a in xs for b in xs) / 4 + sum(k(a, b) for a in ys for b in ys) / 4 \
        - 2 * sum(k(a, b) for a in xs for b in ys) / 4
    assert float(mmd_loss(x, y, bandwidths=[1.0])) == pytest.approx(unbiased, rel=1e-12)
    assert float(mmd_loss(x, y, bandwidths=[1.0], estimator="biased")) == pytest.approx(biased)


def test_mmd_bandwidths_follow_the_median_heuristic():
    x = torch.tensor([[0.0], [2.0]])
    y = torch.tensor([[4.0]])
    # pooled squared distances 4, 16, 4: median 4
    assert torch.allclose(mmd_bandwidths(x, y, scales=(1.0, 4.0)), torch.tensor([2.0, 4.0]))
    same = torch.zeros(3, 2)
    assert torch.allclose(mmd_bandwidths(same, same, scales=(1.0,)), torch.tensor([1.0]))


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd_gradcheck_float64(estimator):
    x = _samples(5, 3, seed=4).requires_grad_(True)
    y = _samples(4, 3, shift=0.3, seed=5).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: mmd_loss(a, b, bandwidths=[0.7, 1.5], estimator=estimator), (x, y))


def test_mmd_refuses_bad_input():
    x = torch.randn(3, 2)
    with pytest.raises(InputError):
        mmd_loss(x, torch.randn(3, 4))
    with pytest.raises(InputError):
        mmd_loss(x, torch.randn(1, 2))  # unbiased needs two rows per sample
    assert torch.isfinite(mmd_loss(x, torch.randn(1, 2), estimator="biased"))
    with pytest.raises(InputError):
        mmd_loss(x, x, estimator="linear")
    with pytest.raises(InputError):
        mmd_loss(x, x, bandwidths=[1.0, 0.0])


def _h(x):  # a nonlinear map to reverse the gradient of
    return torch.tanh(x) * x.sum()


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = _samples(4, 3, seed=6).requires_grad_(True)
    out = grad_reverse(x, 0.5)
    assert torch.equal(out, x)
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad, torch.full_like(x, -0.5))
    # through a nonlinear map: the Jacobian is -lambda times the map's (numerical) Jacobian
    lam = 0.3
    jac = torch.autograd.functional.jacobian(lambda z: grad_reverse(_h(z), lam), x.detach())
    eps = 1e-6
    flat = x.detach().reshape(-1)
    numerical = torch.stack([
        (_h((flat + eps * e).view_as(x)) - _h((flat - eps * e).view_as(x))) / (2 * eps)
        for e in torch.eye(flat.numel(), dtype=flat.dtype)], dim=-1).view_as(jac)
    assert torch.allclose(jac, -lam * numerical, atol=1e-8)


def test_gradient_reversal_gradcheck_two_reversals_cancel():
    # two reversals with coefficients lambda and 1/lambda are the identity in both directions,
    # so gradcheck (analytic vs numerical Jacobian) applies to the composition
    x = _samples(3, 2, seed=7).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: grad_reverse(grad_reverse(_h(z), 4.0), 0.25), (x,))
    layer = GradientReversal(2.0)
    z = x.detach().clone().requires_grad_(True)
    layer(z).sum().backward()
    assert torch.equal(z.grad, torch.full_like(z, -2.0))
    layer.lambda_ = 0.0
    z.grad = None
    layer(z).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    with pytest.raises(InputError):
        grad_reverse(x, -1.0)


def test_domain_classifier_shapes_and_reversed_gradient():
    torch.manual_seed(0)
    clf = DomainClassifier(8, hidden=16)
    f = torch.randn(5, 8, requires_grad=True)
    logits = clf(f)
    assert logits.shape == (5, 2)
    assert DomainClassifier(8, 3)(f).shape == (5, 3)
    # the features receive the negated gradient of what they would get without reversal
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 0, 1, 1, 1]))
    (g_rev,) = torch.autograd.grad(loss, f)
    plain = torch.nn.functional.cross_entropy(clf.net(f), torch.tensor([0, 0, 1, 1, 1]))
    (g_plain,) = torch.autograd.grad(plain, f)
    assert torch.allclose(g_rev, -g_plain)
    with pytest.raises(InputError):
        DomainClassifier(0)


def test_dann_schedule():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert 0 < dann_lambda(0.1) < dann_lambda(0.5) < 1.0
    assert dann_lambda(2.0, maximum=0.5) == dann_lambda(1.0, maximum=0.5)
