"""FER2013: 48×48 grayscale faces from web searches, with the challenge's official split.

Layout ``<root>/**/<split>/<emotion>/<Usage>_<n>.jpg`` (e.g. ``train/angry/Training_10118481.jpg``):
split folders ``train``, ``validation`` (or ``val``) and ``test`` hold the challenge's Training,
PublicTest and PrivateTest images, which :attr:`Utterance.split` records as ``train``, ``val`` and
``test``. The ``<Usage>_`` prefix of a file name gives the split where no split folder does (a root
pointing inside one split) and must agree with the folder where both do. The common Kaggle copy
without prefixes (``train/angry/im0.png``, ``test/...``) is read too.

A record's id is ``<split>/<emotion>/<file stem>`` (``train/anger/Training_10118481``): file names
repeat across emotion folders (two different training images are named ``Training_52789098``, in
``neutral/`` and ``surprise/``; the Kaggle copy's ``im0.png`` is in every folder).

Emotion folders: angry, disgust, fear, happy, neutral, sad, surprise. FER2013 has no subject
identities: every record's speaker is :data:`~emofast.corpora.records.UNKNOWN_SPEAKER`, and the
official split is the protocol (``emofast evaluate --protocol split``).
"""
from __future__ import annotations

import re
from pathlib import Path

from emofast.corpora.records import IMAGE_EXTENSIONS, UNKNOWN_SPEAKER, canonical_split
from emofast.corpora.walk import Layout, Parsed, folder_emotion

__all__ = ["LAYOUT", "FER2013_LABELS"]

#: The seven FER2013 emotions, in the shared vocabulary.
FER2013_LABELS = frozenset({"anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"})
_USAGE_RE = re.compile(r"^(Training|PublicTest|PrivateTest)_(\w+)$")


def _parse_fer2013(path: Path, rel: Path) -> Parsed | str:
    label, reason = folder_emotion(rel, FER2013_LABELS, "FER2013")
    if label is None:
        return reason
    folder_split = canonical_split(rel.parts[-3]) if len(rel.parts) >= 3 else None
    usage = _USAGE_RE.match(path.stem)
    name_split = canonical_split(usage.group(1)) if usage else None
    if folder_split and name_split and folder_split != name_split:
        return (f"usage {usage.group(1)!r} in the file name contradicts split folder "  # type: ignore[union-attr]
                f"{rel.parts[-3]!r}")
    split = folder_split or name_split
    if split is None:
        return ("no FER2013 split: neither a split folder (train, validation, test) nor a "
                "Training_/PublicTest_/PrivateTest_ file name")
    return {"id": f"{split}/{label}/{path.stem}", "speaker": UNKNOWN_SPEAKER, "label": label, "modality": "image",
            "split": split}


#: The FER2013 layout.
LAYOUT = Layout("fer2013", _parse_fer2013, IMAGE_EXTENSIONS)
