"""PathNet scratch-vs-transfer experiments on plain arrays, and their reports.

Inputs are what the feature store yields: segments ``X`` ``(n_segments, 3, 64, 64)`` float32
(flattened to 12288 for PathNet), segment labels, segment -> utterance indices, utterance labels
and speakers. Protocols come from :mod:`emofast.protocols` ("kfold" by utterance, "loso"
leave-one-speaker-out, and the papers' "segment" split, which **leaks** segments of one utterance
into train and test and is reported only to reproduce the papers' setting). Each fold evolves a
PathNet from scratch on the target training split, and a PathNet first evolved on the source data
(pooled when several sources are given) then transferred (best source pathway fixed, the rest
re-initialised) to the same training split. Test utterances are scored by averaging their
segments' posteriors. Inputs are standardised per feature (mean 0, std 1 over the segments of each
fold's *training* split only; the source data with its own statistics), so raw log-Mel dB values
(about -100...+25) never reach the network and no test statistics leak into training.

Reports: :func:`per_emotion_table` (the papers' Table 3), :func:`plot_learning_curves` (test
accuracy of the best pathway per generation with and without transfer, Fig. 15),
:func:`draw_pathways` (population and best/fixed pathways, Figs. 9-10).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from emofast.nn.pathnet import PathNet
from emofast.train.evolve import EvolveConfig, EvolveResult, Stage, evolve, evolve_chain

__all__ = [
    "scratch_vs_transfer",
    "per_emotion_table",
    "plot_learning_curves",
    "draw_pathways",
    "demo_stage",
]


def _flat(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(X.shape[0], -1)


def _standardizer(X: np.ndarray):
    mu = X.mean(0, keepdims=True)
    sd = X.std(0, keepdims=True) + 1e-5
    return lambda A: ((A - mu) / sd).astype(np.float32)


def _utterance_posteriors(net: PathNet, X: np.ndarray, groups: np.ndarray, n_utt: int, genotype: np.ndarray,
                          task: int, fixed: np.ndarray | None) -> np.ndarray:
    fx = None if fixed is None else torch.from_numpy(np.asarray(fixed, dtype=bool))
    post = net.predict_proba(torch.from_numpy(X), torch.from_numpy(genotype[None]), task, fx)[0].numpy()
    out = np.zeros((n_utt, post.shape[1]))
    np.add.at(out, groups, post)
    cnt = np.bincount(groups, minlength=n_utt)[:, None]
    return out / np.maximum(cnt, 1)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    recall = np.array([np.mean(y_pred[y_true == c] == c) if np.any(y_true == c) else np.nan for c in range(n_classes)])
    return {"war": float(np.mean(y_pred == y_true)), "uar": float(np.nanmean(recall)), "recall": recall.tolist()}


def _splits(protocol: str, utt_labels, speakers, seg_labels, k: int, seed: int):
    from emofast import protocols

    return protocols.make_splits(protocol, labels=np.asarray(utt_labels), speakers=np.asarray(speakers),
                                 segment_labels=np.asarray(seg_labels), k=k, seed=seed)


def scratch_vs_transfer(
    X,
    seg_labels,
    seg_groups,
    utt_labels,
    speakers,
    *,
    sources: Sequence[tuple] = (),
    protocol: str = "kfold",
    k: int = 5,
    max_folds: int | None = None,
    fold_indices: Sequence[int] | None = None,
    config: EvolveConfig = EvolveConfig(),
    seed: int = 0,
    curves: bool = True,
    progress: bool = False,
) -> dict:
    """Scratch vs transfer PathNet under one protocol.

    Parameters
    ----------
    X : array (n_segments, ...)
        Target segments.
    seg_labels, seg_groups : arrays (n_segments,)
        Class index and utterance index of every segment.
    utt_labels, speakers : arrays (n_utterances,)
        Class index and speaker of every utterance.
    sources : sequence of (X_src, y_src)
        Source segment arrays and class indices (several are pooled); empty: scratch only.
    protocol : {"kfold", "loso", "segment"}
        "segment" is the papers' leaky segment-level split.
    k, max_folds : int
        Folds of "kfold"/"segment"; ``max_folds`` evaluates only the first folds.
    fold_indices : sequence of int, optional
        Evaluate only these folds (0-based, in the protocol's fold order; applied after
        ``max_folds``). Each fold keeps the seed of its index (``seed * 1000 + index``), so a fold run
        alone gives the same result as in a full run and runs of disjoint folds can be pooled.
    config : EvolveConfig
        Same for source, target and scratch runs.
    seed : int
    curves : bool
        Record the test WAR of the best pathway after every generation.

    Returns
    -------
    dict
        ``{"protocol", "leaky", "folds": [...], "scratch": {war, uar, recall}, "transfer": {...},
        "seconds"}`` with means over folds.
    """
    X = _flat(X)
    seg_labels = np.asarray(seg_labels, dtype=np.int64)
    seg_groups = np.asarray(seg_groups, dtype=np.int64)
    utt_labels = np.asarray(utt_labels, dtype=np.int64)
    n_utt = len(utt_labels)
    C = int(max(utt_labels.max(), seg_labels.max())) + 1
    splits = _splits(protocol, utt_labels, speakers, seg_labels, k, seed)
    if max_folds is not None:
        splits = splits[:max_folds]
    indices = list(range(len(splits)))
    if fold_indices is not None:
        indices = sorted({int(i) for i in fold_indices})
        bad = [i for i in indices if not 0 <= i < len(splits)]
        if bad or not indices:
            raise ValueError(f"fold_indices {list(fold_indices)} out of range: {protocol} has {len(splits)} fold(s)")
    src = None
    if sources:
        Xs = np.concatenate([_flat(s[0]) for s in sources])
        ys = np.concatenate([np.asarray(s[1], dtype=np.int64) for s in sources])
        src = Stage("source", _standardizer(Xs)(Xs), ys, int(ys.max()) + 1)
    t0 = time.perf_counter()
    folds = []
    for f in indices:
        tr, te = splits[f]
        if protocol == "segment":
            seg_tr, seg_te = np.asarray(tr), np.asarray(te)
        else:
            seg_tr = np.flatnonzero(np.isin(seg_groups, tr))
            seg_te = np.flatnonzero(np.isin(seg_groups, te))
        std = _standardizer(X[seg_tr])
        Xtr, ytr = std(X[seg_tr]), seg_labels[seg_tr]
        Xte, gte = std(X[seg_te]), seg_groups[seg_te]
        te_utts = np.unique(gte)
        # utterance index -> position among test utterances
        pos = np.searchsorted(te_utts, gte)

        def score_of(net, res_or_geno, task, fixed):
            post = _utterance_posteriors(net, Xte, pos, len(te_utts), res_or_geno, task, fixed)
            return _scores(utt_labels[te_utts], post.argmax(1), C)

        fold = {"fold": f, "n_train_segments": int(len(seg_tr)), "n_test_utterances": int(len(te_utts))}
        fseed = seed * 1000 + f
        net = PathNet(X.shape[1], C, generator=torch.Generator().manual_seed(fseed))
        ev = (lambda g, net=net: score_of(net, g, 0, None)["war"]) if curves else None
        res = evolve(net, Xtr, ytr, task=0, config=config, seed=fseed, evaluate=ev, progress=progress)
        fold["scratch"] = score_of(net, res.best, 0, None)
        fold["scratch_curve"] = [h.get("eval") for h in res.history]
        if src is not None:
            tnet = PathNet(X.shape[1], (), generator=torch.Generator().manual_seed(fseed))
            tgt = Stage("target", Xtr, ytr, C)
            holder: dict = {}

            def ev_t(g, tnet=tnet, holder=holder):
                return score_of(tnet, g, 1, holder["fixed"])["war"]

            # the target stage's fixed pathway is known once the source stage ends
            res_src = evolve_chain(tnet, [src], config=config, seed=fseed, progress=progress)[0]
            holder["fixed"] = res_src.best_mask(tnet.num_modules)
            tnet.freeze(torch.from_numpy(holder["fixed"].copy()))
            tnet.reset_modules(keep=tnet.frozen.cpu(), generator=torch.Generator().manual_seed(fseed * 7919 + 1))
            task = tnet.add_head(C, generator=torch.Generator().manual_seed(fseed * 7919 + 1))
            res_t = evolve(tnet, Xtr, ytr, task=task, config=config, seed=fseed + 1000, fixed=holder["fixed"],
                           evaluate=ev_t if curves else None, progress=progress)
            fold["transfer"] = score_of(tnet, res_t.best, task, holder["fixed"])
            fold["transfer_curve"] = [h.get("eval") for h in res_t.history]
            fold["source_best_fitness"] = res_src.best_fitness
            fold["fixed_modules"] = holder["fixed"].astype(int).tolist()
            fold["target_best"] = res_t.best.tolist()
        folds.append(fold)
    out = {"protocol": protocol, "leaky": protocol == "segment", "n_folds": len(folds), "folds": folds,
           "config": {k_: v for k_, v in vars(config).items()}, "seconds": time.perf_counter() - t0}
    for arm in ("scratch", "transfer"):
        if all(arm in fd for fd in folds) and folds:
            out[arm] = {"war": float(np.mean([fd[arm]["war"] for fd in folds])),
                        "uar": float(np.mean([fd[arm]["uar"] for fd in folds])),
                        "recall": np.nanmean([fd[arm]["recall"] for fd in folds], axis=0).tolist()}
    return out


def per_emotion_table(results: dict[str, dict], classes: Sequence[str]) -> str:
    """Markdown table like the papers' Table 3: per-emotion recall, WAR and UAR per method.

    ``results`` maps a row name (e.g. "A EMO kfold scratch") to a dict with ``recall``, ``war``, ``uar``.
    """
    head = "| method | " + " | ".join(c[:3].capitalize() for c in classes) + " | WAR | UAR |"
    sep = "|---|" + "---:|" * (len(classes) + 2)
    rows = [head, sep]
    for name, r in results.items():
        rec = " | ".join("-" if v is None or not np.isfinite(v) else f"{v:.2f}" for v in r["recall"])
        rows.append(f"| {name} | {rec} | {r['war']:.2f} | {r['uar']:.2f} |")
    return "\n".join(rows)


def plot_learning_curves(result: dict, path: str | os.PathLike, title: str = "") -> str:
    """Test WAR of the best pathway per generation, with and without transfer (Fig. 15); one line
    per arm, mean over folds. Returns the file path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for arm, style in (("scratch", "--"), ("transfer", "-")):
        curves = [fd.get(f"{arm}_curve") for fd in result["folds"] if fd.get(f"{arm}_curve")]
        if curves and all(c[0] is not None for c in curves):
            m = np.mean(np.array(curves, dtype=float), axis=0)
            ax.plot(np.arange(1, len(m) + 1), m, style, label=f"{arm}")
    ax.set_xlabel("generation")
    ax.set_ylabel("test WAR (best pathway)")
    ax.set_title(title or f"PathNet, {result['protocol']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def draw_pathways(population: np.ndarray, num_modules: int, path: str | os.PathLike, *, best: np.ndarray | None = None,
                  fixed: np.ndarray | None = None, title: str = "") -> str:
    """Draw a PathNet (layers x modules grid), the population's pathways in grey, the best pathway
    in thick blue and fixed (transferred) modules in red, as the papers' Figs. 9-10."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    population = np.asarray(population)
    L = population.shape[1]
    fig, ax = plt.subplots(figsize=(max(4, num_modules * 0.35), 1.4 * L + 1))
    for layer in range(L):
        ax.scatter(np.arange(num_modules), np.full(num_modules, layer), s=60, c="white", edgecolors="k", zorder=3)
    for g in population:
        for layer in range(L - 1):
            for a in set(g[layer].tolist()):
                for b in set(g[layer + 1].tolist()):
                    ax.plot([a, b], [layer, layer + 1], c="0.7", lw=0.5, zorder=1)
    if fixed is not None:
        fl, fm = np.nonzero(np.asarray(fixed))
        ax.scatter(fm, fl, s=90, c="red", zorder=4, label="fixed (transferred)")
    if best is not None:
        best = np.asarray(best)
        for layer in range(L - 1):
            for a in set(best[layer].tolist()):
                for b in set(best[layer + 1].tolist()):
                    ax.plot([a, b], [layer, layer + 1], c="tab:blue", lw=2.5, zorder=2)
        for layer in range(L):
            ax.scatter(best[layer], np.full(len(best[layer]), layer), s=90, c="tab:blue", zorder=5)
    ax.set_yticks(range(L), [f"layer {i + 1}" for i in range(L)])
    ax.set_xticks(range(num_modules))
    ax.set_title(title)
    if fixed is not None:
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def demo_stage(source_X, source_y, target_X, target_y, target_groups, *, out_dir: str | os.PathLike, quick: bool,
               seed: int, target_speakers=None) -> dict:
    """PathNet scratch-vs-transfer stage of ``emofast demo``.

    Parameters
    ----------
    source_X, source_y : arrays
        Source segments ``(n, 3, 64, 64)`` and their class indices.
    target_X, target_y : arrays
        Target segments and their class indices.
    target_groups : array
        Utterance index of every target segment (segments of one utterance never straddle splits).
    out_dir : path
        Receives ``pathnet_demo.json``, the learning curves and a pathway drawing.
    quick : bool
        2 folds, population 8, 6 generations, 4 steps per contender (vs 5 folds, population 20,
        30 generations, one epoch but at least 20 SGD steps per contender: a demo corpus's ~240
        training segments make the papers' epoch 3 steps of 64, ``EvolveConfig.min_steps``).
    seed : int
    target_speakers : array, optional
        Speaker of every target utterance (only used by the LOSO protocol; default: one speaker).

    Returns
    -------
    dict
        ``{"scratch": {...}, "transfer": {...}, "table": markdown, "files": [...]}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    target_y = np.asarray(target_y, dtype=np.int64)
    groups = np.asarray(target_groups, dtype=np.int64)
    _, inv = np.unique(groups, return_inverse=True)
    n_utt = int(inv.max()) + 1
    utt_labels = np.zeros(n_utt, dtype=np.int64)
    utt_labels[inv] = target_y
    speakers = np.zeros(n_utt, dtype=np.int64) if target_speakers is None else np.asarray(target_speakers)
    cfg = (EvolveConfig(population=8, generations=6, steps_per_epoch=4) if quick
           else EvolveConfig(generations=30, min_steps=20))
    res = scratch_vs_transfer(target_X, target_y, inv, utt_labels, speakers, sources=[(source_X, source_y)],
                              protocol="kfold", k=2 if quick else 5, config=cfg, seed=seed)
    files = [plot_learning_curves(res, os.path.join(out_dir, "pathnet_learning_curves.png"),
                                  "PathNet demo: with and without transfer")]
    fd = res["folds"][0]
    files.append(draw_pathways(np.asarray([fd["target_best"]]), 20, os.path.join(out_dir, "pathnet_pathways.png"),
                               best=np.asarray(fd["target_best"]), fixed=np.asarray(fd["fixed_modules"], dtype=bool),
                               title="target best pathway (blue) and transferred modules (red)"))
    C = len(res["scratch"]["recall"])
    table = per_emotion_table({"scratch": res["scratch"], "transfer": res["transfer"]}, [str(c) for c in range(C)])
    with open(os.path.join(out_dir, "pathnet_demo.json"), "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    files.append(os.path.join(out_dir, "pathnet_demo.json"))
    return {"scratch": res["scratch"], "transfer": res["transfer"], "table": table, "files": files,
            "seconds": res["seconds"]}
