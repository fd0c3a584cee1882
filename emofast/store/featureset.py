"""What a feature store returns: :class:`FeatureSet` (memory-mapped rows and their utterance index)
with its :class:`SegmentRecord` and :class:`FailedRecord` entries."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from emofast.corpora import EMOTIONS
from emofast.corpora.records import describe_speakers
from emofast.errors import InputError

__all__ = ["FeatureSet", "SegmentRecord", "FailedRecord"]


@dataclass(frozen=True)
class SegmentRecord:
    """Index entry of one extracted utterance: its segments are ``features[start:stop]``."""

    id: str
    start: int
    stop: int
    label: str
    speaker: str
    path: str
    gender: str | None = None
    #: blake2b checksum of the rows (None for stores written before checksums)
    checksum: str | None = None
    #: the corpus's official split (``train``, ``val``, ``test``), None where it has none
    split: str | None = None

    @property
    def n_segments(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class FailedRecord:
    """An utterance that yielded no features: ``status`` is ``"failed"`` (error) or ``"empty"``."""

    id: str
    path: str
    label: str
    speaker: str
    status: str
    reason: str


class FeatureSet:
    """Features of one corpus x modality x settings, with their utterance index.

    Attributes
    ----------
    corpus, modality, key : str
    settings : dict
        What the key hashes (modality, extractor, config).
    features : numpy.memmap
        ``(n_rows, 3, 64, 64)`` float32 for audio, ``(n_rows, 64, 64, 3)`` uint8 for faces (video
        crops and images)
        (read-only). Every row belongs to at most one record of :attr:`utterances`.
    utterances : list of SegmentRecord
        Utterances with at least one segment, in request order; segments ``start:stop``.
    failed : list of FailedRecord
        Utterances without features, with the reason.
    """

    def __init__(self, corpus: str, modality: str, key: str, settings: dict, path: Path,
                 features: np.ndarray, utterances: list[SegmentRecord], failed: list[FailedRecord]):
        self.corpus = corpus
        self.modality = modality
        self.key = key
        self.settings = settings
        self.path = path
        self.features = features
        self.utterances = utterances
        self.failed = failed

    def __len__(self) -> int:
        return len(self.utterances)

    def __repr__(self) -> str:
        return (f"FeatureSet({self.corpus!r}, {self.modality!r}, key={self.key!r}, "
                f"{len(self.utterances)} utterances, {self.n_segments} segments, "
                f"{len(self.failed)} failed)")

    @property
    def n_segments(self) -> int:
        """Segments belonging to :attr:`utterances`."""
        return sum(r.stop - r.start for r in self.utterances)

    def ids(self) -> list[str]:
        """Utterance ids, in :attr:`utterances` order."""
        return [r.id for r in self.utterances]

    def rows(self) -> np.ndarray:
        """Row indices into :attr:`features` of all segments, utterance by utterance (int64)."""
        if not self.utterances:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in self.utterances])

    def _per_row(self, values: np.ndarray, fill: Any) -> np.ndarray:
        out = np.full(self.features.shape[0], fill, dtype=values.dtype)
        for r, v in zip(self.utterances, values):
            out[r.start:r.stop] = v
        return out

    def labels(self, classes: Sequence[str] | None = None, *,
               vocabulary: Sequence[str] | None = None) -> np.ndarray:
        """Class index of each utterance (:attr:`utterances` order), int64.

        Parameters
        ----------
        classes : sequence of str, optional
            Class names in index order. Default: the labels present in this set, sorted, numbered
            ``0 .. n_present - 1`` (:func:`emofast.dataset.encode_labels`), so a corpus with 7
            emotions gets labels 0..6 whatever the shared vocabulary holds. Pass e.g.
            :data:`emofast.corpora.EMOTIONS` for the old 9-emotion numbering, or the classes of
            another set to number two sets alike.
        vocabulary : sequence of str, optional
            Older name of ``classes`` (keyword only); give one of the two.

        Raises
        ------
        emofast.errors.InputError
            A label is not in ``classes`` (select labels first: :meth:`select_labels`), or both
            ``classes`` and ``vocabulary`` were given.

        Examples
        --------
        A set holding anger, sadness and happiness: ``labels()`` numbers them 0 (anger),
        1 (happiness), 2 (sadness); ``labels(EMOTIONS)`` gives 0, 4 and 6.
        """
        from emofast.dataset import encode_labels

        classes = self._classes(classes, vocabulary)
        names = [r.label for r in self.utterances]
        if classes is not None:
            missing = sorted(set(names) - set(classes))
            if missing:
                raise InputError(f"labels {missing} of {self.corpus}/{self.modality} are not in the "
                                 f"vocabulary {list(classes)}; use FeatureSet.select_labels first")
        return encode_labels(names, classes)[0]

    def classes(self, classes: Sequence[str] | None = None, *,
                vocabulary: Sequence[str] | None = None) -> list[str]:
        """Class names in the index order of :meth:`labels` called with the same arguments."""
        from emofast.dataset import encode_labels

        return encode_labels([r.label for r in self.utterances], self._classes(classes, vocabulary))[1]

    @staticmethod
    def _classes(classes: Sequence[str] | None, vocabulary: Sequence[str] | None
                 ) -> Sequence[str] | None:
        if classes is not None and vocabulary is not None:
            raise InputError("give classes or vocabulary, not both")
        return vocabulary if classes is None else classes

    def segment_labels(self, classes: Sequence[str] | None = None, *,
                       vocabulary: Sequence[str] | None = None) -> np.ndarray:
        """Class index of every row of :attr:`features` (int64; -1 for rows of no listed utterance).

        Numbered as by :meth:`labels` with the same arguments: by default contiguously over the
        labels present, sorted.
        """
        return self._per_row(self.labels(classes, vocabulary=vocabulary), -1)

    def segment_groups(self) -> np.ndarray:
        """Utterance index (into :attr:`utterances`) of every row of :attr:`features` (int64; -1 for
        rows of no listed utterance). Splits made on these groups never cut an utterance."""
        return self._per_row(np.arange(len(self.utterances), dtype=np.int64), -1)

    def speakers(self) -> np.ndarray:
        """Speaker of each utterance (str array, :attr:`utterances` order), e.g. for
        leave-one-speaker-out splits."""
        return np.array([r.speaker for r in self.utterances], dtype=str)

    def segment_speakers(self) -> np.ndarray:
        """Speaker of every row of :attr:`features` (str; ``""`` for rows of no listed utterance)."""
        return self._per_row(self.speakers().astype(object), "").astype(str)

    def select_labels(self, labels: Sequence[str]) -> FeatureSet:
        """The same features restricted to utterances whose label is in ``labels``."""
        unknown = sorted(set(labels) - set(EMOTIONS))
        if unknown:
            raise InputError(f"unknown emotion label(s) {unknown}; the vocabulary is {list(EMOTIONS)}")
        keep = set(labels)
        return FeatureSet(self.corpus, self.modality, self.key, self.settings, self.path,
                          self.features, [r for r in self.utterances if r.label in keep],
                          [f for f in self.failed if f.label in keep])

    def summary(self) -> str:
        """One line: counts of utterances, segments, speakers and failures."""
        return (f"{self.corpus}/{self.modality} [{self.key}]: {len(self.utterances)} utterances, "
                f"{self.n_segments} segments of shape {tuple(self.features.shape[1:])}, "
                f"{describe_speakers(r.speaker for r in self.utterances)}, {len(self.failed)} failed")
