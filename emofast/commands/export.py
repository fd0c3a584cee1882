"""``emofast export``: write a saved model's network in another format (ONNX).

Examples
--------
::

    emofast export model.emofast --onnx model.onnx

The ONNX graph takes raw segments ``segments`` (batch, 3, 64, 64) float32 — log-Mel segments or
face crops computed with the settings stored in the bundle — and returns ``posteriors``
(batch, n_classes): the training standardisation and the softmax are inside. Its metadata holds the
class names and feature settings (``emofast.classes``, ``emofast.features``). Needs ``onnx``
(``pip install 'emofast[onnx]'``).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``export`` sub-parser."""
    p = subparsers.add_parser(
        "export", help="write a saved model's network as ONNX",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="model bundle (from `emofast evaluate --save-model`)")
    p.add_argument("--onnx", type=Path, required=True, metavar="OUT.onnx",
                   help="the ONNX file to write")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emofast export``."""
    from emofast.bundle import export_onnx, load_model

    model = load_model(args.bundle)
    out = export_onnx(model, args.onnx)
    shape = ", ".join(map(str, model.input_shape))
    print(f"wrote {out}: segments (batch, {shape}) float32 -> posteriors (batch, "
          f"{len(model.classes)}) over {', '.join(model.classes)}; {model.modality} features "
          f"as in the bundle, file posterior = {model.aggregate} over segments")
    return 0
