"""A user's own corpus: a CSV manifest listing media files with speaker and label.

Format (UTF-8, header row, column names case-insensitive, other columns ignored)::

    path,speaker,label,split
    clips/s01_happy_1.wav,s01,happy,train
    clips/s02_angry_1.mp4,s02,angry,test
    faces/img_0007.png,s03,surprised,val

- ``path``: the media file, relative to the CSV's folder (absolute paths are taken as they are);
  audio (``.wav .flac .mp3 .ogg .m4a .opus``), video (``.mp4 .avi .flv .mov .mkv .webm``: face
  crops and their sound track) or a still image (``.png .jpg .jpeg .bmp .tif .tiff .webp``).
- ``speaker``: speaker or subject id; protocols never split one speaker between train and test
  (an empty cell means unknown: the speaker protocols then refuse the corpus).
- ``label``: an emotion, mapped onto :data:`~emofast.corpora.records.EMOTIONS` (angry → anger,
  happy → happiness, sad → sadness, fearful → fear, surprised → surprise, disgusted → disgust,
  calm, neutral, bored → boredom, contempt ...; see
  :data:`~emofast.corpora.records.LABEL_SYNONYMS`).
- ``split`` (optional): ``train``, ``val`` (validation, dev) or ``test``, for ``--protocol split``.

The corpus is named after the CSV file (``corpus.csv`` → ``corpus``); an utterance's id is its
path relative to the CSV's folder without the extension, so the audio and video files of one
recording (``a/01.wav``, ``a/01.mp4``) share it. A row that cannot be read (an unknown label or
split, an empty path, an unsupported extension, a file listed twice) raises
:class:`~emofast.errors.InputError` naming the CSV line; a listed file that is missing or empty is
skipped with its reason (:attr:`CorpusIndex.skipped`), like a loader's unparsable file.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from emofast.corpora.records import (AUDIO_EXTENSIONS, EMOTIONS, IMAGE_EXTENSIONS, MEDIA_EXTENSIONS,
                                     SPLITS, UNKNOWN_SPEAKER, CorpusIndex, Utterance,
                                     canonical_label, canonical_split)
from emofast.corpora.walk import modality_from_ext, unusable
from emofast.errors import InputError, MissingFileError

__all__ = ["load_manifest", "is_manifest", "MANIFEST_COLUMNS", "MANIFEST_EXTENSIONS"]

#: Required columns (``split`` is optional).
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "speaker", "label")
#: Media a manifest may list.
MANIFEST_EXTENSIONS: frozenset[str] = (MEDIA_EXTENSIONS | AUDIO_EXTENSIONS | IMAGE_EXTENSIONS
                                       | frozenset({".webm"}))


def is_manifest(path: str | Path) -> bool:
    """Whether ``path`` names a manifest: an existing ``.csv`` file."""
    p = Path(path).expanduser()
    return p.suffix.lower() == ".csv" and p.is_file()


def _open_rows(csv_path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and ``(line number, row)`` pairs of the CSV."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = []
            for row in reader:
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest {str(csv_path)!r} is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"manifest {str(csv_path)!r} is not a valid CSV: {exc}") from None
    return header, rows


def _row_fields(where: str, cells: dict[str, str]) -> tuple[str, str, str, str | None]:
    """``path, speaker, label, split`` of one row, checked; raises InputError naming ``where``."""
    rel, raw_label, raw_split = cells["path"], cells["label"], cells.get("split", "")
    if not rel:
        raise InputError(f"{where}: empty path")
    label = canonical_label(raw_label)
    if label is None:
        raise InputError(f"{where}: unknown label {raw_label!r}; use one of {', '.join(EMOTIONS)} "
                         "(or a usual spelling: angry, happy, sad, fearful, surprised, disgusted, "
                         "bored)")
    split = canonical_split(raw_split) if raw_split else None
    if raw_split and split is None:
        raise InputError(f"{where}: unknown split {raw_split!r}; use {', '.join(SPLITS)} or leave "
                         "the cell empty")
    suffix = Path(rel).suffix.lower()
    if suffix not in MANIFEST_EXTENSIONS:
        raise InputError(f"{where}: {rel!r} is not a supported audio, video or image file (extension "
                         f"{suffix or 'none'}; supported: {' '.join(sorted(MANIFEST_EXTENSIONS))})")
    return rel, cells["speaker"] or UNKNOWN_SPEAKER, label, split


def load_manifest(path: str | Path) -> CorpusIndex:
    """Index the media files a CSV manifest lists (format in the module notes).

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    CorpusIndex
        Named ``"manifest"``, rooted at the CSV; utterances in row order, their corpus the CSV's
        stem; missing or empty files in :attr:`CorpusIndex.skipped`.

    Raises
    ------
    MissingFileError
        The CSV does not exist.
    emofast.errors.InputError
        Not a CSV file, a required column missing, no rows, a bad row (the message names the CSV
        line), or no listed file usable.
    """
    csv_path = Path(path).expanduser()
    if not csv_path.exists():
        raise MissingFileError(f"manifest {str(csv_path)!r} does not exist")
    if not csv_path.is_file():
        raise InputError(f"manifest {str(csv_path)!r} is not a file (a manifest is a CSV with columns "
                         f"{', '.join(MANIFEST_COLUMNS)}[, split])")
    header, rows = _open_rows(csv_path)
    columns = {h.strip().lower(): h for h in header if h}
    missing = [c for c in MANIFEST_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"manifest {str(csv_path)!r} lacks column(s) {', '.join(missing)}: its header "
                         f"is {header}; a manifest has columns {', '.join(MANIFEST_COLUMNS)}[, split]")
    if not rows:
        raise InputError(f"manifest {str(csv_path)!r} lists no files")
    base, corpus = csv_path.parent, csv_path.stem
    index = CorpusIndex(name="manifest", root=csv_path)
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        where = f"{csv_path}:{line}"
        cells = {c: (row.get(h) or "").strip() for c, h in columns.items()}
        rel, speaker, label, split = _row_fields(where, cells)
        media = Path(rel).expanduser()
        media = media if media.is_absolute() else base / media
        ident = Path(os.path.relpath(media, base)).with_suffix("").as_posix()
        modality = modality_from_ext(media)
        if (ident, modality) in seen:
            raise InputError(f"{where}: {rel!r} is listed twice (first on line "
                             f"{seen[ident, modality]})")
        seen[ident, modality] = line
        problem = ("no such file" if not media.exists() else "not a file" if not media.is_file()
                   else unusable(media))
        if problem:
            index.skipped.append((media, f"{problem} (line {line})"))
            continue
        index.utterances.append(Utterance(id=ident, corpus=corpus, speaker=speaker, label=label,
                                          path=media, modality=modality, split=split))
    if not index.utterances:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in index.skipped[:3])
        raise InputError(f"no usable file in manifest {str(csv_path)!r}: all {len(rows)} listed files "
                         f"were skipped (e.g. {reasons})")
    return index
