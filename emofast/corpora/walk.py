"""Walking a corpus folder: candidate media files, per-file parsers, and the index they build.

A *parser* maps one file (its absolute path and its path relative to the corpus root) to the fields
of an :class:`~emofast.corpora.records.Utterance` (a dict: ``id``, ``speaker``, ``label``,
``modality``, optionally ``gender``, ``split``, ``corpus``) or to a string saying why the file is
not part of the corpus. A :class:`Layout` names a parser and the file extensions it reads;
:func:`build_index` runs it over a folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from emofast.corpora.records import (AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, MEDIA_EXTENSIONS,
                                     CorpusIndex, Utterance, canonical_label)
from emofast.errors import InputError, MissingFileError

__all__ = ["Parsed", "Parser", "Layout", "check_root", "candidate_files", "of_layout", "build_index",
           "modality_from_ext", "unusable", "folder_emotion", "ALL_EXTENSIONS"]

#: Fields of one parsed file: id, speaker, label, modality; gender, split, corpus optional.
Parsed = dict
#: ``parser(path, rel) -> Parsed | reason``.
Parser = Callable[[Path, Path], Union["Parsed", str]]
#: Every extension some layout reads.
ALL_EXTENSIONS: frozenset[str] = MEDIA_EXTENSIONS | IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Layout:
    """One corpus layout: its parser and the file extensions it reads.

    Attributes
    ----------
    name : str
        Loader name (``"emodb"``, ``"fer2013"``, ...).
    parse : Parser
        File -> fields or reason.
    extensions : frozenset of str
        Lower-case extensions of the files it is shown (others are not part of the corpus).
    genders : callable, optional
        ``genders(root) -> {speaker: gender}`` read from metadata beside the media (CREMA-D).
    """

    name: str
    parse: Parser
    extensions: frozenset[str] = MEDIA_EXTENSIONS
    genders: Callable[[Path], dict[str, str]] | None = None


def modality_from_ext(path: Path, video_modality: str = "audiovisual") -> str:
    """``"audio"`` for audio files, ``"image"`` for images, else ``video_modality``."""
    suffix = path.suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return "image" if suffix in IMAGE_EXTENSIONS else video_modality


def folder_emotion(rel: Path, allowed: frozenset[str], corpus: str) -> tuple[str | None, str]:
    """The emotion a file's folder names (``happy/x.png`` -> happiness), among ``allowed``.

    Returns
    -------
    (label, "") or (None, reason)
        The reason names ``corpus`` and the folder names it expects.
    """
    if len(rel.parts) < 2:
        return None, f"not in a {corpus} emotion folder"
    label = canonical_label(rel.parts[-2])
    if label in allowed:
        return label, ""
    return None, (f"unknown {corpus} emotion folder {rel.parts[-2]!r} (expected one of "
                  f"{', '.join(sorted(allowed))}, or a usual spelling such as happy, sad, angry)")


def check_root(root: str | Path) -> Path:
    """``root`` as a Path, checked to be an existing folder.

    Raises
    ------
    MissingFileError
        It does not exist.
    InputError
        It is not a folder.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise MissingFileError(f"corpus folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise InputError(f"corpus path {str(root)!r} is not a folder")
    return root


def _is_candidate(path: Path, rel: Path, extensions: frozenset[str]) -> bool:
    if any(part.startswith(".") for part in rel.parts):  # hidden files, '._x.wav' resource forks
        return False
    if path.suffix.lower() in extensions:
        return True
    # eNTERFACE's 's16_su_3avi' has no dot before its extension
    return ".avi" in extensions and not path.suffix and path.name.lower().endswith("avi")


def candidate_files(root: Path, extensions: frozenset[str] = ALL_EXTENSIONS) -> list[tuple[Path, Path]]:
    """Files under ``root`` with one of ``extensions``: ``(path, path relative to root)``, sorted
    by relative path; hidden files and folders are left out."""
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if _is_candidate(path, rel, extensions) and path.is_file():
            files.append((path, rel))
    files.sort(key=lambda pr: str(pr[1]))
    return files


def of_layout(files: list[tuple[Path, Path]], layout: Layout) -> list[tuple[Path, Path]]:
    """The files of ``files`` that ``layout`` reads."""
    return [(p, r) for p, r in files if _is_candidate(p, r, layout.extensions)]


def build_index(layout: Layout, root: Path, corpus_name: str,
                files: list[tuple[Path, Path]] | None = None) -> CorpusIndex:
    """Parse every file of ``layout`` under ``root`` into a :class:`CorpusIndex`.

    Files that do not parse, duplicates of an id (per modality), empty and unreadable files go to
    :attr:`CorpusIndex.skipped` with the reason.

    Raises
    ------
    InputError
        No file parses (the message gives the first reasons).
    """
    files = candidate_files(root, layout.extensions) if files is None else of_layout(files, layout)
    genders = layout.genders(root) if layout.genders is not None else {}
    index = CorpusIndex(name=layout.name, root=root)
    seen: dict[tuple[str, str], Path] = {}
    for path, rel in files:
        parsed = layout.parse(path, rel)
        if isinstance(parsed, str):
            index.skipped.append((path, parsed))
            continue
        key = (parsed["id"], parsed["modality"])
        if key in seen:
            index.skipped.append((path, f"duplicate of {seen[key]} (id {parsed['id']!r}, "
                                        f"{parsed['modality']})"))
            continue
        problem = unusable(path)
        if problem:
            index.skipped.append((path, problem))
            continue
        seen[key] = path
        index.utterances.append(Utterance(
            id=parsed["id"], corpus=parsed.get("corpus", corpus_name), speaker=parsed["speaker"],
            label=parsed["label"], path=path, modality=parsed["modality"],
            gender=parsed.get("gender") or genders.get(parsed["speaker"]),
            split=parsed.get("split")))
    if not index.utterances:
        if not files:
            raise InputError(f"corpus folder {str(root)!r} is empty: no media files")
        reasons = "; ".join(f"{p.name}: {r}" for p, r in index.skipped[:3])
        raise InputError(f"no {layout.name} utterances under {str(root)!r}: all {len(files)} media "
                         f"files were skipped (e.g. {reasons})")
    return index


def unusable(path: Path) -> str | None:
    """Why a media file cannot be used (cannot stat, 0 bytes), or None."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot stat file: {exc}"
    return "empty file (0 bytes)" if size == 0 else None
