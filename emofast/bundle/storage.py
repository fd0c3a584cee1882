"""The model bundle file: :func:`save_bundle` writes it, :func:`read_bundle` reads and checks it.

One ``torch.save`` file holding tensors and plain data only::

    {"format": "emofast.bundle", "version": 1,
     "meta": "<JSON: architecture, settings, classes, features, aggregate, provenance>",
     "weights": {parameter name: tensor},
     "standardizer": {"mean": tensor, "std": tensor}}

It is read with ``torch.load(weights_only=True)`` (:func:`emofast.train.checkpoint.read_plain`):
a file that would need any other Python object to unpickle is refused with an
:class:`~emofast.errors.InputError` naming it, and nothing in it is executed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from emofast.bundle.architectures import architecture as find_architecture
from emofast.errors import InputError, MissingFileError

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "AGGREGATIONS", "BundleContents", "save_bundle",
           "read_bundle", "features_dict"]

#: The ``format`` field of every bundle.
BUNDLE_FORMAT = "emofast.bundle"
#: Layout version written (and the newest read).
BUNDLE_VERSION = 1
#: How segment posteriors become one per file (as in :func:`emofast.protocols.aggregate_segments`).
AGGREGATIONS = ("mean", "logmean")
_META_KEYS = ("architecture", "settings", "classes", "features", "aggregate", "provenance")
_REMEDY = "give a file written by emofast.save_bundle or `emofast evaluate --save-model`"


@dataclass
class BundleContents:
    """What a bundle file holds, checked for consistency but not yet turned into a network.

    Attributes
    ----------
    path : str
    architecture : str
    settings : dict
        Constructor keyword arguments of the network.
    classes : list of str
        Class names in output order.
    features : dict
        ``modality``, ``extractor``, ``extractor_version`` and ``config``: the settings of the
        feature extractor used in training (features are recomputed with exactly these).
    aggregate : {"mean", "logmean"}
    provenance : dict
        Corpora, protocol, emofast version, command line, ... (plain data).
    weights : dict of str to torch.Tensor
    mean, std : numpy.ndarray of float32
        Training standardisation statistics, broadcastable to ``(1, *input_shape)``.
    normalization : {None, "speaker", "corpus"}
        The model was trained on features normalised per speaker (or corpus) by their own
        statistics (:func:`emofast.dataset.normalize`); new files must be normalised likewise.
    """

    path: str
    architecture: str
    settings: dict
    classes: list[str]
    features: dict
    aggregate: str
    provenance: dict
    weights: dict
    mean: np.ndarray
    std: np.ndarray
    normalization: str | None = None


def features_dict(features: Any) -> dict:
    """The feature settings a bundle records, from an :class:`~emofast.store.Extractor`, a
    :class:`~emofast.store.FeatureSet` (its ``settings``) or a dict with ``modality``,
    ``extractor``, ``config`` (and optionally ``extractor_version``).

    Raises
    ------
    InputError
        Anything else, or a modality other than ``audio``/``video``.
    """
    from emofast.store.extractor import Extractor

    if isinstance(features, Extractor):
        features = {"modality": features.modality, "extractor": features.name,
                    "extractor_version": features.version, "config": features.settings()}
    elif not isinstance(features, dict) and isinstance(getattr(features, "settings", None), dict):
        features = features.settings
    if not isinstance(features, dict) or not {"modality", "extractor", "config"} <= set(features):
        raise InputError("features must be an Extractor, a FeatureSet or a dict with modality, "
                         f"extractor and config; got {features!r}")
    if features["modality"] not in ("audio", "video"):
        raise InputError(f"features modality must be 'audio' or 'video', got "
                         f"{features['modality']!r}")
    return {"modality": features["modality"], "extractor": str(features["extractor"]),
            "extractor_version": features.get("extractor_version"),
            "config": dict(features["config"])}


def _check(arch_name: str, settings: dict, classes: list[str], mean: np.ndarray,
           std: np.ndarray, aggregate: str, where: str) -> None:
    """Raise InputError (prefixed by ``where``) unless the parts fit together."""
    arch = find_architecture(arch_name)
    n = arch.n_classes(settings)
    if len(classes) != n or len(set(classes)) != n:
        raise InputError(f"{where}{n} distinct class names needed for {n} outputs, got {classes}")
    row = (1, *arch.input_shape(settings))
    for name, a in (("mean", mean), ("std", std)):
        try:
            ok = np.broadcast_shapes(a.shape, row) == row
        except ValueError:
            ok = False
        if not ok:
            raise InputError(f"{where}standardizer {name} of shape {a.shape} does not fit inputs "
                             f"of shape {row[1:]}")
    if not np.all(np.isfinite(mean)) or not np.all(std > 0):
        raise InputError(f"{where}standardizer statistics must be finite with std > 0")
    if aggregate not in AGGREGATIONS:
        raise InputError(f"{where}aggregate must be one of {AGGREGATIONS}, got {aggregate!r}")


def _check_normalization(normalization: str | None, where: str) -> None:
    from emofast.dataset import NORMALIZATIONS

    if normalization is not None and normalization not in NORMALIZATIONS:
        raise InputError(f"{where}normalization must be None or one of {NORMALIZATIONS}, got "
                         f"{normalization!r}")


def save_bundle(path: str | os.PathLike, model: Any, *, features: Any,
                architecture: str | None = None, settings: dict | None = None,
                classes: list[str] | None = None, standardizer: Any = None,
                provenance: dict | None = None, aggregate: str = "mean",
                normalization: str | None = None) -> Path:
    """Write a trained network and everything needed to use it into one file.

    Parameters
    ----------
    path : path
        The bundle file (conventionally ``*.emofast``); written atomically.
    model : torch.nn.Module or FinalModel
        The trained network; a :class:`~emofast.experiments.baseline.FinalModel` (from
        :func:`~emofast.experiments.baseline.train_final`) also supplies ``architecture``,
        ``settings``, ``classes`` and ``standardizer``.
    features : Extractor, FeatureSet or dict
        The feature settings of training (see :func:`features_dict`): the store's
        ``FeatureSet.settings``, or ``LogMelExtractor(config)`` / ``FaceExtractor(config)``.
    architecture : str
        A name of :data:`~emofast.bundle.architectures.ARCHITECTURES` (``"GroupNormCNN"``).
    settings : dict
        The network's constructor keyword arguments (plain JSON data), e.g.
        :func:`~emofast.experiments.baseline.baseline_settings`.
    classes : list of str
        Class names in output order.
    standardizer : Standardizer or (mean, std)
        Training statistics, applied to every input before the network.
    provenance : dict, optional
        Plain data on where the model came from (corpora, protocol, command, scores...);
        ``emofast_version`` and ``created`` (UTC, ISO 8601) are added unless given.
    normalization : {None, "speaker", "corpus"}, default None
        The training features were normalised per speaker (or corpus) by their own statistics;
        :meth:`Model.predict` then needs ``same_speaker=True`` and normalises the files it is
        given by their own statistics.
    aggregate : {"mean", "logmean"}, default "mean"
        How segment posteriors become one posterior per file (as in training's evaluation).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        Missing or inconsistent parts: a network that is not ``architecture``, settings that do
        not rebuild it, a class count or standardizer shape that does not fit, non-JSON data.
    """
    import torch

    from emofast import __version__

    if hasattr(model, "model") and hasattr(model, "standardizer"):  # a FinalModel
        architecture = architecture or model.architecture
        settings = settings if settings is not None else model.settings
        classes = classes if classes is not None else model.classes
        standardizer = standardizer if standardizer is not None else model.standardizer
        model = model.model
    if architecture is None or settings is None or classes is None or standardizer is None:
        raise InputError("save_bundle needs architecture, settings, classes and standardizer "
                         "(or a FinalModel from train_final, which carries them)")
    arch = find_architecture(architecture)
    if not isinstance(model, arch.model_class()):
        raise InputError(f"model is a {type(model).__name__}, not a {architecture}")
    mean, std = ((standardizer.mean, standardizer.std) if hasattr(standardizer, "mean")
                 else standardizer)
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    classes = [str(c) for c in classes]
    _check(architecture, settings, classes, mean, std, aggregate, "")
    weights = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    try:
        arch.build(settings).load_state_dict(weights)
    except RuntimeError as exc:
        raise InputError(f"{architecture} settings {settings} do not describe this model: "
                         f"{' '.join(str(exc).split())}") from None
    provenance = dict(provenance or {})
    provenance.setdefault("emofast_version", __version__)
    provenance.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _check_normalization(normalization, "")
    meta = {"architecture": architecture, "settings": settings, "classes": classes,
            "features": features_dict(features), "aggregate": aggregate, "provenance": provenance,
            "normalization": normalization}
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bundle settings, features and provenance must be plain JSON data: "
                         f"{exc}") from None
    from emofast.train.checkpoint import write_plain

    write_plain(path, {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, "meta": text,
                       "weights": weights,
                       "standardizer": {"mean": torch.from_numpy(mean),
                                        "std": torch.from_numpy(std)}}, what="model bundle")
    return Path(path)


def read_bundle(path: str | os.PathLike) -> BundleContents:
    """Read and check a bundle file without building its network.

    Raises
    ------
    MissingFileError
        ``path`` does not exist.
    InputError
        A folder, a file that is not a bundle (another torch file, a checkpoint, random bytes), a
        damaged or inconsistent bundle, one of a newer layout, or a code-carrying pickle (refused,
        never executed). Every message names ``path``.
    """
    import torch

    from emofast.train.checkpoint import read_plain

    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(f"model bundle {path} does not exist")
    if os.path.isdir(path):
        raise InputError(f"model bundle {path} is a folder, not a file; {_REMEDY}")
    obj = read_plain(path, "model bundle", error=InputError, remedy=_REMEDY)
    if not isinstance(obj, dict) or obj.get("format") != BUNDLE_FORMAT:
        raise InputError(f"{path} is not an emofast model bundle; {_REMEDY}")
    if not isinstance(obj.get("version"), int) or obj["version"] > BUNDLE_VERSION:
        raise InputError(f"model bundle {path} has layout version {obj.get('version')!r}; this "
                         f"emofast reads up to {BUNDLE_VERSION}: upgrade emofast")
    where = f"model bundle {path} is damaged: "
    try:
        meta = json.loads(obj["meta"])
        weights, stats = obj["weights"], obj["standardizer"]
        mean, std = stats["mean"].numpy(), stats["std"].numpy()
        parts = [meta[k] for k in _META_KEYS]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{where}{type(exc).__name__}: {exc}") from None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor)
                                                for v in weights.values()):
        raise InputError(f"{where}weights are not a dict of tensors")
    contents = BundleContents(path, *parts, weights=weights, mean=mean, std=std,
                              normalization=meta.get("normalization"))
    if not isinstance(contents.settings, dict) or not isinstance(contents.classes, list):
        raise InputError(f"{where}settings or classes malformed")
    try:
        contents.features = features_dict(contents.features)
        _check(contents.architecture, contents.settings, contents.classes, mean, std,
               contents.aggregate, where)
        _check_normalization(contents.normalization, where)
    except (KeyError, TypeError, ValueError) as exc:  # InputError is a ValueError
        text = str(exc)
        raise InputError(text if text.startswith(where) else where + text) from None
    return contents
