"""Loss modules over emofast's functional ops."""
from __future__ import annotations

import torch
from torch import nn

from emofast.errors import InputError
from emofast.ops.contrastive import Form, ReductionName, contrastive_loss, contrastive_loss_in_batch


class ContrastiveLoss(nn.Module):
    """Pairwise contrastive loss as a module (see :func:`emofast.contrastive_loss`).

    ``loss(a, b, labels_a, labels_b)`` scores all pairs between two batches (for instance one
    mini-batch from each of two corpora, as in joint cross-domain learning), with the arguments in
    the order of :func:`emofast.contrastive_loss` and of the native op; ``loss.in_batch(x, labels)``
    scores the pairs i < j within one batch (:func:`emofast.contrastive_loss_in_batch`).

    Up to emofast 0.1.0 the arguments were ``(a, labels_a, b, labels_b)`` and ``loss(x, labels)``
    scored one batch; calls in that order now raise ``TypeError``.

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

    def _kwargs(self) -> dict:
        return dict(margin=self.margin, form=self.form, reduction=self.reduction)

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        labels_a: torch.Tensor,
        labels_b: torch.Tensor,
    ) -> torch.Tensor:
        if (
            isinstance(b, torch.Tensor)
            and isinstance(labels_a, torch.Tensor)
            and not b.is_floating_point()
            and labels_a.is_floating_point()
        ):
            # (a, labels_a, b, labels_b), the order of emofast 0.1.0: say so rather than "labels_a
            # must be an integer tensor".
            raise TypeError(
                "ContrastiveLoss: got integer labels where the features b belong; the arguments are "
                "(a, b, labels_a, labels_b), as for emofast.contrastive_loss"
            )
        return contrastive_loss(a, b, labels_a, labels_b, **self._kwargs())

    def in_batch(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss over the pairs i < j of one batch ``x`` (K, D) with ``labels`` (K,)."""
        return contrastive_loss_in_batch(x, labels, **self._kwargs())

    def extra_repr(self) -> str:
        return f"margin={self.margin}, form={self.form!r}, reduction={self.reduction!r}"
