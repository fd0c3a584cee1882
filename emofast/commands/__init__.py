"""Sub-commands of the ``emofast`` command line, one module per command.

Each module exposes ``register(subparsers) -> None`` and ``run(args) -> int`` (see
:mod:`emofast.cli`) and keeps to argparse and printing: the work is done by the library
(:mod:`emofast.dataset`, :mod:`emofast.experiments`, :mod:`emofast.report`). This package holds the
options several commands share.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["parse_labels", "add_training_args", "add_fold_args", "fold_indices", "baseline_config",
           "recipe_values", "add_scoring_args", "normalization", "set_threads", "print_fold",
           "prepare_out", "add_checkpoint_args", "checkpoint_dir", "announce_resumes"]


def parse_labels(value: str) -> tuple[str, ...] | None:
    """``--labels`` value: ``all`` (None: every label present), ``paper-six``, or a comma list."""
    from emofast.corpora import EMOTIONS, PAPER_SIX

    v = value.strip().lower()
    if v in ("paper-six", "paper_six", "six"):
        return tuple(PAPER_SIX)
    if v == "all":
        return None
    labels = tuple(x.strip() for x in v.split(",") if x.strip())
    unknown = [x for x in labels if x not in EMOTIONS]
    if unknown or not labels:
        raise argparse.ArgumentTypeError(
            f"unknown emotion(s) {unknown}; use all, paper-six, or names from {list(EMOTIONS)}")
    return labels


def add_fold_args(p: argparse.ArgumentParser) -> None:
    """``--max-folds`` and ``--fold-indices`` (1-based), shared by every cross-validating command."""
    p.add_argument("--max-folds", type=int, default=None, metavar="N",
                   help="run only the first N folds")
    p.add_argument("--fold-indices", type=int, nargs="+", default=None, metavar="I",
                   help="run only these folds, 1-based in the protocol's fold order (LOSO: sorted "
                        "speakers); each keeps its own seed, so runs of disjoint folds can be "
                        "pooled")


def fold_indices(args: argparse.Namespace) -> list[int] | None:
    """``--fold-indices`` as 0-based indices (None: all)."""
    return None if args.fold_indices is None else [i - 1 for i in args.fold_indices]


def add_training_args(p: argparse.ArgumentParser, *, epochs: int | str, folds: int | str,
                      lr: float | str = 1e-3, batch_size: int = 16,
                      batch_flags: tuple[str, ...] = ("--batch-size",),
                      batch_help: str = "mini-batch size", mixup: bool = True,
                      norm: bool = False) -> None:
    """Options of the GroupNorm CNN, its training recipe and its protocol, shared by
    ``evaluate``, ``demo`` and ``joint``.

    ``epochs``/``folds``/``lr``/``batch_size`` are the defaults; a string instead documents a
    default that the command resolves itself (the option then defaults to None).
    ``batch_flags``/``batch_help`` name and describe the mini-batch option (``joint``: ``--batch``,
    K per corpus); ``mixup=False`` leaves ``--mixup`` out (:func:`recipe_values` then gives 0);
    ``norm=True`` adds ``--norm`` (GroupNorm or BatchNorm in the conv blocks).
    """
    from emofast.experiments.baseline import BASELINE_WIDTHS

    def default(value: float | str) -> tuple[float | None, str]:
        return (None, f"[{value}]") if isinstance(value, str) else (value, "[%(default)s]")

    epochs_default, epochs_note = default(epochs)
    folds_default, folds_note = default(folds)
    lr_default, lr_note = default(lr)
    g = p.add_argument_group("baseline classifier (GroupNorm CNN)")
    g.add_argument("--width", choices=sorted(BASELINE_WIDTHS), default="tiny",
                   help="network preset: tiny (demo), small, paper (64-128-256-512 filters) "
                        "[%(default)s]")
    g.add_argument("--epochs", type=int, default=epochs_default,
                   help=f"training epochs {epochs_note}")
    g.add_argument(*batch_flags, dest="batch_size", type=int, default=batch_size,
                   help=f"{batch_help} [%(default)s]")
    g.add_argument("--lr", type=float, default=lr_default, help=f"Adam learning rate {lr_note}")
    g.add_argument("--dropout", type=float, default=0.2,
                   help="dropout after each conv block (paper: 0.5) [%(default)s]")
    if norm:
        g.add_argument("--norm", choices=("group", "batch"), default="group",
                       help="normalisation after each convolution: GroupNorm (the paper) or "
                            "BatchNorm [%(default)s]")
    g.add_argument("--folds", type=int, default=folds_default, help=f"k of k-fold {folds_note}")
    g.add_argument("--repeats", type=int, default=1, help="repeat k-fold with new shuffles "
                                                          "(papers: 5) [%(default)s]")
    g.add_argument("--seed", type=int, default=0, help="random seed [%(default)s]")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest on a shared 2-core machine [%(default)s]")
    r = p.add_argument_group("training recipe (each off by default; see docs/experiments.md)")
    r.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay [0]")
    r.add_argument("--schedule", choices=("constant", "cosine", "onecycle"), default="constant",
                   help="learning-rate schedule [%(default)s]")
    r.add_argument("--balanced", action="store_true",
                   help="class-balanced cross-entropy weights from the training labels")
    r.add_argument("--label-smoothing", type=float, default=0.0, help="[0]")
    r.add_argument("--spec-augment", type=int, nargs=2, metavar=("FREQ", "TIME"), default=(0, 0),
                   help="SpecAugment: frequency and time masks per segment (e.g. 2 2) [0 0]")
    r.add_argument("--mask-width", type=int, default=8, help="widest mask, bands/frames [8]")
    if mixup:
        r.add_argument("--mixup", type=float, default=0.0, help="mixup alpha; 0 is off [0]")
    r.add_argument("--val-speakers", type=int, default=0,
                   help="hold out N training speakers per fold and keep the epoch with the best "
                        "validation UAR (never the test fold) [0: train all epochs]")
    r.add_argument("--patience", type=int, default=None,
                   help="with --val-speakers: stop after N epochs without improvement")


def recipe_values(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~emofast.train.fit.TrainingRecipe` fields from :func:`add_training_args`'s
    options."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                weight_decay=args.weight_decay, schedule=args.schedule,
                class_weight="balanced" if args.balanced else None,
                label_smoothing=args.label_smoothing, freq_masks=args.spec_augment[0],
                time_masks=args.spec_augment[1], mask_width=args.mask_width,
                mixup=getattr(args, "mixup", 0.0), patience=args.patience)


def baseline_config(args: argparse.Namespace, **resolved: Any):
    """:class:`~emofast.experiments.baseline.BaselineConfig` from the options (``resolved``
    overrides options the command resolved itself, e.g. ``epochs``)."""
    from emofast.experiments.baseline import BaselineConfig

    values = dict(width=args.width, dropout=args.dropout, val_speakers=args.val_speakers,
                  norm=getattr(args, "norm", "group"), **recipe_values(args))
    return BaselineConfig(**{**values, **resolved})


def add_scoring_args(p: argparse.ArgumentParser) -> None:
    """``--normalize`` and ``--aggregate``: per-speaker normalisation and utterance scoring,
    shared by the cross-validating commands."""
    p.add_argument("--normalize", choices=("none", "speaker", "corpus"), default="none",
                   help="standardise every speaker's (or the corpus's) features by its own "
                        "statistics, test speakers included, without labels: transductive, marked "
                        "† in the report [%(default)s]")
    p.add_argument("--aggregate", choices=("mean", "logmean"), default="mean",
                   help="utterance posterior from segment posteriors: mean, or normalised "
                        "geometric mean [%(default)s]")


def normalization(args: argparse.Namespace) -> str | None:
    """``--normalize`` as the experiments take it (None for ``none``)."""
    return None if args.normalize == "none" else args.normalize


def print_fold(prefix: str = "      ") -> Any:
    """An ``on_fold`` callback that prints one line per finished fold."""
    def on_fold(pos: int, total: int, details: dict) -> None:
        print(f"{prefix}{details.get('name', '')} fold {details['fold'] + 1} ({pos + 1}/{total}): "
              f"WAR {details['war']:.3f}  UAR {details['uar']:.3f}  "
              f"({details['test_items']} test items)", flush=True)

    return on_fold


def set_threads(n: int | None) -> None:
    """Cap torch's intra-op threads (``None``/0: leave torch's default)."""
    import torch

    from emofast.errors import InputError

    if n:
        if n < 0:
            raise InputError(f"--threads must be >= 0, got {n}")
        torch.set_num_threads(min(n, os.cpu_count() or n))


def prepare_out(out: str | os.PathLike) -> Path:
    """Create the ``--out`` folder, refusing a file or an unwritable folder before any work (under
    torchrun: rank 0 does, and every rank raises its error)."""
    from emofast.distributed import on_main

    return on_main(_make_out, out)


def _make_out(out: str | os.PathLike) -> Path:
    from emofast.errors import InputError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out} cannot be created: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--out {out} is not writable")
    return out


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    """``--checkpoint-dir`` and ``--no-checkpoint``: resumable cross-validation runs."""
    p.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                   help="keep every finished fold (and PathNet's evolutions after each generation) "
                        "here; rerunning the same command resumes and ends with the result of an "
                        "uninterrupted run; a folder of another run is refused [<out>/checkpoints]")
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint (no resume)")


def checkpoint_dir(args: argparse.Namespace, out: Path) -> Path | None:
    """The checkpoint folder the options ask for (None: ``--no-checkpoint``)."""
    if args.no_checkpoint:
        return None
    return args.checkpoint_dir if args.checkpoint_dir is not None else out / "checkpoints"


@contextlib.contextmanager
def announce_resumes(prefix: str = "  ") -> Iterator[None]:
    """Print each :class:`~emofast.train.checkpoint.ResumeWarning` as one plain line on stdout."""
    from emofast.train.checkpoint import ResumeWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", ResumeWarning)
        shown = warnings.showwarning

        def show(message, category, *args, **kwargs):
            if issubclass(category, ResumeWarning):
                print(f"{prefix}{message}", flush=True)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield
