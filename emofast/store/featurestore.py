"""The feature store: :class:`FeatureStore` extracts features once per corpus x modality x settings,
resumably, and opens them memory-mapped (see :mod:`emofast.store` for the layout and guarantees)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from emofast.corpora import Utterance, select_modality
from emofast.errors import InputError, StoreError
from emofast.store.extractor import Extractor, resolve_extractor
from emofast.store.featureset import FailedRecord, FeatureSet, SegmentRecord

__all__ = ["FeatureStore", "STORE_FORMAT"]

#: Version of the on-disk layout; part of every key.
STORE_FORMAT = 1
MODALITIES = ("audio", "video")
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
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.errors: list[FailedRecord] = []

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
                idx = json.loads((d / "index.json").read_text())
                info.update(n_utterances=len(idx["ids"]), n_failed=idx.get("n_failed", 0))
            out.append(info)
        return out

    # -- extraction --------------------------------------------------------------------------
    def extract(self, corpus: str, utterances: Sequence[Utterance], modality: str | Extractor,
                extractor: Extractor | Callable[[str], np.ndarray] | None = None, config: Any = None, *,
                workers: int | None = None, progress: bool = True,
                retry_failed: bool = False) -> FeatureSet:
        """Extract (or resume extracting) features of ``utterances`` and return them.

        Parameters
        ----------
        corpus : str
            Name of the feature set (usually ``Utterance.corpus``).
        utterances : sequence of Utterance
            What to extract; filtered by :func:`emofast.corpora.select_modality` (for audio a
            ``.wav`` wins over the ``.mp4`` of the same id). Ids must be unique.
        modality : {"audio", "video"} or Extractor
            ``"audio"``: log-Mel segments (:class:`emofast.audio.LogMelExtractor`), ``"video"``: face
            crops (:class:`emofast.video.FaceExtractor`), each made with ``config``; or any
            :class:`~emofast.store.Extractor`, which carries its own modality and settings.
        extractor : Extractor or callable, optional
            Used instead of the built-in extractor of ``modality``: an
            :class:`~emofast.store.Extractor`, or a function ``path -> array (n, ...)`` (picklable
            when ``workers > 1``) whose ``name`` and ``version`` attributes (if any) join the key:
            bump ``version`` when its output changes.
        config : LogMelConfig, dict or object with ``to_dict()``, optional
            Feature settings. Audio: a :class:`emofast.audio.LogMelConfig` (default
            ``LogMelConfig()``). Video: keyword arguments of :func:`emofast.video.extract_faces`
            (default ``{"size": 64}``). A function extractor: recorded in the key.
        workers : int, optional
            Parallel workers, passed to the extractor's ``extract_many`` (audio: threads; video and
            function extractors: processes, default in-process). Worker processes re-import the
            calling script: called from a script's top-level code without an
            ``if __name__ == "__main__":`` guard they run on threads instead, with a warning.
        progress : bool
            Show a progress bar.
        retry_failed : bool
            Re-run utterances recorded as failed or empty by earlier runs.

        Returns
        -------
        FeatureSet
            Records of the requested utterances, in request order.

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
        with _locked(d / "lock"):
            self._write_settings(d, settings)
            records = self._recover(d)
            for u in items:
                rec = records.get(u.id)
                if rec is not None and (rec["label"] != u.label or rec["speaker"] != u.speaker):
                    raise StoreError(
                        f"utterance {u.id!r} is stored with label {rec['label']!r}/speaker "
                        f"{rec['speaker']!r} but requested with {u.label!r}/{u.speaker!r}: another "
                        f"corpus under the name {corpus!r}? Use another corpus name or store folder")
            todo = [u for u in items if u.id not in records
                    or (retry_failed and records[u.id]["status"] != "ok")]
            if todo:
                self._run(d, todo, records, ex, workers, progress)
            fs = self._feature_set(corpus, modality, key, settings, d, records, ids)
            self._write_index(d, records)
        self.errors = list(fs.failed)
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

    def _recover(self, d: Path) -> dict[str, dict]:
        """Read progress.jsonl (dropping a torn last line) and cut features.bin to the recorded rows."""
        progress = d / "progress.jsonl"
        records: dict[str, dict] = {}
        if progress.is_file():
            raw = progress.read_bytes()
            good = 0
            for line in raw.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break
                records[rec["id"]] = rec
                good += len(line)
            if good != len(raw):
                with open(progress, "r+b") as fh:
                    fh.truncate(good)
        layout = self._layout(d)
        data = d / "features.bin"
        if layout is not None and data.is_file():
            rows = max((r["stop"] for r in records.values() if r["status"] == "ok"), default=0)
            nbytes = rows * layout["row_bytes"]
            if data.stat().st_size > nbytes:
                with open(data, "r+b") as fh:
                    fh.truncate(nbytes)
            elif data.stat().st_size < nbytes:
                raise StoreError(f"feature set {d} is damaged: features.bin holds fewer rows than its "
                                 f"index records; remove the folder and extract again")
        return records

    @staticmethod
    def _layout(d: Path) -> dict | None:
        path = d / "layout.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def _run(self, d: Path, todo: list[Utterance], records: dict[str, dict], ex: Extractor,
             workers: int | None, progress: bool) -> None:
        stream = ex.extract_many([str(u.path) for u in todo], workers=workers, progress=progress)
        layout = self._layout(d)
        data_path = d / "features.bin"
        committed = max((r["stop"] for r in records.values() if r["status"] == "ok"), default=0)
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
                    rec = {"id": u.id, "path": str(u.path), "label": u.label, "speaker": u.speaker,
                           "gender": u.gender, "status": "ok", "reason": None, "start": 0, "stop": 0}
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
                            rec.update(start=committed, stop=committed + arr.shape[0])
                            committed += arr.shape[0]
                    records[u.id] = rec
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
                     records: dict[str, dict], ids: Sequence[str] | None) -> FeatureSet:
        layout = self._layout(d)
        order = list(ids) if ids is not None else list(records)
        ok = [records[i] for i in order if i in records and records[i]["status"] == "ok"]
        bad = [records[i] for i in order if i in records and records[i]["status"] != "ok"]
        n_rows = max((r["stop"] for r in records.values() if r["status"] == "ok"), default=0)
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
                           r.get("gender")) for r in ok],
            [FailedRecord(r["id"], r["path"], r["label"], r["speaker"], r["status"], r["reason"] or "")
             for r in bad])

    def _write_index(self, d: Path, records: dict[str, dict]) -> None:
        """Mark the set complete: every recorded utterance, in recording order."""
        n_rows = max((r["stop"] for r in records.values() if r["status"] == "ok"), default=0)
        index = {"ids": list(records), "n_rows": int(n_rows),
                 "n_failed": sum(r["status"] != "ok" for r in records.values()), "complete": True}
        _atomic_write(d / "index.json", json.dumps(index))

    # -- reading -----------------------------------------------------------------------------
    def open(self, corpus: str | None, modality: str | Extractor, config: Any = None,
             extractor: Extractor | Callable | None = None) -> FeatureSet:
        """Open a completely extracted feature set (every utterance recorded) without extracting.

        Parameters
        ----------
        corpus : str or None
            Feature set name; ``None`` when the store holds a single corpus for ``modality``.
        modality : {"audio", "video"} or Extractor
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
            candidates, or an extraction that never completed. Messages name the store folder.
        """
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
        d = self._dir(corpus, modality, key)
        with _locked(d / "lock"):
            records = self._recover(d)
            index = json.loads((d / "index.json").read_text())
            return self._feature_set(corpus, modality, key, settings, d, records, index["ids"])

    def report(self) -> str:
        """Human-readable list of the errors of the last :meth:`extract` call."""
        if not self.errors:
            return "no failed files"
        lines = [f"{len(self.errors)} file(s) without features:"]
        lines += [f"  {e.path}: {e.status}: {e.reason}" for e in self.errors]
        return "\n".join(lines)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so two processes never append to one feature set at once."""
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
