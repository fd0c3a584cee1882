"""``emofast demo``: the whole pipeline on embedded synthetic corpora, in one command.

Generates three small demo corpora (cached), extracts log-Mel segments into a feature store
(cached), trains the baseline GroupNorm CNN under leakage-free protocols (stratified k-fold by
utterance; leave-one-speaker-out in the default run, which also fine-tunes a baseline pretrained on
a second demo corpus), then prints a paper-shaped table and writes
the report (text, JSON, confusion-matrix, ROC and learning-curve plots) to ``--out``. PathNet
scratch vs transfer from a source demo corpus to the target one runs too (``--no-transfer`` skips
it), and in the default run an audio-visual stage (faces generated too): one LSTM per modality and
decision-level fusion (``--no-fusion`` skips it), and joint cross-domain learning of the target
with the source corpus, its Table 7 rows in the report (``--no-joint`` skips it). The pipeline itself is
:func:`emofast.experiments.demo.run_demo`.

Examples::

    emofast demo                 # default run
    emofast demo --quick         # smoke test: smaller corpora, fewer folds and epochs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emofast.commands import add_training_args, baseline_config, set_threads

__all__ = ["register", "run", "DEFAULTS"]

#: Settings of the default and ``--quick`` runs (command-line options override them).
DEFAULTS: dict[str, dict[str, Any]] = {
    "full": {"epochs": 20, "lr": 1e-3, "folds": 5, "protocols": ("kfold", "loso"),
             "finetune": True, "fusion": True, "fusion_epochs": 30},
    "quick": {"epochs": 10, "lr": 2e-3, "folds": 3, "protocols": ("kfold",), "finetune": False,
              "fusion": False, "fusion_epochs": 10},
}


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-parser."""
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline on embedded demo corpora (start here)",
        description=__doc__.split("\n\nExamples")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: smaller corpora, 3 folds, fewer epochs, no LOSO")
    p.add_argument("--out", type=Path, default=Path("emofast-demo"),
                   help="report folder [%(default)s]")
    p.add_argument("--cache", type=Path, default=Path(".emofast-cache"),
                   help="cache of generated corpora and features [%(default)s]")
    p.add_argument("--target", default="demo_phone",
                   help="demo corpus the baseline is evaluated on [%(default)s]")
    p.add_argument("--source", default="demo_studio",
                   help="source demo corpus of the transfer stages [%(default)s]")
    p.add_argument("--protocol", nargs="+", choices=("kfold", "loso", "segment"), default=None,
                   help="protocols to run (default: kfold loso; --quick: kfold). 'segment' adds "
                        "the papers' leaky segment split for comparison (marked *)")
    p.add_argument("--finetune", action=argparse.BooleanOptionalAction, default=None,
                   help="also pretrain the baseline on --source and fine-tune it on the target "
                        "under the first protocol (default: on; --quick: off)")
    p.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                   help="also generate faces and run the audio-visual fusion stage (one LSTM per "
                        "modality, decision-level fusion; default: on; --quick: off)")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--no-transfer", action="store_true",
                   help="skip the PathNet scratch-vs-transfer stage")
    p.add_argument("--no-joint", action="store_true",
                   help="skip the joint-learning stage (Table 7 rows: target only, source only, "
                        "combined, contrastive)")
    add_training_args(
        p, epochs=f"{DEFAULTS['full']['epochs']}; --quick: {DEFAULTS['quick']['epochs']}",
        folds=f"{DEFAULTS['full']['folds']}; --quick: {DEFAULTS['quick']['folds']}",
        lr=f"{DEFAULTS['full']['lr']}; --quick: {DEFAULTS['quick']['lr']}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emofast demo``."""
    from emofast.experiments.demo import DemoSettings, run_demo

    mode = "quick" if args.quick else "full"

    def pick(value: Any, key: str) -> Any:
        return DEFAULTS[mode][key] if value is None else value

    set_threads(args.threads)
    settings = DemoSettings(
        quick=args.quick, target=args.target, source=args.source,
        protocols=tuple(pick(args.protocol, "protocols")),
        finetune=pick(args.finetune, "finetune"), pathnet=not args.no_transfer,
        fusion=pick(args.fusion, "fusion"), joint=not args.no_joint, fusion_epochs=DEFAULTS[mode]["fusion_epochs"],
        baseline=baseline_config(args, epochs=pick(args.epochs, "epochs"),
                                 lr=pick(args.lr, "lr")),
        folds=pick(args.folds, "folds"), repeats=args.repeats, seed=args.seed,
        progress=not args.no_progress, plots=not args.no_plots)
    result = run_demo(settings, out=args.out, cache=args.cache,
                      say=lambda line: print(line, flush=True), notice=sys.stdout,
                      command_line=getattr(args, "command_line", None))
    print()
    print(result["summary"])
    plots = f" + {len(result['plots'])} PNG plots" if result["plots"] else ""
    print(f"\nreport: {result['text']}, {result['json'].name}{plots}")
    print(f"demo finished in {result['seconds']:.0f} s")
    return 0
