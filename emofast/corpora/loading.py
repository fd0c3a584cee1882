"""Loading a corpus by name, and recognising which layout a folder holds."""
from __future__ import annotations

from pathlib import Path

from emofast.corpora import audiovisual, ckplus, fer2013
from emofast.corpora.demo import (DEMO_FORMAT, DEMO_MANIFEST, demo_corpus_name, demo_layout,
                                  read_demo_manifest)
from emofast.corpora.manifest import is_manifest, load_manifest
from emofast.corpora.records import CorpusIndex
from emofast.corpora.walk import (ALL_EXTENSIONS, Layout, build_index, candidate_files, check_root,
                                  of_layout)
from emofast.errors import InputError

__all__ = ["CORPORA", "LAYOUTS", "detect_corpus", "load_corpus"]

#: Folder layouts by loader name, in detection order (``demo`` needs its manifest, so it is built
#: per folder; ``manifest`` reads a CSV, not a folder).
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in
                              (*audiovisual.LAYOUTS, fer2013.LAYOUT, ckplus.LAYOUT)}
#: Loader names accepted by :func:`load_corpus`.
CORPORA: tuple[str, ...] = ("emodb", "savee", "enterface", "ravdess", "cremad", "demo", "fer2013",
                            "ckplus", "manifest")


def _layouts_of(root: Path) -> dict[str, Layout]:
    """The layouts that may claim ``root``'s files: the demo layout first when it has a manifest."""
    manifest = read_demo_manifest(root)
    return LAYOUTS if manifest is None else {"demo": demo_layout(manifest), **LAYOUTS}


def detect_corpus(root: str | Path) -> str:
    """Recognise which corpus layout a folder (or a CSV manifest) holds.

    Parameters
    ----------
    root : str or Path
        Corpus folder, or a ``.csv`` manifest (:mod:`emofast.corpora.manifest`).

    Returns
    -------
    str
        One of :data:`CORPORA`.

    Raises
    ------
    MissingFileError
        The folder does not exist (a ``FileNotFoundError`` and a ``ValueError``).
    emofast.errors.InputError
        The path is not a folder, holds no media files, no layout claims at least half of the
        files it reads (unknown layout), or several layouts claim files (mixed corpora).
    """
    if is_manifest(root):
        return "manifest"
    root = check_root(root)
    files = candidate_files(root, ALL_EXTENSIONS)
    if not files:
        raise InputError(f"corpus folder {str(root)!r} is empty: no media files "
                         f"({', '.join(sorted(ALL_EXTENSIONS))})")
    claims: dict[str, tuple[list[Path], int]] = {}
    for name, layout in _layouts_of(root).items():
        shown = of_layout(files, layout)
        claimed = [rel for path, rel in shown if not isinstance(layout.parse(path, rel), str)]
        if claimed:
            claims[name] = (claimed, len(shown))
    if len(claims) > 1:
        detail = "; ".join(f"{len(v)} {k} files (e.g. {v[0]})" for k, (v, _) in claims.items())
        raise InputError(f"mixed corpora in {str(root)!r}: {detail}. Put each corpus in its own folder.")
    if not claims:
        examples = ", ".join(str(rel) for _, rel in files[:3])
        raise InputError(f"unknown corpus layout in {str(root)!r}: none of its {len(files)} media files "
                         f"(e.g. {examples}) matches {', '.join(CORPORA[:-1])}")
    (name, (claimed, n_shown)), = claims.items()
    if 2 * len(claimed) < n_shown:
        taken = set(claimed)
        unclaimed = [str(rel) for _, rel in of_layout(files, _layouts_of(root)[name])
                     if rel not in taken][:3]
        raise InputError(f"unknown corpus layout in {str(root)!r}: only {len(claimed)} of {n_shown} "
                         f"media files match {name} (unmatched e.g. {', '.join(unclaimed)})")
    return name


def load_corpus(name: str | None, root: str | Path) -> CorpusIndex:
    """Index a corpus folder, or the files a CSV manifest lists.

    Parameters
    ----------
    name : str or None
        Loader, one of :data:`CORPORA`; ``None`` or ``"auto"`` runs :func:`detect_corpus`.
    root : str or Path
        Corpus folder (searched recursively; hidden files are ignored), or for ``"manifest"`` the
        CSV file.

    Returns
    -------
    CorpusIndex
        Utterances sorted by path (a manifest's in row order), and the media files that did not
        parse with their reasons.

    Raises
    ------
    MissingFileError
        The folder does not exist (a ``FileNotFoundError`` and a ``ValueError``).
    emofast.errors.InputError
        Unknown loader name, a ``demo`` folder without its manifest, a folder in which no file
        parses, or a bad manifest row.
    """
    if name is None or name == "auto":
        name = detect_corpus(root)
    if name not in CORPORA:
        raise InputError(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)} or 'auto'")
    if name == "manifest":
        return load_manifest(root)
    root = check_root(root)
    if name == "demo":
        manifest = read_demo_manifest(root)
        if manifest is None:
            raise InputError(f"{str(root)!r} is not a demo corpus: no {DEMO_MANIFEST} with "
                             f"format {DEMO_FORMAT!r}")
        return build_index(demo_layout(manifest), root, demo_corpus_name(manifest))
    return build_index(LAYOUTS[name], root, name)
