"""``emofast features``: index a corpus in its native layout and extract its features once.

Example::

    emofast features emodb /data/EMO-DB --out ~/emofast-store
    emofast features auto /data/SAVEE --out ~/emofast-store --modality video
    emofast features emodb /data/EMO-DB --out ~/emofast-store --verify
    emofast features emodb /data/EMO-DB --out ~/emofast-store --functionals compare
    emofast features fer2013 /data/fer2013 --out ~/emofast-store      # face images (modality image)
    emofast features manifest my_corpus.csv --out ~/emofast-store     # a user's CSV manifest

A rerun extracts only new files and files changed since their extraction (size, modification time,
content hash), and reports files that were removed; ``--verify`` then checks every stored
utterance's rows against its checksum.

Files that do not parse are listed with their reason; files that parse but cannot be decoded are
reported and counted, and the rest of the corpus is kept.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emofast.commands import parse_labels

__all__ = ["register", "run", "extract_corpus"]

_SHOW = 10  # skipped/failed files listed by name


def register(subparsers: Any) -> None:
    """Add the ``features`` sub-parser."""
    from emofast.corpora import CORPORA

    p = subparsers.add_parser(
        "features", help="extract a corpus's features into a feature store",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", help=f"layout: {', '.join(CORPORA)}, or auto (detect)")
    p.add_argument("root", type=Path, help="corpus folder (manifest: the CSV file)")
    p.add_argument("--out", type=Path, required=True, metavar="STORE",
                   help="feature store folder (created if missing)")
    p.add_argument("--modality", choices=("audio", "video", "image"), default=None,
                   help="log-Mel segments (audio), face crops of videos (video) or faces of still "
                        "images (image) [image for a corpus of images only, else audio]")
    p.add_argument("--face-detect", choices=("auto", "always", "never"), default="auto",
                   help="image: run Viola-Jones on images that are not face crops (auto: shorter "
                        "side above 128 px), on every image, or never [%(default)s]")
    p.add_argument("--labels", type=parse_labels, default=None,
                   help="keep only these emotions: paper-six, all, or a comma list [all]")
    p.add_argument("--functionals", choices=("compare", "egemaps"), default=None,
                   help="audio: openSMILE functionals (one vector per file; needs the opensmile "
                        "package) instead of log-Mel segments")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel workers (default: the extractor's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--verify", action="store_true",
                   help="check every stored utterance's rows against its checksum")
    p.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                   help="give up when another extraction holds the set this long [wait]")
    p.set_defaults(run=run)


def _print_list(title: str, items: list[tuple[Any, str]]) -> None:
    if not items:
        return
    print(f"{title}: {len(items)}")
    for path, reason in items[:_SHOW]:
        print(f"  {path}: {reason}")
    if len(items) > _SHOW:
        print(f"  ... and {len(items) - _SHOW} more")


def extract_corpus(
    corpus: str,
    root: str | Path,
    store: str | Path,
    *,
    modality: str | None = None,
    labels: tuple[str, ...] | None = None,
    workers: int | None = None,
    progress: bool = True,
    verbose: bool = True,
    verify: bool = False,
    lock_timeout: float | None = None,
    functionals: str | None = None,
    face_detect: str = "auto",
):
    """Index ``root`` and extract its ``modality`` features into ``store``.

    Parameters
    ----------
    corpus : str
        Loader name from :data:`emofast.corpora.CORPORA` or ``"auto"``.
    root, store : path
        Corpus folder (a manifest's CSV file) and feature-store folder.
    modality : {"audio", "video", "image"}, optional
        Default: ``"image"`` for a corpus of still images only, else ``"audio"``.
    labels : tuple of str, optional
        Emotions to keep (default all).
    workers : int, optional
    progress, verbose : bool
        Progress bars; printed summary of the corpus, of new/changed/removed/unchanged files and
        of skipped/failed files.
    verify : bool
        Check every stored utterance's rows against its checksum
        (:meth:`emofast.store.FeatureStore.verify`).
    lock_timeout : float, optional
        Give up (StoreError) when another extraction holds the set this long (default: wait).
    functionals : {"compare", "egemaps"}, optional
        Audio only: openSMILE functionals (:class:`emofast.audio.functionals.FunctionalsExtractor`)
        instead of log-Mel segments.
    face_detect : {"auto", "always", "never"}
        Image only: when Viola-Jones runs (:func:`emofast.video.image.face_image`'s ``detect``).

    Returns
    -------
    emofast.store.FeatureSet

    Raises
    ------
    emofast.errors.EmofastError
        :class:`~emofast.errors.InputError` for an unknown layout, an empty or mixed folder or no
        utterance left, :class:`~emofast.errors.MissingFileError` for a missing folder,
        :class:`~emofast.errors.StoreError` for a store written with other settings (all
        ``ValueError`` subclasses); a damaged set or rows that fail ``verify``.
    """
    from emofast.corpora import load_corpus, select_labels, select_modality
    from emofast.errors import InputError
    from emofast.store import FeatureStore, builtin_extractor

    index = load_corpus(None if corpus == "auto" else corpus, root)
    if verbose:
        print(index.summary(), flush=True)
        _print_list("skipped (name does not parse)", index.skipped)
    if modality is None:
        images_only = all(u.modality == "image" for u in index.utterances)
        modality = "image" if images_only else "audio"
    extractor = builtin_extractor(modality, {"detect": face_detect} if modality == "image" else None)
    if functionals is not None:
        from emofast.audio.functionals import FunctionalsExtractor, require_opensmile

        if modality != "audio":
            raise InputError(f"--functionals are audio features, not {modality}")
        require_opensmile()
        extractor = FunctionalsExtractor(functionals)
    utts = select_modality(index.utterances, modality)
    if labels is not None:
        utts = select_labels(utts, labels)
    if not utts:
        raise InputError(f"no {modality} utterances"
                         + (f" with labels {list(labels)}" if labels else "")
                         + f" in {str(root)!r}")
    name = utts[0].corpus
    fstore = FeatureStore(store)
    fs = fstore.extract(name, utts, extractor, workers=workers, progress=progress,
                        lock_timeout=lock_timeout)
    if verbose:
        print(", ".join(f"{n} {what}" for what, n in fstore.changes.items()) + " utterance(s)")
        _print_list("removed (source file gone; features kept in the store)",
                    [(i, "removed") for i in fstore.removed_ids])
    if verify:
        report = fstore.verify(name, extractor)
        if verbose:
            print(f"verified {report['checked']} utterance(s) against their checksums"
                  + (f"; {len(report['without_checksum'])} stored before checksums existed cannot be "
                     "checked" if report["without_checksum"] else ""))
    if verbose:
        failed = [(f.path, f"{f.status}: {f.reason}") for f in fs.failed]
        _print_list("files without features (reported and counted; the rest is kept)", failed)
    return fs


def run(args: argparse.Namespace) -> int:
    """Run ``emofast features``."""
    fs = extract_corpus(args.corpus, args.root, args.out, modality=args.modality,
                        labels=args.labels, workers=args.workers, progress=not args.no_progress,
                        verify=args.verify, lock_timeout=args.lock_timeout,
                        functionals=args.functionals, face_detect=args.face_detect)
    print(f"stored {fs.summary()} in {args.out}")
    return 0
