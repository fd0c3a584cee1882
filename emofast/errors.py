"""The one error root of emofast.

Every error emofast raises for a user's mistake or a bad file derives from :class:`EmofastError`,
so a script (and the command line) can catch them all with one clause. Each subclass also derives
from the built-in exception it replaces, so ``except ValueError`` / ``except OSError`` clauses
written against earlier versions keep working:

============================  =====================================  ====================================
class                         also a                                 raised for
============================  =====================================  ====================================
:class:`InputError`           ``ValueError``                         bad arguments, shapes, labels, settings
:class:`MissingFileError`     ``FileNotFoundError`` and ``ValueError``  a file or folder that does not exist
:class:`MediaError`           ``ValueError``                         audio/video/image that cannot be decoded
:class:`StoreError`           ``OSError`` and ``ValueError``         a feature store or checkpoint that is
                                                                     corrupt, stale, locked or unwritable
============================  =====================================  ====================================

The native ops (``torch.ops.emofast.*``) cannot raise these classes from C++; their argument checks
raise ``ValueError`` (bad values and shapes) and ``TypeError`` (bad dtypes) instead.

Examples
--------
>>> from emofast.errors import EmofastError, InputError
>>> try:
...     raise InputError("labels must lie in [0, 6), got 7")
... except EmofastError as exc:
...     print(f"error: {exc}")
error: labels must lie in [0, 6), got 7
"""
from __future__ import annotations

__all__ = ["EmofastError", "InputError", "MissingFileError", "MediaError", "StoreError"]


class EmofastError(Exception):
    """Root of every error emofast raises on purpose."""


class InputError(EmofastError, ValueError):
    """A bad argument, array shape, label or setting given by the caller."""


class MissingFileError(EmofastError, FileNotFoundError, ValueError):
    """A file or folder named by the caller does not exist.

    Also a ``ValueError``: the loaders raised ``ValueError`` for a missing path before the error
    root existed, and callers catching that keep working.
    """


class MediaError(EmofastError, ValueError):
    """An audio, video or image file that exists but cannot be decoded or holds nothing usable."""


class StoreError(EmofastError, OSError, ValueError):
    """A feature store or checkpoint that is corrupt, stale, locked or cannot be written."""
