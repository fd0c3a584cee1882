"""``emofast evolve``: PathNet pathway evolution, scratch vs transfer, with reports.

Each ``--target`` / ``--source`` is either a feature archive (``.npz``) or a corpus of a feature
store written by ``emofast features <corpus> <root> --out STORE``:

    emofast evolve --store STORE --target emodb --source demo_studio --source demo_street --protocol loso

Archives hold ``X`` (n_segments, 3, 64, 64) float32, ``groups`` (utterance index of every segment),
``labels`` (emotion name of every utterance) and ``speakers`` (speaker of every utterance). Store
corpora are opened with ``FeatureStore(STORE).open(corpus, modality)`` (``--source-store`` when the
sources live in another store). Several sources are pooled (multi-source transfer, the papers'
A eNTER+SAV -> EMO). Classes are the sorted union of the target's emotion names; source classes are
indexed separately (each task has its own head). Features are standardised per feature with the
statistics of each fold's training split (sources: of the pooled source data).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser("evolve", help="evolve PathNet pathways: scratch vs transfer, with reports",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True,
                   help="target: a feature archive (.npz) or a corpus name in --store")
    p.add_argument("--source", action="append", default=[],
                   help="source: a feature archive (.npz) or a corpus name in --source-store/--store; repeat to pool")
    p.add_argument("--store", default=None, metavar="STORE", help="feature store of the target (and sources)")
    p.add_argument("--source-store", default=None, metavar="STORE", help="feature store of the sources "
                   "(default: --store)")
    p.add_argument("--modality", choices=["audio", "video"], default="audio", help="feature set opened in stores")
    p.add_argument("--protocol", choices=["kfold", "loso", "segment"], default="kfold",
                   help="kfold by utterance, leave-one-speaker-out, or the papers' leaky segment split")
    p.add_argument("--folds", type=int, default=5, help="k of kfold/segment (default 5)")
    p.add_argument("--max-folds", type=int, default=None, help="evaluate only the first folds")
    p.add_argument("--fold-indices", type=int, nargs="+", default=None, metavar="I",
                   help="evaluate only these folds, 1-based in the protocol's fold order (LOSO: sorted "
                        "speakers); each keeps its own seed, so runs of disjoint folds can be pooled")
    p.add_argument("--generations", type=int, default=200)
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--mode", choices=["sequential", "parallel"], default="sequential")
    p.add_argument("--tournaments", type=int, default=1, help="disjoint tournaments per generation")
    p.add_argument("--boundary", choices=["wrap", "clamp"], default="wrap")
    p.add_argument("--mutate", choices=["loser", "winner"], default="loser")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="default: train size // 64")
    p.add_argument("--min-steps", type=int, default=1,
                   help="minimum SGD steps per contender per generation (default 1: the papers' one epoch)")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="pathnet_out", help="output folder (json, table, plots)")
    p.add_argument("--no-curves", action="store_true", help="skip per-generation test evaluation")
    p.set_defaults(run=run)


def _load_store(store: str | None, corpus: str, modality: str, what: str):
    from emofast.store import FeatureStore

    if store is None:
        raise ValueError(f"emofast evolve: {what} {corpus!r} is not a .npz archive; pass --store "
                         f"(a feature store written by 'emofast features') to read it from a store")
    if not os.path.isdir(store):
        raise FileNotFoundError(f"emofast evolve: no such feature store: {store}")
    fs = FeatureStore(store).open(corpus, modality)
    if not fs.utterances:
        raise ValueError(f"emofast evolve: {fs.summary()} has no utterances")
    rows = fs.rows()
    names = [r.label for r in fs.utterances]
    classes = sorted(set(names))
    utt = np.array([classes.index(n) for n in names], dtype=np.int64)
    groups = fs.segment_groups()[rows]
    X = np.asarray(fs.features[rows], dtype=np.float32)
    return X, utt[groups], groups, utt, fs.speakers(), classes


def _load(path: str, classes: list[str] | None = None, *, store: str | None = None, modality: str = "audio",
          what: str = "target"):
    if not path.endswith(".npz") and not os.path.isfile(path):
        return _load_store(store, path, modality, what)
    if not os.path.exists(path):
        raise FileNotFoundError(f"emofast evolve: no such feature archive: {path}")
    d = np.load(path, allow_pickle=False)
    missing = {"X", "groups", "labels", "speakers"} - set(d.files)
    if missing:
        raise ValueError(f"emofast evolve: {path} lacks {sorted(missing)} (needs X, groups, labels, speakers)")
    names = [str(s) for s in d["labels"]]
    classes = sorted(set(names)) if classes is None else classes
    utt = np.array([classes.index(n) for n in names], dtype=np.int64)
    groups = d["groups"].astype(np.int64)
    return d["X"], utt[groups], groups, utt, d["speakers"], classes


def run(args) -> int:
    from emofast.experiments.pathnet import draw_pathways, per_emotion_table, plot_learning_curves, scratch_vs_transfer
    from emofast.train.evolve import EvolveConfig

    X, seg_y, groups, utt_y, speakers, classes = _load(args.target, store=args.store, modality=args.modality)
    sources = []
    for s in args.source:
        Xs, ys, *_ = _load(s, store=args.source_store or args.store, modality=args.modality, what="source")
        sources.append((Xs, ys))
    cfg = EvolveConfig(population=args.population, generations=args.generations, lr=args.lr,
                       steps_per_epoch=args.steps_per_epoch, min_steps=args.min_steps, mode=args.mode, tournaments=args.tournaments,
                       boundary=args.boundary, mutate=args.mutate).validate()
    res = scratch_vs_transfer(X, seg_y, groups, utt_y, speakers, sources=sources, protocol=args.protocol,
                              k=args.folds, max_folds=args.max_folds,
                              fold_indices=None if args.fold_indices is None else [i - 1 for i in args.fold_indices],
                              config=cfg, seed=args.seed,
                              curves=not args.no_curves, progress=True)
    os.makedirs(args.out, exist_ok=True)
    res["classes"] = classes
    res["target"], res["sources"] = args.target, args.source
    res["store"], res["source_store"] = args.store, args.source_store or args.store
    with open(os.path.join(args.out, "pathnet.json"), "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    leak = " (LEAKY segment split)" if res["leaky"] else ""
    rows = {f"scratch, {args.protocol}{leak}": res["scratch"]}
    if "transfer" in res:
        rows[f"transfer, {args.protocol}{leak}"] = res["transfer"]
    table = per_emotion_table(rows, classes)
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write(table + "\n")
    if not args.no_curves:
        plot_learning_curves(res, os.path.join(args.out, "learning_curves.png"))
    fd = res["folds"][0]
    if "target_best" in fd:
        draw_pathways(np.asarray([fd["target_best"]]), 20, os.path.join(args.out, "pathways.png"),
                      best=np.asarray(fd["target_best"]), fixed=np.asarray(fd["fixed_modules"], dtype=bool),
                      title="target best pathway (blue), transferred modules (red)")
    print(table)
    print(f"{res['n_folds']} fold(s), {res['seconds']:.0f} s; outputs in {args.out}")
    return 0
