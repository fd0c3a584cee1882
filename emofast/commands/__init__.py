"""Sub-commands of the ``emofast`` command line, one module per command.

Each module exposes ``register(subparsers) -> None`` and ``run(args) -> int`` (see
:mod:`emofast.cli`). This package also holds what several commands share: turning a feature set
into labelled segment arrays (:class:`SegmentData`), the baseline model presets, label parsing and
thread settings.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SegmentData",
    "RowView",
    "segment_data",
    "parse_labels",
    "add_training_args",
    "BASELINE_WIDTHS",
    "make_baseline",
    "set_threads",
]

#: Baseline GroupNorm CNN presets: name -> (conv channels, hidden fully-connected widths).
#: ``paper`` is the joint cross-domain paper's network; ``tiny`` is what the demo trains on 2 cores.
BASELINE_WIDTHS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((8, 16, 32, 32), (64, 32)),
    "small": ((16, 32, 64, 64), (128, 32)),
    "paper": ((64, 128, 256, 512), (512, 128, 32)),
}


class RowView:
    """Read-only view of selected rows of a (memory-mapped) array, indexed like an array.

    ``view[idx]`` returns ``base[rows[idx]]``; nothing is copied until indexed. With
    ``channels_last`` (face crops stored ``(n, H, W, C)`` uint8) rows come out as
    ``(n, C, H, W)`` float32 in [0, 1], the layout the CNN takes.
    """

    def __init__(self, base: np.ndarray, rows: np.ndarray, *, channels_last: bool = False) -> None:
        self.base = base
        self.rows = np.asarray(rows, dtype=np.int64)
        self.channels_last = channels_last
        inner = base.shape[1:]
        if channels_last:
            inner = (inner[-1], *inner[:-1])
        self.shape = (self.rows.size, *inner)

    def __len__(self) -> int:
        return self.rows.size

    def __getitem__(self, idx: Any) -> np.ndarray:
        out = self.base[self.rows[idx]]
        if self.channels_last:
            out = np.moveaxis(out, -1, 1).astype(np.float32) / 255.0
        return out


@dataclass
class SegmentData:
    """Labelled segments of one corpus, restricted to a label set.

    Attributes
    ----------
    X : RowView
        Segment features, shape ``(n_segments, 3, 64, 64)``.
    segment_labels : numpy.ndarray of int64
        Class index of every segment.
    groups : numpy.ndarray of int64
        Utterance index (into the attributes below) of every segment.
    labels : numpy.ndarray of int64
        Class index of every utterance.
    speakers : numpy.ndarray of str
        Speaker of every utterance.
    ids : list of str
        Utterance ids.
    classes : list of str
        Emotion names in class-index order.
    """

    X: RowView
    segment_labels: np.ndarray
    groups: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    ids: list[str]
    classes: list[str]

    @property
    def n_utterances(self) -> int:
        return int(self.labels.size)

    def summary(self) -> str:
        """One line: utterances, segments, speakers and class counts."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        per = ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts))
        return (f"{self.n_utterances} utterances, {len(self.X)} segments, "
                f"{np.unique(self.speakers).size} speakers ({per})")


def _field(record: Any, name: str) -> Any:
    if isinstance(record, dict):
        return record[name]
    try:
        return getattr(record, name)
    except AttributeError:
        return record[name]


def segment_data(feature_set: Any, classes: Sequence[str] | None = None) -> SegmentData:
    """Labelled segment arrays from a feature set, keeping utterances whose label is in ``classes``.

    Parameters
    ----------
    feature_set : emofast.store.FeatureSet
        Needs ``.features`` (``(n_segments, ...)`` array) and ``.utterances`` (records with ``id``,
        ``start``, ``stop``, ``label``, ``speaker``; segments ``start:stop`` belong to the record).
    classes : sequence of str, optional
        Emotions to keep, in class-index order; default: the labels present, sorted.

    Returns
    -------
    SegmentData

    Raises
    ------
    ValueError
        No utterance (or no segment) with a wanted label, or a single class left.
    """
    records = list(feature_set.utterances)
    present = sorted({str(_field(r, "label")) for r in records})
    classes = list(classes) if classes is not None else present
    lookup = {c: i for i, c in enumerate(classes)}
    rows, seg_labels, groups, labels, speakers, ids = [], [], [], [], [], []
    for r in records:
        label = str(_field(r, "label"))
        start, stop = int(_field(r, "start")), int(_field(r, "stop"))
        if label not in lookup or stop <= start:
            continue
        u = len(labels)
        rows.append(np.arange(start, stop))
        seg_labels.append(np.full(stop - start, lookup[label]))
        groups.append(np.full(stop - start, u))
        labels.append(lookup[label])
        speakers.append(str(_field(r, "speaker")))
        ids.append(str(_field(r, "id")))
    if not labels:
        raise ValueError(f"no utterances with labels {classes} in the feature set "
                         f"(it holds {present})")
    kept = sorted(set(labels))
    if len(kept) < 2:
        raise ValueError(f"only one emotion ({classes[kept[0]]}) left after label selection; "
                         "need at least two classes")
    features = feature_set.features
    if features.ndim != 4:
        raise ValueError(f"expected 4-D segment features, got shape {features.shape}")
    channels_last = features.shape[-1] in (1, 3) and features.shape[1] not in (1, 3)
    view = RowView(features, np.concatenate(rows), channels_last=channels_last)
    if view.shape[2] != view.shape[3] or view.shape[1] != 3:
        raise ValueError(f"segments of shape {view.shape[1:]} were extracted with other settings "
                         "than the baseline takes (3 × N × N: log-Mel, Δ, ΔΔ or RGB)")
    return SegmentData(
        X=view,
        segment_labels=np.concatenate(seg_labels).astype(np.int64),
        groups=np.concatenate(groups).astype(np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        speakers=np.asarray(speakers),
        ids=ids,
        classes=classes,
    )


def parse_labels(value: str) -> tuple[str, ...] | None:
    """``--labels`` value: ``paper-six`` (default), ``all`` (None), or a comma-separated list."""
    from emofast.corpora import EMOTIONS, PAPER_SIX

    v = value.strip().lower()
    if v in ("paper-six", "paper_six", "six"):
        return tuple(PAPER_SIX)
    if v == "all":
        return None
    labels = tuple(x.strip() for x in v.split(",") if x.strip())
    unknown = [x for x in labels if x not in EMOTIONS]
    if unknown or not labels:
        raise argparse.ArgumentTypeError(
            f"unknown emotion(s) {unknown}; use paper-six, all, or names from {list(EMOTIONS)}")
    return labels


def add_training_args(p: argparse.ArgumentParser, *, epochs: int | str, folds: int | str,
                      lr: float | str = 1e-3) -> None:
    """Options of the baseline classifier and its protocol, shared by ``evaluate`` and ``demo``.

    ``epochs``/``folds`` are the defaults; a string instead documents a default that the command
    resolves itself (the option then defaults to None).
    """
    def default(value: float | str) -> tuple[float | None, str]:
        return (None, f"[{value}]") if isinstance(value, str) else (value, "[%(default)s]")

    epochs_default, epochs_note = default(epochs)
    folds_default, folds_note = default(folds)
    lr_default, lr_note = default(lr)
    g = p.add_argument_group("baseline classifier (GroupNorm CNN)")
    g.add_argument("--width", choices=sorted(BASELINE_WIDTHS), default="tiny",
                   help="network preset: tiny (demo), small, paper (64-128-256-512 filters) "
                        "[%(default)s]")
    g.add_argument("--epochs", type=int, default=epochs_default,
                   help=f"training epochs {epochs_note}")
    g.add_argument("--batch-size", type=int, default=16, help="mini-batch size [%(default)s]")
    g.add_argument("--lr", type=float, default=lr_default, help=f"Adam learning rate {lr_note}")
    g.add_argument("--dropout", type=float, default=0.2,
                   help="dropout after each conv block (paper: 0.5) [%(default)s]")
    g.add_argument("--folds", type=int, default=folds_default, help=f"k of k-fold {folds_note}")
    g.add_argument("--repeats", type=int, default=1, help="repeat k-fold with new shuffles "
                                                          "(papers: 5) [%(default)s]")
    g.add_argument("--seed", type=int, default=0, help="random seed [%(default)s]")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest on a shared 2-core machine [%(default)s]")


def make_baseline(n_classes: int, width: str = "tiny", dropout: float = 0.2):
    """A fresh :class:`emofast.nn.cnn.GroupNormCNN` of a preset width."""
    from emofast.nn.cnn import GroupNormCNN

    channels, hidden = BASELINE_WIDTHS[width]
    return GroupNormCNN(n_classes, channels=channels, hidden=hidden, groups=8, dropout=dropout)


def set_threads(n: int | None) -> None:
    """Cap torch's intra-op threads (``None``/0: leave torch's default)."""
    import torch

    if n:
        if n < 0:
            raise ValueError(f"--threads must be >= 0, got {n}")
        torch.set_num_threads(min(n, os.cpu_count() or n))
