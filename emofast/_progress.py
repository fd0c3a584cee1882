"""Progress bars that stay quiet when nobody is watching.

Every loop that shows progress goes through :func:`progress_bar`: a tqdm bar on stderr when it is
a terminal, nothing at all when stderr is redirected to a file or a pipe (a log of one ``emofast
evaluate`` run used to be megabytes of bar redraws). ``EMOFAST_PROGRESS=1`` forces bars on,
``EMOFAST_PROGRESS=0`` off.
"""
from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["progress_enabled", "progress_bar"]


def progress_enabled(requested: bool = True) -> bool:
    """Whether a bar should be drawn: ``requested`` and (forced on, or stderr is a terminal)."""
    if not requested:
        return False
    forced = os.environ.get("EMOFAST_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any):
    """A ``tqdm.auto.tqdm`` bar, disabled unless :func:`progress_enabled` says to draw it.

    Parameters
    ----------
    iterable : iterable, optional
        Wrapped as by tqdm.
    enabled : bool, default True
        The caller's wish (e.g. ``not args.no_progress``).
    **kwargs
        Passed to tqdm (``total``, ``desc``, ``unit``, ``leave``, ...).
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)
