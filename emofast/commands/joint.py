"""``emofast joint``: joint cross-domain learning (Algorithm 1) and the Table 7 baselines.

The target corpus is cross-validated with a leakage-free protocol; the source corpus is used whole
for training in every fold. Both are restricted to the emotions they share. Each fold trains, from
the same seed and for the same number of steps:

  target only · source only · combined (both corpora, two cross-entropies, --align none) ·
  joint (two cross-entropies + the contrastive loss of eq. 2, or MMD / DANN, --align ...)

    emofast joint STORE --source enterface --target savee --modality video --protocol loso \\
        --align none contrastive mmd --lambdas 1 1 0.01 --batch 2 --steps 20000 --out joint/

Each --align value is one arm; join terms with '+' to use them together (contrastive+mmd).
--both-directions repeats the run with the corpora's roles swapped, so the Table 7 layout (rows:
methods, columns: tested corpora, Avg.) has both columns. Writes results.txt (Table 3 shape per
arm, then Table 7 by WAR and UAR) and results.json (every fold, and the Table 7 cells). Runs are
resumable at fold granularity (--checkpoint-dir, default <out>/checkpoints).

Scaling out: ``torchrun --nproc-per-node N -m emofast joint STORE ...`` (no flag needed) shares every
step's two mini-batches of K out across N ranks (each rank embeds its rows, the contrastive term and
MMD see all K^2 pairs through gathered embeddings, gradients are summed): the one-process result up
to float rounding with ``--dropout 0``. ``--batch`` stays K. Rank 0 prints and writes the report and
checkpoints (which record N).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emofast.commands import (add_checkpoint_args, add_fold_args, add_scoring_args,
                              add_training_args, announce_resumes, checkpoint_dir, fold_indices,
                              normalization, parse_labels, prepare_out, print_fold, recipe_values,
                              set_threads)

__all__ = ["register", "run", "joint_config"]


def register(subparsers: Any) -> None:
    """Add the ``joint`` sub-parser."""
    p = subparsers.add_parser(
        "joint", help="joint cross-domain learning vs target-only, source-only and combined "
                      "training (the joint paper's Table 7)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="feature store folder (from `emofast features`)")
    p.add_argument("--target", required=True, help="target corpus in the store (cross-validated)")
    p.add_argument("--source", required=True, help="source corpus (whole, training only)")
    p.add_argument("--source-store", default=None, metavar="STORE",
                   help="feature store of the source [the STORE]")
    p.add_argument("--modality", choices=("audio", "video"), default="audio",
                   help="feature modality of both corpora [%(default)s]")
    p.add_argument("--protocol", nargs="+", choices=("kfold", "loso", "segment"),
                   default=["loso"], help="the target's protocol(s) [loso]")
    p.add_argument("--labels", type=parse_labels, default=None,
                   help="restrict the emotions both corpora share to these: paper-six or a "
                        "comma list [all shared]")
    p.add_argument("--both-directions", action="store_true",
                   help="also run with the corpora's roles swapped (Table 7's two columns)")
    j = p.add_argument_group("joint learning (Algorithm 1)")
    j.add_argument("--align", nargs="+", default=["none", "contrastive"], metavar="TERMS",
                   help="joint arms, each contrastive, mmd, dann, terms joined by '+', or none "
                        "(two cross-entropies only: the combined baseline) [none contrastive]")
    j.add_argument("--baselines", nargs="*", choices=("target", "source"),
                   default=["target", "source"],
                   help="single-corpus arms (give none to skip them) [target source]")
    j.add_argument("--lambdas", type=float, nargs=3, default=(1.0, 1.0, 0.01),
                   metavar=("L1", "L2", "L3"),
                   help="eq. 3's weights of the target CE, the source CE and the contrastive "
                        "term [1 1 0.01]")
    j.add_argument("--margin", type=float, default=1.0,
                   help="contrastive margin m (on the squared distance) [%(default)s]")
    j.add_argument("--form", choices=("paper", "hadsell"), default="paper",
                   help="negative pairs: 1/2 max(0, m - d^2) (eq. 2) or Hadsell's "
                        "1/2 max(0, m - d)^2 [%(default)s]")
    j.add_argument("--heads", choices=("per_corpus", "both"), default="per_corpus",
                   help="each head classifies its corpus (eq. 3), or both heads both mini-batches "
                        "(Algorithm 1 lines 4-5) [%(default)s]")
    j.add_argument("--lambda-mmd", type=float, default=1.0, help="weight of MMD [%(default)s]")
    j.add_argument("--lambda-dann", type=float, default=1.0,
                   help="weight of DANN's domain cross-entropy [%(default)s]")
    j.add_argument("--steps", type=int, default=None,
                   help="steps per fold (the paper: 20000); default: --epochs passes over the "
                        "larger corpus")
    j.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="[%(default)s] (the paper: SGD)")
    p.add_argument("--out", type=Path, default=Path("emofast-joint"),
                   help="report folder [%(default)s]")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_scoring_args(p)
    add_training_args(p, epochs=10, folds=5, batch_size=2, batch_flags=("--batch", "--batch-size"),
                      batch_help="K, the mini-batch drawn from each corpus per step (K^2 pairs)",
                      mixup=False)
    add_fold_args(p)
    add_checkpoint_args(p)
    p.set_defaults(run=run, distributed=True)


def joint_config(args: argparse.Namespace):
    """:class:`~emofast.train.joint.JointConfig` from the options (``align`` is set per arm)."""
    from emofast.train.joint import JointConfig

    return JointConfig(**recipe_values(args), steps=args.steps, lambdas=tuple(args.lambdas),
                       margin=args.margin, form=args.form, heads=args.heads,
                       lambda_mmd=args.lambda_mmd, lambda_dann=args.lambda_dann,
                       optimizer=args.optimizer, seed=args.seed,
                       progress=not args.no_progress)


def _tables(evaluations: list, protocols: list[str]) -> tuple[str, dict]:
    from emofast.report import PROTOCOL_NAMES, cross_corpus_cells, cross_corpus_table

    texts, cells = [], {}
    for protocol in protocols:
        evs = [ev for ev in evaluations if ev.protocol == protocol]
        cells[protocol] = {}
        for metric in ("war", "uar"):
            texts.append(cross_corpus_table(
                evs, metric=metric,
                title=f"Table 7 shape: {metric.upper()} on each target corpus, "
                      f"{PROTOCOL_NAMES.get(protocol, protocol)}"))
            cells[protocol][metric] = cross_corpus_cells(evs, metric=metric)
    return "\n\n".join(texts), cells


def run(args: argparse.Namespace) -> int:
    """Run ``emofast joint``."""
    from emofast import dataset
    from emofast.distributed import on_main
    from emofast.experiments.joint import evaluate_joint
    from emofast.report import PROTOCOL_NAMES, write_report
    from emofast.train.joint import parse_align

    out_dir = prepare_out(args.out)
    set_threads(args.threads)
    arms = [*dict.fromkeys(args.baselines), *dict.fromkeys(
        "+".join(parse_align(a)) or "none" for a in args.align)]
    config = joint_config(args)

    def load(corpus: str, store: str) -> Any:
        return dataset.from_feature_set(
            dataset.open_feature_set(store, corpus, args.modality, default_settings=True))

    target = load(args.target, args.store)
    source = load(args.source, args.source_store or args.store)
    for role, data in (("target", target), ("source", source)):
        print(f"{role} {data.corpus} ({args.modality}): {data.summary()}", flush=True)
    directions = [(target, source)] + ([(source, target)] if args.both_directions else [])
    ckpt = checkpoint_dir(args, out_dir)
    evaluations = []
    for protocol in args.protocol:
        for t, s in directions:
            print(f"  {PROTOCOL_NAMES[protocol]}, target {t.corpus}, source {s.corpus}:",
                  flush=True)
            with announce_resumes("    "):
                result = evaluate_joint(
                    t, s, protocol, config, arms=arms, width=args.width, dropout=args.dropout,
                    val_speakers=args.val_speakers, classes=args.labels, folds=args.folds,
                    repeats=args.repeats, seed=args.seed, max_folds=args.max_folds,
                    fold_indices=fold_indices(args), progress=not args.no_progress,
                    on_fold=print_fold("    "), normalize=normalization(args),
                    aggregate=args.aggregate,
                    checkpoint_dir=None if ckpt is None else ckpt / protocol / t.corpus)
            for ev in result.values():
                print(f"    {ev.label}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}  "
                      f"({ev.seconds:.0f} s)", flush=True)
            evaluations += result.values()
    tables, cells = _tables(evaluations, args.protocol)
    title = (f"emofast joint: {target.corpus} and {source.corpus} ({args.modality}), "
             f"{len(evaluations[0].classes)} shared classes")
    out = on_main(write_report, out_dir, evaluations, title=title, plots=not args.no_plots,
                  notice=sys.stdout, extra_text=tables,
                  extra_json={"command": getattr(args, "command_line", None),
                              "target": args.target, "source": args.source,
                              "both_directions": args.both_directions, "table7": cells})
    print()
    print(out["summary"])
    print()
    print(tables)
    print(f"\nreport: {out['text']}" + (f" (+ {len(out['plots'])} plots)" if out["plots"] else ""))
    return 0
