"""``emofast evolve``: PathNet pathway evolution, scratch vs transfer, with reports.

Each ``--target`` / ``--source`` is either a feature archive (``.npz``) or a corpus of a feature
store written by ``emofast features <corpus> <root> --out STORE``:

    emofast evolve --store STORE --target emodb --source demo_studio --source demo_street --protocol loso

Archives hold ``X`` (n_segments, 3, 64, 64) float32, ``groups`` (utterance index of every segment),
``labels`` (emotion name of every utterance) and ``speakers`` (speaker of every utterance). Store
corpora are opened with ``FeatureStore(STORE).open(corpus, modality)`` (``--source-store`` when the
sources live in another store). Several sources are pooled (multi-source transfer, the papers'
A eNTER+SAV -> EMO). Classes are the sorted emotion names present in the target; the pooled
sources' classes are numbered over the union of their names (each task has its own head).
Features are standardised per feature with the statistics of each fold's training split (sources:
of the pooled source data). Writes results.txt/results.json (every fold), table.txt, learning
curves and the pathway figure to --out.

Runs are resumable: every finished fold and, within a fold, every evolution after each generation
is checkpointed in --checkpoint-dir (default <out>/checkpoints); killed and rerun with the same
command, the run skips finished folds, resumes the unfinished one at its last generation and ends
with the result of an uninterrupted run. A checkpoint folder of another run (other seed, data,
settings or protocol) is refused with the file and the field that differs.

Scaling out: ``torchrun --nproc-per-node N -m emofast evolve ...`` (no flag needed) trains each
generation's contenders on N ranks, contender j on rank j mod N, their SGD updates summed after every
step; use --tournaments K with 2K >= N to keep every rank busy. With --mode parallel the result is
the one-process result up to float rounding; with --mode sequential it depends on N, and the
checkpoints record N (resume with the same N). Rank 0 prints and writes every file.
"""
from __future__ import annotations

import argparse
import sys

from emofast.commands import (add_checkpoint_args, add_fold_args, announce_resumes, checkpoint_dir,
                              fold_indices, prepare_out, print_fold, set_threads)


def register(subparsers) -> None:
    from emofast.protocols import PROTOCOLS

    p = subparsers.add_parser("evolve", help="evolve PathNet pathways: scratch vs transfer, with reports",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True,
                   help="target: a feature archive (.npz) or a corpus name in --store")
    p.add_argument("--source", action="append", default=[],
                   help="source: a feature archive (.npz) or a corpus name in --source-store/--store; repeat to pool")
    p.add_argument("--store", default=None, metavar="STORE", help="feature store of the target (and sources)")
    p.add_argument("--source-store", default=None, metavar="STORE", help="feature store of the sources "
                   "(default: --store)")
    p.add_argument("--modality", choices=["audio", "video", "image"], default="audio",
                   help="feature set opened in stores")
    p.add_argument("--protocol", choices=PROTOCOLS, default="kfold",
                   help="kfold by utterance, leave-one-speaker-out, k folds by speaker, the corpus's "
                        "official split, or the papers' leaky segment split")
    p.add_argument("--folds", type=int, default=5, help="k of kfold/speaker-kfold/segment (default 5)")
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
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads; 0 keeps torch's default (all cores), as before [%(default)s]")
    add_fold_args(p)
    add_checkpoint_args(p)
    p.set_defaults(run=run, distributed=True)


def run(args) -> int:
    """Run ``emofast evolve``."""
    from emofast import dataset
    from emofast.distributed import on_main
    from emofast.experiments.pathnet import curves_figure, pathway_figure, scratch_vs_transfer
    from emofast.report import recall_table, write_report
    from emofast.train.evolve import EvolveConfig

    out = prepare_out(args.out)
    set_threads(args.threads)
    target = dataset.load(args.target, store=args.store, modality=args.modality)
    sources = [dataset.load(s, store=args.source_store or args.store, modality=args.modality)
               for s in args.source]
    print(f"target {target.corpus}: {target.summary()}", flush=True)
    for s in sources:
        print(f"source {s.corpus}: {s.summary()}", flush=True)
    cfg = EvolveConfig(population=args.population, generations=args.generations, lr=args.lr,
                       steps_per_epoch=args.steps_per_epoch, min_steps=args.min_steps,
                       mode=args.mode, tournaments=args.tournaments, boundary=args.boundary,
                       mutate=args.mutate).validate()
    ckpt = checkpoint_dir(args, out)
    with announce_resumes("  "):
        arms = scratch_vs_transfer(target, sources=sources, protocol=args.protocol, folds=args.folds,
                                   max_folds=args.max_folds, fold_indices=fold_indices(args),
                                   config=cfg, seed=args.seed, curves=not args.no_curves,
                                   progress=not args.no_progress, on_fold=print_fold("  "),
                                   checkpoint_dir=ckpt)
    evaluations = list(arms.values())
    plots = [curves_figure(evaluations)]
    if "transfer" in arms:
        plots.append(pathway_figure(arms["transfer"]))
    n_folds = len(evaluations[0].folds)
    title = (f"emofast evolve: PathNet on {target.corpus}, {args.protocol}, {n_folds} fold(s), "
             f"{cfg.generations} generations")
    report = on_main(write_report, out, evaluations, title=title, plots=not args.no_plots,
                     notice=sys.stdout, extra_plots=plots,
                     extra_json={"command": getattr(args, "command_line", None),
                                 "target": args.target, "sources": args.source,
                                 "store": args.store,
                                 "source_store": args.source_store or args.store})
    table = recall_table({ev.name: ev.recall_row() for ev in evaluations}, target.classes)
    on_main((out / "table.txt").write_text, table + "\n")
    print(report["summary"])
    seconds = sum(ev.seconds for ev in evaluations)
    print(f"{n_folds} fold(s), {seconds:.0f} s; outputs in {out}")
    return 0
