"""Joint cross-domain learning as an experiment: the paper's Table 7 on the one fold loop.

The **target** corpus is cross-validated with its leakage-free protocol
(:func:`~emofast.experiments.crossval.cross_validate`: leave-one-speaker-out or k-fold by
utterance); the **source** corpus is used whole for training in every fold and never tested. Each
arm is one ``cross_validate`` run, all in the same folds with the same fold seeds — so the same
initial weights, the same number of steps (``JointConfig.total_steps`` of the fold's target
training side and the source) and the same mini-batch streams:

========================  ==================================================  =================
arm                       trained on (every fold)                             Table 7 row
========================  ==================================================  =================
``"target"``              the target's training side, one cross-entropy       V eNTER Model
``"source"``              the source only (cross-corpus test)                 V SAV Model
``"none"``                both corpora, two cross-entropies (λ3 = 0)          V SAV eNTER Model
``"contrastive"``, ...    both, two cross-entropies + the alignment term(s)   joint learning
========================  ==================================================  =================

Any :func:`~emofast.train.joint.parse_align` name is a joint arm (``"mmd"``, ``"dann"``,
``"contrastive+mmd"``, ...). The target's head (head 1) predicts its test fold. Run the experiment
once per direction (each corpus as the target) and :func:`emofast.report.cross_corpus_table`
lays the arms out as Table 7: one row per arm, one column per tested corpus.

**Labels**: both corpora are restricted to the classes they share (:func:`shared_classes`), so the
two heads and the matching pairs use one vocabulary; what each corpus loses is in its
``SegmentData.dropped`` and the evaluations' ``info``. **Inputs**: the target is standardised per
channel with each fold's training statistics (the fold loop), the source with its own statistics
over all its segments (it is training data only).

Examples
--------
>>> from emofast import dataset                                            # doctest: +SKIP
>>> from emofast.experiments.joint import evaluate_joint                    # doctest: +SKIP
>>> from emofast.train.joint import JointConfig                             # doctest: +SKIP
>>> t = dataset.load("savee", store="features/", modality="video")         # doctest: +SKIP
>>> s = dataset.load("enterface", store="features/", modality="video")     # doctest: +SKIP
>>> arms = evaluate_joint(t, s, "loso", JointConfig(steps=20000))           # doctest: +SKIP
>>> arms["contrastive"].scores.war                                          # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from emofast.dataset import SegmentData, Standardizer, normalize as normalize_data, select_classes
from emofast.errors import InputError
from emofast.experiments.baseline import make_baseline, validation_selection
from emofast.experiments.crossval import Fold, FoldOutput, FitFold, _data_fingerprint, cross_validate
from emofast.report.evaluation import Evaluation
from emofast.train.joint import JointConfig, parse_align

__all__ = ["BASELINE_ARMS", "arm_label", "shared_classes", "joint_fold", "evaluate_joint"]

#: Arms that train on one corpus.
BASELINE_ARMS: tuple[str, ...] = ("target", "source")

#: Curve keys of the loss terms (the report plots keys ending in "loss" as losses).
_TERM_CURVES = {"ce1": "ce1_loss", "ce2": "ce2_loss", "contrastive": "contrastive_loss",
                "mmd": "mmd_loss", "dann": "dann_loss", "domain_acc": "domain_acc"}


def _arm_key(arm: str) -> str:
    return arm if arm in BASELINE_ARMS else "+".join(parse_align(arm)) or "none"


def arm_label(arm: str) -> str:
    """Row label of an arm: ``target only``, ``source only``, ``combined (2 CE)``,
    ``joint (contrastive)``, ..."""
    key = _arm_key(arm)
    return {"target": "target only", "source": "source only",
            "none": "combined (2 CE)"}.get(key, f"joint ({key})")


def shared_classes(target: SegmentData, source: SegmentData,
                   classes: Sequence[str] | None = None) -> tuple[SegmentData, SegmentData]:
    """Both corpora on one label vocabulary: the classes both hold (within ``classes`` when
    given), in ``classes`` order or sorted.

    Each corpus already maps its codes onto emofast's shared emotion names
    (:mod:`emofast.corpora`), so one vocabulary is the intersection of the names; utterances of
    the other classes are left out and recorded in ``dropped``.

    Raises
    ------
    InputError
        Fewer than two shared classes.
    """
    common = set(target.classes) & set(source.classes)
    names = ([c for c in classes if c in common] if classes is not None else sorted(common))
    if len(names) < 2:
        raise InputError(f"{target.corpus or 'target'} {target.classes} and "
                         f"{source.corpus or 'source'} {source.classes} share fewer than two "
                         f"classes{'' if classes is None else f' of {list(classes)}'}")
    return select_classes(target, names), select_classes(source, names)


class _Standardized:
    """Rows of ``X`` standardised on the fly (the source is never copied whole)."""

    def __init__(self, X: Any, standardizer: Standardizer) -> None:
        self.X, self.standardizer = X, standardizer

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return self.standardizer(self.X[idx])


def joint_fold(arm: str, source: tuple[Any, np.ndarray], config: JointConfig = JointConfig(), *,
               make_model: Callable[[int], Any] | None = None, init_state: dict | None = None,
               val_speakers: int = 0, progress: bool = True, desc: str = "joint") -> FitFold:
    """A fit callback for :func:`~emofast.experiments.crossval.cross_validate`: one arm of the
    experiment (module notes) on a fold of the target, ``source = (X, y)`` the whole source
    (standardised, labels in the target's classes).

    ``make_model(n_classes)`` builds the network (default: the ``tiny`` GroupNorm CNN), seeded
    by the fold; ``init_state`` starts it from pretrained weights (continuous fine-tuning: head 2
    starts as a copy of head 1). With ``val_speakers`` the epoch is chosen on that many target
    speakers held out of the training side (validation UAR; the test fold is never looked at).
    """
    import torch

    from emofast.train.fit import predict_proba
    from emofast.train.joint import fit_joint

    key = _arm_key(arm)
    X_src, y_src = source
    two = key not in BASELINE_ARMS

    def fit_fold(fold: Fold) -> FoldOutput:
        torch.manual_seed(fold.seed)
        net = make_model(fold.n_classes) if make_model is not None else make_baseline(fold.n_classes)
        if init_state is not None:
            net.load_state_dict(init_state)
            if two:
                net.add_head(copy_from=0)
        fit_rows, select = validation_selection(fold, val_speakers)
        X_t = fold.X_train if fit_rows.size == len(fold.y_train) else fold.X_train[fit_rows]
        target = (X_t, fold.y_train[fit_rows])
        steps = config.total_steps(len(target[1]), len(y_src))  # the same for every arm
        cfg = dataclasses.replace(config, steps=steps, seed=fold.seed,
                                  align="none" if not two else key)
        first, second = {"target": (target, None), "source": ((X_src, y_src), None)}.get(
            key, (target, (X_src, y_src)))
        hist = fit_joint(net, first, second, cfg, select=select,
                         evaluate=lambda m: fold.test_accuracy(predict_proba(m, fold.X_test)),
                         desc=f"{desc} {fold.index + 1}")
        curve = {"train_loss": hist.train_loss, "train_acc": hist.train_acc,
                 "test_acc": hist.eval_acc,
                 **{_TERM_CURVES[k]: v for k, v in hist.terms.items() if k in _TERM_CURVES}}
        if select is not None:
            curve["val_uar"] = hist.select_score
        return FoldOutput(predict_proba(net, fold.X_test), curve=curve,
                          info={"seconds": hist.seconds, "steps": hist.steps,
                                "best_epoch": hist.best_epoch,
                                "epochs_run": len(hist.train_loss)})

    return fit_fold


def evaluate_joint(
    target: SegmentData,
    source: SegmentData,
    protocol: str = "loso",
    config: JointConfig = JointConfig(),
    *,
    arms: Sequence[str] | None = None,
    width: str = "tiny",
    dropout: float = 0.2,
    make_model: Callable[[int], Any] | None = None,
    init_state: dict | None = None,
    val_speakers: int = 0,
    classes: Sequence[str] | None = None,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    progress: bool = True,
    on_fold: Callable[[int, int, dict], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    normalize: str | None = None,
    aggregate: str = "mean",
) -> dict[str, Evaluation]:
    """Cross-validate joint learning and the Table 7 baselines on ``target`` with ``source``.

    Parameters
    ----------
    target, source : SegmentData
        4-D segments (log-Mel or faces) of the two corpora; restricted to their shared classes.
    protocol : {"loso", "kfold", "segment"}, default "loso"
        The target's protocol (``segment`` leaks and is marked ``*``).
    config : JointConfig
        Algorithm 1's settings; each arm overrides ``align`` (and single-corpus arms use none),
        ``steps`` (fixed per fold from ``config.steps``/``epochs``) and ``seed`` (the fold's).
    arms : sequence of str, optional
        ``"target"``, ``"source"`` and alignment names (module notes). Default: target, source,
        ``"none"`` and ``config.align``.
    width, dropout : GroupNorm CNN preset (:func:`~emofast.experiments.baseline.make_baseline`);
        ``make_model(n_classes)`` replaces it.
    init_state : dict, optional
        Pretrained ``state_dict`` every arm starts from (the paper's continuous fine-tuning).
    val_speakers : int
        Choose the epoch on that many held-out target training speakers (see :func:`joint_fold`).
    classes : sequence of str, optional
        Restrict to these emotions (e.g. the papers' six) besides the shared ones.
    folds, repeats, seed, max_folds, fold_indices, on_fold, aggregate
        As in :func:`~emofast.experiments.crossval.cross_validate`.
    progress : bool
    checkpoint_dir : path, optional
        Resumable at fold granularity, one sub-folder per arm (the arm's name).
    normalize : {None, "speaker", "corpus"}
        Per-speaker (or per-corpus) normalisation of *both* corpora (transductive for the target,
        marked ``†``).

    Returns
    -------
    dict of str to Evaluation
        Arm name -> evaluation; ``info`` holds ``arm``, ``arm_label``, ``target``, ``source`` (the
        keys :func:`emofast.report.cross_corpus_table` reads) and the settings.
    """
    from emofast.train.checkpoint import fingerprint

    names = list(dict.fromkeys(_arm_key(a) for a in (
        arms if arms is not None else ("target", "source", "none", config.align_name))))
    if not names:
        raise InputError("no arms to evaluate")
    if np.ndim(target.X[:1]) != 4 or np.ndim(source.X[:1]) != 4:
        raise InputError("joint learning trains the GroupNorm CNN: both corpora need 4-D "
                         "segments (log-Mel or face crops), not feature vectors")
    target, source = shared_classes(target, source, classes)
    if normalize is not None:
        target, source = normalize_data(target, normalize), normalize_data(source, normalize)
    X_src = _Standardized(source.X, Standardizer.fit(source.X, per="channel"))
    src = (X_src, source.segment_labels)
    custom = make_model is not None
    if make_model is None:
        def make_model(n_classes: int) -> Any:
            return make_baseline(n_classes, width, dropout)

    init = None if init_state is None else fingerprint(*[init_state[k] for k in sorted(init_state)])
    t_name, s_name = target.corpus or "target", source.corpus or "source"
    evaluations = {}
    for key in names:
        label = arm_label(key)
        where = {"target": t_name, "source": f"{s_name} -> {t_name}"}.get(key, f"{s_name}+{t_name}")
        arm_config = dataclasses.replace(config, align="none" if key in BASELINE_ARMS else key)
        settings = {"model": "GN-CNN joint", "arm": key, "arm_label": label, "target": t_name,
                    "source": s_name, "width": "custom" if custom else width,
                    "dropout": dropout, **dataclasses.asdict(arm_config),
                    "val_speakers": val_speakers, "fine_tuned": init_state is not None,
                    "source_utterances": source.n_utterances, "source_segments": len(source.X),
                    "dropped": {"target": target.dropped, "source": source.dropped}}
        evaluations[key] = cross_validate(
            target, protocol,
            joint_fold(key, src, arm_config, make_model=make_model, init_state=init_state,
                       val_speakers=val_speakers, progress=progress, desc=label),
            name=f"{label} ({where}), {protocol}", folds=folds, repeats=repeats, seed=seed,
            max_folds=max_folds, fold_indices=fold_indices, standardize="channel",
            curve_unit="epoch", info=settings, on_fold=on_fold,
            checkpoint_dir=None if checkpoint_dir is None else os.path.join(
                os.fspath(checkpoint_dir), key.replace("+", "-")),
            identity={"source": _data_fingerprint(source), "init_state": init},
            aggregate=aggregate)
    return evaluations
