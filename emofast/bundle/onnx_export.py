"""ONNX export of a bundle's network: :func:`export_onnx`.

The exported graph takes raw segments ``segments`` ``(batch, C, H, W)`` float32 — the features a
:class:`~emofast.bundle.Model` computes for a file (:meth:`~emofast.bundle.Model.segments`) — and
returns their class posteriors ``posteriors`` ``(batch, n_classes)``: the training
standardisation and the softmax are part of the graph. Feature extraction and the aggregation of
segments into one posterior per file are not; the model's metadata (``metadata_props``) records
the class names, the feature settings and the aggregation, as JSON strings under
``emofast.classes``, ``emofast.features``, ``emofast.aggregate`` and ``emofast.provenance``.

Needs the ``onnx`` package (``pip install 'emofast[onnx]'``; ``onnxruntime`` to run the file).
Export uses PyTorch's TorchScript-based exporter (``dynamo=False``): it needs nothing beyond
``onnx`` and handles this convolutional network exactly.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from emofast.errors import InputError

__all__ = ["export_onnx", "ONNX_OPSET"]

#: ONNX opset of exported files (onnxruntime >= 1.13 runs it).
ONNX_OPSET = 17


def _standardized_softmax(model: Any) -> Any:
    """The network with the standardisation in front and a softmax behind, as one module."""
    import torch
    from torch import nn

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model.module
            self.register_buffer("mean", torch.from_numpy(model.mean.copy()))
            self.register_buffer("std", torch.from_numpy(model.std.copy()))

        def forward(self, segments: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net((segments - self.mean) / self.std), dim=1)

    return Exported().eval()


def export_onnx(model: Any, out: str | os.PathLike, *, opset: int = ONNX_OPSET) -> Path:
    """Write a bundle's network (standardisation + CNN + softmax) as an ONNX file.

    Parameters
    ----------
    model : Model or path
        A loaded :class:`~emofast.bundle.Model`, or a bundle file.
    out : path
        The ``.onnx`` file to write.
    opset : int, default 17

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        ``onnx`` is not installed, ``out`` is a folder, or the model was trained on
        speaker-normalised features.
    """
    import torch

    try:
        import onnx
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install 'emofast[onnx]' "
                         "(or pip install onnx onnxruntime)") from None
    from emofast.bundle.model import load_model

    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    out = Path(out)
    if out.is_dir():
        raise InputError(f"--onnx {out} is a folder; give a file name such as model.onnx")
    if model.normalization is not None:
        raise InputError(f"model {model.path or ''} was trained on features normalised per "
                         f"{model.normalization}; the ONNX graph takes segments one batch at a "
                         "time and cannot normalise a speaker's recordings together: not exported")
    wrapper = _standardized_softmax(model)
    example = torch.zeros(2, *model.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(wrapper, (example,), str(out), dynamo=False, opset_version=opset,
                          input_names=["segments"], output_names=["posteriors"],
                          dynamic_axes={"segments": {0: "batch"}, "posteriors": {0: "batch"}})
    proto = onnx.load(str(out))
    meta = {"classes": model.classes, "features": model.features, "aggregate": model.aggregate,
            "provenance": model.provenance}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"emofast.{key}", json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out
