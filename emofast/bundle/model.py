"""A trained model ready to use: :func:`load_model` → :class:`Model`, whose
:meth:`Model.predict` gives per-file posteriors (:class:`Prediction`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from emofast.bundle.architectures import architecture as find_architecture
from emofast.bundle.inputs import as_segments, feature_extractor, file_segments
from emofast.bundle.storage import read_bundle
from emofast.errors import InputError

__all__ = ["Prediction", "Model", "load_model"]


@dataclass(frozen=True)
class Prediction:
    """Class posteriors of one file (or one array of segments).

    Attributes
    ----------
    source : str
        The file, or ``"<array>"``.
    classes : tuple of str
        Class names, in the order of ``posteriors``.
    posteriors : numpy.ndarray of float64, shape (n_classes,)
        The file's posteriors: its segments' posteriors aggregated as in training (sum to 1).
    n_segments : int
        Segments (log-Mel windows or face frames) the file gave.
    segments : numpy.ndarray of float32, shape (n_segments, n_classes), or None
        Every segment's posteriors, with ``per_segment=True``.
    """

    source: str
    classes: tuple[str, ...]
    posteriors: np.ndarray
    n_segments: int
    segments: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The most probable class."""
        return self.classes[int(np.argmax(self.posteriors))]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``file``, ``label``, ``posteriors`` {class: p}, ``n_segments`` (and
        ``segments``, one {class: p} per segment, when present)."""
        d: dict[str, Any] = {"file": self.source, "label": self.label,
                             "posteriors": dict(zip(self.classes, map(float, self.posteriors))),
                             "n_segments": self.n_segments}
        if self.segments is not None:
            d["segments"] = [dict(zip(self.classes, map(float, row))) for row in self.segments]
        return d


class Model:
    """A network with its classes, feature settings and training standardisation.

    Built by :func:`load_model`; the constructor takes the same parts as
    :func:`~emofast.bundle.save_bundle`.

    Attributes
    ----------
    module : torch.nn.Module
        The network, in evaluation mode.
    architecture : str
    settings : dict
    classes : list of str
    features : dict
        ``modality``, ``extractor``, ``extractor_version``, ``config``.
    mean, std : numpy.ndarray of float32
        Standardisation applied to every input.
    aggregate : {"mean", "logmean"}
    provenance : dict
    path : str or None
        The bundle it was loaded from.
    normalization : {None, "speaker", "corpus"}
        Trained on features normalised per speaker (or corpus) by their own statistics: then
        :meth:`predict` needs ``same_speaker=True`` and normalises what it is given likewise.
    """

    def __init__(self, module: Any, *, architecture: str, settings: dict, classes: list[str],
                 features: dict, mean: np.ndarray, std: np.ndarray, aggregate: str = "mean",
                 provenance: dict | None = None, path: str | None = None,
                 normalization: str | None = None) -> None:
        self.module = module.eval()
        self.architecture = architecture
        self.settings = settings
        self.classes = list(classes)
        self.features = features
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.aggregate = aggregate
        self.provenance = dict(provenance or {})
        self.path = path
        self.normalization = normalization
        self._extractor: Any = None

    @property
    def modality(self) -> str:
        """``"audio"`` (log-Mel segments) or ``"video"`` (face crops)."""
        return self.features["modality"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one segment the network takes, e.g. ``(3, 64, 64)``."""
        return find_architecture(self.architecture).input_shape(self.settings)

    def __repr__(self) -> str:
        return (f"Model({self.architecture}, {self.modality}, classes={self.classes}, "
                f"path={self.path!r})")

    def segments(self, path: str | os.PathLike) -> np.ndarray:
        """Features of a media file computed exactly as in training, ``(n, *input_shape)``
        float32, not yet standardised."""
        if self._extractor is None:
            self._extractor = feature_extractor(self.features)
        return file_segments(path, self.modality, self._extractor)

    def segment_posteriors(self, segments: Any) -> np.ndarray:
        """Posteriors ``(n, n_classes)`` float32 of segments (raw, as :meth:`segments` gives)."""
        from emofast.train.fit import predict_proba

        X = as_segments(segments, self.input_shape, self.modality)
        return predict_proba(self.module, (X - self.mean) / self.std)

    def predict(self, source: Any, per_segment: bool = False, *,
                same_speaker: bool = False) -> Prediction | list[Prediction]:
        """Posteriors of a media file, of a list of files, or of an array of segments.

        Parameters
        ----------
        source : path, list of paths, or array
            Audio files (wav, flac; the audio track of a video) for an audio model, video files
            for a video model; or segments as :func:`~emofast.bundle.inputs.as_segments` takes
            them (one file's worth).
        per_segment : bool, default False
            Also return every segment's posteriors (:attr:`Prediction.segments`).
        same_speaker : bool, default False
            The files are recordings of one speaker: a model trained on speaker-normalised
            features (:attr:`normalization`) normalises them by their pooled statistics, as
            training normalised each speaker (the more recordings, the closer to training). Needed
            by such a model; ignored by the others.

        Returns
        -------
        Prediction, or a list of them for a list of files

        Raises
        ------
        MissingFileError, MediaError, InputError
            A missing or undecodable file, a file of the wrong modality, segments of the wrong
            shape (the message names the file); a speaker-normalised model without
            ``same_speaker``.
        """
        many = isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike))
                                                         for s in source)
        items = list(source) if many else [source]
        named = [(os.fspath(s), self.segments(s)) if isinstance(s, (str, os.PathLike))
                 else ("<array>", s) for s in items]
        predictions = self.predict_segments(named, per_segment, same_speaker=same_speaker)
        return predictions if many else predictions[0]

    def predict_segments(self, named: list[tuple[str, Any]], per_segment: bool = False, *,
                         same_speaker: bool = False) -> list[Prediction]:
        """:meth:`predict` of ``(name, segments)`` pairs (segments as :meth:`segments` gives)."""
        from emofast.dataset import Standardizer, normalization_per
        from emofast.protocols import aggregate_segments

        arrays = [as_segments(seg, self.input_shape, self.modality) for _, seg in named]
        if self.normalization is not None:
            if not same_speaker:
                raise InputError(
                    f"model {self.path or ''} was trained on features normalised per "
                    f"{self.normalization} by their own statistics: give recordings of one "
                    f"{self.normalization} together with same_speaker=True (emofast predict "
                    "--same-speaker)")
            pooled = np.concatenate(arrays)
            own = Standardizer.fit(pooled, per=normalization_per(pooled.ndim))
            arrays = [own(x) for x in arrays]
        out = []
        for (name, _), X in zip(named, arrays):
            post = self.segment_posteriors(X)
            file_post = aggregate_segments(post, np.zeros(len(post), np.int64),
                                           how=self.aggregate)[0]
            out.append(Prediction(name, tuple(self.classes), file_post[0], len(post),
                                  post if per_segment else None))
        return out


def load_model(path: str | os.PathLike) -> Model:
    """Load a model bundle written by :func:`~emofast.bundle.save_bundle`.

    Only tensors and plain data are read (``torch.load(weights_only=True)``); nothing in the file
    is executed, and a file that would need code to load is refused.

    Raises
    ------
    MissingFileError
        ``path`` does not exist.
    InputError
        Not a bundle, damaged, of a newer layout, or code-carrying (refused); the message names
        ``path``.
    """
    b = read_bundle(path)
    try:
        module = find_architecture(b.architecture).build(b.settings)
        module.load_state_dict(b.weights)
    except (InputError, RuntimeError) as exc:
        raise InputError(f"model bundle {b.path} is damaged: its weights do not fit "
                         f"{b.architecture} {b.settings} ({' '.join(str(exc).split())[:300]})"
                         ) from None
    return Model(module, architecture=b.architecture, settings=b.settings, classes=b.classes,
                 features=b.features, mean=b.mean, std=b.std, aggregate=b.aggregate,
                 provenance=b.provenance, path=b.path, normalization=b.normalization)
