"""Feature store: features extracted once, memory-mapped, resumable, keyed by their settings.

Layout of a store folder::

    <root>/<corpus>/<modality>/<key>/settings.json   what the key hashes: modality, extractor, config
                                     layout.json     dtype and per-segment shape (after the first file)
                                     features.bin    raw C-order rows, one per segment (np.memmap)
                                     progress.jsonl  one record per processed utterance (the index)
                                     index.json      written when an extraction run completes
                                     lock            the writer holding the set: pid, host, since

``key`` is a hash of the feature settings (the extractor's :meth:`~Extractor.settings`, e.g.
``LogMelConfig.to_dict()``), the extractor's name and version and the store format, so features of other settings never mix: :meth:`FeatureStore.open` with
settings that were never extracted raises instead of returning old features.

Resuming: every file's segments are appended to ``features.bin`` *before* its record is appended to
``progress.jsonl``; an interrupted run (Ctrl-C, a crash, a killed worker) leaves at worst a tail of
rows without a record and a torn last line, which the next run (the writer, under the lock) cuts,
saying so, before continuing with the utterances that have no record yet. Nothing that was recorded
is recomputed.

Integrity: records are numbered (``seq``), ok records tile ``features.bin`` contiguously in file
order, and each carries a blake2b checksum of its rows (``rows_blake2b``) and its source file's
size, modification time and content hash (``source``). ``index.json`` counts the records and rows
of the complete snapshot, which readers read without a lock and without writing anything (a set
in a read-only folder opens). Every open checks the cheap invariants and raises
:class:`~emofast.errors.StoreError` naming the damaged file; :meth:`FeatureStore.verify` checks the
checksums. A rerun re-extracts source files that changed since their extraction: the new record
supersedes the old one (``supersedes``), whose rows stay behind as dead space that no record
points at.

Files that fail (unreadable, corrupt, no face found, no segment) get a record with status
``"failed"`` or ``"empty"`` and the reason; they are counted and reported (:attr:`FeatureStore.errors`,
:attr:`FeatureSet.failed`), and the rest of the corpus is kept.

The store knows extractors through one protocol, :class:`Extractor` (``modality``, ``name``,
``version``, ``settings()``, ``__call__(path)``, ``extract_many(paths)``); ``"audio"``,
``"video"`` and ``"image"`` name emofast's own (:class:`emofast.audio.LogMelExtractor`,
:class:`emofast.video.FaceExtractor`, :class:`emofast.video.extractor.ImageExtractor`). Records
keep the corpus's official split (``split``) where it has one.

Modules
-------
:mod:`~emofast.store.featurestore`  :class:`FeatureStore`: extraction, resuming, locking, opening
:mod:`~emofast.store.featureset`    :class:`FeatureSet`, :class:`SegmentRecord`, :class:`FailedRecord`
:mod:`~emofast.store.extractor`     :class:`Extractor`, :class:`FunctionExtractor`, the built-in lookup
"""
from __future__ import annotations

from emofast.store.extractor import Extractor, FunctionExtractor, builtin_extractor
from emofast.store.featureset import FailedRecord, FeatureSet, SegmentRecord
from emofast.store.featurestore import STORE_FORMAT, FeatureStore

__all__ = ["FeatureStore", "FeatureSet", "SegmentRecord", "FailedRecord", "STORE_FORMAT", "Extractor",
           "FunctionExtractor", "builtin_extractor"]
