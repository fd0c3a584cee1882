"""``emofast demo``: the whole pipeline on embedded synthetic corpora, in one command.

Generates three small demo corpora (cached), extracts log-Mel segments into a feature store
(cached), trains the baseline GroupNorm CNN under leakage-free protocols (stratified k-fold by
utterance; leave-one-speaker-out in the default run, which also fine-tunes a baseline pretrained on
a second demo corpus), then prints a paper-shaped table and writes
the report (text, JSON, confusion-matrix, ROC and learning-curve plots) to ``--out``. When the
PathNet stage is installed (``emofast.experiments.pathnet``) it runs too, transferring from a
source demo corpus to the target one.

Examples::

    emofast demo                 # default run
    emofast demo --quick         # smoke test: smaller corpora, fewer folds and epochs
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from emofast.commands import add_training_args, segment_data, set_threads

__all__ = ["register", "run", "DEFAULTS"]

#: Settings of the default and ``--quick`` runs (command-line options override them).
DEFAULTS: dict[str, dict[str, Any]] = {
    "full": {"epochs": 20, "lr": 1e-3, "folds": 5, "protocols": ("kfold", "loso"),
             "finetune": True},
    "quick": {"epochs": 10, "lr": 2e-3, "folds": 3, "protocols": ("kfold",), "finetune": False},
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
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--no-transfer", action="store_true",
                   help="skip the PathNet transfer stage even when it is installed")
    add_training_args(
        p, epochs=f"{DEFAULTS['full']['epochs']}; --quick: {DEFAULTS['quick']['epochs']}",
        folds=f"{DEFAULTS['full']['folds']}; --quick: {DEFAULTS['quick']['folds']}",
        lr=f"{DEFAULTS['full']['lr']}; --quick: {DEFAULTS['quick']['lr']}")
    p.set_defaults(run=run)


def _step(i: int, n: int, text: str) -> float:
    print(f"[{i}/{n}] {text}", flush=True)
    return time.perf_counter()


def _pathnet_stage():
    """``demo_stage`` of the PathNet experiments, or None when not installed."""
    try:
        module = importlib.import_module("emofast.experiments.pathnet")
    except ImportError:
        return None
    return getattr(module, "demo_stage", None)


def _format_stage(result: dict[str, Any], classes: list[str], title: str) -> str:
    """The stage's arms as a Table 3-shaped text table (its own table if the arms lack recalls)."""
    from emofast.report import recall_table

    arms = {k: v for k, v in result.items()
            if isinstance(v, dict) and {"recall", "war", "uar"} <= set(v)}
    if arms and all(len(v["recall"]) == len(classes) for v in arms.values()):
        return recall_table(arms, classes, title=title)
    for key in ("table", "summary", "text"):
        if isinstance(result.get(key), str):
            return f"{title}\n{result[key]}"
    return f"{title}\n" + "\n".join(f"  {k}: {v}" for k, v in result.items()
                                      if isinstance(v, (int, float, str)))


def run(args: argparse.Namespace) -> int:
    """Run ``emofast demo``."""
    from emofast.commands.evaluate import evaluate_segments, pretrain
    from emofast.corpora import PAPER_SIX, load_corpus, select_modality
    from emofast.report import write_report
    from emofast.store import FeatureStore
    from emofast.synthetic import make_demo_corpora

    t_start = time.perf_counter()
    mode = "quick" if args.quick else "full"
    epochs = args.epochs if args.epochs is not None else DEFAULTS[mode]["epochs"]
    folds = args.folds if args.folds is not None else DEFAULTS[mode]["folds"]
    lr = args.lr if args.lr is not None else DEFAULTS[mode]["lr"]
    protocols = tuple(args.protocol or DEFAULTS[mode]["protocols"])
    progress = not args.no_progress
    set_threads(args.threads)
    finetune = DEFAULTS[mode]["finetune"] if args.finetune is None else args.finetune
    stage = None if args.no_transfer else _pathnet_stage()
    n_steps = 4 + (stage is not None)

    t = _step(1, n_steps, f"demo corpora ({mode}) in {args.cache / 'corpora'}")
    roots = make_demo_corpora(args.cache / "corpora", seed=args.seed, quick=args.quick,
                              video=False)
    for name in (args.target, args.source):
        if name not in roots:
            raise ValueError(f"unknown demo corpus {name!r}; choose from {sorted(roots)}")
    print(f"      {', '.join(sorted(roots))} ready ({time.perf_counter() - t:.1f} s)")

    # One feature store per generated corpus set: quick/full and other seeds reuse utterance ids
    # (same label and speaker) for different audio, and a store keys records by id.
    store_root = args.cache / "features" / roots[args.target].parent.name
    t = _step(2, n_steps, f"log-Mel features into {store_root}")
    store = FeatureStore(store_root)
    wanted = [args.target] + ([args.source] if stage is not None or finetune else [])
    if args.source == args.target and len(wanted) > 1:
        raise ValueError(f"--source and --target are both {args.target!r}; transfer needs two "
                         "corpora")
    data = {}
    for name in wanted:
        index = load_corpus("demo", roots[name])
        utts = select_modality(index.utterances, "audio")
        fs = store.extract(name, utts, "audio", progress=progress)
        data[name] = segment_data(fs, PAPER_SIX)
        print(f"      {name}: {data[name].summary()}", flush=True)
    print(f"      ({time.perf_counter() - t:.1f} s)")

    target = data[args.target]
    runs = [(p, None) for p in protocols] + ([(protocols[0], "finetune")] if finetune else [])
    t = _step(3, n_steps, f"baseline GroupNorm CNN ({args.width}) on {args.target}: "
                          f"{', '.join(protocols)}{' + fine-tuned from ' + args.source if finetune else ''}"
                          f", {epochs} epochs")
    evaluations = []
    names = {"kfold": f"{folds}-fold by utterance", "loso": "leave-one-speaker-out",
             "segment": f"{folds}-fold by segment"}
    settings = dict(width=args.width, dropout=args.dropout, epochs=epochs,
                    batch_size=args.batch_size, lr=lr, seed=args.seed, progress=progress)
    for protocol, kind in runs:
        init, label = None, f"GN-CNN {args.target} {names[protocol]}"
        if kind == "finetune":
            tp = time.perf_counter()
            init, _ = pretrain(data[args.source], **settings)
            print(f"      pretrained on {args.source} ({time.perf_counter() - tp:.1f} s)",
                  flush=True)
            label = f"GN-CNN {args.source}->{args.target} {names[protocol]}"
        ev = evaluate_segments(target, protocol, name=label, folds=folds, repeats=args.repeats,
                               init_state=init, **settings)
        ev.info.update(corpus=args.target, pretrained_on=args.source if init else None)
        print(f"      {label[7:]}: WAR {ev.scores.war:.3f}  UAR {ev.scores.uar:.3f}  "
              f"({ev.info['splits']} splits, {ev.seconds:.1f} s)", flush=True)
        evaluations.append(ev)

    extra = None
    if stage is not None:
        t = _step(4, n_steps, f"PathNet transfer {args.source} -> {args.target}")
        src = data[args.source]
        kwargs: dict[str, Any] = {"out_dir": args.out / "pathnet", "quick": args.quick,
                                  "seed": args.seed}
        if "target_speakers" in inspect.signature(stage).parameters:
            kwargs["target_speakers"] = target.speakers
        result = stage(np.asarray(src.X[np.arange(len(src.X))]), src.segment_labels,
                       np.asarray(target.X[np.arange(len(target.X))]), target.segment_labels,
                       target.groups, **kwargs)
        seconds = result.get("seconds", time.perf_counter() - t)
        extra = _format_stage(
            result, target.classes,
            f"PathNet {args.source} -> {args.target}: scratch vs transfer "
            f"(utterance level, {seconds:.0f} s; files in {args.out / 'pathnet'})")
        print(f"      done ({time.perf_counter() - t:.1f} s)", flush=True)

    _step(n_steps, n_steps, f"report in {args.out}")
    title = (f"emofast demo ({mode}): {args.target} audio, utterance-level scores unless marked "
             f"* (per-emotion columns are recall)")
    out = write_report(args.out, evaluations, title=title, plots=not args.no_plots,
                       notice=sys.stdout, extra_text=extra)
    print()
    print(out["summary"])
    if extra:
        print()
        print(extra)
    plots = f" + {len(out['plots'])} PNG plots" if out["plots"] else ""
    print(f"\nreport: {out['text']}, {out['json'].name}{plots}")
    print(f"demo finished in {time.perf_counter() - t_start:.0f} s")
    return 0
