"""Decision-level fusion of per-modality sequence models on the one fold loop (issue 13).

Huang et al. (multimodal fusion with transfer learning, §4): one LSTM model per modality
(:class:`emofast.nn.SequenceClassifier`), then logistic regression and the confidence ensemble
(with a prior ``d`` from validation micro-F1) fuse their posteriors at decision level
(:mod:`emofast.fusion`). :func:`evaluate_fusion` runs that on
:func:`~emofast.experiments.crossval.cross_validate`:

1. **Sequences.** Each modality gives one sequence of feature vectors per utterance
   (:class:`Sequences`): from a :class:`~emofast.dataset.SegmentData` (log-Mel segments of an
   utterance, or its face crops) every segment/frame is average-pooled to a ``pool × pool`` grid
   per channel (3 × 8 × 8 = 192 values by default) and at most ``max_steps`` frames, evenly
   strided, are kept; with ``FusionConfig(features="cnn")`` instead every kept frame is embedded
   by a GroupNorm CNN trained inside each fold on its fit utterances only
   (:func:`embed_segments`); or a user's own arrays, one ``(T_i, D)`` array per utterance id. Each
   feature is standardised with statistics of the fold's **training** side only (the fold loop
   does it for the primary modality, this module for the others, same rule).
2. **Folds.** The primary modality (the first, audio) decides which utterances take part: the fold
   loop splits *its* utterances (k-fold by utterance or leave-one-speaker-out). Utterances of the
   other modalities are matched by id; one without that modality has a NaN posterior row there
   (the fusion falls back to the modalities present).
3. **Validation** is carved from the fold's **training** side (:func:`carve_validation`): held-out
   training speakers under LOSO (at least one), stratified held-out training utterances under
   k-fold. One sequence model per modality is trained on the rest; validation and test posteriors
   are predicted per modality.
4. **Fusion.** Every entry of :data:`emofast.fusion.FUSION_METHODS` is applied with
   :func:`emofast.fusion.fuse`, which fits logistic regression and tunes ``d`` on the validation
   posteriors only; the test posteriors are only fused. The ``d`` values are kept per fold.
5. **Scores.** Each method (single modalities included) is one
   :class:`~emofast.report.Evaluation` from the fold loop: the callback returns a test
   utterance's fused posterior for each of its segments, which the loop averages back per
   utterance and scores. Models are trained once per fold and shared by all methods.

Examples
--------
>>> from emofast.experiments.fusion import FusionConfig, evaluate_fusion    # doctest: +SKIP
>>> evs = evaluate_fusion({"audio": audio_data, "video": video_data}, "kfold",
...                       FusionConfig(epochs=20))                         # doctest: +SKIP
>>> [(ev.name, round(ev.scores.war, 2)) for ev in evs]                     # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emofast.dataset import SegmentData, Standardizer
from emofast.errors import InputError
from emofast.experiments.crossval import Fold, FoldOutput, cross_validate
from emofast.report.evaluation import Evaluation

__all__ = ["FEATURES", "FusionConfig", "Sequences", "carve_validation", "fusion_methods",
           "embed_segments", "evaluate_fusion"]

#: What feeds the per-modality LSTMs (:attr:`FusionConfig.features`).
FEATURES: tuple[str, ...] = ("pooled", "cnn")


@dataclass(frozen=True)
class FusionConfig:
    """Settings of the per-modality sequence models, their inputs and the validation split.

    Attributes
    ----------
    hidden, lstm : int, default 128
        Units of the hidden layer and of the LSTM (the paper's 128).
    dropout : float, default 0.5
        After the LSTM (the paper's 0.5).
    epochs : int, default 30
    batch_size : int, default 16
    lr : float, default 1e-3
        Adam learning rate (weight decay 1e-4 on the softmax layer only).
    pool : int, default 8
        Each segment / face crop is average-pooled to ``pool × pool`` per channel.
    max_steps : int or None, default 32
        Frames kept per utterance (evenly strided); None keeps all.
    val_fraction : float, default 0.2
        Share of the training side held out for validation (speakers under LOSO, utterances
        under k-fold).
    features : {"pooled", "cnn"}, default "pooled"
        What a :class:`~emofast.dataset.SegmentData` modality feeds its LSTM: ``pooled`` segments
        (:meth:`Sequences.from_segments`), or ``cnn``: per fold, a GroupNorm CNN per modality is
        trained on the fold's fit utterances only (training side minus validation; the baseline's
        :func:`~emofast.experiments.baseline.train_final`) and every kept segment / face frame of
        every utterance is mapped through its :meth:`~emofast.nn.GroupNormCNN.embed`. A modality
        given as :class:`Sequences` is used as it is either way.
    cnn_width : {"tiny", "small", "paper"}, default "tiny"
        With ``features="cnn"``: preset of :data:`~emofast.experiments.baseline.BASELINE_WIDTHS`.
    cnn_epochs : int, default 10
        With ``features="cnn"``: epochs of each fold's CNN.
    """

    hidden: int = 128
    lstm: int = 128
    dropout: float = 0.5
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    pool: int = 8
    max_steps: int | None = 32
    val_fraction: float = 0.2
    features: str = "pooled"
    cnn_width: str = "tiny"
    cnn_epochs: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.pool < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise InputError("epochs, pool and max_steps must be >= 1")
        if self.features not in FEATURES:
            raise InputError(f"features must be one of {FEATURES}, got {self.features!r}")
        if self.cnn_epochs < 1:
            raise InputError(f"cnn_epochs must be >= 1, got {self.cnn_epochs}")
        self.cnn_config()                                   # validates cnn_width

    def cnn_config(self):
        """The :class:`~emofast.experiments.baseline.BaselineConfig` of each fold's CNN."""
        from emofast.experiments.baseline import BaselineConfig

        return BaselineConfig(width=self.cnn_width, epochs=self.cnn_epochs)


@dataclass
class Sequences:
    """One sequence of feature vectors per utterance of one modality.

    Attributes
    ----------
    ids : list of str
        Utterance ids (matched across modalities).
    sequences : list of numpy.ndarray
        ``(T_i, D)`` float32 per utterance, ``T_i >= 1``, one ``D`` for all.
    """

    ids: list[str]
    sequences: list[np.ndarray]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.sequences):
            raise InputError(f"{len(self.ids)} ids but {len(self.sequences)} sequences")
        if len(set(self.ids)) != len(self.ids):
            raise InputError("utterance ids repeat")
        seqs = [np.asarray(s, dtype=np.float32) for s in self.sequences]
        dims = {s.shape[1] if s.ndim == 2 else None for s in seqs}
        if not seqs or None in dims or len(dims) != 1 or min(len(s) for s in seqs) < 1:
            raise InputError("sequences must be non-empty (T_i, D) arrays with one D for all")
        self.ids, self.sequences = [str(i) for i in self.ids], seqs

    @property
    def dim(self) -> int:
        return int(self.sequences[0].shape[1])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "Sequences":
        """From a user's own features: utterance id -> ``(T_i, D)`` array."""
        return cls(list(arrays), list(arrays.values()))

    @classmethod
    def from_segments(cls, data: SegmentData, *, pool: int = 8, max_steps: int | None = 32,
                      chunk: int = 512) -> "Sequences":
        """Pooled segments (log-Mel) or frames (face crops) of every utterance of ``data``, in
        order: ``(n, C, H, W)`` → ``C × pool × pool`` averages, at most ``max_steps`` per utterance
        (evenly strided)."""
        import torch

        def pooled(x: np.ndarray) -> np.ndarray:
            return torch.nn.functional.adaptive_avg_pool2d(
                torch.from_numpy(x), pool).flatten(1).numpy()

        utts = np.arange(data.n_utterances)
        return cls(list(data.ids), _map_frames(data, utts, pooled, max_steps, chunk))


def _map_frames(data: SegmentData, utts: np.ndarray, fn: Callable[[np.ndarray], np.ndarray],
                max_steps: int | None, chunk: int = 512) -> list[np.ndarray]:
    """``fn`` over the kept frames (at most ``max_steps`` per utterance, evenly strided) of the
    utterances ``utts`` of ``data``, ``chunk`` rows at a time: one ``(T_i, D)`` array per
    utterance, in the order of ``utts``."""
    rows = [_strided(np.flatnonzero(data.groups == u), max_steps) for u in utts]
    keep = np.concatenate(rows)
    X = np.concatenate([fn(data.arrays(keep[start:start + chunk]))
                        for start in range(0, keep.size, chunk)])
    return np.split(X, np.cumsum([r.size for r in rows])[:-1])


def _utterance_subset(data: SegmentData, utts: np.ndarray) -> SegmentData:
    """The utterances ``utts`` of ``data`` (every segment, same classes), nothing read yet."""
    from emofast.dataset import RowView, from_arrays

    utts = np.asarray(utts, dtype=np.int64)
    rows = np.flatnonzero(np.isin(data.groups, utts))
    at = np.full(data.n_utterances, -1, dtype=np.int64)
    at[utts] = np.arange(utts.size)
    return from_arrays(RowView(data.X, rows), at[data.groups[rows]],
                       [data.classes[c] for c in data.labels[utts]], data.speakers[utts],
                       data.classes, ids=[data.ids[u] for u in utts], corpus=data.corpus)


def embed_segments(data: SegmentData, fit_utts: np.ndarray, embed_utts: np.ndarray,
                   config: FusionConfig, *, seed: int = 0) -> list[np.ndarray]:
    """Train a GroupNorm CNN on the utterances ``fit_utts`` of ``data`` only (the baseline's
    :func:`~emofast.experiments.baseline.train_final`: inputs standardised per channel with
    statistics of those segments, ``config.cnn_config()``) and map the kept frames of each of
    ``embed_utts`` (at most ``config.max_steps``, evenly strided) through its
    :meth:`~emofast.nn.GroupNormCNN.embed`.

    Returns
    -------
    list of numpy.ndarray
        ``(T_i, embed_dim)`` float32 per utterance of ``embed_utts``, in that order.
    """
    import torch

    from emofast.experiments import baseline

    if tuple(data.X.shape[1:]) != (3, 64, 64):
        raise InputError(f"features='cnn' needs 3 × 64 × 64 segments or face crops (the CNN's "
                         f"input); {data.corpus or 'this modality'} has {data.X.shape[1:]}")
    final = baseline.train_final(_utterance_subset(data, fit_utts), config.cnn_config(),
                                 seed=seed, progress=False, desc="cnn")

    def embedded(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return final.model.embed(torch.from_numpy(final.standardizer(x))).numpy()

    return _map_frames(data, np.asarray(embed_utts), embedded, config.max_steps)


def _strided(rows: np.ndarray, max_steps: int | None) -> np.ndarray:
    if max_steps is None or rows.size <= max_steps:
        return rows
    return rows[np.unique(np.linspace(0, rows.size - 1, max_steps).round().astype(np.int64))]


def carve_validation(labels: np.ndarray, speakers: np.ndarray, by: str, fraction: float,
                     seed: int) -> np.ndarray:
    """Boolean mask of held-out validation items among a fold's **training** utterances.

    Parameters
    ----------
    labels, speakers : arrays of shape (n,)
        Of the training utterances only.
    by : {"speaker", "utterance"}
        ``speaker``: ``round(fraction × speakers)`` whole speakers (at least one, never all);
        falls back to utterances with a single training speaker. ``utterance``: per class
        ``round(fraction × n_c)`` utterances (at least one of a class with two or more).
    fraction : float
    seed : int

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    rng = np.random.default_rng(seed)
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    names = np.unique(speakers)
    if by == "speaker" and names.size >= 2:
        n = min(max(1, int(round(fraction * names.size))), names.size - 1)
        return np.isin(speakers, rng.choice(names, n, replace=False))
    if by not in ("speaker", "utterance"):
        raise InputError(f"by must be 'speaker' or 'utterance', got {by!r}")
    val = np.zeros(labels.size, dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if members.size >= 2:
            n = min(max(1, int(round(fraction * members.size))), members.size - 1)
            val[rng.choice(members, n, replace=False)] = True
    if val.all() or not val.any():
        raise InputError(f"cannot carve a validation split from {labels.size} training utterances")
    return val


def _is_single(method: str) -> bool:
    from emofast import fusion

    return method in getattr(fusion, "MODALITY_NAMES", ()) or method.startswith("modality:")


def fusion_methods(names: Sequence[str]) -> list[tuple[str, str]]:
    """``(method, row label)`` pairs: each modality alone (``modality:<k>``, labelled by its
    name), then every fusion method of :data:`emofast.fusion.FUSION_METHODS`."""
    from emofast import fusion

    out = [(f"modality:{k}", name) for k, name in enumerate(names)]
    return out + [(m, m) for m in fusion.FUSION_METHODS if not _is_single(m)]


def _slug(method: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in method)


def _nan_rows(n: int, c: int) -> np.ndarray:
    return np.full((n, c), np.nan)


def _train_modality(seqs: list[np.ndarray | None], fit: np.ndarray, y: np.ndarray,
                    predict: Sequence[np.ndarray], n_classes: int, config: FusionConfig,
                    seed: int) -> tuple[list[np.ndarray], dict[str, list[float]], int]:
    """Train one sequence model on the utterances ``fit`` (where present; ``y`` holds the label of
    every utterance) and predict each index array of ``predict`` (NaN rows where absent). Returns
    posteriors, curve, number trained on."""
    import torch

    from emofast.nn.sequence import SequenceClassifier, fit_sequences, predict_sequences

    have = np.array([seqs[i] is not None for i in fit], dtype=bool)
    y = y[fit]
    if np.unique(y[have]).size < 2:
        return [_nan_rows(len(p), n_classes) for p in predict], {}, int(have.sum())
    torch.manual_seed(seed)
    model = SequenceClassifier(seqs[fit[have][0]].shape[1], n_classes, hidden=config.hidden,
                               lstm=config.lstm, dropout=config.dropout)
    curve = fit_sequences(model, [seqs[i] for i in fit[have]], y[have], epochs=config.epochs,
                          batch_size=config.batch_size, lr=config.lr, seed=seed)
    outs = []
    for idx in predict:
        post = _nan_rows(len(idx), n_classes)
        present = [j for j, i in enumerate(idx) if seqs[i] is not None]
        if present:
            post[present] = predict_sequences(model, [seqs[idx[j]] for j in present])
        outs.append(post)
    return outs, curve, int(have.sum())


def evaluate_fusion(
    modalities: Mapping[str, SegmentData | Sequences],
    protocol: str,
    config: FusionConfig = FusionConfig(),
    *,
    labels_from: SegmentData | None = None,
    folds: int = 5,
    seed: int = 0,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    on_fold: Callable[[int, int, dict[str, Any]], None] | None = None,
    methods: Sequence[str] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
) -> list[Evaluation]:
    """Cross-validate per-modality sequence models and every decision-level fusion method.

    Parameters
    ----------
    modalities : mapping of name to SegmentData or Sequences
        In fusion order (emofast's: audio first, video second). The **first** is the primary
        modality: its utterances are split and scored.
    protocol : {"kfold", "loso"}
    config : FusionConfig
    labels_from : SegmentData, optional
        Labels, speakers and class names of the utterances when the first modality is given as
        :class:`Sequences` (default: the first modality itself, which must then be SegmentData).
    folds, seed, max_folds, fold_indices, on_fold
        As in :func:`~emofast.experiments.crossval.cross_validate` (``on_fold`` is called for the
        fusion rows only, once per method and fold).
    methods : sequence of str, optional
        Evaluate only these entries of :func:`fusion_methods` (by method or row label, e.g.
        ``["audio", "video", "ensemble+prior"]``); default: all.
    checkpoint_dir : path, optional
        Make the run resumable at fold granularity: each method's finished folds are kept in
        ``<checkpoint_dir>/<method>/`` (the fold loop's checkpoints; the identity adds a
        fingerprint of every modality's sequences) and skipped on a rerun. A fold still to run for
        some method retrains its models, which the fold's seed makes identical.

    Returns
    -------
    list of Evaluation
        One per method of :func:`fusion_methods`, in that order; ``folds[i]`` keeps the fold's
        ``d`` (micro-F1 prior and, where the core has it, the searched one), the validation
        utterance ids, per-modality validation accuracy and ``winner_share`` (share of the test
        utterances that each modality, or ``lr``, decided); ``info`` the settings.
    """
    from emofast import fusion

    if protocol not in ("kfold", "loso"):
        raise InputError(f"fusion runs under kfold or loso (utterance splits), not {protocol!r}")
    names = list(modalities)
    if len(names) < 2:
        raise InputError(f"fusion needs at least two modalities, got {names}")
    meta = labels_from if labels_from is not None else modalities[names[0]]
    if not isinstance(meta, SegmentData):
        raise InputError("give labels_from= when the first modality is not a SegmentData")
    # With features="cnn", SegmentData modalities are embedded per fold (run_fold); the others
    # are sequences now.
    raw = {n: m for n, m in modalities.items()
           if config.features == "cnn" and isinstance(m, SegmentData)}
    seqs = {n: (m if isinstance(m, Sequences) else
                Sequences.from_segments(m, pool=config.pool, max_steps=config.max_steps))
            for n, m in modalities.items() if n not in raw}
    ids_of = {n: (raw[n].ids if n in raw else seqs[n].ids) for n in names}
    pos = {i: k for k, i in enumerate(ids_of[names[0]])}
    missing = [i for i in meta.ids if i not in pos]
    if missing:
        raise InputError(f"{len(missing)} utterance(s) of {names[0]} have no sequence "
                         f"(e.g. {missing[:3]})")
    order = [pos[i] for i in meta.ids]
    # The fold loop's data: every frame of the primary modality, grouped by utterance (one
    # placeholder row per utterance when the primary is embedded per fold: the loop only splits
    # and scores).
    frames = ([np.zeros((1, 1), np.float32)] * len(order) if names[0] in raw else
              [seqs[names[0]].sequences[k] for k in order])
    groups = np.repeat(np.arange(len(frames), dtype=np.int64), [len(f) for f in frames])
    data = SegmentData(X=np.concatenate(frames), segment_labels=meta.labels[groups],
                       groups=groups, labels=meta.labels, speakers=meta.speakers,
                       ids=list(meta.ids), classes=list(meta.classes), corpus=meta.corpus)
    # Other modalities aligned to the data's utterances (None: absent); embedded ones by their
    # own utterance index.
    aligned: dict[str, list[Any]] = {}
    for n in names[1:]:
        lookup = (dict(zip(seqs[n].ids, seqs[n].sequences)) if n not in raw else
                  {i: k for k, i in enumerate(raw[n].ids)})
        aligned[n] = [lookup.get(i) for i in data.ids]
    if names[0] in raw:
        aligned[names[0]] = order
    coverage = {names[0]: data.n_utterances,
                **{n: sum(s is not None for s in aligned[n]) for n in names[1:]}}
    methods_wanted = None if methods is None else list(methods)
    methods = fusion_methods(names)
    if methods_wanted is not None:
        known = {m for pair in methods for m in pair}
        unknown = [m for m in methods_wanted if m not in known]
        if unknown or not methods_wanted:
            raise InputError(f"unknown fusion method(s) {unknown}; known: "
                             f"{', '.join(label for _, label in methods)}")
    by = "speaker" if protocol == "loso" else "utterance"
    cache: dict[int, dict[str, Any]] = {}

    def run_fold(fold: Fold) -> dict[str, Any]:
        C = fold.n_classes
        train_utts, first = np.unique(fold.groups_train, return_index=True)
        y_utt = fold.y_train[first]
        test_utts, seg_row = np.unique(fold.groups_test, return_inverse=True)
        val = carve_validation(y_utt, data.speakers[train_utts], by, config.val_fraction,
                               fold.seed)
        fit_idx, val_idx = train_utts[~val], train_utts[val]
        y_fit, y_val = y_utt[~val], y_utt[val]
        # Per-utterance sequences of this fold: primary from the loop's standardised frames,
        # embedded and other modalities standardised with training-side statistics.
        per: dict[str, list[np.ndarray | None]] = {}
        if names[0] not in raw:
            seq0: list[np.ndarray | None] = [None] * data.n_utterances
            for X, g in ((fold.X_train, fold.groups_train), (fold.X_test, fold.groups_test)):
                for u in np.unique(g):
                    seq0[u] = X[g == u].reshape(int((g == u).sum()), -1)
            per[names[0]] = seq0
        for k, n in enumerate(names):
            if n in per:
                continue
            modality = aligned[n]
            if n in raw:
                fit_own = [modality[u] for u in fit_idx if modality[u] is not None]
                if not fit_own:
                    per[n] = [None] * data.n_utterances
                    continue
                wanted = [u for u in np.concatenate([train_utts, test_utts])
                          if modality[u] is not None]
                embedded = embed_segments(raw[n], np.asarray(fit_own),
                                          np.asarray([modality[u] for u in wanted]), config,
                                          seed=fold.seed * 16 + 8 + k)
                modality = [None] * data.n_utterances
                for u, e in zip(wanted, embedded):
                    modality[u] = e
            present = [u for u in train_utts if modality[u] is not None]
            if not present:
                per[n] = [None] * data.n_utterances
                continue
            rows = np.concatenate([modality[u] for u in present])
            std = Standardizer.fit(rows, per="feature")
            per[n] = [None if s is None else std(s) for s in modality]
        val_post, test_post, curves, info = [], [], {}, {}
        y_all = np.full(data.n_utterances, -1, dtype=np.int64)
        y_all[fit_idx], y_all[val_idx] = y_fit, y_val
        for k, n in enumerate(names):
            (pv, pt), curve, n_fit = _train_modality(
                per[n], fit_idx, y_all, [val_idx, test_utts], C, config, fold.seed * 16 + k)
            val_post.append(pv)
            test_post.append(pt)
            curves[n] = curve
            ok = np.isfinite(pv).all(1)
            info[f"val_acc_{n}"] = (float(np.mean(pv[ok].argmax(1) == y_val[ok]))
                                    if ok.any() else None)
            info[f"trained_on_{n}"] = n_fit
            info[f"test_missing_{n}"] = int((~np.isfinite(pt).all(1)).sum())
        info["d_micro_f1"] = fusion.micro_f1_prior(val_post, y_val).tolist()
        if hasattr(fusion, "search_prior"):
            info["d_search"] = np.asarray(fusion.search_prior(val_post, y_val)).tolist()
        info.update(validation_by=by, validation_utterances=int(val_idx.size),
                    validation_ids=[data.ids[u] for u in val_idx],
                    fit_utterances=int(fit_idx.size))
        results = {}
        for method, _ in methods:
            r = fusion.fuse(method, val_post, y_val, test_post)
            winner = np.asarray(r.winner)
            share = {n: float(np.mean(winner == k)) for k, n in enumerate(names)}
            share["lr"] = float(np.mean(winner == -1))     # decided by logistic regression
            results[method] = (np.asarray(r.posteriors, dtype=np.float64)[seg_row],
                               {"winner_share": share})
        return {"results": results, "curves": curves, "info": info}

    def fit_for(method: str, label: str) -> Callable[[Fold], FoldOutput]:
        def fit_fold(fold: Fold) -> FoldOutput:
            if fold.index not in cache:
                cache[fold.index] = run_fold(fold)
            done = cache[fold.index]
            post, extra = done["results"][method]
            k = next((i for i, (m, _) in enumerate(methods) if m == method), -1)
            curve = done["curves"].get(names[k], {}) if k < len(names) else {}
            return FoldOutput(post, curve=dict(curve), info={**done["info"], **extra})

        return fit_fold

    settings = {"model": "LSTM per modality + decision-level fusion", **asdict(config),
                "modalities": names, "coverage": coverage, "validation_by": by}
    identity = None
    if checkpoint_dir is not None:
        from emofast.train.checkpoint import fingerprint

        identity = {"modalities": {
            n: (fingerprint(np.asarray(raw[n].ids, dtype=str), raw[n].groups, raw[n].X)
                if n in raw else
                fingerprint(np.asarray(seqs[n].ids, dtype=str),
                            np.asarray([len(x) for x in seqs[n].sequences]),
                            np.concatenate(seqs[n].sequences))) for n in names}}
    evaluations = []
    for method, label in methods:
        if methods_wanted is not None and not {method, label} & set(methods_wanted):
            continue
        ev = cross_validate(data, protocol, fit_for(method, label),
                            name=f"{label} {protocol}", folds=folds, seed=seed,
                            max_folds=max_folds, fold_indices=fold_indices,
                            standardize="feature", curve_unit="epoch",
                            info={**settings, "method": method},
                            on_fold=on_fold, identity=identity,
                            checkpoint_dir=(None if checkpoint_dir is None else
                                            os.path.join(checkpoint_dir, _slug(method))))
        evaluations.append(ev)
    return evaluations
