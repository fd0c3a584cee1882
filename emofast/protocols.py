"""Evaluation protocols: leakage-free splits over utterances, and segment aggregation.

An utterance is cut into several 64×64×3 segments; the papers train and test on segments. Splitting
segments at random puts segments of one utterance (same speaker, same sentence, same recording) on
both sides of the split, which inflates every number. The protocols here therefore split
**utterances** (or speakers), and :func:`segments_of` expands a set of utterances into the segment
rows they own, so segments of one utterance never straddle train and test. The papers' own
segment-level split is available as :func:`segment_kfold` for comparison; it emits a
:class:`LeakageWarning` and its numbers must be reported as leaky.

Besides k-fold by utterance and leave-one-speaker-out, :func:`speaker_kfold` deals whole speakers
(subjects) into k folds (CK+: never the frames of one subject on both sides), and
:func:`official_split` takes a corpus's own train/validation/test split (FER2013): train on
``train``, select on ``val``, test on ``test``.

Every random choice takes a seed or a :class:`numpy.random.Generator`. All splitters are generators
of ``(train_idx, test_idx)`` pairs of sorted ``int64`` index arrays; :func:`make_splits` returns
them as :class:`Split` pairs, which also carry the validation indices of a protocol that has them.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Union

import numpy as np

from emofast.corpora.records import UNKNOWN_SPEAKER
from emofast.errors import InputError

__all__ = [
    "LeakageWarning",
    "DegenerateProtocolWarning",
    "Seed",
    "Split",
    "stratified_kfold",
    "leave_one_speaker_out",
    "speaker_kfold",
    "official_split",
    "segment_kfold",
    "segments_of",
    "aggregate_segments",
    "AGGREGATIONS",
    "make_splits",
    "PROTOCOLS",
]

Seed = Union[int, np.random.Generator, None]

#: Protocol names understood by :func:`make_splits` (and the CLI's ``--protocol``).
PROTOCOLS = ("kfold", "loso", "segment", "speaker-kfold", "split")


class Split(tuple):
    """One fold: a ``(train_idx, test_idx)`` pair (it unpacks as one) with validation indices.

    Attributes
    ----------
    train, test : numpy.ndarray of int64
        ``split[0]`` and ``split[1]``.
    val : numpy.ndarray of int64
        Indices to select models on (empty unless the protocol defines them: ``split``'s
        ``val`` part). Disjoint from ``train`` and ``test``.
    """

    def __new__(cls, train: np.ndarray, test: np.ndarray, val: np.ndarray | None = None) -> "Split":
        obj = super().__new__(cls, (train, test))
        obj.val = np.zeros(0, dtype=np.int64) if val is None else val
        return obj

    @property
    def train(self) -> np.ndarray:
        return self[0]

    @property
    def test(self) -> np.ndarray:
        return self[1]


class LeakageWarning(UserWarning):
    """A split lets segments of one utterance fall on both sides of train/test."""


class DegenerateProtocolWarning(UserWarning):
    """A protocol whose folds cannot say much: tiny test folds, or classes a fold cannot learn."""


def _warn_degenerate(protocol: str, splits: list[tuple[np.ndarray, np.ndarray]],
                     labels: np.ndarray) -> None:
    """Warn (once) when test folds hold fewer than 2 items or a tested class is absent from the
    fold's training side, so a user sees why the numbers are noisy or capped."""
    problems = []
    tiny = sum(te.size < 2 for _, te in splits)
    if tiny:
        problems.append(f"{tiny} of {len(splits)} test fold(s) hold fewer than 2 items")
    unlearnable = sum(bool(set(labels[te].tolist()) - set(labels[tr].tolist()))
                      for tr, te in splits)
    if unlearnable:
        problems.append(f"{unlearnable} fold(s) test a class their training side lacks")
    if problems:
        warnings.warn(f"protocol {protocol!r} over {labels.size} items is degenerate: "
                      + "; ".join(problems) + " (scores will be noisy or capped)",
                      DegenerateProtocolWarning, stacklevel=3)


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _as_1d(name: str, values: Sequence | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name} is empty: nothing to split")
    return arr


def _stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Assign each item a fold in ``[0, k)`` so every class spreads evenly over the folds."""
    fold = np.empty(labels.size, dtype=np.int64)
    _, inverse = np.unique(labels, return_inverse=True)
    offset = 0
    # Deal each class's shuffled items round-robin, continuing where the previous class stopped,
    # so fold sizes differ by at most one overall as well as per class.
    for c in range(inverse.max() + 1):
        members = np.flatnonzero(inverse == c)
        rng.shuffle(members)
        fold[members] = (offset + np.arange(members.size)) % k
        offset += members.size
    # Randomise which fold number each group of items gets, so fold 0 is not always the largest.
    return rng.permutation(k)[fold]


def _check_kfold(k: int, n_items: int, what: str, repeats: int) -> None:
    """Refuse a k-fold over ``n_items`` ``what`` that cannot be made."""
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise InputError(f"k must be an integer >= 2, got {k!r}")
    if k > n_items:
        raise InputError(f"k={k} folds need at least {k} {what}, got {n_items}")
    if repeats < 1:
        raise InputError(f"repeats must be >= 1, got {repeats}")


def _fold_pairs(fold: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(train_idx, test_idx)`` of every fold ``0 .. k-1`` of a fold-number-per-item array."""
    all_idx = np.arange(fold.size, dtype=np.int64)
    for f in range(k):
        test = fold == f
        yield all_idx[~test], all_idx[test]


def stratified_kfold(
    labels: Sequence | np.ndarray,
    k: int = 5,
    *,
    repeats: int = 1,
    seed: Seed = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold over utterances, optionally repeated with fresh shuffles.

    Parameters
    ----------
    labels : array-like of shape (n_utterances,)
        One label per **utterance** (not per segment).
    k : int, default 5
        Number of folds, ``2 <= k <= n_utterances``. A class with fewer than ``k`` utterances is
        absent from some test folds (allowed; the per-class numbers then rest on fewer folds).
    repeats : int, default 1
        Repeat the whole k-fold with a new shuffle this many times (the papers repeat 5 times);
        yields ``k * repeats`` splits.
    seed : int, numpy.random.Generator or None, default 0
        Source of the shuffles.

    Yields
    ------
    train_idx, test_idx : numpy.ndarray of int64
        Sorted utterance indices; disjoint, and together they cover all utterances.
    """
    y = _as_1d("labels", labels)
    _check_kfold(k, y.size, "utterances", repeats)
    rng = _rng(seed)
    for _ in range(repeats):
        yield from _fold_pairs(_stratified_folds(y, int(k), rng), int(k))


def leave_one_speaker_out(
    speakers: Sequence | np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-speaker-out (subject-independent) splits over utterances.

    Parameters
    ----------
    speakers : array-like of shape (n_utterances,)
        Speaker (subject) id of each utterance. At least two distinct speakers.

    Yields
    ------
    train_idx, test_idx : numpy.ndarray of int64
        One split per speaker, in sorted speaker order: that speaker's utterances are the test set.
    """
    s = _as_1d("speakers", speakers)
    names = np.unique(s)
    if names.size < 2:
        raise InputError(
            f"leave-one-speaker-out needs at least 2 speakers, got {names.size} ({names.tolist()})")
    all_idx = np.arange(s.size, dtype=np.int64)
    for name in names:
        test = s == name
        yield all_idx[~test], all_idx[test]


def _check_known_speakers(protocol: str, s: np.ndarray) -> None:
    if np.any(s == UNKNOWN_SPEAKER):
        n = int(np.sum(s == UNKNOWN_SPEAKER))
        raise InputError(f"protocol {protocol!r} splits by speaker, but {n} of {s.size} utterances "
                         f"have no speaker identity ({UNKNOWN_SPEAKER!r}); use 'split' (the corpus's "
                         "official split) or 'kfold'")


def speaker_kfold(
    speakers: Sequence | np.ndarray,
    k: int = 5,
    *,
    repeats: int = 1,
    seed: Seed = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """k folds of whole speakers (subjects): no speaker is ever on both sides of a split.

    Speakers are dealt, largest first (ties in a seeded random order), each to the fold holding
    the fewest utterances so far, so fold sizes stay even when speakers have different numbers of
    utterances (CK+: 1 to 24 images per subject).

    Parameters
    ----------
    speakers : array-like of shape (n_utterances,)
        Speaker (subject) id of each utterance.
    k : int, default 5
        Number of folds, ``2 <= k <= n_speakers``.
    repeats : int, default 1
        Repeat with a new shuffle; yields ``k * repeats`` splits.
    seed : int, numpy.random.Generator or None, default 0

    Yields
    ------
    train_idx, test_idx : numpy.ndarray of int64
        Sorted utterance indices; the test side holds every utterance of its speakers.

    Examples
    --------
    >>> spk = ["a", "a", "b", "c", "c", "d"]
    >>> folds = list(speaker_kfold(spk, k=2))
    >>> [te.size for _, te in folds], sorted(spk[i] for _, te in folds for i in te) == sorted(spk)
    ([3, 3], True)
    """
    s = _as_1d("speakers", speakers)
    names, inverse, sizes = np.unique(s, return_inverse=True, return_counts=True)
    _check_kfold(k, names.size, "speakers", repeats)
    rng = _rng(seed)
    for _ in range(repeats):
        order = rng.permutation(names.size)
        order = order[np.argsort(-sizes[order], kind="stable")]
        load = np.zeros(k, dtype=np.int64)
        fold_of = np.empty(names.size, dtype=np.int64)
        for sp in order:
            f = int(np.argmin(load))
            fold_of[sp] = f
            load[f] += sizes[sp]
        yield from _fold_pairs(fold_of[inverse], int(k))


def official_split(splits: Sequence | np.ndarray) -> Split:
    """The corpus's own split: train on ``train``, select on ``val``, test on ``test``.

    Parameters
    ----------
    splits : array-like of str, shape (n_utterances,)
        ``"train"``, ``"val"`` or ``"test"`` per utterance (FER2013: Training, PublicTest,
        PrivateTest).

    Returns
    -------
    Split
        One fold; ``val`` is empty when the corpus has no validation part.

    Raises
    ------
    InputError
        An utterance without a split (or with another name), or no train or no test utterance.
    """
    s = _as_1d("splits", splits).astype(str)
    bad = sorted(set(s.tolist()) - {"train", "val", "test"})
    if bad:
        n = int(np.isin(s, bad).sum())
        raise InputError(f"{n} of {s.size} utterances have no official split (found {bad}); "
                         "every utterance needs train, val or test for protocol 'split'")
    train, val, test = (np.flatnonzero(s == name).astype(np.int64) for name in ("train", "val", "test"))
    if train.size == 0 or test.size == 0:
        raise InputError(f"protocol 'split' needs train and test utterances, got {train.size} train, "
                         f"{val.size} val, {test.size} test")
    return Split(train, test, val)


def segment_kfold(
    segment_labels: Sequence | np.ndarray,
    k: int = 5,
    *,
    repeats: int = 1,
    seed: Seed = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The papers' segment-level stratified k-fold. **Leaks**: use only to reproduce their numbers.

    Segments of one utterance land on both sides of the split, so a model is tested on material it
    has, in part, been trained on. Emits a :class:`LeakageWarning` once per call.

    Parameters
    ----------
    segment_labels : array-like of shape (n_segments,)
        One label per **segment**.
    k, repeats, seed
        As in :func:`stratified_kfold`.

    Yields
    ------
    train_idx, test_idx : numpy.ndarray of int64
        Sorted **segment** indices.
    """
    warnings.warn(
        "segment-level split: segments of one utterance fall in both train and test, so the "
        "scores are optimistic (leaky); use 'kfold' (by utterance) or 'loso' for honest numbers",
        LeakageWarning,
        stacklevel=2,
    )
    yield from stratified_kfold(segment_labels, k, repeats=repeats, seed=seed)


def segments_of(utterance_idx: np.ndarray, groups: Sequence | np.ndarray) -> np.ndarray:
    """Segment rows that belong to the given utterances.

    Parameters
    ----------
    utterance_idx : array of int
        Utterance indices (e.g. ``train_idx`` from a protocol).
    groups : array-like of int, shape (n_segments,)
        Utterance index of every segment row.

    Returns
    -------
    numpy.ndarray of int64
        Sorted segment indices whose group is in ``utterance_idx``.
    """
    g = np.asarray(groups)
    return np.flatnonzero(np.isin(g, np.asarray(utterance_idx))).astype(np.int64)


#: Utterance aggregations of :func:`aggregate_segments`.
AGGREGATIONS: tuple[str, ...] = ("mean", "logmean")


def aggregate_segments(
    posteriors: np.ndarray,
    groups: Sequence | np.ndarray,
    n_groups: int | None = None,
    *,
    how: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Utterance posteriors from their segments' posteriors.

    Parameters
    ----------
    posteriors : array of shape (n_segments, n_classes)
        Per-segment class posteriors (e.g. softmax outputs).
    groups : array-like of int, shape (n_segments,)
        Utterance index of every segment (any non-negative integers).
    n_groups : int, optional
        If given, return one row per utterance ``0 .. n_groups-1`` (rows of utterances without any
        segment are NaN); otherwise one row per distinct group, in sorted order.
    how : {"mean", "logmean"}, default "mean"
        ``mean``: the mean of the segment posteriors; ``logmean``: the normalised geometric mean
        (softmax of the mean log-posterior, posteriors floored at 1e-12), which lets confident
        segments veto a class. See :data:`AGGREGATIONS`.

    Returns
    -------
    utterance_posteriors : numpy.ndarray of shape (n_utterances, n_classes), float64
    utterance_ids : numpy.ndarray of int64
        The group id of each returned row.
    """
    p = np.asarray(posteriors, dtype=np.float64)
    g = np.asarray(groups)
    if p.ndim != 2:
        raise InputError(f"posteriors must be 2-D (n_segments, n_classes), got shape {p.shape}")
    if g.shape != (p.shape[0],):
        raise InputError(
            f"groups must have shape ({p.shape[0]},) to match posteriors, got {g.shape}")
    if g.size and (not np.issubdtype(g.dtype, np.integer) or g.min() < 0):
        raise InputError("groups must be non-negative integers (utterance indices)")
    if n_groups is None:
        ids, inverse = np.unique(g, return_inverse=True)
        rows = ids.size
    else:
        if g.size and g.max() >= n_groups:
            raise InputError(f"group id {int(g.max())} is out of range for n_groups={n_groups}")
        ids, inverse, rows = np.arange(n_groups), g, n_groups
    if how not in AGGREGATIONS:
        raise InputError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")
    if how == "logmean":
        p = np.log(np.maximum(p, 1e-12))
    sums = np.zeros((rows, p.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, p)
    counts = np.bincount(inverse, minlength=rows).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts[:, None]
        if how == "logmean":
            out = np.exp(out - out.max(axis=1, keepdims=True))
            out /= out.sum(axis=1, keepdims=True)
    return out, ids.astype(np.int64)


def make_splits(
    protocol: str,
    *,
    labels: np.ndarray,
    speakers: np.ndarray | None = None,
    segment_labels: np.ndarray | None = None,
    splits: np.ndarray | None = None,
    k: int = 5,
    repeats: int = 1,
    seed: Seed = 0,
) -> list[Split]:
    """Materialise the splits of a protocol by name.

    Parameters
    ----------
    protocol : {"kfold", "loso", "segment", "speaker-kfold", "split"}
        ``kfold``: :func:`stratified_kfold` over utterances; ``loso``:
        :func:`leave_one_speaker_out`; ``segment``: :func:`segment_kfold` over segments (leaky);
        ``speaker-kfold``: :func:`speaker_kfold`; ``split``: :func:`official_split`.
    labels : array of shape (n_utterances,)
        Utterance labels (``kfold``).
    speakers : array of shape (n_utterances,), optional
        Required by ``loso`` and ``speaker-kfold``; an unknown speaker
        (:data:`~emofast.corpora.records.UNKNOWN_SPEAKER`) is refused there.
    segment_labels : array of shape (n_segments,), optional
        Required by ``segment``.
    splits : array of str, shape (n_utterances,), optional
        Official split of every utterance; required by ``split``.
    k, repeats, seed
        Passed to the k-fold splitters.

    Returns
    -------
    list of Split
        ``(train_idx, test_idx)`` pairs of utterance indices (segment indices for ``segment``);
        ``split``'s one fold carries its validation indices in :attr:`Split.val`.
    """
    if protocol == "kfold":
        folds = [Split(*f) for f in stratified_kfold(labels, k, repeats=repeats, seed=seed)]
        _warn_degenerate(protocol, folds, np.asarray(labels))
        return folds
    if protocol in ("loso", "speaker-kfold"):
        if speakers is None:
            raise InputError(f"protocol {protocol!r} needs speakers")
        _check_known_speakers(protocol, np.asarray(speakers))
        folds = [Split(*f) for f in (leave_one_speaker_out(speakers) if protocol == "loso" else
                                     speaker_kfold(speakers, k, repeats=repeats, seed=seed))]
        _warn_degenerate(protocol, folds, np.asarray(labels))
        return folds
    if protocol == "split":
        if splits is None:
            raise InputError("protocol 'split' needs the corpus's official split; this corpus has "
                             "none (use kfold, speaker-kfold or loso)")
        folds = [official_split(splits)]
        _warn_degenerate(protocol, folds, np.asarray(labels))
        return folds
    if protocol == "segment":
        if segment_labels is None:
            raise InputError("protocol 'segment' needs segment_labels")
        with warnings.catch_warnings():
            # re-emit with the caller's location rather than this helper's
            warnings.simplefilter("ignore", LeakageWarning)
            folds = [Split(*f) for f in segment_kfold(segment_labels, k, repeats=repeats, seed=seed)]
        warnings.warn(
            "protocol 'segment' is the papers' segment-level split: segments of one utterance "
            "fall in both train and test, so its scores are leaky (optimistic)",
            LeakageWarning,
            stacklevel=2,
        )
        return folds
    raise InputError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
