"""Mini-batch augmentation for :func:`emofast.train.fit.fit`: spectrogram masking and mixup.

Both act on one standardised mini-batch at a time and draw from a :class:`torch.Generator`, so a
seeded fit is reproducible.

- :func:`spec_mask` is SpecAugment's time and frequency masking (Park et al., 2019) on log-Mel
  segments ``(batch, channels, mel bands, frames)``: a masked band or frame span is set to 0,
  which after standardisation is the training mean. The same span is masked in the static, Δ and
  ΔΔ channels.
- :func:`mixup` mixes pairs of examples and their one-hot targets with a Beta(α, α) weight
  (Zhang et al., 2018).

Examples
--------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.ones(2, 3, 16, 16)
>>> y = spec_mask(x, g, freq_masks=1, time_masks=1, max_width=4)
>>> bool((y == 0).any()), x.shape == y.shape
(True, True)
"""
from __future__ import annotations

import torch

from emofast.errors import InputError

__all__ = ["spec_mask", "mixup"]


def spec_mask(x: torch.Tensor, generator: torch.Generator, *, freq_masks: int = 2,
              time_masks: int = 2, max_width: int = 8) -> torch.Tensor:
    """Zero random frequency-band and frame spans of every example (a copy; ``x`` is unchanged).

    Parameters
    ----------
    x : torch.Tensor, shape (batch, channels, bands, frames)
        Standardised log-Mel segments (or any 4-D input whose axis 2 is frequency and axis 3 time).
    generator : torch.Generator
    freq_masks, time_masks : int
        Masks per example along the band axis and the frame axis.
    max_width : int
        Each mask spans a uniform 0 .. ``max_width`` bands (or frames), clipped to the axis.

    Returns
    -------
    torch.Tensor
        Same shape and dtype.
    """
    if x.ndim != 4:
        raise InputError(f"spec_mask needs (batch, channels, bands, frames) inputs, got {tuple(x.shape)}")
    if min(freq_masks, time_masks, max_width) < 0:
        raise InputError("freq_masks, time_masks and max_width must be >= 0")
    out = x.clone()
    b = x.shape[0]
    for axis, count in ((2, freq_masks), (3, time_masks)):
        size = x.shape[axis]
        width_cap = min(max_width, size)
        for _ in range(count):
            width = torch.randint(0, width_cap + 1, (b,), generator=generator)
            start = (torch.rand(b, generator=generator) * (size - width + 1)).long()
            pos = torch.arange(size)
            hit = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + width)[:, None])
            shape = (b, 1, size, 1) if axis == 2 else (b, 1, 1, size)
            out = out.masked_fill(hit.view(shape), 0.0)
    return out


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Convex combinations of each example with a random partner in the batch.

    Parameters
    ----------
    x : torch.Tensor, shape (batch, ...)
    targets : torch.Tensor, shape (batch, n_classes)
        Target distributions (one-hot, possibly smoothed).
    alpha : float
        > 0; the mixing weight λ ~ Beta(α, α) is drawn once per batch, and ``max(λ, 1 - λ)`` is used
        so each mixed example stays closer to its own.
    generator : torch.Generator

    Returns
    -------
    x_mixed, targets_mixed : torch.Tensor
    """
    if alpha <= 0:
        raise InputError(f"mixup alpha must be > 0, got {alpha}")
    # Beta(α, α) from two Gamma draws with the generator (torch.distributions takes none)
    g1 = torch._standard_gamma(torch.full((1,), float(alpha)).expand(2).contiguous(), generator)
    lam = float(g1[0] / g1.sum())
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(x.shape[0], generator=generator)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]
