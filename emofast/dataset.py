"""The one adapter from stored features to arrays.

Every command and experiment reads features through this module, from a feature store
(:func:`from_feature_set`, :func:`load` with ``store=``), a ``.npz`` archive (:func:`from_archive`)
or arrays in memory (:func:`from_arrays`), and gets a :class:`SegmentData`:

- classes numbered contiguously over the labels present (:func:`encode_labels`), their names
  recorded beside the codes, and what a label selection dropped (never silently);
- the face layout converted (crops stored ``(n, H, W, C)`` uint8 come out ``(n, C, H, W)`` float32
  in [0, 1]);
- reads that stay lazy until rows are indexed (:class:`RowView` over the store's memory map).

:class:`Standardizer` is the one input standardisation (training statistics only, per channel for
the CNN or per feature for PathNet).

Examples
--------
>>> import numpy as np
>>> X = np.zeros((5, 3, 8, 8), np.float32)
>>> data = from_arrays(X, groups=[0, 0, 1, 2, 2], labels=["sadness", "anger", "sadness"],
...                    speakers=["s1", "s1", "s2"])
>>> data.classes, data.labels.tolist(), data.segment_labels.tolist()
(['anger', 'sadness'], [1, 0, 1], [1, 1, 0, 1, 1])
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofast.errors import InputError, MissingFileError

__all__ = [
    "encode_labels",
    "RowView",
    "SegmentData",
    "from_feature_set",
    "from_arrays",
    "from_archive",
    "select_classes",
    "open_feature_set",
    "stored_modality",
    "load",
    "Standardizer",
    "NORMALIZATIONS",
    "normalize",
]


def encode_labels(names: Sequence[str], classes: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """Class index of every label name, with classes numbered contiguously.

    Parameters
    ----------
    names : sequence of str
        One emotion name per item (utterance or segment).
    classes : sequence of str, optional
        Class names in index order. Default: the names present, sorted, so indices are
        ``0 .. n_present - 1`` whatever vocabulary the corpus uses.

    Returns
    -------
    codes : numpy.ndarray of int64, shape (len(names),)
    classes : list of str
        The class names, ``classes[codes[i]] == names[i]``.

    Raises
    ------
    InputError
        A name is not among ``classes``.

    Examples
    --------
    >>> codes, classes = encode_labels(["sadness", "anger", "sadness"])
    >>> codes.tolist(), classes
    ([1, 0, 1], ['anger', 'sadness'])
    """
    names = [str(n) for n in names]
    classes = sorted(set(names)) if classes is None else [str(c) for c in classes]
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(names) - set(lookup))
    if unknown:
        raise InputError(f"label(s) {unknown} are not among the classes {classes}")
    return np.fromiter((lookup[n] for n in names), dtype=np.int64, count=len(names)), classes


class RowView:
    """Read-only view of selected rows of a (memory-mapped) array, indexed like an array.

    ``view[idx]`` returns ``base[rows[idx]]``; nothing is read until indexed. With
    ``channels_last`` (face crops stored ``(n, H, W, C)`` uint8) rows come out as
    ``(n, C, H, W)`` float32 in [0, 1], the layout the CNN takes.
    """

    def __init__(self, base: np.ndarray, rows: np.ndarray, *, channels_last: bool = False) -> None:
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)
        self.channels_last = channels_last
        inner = tuple(base.shape[1:])
        if channels_last:
            inner = (inner[-1], *inner[:-1])
        self.shape = (self.rows.size, *inner)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.rows.size

    def __getitem__(self, idx: Any) -> np.ndarray:
        out = self.base[self.rows[idx]]
        if self.channels_last:
            out = np.moveaxis(out, -1, 1).astype(np.float32) / 255.0
        return out


@dataclass
class SegmentData:
    """Labelled segments of one corpus.

    Attributes
    ----------
    X : RowView or numpy.ndarray
        Segment features, shape ``(n_segments, C, H, W)`` (log-Mel, Δ, ΔΔ or RGB), or
        ``(n_utterances, F)`` feature vectors (one row per utterance, e.g. openSMILE functionals).
    segment_labels : numpy.ndarray of int64
        Class index of every segment.
    groups : numpy.ndarray of int64
        Utterance index (into the per-utterance attributes) of every segment.
    labels : numpy.ndarray of int64
        Class index of every utterance.
    speakers : numpy.ndarray of str
        Speaker of every utterance.
    ids : list of str
        Utterance ids.
    classes : list of str
        Class names in index order.
    corpus : str
        Name of the corpus (for reports).
    dropped : dict of str to int
        Utterances left out by the label selection, per label.
    normalization : str or None
        ``"speaker"`` or ``"corpus"`` after :func:`normalize` (transductive), else None.
    splits : numpy.ndarray of str or None
        The corpus's official split of every utterance (``"train"``, ``"val"``, ``"test"``, or
        ``""`` where it gives none); None when the corpus has no split (the ``split`` protocol).
    """

    X: Any
    segment_labels: np.ndarray
    groups: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    ids: list[str]
    classes: list[str]
    corpus: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    normalization: str | None = None
    splits: np.ndarray | None = None

    @property
    def n_utterances(self) -> int:
        return int(self.labels.size)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def arrays(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Segments ``rows`` (default: all) read into a float32 array."""
        rows = np.arange(len(self.X)) if rows is None else np.asarray(rows, dtype=np.int64)
        return np.asarray(self.X[rows], dtype=np.float32)

    def summary(self) -> str:
        """One line: utterances, segments, speakers, class counts and what was dropped."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        per = ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts))
        from emofast.corpora.records import describe_speakers

        text = (f"{self.n_utterances} utterances, {len(self.X)} segments, "
                f"{describe_speakers(self.speakers.tolist())} ({per})")
        if self.dropped:
            gone = ", ".join(f"{c} {n}" for c, n in sorted(self.dropped.items()))
            text += f"; left out by --labels: {sum(self.dropped.values())} ({gone})"
        return text


def _build(X: Any, rows: list[np.ndarray], names: Sequence[str], speakers: Sequence[Any],
           ids: Sequence[str], classes: Sequence[str] | None, corpus: str,
           channels_last: bool = False, splits: Sequence[str | None] | None = None) -> SegmentData:
    """SegmentData of the utterances with segments and a wanted label (the one selection rule)."""
    present = sorted({str(n) for n in names})
    wanted = present if classes is None else [str(c) for c in classes]
    keep = [u for u, (n, r) in enumerate(zip(names, rows)) if str(n) in wanted and r.size]
    dropped: dict[str, int] = {}
    for u, n in enumerate(names):
        if str(n) not in wanted:
            dropped[str(n)] = dropped.get(str(n), 0) + 1
    where = f" in {corpus}" if corpus else ""
    if not keep:
        raise InputError(f"no utterances with labels {wanted}{where} (it holds {present})")
    codes, wanted = encode_labels([names[u] for u in keep], wanted)
    if np.unique(codes).size < 2:
        raise InputError(f"only one emotion ({wanted[codes[0]]}) left{where} after label "
                         "selection; need at least two classes")
    sizes = np.array([rows[u].size for u in keep])
    view = RowView(X, np.concatenate([rows[u] for u in keep]), channels_last=channels_last)
    if (view.ndim != 2
            and (view.ndim != 4 or view.shape[1] != 3 or view.shape[2] != view.shape[3])):
        raise InputError(f"segments{where} have shape {view.shape[1:]}; expected 3 × N × N "
                         "(log-Mel, Δ, ΔΔ or RGB) or a feature vector")
    groups = np.repeat(np.arange(len(keep), dtype=np.int64), sizes)
    kept_splits = None
    if splits is not None and any(splits[u] for u in keep):
        kept_splits = np.asarray([str(splits[u] or "") for u in keep])
    return SegmentData(X=view, segment_labels=codes[groups], groups=groups, labels=codes,
                       speakers=np.asarray([str(speakers[u]) for u in keep]),
                       ids=[str(ids[u]) for u in keep], classes=list(wanted), corpus=corpus,
                       dropped=dropped, splits=kept_splits)


def _field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def from_feature_set(feature_set: Any, classes: Sequence[str] | None = None) -> SegmentData:
    """Labelled segments of a stored feature set.

    Parameters
    ----------
    feature_set : emofast.store.FeatureSet
        Needs ``.features`` (``(n_segments, ...)`` array) and ``.utterances`` (records with ``id``,
        ``start``, ``stop``, ``label``, ``speaker`` and optionally ``split``; rows ``start:stop``
        belong to the record).
    classes : sequence of str, optional
        Emotions to keep, in class-index order; default: every label present, sorted.

    Returns
    -------
    SegmentData
        Face crops stored channels-last (``(n, H, W, 3)`` uint8, video crops and images) come out
        ``(n, 3, H, W)`` float32 in [0, 1]; the records' official splits in
        :attr:`SegmentData.splits`.

    Raises
    ------
    InputError
        No utterance with a wanted label, a single class left, or segments not ``3 × N × N``.
    """
    records = list(feature_set.utterances)
    features = feature_set.features
    if features.ndim not in (2, 4):
        raise InputError(f"expected 4-D segments or 2-D feature vectors, got shape {features.shape}")
    channels_last = (features.ndim == 4 and features.shape[-1] in (1, 3)
                     and features.shape[1] not in (1, 3))
    rows = [np.arange(int(_field(r, "start")), int(_field(r, "stop"))) for r in records]
    splits = [r.get("split") if isinstance(r, dict) else getattr(r, "split", None) for r in records]
    return _build(features, rows, [_field(r, "label") for r in records],
                  [_field(r, "speaker") for r in records], [_field(r, "id") for r in records],
                  classes, str(getattr(feature_set, "corpus", "")), channels_last, splits)


def from_arrays(X: Any, groups: Sequence[int], labels: Sequence[str], speakers: Sequence[Any],
                classes: Sequence[str] | None = None, *, ids: Sequence[str] | None = None,
                corpus: str = "", splits: Sequence[str | None] | None = None) -> SegmentData:
    """Labelled segments from arrays.

    Parameters
    ----------
    X : array of shape (n_segments, 3, N, N)
    groups : array of int, shape (n_segments,)
        Utterance index of every segment, in ``[0, len(labels))``.
    labels : sequence of str, length n_utterances
        Emotion name of every utterance.
    speakers : sequence, length n_utterances
    classes : sequence of str, optional
        Emotions to keep, in class-index order (default: all present, sorted).
    ids : sequence of str, optional
        Utterance ids (default ``"0", "1", ...``).
    corpus : str
    splits : sequence of str, optional
        Official split of every utterance (``"train"``, ``"val"``, ``"test"``; ``""``/None: none).

    Returns
    -------
    SegmentData
    """
    groups = np.asarray(groups)
    n_utt = len(labels)
    if groups.shape != (len(X),):
        raise InputError(f"groups must have one entry per segment ({len(X)}), got shape "
                         f"{groups.shape}")
    if len(speakers) != n_utt:
        raise InputError(f"{n_utt} labels but {len(speakers)} speakers: need one per utterance")
    if groups.size and (not np.issubdtype(groups.dtype, np.integer) or groups.min() < 0
                        or groups.max() >= n_utt):
        raise InputError(f"groups must be utterance indices in [0, {n_utt})")
    order = np.argsort(groups, kind="stable")
    rows = np.split(order, np.searchsorted(groups[order], np.arange(1, n_utt)))
    if splits is not None and len(splits) != n_utt:
        raise InputError(f"{n_utt} labels but {len(splits)} splits: need one per utterance")
    ids = [str(i) for i in range(n_utt)] if ids is None else list(ids)
    return _build(X, rows, list(labels), list(speakers), ids, classes, corpus,
                  splits=None if splits is None else list(splits))


def select_classes(data: SegmentData, classes: Sequence[str]) -> SegmentData:
    """``data`` with only the utterances of ``classes``, renumbered in that order.

    The left-out utterances are added to :attr:`SegmentData.dropped`; the normalisation mark is
    kept. Used to put two corpora on one label vocabulary (joint learning: the classes both hold).

    Raises
    ------
    InputError
        Fewer than two of ``classes`` left with utterances.

    Examples
    --------
    >>> import numpy as np
    >>> d = from_arrays(np.zeros((3, 4), np.float32), [0, 1, 2], ["fear", "anger", "joy"],
    ...                 ["s1", "s1", "s2"])
    >>> s = select_classes(d, ["fear", "anger"])
    >>> s.classes, s.labels.tolist(), s.dropped
    (['fear', 'anger'], [0, 1], {'joy': 1})
    """
    import dataclasses

    classes = [str(c) for c in classes]
    if list(data.classes) == classes:
        return data
    out = from_arrays(data.X, data.groups, [data.classes[i] for i in data.labels], data.speakers,
                      classes, ids=data.ids, corpus=data.corpus)
    dropped = dict(data.dropped)
    for name, n in out.dropped.items():
        dropped[name] = dropped.get(name, 0) + n
    return dataclasses.replace(out, dropped=dropped, normalization=data.normalization)


def from_archive(path: str | os.PathLike, classes: Sequence[str] | None = None) -> SegmentData:
    """Labelled segments from a ``.npz`` archive.

    The archive holds ``X`` (n_segments, 3, N, N), ``groups`` (utterance index of every segment),
    ``labels`` (emotion name of every utterance) and ``speakers`` (speaker of every utterance);
    ``ids`` and ``splits`` (official split of every utterance) are optional.

    Raises
    ------
    MissingFileError
        No such file.
    InputError
        An array is missing or the arrays disagree.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such feature archive: {path}")
    with np.load(path, allow_pickle=False) as z:
        missing = {"X", "groups", "labels", "speakers"} - set(z.files)
        if missing:
            raise InputError(f"{path} lacks {sorted(missing)} (needs X, groups, labels, speakers)")
        ids = [str(i) for i in z["ids"]] if "ids" in z.files else None
        splits = [str(s) for s in z["splits"]] if "splits" in z.files else None
        try:
            return from_arrays(z["X"], z["groups"], [str(s) for s in z["labels"]],
                               [str(s) for s in z["speakers"]], classes, ids=ids,
                               corpus=path.stem, splits=splits)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


def stored_modality(store: str | os.PathLike, corpus: str | None) -> str:
    """The modality of ``corpus``'s complete feature sets in ``store`` when it has one only
    (an image corpus: ``"image"``), else ``"audio"``."""
    from emofast.store import FeatureStore

    found = {s["modality"] for s in FeatureStore(store).available()
             if s["complete"] and (corpus is None or s["corpus"] == corpus)}
    return found.pop() if len(found) == 1 else "audio"


def open_feature_set(store: str | os.PathLike, corpus: str | None, modality: str | None = "audio",
                     *, default_settings: bool = False, functionals: str | None = None):
    """Open a complete feature set of a store.

    Parameters
    ----------
    store : str or path
    corpus : str or None
        None: the store's only corpus.
    modality : {"audio", "video", "image"} or None
        None: the one modality stored for ``corpus`` (:func:`stored_modality`).
    default_settings : bool, default False
        Audio: require the settings ``emofast features`` uses (the default
        :class:`emofast.audio.LogMelConfig`) and refuse a set extracted with others; False: the
        one set stored for ``corpus``/``modality``, whatever its settings.
    functionals : {"compare", "egemaps"}, optional
        Open the openSMILE functionals stored by ``emofast features --functionals`` instead.

    Raises
    ------
    MissingFileError
        The store folder does not exist.
    """
    from emofast.store import FeatureStore

    root = Path(store)
    if not root.is_dir():
        raise MissingFileError(f"feature store {str(root)!r} does not exist; create it with "
                               "`emofast features <corpus> <root> --out STORE`")
    if modality is None:
        modality = stored_modality(root, corpus)
    if functionals is not None:
        from emofast.audio.functionals import FunctionalsExtractor

        if modality != "audio":
            raise InputError(f"functionals are audio features, not {modality}")
        return FeatureStore(root).open(corpus, FunctionalsExtractor(functionals))
    config = None
    if modality == "audio" and default_settings:
        from emofast.audio import LogMelConfig

        config = LogMelConfig()
    return FeatureStore(root).open(corpus, modality, config=config)


def load(source: str | os.PathLike, *, store: str | os.PathLike | None = None,
         modality: str | None = "audio", classes: Sequence[str] | None = None) -> SegmentData:
    """Labelled segments from an archive path or a corpus of a store.

    Parameters
    ----------
    source : str or path
        A ``.npz`` archive, or a corpus name inside ``store``.
    store : str or path, optional
        Feature store folder (from ``emofast features``); needed for corpus names.
    modality : {"audio", "video", "image"} or None
        None: the one modality stored for the corpus.
    classes : sequence of str, optional
        Emotions to keep (default: all present).
    """
    text = os.fspath(source)
    if text.endswith(".npz") or os.path.isfile(text):
        return from_archive(text, classes)
    if store is None:
        raise InputError(f"{text!r} is not a .npz archive; give a feature store (--store) to read "
                         "it as a corpus of that store")
    return from_feature_set(open_feature_set(store, text, modality), classes)


@dataclass
class Standardizer:
    """Input standardisation with statistics of training data only.

    Attributes
    ----------
    mean, std : numpy.ndarray of float32
        Broadcastable to a batch: ``(1, C, 1, 1)`` per channel, ``(1, *shape)`` per feature.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: Any, *, per: str = "channel", rows: np.ndarray | None = None,
            chunk: int = 1024, eps: float = 1e-6) -> "Standardizer":
        """Statistics of ``X[rows]`` (default: all rows), read ``chunk`` rows at a time.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        per : {"channel", "band", "feature"}
            ``channel``: one mean/std per axis-1 entry (the CNN's input channels: log-Mel, Δ,
            ΔΔ); ``band``: one per channel and axis-2 entry (Mel band), over segments and frames;
            ``feature``: one per input value (PathNet's flattened inputs, functionals).
        rows : array of int, optional
        chunk : int
        eps : float
            Added to the standard deviation (constant inputs map to 0, not NaN).
        """
        if per not in ("channel", "band", "feature"):
            raise InputError(f"per must be 'channel', 'band' or 'feature', got {per!r}")
        if per == "band" and len(X.shape) != 4:
            raise InputError(f"per='band' needs (n, channels, bands, frames) inputs, got {X.shape}")
        rows = np.arange(len(X)) if rows is None else np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            raise InputError("cannot standardise: no training rows")
        s = ss = None
        n = 0
        for start in range(0, rows.size, chunk):
            xb = np.asarray(X[rows[start:start + chunk]], dtype=np.float64)
            axes = {"feature": (0,), "band": (0, 3)}.get(per, (0, *range(2, xb.ndim)))
            part, part2 = xb.sum(axis=axes), (xb * xb).sum(axis=axes)
            s, ss = (part, part2) if s is None else (s + part, ss + part2)
            n += xb.size // part.size
        mean = s / n
        std = np.sqrt(np.maximum(ss / n - mean ** 2, 0.0)) + eps
        shape = {"feature": (1, *mean.shape), "band": (1, *mean.shape, 1)}.get(
            per, (1, -1, *(1,) * (len(X.shape) - 2)))
        return cls(mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32))

    def __call__(self, X: Any) -> np.ndarray:
        """``(X - mean) / std`` as float32."""
        return ((np.asarray(X, dtype=np.float32) - self.mean) / self.std).astype(np.float32)


#: What :func:`normalize` standardises by.
NORMALIZATIONS: tuple[str, ...] = ("speaker", "corpus")


def normalization_per(ndim: int) -> str:
    """The statistics :func:`normalize` keeps apart by default for inputs of ``ndim`` dimensions:
    ``"band"`` (per channel and Mel band) for 4-D segments, ``"feature"`` otherwise."""
    return "band" if ndim == 4 else "feature"


def normalize(data: SegmentData, by: str = "speaker", *, per: str | None = None) -> SegmentData:
    """Standardise every speaker's (or the whole corpus's) segments by their own statistics.

    The usual practice in speaker-independent emotion recognition: it removes a speaker's (or a
    recording setup's) offset and scale without labels. It is **transductive**: a test speaker is
    normalised with statistics of its own test data, so results are marked as such
    (:attr:`SegmentData.normalization`, ``†`` in reports). Applied before any split, it leaks
    nothing across speakers: each speaker's statistics come from that speaker alone.

    Parameters
    ----------
    data : SegmentData
    by : {"speaker", "corpus"}
    per : {"band", "channel", "feature"}, optional
        Statistics kept apart (see :meth:`Standardizer.fit`); default ``"band"`` (per channel and
        Mel band) for 4-D segments, ``"feature"`` for feature vectors.

    Returns
    -------
    SegmentData
        A copy whose ``X`` is an in-memory float32 array.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> d = normalize(from_arrays(X, [0, 1, 2, 3], ["a", "b", "a", "b"], ["s1", "s1", "s2", "s2"]))
    >>> d.X[:, 0].round(3).tolist(), d.normalization
    ([-1.0, 1.0, -1.0, 1.0], 'speaker')
    """
    import dataclasses

    if by not in NORMALIZATIONS:
        raise InputError(f"normalisation must be one of {NORMALIZATIONS}, got {by!r}")
    X = data.arrays()
    per = per or normalization_per(X.ndim)
    keys = data.speakers[data.groups] if by == "speaker" else np.zeros(len(X), dtype=np.int64)
    out = np.empty_like(X)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        out[rows] = Standardizer.fit(X, per=per, rows=rows)(X[rows])
    return dataclasses.replace(data, X=out, normalization=by)
