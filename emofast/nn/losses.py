"""Loss modules over emofast's functional ops."""
from __future__ import annotations

import torch
from torch import nn

from emofast.errors import InputError
from emofast.ops.contrastive import Form, ReductionName, contrastive_loss, contrastive_loss_in_batch


class ContrastiveLoss(nn.Module):
    """Pairwise contrastive loss as a module (see :func:`emofast.contrastive_loss`).

    ``loss(a, labels_a, b, labels_b)`` scores all pairs between two batches (for instance one
    mini-batch from each of two corpora, as in joint cross-domain learning);
    ``loss(x, labels)`` scores the pairs i < j within one batch.

    Parameters
    ----------
    margin : float, default 1.0
    form : {"paper", "hadsell"}, default "paper"
    reduction : {"mean", "sum", "none"}, default "mean"
    """

    def __init__(self, margin: float = 1.0, form: Form = "paper", reduction: ReductionName = "mean"):
        super().__init__()
        if margin < 0:
            raise InputError(f"ContrastiveLoss: margin must be >= 0, got {margin}")
        self.margin = float(margin)
        self.form = form
        self.reduction = reduction

    def forward(
        self,
        a: torch.Tensor,
        labels_a: torch.Tensor,
        b: torch.Tensor | None = None,
        labels_b: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if (b is None) != (labels_b is None):
            raise InputError("ContrastiveLoss: pass both b and labels_b, or neither")
        kwargs = dict(margin=self.margin, form=self.form, reduction=self.reduction)
        if b is None:
            return contrastive_loss_in_batch(a, labels_a, **kwargs)
        return contrastive_loss(a, b, labels_a, labels_b, **kwargs)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, form={self.form!r}, reduction={self.reduction!r}"
