"""Model bundles: one file with a trained network and everything needed to use it.

A bundle holds the weights, the architecture name and its settings, the class names, the feature
settings of training (so features are recomputed exactly), the training standardisation statistics,
how segment posteriors become one per file, and provenance (corpora, protocol, emofast version,
command line). Loading never runs code from the file: it is read with
``torch.load(weights_only=True)`` and holds tensors and JSON only (see ``docs/using-a-model.md``).

Examples
--------
>>> import emofast                                                        # doctest: +SKIP
>>> from emofast.experiments.baseline import BaselineConfig, train_final  # doctest: +SKIP
>>> final = train_final(data, BaselineConfig(epochs=20))                  # doctest: +SKIP
>>> emofast.save_bundle("model.emofast", final, features=feature_set)     # doctest: +SKIP
>>> model = emofast.load_model("model.emofast")                           # doctest: +SKIP
>>> model.predict("speech.wav").posteriors                                # doctest: +SKIP
"""
from __future__ import annotations

from emofast.bundle.architectures import ARCHITECTURES, Architecture
from emofast.bundle.model import Model, Prediction, load_model
from emofast.bundle.onnx_export import export_onnx
from emofast.bundle.storage import read_bundle, save_bundle

__all__ = ["save_bundle", "load_model", "read_bundle", "Model", "Prediction", "export_onnx",
           "ARCHITECTURES", "Architecture"]
