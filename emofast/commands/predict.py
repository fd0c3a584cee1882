"""``emofast predict``: emotion posteriors of media files from a saved model bundle.

Examples
--------
One line per file (the most probable emotion and every class's posterior)::

    emofast predict model.emofast speech1.wav speech2.wav

Every segment's posteriors too, as JSON on stdout::

    emofast predict model.emofast speech.wav --per-segment --json > predictions.json

Features are recomputed exactly as in training (the settings are in the bundle). A file that
cannot be read gets one error line on stderr naming it; the others are still predicted, and the
exit status is 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from emofast.commands import set_threads

__all__ = ["register", "run", "format_table"]


def register(subparsers: Any) -> None:
    """Add the ``predict`` sub-parser."""
    p = subparsers.add_parser(
        "predict", help="emotion posteriors of audio or video files from a saved model",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="model bundle (from `emofast evaluate --save-model`)")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE",
                   help="audio files for an audio model, video files for a face model")
    p.add_argument("--per-segment", action="store_true",
                   help="also give every segment's posteriors (log-Mel window or video frame)")
    p.add_argument("--same-speaker", action="store_true",
                   help="the files are recordings of one speaker; a model trained on "
                        "speaker-normalised features (evaluate --normalize speaker --save-model) "
                        "normalises them by their pooled statistics, and needs this flag")
    p.add_argument("--json", action="store_true", help="write JSON to stdout instead of a table")
    p.add_argument("--threads", type=int, default=1, help="torch threads [%(default)s]")
    p.set_defaults(run=run)


def format_table(predictions: list[Any], classes: list[str]) -> str:
    """A text table: one row per file (and per segment, when present) with every posterior."""
    width = max([len("file"), *(len(p.source) for p in predictions)])
    label_w = max(len("label"), *(len(c) for c in classes))
    cols = [max(6, len(c)) for c in classes]
    head = (f"{'file':<{width}}  {'label':<{label_w}}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(classes, cols)))
    lines = [head, "-" * len(head)]

    def row(name: str, post: Any) -> str:
        best = classes[int(post.argmax())]
        return (f"{name:<{width}}  {best:<{label_w}}  "
                + "  ".join(f"{float(v):>{w}.3f}" for v, w in zip(post, cols)))

    for p in predictions:
        lines.append(row(p.source, p.posteriors))
        for i, seg in enumerate(p.segments if p.segments is not None else []):
            lines.append(row(f"  segment {i + 1}", seg))
    return "\n".join(lines)


def _named(message: str, path: str) -> str:
    """``message`` with ``path`` in it (prefixed when the error did not name the file)."""
    return message if path in message else f"{path}: {message}"


def run(args: argparse.Namespace) -> int:
    """Run ``emofast predict``."""
    from emofast.bundle import load_model
    from emofast.bundle.inputs import as_segments
    from emofast.errors import EmofastError, InputError

    model = load_model(args.bundle)
    set_threads(args.threads)
    if model.normalization is not None and not args.same_speaker:
        raise InputError(f"{args.bundle} was trained on features normalised per "
                         f"{model.normalization}: give recordings of one {model.normalization} "
                         "with --same-speaker")
    named, predictions, failed = [], [], 0
    for path in args.files:  # an unreadable file is reported and skipped, the others go on
        try:
            item = (str(path), model.segments(path))
            if args.same_speaker:  # shape checked here; normalised and predicted together below
                as_segments(item[1], model.input_shape, model.modality)
                named.append(item)
            else:
                predictions += model.predict_segments([item], args.per_segment)
        except (EmofastError, ValueError, OSError) as exc:
            failed += 1
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"emofast predict: error: {_named(message, str(path))}", file=sys.stderr)
    if named:
        predictions = model.predict_segments(named, args.per_segment, same_speaker=True)
    if args.json:
        json.dump({"model": str(args.bundle), "modality": model.modality,
                   "classes": model.classes, "predictions": [p.as_dict() for p in predictions]},
                  sys.stdout, indent=1)
        print()
    elif predictions:
        print(format_table(predictions, model.classes))
    return 1 if failed else 0
