"""What the feature store needs of a feature extractor: the :class:`Extractor` protocol.

The store knows no modality by name. It asks an extractor for

* ``modality``: the store folder (``"audio"``, ``"video"`` or ``"image"``) and which files of a
  corpus it reads
  (:func:`emofast.corpora.select_modality`);
* ``name`` and ``version``: who made the features (bump ``version`` when the output changes);
* :meth:`Extractor.settings`: a JSON-able dict of every setting that changes a feature value;
  with ``name``, ``version`` and the store format it is hashed into the set's key, so features
  of other settings never mix;
* ``__call__(path)``: the features of one file, an array ``(n_rows, *row_shape)`` (``n_rows`` may
  be 0), or an object with such an array as ``crops`` and a ``reason`` for an empty result (a
  :class:`emofast.video.FaceTrack`);
* :meth:`Extractor.extract_many`: ``Result(index, value, error)`` for many files, in input order
  (default: ``__call__`` on :func:`emofast.parallel.ordered_map` worker processes);
* optionally ``row_shape`` and ``dtype`` of one row, when known before the first file.

emofast provides :class:`emofast.audio.LogMelExtractor` (log-Mel segments),
:class:`emofast.video.FaceExtractor` (face crops of videos) and
:class:`emofast.video.extractor.ImageExtractor` (faces of still images);
``FeatureStore.extract(name, utts, "audio")``, ``"video"`` and ``"image"`` use them
(:func:`builtin_extractor`). A plain function ``path -> array`` is wrapped
in a :class:`FunctionExtractor`.

Examples
--------
>>> import numpy as np
>>> class Loudness(Extractor):
...     modality, name, version = "audio", "loudness", 1
...     def settings(self):
...         return {"frame": 400}
...     def __call__(self, path):
...         return np.zeros((1, 4), np.float32)
>>> Loudness().settings()
{'frame': 400}
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from emofast.errors import InputError
from emofast.parallel import Result, ordered_map

__all__ = ["Extractor", "FunctionExtractor", "builtin_extractor", "resolve_extractor", "config_dict"]

#: Modality -> the built-in extractor class, imported on first use.
_BUILTIN = {"audio": ("emofast.audio.extractor", "LogMelExtractor"),
            "video": ("emofast.video.extractor", "FaceExtractor"),
            "image": ("emofast.video.extractor", "ImageExtractor")}


class Extractor(ABC):
    """Base class of feature extractors for :class:`emofast.store.FeatureStore`.

    Subclasses set ``modality`` and ``name`` (and ``version``, ``row_shape``, ``dtype`` when they
    can) and implement :meth:`settings` and ``__call__``. For ``workers > 1`` the default
    :meth:`extract_many` runs ``__call__`` in worker processes, so the instance must pickle.
    """

    #: ``"audio"``, ``"video"`` or ``"image"``: the store folder and the files it reads.
    modality: str = ""
    #: Who makes the features; part of the store key.
    name: str = ""
    #: Bump when the output changes for the same settings; part of the store key.
    version: Any = None
    #: Shape of one row (one segment or crop), when known before extracting; else None.
    row_shape: tuple[int, ...] | None = None
    #: dtype of the rows, when known before extracting; else None.
    dtype: np.dtype | None = None

    @abstractmethod
    def settings(self) -> dict:
        """Every setting that changes a feature value, JSON-able (hashed into the store key)."""

    @abstractmethod
    def __call__(self, path: str) -> Any:
        """Features of one file: an array ``(n_rows, *row_shape)``."""

    def extract_many(self, paths: Sequence[str], *, workers: int | None = None,
                     progress: bool = True) -> Iterator[Result]:
        """``Result(index, value, error)`` for every path, in input order; errors are records.

        The default runs ``self(path)`` in ``workers`` processes (in this thread when ``workers``
        is None, 0 or 1).
        """
        return ordered_map(self, paths, workers=workers or 1, kind="processes", progress=progress,
                           desc=f"{self.modality} features", unit="file")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.modality!r}, {self.name!r}, {self.settings()!r})"


class FunctionExtractor(Extractor):
    """A plain function ``path -> array`` as an :class:`Extractor`.

    Parameters
    ----------
    fn : callable
        Its ``name`` and ``version`` attributes, when present, name it in the store key (default
        ``module.qualname``, version None). Must pickle for ``workers > 1``.
    modality : {"audio", "video", "image"}
    config : dict or object with ``to_dict()``, optional
        Settings recorded in the key (default ``{}``).
    """

    def __init__(self, fn: Callable[[str], Any], modality: str, config: Any = None):
        if not callable(fn):
            raise InputError(f"extractor must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.modality = modality
        self.name = str(getattr(fn, "name", None) or
                        f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}")
        self.version = getattr(fn, "version", None)
        self._config = config_dict(config) if config is not None else {}

    def settings(self) -> dict:
        return self._config

    def __call__(self, path: str) -> Any:
        return self.fn(path)

    def extract_many(self, paths: Sequence[str], *, workers: int | None = None,
                     progress: bool = True) -> Iterator[Result]:
        # the function itself goes to the workers (as before there was a protocol)
        return ordered_map(self.fn, paths, workers=workers or 1, kind="processes", progress=progress,
                           desc="features", unit="file")


def builtin_extractor(modality: str, config: Any = None) -> Extractor:
    """emofast's extractor of ``modality`` with ``config`` (see :data:`_BUILTIN`)."""
    import importlib

    if modality not in _BUILTIN:
        raise InputError(f"modality must be one of {tuple(_BUILTIN)}, got {modality!r}")
    module, cls = _BUILTIN[modality]
    return getattr(importlib.import_module(module), cls)(config)


def resolve_extractor(modality: str | Extractor, extractor: Any = None, config: Any = None) -> Extractor:
    """The :class:`Extractor` the store runs for ``extract``/``open`` arguments.

    ``modality`` may be an :class:`Extractor` itself; ``extractor`` may be an :class:`Extractor`
    (its modality must match) or a plain function (wrapped with ``config`` in a
    :class:`FunctionExtractor`); otherwise the built-in extractor of ``modality`` gets ``config``.
    """
    if isinstance(modality, Extractor):
        if extractor is not None or config is not None:
            raise InputError("an Extractor carries its own settings: pass neither extractor nor config")
        return _checked(modality)
    if isinstance(extractor, Extractor):
        if config is not None:
            raise InputError("an Extractor carries its own settings: do not pass config with it")
        if extractor.modality != modality:
            raise InputError(f"extractor {extractor.name!r} makes {extractor.modality!r} features, "
                             f"not {modality!r}")
        return _checked(extractor)
    if modality not in _BUILTIN:
        raise InputError(f"modality must be one of {tuple(_BUILTIN)}, got {modality!r}")
    if extractor is not None:
        return _checked(FunctionExtractor(extractor, modality, config))
    return builtin_extractor(modality, config)


def _checked(ex: Extractor) -> Extractor:
    if ex.modality not in _BUILTIN:
        raise InputError(f"{type(ex).__name__}.modality must be one of {tuple(_BUILTIN)}, "
                         f"got {ex.modality!r}")
    if not ex.name:
        raise InputError(f"{type(ex).__name__} has no name")
    return ex


def config_dict(config: Any) -> dict:
    """``config.to_dict()`` or ``dict(config)``, checked to be JSON-serialisable (TypeError if not)."""
    if hasattr(config, "to_dict"):
        d = config.to_dict()
    elif isinstance(config, Mapping):
        d = dict(config)
    else:
        raise TypeError(f"config must have .to_dict() or be a dict, got {type(config).__name__}")
    try:
        json.dumps(d, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"config is not JSON-serialisable: {exc}") from None
    return d

