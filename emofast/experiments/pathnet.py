"""PathNet scratch vs transfer (the PathNet papers' Table 3 and Figs. 9-10, 15) on the fold loop.

Each fold of the target's protocol runs two arms through
:func:`~emofast.experiments.crossval.cross_validate`:

- **scratch**: a PathNet evolved on the fold's training segments only;
- **transfer**: a PathNet first evolved on the source data (several sources are pooled: the
  papers' A eNTER+SAV -> EMO), then transferred by :func:`emofast.train.evolve.transfer` (best
  source pathway frozen, every other module re-initialised, a new head) and re-evolved on the
  same training segments, through :func:`~emofast.train.evolve.evolve_chain`.

Inputs are flattened (``3 × 64 × 64`` -> 12288) and standardised per feature: the target with the
statistics of each fold's training side, the pooled source with its own. Test utterances are scored
by averaging their segments' posteriors. Both arms of a fold share its seed, so a fold run alone
gives the same numbers as in a full run.

Examples
--------
>>> from emofast import dataset                                              # doctest: +SKIP
>>> from emofast.experiments.pathnet import scratch_vs_transfer               # doctest: +SKIP
>>> target = dataset.load("emodb", store="features/")                        # doctest: +SKIP
>>> source = dataset.load("ravdess", store="features/")                      # doctest: +SKIP
>>> arms = scratch_vs_transfer(target, sources=[source], protocol="loso")    # doctest: +SKIP
>>> arms["transfer"].scores.uar                                               # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emofast.dataset import SegmentData, Standardizer, encode_labels
from emofast.errors import InputError
from emofast.experiments.crossval import Fold, FoldOutput, FitFold, cross_validate
from emofast.report.evaluation import Evaluation
from emofast.train.checkpoint import fingerprint
from emofast.train.evolve import EvolveConfig, Stage, evolve, evolve_chain

__all__ = ["pool_sources", "scratch_fold", "transfer_fold", "scratch_vs_transfer",
           "pathway_figure", "curves_figure"]


def pool_sources(sources: Sequence[SegmentData], name: str | None = None) -> Stage:
    """One source stage from one or several corpora: segments flattened and pooled, classes
    numbered over the union of their emotion names, features standardised by the pooled data's
    own statistics."""
    if not sources:
        raise InputError("pool_sources: need at least one source")
    classes = sorted({c for s in sources for c in s.classes})
    X = np.concatenate([s.arrays().reshape(len(s.X), -1) for s in sources])
    names = [s.classes[i] for s in sources for i in s.segment_labels]
    y, _ = encode_labels(names, classes)
    X = Standardizer.fit(X, per="feature")(X)
    return Stage(name or "+".join(s.corpus or "source" for s in sources), X, y, len(classes))


def _posteriors(net: Any, X: np.ndarray, genotype: np.ndarray, task: int,
                fixed: Any = None) -> np.ndarray:
    import torch

    return net.predict_proba(torch.from_numpy(X), torch.from_numpy(np.asarray(genotype)[None]),
                             task, fixed)[0].numpy()


def _curve(result: Any) -> dict[str, list[float]]:
    curve = {"best_fitness": [h["best_fitness"] for h in result.history]}
    if result.history and "eval" in result.history[0]:
        curve["test_acc"] = [h["eval"] for h in result.history]
    return curve


def scratch_fold(config: EvolveConfig = EvolveConfig(), *, curves: bool = True,
                 progress: bool = False) -> FitFold:
    """Fit callback: a PathNet evolved from scratch on the fold's training segments."""
    import torch

    from emofast.nn.pathnet import PathNet

    def fit_fold(fold: Fold) -> FoldOutput:
        net = PathNet(fold.X_train.shape[1], fold.n_classes,
                      generator=torch.Generator().manual_seed(fold.seed))

        def predict(g: np.ndarray) -> np.ndarray:
            return _posteriors(net, fold.X_test, g, 0)

        ckpt = None if fold.checkpoint_dir is None else os.path.join(fold.checkpoint_dir, "evolve.pt")
        res = evolve(net, fold.X_train, fold.y_train, task=0, config=config, seed=fold.seed,
                     evaluate=(lambda g: fold.test_accuracy(predict(g))) if curves else None,
                     progress=progress, standardize=False, checkpoint=ckpt, identity=fold.identity)
        return FoldOutput(predict(res.best), curve=_curve(res),
                          info={"best": res.best.tolist(), "best_fitness": res.best_fitness})

    return fit_fold


def transfer_fold(source: Stage, config: EvolveConfig = EvolveConfig(), *, curves: bool = True,
                  progress: bool = False) -> FitFold:
    """Fit callback: evolve on ``source`` (from :func:`pool_sources`), transfer, re-evolve on the
    fold's training segments."""
    import torch

    from emofast.nn.pathnet import PathNet

    def fit_fold(fold: Fold) -> FoldOutput:
        net = PathNet(fold.X_train.shape[1], (), generator=torch.Generator().manual_seed(fold.seed))
        target = Stage("target", fold.X_train, fold.y_train, fold.n_classes)

        def predict(g: np.ndarray) -> np.ndarray:
            return _posteriors(net, fold.X_test, g, 1, net.frozen.cpu())

        res_src, res_t = evolve_chain(
            net, [source, target], config=config, seed=fold.seed, progress=progress,
            evaluate=[None, (lambda g: fold.test_accuracy(predict(g))) if curves else None],
            standardize=False, checkpoint_dir=fold.checkpoint_dir, identity=fold.identity)
        return FoldOutput(predict(res_t.best), curve=_curve(res_t),
                          info={"best": res_t.best.tolist(), "best_fitness": res_t.best_fitness,
                                "source_best_fitness": res_src.best_fitness,
                                "fixed_modules": res_t.fixed.astype(int).tolist()})

    return fit_fold


def scratch_vs_transfer(
    data: SegmentData,
    *,
    sources: Sequence[SegmentData] = (),
    protocol: str = "kfold",
    folds: int = 5,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    config: EvolveConfig = EvolveConfig(),
    seed: int = 0,
    curves: bool = True,
    progress: bool = False,
    on_fold: Callable[[int, int, dict], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Evaluation]:
    """Scratch vs transfer PathNet on ``data`` under one protocol.

    Parameters
    ----------
    data : SegmentData
        The target corpus.
    sources : sequence of SegmentData
        Source corpora (pooled); empty: the scratch arm only.
    protocol : {"kfold", "loso", "segment"}
        ``segment`` is the papers' leaky segment-level split (rows marked ``*``).
    folds, max_folds, fold_indices, seed, on_fold
        As in :func:`~emofast.experiments.crossval.cross_validate` (``fold_indices`` 0-based).
    config : EvolveConfig
        Same for source, target and scratch evolutions.
    curves : bool
        Record the test accuracy of the best pathway after every generation (learning curves;
        nothing is selected on it).
    progress : bool
    checkpoint_dir : path, optional
        Make the run resumable: each arm checkpoints in ``<checkpoint_dir>/<arm>`` (see
        :func:`~emofast.experiments.crossval.cross_validate`): finished folds are skipped on a
        rerun, the unfinished fold's evolutions resume at their last generation (one file per
        evolution, ``fold<i>/evolve.pt`` or ``fold<i>/stage<j>.pt``), and the result is the one
        of an uninterrupted run. Files of another run raise ``StoreError``.

    Returns
    -------
    dict of str to Evaluation
        ``"scratch"`` and, with sources, ``"transfer"``; per-fold pathways in ``.folds``.
    """
    config = config.validate()
    common = dict(folds=folds, max_folds=max_folds, fold_indices=fold_indices, seed=seed,
                  standardize="feature", flatten=True, curve_unit="generation", on_fold=on_fold)
    settings = {"model": "PathNet", "evolve": vars(config).copy()}

    def arm_dir(arm: str) -> str | None:
        return None if checkpoint_dir is None else os.path.join(os.fspath(checkpoint_dir), arm)

    arms = {"scratch": cross_validate(
        data, protocol, scratch_fold(config, curves=curves, progress=progress),
        name=f"PathNet scratch, {protocol}", info=settings, checkpoint_dir=arm_dir("scratch"),
        identity={"curves": curves}, **common)}
    if sources:
        source = pool_sources(sources)
        arms["transfer"] = cross_validate(
            data, protocol, transfer_fold(source, config, curves=curves, progress=progress),
            name=f"PathNet {source.name} -> {data.corpus or 'target'}, {protocol}",
            info={**settings, "sources": [s.corpus for s in sources],
                  "source_segments": int(len(source.y))}, checkpoint_dir=arm_dir("transfer"),
            identity={"curves": curves, "source": fingerprint(source.X, source.y)}, **common)
    return arms


def pathway_figure(evaluation: Evaluation, *, num_modules: int = 20, fold: int = 0,
                   title: str | None = None) -> Callable[[Path, Any], list[Path]]:
    """A ``write_report(extra_plots=...)`` callable drawing the best pathway of one fold
    (``fold``: position among the folds run) with the modules it reuses from the source."""
    from emofast.report.pathways import draw_pathways

    def draw(out: Path, plt: Any) -> list[Path]:
        details = evaluation.folds[fold]
        fixed = details.get("fixed_modules")
        return [draw_pathways(
            out / "pathways.png", plt, num_modules=num_modules, best=np.asarray(details["best"]),
            fixed=None if fixed is None else np.asarray(fixed, dtype=bool), fold=details["fold"],
            title=title or f"{evaluation.name}: best pathway (blue), transferred modules (red)")]

    return draw


def curves_figure(evaluations: Sequence[Evaluation]) -> Callable[[Path, Any], list[Path]]:
    """A ``write_report(extra_plots=...)`` callable drawing the arms' learning curves in one
    figure (test accuracy of the best pathway per generation, with and without transfer: Fig. 15)."""
    from emofast.report.plots import plot_learning_curves

    def draw(out: Path, plt: Any) -> list[Path]:
        path = plot_learning_curves(list(evaluations), out / "learning_curves.png", plt,
                                    title="PathNet: scratch vs transfer")
        return [] if path is None else [path]

    return draw
