"""The one fold loop of emofast's experiments.

:func:`cross_validate` runs a model over the folds of a protocol of :mod:`emofast.protocols`:

0. optionally normalise every speaker (or the corpus) by its own statistics
   (:func:`emofast.dataset.normalize`; transductive, label-free, marked ``†`` in reports);
1. split the utterances (or, for the papers' leaky ``segment`` protocol, the segments); a protocol
   with a validation part (``split``: the corpus's official train/val/test) hands it over too;
2. take the segments of each side's utterances (segments of one utterance never straddle);
3. standardise every side with statistics of the **training** side only;
4. call ``fit_fold(fold)``, which trains whatever model on the training side and returns posteriors
   of the test segments (the CNN baseline, PathNet scratch and transfer, and next joint learning
   and fusion all plug in here);
5. aggregate segment posteriors per test utterance (mean, or normalised geometric mean);
6. score the pooled test predictions with :func:`emofast.metrics.score`, keeping every fold's
   WAR/UAR, learning curve and details in the returned :class:`~emofast.report.Evaluation`.

The fit callback sees the test inputs only to predict them and, for learning curves, through
:attr:`Fold.test_accuracy`; anything it selects (epochs, early stopping, hyper-parameters) must be
chosen on the protocol's validation part (:attr:`Fold.X_val`) where it has one, else on data
carved from the training side (:attr:`Fold.groups_train`, :attr:`Fold.speakers_train`), never on
the test fold.

Every fold is seeded by its index (:func:`fold_seed`), so a fold run alone (``fold_indices``) gives
the same result as in a full run and runs of disjoint folds can be pooled.

With ``checkpoint_dir`` the loop is resumable: ``run.pt`` records the run's identity (name,
protocol, folds, repeats, seed, a fingerprint of the data, the settings), every finished fold's
output (posteriors, curve, info) is saved atomically as ``fold<i>.pt``, and a rerun skips those
folds; the unfinished fold gets ``<checkpoint_dir>/fold<i>/`` (:attr:`Fold.checkpoint_dir`) for its
own mid-fold checkpoints (PathNet's evolutions), removed once the fold is saved. Files of another
run raise :class:`~emofast.errors.StoreError` naming the file and the field that differs.

Under a process group of several ranks (:mod:`emofast.distributed`) every rank runs the loop with
the same arguments and the fit callback shares each fold's training out (:func:`emofast.train.fit.fit`,
:func:`emofast.train.evolve.evolve` do); rank 0 alone creates the checkpoint folder, saves and reads
fold files (sending a finished fold's output to the others), and the run's identity records the
number of ranks.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emofast import distributed as dist
from emofast.dataset import SegmentData, Standardizer, normalize as normalize_data
from emofast.errors import InputError, StoreError
from emofast.metrics import score, uar
from emofast.protocols import aggregate_segments, make_splits, segments_of
from emofast.report.evaluation import Evaluation
from emofast.train import checkpoint as ckpt_io

__all__ = ["Fold", "FoldOutput", "FitFold", "fold_seed", "select_folds", "cross_validate"]


@dataclass
class Fold:
    """What a fit callback gets for one fold.

    Attributes
    ----------
    index : int
        0-based position in the protocol's fold order (LOSO: sorted speakers).
    seed : int
        Seed of this fold (:func:`fold_seed`): seed models, shuffles and evolutions with it.
    n_classes : int
    X_train, X_test : numpy.ndarray of float32
        Standardised segments of the training and test utterances (flattened to
        ``(n, features)`` when the loop was asked to flatten).
    y_train : numpy.ndarray of int64
        Class index of every training segment.
    groups_train : numpy.ndarray of int64
        Utterance index (into the data's utterances) of every training segment: carve validation
        utterances from these.
    speakers_train : numpy.ndarray of str
        Speaker of every training segment: carve validation speakers from these.
    test_accuracy : callable
        ``test_accuracy(segment_posteriors) -> float``: accuracy on the test fold at the
        protocol's level (utterances, or segments for ``segment``). For learning curves only.
    checkpoint_dir : str or None
        Folder (existing) for this fold's own checkpoints when the loop runs with
        ``checkpoint_dir``; None: do not checkpoint.
    identity : dict
        ``name``, ``protocol`` and ``fold``: pass it as the ``identity`` of those checkpoints.
    groups_test : numpy.ndarray of int64
        Utterance index of every test segment (no labels): for models that read other data of
        the same utterances (another modality) or predict whole utterances.
    X_val, y_val, groups_val : numpy.ndarray or None
        The protocol's validation part (``split``: the corpus's ``val`` utterances), standardised
        with the training statistics, with segment labels and utterance indices: select models on
        it. None when the protocol has none.
    """

    index: int
    seed: int
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    groups_train: np.ndarray
    speakers_train: np.ndarray
    X_test: np.ndarray
    test_accuracy: Callable[[np.ndarray], float]
    checkpoint_dir: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    groups_test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    groups_val: np.ndarray | None = None


@dataclass
class FoldOutput:
    """What a fit callback returns.

    Attributes
    ----------
    posteriors : numpy.ndarray, shape (len(fold.X_test), n_classes)
        Class posteriors of every test segment.
    curve : dict of str to list of float
        Learning curve (e.g. ``train_loss``, ``train_acc``, ``test_acc`` per epoch).
    info : dict
        JSON-ready details kept in :attr:`Evaluation.folds` (e.g. a PathNet's best pathway).
    """

    posteriors: np.ndarray
    curve: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


FitFold = Callable[[Fold], FoldOutput]


def fold_seed(seed: int, index: int) -> int:
    """Seed of fold ``index`` of a run seeded with ``seed``: ``seed * 1000 + index``."""
    return int(seed) * 1000 + int(index)


def select_folds(n_folds: int, max_folds: int | None = None,
                 fold_indices: Sequence[int] | None = None) -> list[int]:
    """Fold indices to run: the first ``max_folds``, then only ``fold_indices`` (0-based) of those.

    Raises
    ------
    InputError
        ``max_folds`` < 1, or an index outside the folds left.
    """
    if max_folds is not None:
        if max_folds < 1:
            raise InputError(f"max_folds must be >= 1, got {max_folds}")
        n_folds = min(n_folds, max_folds)
    if fold_indices is None:
        return list(range(n_folds))
    indices = sorted({int(i) for i in fold_indices})
    bad = [i for i in indices if not 0 <= i < n_folds]
    if bad or not indices:
        raise InputError(f"fold indices {[i + 1 for i in bad] or list(fold_indices)} are out of "
                         f"range: the protocol has {n_folds} fold(s) (numbered from 1)")
    return indices


def _standardize(X_train: np.ndarray, others: list[np.ndarray | None], per: str | None
                 ) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """``X_train`` and ``others`` standardised with ``X_train``'s statistics (None stays None)."""
    if per is None:
        return X_train, others
    std = Standardizer.fit(X_train, per=per)
    return std(X_train), [None if X is None else std(X) for X in others]


def _data_fingerprint(data: SegmentData) -> str:
    splits = () if data.splits is None else (np.asarray(data.splits, dtype=str),)
    return ckpt_io.fingerprint(data.X, data.segment_labels, data.groups, data.labels,
                               np.asarray(data.speakers, dtype=str), np.asarray(data.ids, dtype=str),
                               np.asarray(data.classes, dtype=str), *splits)


def _run_store(checkpoint_dir: str | os.PathLike, identity: dict[str, Any]) -> str:
    """Create or check ``<checkpoint_dir>/run.pt``; returns the folder."""
    path = os.fspath(checkpoint_dir)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create checkpoint folder {path}: {exc}") from None
    manifest = os.path.join(path, "run.pt")
    if os.path.exists(manifest):
        ckpt_io.load(manifest, "emofast.run", identity)
    else:
        ckpt_io.save(manifest, "emofast.run", identity, {})
    return path


def _load_fold(path: str, identity: dict[str, Any]) -> FoldOutput:
    state = ckpt_io.load(path, "emofast.fold", identity)
    try:
        return FoldOutput(state["posteriors"].numpy(), curve=json.loads(state["curve"]),
                          info=json.loads(state["info"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"checkpoint {path} is damaged ({type(exc).__name__}: {exc})") from None


def _finished_fold(path: str, identity: dict[str, Any]) -> FoldOutput | None:
    """The saved output of a finished fold, or None when it is not saved yet."""
    return _load_fold(path, identity) if os.path.exists(path) else None


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def _save_fold(path: str, identity: dict[str, Any], out: FoldOutput, fold_dir: str | None = None) -> None:
    """Save a finished fold and remove its own checkpoint folder ``fold_dir``."""
    import torch

    post = torch.from_numpy(np.array(out.posteriors, copy=True))
    ckpt_io.save(path, "emofast.fold", identity,
                 {"posteriors": post, "curve": _json(out.curve), "info": _json(out.info)})
    if fold_dir is not None:
        shutil.rmtree(fold_dir, ignore_errors=True)


def cross_validate(
    data: SegmentData,
    protocol: str,
    fit_fold: FitFold,
    *,
    name: str,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    standardize: str | None = "channel",
    flatten: bool = False,
    curve_unit: str = "epoch",
    info: dict[str, Any] | None = None,
    on_fold: Callable[[int, int, dict[str, Any]], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    identity: dict[str, Any] | None = None,
    normalize: str | None = None,
    aggregate: str = "mean",
) -> Evaluation:
    """Run ``fit_fold`` over the folds of ``protocol`` and score the pooled test predictions.

    Parameters
    ----------
    data : SegmentData
        From :mod:`emofast.dataset`.
    protocol : {"kfold", "loso", "speaker-kfold", "split", "segment"}
        ``kfold``, ``loso``, ``speaker-kfold`` and ``split`` split utterances and score utterances
        (mean of segment posteriors); ``split`` is the corpus's official split (one fold, its
        ``val`` part in :attr:`Fold.X_val`); ``segment`` is the papers' leaky segment split, scored
        per segment and marked ``*``.
    fit_fold : callable
        ``fit_fold(Fold) -> FoldOutput``.
    name : str
        Row label of the evaluation.
    folds, repeats, seed : int
        k of the k-fold protocols, repeats of k-fold, base seed (of splits and folds).
    max_folds, fold_indices : optional
        Run only the first folds / only these 0-based folds (see :func:`select_folds`).
    standardize : {"channel", "feature", None}
        Statistics of the training side, per input channel (CNN) or per feature (PathNet).
    flatten : bool
        Hand the callback ``(n, features)`` arrays.
    curve_unit : str
        ``"epoch"`` or ``"generation"``: the unit of the returned curves.
    info : dict, optional
        Settings to keep in :attr:`Evaluation.info` (sizes and the protocol are added).
    on_fold : callable, optional
        ``on_fold(position, n_run, fold_details)`` after each fold (progress printing); the
        details carry ``name`` besides what :attr:`Evaluation.folds` keeps.
    checkpoint_dir : path, optional
        Make the run resumable (see the module notes): finished folds are saved there and skipped
        on a rerun (a :class:`~emofast.train.checkpoint.ResumeWarning` says so), the unfinished
        one gets :attr:`Fold.checkpoint_dir`. The folds run (``max_folds``, ``fold_indices``) are
        not part of the identity: a run of some folds reuses a full run's finished folds.
    identity : dict, optional
        Plain data that also identifies the run in ``checkpoint_dir`` (what ``fit_fold`` depends
        on beyond ``info``: a source corpus, an initial state, ...).
    normalize : {None, "speaker", "corpus"}
        Normalise the data first (:func:`emofast.dataset.normalize`): transductive, recorded in
        :attr:`Evaluation.transductive`. Data already normalised keeps its mark.
    aggregate : {"mean", "logmean"}
        How segment posteriors become utterance posteriors
        (:func:`emofast.protocols.aggregate_segments`).

    Returns
    -------
    emofast.report.Evaluation
    """
    segment_level = protocol == "segment"
    if normalize is not None:
        data = normalize_data(data, normalize)
    splits = make_splits(protocol, labels=data.labels, speakers=data.speakers,
                         segment_labels=data.segment_labels, splits=data.splits, k=folds,
                         repeats=repeats, seed=seed)
    indices = select_folds(len(splits), max_folds, fold_indices)
    seg_y, groups = data.segment_labels, data.groups
    speakers_of_segments = data.speakers[groups]
    run_id = store = None
    if checkpoint_dir is not None:
        run_id = {"protocol": protocol, "seed": seed, "folds": folds, "repeats": repeats,
                  "data": _data_fingerprint(data),
                  "settings": json.loads(json.dumps(info or {}, default=str)),
                  "standardize": standardize, "flatten": flatten, **(identity or {}),
                  **dist.identity(), "name": name}
        store = dist.on_main(_run_store, checkpoint_dir, run_id)
    t0 = time.perf_counter()
    y_true, posteriors, fold_war, fold_uar, curves, details = [], [], [], [], [], []
    item_ids, item_folds, utterance_ids = [], [], np.asarray(data.ids, dtype=str)
    for pos, f in enumerate(indices):
        tr, te = splits[f]
        seg_tr, seg_te = ((np.asarray(tr), np.asarray(te)) if segment_level
                          else (segments_of(tr, groups), segments_of(te, groups)))
        val = getattr(splits[f], "val", np.zeros(0, dtype=np.int64))
        seg_val = segments_of(val, groups) if val.size and not segment_level else None
        if seg_tr.size == 0 or seg_te.size == 0:
            raise InputError(f"fold {f + 1} of {protocol} has an empty side ({seg_tr.size} train, "
                             f"{seg_te.size} test segments)")

        def to_items(post: np.ndarray, seg_te: np.ndarray = seg_te
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if segment_level:
                return np.asarray(post, dtype=np.float64), seg_y[seg_te], groups[seg_te]
            utt_post, utts = aggregate_segments(post, groups[seg_te], how=aggregate)
            return utt_post, data.labels[utts], utts

        def test_accuracy(post: np.ndarray, to_items: Callable = to_items) -> float:
            p, y, _ = to_items(post)
            return float(np.mean(p.argmax(1) == y))

        fold_file = fold_dir = out = None
        if store is not None:
            fold_file = os.path.join(store, f"fold{f + 1}.pt")
            fold_dir = os.path.join(store, f"fold{f + 1}")
            fold_id = {**run_id, "fold": f, "fold_seed": fold_seed(seed, f)}
            out = dist.on_main(_finished_fold, fold_file, fold_id)
        resumed = out is not None
        if resumed and dist.is_main():
            warnings.warn(ckpt_io.ResumeWarning(f"{name} fold {f + 1}: finished in {fold_file}, "
                                                "not re-run"), stacklevel=2)
        if not resumed:
            X_tr, X_te = data.arrays(seg_tr), data.arrays(seg_te)
            X_va = None if seg_val is None else data.arrays(seg_val)
            if flatten:
                X_tr, X_te = X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1)
                X_va = None if X_va is None else X_va.reshape(len(X_va), -1)
            X_tr, (X_te, X_va) = _standardize(X_tr, [X_te, X_va], standardize)
            if fold_dir is not None:
                dist.on_main(os.makedirs, fold_dir, exist_ok=True)
            fold = Fold(index=f, seed=fold_seed(seed, f), n_classes=data.n_classes, X_train=X_tr,
                        y_train=seg_y[seg_tr], groups_train=groups[seg_tr],
                        speakers_train=speakers_of_segments[seg_tr], X_test=X_te,
                        test_accuracy=test_accuracy, checkpoint_dir=fold_dir,
                        identity={"name": name, "protocol": protocol, "fold": f},
                        groups_test=groups[seg_te], X_val=X_va,
                        y_val=None if seg_val is None else seg_y[seg_val],
                        groups_val=None if seg_val is None else groups[seg_val])
            out = fit_fold(fold)
        if np.shape(out.posteriors) != (seg_te.size, data.n_classes):
            raise InputError(f"fit_fold returned posteriors of shape {np.shape(out.posteriors)} "
                             f"for {seg_te.size} test segments and {data.n_classes} classes")
        if fold_file is not None and not resumed:
            dist.on_main(_save_fold, fold_file, fold_id, out, fold_dir)
        post, y, utts = to_items(out.posteriors)
        item_ids.append(utterance_ids[utts])
        item_folds.append(np.full(len(y), f, dtype=np.int64))
        y_true.append(y)
        posteriors.append(post)
        fold_war.append(float(np.mean(post.argmax(1) == y)))
        fold_uar.append(uar(y, post.argmax(1)))
        curves.append(out.curve)
        details.append({"fold": f, "seed": fold_seed(seed, f), "train_segments": int(seg_tr.size),
                        **({} if seg_val is None else {"val_segments": int(seg_val.size)}),
                        "test_items": int(len(y)), "war": fold_war[-1], "uar": fold_uar[-1],
                        **out.info})
        if on_fold is not None:
            on_fold(pos, len(indices), {"name": name, **details[-1]})
    y_all, post_all = np.concatenate(y_true), np.concatenate(posteriors)
    return Evaluation(
        name=name, classes=list(data.classes),
        scores=score(y_all, scores=post_all, n_classes=data.n_classes),
        protocol=protocol, leaky=segment_level, level="segment" if segment_level else "utterance",
        fold_war=fold_war, fold_uar=fold_uar, curves=curves, curve_unit=curve_unit,
        folds=details, seconds=time.perf_counter() - t0, transductive=data.normalization,
        info={"corpus": data.corpus, "utterances": data.n_utterances, "segments": len(data.X),
              "splits": len(splits), "folds_run": [i + 1 for i in indices],
              "seed": seed, "normalization": data.normalization, "aggregate": aggregate,
              **(info or {})},
        predictions={"ids": np.concatenate(item_ids), "folds": np.concatenate(item_folds),
                     "labels": y_all, "posteriors": post_all},
    )
