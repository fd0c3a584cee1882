"""emofast's synthetic demo corpora: ``<root>/manifest.json`` and
``<root>/<speaker>/<speaker>_<emotion>_<n>.wav|.mp4`` (see :mod:`emofast.synthetic`)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from emofast.corpora.records import EMOTIONS
from emofast.corpora.walk import Layout, Parsed, modality_from_ext

__all__ = ["DEMO_MANIFEST", "DEMO_FORMAT", "read_demo_manifest", "demo_layout",
           "demo_corpus_name"]

DEMO_MANIFEST = "manifest.json"
DEMO_FORMAT = "emofast-demo"
_DEMO_RE = re.compile(r"^([A-Za-z0-9]+)_([a-z]+)_(\d+)$")


def read_demo_manifest(root: Path) -> dict | None:
    """The demo manifest of ``root`` (``format`` = :data:`DEMO_FORMAT`), or None when absent or
    not a demo manifest."""
    path = root / DEMO_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != DEMO_FORMAT:
        return None
    return manifest


def demo_layout(manifest: dict) -> Layout:
    """The :class:`~emofast.corpora.walk.Layout` of the demo corpus ``manifest`` describes (its
    own corpus name and speaker genders)."""
    genders = {str(k): v for k, v in (manifest.get("speakers") or {}).items()}
    corpus = demo_corpus_name(manifest)

    def parse(path: Path, rel: Path) -> Parsed | str:
        m = _DEMO_RE.match(path.stem)
        if not m or len(rel.parts) != 2:
            return "name does not match the demo layout '<speaker>/<speaker>_<emotion>_<n>.wav|.mp4'"
        speaker, label, _n = m.groups()
        if speaker != rel.parts[0]:
            return f"speaker {speaker!r} in the file name contradicts folder {rel.parts[0]!r}"
        if label not in EMOTIONS:
            return f"unknown emotion {label!r}"
        if path.suffix.lower() not in (".wav", ".mp4"):
            return f"demo corpora hold .wav and .mp4 only, got {path.suffix!r}"
        return {"id": path.stem, "speaker": speaker, "label": label,
                "modality": modality_from_ext(path), "gender": genders.get(speaker),
                "corpus": corpus}

    return Layout("demo", parse)


def demo_corpus_name(manifest: dict) -> str:
    """The corpus name a demo manifest gives (default ``"demo"``)."""
    return str(manifest.get("corpus", "demo"))
