"""Domain-alignment pieces beside the contrastive loss: multi-kernel MMD and DANN.

The transfer-learning review (§3.3.1–3.3.2) names the two deep alternatives to a pairwise matching
loss for making features of two corpora alike:

- **MMD** (Gretton et al. 2012; multi-kernel as in DAN, Long et al. 2015): the distance between the
  two samples' mean embeddings in a reproducing-kernel Hilbert space, here a mixture of Gaussian
  kernels (:func:`mmd_loss`). It needs no labels.
- **DANN** (Ganin & Lempitsky 2015): a domain classifier on the features, trained to tell the
  corpora apart, behind a gradient-reversal layer that hands the feature extractor the *negated*
  (and scaled by λ) gradient, so the extractor learns features the classifier cannot separate
  (:func:`grad_reverse`, :class:`GradientReversal`, :class:`DomainClassifier`,
  :func:`dann_lambda` for Ganin's schedule of λ).

Both work on any ``(n, D)`` feature batches; :mod:`emofast.train.joint` selects them beside or
instead of the contrastive term.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from emofast.errors import InputError

__all__ = ["MMD_SCALES", "mmd_loss", "mmd_bandwidths", "grad_reverse", "GradientReversal",
           "DomainClassifier", "dann_lambda"]

#: Default multipliers of the median-heuristic squared bandwidth: five kernels from σ²/4 to 4σ².
MMD_SCALES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


def _sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(n, m)`` squared Euclidean distances by the GEMM identity (no ``n × m × D`` temporary),
    clamped at 0 against rounding."""
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return d2.clamp_min(0.0)


def mmd_bandwidths(x: torch.Tensor, y: torch.Tensor,
                   scales: Sequence[float] = MMD_SCALES) -> torch.Tensor:
    """Gaussian bandwidths σ (one per scale) by the median heuristic on the pooled sample.

    ``σ_s² = scale_s · median{‖z_i − z_j‖² : i < j}`` over ``z = x ∪ y``, computed without
    gradient (the bandwidths are constants of the loss, as in DAN). A median of 0 (all points
    equal) falls back to 1.

    Returns
    -------
    torch.Tensor
        Shape ``(len(scales),)``, dtype of ``x``.
    """
    with torch.no_grad():
        z = torch.cat([x, y]).detach()
        d2 = _sq_distances(z, z)
        iu = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
        pairs = d2[iu[0], iu[1]]
        med = pairs.median() if pairs.numel() else z.new_tensor(1.0)
        if not float(med) > 0.0:
            med = z.new_tensor(1.0)
        return torch.sqrt(med * torch.as_tensor(list(scales), dtype=z.dtype, device=z.device))


def _kernel(d2: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Mean over the bandwidths of ``exp(−d² / (2σ²))``: every entry in (0, 1], 1 at d = 0."""
    return torch.exp(-d2[None] / (2.0 * sigmas[:, None, None] ** 2)).mean(0)


def _off_diagonal_mean(k: torch.Tensor) -> torch.Tensor:
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * (n - 1))


def mmd_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    bandwidths: Sequence[float] | torch.Tensor | None = None,
    scales: Sequence[float] = MMD_SCALES,
    estimator: str = "unbiased",
) -> torch.Tensor:
    """Squared maximum mean discrepancy between two samples with a multi-Gaussian kernel.

    ``k(a, b) = (1/S) Σ_s exp(−‖a − b‖² / (2σ_s²))`` (equal weights over the S bandwidths).

    Parameters
    ----------
    x, y : torch.Tensor
        Samples of shape ``(n, D)`` and ``(m, D)``, one device and floating dtype.
    bandwidths : sequence of float or tensor, optional
        The σ_s, in the units of the features. Default: :func:`mmd_bandwidths` (median heuristic
        on the pooled sample times ``scales``, without gradient).
    scales : sequence of float, default :data:`MMD_SCALES`
        Multipliers of the median squared distance (only without ``bandwidths``).
    estimator : {"unbiased", "biased"}, default "unbiased"
        ``unbiased``: Gretton et al.'s U-statistic, within-sample sums over i ≠ j only; its
        expectation is the population MMD² (0 for one distribution), so it can be slightly
        negative; needs n, m ≥ 2. ``biased``: the V-statistic ``‖mean φ(x) − mean φ(y)‖²``,
        diagonals included; always ≥ 0, biased upwards by O(1/n + 1/m).

    Returns
    -------
    torch.Tensor
        A scalar, differentiable in ``x`` and ``y``.

    Raises
    ------
    InputError
        Shapes that are not ``(n, D)``/``(m, D)``, an empty sample, fewer than 2 rows per sample
        for the unbiased estimator, a non-positive bandwidth or an unknown estimator.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise InputError(f"mmd_loss: expected (n, D) and (m, D) samples, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    if estimator not in ("unbiased", "biased"):
        raise InputError(f"mmd_loss: estimator must be 'unbiased' or 'biased', got {estimator!r}")
    least = 2 if estimator == "unbiased" else 1
    if min(len(x), len(y)) < least:
        raise InputError(f"mmd_loss: the {estimator} estimator needs at least {least} rows per "
                         f"sample, got {len(x)} and {len(y)}")
    if bandwidths is None:
        sigmas = mmd_bandwidths(x, y, scales)
    else:
        sigmas = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device).reshape(-1)
        if sigmas.numel() == 0 or not bool((sigmas > 0).all()):
            raise InputError(f"mmd_loss: bandwidths must be positive, got {sigmas.tolist()}")
    kxx = _kernel(_sq_distances(x, x), sigmas)
    kyy = _kernel(_sq_distances(y, y), sigmas)
    kxy = _kernel(_sq_distances(x, y), sigmas)
    if estimator == "biased":
        return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()
    return _off_diagonal_mean(kxx) + _off_diagonal_mean(kyy) - 2.0 * kxy.mean()


class _GradReverse(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``−lambda_``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lambda_ = lambda_
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad.neg() * ctx.lambda_, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Gradient reversal (Ganin & Lempitsky 2015): ``x`` unchanged forward, ``−λ · grad`` backward.

    Parameters
    ----------
    x : torch.Tensor
    lambda_ : float, default 1.0
        Scale of the reversed gradient (≥ 0; 0 blocks it).
    """
    lambda_ = float(lambda_)
    if not lambda_ >= 0.0:
        raise InputError(f"grad_reverse: lambda_ must be >= 0, got {lambda_}")
    return _GradReverse.apply(x, lambda_)


class GradientReversal(nn.Module):
    """:func:`grad_reverse` as a layer; ``lambda_`` may be changed between steps (schedules)."""

    def __init__(self, lambda_: float = 1.0) -> None:
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}"


def dann_lambda(progress: float, gamma: float = 10.0, maximum: float = 1.0) -> float:
    """Ganin et al.'s schedule of the reversal coefficient: ``maximum · (2 / (1 + e^{−γp}) − 1)``
    for training progress ``p`` in [0, 1] (0 at the start, → ``maximum`` at the end)."""
    p = min(max(float(progress), 0.0), 1.0)
    return float(maximum) * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


class DomainClassifier(nn.Module):
    """DANN's domain classifier: gradient reversal, then a small MLP giving domain logits.

    Parameters
    ----------
    in_features : int
        Width of the features it reads (the shared extractor's embedding).
    n_domains : int, default 2
    hidden : int, default 64
        Width of the one hidden layer (ReLU).
    dropout : float, default 0.0
    lambda_ : float, default 1.0
        Initial reversal coefficient (:attr:`reversal`'s ``lambda_``; set it per step for a
        schedule such as :func:`dann_lambda`).

    Notes
    -----
    ``forward(features)`` returns ``(n, n_domains)`` logits; trained with cross-entropy on the
    domain labels, it learns to separate the domains while the reversed gradient teaches the
    feature extractor to confuse it.
    """

    def __init__(self, in_features: int, n_domains: int = 2, *, hidden: int = 64,
                 dropout: float = 0.0, lambda_: float = 1.0) -> None:
        super().__init__()
        if in_features < 1 or hidden < 1 or n_domains < 2:
            raise InputError(f"DomainClassifier: need in_features >= 1, hidden >= 1 and "
                             f"n_domains >= 2, got {in_features}, {hidden}, {n_domains}")
        self.reversal = GradientReversal(lambda_)
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_domains))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Domain logits of shape ``(n, n_domains)``."""
        return self.net(self.reversal(features))
