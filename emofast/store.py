"""Feature store: features extracted once, memory-mapped, resumable, keyed by their settings.

Layout of a store folder::

    <root>/<corpus>/<modality>/<key>/settings.json   what the key hashes: modality, extractor, config
                                     layout.json     dtype and per-segment shape (after the first file)
                                     features.bin    raw C-order rows, one per segment (np.memmap)
                                     progress.jsonl  one record per processed utterance (the index)
                                     index.json      written when an extraction run completes

``key`` is a hash of the feature settings (``config.to_dict()``), the extractor's name and version
and the store format, so features of other settings never mix: :meth:`FeatureStore.open` with
settings that were never extracted raises instead of returning old features.

Resuming: every file's segments are appended to ``features.bin`` *before* its record is appended to
``progress.jsonl``; an interrupted run (Ctrl-C, a crash, a killed worker) leaves at worst a tail of
rows without a record, which the next run truncates before continuing with the utterances that have
no record yet. Nothing that was recorded is recomputed.

Files that fail (unreadable, corrupt, no face found, no segment) get a record with status
``"failed"`` or ``"empty"`` and the reason; they are counted and reported (:attr:`FeatureStore.errors`,
:attr:`FeatureSet.failed`), and the rest of the corpus is kept.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from emofast.corpora import EMOTIONS, Utterance, select_modality
from emofast.errors import InputError, StoreError

__all__ = ["FeatureStore", "FeatureSet", "SegmentRecord", "FailedRecord", "STORE_FORMAT"]

#: Version of the on-disk layout; part of every key.
STORE_FORMAT = 1
MODALITIES = ("audio", "video")
_FLUSH_SECONDS = 1.0
# keys of extract_faces that change no feature value, so they stay out of the store key
_VIDEO_NONKEY = {"threads", "on_no_face"}


@dataclass(frozen=True)
class SegmentRecord:
    """Index entry of one extracted utterance: its segments are ``features[start:stop]``."""

    id: str
    start: int
    stop: int
    label: str
    speaker: str
    path: str
    gender: str | None = None

    @property
    def n_segments(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class FailedRecord:
    """An utterance that yielded no features: ``status`` is ``"failed"`` (error) or ``"empty"``."""

    id: str
    path: str
    label: str
    speaker: str
    status: str
    reason: str


class FeatureSet:
    """Features of one corpus x modality x settings, with their utterance index.

    Attributes
    ----------
    corpus, modality, key : str
    settings : dict
        What the key hashes (modality, extractor, config).
    features : numpy.memmap
        ``(n_rows, 3, 64, 64)`` float32 for audio, ``(n_rows, 64, 64, 3)`` uint8 for faces
        (read-only). Every row belongs to at most one record of :attr:`utterances`.
    utterances : list of SegmentRecord
        Utterances with at least one segment, in request order; segments ``start:stop``.
    failed : list of FailedRecord
        Utterances without features, with the reason.
    """

    def __init__(self, corpus: str, modality: str, key: str, settings: dict, path: Path,
                 features: np.ndarray, utterances: list[SegmentRecord], failed: list[FailedRecord]):
        self.corpus = corpus
        self.modality = modality
        self.key = key
        self.settings = settings
        self.path = path
        self.features = features
        self.utterances = utterances
        self.failed = failed

    def __len__(self) -> int:
        return len(self.utterances)

    def __repr__(self) -> str:
        return (f"FeatureSet({self.corpus!r}, {self.modality!r}, key={self.key!r}, "
                f"{len(self.utterances)} utterances, {self.n_segments} segments, "
                f"{len(self.failed)} failed)")

    @property
    def n_segments(self) -> int:
        """Segments belonging to :attr:`utterances`."""
        return sum(r.stop - r.start for r in self.utterances)

    def ids(self) -> list[str]:
        """Utterance ids, in :attr:`utterances` order."""
        return [r.id for r in self.utterances]

    def rows(self) -> np.ndarray:
        """Row indices into :attr:`features` of all segments, utterance by utterance (int64)."""
        if not self.utterances:
            return np.zeros(0, np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in self.utterances])

    def _per_row(self, values: np.ndarray, fill: Any) -> np.ndarray:
        out = np.full(self.features.shape[0], fill, dtype=values.dtype)
        for r, v in zip(self.utterances, values):
            out[r.start:r.stop] = v
        return out

    def labels(self, classes: Sequence[str] | None = None, *,
               vocabulary: Sequence[str] | None = None) -> np.ndarray:
        """Class index of each utterance (:attr:`utterances` order), int64.

        Parameters
        ----------
        classes : sequence of str, optional
            Class names in index order. Default: the labels present in this set, sorted, numbered
            ``0 .. n_present - 1`` (:func:`emofast.dataset.encode_labels`), so a corpus with 7
            emotions gets labels 0..6 whatever the shared vocabulary holds. Pass e.g.
            :data:`emofast.corpora.EMOTIONS` for the old 9-emotion numbering, or the classes of
            another set to number two sets alike.
        vocabulary : sequence of str, optional
            Older name of ``classes`` (keyword only); give one of the two.

        Raises
        ------
        emofast.errors.InputError
            A label is not in ``classes`` (select labels first: :meth:`select_labels`), or both
            ``classes`` and ``vocabulary`` were given.

        Examples
        --------
        A set holding anger, sadness and happiness: ``labels()`` numbers them 0 (anger),
        1 (happiness), 2 (sadness); ``labels(EMOTIONS)`` gives 0, 4 and 6.
        """
        from emofast.dataset import encode_labels

        classes = self._classes(classes, vocabulary)
        names = [r.label for r in self.utterances]
        if classes is not None:
            missing = sorted(set(names) - set(classes))
            if missing:
                raise InputError(f"labels {missing} of {self.corpus}/{self.modality} are not in the "
                                 f"vocabulary {list(classes)}; use FeatureSet.select_labels first")
        return encode_labels(names, classes)[0]

    def classes(self, classes: Sequence[str] | None = None, *,
                vocabulary: Sequence[str] | None = None) -> list[str]:
        """Class names in the index order of :meth:`labels` called with the same arguments."""
        from emofast.dataset import encode_labels

        return encode_labels([r.label for r in self.utterances], self._classes(classes, vocabulary))[1]

    @staticmethod
    def _classes(classes: Sequence[str] | None, vocabulary: Sequence[str] | None
                 ) -> Sequence[str] | None:
        if classes is not None and vocabulary is not None:
            raise InputError("give classes or vocabulary, not both")
        return vocabulary if classes is None else classes

    def segment_labels(self, classes: Sequence[str] | None = None, *,
                       vocabulary: Sequence[str] | None = None) -> np.ndarray:
        """Class index of every row of :attr:`features` (int64; -1 for rows of no listed utterance).

        Numbered as by :meth:`labels` with the same arguments: by default contiguously over the
        labels present, sorted.
        """
        return self._per_row(self.labels(classes, vocabulary=vocabulary), -1)

    def segment_groups(self) -> np.ndarray:
        """Utterance index (into :attr:`utterances`) of every row of :attr:`features` (int64; -1 for
        rows of no listed utterance). Splits made on these groups never cut an utterance."""
        return self._per_row(np.arange(len(self.utterances), dtype=np.int64), -1)

    def speakers(self) -> np.ndarray:
        """Speaker of each utterance (str array, :attr:`utterances` order), e.g. for
        leave-one-speaker-out splits."""
        return np.array([r.speaker for r in self.utterances], dtype=str)

    def segment_speakers(self) -> np.ndarray:
        """Speaker of every row of :attr:`features` (str; ``""`` for rows of no listed utterance)."""
        return self._per_row(self.speakers().astype(object), "").astype(str)

    def select_labels(self, labels: Sequence[str]) -> FeatureSet:
        """The same features restricted to utterances whose label is in ``labels``."""
        unknown = sorted(set(labels) - set(EMOTIONS))
        if unknown:
            raise InputError(f"unknown emotion label(s) {unknown}; the vocabulary is {list(EMOTIONS)}")
        keep = set(labels)
        return FeatureSet(self.corpus, self.modality, self.key, self.settings, self.path,
                          self.features, [r for r in self.utterances if r.label in keep],
                          [f for f in self.failed if f.label in keep])

    def summary(self) -> str:
        """One line: counts of utterances, segments, speakers and failures."""
        return (f"{self.corpus}/{self.modality} [{self.key}]: {len(self.utterances)} utterances, "
                f"{self.n_segments} segments of shape {tuple(self.features.shape[1:])}, "
                f"{len(set(r.speaker for r in self.utterances))} speakers, {len(self.failed)} failed")


# ------------------------------------------------------------------------------------------------
# extractors
# ------------------------------------------------------------------------------------------------

def _default_settings(modality: str, config: Any, extractor: Callable | None
                      ) -> tuple[dict, Any]:
    """Return (settings dict that is hashed, resolved config object)."""
    if extractor is not None:
        name = getattr(extractor, "name", None) or \
            f"{getattr(extractor, '__module__', '?')}.{getattr(extractor, '__qualname__', type(extractor).__name__)}"
        version = getattr(extractor, "version", None)
        cfg = _config_dict(config) if config is not None else {}
        return ({"modality": modality, "extractor": str(name), "extractor_version": version,
                 "config": cfg, "store_format": STORE_FORMAT}, config)
    if modality == "audio":
        from emofast.audio import LogMelConfig

        if config is None:
            config = LogMelConfig()
        elif isinstance(config, Mapping):
            config = LogMelConfig.from_dict(dict(config))
        if not isinstance(config, LogMelConfig):
            raise TypeError(f"audio config must be a LogMelConfig or dict, got {type(config).__name__}")
        return ({"modality": modality, "extractor": "emofast.audio.logmel_segments",
                 "extractor_version": None, "config": config.to_dict(),
                 "store_format": STORE_FORMAT}, config)
    kwargs = {"size": 64} if config is None else dict(_config_dict(config))
    kwargs.setdefault("size", 64)
    keyed = {k: v for k, v in sorted(kwargs.items()) if k not in _VIDEO_NONKEY}
    return ({"modality": modality, "extractor": "emofast.video.extract_faces",
             "extractor_version": None, "config": keyed, "store_format": STORE_FORMAT}, kwargs)


def _config_dict(config: Any) -> dict:
    if hasattr(config, "to_dict"):
        d = config.to_dict()
    elif isinstance(config, Mapping):
        d = dict(config)
    else:
        raise TypeError(f"config must have .to_dict() or be a dict, got {type(config).__name__}")
    try:
        json.dumps(d, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"config is not JSON-serialisable: {exc}") from None
    return d


def _key_of(settings: dict) -> str:
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _describe_error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _iter_callable(paths: list[str], extractor: Callable[[str], np.ndarray], workers: int | None,
                   progress: bool) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run a per-file extractor, in input order, in this process or a pool of processes."""
    from emofast.parallel import ordered_map

    return ordered_map(extractor, paths, workers=workers or 1, kind="processes", progress=progress,
                       desc="features", unit="file")


def _iter_default(modality: str, paths: list[str], config: Any, workers: int | None,
                  progress: bool) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Stream (input index, array or FaceTrack, error) from emofast.audio / emofast.video."""
    if modality == "audio":
        from emofast.audio import iter_logmel_segments

        for res in iter_logmel_segments(paths, config, workers=workers, progress=progress,
                                        on_error="skip"):
            yield res.index, res.segments, res.error
        return
    from emofast.video import iter_faces

    kwargs = dict(config)
    kwargs["on_no_face"] = "empty"
    for i, (_, result) in enumerate(iter_faces(paths, workers=workers, progress=progress, on_error="skip",
                                               **kwargs)):
        if isinstance(result, BaseException):
            yield i, None, result
        else:
            yield i, result, None


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
    def extract(self, corpus: str, utterances: Sequence[Utterance], modality: str,
                extractor: Callable[[str], np.ndarray] | None = None, config: Any = None, *,
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
        modality : {"audio", "video"}
            Log-Mel segments (:mod:`emofast.audio`) or face crops (:mod:`emofast.video`).
        extractor : callable, optional
            ``path -> array (n, ...)`` used instead of the built-in extractor; picklable when
            ``workers > 1``. Its ``name`` and ``version`` attributes (if any) join the key: bump
            ``version`` when its output changes.
        config : LogMelConfig, dict or object with ``to_dict()``, optional
            Feature settings. Audio: a :class:`emofast.audio.LogMelConfig` (default
            ``LogMelConfig()``). Video: keyword arguments of :func:`emofast.video.extract_faces`
            (default ``{"size": 64}``).
        workers : int, optional
            Parallel workers (passed to the streaming extractor; for a custom extractor, worker
            processes, default in-process). Worker processes start by forkserver/spawn: a script
            calling this must guard its entry point with ``if __name__ == "__main__":``.
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
        ValueError
            Bad corpus/modality, duplicate ids, an id recorded earlier with another label or
            speaker, or no utterance of the requested modality.
        """
        self._check(corpus, modality)
        settings, resolved = _default_settings(modality, config, extractor)
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
                self._run(d, todo, records, modality, extractor, resolved, workers, progress)
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

    def _run(self, d: Path, todo: list[Utterance], records: dict[str, dict], modality: str,
             extractor: Callable | None, config: Any, workers: int | None, progress: bool) -> None:
        paths = [str(u.path) for u in todo]
        if extractor is not None:
            stream = _iter_callable(paths, extractor, workers, progress)
        else:
            stream = _iter_default(modality, paths, config, workers, progress)
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
    def open(self, corpus: str | None, modality: str, config: Any = None,
             extractor: Callable | None = None) -> FeatureSet:
        """Open a completely extracted feature set (every utterance recorded) without extracting.

        Parameters
        ----------
        corpus : str or None
            Feature set name; ``None`` when the store holds a single corpus for ``modality``.
        modality : {"audio", "video"}
        config : optional
            The settings to open (as for :meth:`extract`). ``None`` with no ``extractor`` opens
            the only complete set of ``corpus``/``modality``, whatever its settings.
        extractor : callable, optional
            The custom extractor the set was made with.

        Raises
        ------
        ValueError
            No set with these settings (features of other settings are never returned), several
            candidates, or an extraction that never completed.
        """
        if modality not in MODALITIES:
            raise InputError(f"modality must be one of {MODALITIES}, got {modality!r}")
        sets = [s for s in self.available() if s["modality"] == modality]
        if corpus is None:
            names = sorted({s["corpus"] for s in sets})
            if len(names) != 1:
                raise StoreError(f"store {str(self.root)!r} holds {modality} features of "
                                 f"{names or 'no corpus'}; name the corpus")
            corpus = names[0]
        self._check(corpus, modality)
        sets = [s for s in sets if s["corpus"] == corpus]
        if config is None and extractor is None:
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
            settings, _ = _default_settings(modality, config, extractor)
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
