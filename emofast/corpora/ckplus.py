"""CK+ (extended Cohn-Kanade) face images, in the widely used cropped "CK+48" layout.

Layout ``<root>/**/<emotion>/S<subject>_<sequence>_<frame>.png`` (e.g.
``anger/S010_004_00000017.png``): the subject (``S010``) is the record's speaker, so protocols
split by subject (``speaker-kfold``, ``loso``); each sequence gives several nearly identical peak
frames, which must never be split between train and test.

Emotion folders: anger, contempt, disgust, fear, happy, sadness, surprise (and neutral where a copy
has it). ``contempt`` is in the shared vocabulary (:data:`~emofast.corpora.records.EMOTIONS`) but
outside the papers' six: ``--labels paper-six`` leaves it out.
"""
from __future__ import annotations

import re
from pathlib import Path

from emofast.corpora.records import IMAGE_EXTENSIONS
from emofast.corpora.walk import Layout, Parsed, folder_emotion

__all__ = ["LAYOUT", "CKPLUS_LABELS"]

#: CK+ emotions, in the shared vocabulary.
CKPLUS_LABELS = frozenset({"anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness",
                           "surprise"})
_CKPLUS_RE = re.compile(r"^S(\d{3})_(\d{3})_(\d{8})$")


def _parse_ckplus(path: Path, rel: Path) -> Parsed | str:
    m = _CKPLUS_RE.match(path.stem)
    if not m:
        return "name does not match CK+ 'S<subject>_<sequence>_<frame>' (e.g. S010_004_00000017.png)"
    label, reason = folder_emotion(rel, CKPLUS_LABELS, "CK+")
    if label is None:
        return reason
    return {"id": path.stem, "speaker": f"S{m.group(1)}", "label": label, "modality": "image"}


#: The CK+ layout.
LAYOUT = Layout("ckplus", _parse_ckplus, IMAGE_EXTENSIONS)
