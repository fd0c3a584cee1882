"""Reading and checking a feature set's files (see :mod:`emofast.store` for the layout).

Everything here only reads. :func:`load` parses ``progress.jsonl`` and checks every cheap invariant
of a feature set (records well formed and numbered, rows contiguous and non-overlapping, index,
layout and data sizes agreeing); any inconsistency raises :class:`~emofast.errors.StoreError`
naming the file, what is wrong and what to do. The one thing a *writer* may repair, under the lock,
is the half-written tail a killed writer leaves: :func:`load` reports it (``torn_bytes``,
``extra_rows``) and :class:`~emofast.store.FeatureStore` cuts it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofast.errors import StoreError

#: Version of index.json / progress records written by this code (index.json "format").
RECORD_FORMAT = 2
STATUSES = ("ok", "failed", "empty")
_FIELDS = {"id": str, "path": str, "label": str, "speaker": str, "status": str, "start": int, "stop": int}
_REMOVE = "remove the folder and run extract again"


def rows_checksum(buf: Any) -> str:
    """Checksum of an utterance's rows (their C-order bytes): blake2b, 128 bits, hex."""
    return hashlib.blake2b(memoryview(buf).cast("B"), digest_size=16).hexdigest()


def source_identity(path: str | Path) -> dict:
    """Size, modification time (ns) and blake2b content hash of a source media file."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blake2b": file_hash(path)}


def file_hash(path: str | Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_changed(rec: dict, path: str | Path) -> bool:
    """Whether ``path`` differs from the file ``rec`` was extracted from: size and modification
    time first, the content hash to confirm. Records without a source identity (stores written
    before it existed) count as unchanged; a missing file counts as changed."""
    src = rec.get("source")
    if not src:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return True
    if st.st_size != src["size"]:
        return True
    if st.st_mtime_ns == src["mtime_ns"]:
        return False
    return file_hash(path) != src["blake2b"]


def damaged(d: Path, name: str, problem: str, advice: str = _REMOVE) -> StoreError:
    return StoreError(f"feature set {str(d)!r} is damaged: {name} {problem}; {advice}")


def read_json(d: Path, name: str, advice: str = _REMOVE) -> Any:
    path = d / name
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise damaged(d, name, "is missing", advice) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(d, name, f"cannot be read ({exc})", advice) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise damaged(d, name, f"is damaged ({exc})", advice) from None


@dataclass
class State:
    """A parsed feature set: records in file order and what they add up to."""

    records: list[dict] = field(default_factory=list)
    latest: dict[str, dict] = field(default_factory=dict)  # id -> its newest record, first-seen order
    n_rows: int = 0                      # rows covered by records (ok records tile [0, n_rows))
    layout: dict | None = None
    torn_bytes: int = 0                  # bytes after the last complete line of progress.jsonl
    good_bytes: int = 0                  # bytes of complete lines
    data_bytes: int = 0                  # size of features.bin
    index: dict | None = None


def _check_record(rec: Any, seq: int) -> str | None:
    if not isinstance(rec, dict):
        return f"is not a record but {type(rec).__name__}"
    for key, typ in _FIELDS.items():
        if key not in rec:
            return f"lacks {key!r}"
        if not isinstance(rec[key], typ) or isinstance(rec[key], bool):
            return f"has {key}={rec[key]!r}, not a {typ.__name__}"
    if "seq" in rec and rec["seq"] != seq:
        return (f"is record number {rec['seq']!r} where {seq} was expected (a duplicated, missing "
                "or reordered line)")
    if rec["status"] not in STATUSES:
        return f"has status {rec['status']!r}, not one of {STATUSES}"
    if rec["status"] == "ok" and not 0 <= rec["start"] < rec["stop"]:
        return f"has rows {rec['start']}:{rec['stop']}"
    if rec["status"] != "ok" and rec["start"] != rec["stop"]:
        return f"is {rec['status']} but has rows {rec['start']}:{rec['stop']}"
    return None


def _add(d: Path, st: State, rec: dict, line: int) -> None:
    """Append one parsed record to ``st``, checking it against the records before it."""
    name = "progress.jsonl"
    problem = _check_record(rec, len(st.records))
    if problem:
        raise damaged(d, name, f"line {line} {problem}")
    prev = st.latest.get(rec["id"])
    if "seq" in rec:  # written by this code: a repeated id must name the record it supersedes
        sup = rec.get("supersedes")
        if (prev is None and sup is not None) or (prev is not None and sup != prev.get("seq", -1)):
            raise damaged(d, name, f"line {line} is a duplicated record of {rec['id']!r} (it "
                          f"supersedes {sup!r}, the newest record is "
                          f"{None if prev is None else prev.get('seq')!r})")
    elif prev is not None and prev["status"] == "ok":  # older stores re-recorded only failures
        raise damaged(d, name, f"line {line} is a duplicated record of {rec['id']!r}")
    if rec["status"] == "ok":
        if rec["start"] != st.n_rows:
            what = "overlap the rows of an earlier record" if rec["start"] < st.n_rows else \
                f"leave rows {st.n_rows}:{rec['start']} without a record (records are missing)"
            raise damaged(d, name, f"line {line}: the rows {rec['start']}:{rec['stop']} of "
                          f"{rec['id']!r} {what}")
        st.n_rows = rec["stop"]
    st.records.append(rec)
    st.latest[rec["id"]] = rec


def load(d: Path, *, limit: int | None = None, complete: bool = False) -> State:
    """Parse and check the feature set in folder ``d`` (reads only).

    ``complete``: the set must have an index.json, and only its snapshot (the records it counts)
    is read, so records appended since by a running or killed writer are ignored. Otherwise every
    complete line is read and a torn tail is reported in ``torn_bytes``/the row excess is left to
    the caller (a writer) to cut.
    """
    st = State()
    index = None
    if complete or (d / "index.json").exists():
        index = read_json(d, "index.json", "remove index.json and run extract again to rebuild it "
                          "from progress.jsonl, or remove the folder and extract again")
        if (not isinstance(index, dict) or not isinstance(index.get("ids"), list)
                or not isinstance(index.get("n_rows"), int)):
            raise damaged(d, "index.json", "is damaged (no ids or n_rows)",
                          "remove index.json and run extract again to rebuild it")
        st.index = index
        if complete and isinstance(index.get("n_records"), int):
            limit = index["n_records"]
    progress = d / "progress.jsonl"
    data = d / "features.bin"
    try:
        raw = progress.read_bytes()
    except FileNotFoundError:
        if index is not None or data.exists():
            raise damaged(d, "progress.jsonl", "is missing, so no row of features.bin can be "
                          "attributed") from None
        raw = b""
    lines = raw.split(b"\n")
    lines.pop()  # after the last newline: empty, or the torn line of a killed writer
    pos = 0
    for n, line in enumerate(lines, 1):
        if limit is not None and len(st.records) == limit:
            break
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise damaged(d, "progress.jsonl", f"line {n} is garbled ({exc}): it is not the torn "
                          "last line of a killed run") from None
        _add(d, st, rec, n)
        pos += len(line) + 1
    st.good_bytes = pos
    st.torn_bytes = len(raw) - pos if limit is None else 0
    if index is not None:
        _check_index(d, st, index, exact=limit is not None)
    if (d / "layout.json").exists() or st.n_rows:
        st.layout = read_json(d, "layout.json")
        _check_layout(d, st.layout)
    try:
        st.data_bytes = data.stat().st_size
    except FileNotFoundError:
        if st.n_rows:
            raise damaged(d, "features.bin", f"is missing ({st.n_rows} rows are recorded)") from None
    if st.layout is not None and st.data_bytes < st.n_rows * st.layout["row_bytes"]:
        raise damaged(d, "features.bin", f"is short: {st.data_bytes} bytes where the records need "
                      f"{st.n_rows} rows of {st.layout['row_bytes']} bytes")
    return st


def _check_index(d: Path, st: State, index: dict, exact: bool) -> None:
    n = index.get("n_records")
    if isinstance(n, int) and len(st.records) < n:
        raise damaged(d, "progress.jsonl", f"holds {len(st.records)} complete records but index.json "
                      f"counts {n}: records were lost")
    live = set(st.latest)
    missing = [i for i in index["ids"] if i not in live]
    if missing:
        raise damaged(d, "progress.jsonl", f"has no record of {len(missing)} utterance(s) that "
                      f"index.json lists (e.g. {missing[:3]}): records were lost")
    if exact and set(index["ids"]) != live:
        extra = sorted(live - set(index["ids"]))
        raise damaged(d, "index.json", f"does not list utterances that progress.jsonl records "
                      f"({extra[:3]})")
    if (st.n_rows != index["n_rows"]) if exact else (st.n_rows < index["n_rows"]):
        raise damaged(d, "progress.jsonl", f"records {st.n_rows} rows but index.json says "
                      f"{index['n_rows']}")


def _check_layout(d: Path, layout: Any) -> None:
    try:
        row = int(np.dtype(layout["dtype"]).itemsize * int(np.prod(layout["shape"], dtype=np.int64)))
        ok = row == layout["row_bytes"]
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise damaged(d, "layout.json", f"is damaged ({layout!r})")
