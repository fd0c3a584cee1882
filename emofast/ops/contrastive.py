"""Fused pairwise contrastive loss (joint cross-domain learning, eq. 2).

Two mini-batches ``a`` (Ka x D) and ``b`` (Kb x D), drawn for instance from two corpora, give
Ka*Kb pairs; pair (i, j) is *positive* when ``labels_a[i] == labels_b[j]``. With the squared
Euclidean distance ``d2 = ||a_i - b_j||^2``:

=========  ==========================  ===================================
form       positive pair               negative pair
=========  ==========================  ===================================
"paper"    ``1/2 * d2``                ``1/2 * max(0, margin - d2)``
"hadsell"  ``1/2 * d2``                ``1/2 * max(0, margin - sqrt(d2))**2``
=========  ==========================  ===================================

"paper" is eq. (2) of the joint cross-domain learning paper (hinge on the *squared* distance);
"hadsell" is the classic form of Hadsell et al. (2006). The native kernel computes forward and
backward without ever building the Ka x Kb x D difference tensor: the gradient is a Ka x Kb
weight matrix applied to ``a`` and ``b``.

Subgradient conventions (shared by the kernel and the reference): a negative pair exactly at the
margin (``d2 == margin`` resp. ``d == margin``) contributes no gradient, and a Hadsell negative pair
at distance 0 contributes none either (as ``torch.linalg.vector_norm`` does at 0).
"""
from __future__ import annotations

from typing import Literal

import torch

from emofast.errors import InputError

__all__ = [
    "contrastive_loss",
    "contrastive_loss_in_batch",
    "contrastive_loss_reference",
    "contrastive_loss_in_batch_reference",
]

Form = Literal["paper", "hadsell"]
ReductionName = Literal["mean", "sum", "none"]

_op = torch.ops.emofast.contrastive_loss.default

_FORMS = {"paper": 0, "hadsell": 1}
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _form_code(form: str) -> int:
    try:
        return _FORMS[form]
    except (KeyError, TypeError):
        raise InputError(f"contrastive_loss: form must be 'paper' or 'hadsell', got {form!r}") from None


def _reduction_code(reduction: str) -> int:
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise InputError(
            f"contrastive_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        ) from None


def _check_margin(margin: float) -> float:
    margin = float(margin)
    if not margin >= 0.0:  # also rejects NaN
        raise InputError(f"contrastive_loss: margin must be a non-negative number, got {margin}")
    return margin


def _as_labels(labels: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"contrastive_loss: {name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype == torch.int64:
        return labels
    if labels.dtype in (torch.int8, torch.int16, torch.int32, torch.uint8):
        return labels.long()
    raise TypeError(f"contrastive_loss: {name} must be an integer tensor, got dtype {labels.dtype}")


def _check_features(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"contrastive_loss: {name} must be a torch.Tensor, got {type(x).__name__}")


def _check_devices(**tensors: torch.Tensor) -> None:
    devices = {name: t.device for name, t in tensors.items()}
    if len(set(devices.values())) > 1:
        raise InputError(f"contrastive_loss: all inputs must be on one device, got {devices}")


def contrastive_loss(
    a: torch.Tensor,
    b: torch.Tensor,
    labels_a: torch.Tensor,
    labels_b: torch.Tensor,
    *,
    margin: float = 1.0,
    form: Form = "paper",
    reduction: ReductionName = "mean",
) -> torch.Tensor:
    """Contrastive loss over all Ka*Kb pairs of two mini-batches (fused native kernel).

    Parameters
    ----------
    a, b : torch.Tensor
        Features of shape (Ka, D) and (Kb, D), float32 or float64, on one device.
    labels_a, labels_b : torch.Tensor
        Integer class labels of shape (Ka,) and (Kb,); a pair is positive when its labels match.
    margin : float, default 1.0
        Margin ``m`` (>= 0). For ``form="paper"`` it bounds the squared distance, for
        ``form="hadsell"`` the distance.
    form : {"paper", "hadsell"}, default "paper"
        Loss of negative pairs: ``1/2 max(0, m - d^2)`` (paper eq. 2) or ``1/2 max(0, m - d)^2``.
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean over all Ka*Kb pairs, their sum, or the (Ka, Kb) matrix of per-pair losses.

    Returns
    -------
    torch.Tensor
        A scalar, or the (Ka, Kb) per-pair losses for ``reduction="none"``.

    Raises
    ------
    emofast.errors.InputError
        (a ``ValueError``) An unknown ``form`` or ``reduction``, a negative or NaN margin, inputs on
        different devices.
    ValueError
        From the native op's checks: mismatched feature sizes, labels of the wrong shape, empty
        batches, NaN or Inf features.
    TypeError
        Non-tensor arguments, non-integer labels, features that are not float32/float64 or whose
        dtypes differ.
    """
    _check_features(a, "a")
    _check_features(b, "b")
    labels_a = _as_labels(labels_a, "labels_a")
    labels_b = _as_labels(labels_b, "labels_b")
    if not (a.device == b.device == labels_a.device == labels_b.device):
        _check_devices(a=a, b=b, labels_a=labels_a, labels_b=labels_b)
    return _op(
        a,
        b,
        labels_a,
        labels_b,
        _check_margin(margin),
        _form_code(form),
        _reduction_code(reduction),
        False,
    )


def contrastive_loss_in_batch(
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 1.0,
    form: Form = "paper",
    reduction: ReductionName = "mean",
) -> torch.Tensor:
    """Contrastive loss over the K(K-1)/2 pairs i < j of one mini-batch (fused native kernel).

    Parameters are as in :func:`contrastive_loss`; ``x`` is (K, D) with K >= 2. ``reduction="mean"``
    divides by K(K-1)/2; ``"none"`` returns a (K, K) matrix whose entries with j <= i are zero.
    """
    _check_features(x, "x")
    labels = _as_labels(labels, "labels")
    if x.device != labels.device:
        _check_devices(x=x, labels=labels)
    return _op(x, x, labels, labels, _check_margin(margin), _form_code(form), _reduction_code(reduction), True)


# --- fake (meta) kernels for tracing / torch.compile -----------------------------------------
# Autograd is registered in C++ (csrc/contrastive/contrastive_autograd.cpp); see the note there.


def _loss_like(a, b, reduction):
    torch._check(a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[1])
    return a.new_empty((a.shape[0], b.shape[0])) if reduction == 0 else a.new_empty(())


@torch.library.register_fake("emofast::contrastive_loss")
def _contrastive_loss_fake(a, b, labels_a, labels_b, margin, form, reduction, upper):
    return _loss_like(a, b, reduction)


@torch.library.register_fake("emofast::contrastive_loss_forward")
def _contrastive_loss_forward_fake(a, b, labels_a, labels_b, margin, form, reduction, upper):
    return _loss_like(a, b, reduction), a.new_empty((a.shape[0], b.shape[0]))


@torch.library.register_fake("emofast::contrastive_loss_backward")
def _contrastive_loss_backward_fake(grad, weights, a, b, labels_a, labels_b, reduction, upper):
    return torch.empty_like(a), torch.empty_like(b)


# --- pure-PyTorch references --------------------------------------------------------------------


def _reduce(pair_loss: torch.Tensor, reduction: str, num_pairs: int) -> torch.Tensor:
    if reduction == "none":
        return pair_loss
    total = pair_loss.sum()
    return total / num_pairs if reduction == "mean" else total


def _pair_losses(a, b, labels_a, labels_b, margin, form):
    diff = a[:, None, :] - b[None, :, :]  # (Ka, Kb, D): the temporary the kernel avoids
    positive = labels_a[:, None] == labels_b[None, :]
    if form == "paper":
        d2 = (diff * diff).sum(-1)
        negative = 0.5 * torch.relu(margin - d2)
    else:
        dist = torch.linalg.vector_norm(diff, dim=-1)
        d2 = dist * dist
        negative = 0.5 * torch.relu(margin - dist) ** 2
    return torch.where(positive, 0.5 * d2, negative)


def contrastive_loss_reference(
    a: torch.Tensor,
    b: torch.Tensor,
    labels_a: torch.Tensor,
    labels_b: torch.Tensor,
    *,
    margin: float = 1.0,
    form: Form = "paper",
    reduction: ReductionName = "mean",
) -> torch.Tensor:
    """Pure-PyTorch (naive broadcast) reference of :func:`contrastive_loss`; same semantics."""
    _form_code(form)
    _reduction_code(reduction)
    pair = _pair_losses(a, b, labels_a, labels_b, _check_margin(margin), form)
    return _reduce(pair, reduction, a.shape[0] * b.shape[0])


def contrastive_loss_in_batch_reference(
    x: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 1.0,
    form: Form = "paper",
    reduction: ReductionName = "mean",
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`contrastive_loss_in_batch`; same semantics."""
    _form_code(form)
    _reduction_code(reduction)
    k = x.shape[0]
    pair = _pair_losses(x, x, labels, labels, _check_margin(margin), form)
    pair = torch.triu(pair, diagonal=1)
    return _reduce(pair, reduction, k * (k - 1) // 2)
