"""The feature store: :class:`FeatureStore` extracts features once per corpus x modality x settings,
resumably, and opens them memory-mapped (see :mod:`emofast.store` for the layout and guarantees)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from emofast.corpora import Utterance, select_modality
from emofast.errors import InputError, StoreError
from emofast.store import _disk
from emofast.store.extractor import Extractor, resolve_extractor
from emofast.store.featureset import FailedRecord, FeatureSet, SegmentRecord

__all__ = ["FeatureStore", "STORE_FORMAT"]

#: Version of the on-disk layout; part of every key.
STORE_FORMAT = 1
MODALITIES = ("audio", "video", "image")
_FLUSH_SECONDS = 1.0


def _key_of(settings: dict) -> str:
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _settings_of(ex: Extractor) -> dict:
    """What the key hashes (the layout of settings.json): modality, extractor, version, config."""
    config = ex.settings()
    try:
        json.dumps(config, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"config is not JSON-serialisable: {exc}") from None
    return {"modality": ex.modality, "extractor": str(ex.name), "extractor_version": ex.version,
            "config": config, "store_format": STORE_FORMAT}


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


# ------------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------------

class FeatureStore:
    """A folder of feature sets, one per corpus x modality x settings.

    Parameters
    ----------
    root : str or Path
        Store folder (created on first extraction).

    Attributes
    ----------
    errors : list of FailedRecord
        Utterances without features in the most recent :meth:`extract` call (failed or empty),
        including failures recorded by earlier, interrupted runs of the same request.
    changes : dict
        What the most recent :meth:`extract` call did: counts of ``new``, ``changed``,
        ``retried``, ``unchanged`` and ``removed`` utterances.
    changed_ids, removed_ids : list of str
        The changed (re-extracted) and removed (source gone, features kept) utterances.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.errors: list[FailedRecord] = []
        self.changes: dict[str, int] = {}
        self.changed_ids: list[str] = []
        self.removed_ids: list[str] = []

    # -- paths and settings ------------------------------------------------------------------
    def _dir(self, corpus: str, modality: str, key: str) -> Path:
        return self.root / corpus / modality / key

    @staticmethod
    def _check(corpus: str, modality: str) -> None:
        if not isinstance(corpus, str) or not corpus or "/" in corpus or corpus.startswith("."):
            raise InputError(f"invalid corpus name {corpus!r}")
        if modality not in MODALITIES:
            raise InputError(f"modality must be one of {MODALITIES}, got {modality!r}")

    def available(self) -> list[dict]:
        """Every feature set in the store: corpus, modality, key, settings, complete, counts."""
        out = []
        if not self.root.is_dir():
            return out
        for settings_path in sorted(self.root.glob("*/*/*/settings.json")):
            d = settings_path.parent
            try:
                settings = json.loads(settings_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            info = {"corpus": d.parent.parent.name, "modality": d.parent.name, "key": d.name,
                    "settings": settings, "complete": (d / "index.json").is_file()}
            if info["complete"]:
                try:
                    idx = _disk.read_json(d, "index.json")
                    info.update(n_utterances=len(idx["ids"]), n_failed=idx.get("n_failed", 0))
                except (StoreError, TypeError, KeyError) as exc:
                    info["damaged"] = str(exc)
            out.append(info)
        return out

    # -- extraction --------------------------------------------------------------------------
    def extract(self, corpus: str, utterances: Sequence[Utterance], modality: str | Extractor,
                extractor: Extractor | Callable[[str], np.ndarray] | None = None, config: Any = None, *,
                workers: int | None = None, progress: bool = True,
                retry_failed: bool = False, lock_timeout: float | None = None) -> FeatureSet:
        """Extract (or resume extracting) features of ``utterances`` and return them.

        Parameters
        ----------
        corpus : str
            Name of the feature set (usually ``Utterance.corpus``).
        utterances : sequence of Utterance
            What to extract; filtered by :func:`emofast.corpora.select_modality` (for audio a
            ``.wav`` wins over the ``.mp4`` of the same id). Ids must be unique.
        modality : {"audio", "video", "image"} or Extractor
            ``"audio"``: log-Mel segments (:class:`emofast.audio.LogMelExtractor`), ``"video"``: face
            crops (:class:`emofast.video.FaceExtractor`), ``"image"``: faces of still images
            (:class:`emofast.video.extractor.ImageExtractor`), each made with ``config``; or any
            :class:`~emofast.store.Extractor`, which carries its own modality and settings.
        extractor : Extractor or callable, optional
            Used instead of the built-in extractor of ``modality``: an
            :class:`~emofast.store.Extractor`, or a function ``path -> array (n, ...)`` (picklable
            when ``workers > 1``) whose ``name`` and ``version`` attributes (if any) join the key:
            bump ``version`` when its output changes.
        config : LogMelConfig, dict or object with ``to_dict()``, optional
            Feature settings. Audio: a :class:`emofast.audio.LogMelConfig` (default
            ``LogMelConfig()``). Video: keyword arguments of :func:`emofast.video.extract_faces`
            (default ``{"size": 64}``). Image: keyword arguments of
            :func:`emofast.video.image.face_image` (default ``{"size": 64, "detect": "auto"}``). A function extractor: recorded in the key.
        workers : int, optional
            Parallel workers, passed to the extractor's ``extract_many`` (audio: threads; video and
            function extractors: processes, default in-process). Worker processes re-import the
            calling script: called from a script's top-level code without an
            ``if __name__ == "__main__":`` guard they run on threads instead, with a warning.
        progress : bool
            Show a progress bar.
        retry_failed : bool
            Re-run utterances recorded as failed or empty by earlier runs.
        lock_timeout : float, optional
            Seconds to wait for another process extracting into the same set (it is named in a
            message printed once); then :class:`~emofast.errors.StoreError`. Default: wait.

        Returns
        -------
        FeatureSet
            Records of the requested utterances, in request order. :attr:`changes` counts what
            the run did: ``new``, ``changed`` (source file changed since its extraction:
            re-extracted), ``retried``, ``unchanged`` and ``removed`` (recorded, not requested, and
            the source file is gone: reported, kept in the store).

        Raises
        ------
        emofast.errors.InputError
            Bad corpus/modality/extractor, duplicate ids, or no utterance of the requested modality.
        emofast.errors.StoreError
            An id recorded earlier with another label or speaker, or a damaged feature set.
        """
        ex = resolve_extractor(modality, extractor, config)
        modality = ex.modality
        self._check(corpus, modality)
        settings = _settings_of(ex)
        key = _key_of(settings)
        utterances = list(utterances)
        seen: set[tuple[str, str]] = set()
        dup = sorted({u.id for u in utterances if (u.id, u.modality) in seen
                      or seen.add((u.id, u.modality))})  # type: ignore[func-returns-value]
        if dup:
            raise InputError(f"duplicate utterance ids {dup[:5]}: one feature set holds one corpus, "
                             "each id once per modality")
        items = select_modality(utterances, modality)
        if not items:
            raise InputError(f"no {modality} utterances to extract for corpus {corpus!r} "
                             f"({len(utterances)} given)")
        ids = [u.id for u in items]
        if len(set(ids)) != len(ids):
            raise InputError(f"utterances of several corpora ({sorted({u.corpus for u in items})}) "
                             f"share ids; extract each corpus under its own name")
        d = self._dir(corpus, modality, key)
        d.mkdir(parents=True, exist_ok=True)
        with _locked(d / "lock", lock_timeout):
            self._write_settings(d, settings)
            state = self._recover(d)
            records = state.latest
            for u in items:
                rec = records.get(u.id)
                if rec is not None and (rec["label"] != u.label or rec["speaker"] != u.speaker
                                        or rec.get("split") != u.split):
                    raise StoreError(
                        f"utterance {u.id!r} is stored with label {rec['label']!r}/speaker "
                        f"{rec['speaker']!r}/split {rec.get('split')!r} but requested with "
                        f"{u.label!r}/{u.speaker!r}/{u.split!r}: another corpus under the name "
                        f"{corpus!r}? Use another corpus name or store folder")
            kind = {}
            for u in items:
                rec = records.get(u.id)
                kind[u.id] = ("new" if rec is None else "changed" if _disk.source_changed(rec, u.path)
                              else "retried" if retry_failed and rec["status"] != "ok" else "unchanged")
            requested = set(ids)
            removed = [i for i, r in records.items() if i not in requested and not os.path.exists(r["path"])]
            todo = [u for u in items if kind[u.id] != "unchanged"]
            if todo:
                self._run(d, todo, state, ex, workers, progress)
            fs = self._feature_set(corpus, modality, key, settings, d, state, ids)
            self._write_index(d, state)
        self.errors = list(fs.failed)
        self.changes = {k: sum(v == k for v in kind.values()) for k in ("new", "changed", "retried", "unchanged")}
        self.changes["removed"] = len(removed)
        self.changed_ids = [i for i in ids if kind[i] == "changed"]
        self.removed_ids = removed
        return fs

    def _write_settings(self, d: Path, settings: dict) -> None:
        path = d / "settings.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != json.loads(json.dumps(settings)):
                raise StoreError(f"feature set {d} holds other settings than its key says "
                                 f"(stored {stored}, requested {settings}); remove the folder")
            return
        _atomic_write(path, json.dumps(settings, indent=1, sort_keys=True))

    def _recover(self, d: Path) -> _disk.State:
        """Parse the set (checking it) and, as the lock holder, cut the tail a killed writer left:
        a torn last line of progress.jsonl and rows of features.bin past the last record."""
        state = _disk.load(d)
        progress = d / "progress.jsonl"
        if state.torn_bytes:
            _notice(f"{progress}: cut a torn last line ({state.torn_bytes} bytes) left by an "
                    "interrupted extraction; it is extracted again")
            with open(progress, "r+b") as fh:
                fh.truncate(state.good_bytes)
        elif not progress.exists():
            progress.touch()  # before any row: rows without this file are damage, not a tail
        if state.layout is not None:
            nbytes = state.n_rows * state.layout["row_bytes"]
            if state.data_bytes > nbytes:
                _notice(f"{d / 'features.bin'}: cut {state.data_bytes - nbytes} bytes of rows without "
                        "a record, left by an interrupted extraction")
                with open(d / "features.bin", "r+b") as fh:
                    fh.truncate(nbytes)
                state.data_bytes = nbytes
        return state

    @staticmethod
    def _layout(d: Path) -> dict | None:
        path = d / "layout.json"
        return _disk.read_json(d, "layout.json") if path.is_file() else None

    def _run(self, d: Path, todo: list[Utterance], state: _disk.State, ex: Extractor,
             workers: int | None, progress: bool) -> None:
        # the source's identity is taken before extracting: a file changed meanwhile is seen as
        # changed by the next run
        sources = {}
        for u in todo:
            try:
                sources[u.id] = _disk.source_identity(u.path)
            except OSError:
                sources[u.id] = None
        stream = ex.extract_many([str(u.path) for u in todo], workers=workers, progress=progress)
        layout = state.layout
        data_path = d / "features.bin"
        records = state.latest
        committed = state.n_rows
        pending: list[dict] = []
        last_flush = time.monotonic()
        with open(data_path, "ab") as data, open(d / "progress.jsonl", "ab") as prog:

            def flush() -> None:
                if not pending:
                    return
                data.flush()
                os.fsync(data.fileno())
                prog.write(b"".join(json.dumps(r).encode() + b"\n" for r in pending))
                prog.flush()
                os.fsync(prog.fileno())
                pending.clear()

            try:
                for i, out, err in stream:
                    u = todo[i]
                    prev = records.get(u.id)
                    rec = {"seq": len(state.records), "id": u.id, "path": str(u.path), "label": u.label,
                           "speaker": u.speaker, "gender": u.gender, "split": u.split,
                           "status": "ok", "reason": None,
                           "start": 0, "stop": 0, "rows_blake2b": None, "source": sources[u.id],
                           "supersedes": None if prev is None else prev.get("seq", -1)}
                    arr = None
                    if err is not None:
                        rec.update(status="failed", reason=_describe_error(err))
                    else:
                        reason = getattr(out, "reason", None)
                        arr = getattr(out, "crops", out)
                        if not isinstance(arr, np.ndarray):
                            rec.update(status="failed",
                                       reason=f"extractor returned {type(arr).__name__}, not an array")
                            arr = None
                        elif arr.ndim < 1 or arr.shape[0] == 0:
                            rec.update(status="empty", reason=reason or "no segments extracted")
                            arr = None
                    if arr is not None:
                        arr = np.ascontiguousarray(arr)
                        if layout is None:
                            layout = {"dtype": arr.dtype.str, "shape": list(arr.shape[1:]),
                                      "row_bytes": int(arr[:1].nbytes)}
                            _atomic_write(d / "layout.json", json.dumps(layout))
                        if arr.dtype.str != layout["dtype"] or list(arr.shape[1:]) != layout["shape"]:
                            rec.update(status="failed", reason=(
                                f"segments of dtype {arr.dtype} shape {arr.shape[1:]} differ from the "
                                f"set's {np.dtype(layout['dtype'])} {tuple(layout['shape'])}"))
                        elif arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                            rec.update(status="failed", reason="non-finite feature values")
                        else:
                            data.write(memoryview(arr).cast("B"))
                            rec.update(start=committed, stop=committed + arr.shape[0],
                                       rows_blake2b=_disk.rows_checksum(arr))
                            committed += arr.shape[0]
                    records[u.id] = rec
                    state.records.append(rec)
                    state.n_rows = committed
                    if layout is not None:
                        state.layout = layout
                    pending.append(rec)
                    if time.monotonic() - last_flush > _FLUSH_SECONDS:
                        flush()
                        last_flush = time.monotonic()
            finally:
                # an interruption keeps everything whose rows are fully written
                flush()
                close = getattr(stream, "close", None)
                if close is not None:
                    close()

    def _feature_set(self, corpus: str, modality: str, key: str, settings: dict, d: Path,
                     state: _disk.State, ids: Sequence[str] | None) -> FeatureSet:
        layout, records, n_rows = state.layout, state.latest, state.n_rows
        order = list(ids) if ids is not None else list(records)
        ok = [records[i] for i in order if i in records and records[i]["status"] == "ok"]
        bad = [records[i] for i in order if i in records and records[i]["status"] != "ok"]
        if layout is None or n_rows == 0:
            shape = tuple(layout["shape"]) if layout else ()
            dtype = np.dtype(layout["dtype"]) if layout else np.float32
            features = np.zeros((0, *shape), dtype)
        else:
            features = np.memmap(d / "features.bin", dtype=np.dtype(layout["dtype"]), mode="r",
                                 shape=(n_rows, *layout["shape"]))
        return FeatureSet(
            corpus, modality, key, settings, d, features,
            [SegmentRecord(r["id"], r["start"], r["stop"], r["label"], r["speaker"], r["path"],
                           r.get("gender"), r.get("rows_blake2b"), r.get("split")) for r in ok],
            [FailedRecord(r["id"], r["path"], r["label"], r["speaker"], r["status"], r["reason"] or "")
             for r in bad])

    def _write_index(self, d: Path, state: _disk.State) -> None:
        """Mark the set complete: every recorded utterance, in recording order, and the number of
        records and rows the snapshot holds (readers read exactly these)."""
        records = state.latest
        index = {"format": _disk.RECORD_FORMAT, "ids": list(records), "n_records": len(state.records),
                 "n_rows": int(state.n_rows),
                 "n_failed": sum(r["status"] != "ok" for r in records.values()), "complete": True}
        _atomic_write(d / "index.json", json.dumps(index))

    # -- reading -----------------------------------------------------------------------------
    def open(self, corpus: str | None, modality: str | Extractor, config: Any = None,
             extractor: Extractor | Callable | None = None) -> FeatureSet:
        """Open a completely extracted feature set (every utterance recorded) without extracting.

        Reading writes nothing and takes no lock (a complete set is append-only and index.json
        names the records of its snapshot), so a set in a read-only folder opens. Every open checks
        the set's cheap invariants (records well formed, rows contiguous and within features.bin,
        index and layout agreeing); :meth:`verify` also checks the rows' checksums.

        Parameters
        ----------
        corpus : str or None
            Feature set name; ``None`` when the store holds a single corpus for ``modality``.
        modality : {"audio", "video", "image"} or Extractor
        config : optional
            The settings to open (as for :meth:`extract`). ``None`` with no ``extractor`` (and a
            modality name) opens the only complete set of ``corpus``/``modality``, whatever its
            settings.
        extractor : Extractor or callable, optional
            The custom extractor the set was made with.

        Raises
        ------
        emofast.errors.InputError
            Bad modality or extractor.
        emofast.errors.StoreError
            No set with these settings (features of other settings are never returned), several
            candidates, an extraction that never completed, or a damaged set. Messages name the
            store folder (and the damaged file, with what to do).
        """
        corpus, modality, key, settings = self._find(corpus, modality, config, extractor)
        d = self._dir(corpus, modality, key)
        state = _disk.load(d, complete=True)
        return self._feature_set(corpus, modality, key, settings, d, state, state.index["ids"])

    def verify(self, corpus: str | None, modality: str | Extractor, config: Any = None,
               extractor: Extractor | Callable | None = None) -> dict:
        """Open a complete set (as :meth:`open`) and check every utterance's rows against the
        checksum written at extraction.

        Returns
        -------
        dict
            ``checked`` (utterances whose checksum matched), ``without_checksum`` (ids recorded by
            emofast versions before checksums: not checkable) and ``path``.

        Raises
        ------
        emofast.errors.StoreError
            Rows of some utterances differ from their checksum (the message names them), or
            anything :meth:`open` raises.
        """
        fs = self.open(corpus, modality, config, extractor)
        bad, unchecked, checked = [], [], 0
        for r in fs.utterances:
            if r.checksum is None:
                unchecked.append(r.id)
            elif _disk.rows_checksum(np.ascontiguousarray(fs.features[r.start:r.stop])) != r.checksum:
                bad.append(r.id)
            else:
                checked += 1
        if bad:
            raise StoreError(f"feature set {str(fs.path)!r}: features.bin rows of {len(bad)} "
                             f"utterance(s) differ from their checksum: {', '.join(bad[:10])}"
                             + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
                             + "; remove the folder and extract again")
        return {"path": str(fs.path), "checked": checked, "without_checksum": unchecked}

    def _find(self, corpus: str | None, modality: str | Extractor, config: Any,
              extractor: Any) -> tuple[str, str, str, dict]:
        """The complete set :meth:`open` means: corpus, modality, key, settings."""
        any_settings = isinstance(modality, str) and config is None and extractor is None
        ex = resolve_extractor(modality, extractor, config)
        modality = ex.modality
        sets = [s for s in self.available() if s["modality"] == modality]
        if corpus is None:
            names = sorted({s["corpus"] for s in sets})
            if len(names) != 1:
                raise StoreError(f"store {str(self.root)!r} holds {modality} features of "
                                 f"{names or 'no corpus'}; name the corpus")
            corpus = names[0]
        self._check(corpus, modality)
        sets = [s for s in sets if s["corpus"] == corpus]
        if any_settings:
            complete = [s for s in sets if s["complete"]]
            if not complete:
                raise StoreError(f"no complete {modality} feature set for corpus {corpus!r} in "
                                 f"{str(self.root)!r}" + (" (an interrupted extraction exists: run "
                                                          "extract again to resume)" if sets else ""))
            if len(complete) > 1:
                raise StoreError(f"{len(complete)} {modality} feature sets with different settings for "
                                 f"{corpus!r} (keys {[s['key'] for s in complete]}); pass config")
            key, settings = complete[0]["key"], complete[0]["settings"]
        else:
            settings = _settings_of(ex)
            key = _key_of(settings)
            match = [s for s in sets if s["key"] == key]
            if not match:
                others = "; ".join(f"{s['key']}: {s['settings'].get('config')}" for s in sets)
                raise StoreError(f"no {modality} features of {corpus!r} with these settings (key {key}) "
                                 f"in {str(self.root)!r}" + (f"; stored settings: {others}" if others
                                                             else "") + "; run extract")
            if not match[0]["complete"]:
                raise StoreError(f"the {modality} feature set {key} of {corpus!r} "
                                 f"({str(self._dir(corpus, modality, key))!r}) is incomplete: "
                                 "run extract again to resume it")
            stored = match[0]["settings"]
            if stored != json.loads(json.dumps(settings)):
                raise StoreError(f"feature set {str(self._dir(corpus, modality, key))!r} holds other settings "
                                 "than requested")
        return corpus, modality, key, settings

    def report(self) -> str:
        """Human-readable list of the errors of the last :meth:`extract` call."""
        if not self.errors:
            return "no failed files"
        lines = [f"{len(self.errors)} file(s) without features:"]
        lines += [f"  {e.path}: {e.status}: {e.reason}" for e in self.errors]
        return "\n".join(lines)


def _notice(message: str) -> None:
    """One line on stderr: what the store did or waits for."""
    print(f"emofast: {message}", file=sys.stderr, flush=True)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "null")
        return f"process {info['pid']} on {info['host']} since {info['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "another process (it did not record itself)"


@contextmanager
def _locked(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Exclusive advisory lock of a writer, so two processes never append to one feature set at
    once. The holder writes its process id, host and start time into the lock file; a writer that
    has to wait says so once, naming the holder, and gives up after ``timeout`` seconds."""
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            _notice(f"waiting for {path.parent}, locked by {holder}"
                    + (f" (giving up after {timeout:g} s)" if timeout is not None else ""))
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise StoreError(
                            f"feature set {str(path.parent)!r} is locked by {_holder(path)}; gave up "
                            f"after {timeout:g} s: let that extraction finish or stop it, then run "
                            "again") from None
                    time.sleep(0.05)
        try:
            os.ftruncate(fh.fileno(), 0)
            fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
            fh.flush()
            yield
        finally:
            os.ftruncate(fh.fileno(), 0)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
