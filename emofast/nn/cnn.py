"""The GroupNorm CNN of the joint cross-domain learning paper (§4), used as the baseline classifier.

Paper: four 3×3 convolutions (64, 128, 256, 512 filters, stride 1), each followed by LReLU, Group
Normalization and Dropout(0.5); then fully-connected layers of 512, 128, 32 and ``n_classes`` units,
with LReLU after each hidden one. The paper does not say how the 64×64 map shrinks before the
fully-connected part; here each convolutional block ends with a 2×2 max-pool (64 → 4 after four
blocks), and the last map is flattened. Widths, groups, dropout and pooling are parameters so that
the demo can run a narrow version on two CPU cores.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from emofast.errors import InputError

__all__ = ["GroupNormCNN"]


class GroupNormCNN(nn.Module):
    """Conv → MaxPool → LReLU → GroupNorm → Dropout blocks, then an LReLU MLP head.

    Parameters
    ----------
    n_classes : int
        Output logits.
    in_channels : int, default 3
        Input planes (static log-Mel, Δ, ΔΔ; or RGB face crops).
    input_size : int, default 64
        Height = width of the input, used to size the first fully-connected layer.
    channels : sequence of int, default (64, 128, 256, 512)
        Filters of each 3×3 convolution (the paper's widths).
    hidden : sequence of int, default (512, 128, 32)
        Hidden fully-connected widths (the paper's).
    groups : int, default 32
        Group Normalization groups; per layer the largest divisor of the channel count that is
        ``<= groups`` is used.
    dropout : float, default 0.5
        Dropout after every convolutional block (paper: 0.5).
    negative_slope : float, default 0.01
        LReLU slope.

    Notes
    -----
    Input shape ``(batch, in_channels, input_size, input_size)``, output ``(batch, n_classes)``
    logits. Convolutions use He (variance-scaling) initialisation as in the paper.
    """

    def __init__(
        self,
        n_classes: int,
        *,
        in_channels: int = 3,
        input_size: int = 64,
        channels: Sequence[int] = (64, 128, 256, 512),
        hidden: Sequence[int] = (512, 128, 32),
        groups: int = 32,
        dropout: float = 0.5,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise InputError(f"n_classes must be >= 2, got {n_classes}")
        if input_size < 2 ** len(channels):
            raise InputError(
                f"input_size {input_size} is too small for {len(channels)} pooling blocks")
        self.n_classes = n_classes
        blocks: list[nn.Module] = []
        prev = in_channels
        for width in channels:
            g = max(d for d in range(1, min(groups, width) + 1) if width % d == 0)
            blocks += [
                nn.Conv2d(prev, width, kernel_size=3, stride=1, padding=1),
                nn.MaxPool2d(2),
                nn.LeakyReLU(negative_slope),
                nn.GroupNorm(g, width),
                nn.Dropout(dropout),
            ]
            prev = width
        self.features = nn.Sequential(*blocks)
        side = input_size // 2 ** len(channels)
        head: list[nn.Module] = [nn.Flatten()]
        prev = prev * side * side
        for width in hidden:
            head += [nn.Linear(prev, width), nn.LeakyReLU(negative_slope)]
            prev = width
        head.append(nn.Linear(prev, n_classes))
        self.classifier = nn.Sequential(*head)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=negative_slope, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(batch, n_classes)``."""
        return self.classifier(self.features(x))
