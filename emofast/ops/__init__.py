"""Native operators of emofast and their pure-PyTorch references.

Each op is declared once in C++ (``torch.ops.emofast.*``, schemas in ``csrc/ops.cpp``) with CPU and
CUDA kernels and a C++ autograd kernel (``csrc/<family>/``), and wired here for tracing
(``torch.library.register_fake``), so it dispatches on device and works under ``torch.compile``. The ``*_reference`` functions compute the
same mathematics with plain PyTorch operations; tests and benchmarks compare against them.
"""
from __future__ import annotations

import importlib

import torch  # noqa: F401  (loads libtorch, which emofast._C links against)

try:
    importlib.import_module("emofast._C")  # loads the shared library: registers the kernels
except ImportError as exc:  # pragma: no cover - only when the package was not built
    raise ImportError(
        "emofast's native extension emofast._C is missing or was built against another torch. "
        "Install torch first (pip install torch==2.13.0), then build with "
        "`pip install --no-build-isolation -e .` (see README)."
    ) from exc

from emofast.ops.contrastive import (  # noqa: E402
    contrastive_loss,
    contrastive_loss_in_batch,
    contrastive_loss_in_batch_reference,
    contrastive_loss_reference,
)
from emofast.ops.pathnet import (  # noqa: E402
    genotype_to_mask,
    pathnet,
    pathnet_backward,
    pathnet_forward_train,
    pathnet_reference,
    pathnet_sgd_,
)

__all__ = [
    "contrastive_loss",
    "contrastive_loss_reference",
    "contrastive_loss_in_batch",
    "contrastive_loss_in_batch_reference",
    "pathnet",
    "pathnet_reference",
    "pathnet_forward_train",
    "pathnet_backward",
    "pathnet_sgd_",
    "genotype_to_mask",
]
