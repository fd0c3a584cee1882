"""``emofast chain``: the continuous fine-tuning chain of the joint paper's Table 1.

Every --stage is CORPUS[/MODALITY]:MODE, MODE ``all`` (train every layer) or ``fc`` (the
fully-connected layers only, conv blocks frozen). Stage i starts from stage i-1's model (a fresh
output layer where the class sets differ); each stage is cross-validated on its corpus under
--protocol (every fold starts from the previous stage's model, trained on the previous corpora
only: no leakage), then trained on all of its corpus and saved (``<out>/models``: a ``.pt``
state and an ``.emofast`` bundle for ``emofast predict``). Table 1's chain on faces then audio::

    emofast chain STORE --stage enterface/video:all --stage savee/video:fc \\
        --stage savee/audio:all --stage emodb/audio:all --protocol loso --out chain/

Writes results.txt (one row per stage, Tables 2-5 shape) and results.json. Rerunning resumes: a
stage whose model is saved is not retrained, finished folds are kept in --checkpoint-dir.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emofast.commands import (add_checkpoint_args, add_scoring_args, add_training_args,
                              announce_resumes, baseline_config, checkpoint_dir, parse_labels,
                              prepare_out, print_fold, set_threads)

__all__ = ["register", "run", "parse_stage"]


def parse_stage(value: str) -> tuple[str, str | None, str]:
    """``CORPUS[/MODALITY]:MODE`` -> (corpus, modality or None, mode)."""
    from emofast.nn.cnn import TRAINABLE

    corpus, sep, mode = value.rpartition(":")
    if not sep:
        corpus, mode = value, "all"
    corpus, _, modality = corpus.partition("/")
    if not corpus or mode not in TRAINABLE or modality not in ("", "audio", "video", "image"):
        raise argparse.ArgumentTypeError(
            f"bad stage {value!r}: use CORPUS[/MODALITY]:MODE with MODE one of {list(TRAINABLE)}")
    return corpus, modality or None, mode


def register(subparsers: Any) -> None:
    """Add the ``chain`` sub-parser."""
    from emofast.protocols import PROTOCOLS

    p = subparsers.add_parser(
        "chain", help="continuous fine-tuning across corpora, each stage evaluated (the joint "
                      "paper's Table 1)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="feature store folder (from `emofast features`)")
    p.add_argument("--stage", type=parse_stage, action="append", required=True,
                   metavar="CORPUS[/MODALITY]:MODE", dest="stages",
                   help="a stage, in chain order (repeat); MODE all or fc")
    p.add_argument("--protocol", choices=PROTOCOLS, default="loso",
                   help="every stage's protocol [%(default)s]")
    p.add_argument("--labels", type=parse_labels, default=None,
                   help="emotions to keep in every corpus: all, paper-six, or a comma list [all]")
    p.add_argument("--max-folds", type=int, default=None, metavar="N",
                   help="run only the first N folds of each stage")
    p.add_argument("--out", type=Path, default=Path("emofast-chain"),
                   help="report folder [%(default)s]")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_scoring_args(p)
    add_training_args(p, epochs=20, folds=5, norm=True)
    add_checkpoint_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``emofast chain``."""
    from emofast import dataset
    from emofast.errors import InputError
    from emofast.experiments.chain import ChainStage, run_chain
    from emofast.report import PROTOCOL_NAMES, write_report

    if args.normalize != "none":
        raise InputError("--normalize is not supported by emofast chain (stage models meet "
                         "other corpora's speakers)")
    out_dir = prepare_out(args.out)
    set_threads(args.threads)
    config = baseline_config(args)
    stages = []
    for corpus, modality, mode in args.stages:
        fs = dataset.open_feature_set(args.store, corpus, modality, default_settings=True)
        stages.append(ChainStage(dataset.from_feature_set(fs, args.labels), mode, config,
                                 features=fs))
    print(f"chain of {len(stages)} stages, {PROTOCOL_NAMES[args.protocol]}:", flush=True)
    with announce_resumes("    "):
        results = run_chain(
            stages, args.protocol, out_dir=out_dir / "models",
            checkpoint_dir=checkpoint_dir(args, out_dir), folds=args.folds, seed=args.seed,
            max_folds=args.max_folds, progress=not args.no_progress,
            on_fold=print_fold("    "), say=lambda line: print(f"  {line}", flush=True),
            aggregate=args.aggregate)
    evaluations = [r.evaluation for r in results]
    title = (f"emofast chain: {' -> '.join(f'{c}({m})' for c, _, m in args.stages)}, "
             f"{PROTOCOL_NAMES[args.protocol]}")
    out = write_report(out_dir, evaluations, title=title, plots=not args.no_plots,
                       notice=sys.stdout,
                       extra_json={"command": getattr(args, "command_line", None),
                                   "stages": [{"corpus": c, "modality": m, "train": t,
                                               "model": str(r.model_path),
                                               "bundle": None if r.bundle is None
                                               else str(r.bundle), "resumed": r.resumed}
                                              for (c, m, t), r in zip(args.stages, results)]})
    print()
    print(out["summary"])
    print(f"\nreport: {out['text']}" + (f" (+ {len(out['plots'])} plots)" if out["plots"] else ""))
    return 0
