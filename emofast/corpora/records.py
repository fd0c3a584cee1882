"""The records every corpus loader yields, and the one emotion vocabulary they share.

:class:`Utterance` is one media file (an utterance, a video clip or a face image) with its
speaker, label and, where the corpus defines one, its official split; :class:`CorpusIndex` is what
:func:`emofast.corpora.load_corpus` returns. Label and split names of any corpus or user manifest
are mapped onto the shared vocabulary by :func:`canonical_label` and :func:`canonical_split`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from emofast.errors import InputError, MissingFileError

__all__ = [
    "EMOTIONS",
    "PAPER_SIX",
    "MODALITIES",
    "SPLITS",
    "UNKNOWN_SPEAKER",
    "MEDIA_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "LABEL_SYNONYMS",
    "Utterance",
    "CorpusIndex",
    "canonical_label",
    "canonical_split",
    "describe_speakers",
    "select_labels",
    "select_modality",
    "MissingPathError",
]

#: Shared emotion vocabulary; every corpus maps its codes onto it. New emotions are appended, so
#: the index of an emotion in this tuple never moves (``contempt``, CK+, came last).
EMOTIONS: tuple[str, ...] = (
    "anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "calm",
    "contempt",
)
#: The six emotions the papers evaluate.
PAPER_SIX: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

#: Official split names of :attr:`Utterance.split`: train on ``train``, select on ``val``, test on
#: ``test``.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Speaker of records whose corpus has no speaker identities (FER2013; an empty manifest cell).
UNKNOWN_SPEAKER = "unknown"

#: Audio and video file extensions (lower case) the corpus walkers read. Other files (READMEs, CSVs,
#: manifests) are ignored; images are :data:`IMAGE_EXTENSIONS`, read by the image corpora.
MEDIA_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".mp4", ".avi", ".flv", ".mov", ".mkv"})
#: Extensions of audio-only files (the rest of :data:`MEDIA_EXTENSIONS` are videos; the corpus
#: walkers read only the .wav and .flac of them, user manifests every one).
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"})
#: Still-image extensions (face images of FER2013, CK+ and user manifests).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
                                              ".webp"})
#: What a record's ``modality`` may be.
MODALITIES: tuple[str, ...] = ("audio", "video", "audiovisual", "image")

#: Former name of :class:`emofast.errors.MissingFileError` (kept for callers that import it).
MissingPathError = MissingFileError

#: Label spellings of corpora and users, lower case, mapped onto :data:`EMOTIONS`.
LABEL_SYNONYMS: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "angry": "anger", "ang": "anger", "mad": "anger",
    "bored": "boredom",
    "disgusted": "disgust", "dis": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "fea": "fear",
    "happy": "happiness", "hap": "happiness", "joy": "happiness",
    "neu": "neutral",
    "sad": "sadness",
    "surprised": "surprise", "sur": "surprise",
    "contemptuous": "contempt",
}

_SPLIT_SYNONYMS: dict[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val", "publictest": "val",
    "test": "test", "testing": "test", "privatetest": "test",
}


def canonical_label(name: str) -> str | None:
    """The :data:`EMOTIONS` entry a label spelling means, or None when unknown.

    Parameters
    ----------
    name : str
        A label as a corpus folder or a user writes it (case and surrounding blanks ignored).

    Returns
    -------
    str or None

    Examples
    --------
    >>> canonical_label("Angry"), canonical_label(" surprised "), canonical_label("awe")
    ('anger', 'surprise', None)
    """
    return LABEL_SYNONYMS.get(name.strip().lower())


def canonical_split(name: str) -> str | None:
    """The :data:`SPLITS` entry a split spelling means (FER2013's ``Training``, ``PublicTest``,
    ``PrivateTest`` included), or None when unknown.

    Examples
    --------
    >>> canonical_split("PublicTest"), canonical_split("validation"), canonical_split("holdout")
    ('val', 'val', None)
    """
    return _SPLIT_SYNONYMS.get(name.strip().lower())


def describe_speakers(speakers: Iterable[str]) -> str:
    """``"N speakers"``, or ``"speakers unknown"`` when every one is :data:`UNKNOWN_SPEAKER`.

    Examples
    --------
    >>> describe_speakers(["a", "b", "a"]), describe_speakers([UNKNOWN_SPEAKER] * 3)
    ('2 speakers', 'speakers unknown')
    """
    names = set(speakers)
    return "speakers unknown" if names == {UNKNOWN_SPEAKER} else f"{len(names)} speakers"


@dataclass(frozen=True)
class Utterance:
    """One recorded utterance (or face image).

    Attributes
    ----------
    id : str
        Identifier unique within the corpus and modality (usually the file stem). The audio and
        audiovisual files of one recording share the id where the corpus names them alike.
    corpus : str
        Corpus name (``"emodb"``, ``"savee"``, ..., or the demo corpus' own name).
    speaker : str
        Speaker/actor/subject identifier as the corpus spells it (e.g. ``"03"``, ``"DC"``,
        ``"S010"``); :data:`UNKNOWN_SPEAKER` where the corpus has none.
    label : str
        Emotion in :data:`EMOTIONS`.
    path : Path
        Media file.
    modality : str
        ``"audio"``, ``"video"`` (no sound), ``"audiovisual"`` or ``"image"``.
    gender : str or None
        ``"female"``/``"male"`` where the corpus documents it, else ``None``.
    split : str or None
        The corpus's official split (one of :data:`SPLITS`), else ``None``.
    """

    id: str
    corpus: str
    speaker: str
    label: str
    path: Path
    modality: str
    gender: str | None = None
    split: str | None = None


@dataclass
class CorpusIndex:
    """Result of :func:`emofast.corpora.load_corpus`.

    Attributes
    ----------
    name : str
        Loader name (``"emodb"``, ..., ``"demo"``, ``"manifest"``).
    root : Path
        Corpus folder (the CSV file for a manifest).
    utterances : list of Utterance
        Parsed records, sorted by path (manifest: in row order).
    skipped : list of (Path, str)
        Media files that did not parse, with the reason.

    An index is a sequence-like view of its utterances: ``len(index)`` counts them and
    ``for u in index`` iterates them in :attr:`utterances` order, so an index can be passed
    wherever utterances are expected (``select_labels(index)``,
    ``FeatureStore.extract(name, index, "audio")``).

    Examples
    --------
    >>> idx = CorpusIndex("emodb", Path("."), [Utterance("03a01Fa", "emodb", "03", "happiness",
    ...                                                  Path("03a01Fa.wav"), "audio")])
    >>> len(idx), [u.id for u in idx]
    (1, ['03a01Fa'])
    """

    name: str
    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of utterances."""
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        """The utterances, in :attr:`utterances` order."""
        return iter(self.utterances)

    def speakers(self) -> list[str]:
        """Sorted distinct speakers."""
        return sorted({u.speaker for u in self.utterances})

    def label_counts(self) -> dict[str, int]:
        """Utterances per label, in :data:`EMOTIONS` order."""
        counts = Counter(u.label for u in self.utterances)
        return {e: counts[e] for e in EMOTIONS if counts[e]}

    def split_counts(self) -> dict[str, int]:
        """Utterances per official split, in :data:`SPLITS` order (empty without splits)."""
        counts = Counter(u.split for u in self.utterances if u.split is not None)
        return {s: counts[s] for s in SPLITS if counts[s]}

    def summary(self) -> str:
        """One-line human-readable description."""
        labels = ", ".join(f"{k} {v}" for k, v in self.label_counts().items())
        who = describe_speakers(u.speaker for u in self.utterances)
        splits = ", ".join(f"{k} {v}" for k, v in self.split_counts().items())
        return (f"{self.name}: {len(self.utterances)} utterances, {who} ({labels})"
                + (f"; official split {splits}" if splits else "")
                + f"; {len(self.skipped)} files skipped")


def select_labels(utterances: Iterable[Utterance], labels: Sequence[str] | str = PAPER_SIX
                  ) -> list[Utterance]:
    """Keep the utterances whose label is in ``labels``.

    Parameters
    ----------
    utterances : iterable of Utterance
    labels : sequence of str or ``"paper_six"``
        Emotions from :data:`EMOTIONS`; default :data:`PAPER_SIX`.

    Returns
    -------
    list of Utterance
        In input order.

    Raises
    ------
    emofast.errors.InputError
        A label is not in :data:`EMOTIONS`, or ``labels`` is empty (a ``ValueError``).
    """
    if isinstance(labels, str):
        if labels.lower() in ("paper_six", "paper-six", "six"):
            labels = PAPER_SIX
        else:
            labels = (labels,)
    wanted = set(labels)
    if not wanted:
        raise InputError("select_labels: empty label set")
    unknown = sorted(wanted - set(EMOTIONS))
    if unknown:
        raise InputError(f"unknown emotion label(s) {unknown}; the vocabulary is {list(EMOTIONS)}")
    return [u for u in utterances if u.label in wanted]


def select_modality(utterances: Iterable[Utterance], modality: str) -> list[Utterance]:
    """Utterances usable for one feature modality, one record per utterance id.

    ``"audio"`` takes audio and audiovisual files, ``"video"`` takes video and audiovisual files,
    ``"image"`` takes still images. When one id exists as several files, the single-modality file
    wins (a ``.wav`` over the ``.mp4`` of the same recording for audio), so every id appears once.

    Parameters
    ----------
    utterances : iterable of Utterance
    modality : {"audio", "video", "image"}

    Returns
    -------
    list of Utterance
        In order of first appearance of each id.
    """
    if modality not in ("audio", "video", "image"):
        raise InputError(f"modality must be 'audio', 'video' or 'image', got {modality!r}")
    chosen: dict[tuple[str, str], Utterance] = {}
    for u in utterances:
        if u.modality != modality and (u.modality != "audiovisual" or modality == "image"):
            continue
        key = (u.corpus, u.id)
        prev = chosen.get(key)
        if prev is None or (prev.modality == "audiovisual" and u.modality == modality):
            chosen[key] = u
    return list(chosen.values())
