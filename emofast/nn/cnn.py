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

__all__ = ["GroupNormCNN", "NORMS", "TRAINABLE"]

#: Normalisation layers of the convolutional blocks.
NORMS: tuple[str, ...] = ("group", "batch")

#: What :meth:`GroupNormCNN.set_trainable` trains: everything, or the fully-connected layers only.
TRAINABLE: tuple[str, ...] = ("all", "fc")


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
    norm : {"group", "batch"}, default "group"
        Normalisation after each convolution: Group Normalization (the paper; independent of the
        mini-batch size) or BatchNorm (issue 16's comparison at small batches).

    Notes
    -----
    Input shape ``(batch, in_channels, input_size, input_size)``, output ``(batch, n_classes)``
    logits. Convolutions use He (variance-scaling) initialisation as in the paper.

    Joint cross-domain learning (Algorithm 1) reads the network as a shared feature extractor
    ``Conv(x, θe)`` — everything up to the last hidden layer, :meth:`embed` — and a softmax layer
    ``θclass`` per supervisory signal: head 0 is the network's own last layer (``classifier[-1]``,
    so ``forward`` and state dicts are those of a plain classifier), :meth:`add_head` attaches
    more, and ``forward(x, head=i)`` uses head ``i``.
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
        norm: str = "group",
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise InputError(f"norm must be one of {list(NORMS)}, got {norm!r}")
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
                nn.GroupNorm(g, width) if norm == "group" else nn.BatchNorm2d(width),
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
        self.extra_heads = nn.ModuleList()  # heads 1, 2, ... (add_head); empty: no state keys
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=negative_slope, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))

    @property
    def embed_dim(self) -> int:
        """Width of :meth:`embed`'s output (the last hidden layer, or the flattened maps)."""
        return self.classifier[-1].in_features

    @property
    def n_heads(self) -> int:
        """Classification heads: 1 + those added by :meth:`add_head`."""
        return 1 + len(self.extra_heads)

    def head(self, index: int = 0) -> nn.Linear:
        """The softmax layer of head ``index`` (0: ``classifier[-1]``)."""
        if not 0 <= index < self.n_heads:
            raise InputError(f"head {index} does not exist; the network has {self.n_heads} "
                             "head(s)")
        return self.classifier[-1] if index == 0 else self.extra_heads[index - 1]

    def add_head(self, n_classes: int | None = None, *, copy_from: int | None = None) -> int:
        """Attach another classification head on :meth:`embed`; returns its index.

        Parameters
        ----------
        n_classes : int, optional
            Its outputs (default: those of head 0).
        copy_from : int, optional
            Start from a copy of that head's weights (continuous fine-tuning: every classifier
            starts from the pretrained one); default: a fresh PyTorch-default initialisation.
        """
        n_classes = self.n_classes if n_classes is None else int(n_classes)
        if n_classes < 2:
            raise InputError(f"n_classes must be >= 2, got {n_classes}")
        layer = nn.Linear(self.embed_dim, n_classes)
        if copy_from is not None:
            source = self.head(copy_from)
            if source.out_features != n_classes:
                raise InputError(f"head {copy_from} has {source.out_features} outputs, not "
                                 f"{n_classes}")
            layer.load_state_dict(source.state_dict())
        layer.to(device=self.classifier[-1].weight.device,
                 dtype=self.classifier[-1].weight.dtype)
        self.extra_heads.append(layer)
        return self.n_heads - 1

    def set_trainable(self, part: str = "all") -> GroupNormCNN:
        """Train ``"all"`` parameters, or only the fully-connected ones (``"fc"``: the
        convolutional blocks, their normalisation included, are frozen through
        ``requires_grad``, which :func:`emofast.train.fit.fit` honours). Returns ``self``."""
        if part not in TRAINABLE:
            raise InputError(f"trainable must be one of {list(TRAINABLE)}, got {part!r}")
        for p in self.features.parameters():
            p.requires_grad_(part == "all")
        for p in [*self.classifier.parameters(), *self.extra_heads.parameters()]:
            p.requires_grad_(True)
        return self

    def freeze_features(self) -> GroupNormCNN:
        """Freeze the convolutional blocks (``set_trainable("fc")``)."""
        return self.set_trainable("fc")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the shared extractor, shape ``(batch, embed_dim)``: the convolutional
        blocks and every hidden fully-connected layer (after its LReLU)."""
        return self.classifier[:-1](self.features(x))

    def forward(self, x: torch.Tensor, head: int = 0) -> torch.Tensor:
        """Logits of shape ``(batch, n_classes)`` from head ``head`` (default 0)."""
        if head == 0:
            return self.classifier(self.features(x))
        return self.head(head)(self.embed(x))
