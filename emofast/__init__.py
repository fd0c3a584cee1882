"""emofast: native kernels and pipelines for transfer-learning emotion recognition.

The light core (native ops) is imported eagerly; the feature, video and pipeline modules, which
pull heavier libraries (Numba, OpenCV, PyAV), load on first use of one of their names.
"""
from __future__ import annotations

import importlib
from typing import Any

from emofast import ops
from emofast.ops import contrastive_loss, contrastive_loss_in_batch

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY: dict[str, str] = {}


def _register_lazy(module: str, names: list[str]) -> None:
    for name in names:
        _LAZY[name] = module


# Each feature/pipeline module lists its public names here (edit only your module's line).
_register_lazy("emofast.audio", ["load_audio", "logmel", "deltas", "logmel_segments", "LogMelConfig",
                                 "iter_logmel_segments", "logmel_segments_many", "SegmentsResult"])
_register_lazy("emofast.video", ["iter_frames", "extract_faces", "FaceTrack", "iter_faces", "VideoError", "NoFaceError"])
_register_lazy("emofast.nn", ["ContrastiveLoss"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in {"nn", "train", "audio", "video", "corpora", "synthetic", "store", "protocols",
                    "metrics", "fusion", "report", "cli"}:
            return importlib.import_module(f"emofast.{name}")
        raise AttributeError(f"module 'emofast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["ops", "contrastive_loss", "contrastive_loss_in_batch", "__version__"]
