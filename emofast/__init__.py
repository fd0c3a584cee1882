"""emofast: native kernels and pipelines for transfer-learning emotion recognition.

Every public name loads its module on first use: ``import emofast`` itself imports neither torch
nor Numba, OpenCV or PyAV, so a feature-extraction worker that only needs ``emofast.audio`` never
pays for torch, and a training script pays for torch once (the native ops add ~30 ms to it).
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY: dict[str, str] = {}


def _register_lazy(module: str, names: list[str]) -> None:
    for name in names:
        _LAZY[name] = module


# Each feature/pipeline module lists its public names here (edit only your module's line).
_register_lazy("emofast.audio", ["load_audio", "logmel", "deltas", "logmel_segments", "LogMelConfig",
                                 "iter_logmel_segments", "logmel_segments_many", "SegmentsResult",
                                 "mel_filterbank", "LogMelExtractor"])
_register_lazy("emofast.video", ["iter_frames", "extract_faces", "FaceTrack", "iter_faces", "VideoError", "NoFaceError",
                                 "FaceExtractor"])
_register_lazy("emofast.ops", ["contrastive_loss", "contrastive_loss_in_batch"])
_register_lazy("emofast.nn", ["ContrastiveLoss", "PathNet"])
_register_lazy("emofast.errors", ["EmofastError", "InputError", "MissingFileError", "MediaError",
                                  "StoreError"])
_register_lazy("emofast.dataset", ["SegmentData"])
_register_lazy("emofast.bundle", ["save_bundle", "load_model"])
_register_lazy("emofast.fusion", ["FusionResult", "confidence_ensemble", "LogisticFusion", "fuse",
                                  "FUSION_METHODS"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        if name in {"ops", "nn", "train", "audio", "video", "corpora", "synthetic", "store", "protocols",
                    "metrics", "report", "cli", "dataset", "errors", "experiments", "parallel",
                    "fusion", "bundle", "distributed"}:
            return importlib.import_module(f"emofast.{name}")
        raise AttributeError(f"module 'emofast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", *_LAZY]
