"""The continuous fine-tuning chain of the joint cross-domain paper (§3.1, Table 1) as stages.

Each :class:`ChainStage` names a corpus (a :class:`~emofast.dataset.SegmentData`), what it trains
(``"all"`` layers, or ``"fc"``: the fully-connected layers only, conv blocks frozen) and its
schedule (a :class:`~emofast.experiments.baseline.BaselineConfig`). Stage *i* starts from the
weights of stage *i−1* (a fresh output layer where the class sets differ), and for every stage:

1. **evaluation**: its corpus is cross-validated under a leakage-free protocol through the one
   fold loop (:func:`~emofast.experiments.baseline.evaluate_cnn` with ``init_state``): every fold
   starts from the previous stage's model, which was trained on the *previous* corpora only, so
   nothing of the current corpus's test folds has been seen;
2. **the stage's model**: the network is then trained on all of its corpus (from the same
   weights, :func:`~emofast.experiments.baseline.train_final`) and saved; it is what stage *i+1*
   starts from.

Table 1's chain ``V eNTER → V SAV (fc) → A SAV → A EMO`` is::

    run_chain([ChainStage(enterface_faces), ChainStage(savee_faces, "fc"),
               ChainStage(savee_audio), ChainStage(emodb_audio)], "loso", out_dir="chain/")

Resumable: a stage whose saved model (``stage<i>-<corpus>.pt``, its identity checked: corpus,
settings and the weights it started from) exists is not retrained, and ``checkpoint_dir`` keeps
every finished fold of the evaluations.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emofast.dataset import SegmentData
from emofast.errors import InputError
from emofast.experiments.baseline import BaselineConfig, drop_head, evaluate_cnn, train_final
from emofast.experiments.crossval import _data_fingerprint
from emofast.report.evaluation import Evaluation

__all__ = ["ChainStage", "StageResult", "run_chain", "stage_label"]


@dataclass(frozen=True)
class ChainStage:
    """One stage of the chain.

    Attributes
    ----------
    data : SegmentData
        Its corpus (4-D segments: log-Mel or face crops).
    train : {"all", "fc"}, default "all"
        Every layer, or the fully-connected ones only (the first stage trains all).
    config : BaselineConfig
        Network preset and training schedule (its width must match the previous stage's).
    features : FeatureSet or dict, optional
        The corpus's feature settings: the stage's model is then also written as a model bundle
        (:func:`emofast.save_bundle`, usable by ``emofast predict``).
    """

    data: SegmentData
    train: str = "all"
    config: BaselineConfig = field(default_factory=BaselineConfig)
    features: Any = None


@dataclass
class StageResult:
    """What :func:`run_chain` gives for one stage: its evaluation, its model's weights and the
    files of that model (``bundle`` None without ``ChainStage.features``)."""

    stage: ChainStage
    evaluation: Evaluation
    state: dict
    model_path: Path
    bundle: Path | None
    resumed: bool


def stage_label(index: int, stage: ChainStage, previous: ChainStage | None) -> str:
    """Row label: ``"1 savee (all)"``, ``"2 emodb (fc) <- savee"``."""
    name = stage.data.corpus or f"corpus{index + 1}"
    tail = "" if previous is None else f" <- {previous.data.corpus or f'corpus{index}'}"
    return f"{index + 1} {name} ({stage.train}){tail}"


def _fingerprint(state: dict | None) -> str | None:
    from emofast.train.checkpoint import fingerprint

    return None if state is None else fingerprint(*[state[k] for k in sorted(state)])


def run_chain(
    stages: Sequence[ChainStage],
    protocol: str = "loso",
    *,
    out_dir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike | None = None,
    folds: int = 5,
    seed: int = 0,
    max_folds: int | None = None,
    progress: bool = True,
    on_fold: Callable[[int, int, dict], None] | None = None,
    say: Callable[[str], None] = lambda line: None,
    aggregate: str = "mean",
) -> list[StageResult]:
    """Run the chain: evaluate and train every stage in order (module notes).

    Parameters
    ----------
    stages : sequence of ChainStage
    protocol : str, default "loso"
        Every corpus's protocol (:data:`emofast.protocols.PROTOCOLS`; ``segment`` leaks).
    out_dir : path
        Where each stage's model goes (``stage<i>-<corpus>.pt``, and ``.emofast`` bundles).
    checkpoint_dir : path, optional
        Resumable evaluations, one sub-folder per stage.
    folds, seed, max_folds, on_fold, aggregate
        As in :func:`~emofast.experiments.crossval.cross_validate`.
    say : callable
        Receives one line per stage.

    Returns
    -------
    list of StageResult
    """
    from emofast.bundle.storage import save_bundle
    from emofast.train import checkpoint as ckpt_io

    if not stages:
        raise InputError("the chain has no stages")
    if stages[0].train != "all":
        raise InputError(f"the first stage trains from scratch: its mode must be 'all', not "
                         f"{stages[0].train!r}")
    for prev, st in zip(stages, stages[1:]):
        if (st.config.width, st.config.norm) != (prev.config.width, prev.config.norm):
            raise InputError("every stage needs the network of the one before: width/norm "
                             f"{st.config.width}/{st.config.norm} after "
                             f"{prev.config.width}/{prev.config.norm}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    state: dict | None = None
    for i, st in enumerate(stages):
        prev = stages[i - 1] if i else None
        label = stage_label(i, st, prev)
        init = state
        if prev is not None and list(prev.data.classes) != list(st.data.classes):
            init = drop_head(state)  # another class set: a fresh output layer
        say(f"stage {label}: {st.data.summary()}")
        ev = evaluate_cnn(
            st.data, protocol, st.config, name=f"chain {label}", init_state=init,
            trainable=st.train, folds=folds, seed=seed, max_folds=max_folds,
            progress=progress, on_fold=on_fold, aggregate=aggregate,
            checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir) / f"stage{i + 1}")
        ev.info.update(stage=i + 1, corpus=st.data.corpus, trainable=st.train,
                       started_from=None if prev is None else prev.data.corpus,
                       new_head=init is not state)
        identity = {"stage": i + 1, "data": _data_fingerprint(st.data), "train": st.train,
                    "config": asdict(st.config), "seed": seed, "init_state": _fingerprint(init)}
        base = out / f"stage{i + 1}-{st.data.corpus or 'corpus'}"
        path = base.with_suffix(".pt")
        resumed = path.exists()
        if resumed:
            state = ckpt_io.load(path, "emofast.chain-stage", identity)["weights"]
            say(f"  model of stage {i + 1} found in {path}: not retrained")
        else:
            final = train_final(st.data, st.config, seed=seed, progress=progress,
                                desc=f"stage {i + 1}", init_state=init, trainable=st.train)
            state = final.state_dict()
            ckpt_io.save(path, "emofast.chain-stage", identity, {"weights": state})
            if st.features is not None:
                save_bundle(base.with_suffix(".emofast"), final, features=st.features,
                            provenance={"chain_stage": label, "protocol": protocol,
                                        "war": ev.scores.war, "uar": ev.scores.uar})
        bundle = base.with_suffix(".emofast")
        say(f"  {label}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}  ({len(ev.folds)} folds, "
            f"{ev.seconds:.1f} s); model {path}")
        results.append(StageResult(st, ev, state, path, bundle if bundle.exists() else None,
                                   resumed))
    return results
