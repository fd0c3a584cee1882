"""``emofast combine``: one more row from systems already evaluated over the same folds.

Examples
--------
The CNN and the openSMILE baseline, each cross-validated leave-one-speaker-out on EMO-DB, then their
utterance posteriors averaged::

    emofast evaluate STORE --corpus emodb --protocol loso --out cnn/
    emofast evaluate STORE --corpus emodb --protocol loso --model logreg --features compare \
        --out logreg/
    emofast combine cnn/results.json logreg/results.json --protocol loso --out both/

Each input is a ``results.json`` (or the folder holding it) written by ``emofast evaluate``; the
evaluation of the chosen ``--protocol`` is taken from each. The weights are equal: nothing is
tuned on the test folds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from emofast.commands import prepare_out

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``combine`` sub-parser."""
    p = subparsers.add_parser(
        "combine", help="average the utterance posteriors of evaluated systems (same folds)",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path,
                   help="results.json files (or their folders) of `emofast evaluate` runs")
    p.add_argument("--protocol", default=None,
                   help="take each file's evaluation of this protocol (default: the only one)")
    p.add_argument("--how", choices=("mean", "logmean"), default="mean",
                   help="mean of the posteriors, or their normalised geometric mean "
                        "[%(default)s]")
    p.add_argument("--name", default=None, help="row label of the combination")
    p.add_argument("--out", type=Path, default=Path("emofast-combined"),
                   help="report folder [%(default)s]")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.set_defaults(run=run)


def load_evaluation(path: Path, protocol: str | None):
    """The evaluation of ``protocol`` (or the only one) saved in ``path``."""
    from emofast.errors import InputError, MissingFileError
    from emofast.report import Evaluation

    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise MissingFileError(f"{file} does not exist")
    try:
        saved = json.loads(file.read_text())["evaluations"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{file} is not a results.json of emofast ({exc})") from None
    chosen = [d for d in saved if protocol is None or d.get("protocol") == protocol]
    if len(chosen) != 1:
        found = [d.get("protocol") for d in saved]
        raise InputError(f"{file} holds evaluations of protocols {found}: choose one with "
                         "--protocol" if len(chosen) > 1 else
                         f"{file} has no {protocol} evaluation (it holds {found})")
    return Evaluation.from_dict(chosen[0], source=str(file))


def run(args: argparse.Namespace) -> int:
    """Run ``emofast combine``."""
    from emofast.experiments.combine import combine_evaluations
    from emofast.report import write_report

    out_dir = prepare_out(args.out)
    members = [load_evaluation(p, args.protocol) for p in args.results]
    both = combine_evaluations(members, how=args.how, name=args.name)
    out = write_report(out_dir, [*members, both], title=f"emofast combine ({args.how})",
                       plots=not args.no_plots, notice=sys.stdout,
                       extra_json={"command": getattr(args, "command_line", None),
                                   "inputs": [str(p) for p in args.results]})
    print(out["summary"])
    print(f"\nreport: {out['text']}")
    return 0
