"""The ``emofast`` command line: ``emofast <command> [options]`` (also ``python -m emofast``).

Each command lives in ``emofast/commands/<name>.py`` and exposes ``register(subparsers)`` (adds its
sub-parser, with ``set_defaults(run=run)``) and ``run(args) -> int``. Commands whose module is not
part of this installation are still listed; invoking one prints why it is unavailable and exits
with status 2.

Exit status: 0 success, 1 an error reported in one line as ``emofast <command>: error: ...``
(every :class:`emofast.errors.EmofastError` — bad input, a missing or undecodable file, a stale
or corrupt store — and the ValueError/TypeError/OSError of the native ops and the OS), 2 a usage
error or unavailable command, 130 interrupted. A traceback means a bug in emofast (set
``EMOFAST_TRACEBACK=1`` to see one for any error).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: Known command names, in help order.
COMMANDS: tuple[str, ...] = ("demo", "features", "evaluate", "combine", "evolve", "fuse",
                             "joint", "predict", "export")


def _unavailable(name: str, reason: str):
    def run(args: argparse.Namespace) -> int:
        print(f"emofast {name}: not available in this installation ({reason})", file=sys.stderr)
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per known command."""
    from emofast import __version__

    parser = argparse.ArgumentParser(
        prog="emofast",
        description="Transfer-learning emotion recognition from speech and faces. "
                    "Start with `emofast demo`.",
    )
    parser.add_argument("--version", action="version", version=f"emofast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        module_name = f"emofast.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                # the command exists but one of its dependencies is missing
                reason = f"it needs the missing module {exc.name!r}"
            else:
                reason = f"module {module_name} is absent"
            p = sub.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
            p.set_defaults(run=_unavailable(name, reason), unavailable=True)
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status (see the module docstring).
    """
    from emofast.errors import EmofastError

    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    args.command_line = ["emofast", *argv]
    if extra and not getattr(args, "unavailable", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\nemofast {args.command}: interrupted", file=sys.stderr)
        return 130
    except (EmofastError, ValueError, TypeError, OSError) as exc:
        if os.environ.get("EMOFAST_TRACEBACK") == "1":
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"emofast {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
