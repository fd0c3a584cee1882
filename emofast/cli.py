"""The ``emofast`` command line: ``emofast <command> [options]`` (also ``python -m emofast``).

Each command lives in ``emofast/commands/<name>.py`` and exposes ``register(subparsers)`` (adds its
sub-parser, with ``set_defaults(run=run)``) and ``run(args) -> int``. Commands whose module is not
part of this installation are still listed; invoking one prints why it is unavailable and exits
with status 2.

Under torchrun (``torchrun --nproc-per-node N -m emofast <command> ...``, or ``python -m
torch.distributed.run``) the commands that support it (``evaluate``, ``evolve``, ``joint``)
detect the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``),
join the process group (gloo) and share the training out (:mod:`emofast.distributed`); no flag is
needed.
Rank 0 prints and writes the report and checkpoints; the other ranks print nothing on stdout (their
errors still reach stderr, marked with the rank). Other commands refuse to run under torchrun.

Exit status: 0 success, 1 an error reported in one line as ``emofast <command>: error: ...``
(every :class:`emofast.errors.EmofastError` — bad input, a missing or undecodable file, a stale
or corrupt store — and the ValueError/TypeError/OSError of the native ops and the OS), 2 a usage
error or unavailable command, 130 interrupted. A traceback means a bug in emofast (set
``EMOFAST_TRACEBACK=1`` to see one for any error).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: Known command names, in help order.
COMMANDS: tuple[str, ...] = ("demo", "features", "evaluate", "combine", "evolve", "fuse",
                             "joint", "chain", "predict", "export")


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


@contextlib.contextmanager
def _process_group(args: argparse.Namespace) -> Iterator[str]:
    """Join torchrun's process group for the command (rank 0 keeps stdout); yields the prefix of
    this rank's error lines."""
    from emofast import distributed as dist

    if not dist.launched():
        yield ""
        return
    if not getattr(args, "distributed", False):
        from emofast.errors import InputError

        raise InputError(f"emofast {args.command} does not run under torchrun (only evaluate, "
                         "evolve and joint do); run it as one process")
    owned = not dist.initialized()  # a caller's own group is left to the caller
    dist.init()
    try:
        with contextlib.ExitStack() as stack:
            if not dist.is_main():
                devnull = stack.enter_context(open(os.devnull, "w"))
                stack.enter_context(contextlib.redirect_stdout(devnull))
            yield "" if dist.is_main() else f" (rank {dist.rank()})"
    finally:
        if owned:
            dist.shutdown()


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
    rank = ""
    try:
        with _process_group(args) as rank:
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\nemofast {args.command}: interrupted", file=sys.stderr)
        return 130
    except (EmofastError, ValueError, TypeError, OSError) as exc:
        if os.environ.get("EMOFAST_TRACEBACK") == "1":
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"emofast {args.command}: error{rank}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
