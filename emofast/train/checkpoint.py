"""Checkpoint files that know which run wrote them.

Every checkpoint emofast writes (an evolution's generation state, a finished fold of the fold loop,
a run's manifest) is one ``torch.save`` file holding plain data only::

    {"format": 1, "kind": "emofast.evolve" | "emofast.fold" | "emofast.run",
     "identity": "<JSON: seed, task, fold, data fingerprint, settings, ...>",
     "state": {tensors, ints, and JSON strings}}

* :func:`load` reads with ``torch.load(weights_only=True)`` (:func:`read_plain`, which model bundles
  use too): no pickle of arbitrary objects is ever needed, so a crafted file cannot execute code;
  it is refused with a :class:`StoreError`.
* Anything that is not such a file (empty, truncated, random bytes, another kind, another format)
  raises :class:`StoreError` naming the file.
* The identity saved in the file is compared field by field with the run's own; the first field
  that differs is named in the :class:`StoreError` (``seed``, ``fold``, ``data``, ``config.lr``...),
  so a checkpoint is never resumed by, or reused for, another run.
* :func:`save` writes a temporary file beside the target and renames it over the target
  (atomic); the temporary file is removed when writing fails.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import warnings
from typing import Any

import numpy as np

from emofast.errors import EmofastError, InputError, StoreError

__all__ = ["FORMAT", "ResumeWarning", "fingerprint", "save", "load", "check_identity",
           "read_plain", "write_plain"]

#: Version of the checkpoint layout; files of another version are refused.
FORMAT = 1


class ResumeWarning(UserWarning):
    """A run continues from a checkpoint (one line: the file and where it resumes)."""


def fingerprint(*arrays: Any, chunk: int = 1024) -> str:
    """blake2b (128 bits, hex) over the dtype, shape and bytes of each array (None allowed).

    Row-chunked, so a memory-mapped feature view is hashed without reading it all at once.
    """
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        if hasattr(a, "detach"):  # torch tensor
            a = a.detach().cpu().numpy()
        if not isinstance(a, np.ndarray) and not hasattr(a, "shape"):
            a = np.asarray(a)
        shape = tuple(a.shape)
        first = np.asarray(a[:0]) if shape else np.asarray(a)
        if first.dtype == object:
            a, first = np.asarray(a).astype(str), first.astype(str)
        h.update(f"{first.dtype.str}{shape};".encode())
        if not shape:
            h.update(np.ascontiguousarray(a).tobytes())
            continue
        for i in range(0, shape[0], chunk):
            h.update(np.ascontiguousarray(np.asarray(a[i:i + chunk])).tobytes())
    return h.hexdigest()


def _plain(identity: dict) -> dict:
    """The identity as JSON would give it back (tuples as lists), so saved and live ones compare."""
    try:
        return json.loads(json.dumps(identity))
    except TypeError as exc:
        raise InputError(f"checkpoint identity must be plain data (JSON): {exc}") from None


def _differs(saved: Any, ours: Any, prefix: str = "") -> str | None:
    """Dotted name of the first field (in this run's order) where two identities differ."""
    if isinstance(saved, dict) and isinstance(ours, dict):
        for key in [*ours, *(k for k in saved if k not in ours)]:
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved or key not in ours:
                return name
            found = _differs(saved[key], ours[key], name)
            if found is not None:
                return found
        return None
    return None if saved == ours else (prefix or "identity")


def _get(identity: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(identity, dict) or part not in identity:
            return "(absent)"
        identity = identity[part]
    return identity


def check_identity(path: str, saved: dict, ours: dict) -> None:
    """Raise :class:`StoreError` naming ``path`` and the first differing field."""
    ours = _plain(ours)
    field = _differs(saved, ours)
    if field is not None:
        raise StoreError(
            f"checkpoint {path} was written by another run: {field} is {_get(saved, field)!r} "
            f"there but {_get(ours, field)!r} in this run; delete it (or use another checkpoint "
            "location) to start afresh")


def save(path: str | os.PathLike, kind: str, identity: dict, state: dict) -> None:
    """Write a checkpoint atomically (temporary file + rename; the temporary file is removed when
    writing fails, and the error is a :class:`StoreError` naming ``path``)."""
    obj = {"format": FORMAT, "kind": kind, "identity": json.dumps(_plain(identity)),
           "state": state}
    write_plain(path, obj)


def write_plain(path: str | os.PathLike, obj: Any, what: str = "checkpoint") -> None:
    """``torch.save(obj)`` atomically: a temporary file beside ``path`` renamed over it, removed
    when writing fails (the error is then a :class:`StoreError` naming ``path`` and ``what``)."""
    import torch

    path = os.fspath(path)
    tmp = f"{path}.tmp"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the temporary file may not exist yet
            os.remove(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, StoreError):
            raise StoreError(f"cannot write {what} {path}: {exc}") from exc
        raise


def read_plain(path: str | os.PathLike, what: str = "checkpoint", *,
               error: type[EmofastError] = StoreError,
               remedy: str = "delete it to start afresh") -> Any:
    """Read a ``torch.save`` file of tensors and plain data only, never running code from it.

    ``torch.load(weights_only=True)`` refuses any pickled object other than tensors, numbers,
    strings, lists, tuples and dicts, so a crafted file cannot execute code.

    Parameters
    ----------
    path : path
    what : str
        What the file should be, for messages ("checkpoint", "model bundle").
    error : type
        Error class raised for a refused or unreadable file.
    remedy : str
        What the user should do about a damaged file (end of the message).

    Raises
    ------
    error
        A code-carrying pickle (refused, never executed) or a damaged or foreign file; the message
        names ``path``.
    FileNotFoundError
        ``path`` does not exist.
    """
    import torch

    path = os.fspath(path)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights only" in text.lower() or "weights_only" in text:
            wanted = re.search(r"GLOBAL ([\w.]+)", text)
            reason = (f"it asks for the Python object {wanted.group(1).strip('.')}" if wanted else
                      "it is not made of tensors and plain data only (a damaged file, or a pickle "
                      "of other Python objects)")
            raise error(f"{what} {path} is refused: {reason}, and emofast never runs code from "
                        f"a {what}; delete it if you did not write it") from None
        raise error(_damaged(path, what, exc, remedy)) from None
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/EOFError/... for bad files
        raise error(_damaged(path, what, exc, remedy)) from None


def _damaged(path: str, what: str, exc: BaseException, remedy: str) -> str:
    """One line: ``path`` is damaged, with the first sentence of the reader's error."""
    detail = " ".join(str(exc).split()).split(". ")[0][:160]
    return f"{what} {path} is damaged or not an emofast {what} ({type(exc).__name__}: {detail}); {remedy}"


def load(path: str | os.PathLike, kind: str, identity: dict) -> dict:
    """Read a checkpoint written by :func:`save` for the same ``kind`` and ``identity``; returns
    its ``state``.

    Raises
    ------
    StoreError
        Damaged or foreign file, code-carrying pickle (refused, never executed), other format or
        kind, or an identity field that differs (named).
    """
    path = os.fspath(path)
    obj = read_plain(path)
    if not isinstance(obj, dict) or "format" not in obj or "kind" not in obj:
        raise StoreError(f"checkpoint {path} is not an emofast checkpoint (written by an older "
                         "version or another program); delete it to start afresh")
    if obj["format"] != FORMAT:
        raise StoreError(f"checkpoint {path} has format {obj['format']!r}, this emofast reads "
                         f"format {FORMAT}; delete it to start afresh")
    if obj["kind"] != kind:
        raise StoreError(f"checkpoint {path} holds a {obj['kind']!r} checkpoint, expected {kind!r}")
    try:
        saved = json.loads(obj["identity"])
        state = obj["state"]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"checkpoint {path} is damaged ({exc})") from None
    check_identity(path, saved, identity)
    if not isinstance(state, dict):
        raise StoreError(f"checkpoint {path} is damaged (no state)")
    return state
