"""The demo experiment: the whole pipeline on generated corpora, as ``emofast demo`` runs it.

1. generate three small demo corpora (cached): a target, a source and a third one;
2. extract log-Mel segments into a feature store (cached, resumable);
3. cross-validate the baseline GroupNorm CNN on the target under leakage-free protocols, and
   optionally fine-tune one pretrained on the source;
4. optionally run PathNet scratch vs transfer from the source to the target;
5. optionally (``fusion``) extract the target's face crops too and cross-validate one LSTM per
   modality with decision-level fusion (:mod:`emofast.experiments.fusion`; the corpora are then
   generated with video);
6. optionally (``joint``) joint cross-domain learning with the source on the target's folds
   (:func:`~emofast.experiments.joint.evaluate_joint`: target only, source only, combined and
   contrastive; the Table 7 rows join the report);
7. write one report (tables, JSON with every fold, and plots when asked for).

Everything runs through :mod:`emofast.dataset`, the fold loop of
:mod:`emofast.experiments.crossval` and :mod:`emofast.report`; this module only chooses settings.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from emofast.errors import InputError
from emofast.experiments.baseline import BaselineConfig, evaluate_cnn, pretrain

__all__ = ["DemoSettings", "run_demo", "FUSION_ROWS"]

#: Rows of the demo's fusion stage (``emofast fuse`` runs every method).
FUSION_ROWS = ("audio", "video", "lr", "ensemble", "ensemble+prior", "lr+ensemble+prior:audio")

_PROTOCOL_ROWS = {"kfold": "{k}-fold by utterance", "loso": "leave-one-speaker-out",
                  "segment": "{k}-fold by segment", "speaker-kfold": "{k}-fold by speaker",
                  "split": "official split"}


@dataclass
class DemoSettings:
    """What ``emofast demo`` runs.

    Attributes
    ----------
    quick : bool
        Smaller corpora and runs (the smoke test).
    target, source : str
        Demo corpora: the one evaluated, and the source of the transfer stages.
    protocols : tuple of str
        Protocols of the baseline.
    finetune : bool
        Also pretrain the baseline on the source and fine-tune it under the first protocol.
    pathnet : bool
        Run PathNet scratch vs transfer (k-fold by utterance).
    fusion : bool
        Run the audio-visual fusion stage (k-fold by utterance; :data:`FUSION_ROWS`).
    fusion_epochs : int
        Epochs of its per-modality LSTMs.
    joint : bool
        Run the joint-learning stage (k-fold by utterance, :meth:`joint_config`).
    baseline : BaselineConfig
    folds, repeats, seed : int
    progress, plots : bool
    """

    quick: bool = False
    target: str = "demo_phone"
    source: str = "demo_studio"
    protocols: tuple[str, ...] = ("kfold", "loso")
    finetune: bool = True
    pathnet: bool = True
    fusion: bool = False
    fusion_epochs: int = 30
    joint: bool = True
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    folds: int = 5
    repeats: int = 1
    seed: int = 0
    progress: bool = True
    plots: bool = True

    def joint_config(self):
        """Algorithm 1's settings of the joint stage: the baseline's recipe, mini-batches of
        K = 2 per corpus (the paper), λ = (1, 1, 0.01). Quick: 40 steps per fold."""
        from emofast.train.joint import JointConfig

        b = self.baseline
        return JointConfig(epochs=b.epochs, lr=b.lr, batch_size=2, steps=40 if self.quick else None,
                           progress=self.progress, seed=self.seed)

    def pathnet_config(self):
        """Quick: population 8, 6 generations, 4 steps per contender. Full: population 20, 30
        generations, one epoch but at least 20 SGD steps per contender (a demo corpus's ~240
        training segments make the papers' epoch 3 steps of 64: ``EvolveConfig.min_steps``)."""
        from emofast.train.evolve import EvolveConfig

        if self.quick:
            return EvolveConfig(population=8, generations=6, steps_per_epoch=4)
        return EvolveConfig(generations=30, min_steps=20)


def run_demo(settings: DemoSettings, *, out: Path, cache: Path,
             say: Callable[[str], None] = print, notice: TextIO | None = None,
             command_line: list[str] | None = None) -> dict[str, Any]:
    """Run the demo and write its report into ``out``.

    Parameters
    ----------
    settings : DemoSettings
    out : Path
        Report folder (created).
    cache : Path
        Generated corpora (``cache/corpora``) and features (``cache/features``).
    say : callable
        Receives one line per step and result.
    notice : text stream, optional
        Where the one-line "matplotlib missing" notice goes.
    command_line : list of str, optional
        Recorded in ``results.json``.

    Returns
    -------
    dict
        ``write_report``'s result plus ``evaluations`` and ``seconds``.
    """
    from emofast import dataset
    from emofast.corpora import load_corpus, select_modality
    from emofast.report import write_report
    from emofast.store import FeatureStore
    from emofast.synthetic import make_demo_corpora

    s = settings
    t_start = time.perf_counter()
    n_steps = 4 + s.pathnet + s.fusion + s.joint
    mode = "quick" if s.quick else "full"
    if s.source == s.target and (s.finetune or s.pathnet or s.joint):
        raise InputError(f"--source and --target are both {s.target!r}; transfer needs two "
                         "corpora")

    say(f"[1/{n_steps}] demo corpora ({mode}) in {cache / 'corpora'}")
    t = time.perf_counter()
    roots = make_demo_corpora(cache / "corpora", seed=s.seed, quick=s.quick, video=s.fusion)
    for name in (s.target, s.source):
        if name not in roots:
            raise InputError(f"unknown demo corpus {name!r}; choose from {sorted(roots)}")
    say(f"      {', '.join(sorted(roots))} ready ({time.perf_counter() - t:.1f} s)")

    # One feature store per generated corpus set: quick/full and other seeds reuse utterance ids
    # (same label and speaker) for different audio, and a store keys records by id.
    store_root = cache / "features" / roots[s.target].parent.name
    say(f"[2/{n_steps}] log-Mel features into {store_root}")
    t = time.perf_counter()
    store = FeatureStore(store_root)
    data = {}
    for name in [s.target] + ([s.source] if s.pathnet or s.finetune or s.joint else []):
        utts = select_modality(load_corpus("demo", roots[name]).utterances, "audio")
        fs = store.extract(name, utts, "audio", progress=s.progress)
        data[name] = dataset.from_feature_set(fs, None if name == s.target
                                              else data[s.target].classes)
        say(f"      {name}: {data[name].summary()}")
    say(f"      ({time.perf_counter() - t:.1f} s)")

    target = data[s.target]
    runs = [(p, False) for p in s.protocols] + ([(s.protocols[0], True)] if s.finetune else [])
    say(f"[3/{n_steps}] baseline GroupNorm CNN ({s.baseline.width}) on {s.target}: "
        f"{', '.join(s.protocols)}{' + fine-tuned from ' + s.source if s.finetune else ''}, "
        f"{s.baseline.epochs} epochs")
    evaluations = []
    for protocol, finetune in runs:
        row = _PROTOCOL_ROWS[protocol].format(k=s.folds)
        init, label = None, f"GN-CNN {s.target} {row}"
        if finetune:
            t = time.perf_counter()
            init, _ = pretrain(data[s.source], s.baseline, seed=s.seed, progress=s.progress)
            say(f"      pretrained on {s.source} ({time.perf_counter() - t:.1f} s)")
            label = f"GN-CNN {s.source}->{s.target} {row}"
        ev = evaluate_cnn(target, protocol, s.baseline, name=label, init_state=init,
                          folds=s.folds, repeats=s.repeats, seed=s.seed, progress=s.progress)
        ev.info.update(pretrained_on=s.source if finetune else None)
        say(f"      {label[7:]}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}  "
            f"({len(ev.folds)} folds, {ev.seconds:.1f} s)")
        evaluations.append(ev)

    extra_plots = []
    if s.pathnet:
        from emofast.experiments.pathnet import curves_figure, pathway_figure, scratch_vs_transfer

        say(f"[4/{n_steps}] PathNet {s.source} -> {s.target}: scratch vs transfer")
        t = time.perf_counter()
        arms = scratch_vs_transfer(target, sources=[data[s.source]], protocol="kfold",
                                   folds=2 if s.quick else s.folds, config=s.pathnet_config(),
                                   seed=s.seed)
        for ev in arms.values():
            say(f"      {ev.name}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}")
        evaluations += list(arms.values())
        extra_plots = [curves_figure(list(arms.values())), pathway_figure(arms["transfer"])]
        say(f"      done ({time.perf_counter() - t:.1f} s)")

    if s.fusion:
        from emofast.experiments.fusion import FusionConfig, evaluate_fusion

        say(f"[{n_steps - 1 - s.joint}/{n_steps}] audio-visual fusion on {s.target}: one LSTM per modality, "
            f"{s.fusion_epochs} epochs, {s.folds}-fold by utterance")
        t = time.perf_counter()
        utts = select_modality(load_corpus("demo", roots[s.target]).utterances, "video")
        video = dataset.from_feature_set(store.extract(s.target, utts, "video",
                                                       progress=s.progress), target.classes)
        say(f"      {s.target} faces: {video.summary()}")
        fused = evaluate_fusion({"audio": target, "video": video}, "kfold",
                                FusionConfig(epochs=s.fusion_epochs), folds=s.folds, seed=s.seed,
                                methods=FUSION_ROWS)
        for ev in fused:
            ev.name = f"fusion {ev.name}"
            say(f"      {ev.name}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}")
        evaluations += fused
        say(f"      done ({time.perf_counter() - t:.1f} s)")

    tables = None
    if s.joint:
        from emofast.experiments.joint import evaluate_joint
        from emofast.report import cross_corpus_table

        jc = s.joint_config()
        folds = 2 if s.quick else s.folds
        say(f"[{n_steps - 1}/{n_steps}] joint learning {s.source} + {s.target}: target only, "
            f"source only, combined, contrastive; {folds}-fold by utterance, "
            f"{jc.steps or f'{jc.epochs} epochs of'} steps of K={jc.batch_size}")
        t = time.perf_counter()
        joint = list(evaluate_joint(target, data[s.source], "kfold", jc,
                                    width=s.baseline.width, dropout=s.baseline.dropout,
                                    folds=folds, seed=s.seed, progress=s.progress).values())
        for ev in joint:
            say(f"      {ev.info['arm_label']}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}")
        evaluations += joint
        tables = "\n\n".join(cross_corpus_table(
            joint, metric=m, title=f"Table 7 shape: {m.upper()} on {s.target}, joint learning "
                                   f"with {s.source}") for m in ("war", "uar"))
        say(f"      done ({time.perf_counter() - t:.1f} s)")

    say(f"[{n_steps}/{n_steps}] report in {out}")
    title = (f"emofast demo ({mode}): {s.target} audio, utterance-level scores unless marked "
             f"* (per-emotion columns are recall)")
    report = write_report(out, evaluations, title=title, plots=s.plots, notice=notice,
                          extra_plots=extra_plots, extra_text=tables,
                          extra_json={"command": command_line, "target": s.target,
                                      "source": s.source, "mode": mode})
    return {**report, "evaluations": evaluations, "seconds": time.perf_counter() - t_start}
