"""The speech and audio-visual corpora: EMO-DB, SAVEE, eNTERFACE'05, RAVDESS, CREMA-D.

One file-name parser per corpus, each next to the layout it documents (see
:mod:`emofast.corpora` for the table of layouts); :data:`LAYOUTS` hands them to the loader.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from emofast.corpora.records import AUDIO_EXTENSIONS, MEDIA_EXTENSIONS
from emofast.corpora.walk import Layout, Parsed, modality_from_ext

__all__ = ["LAYOUTS"]

_EMODB_RE = re.compile(r"^(\d{2})([a-z]\d{2})([A-Z])([a-z])$")
_EMODB_LABELS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                 "T": "sadness", "N": "neutral"}
_EMODB_SPEAKERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                   "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}


def _parse_emodb(path: Path, rel: Path) -> Parsed | str:
    if path.suffix.lower() != ".wav":
        return f"EMO-DB ships .wav only, got {path.suffix!r}"
    m = _EMODB_RE.match(path.stem)
    if not m:
        return "name does not match EMO-DB 'SSTTTEV.wav' (e.g. 03a01Fa.wav)"
    speaker, _text, code, _version = m.groups()
    if code not in _EMODB_LABELS:
        return f"unknown EMO-DB emotion letter {code!r} (expected one of {''.join(_EMODB_LABELS)})"
    if speaker not in _EMODB_SPEAKERS:
        return f"unknown EMO-DB speaker {speaker!r} (expected one of {sorted(_EMODB_SPEAKERS)})"
    return {"id": path.stem, "speaker": speaker, "label": _EMODB_LABELS[code], "modality": "audio",
            "gender": _EMODB_SPEAKERS[speaker]}


_SAVEE_LABELS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "n": "neutral",
                 "sa": "sadness", "su": "surprise"}
_SAVEE_KNOWN = {"DC", "JE", "JK", "KL"}  # all male
_SAVEE_FLAT_RE = re.compile(r"^([A-Z]{2})_(a|d|f|h|n|sa|su)(\d{2})$")
_SAVEE_CODE_RE = re.compile(r"^(a|d|f|h|n|sa|su)(\d{2})$")


def _parse_savee(path: Path, rel: Path) -> Parsed | str:
    stem = path.stem
    m = _SAVEE_FLAT_RE.match(stem)
    if m:
        speaker, code, num = m.groups()
    else:
        m = _SAVEE_CODE_RE.match(stem)
        speaker = path.parent.name
        if not m or not re.fullmatch(r"[A-Z]{2}", speaker):
            return "name does not match SAVEE 'DC/a01.wav' or 'DC_a01.wav'"
        code, num = m.groups()
    if speaker not in _SAVEE_KNOWN:
        return f"unknown SAVEE speaker {speaker!r} (expected one of {sorted(_SAVEE_KNOWN)})"
    return {"id": f"{speaker}_{code}{num}", "speaker": speaker, "label": _SAVEE_LABELS[code],
            "modality": modality_from_ext(path), "gender": "male"}


_ENTERFACE_FOLDERS = {"anger": "an", "disgust": "di", "fear": "fe", "happiness": "ha",
                      "sadness": "sa", "surprise": "su"}
_ENTERFACE_SUBJECT_RE = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)
_ENTERFACE_SENTENCE_RE = re.compile(r"^sentence\s*(\d+)$", re.IGNORECASE)
# s1_an_1, s12_an_1 (subject 11's files), s_3_an_1 (stray underscore), optional trailing 'avi'
_ENTERFACE_STEM_RE = re.compile(r"^s_?(\d+)_([a-z]{2})_?(\d+)$", re.IGNORECASE)


def _parse_enterface(path: Path, rel: Path) -> Parsed | str:
    """Parse ``subject N/<emotion>/sentence M/<file>``.

    The folder path is authoritative for subject, emotion and sentence. Known quirks of the
    distribution are accepted: subject 11's files are named ``s12_*``, some stems start ``s_3_``,
    and one file is named ``s16_su_3avi`` (extension without the dot). The emotion code in the file
    name must agree with the emotion folder, otherwise the file is skipped.
    """
    parts = rel.parts
    subject_i = next((i for i, p in enumerate(parts[:-1]) if _ENTERFACE_SUBJECT_RE.match(p)), None)
    if subject_i is None:
        return "not under an eNTERFACE 'subject N' folder"
    rest = parts[subject_i + 1:]
    subject = int(_ENTERFACE_SUBJECT_RE.match(parts[subject_i]).group(1))  # type: ignore[union-attr]
    if len(rest) not in (2, 3):
        return "expected 'subject N/<emotion>/sentence M/<file>.avi'"
    emotion = rest[0].lower()
    if emotion not in _ENTERFACE_FOLDERS:
        return f"unknown eNTERFACE emotion folder {rest[0]!r} (expected one of {sorted(_ENTERFACE_FOLDERS)})"
    sentence: int | None = None
    if len(rest) == 3:
        ms = _ENTERFACE_SENTENCE_RE.match(rest[1])
        if not ms:
            return f"expected a 'sentence M' folder, got {rest[1]!r}"
        sentence = int(ms.group(1))
    name = path.name
    if path.suffix.lower() in MEDIA_EXTENSIONS:
        stem = path.stem
    elif name.lower().endswith("avi") and not path.suffix:
        stem = name[:-3]  # the 's16_su_3avi' quirk
    else:
        return f"not a video file ({name!r})"
    m = _ENTERFACE_STEM_RE.match(stem)
    if not m:
        return "file name does not match eNTERFACE 'sN_xx_M.avi'"
    _file_subject, code, file_sentence = m.groups()
    code = code.lower()
    if code != _ENTERFACE_FOLDERS[emotion]:
        return f"emotion code {code!r} in the file name contradicts folder {rest[0]!r}"
    if sentence is None:
        sentence = int(file_sentence)
    elif int(file_sentence) != sentence:
        return f"sentence {file_sentence} in the file name contradicts folder {rest[1]!r}"
    return {"id": f"s{subject:02d}_{code}_{sentence}", "speaker": f"{subject:02d}",
            "label": emotion, "modality": "audiovisual", "gender": None}


_RAVDESS_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_RAVDESS_LABELS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
                   "05": "anger", "06": "fear", "07": "disgust", "08": "surprise"}
_RAVDESS_MODALITY = {"01": "audiovisual", "02": "video", "03": "audio"}


def _parse_ravdess(path: Path, rel: Path) -> Parsed | str:
    m = _RAVDESS_RE.match(path.stem)
    if not m:
        return "name does not match RAVDESS 'MM-VV-EE-II-SS-RR-AA'"
    modality_code, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if modality_code not in _RAVDESS_MODALITY:
        return f"unknown RAVDESS modality code {modality_code!r}"
    modality = _RAVDESS_MODALITY[modality_code]
    is_audio_file = path.suffix.lower() in AUDIO_EXTENSIONS
    if is_audio_file != (modality == "audio"):
        return f"modality code {modality_code!r} contradicts extension {path.suffix!r}"
    if channel not in ("01", "02"):
        return f"unknown RAVDESS vocal channel {channel!r}"
    if emotion not in _RAVDESS_LABELS:
        return f"unknown RAVDESS emotion code {emotion!r}"
    if intensity not in ("01", "02") or (emotion == "01" and intensity == "02"):
        return f"invalid RAVDESS intensity {intensity!r} for emotion {emotion!r}"
    if statement not in ("01", "02") or repetition not in ("01", "02"):
        return "invalid RAVDESS statement/repetition code"
    actor_n = int(actor)
    if not 1 <= actor_n <= 24:
        return f"RAVDESS actor {actor!r} outside 01..24"
    folder = path.parent.name
    if folder.lower().startswith("actor_") and folder[6:] != actor:
        return f"actor {actor!r} in the file name contradicts folder {folder!r}"
    # the id leaves out the modality code: the audio-only, video-only and audio-visual files of one
    # performance share it, so select_modality keeps one of them and no split can separate them
    return {"id": "-".join((channel, emotion, intensity, statement, repetition, actor)),
            "speaker": actor, "label": _RAVDESS_LABELS[emotion],
            "modality": modality, "gender": "male" if actor_n % 2 else "female"}


_CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
_CREMAD_LABELS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness",
                  "NEU": "neutral", "SAD": "sadness"}
_CREMAD_LEVELS = {"LO", "MD", "HI", "XX", "X"}
_CREMAD_SILENT = {"1076_MTI_SAD_XX"}


def _parse_cremad(path: Path, rel: Path) -> Parsed | str:
    m = _CREMAD_RE.match(path.stem)
    if not m:
        return "name does not match CREMA-D 'AAAA_SSS_EEE_LL' (e.g. 1001_DFA_ANG_XX)"
    actor, _sentence, emotion, level = m.groups()
    if emotion not in _CREMAD_LABELS:
        return f"unknown CREMA-D emotion code {emotion!r}"
    if level not in _CREMAD_LEVELS:
        return f"unknown CREMA-D level {level!r}"
    if not 1001 <= int(actor) <= 1091:
        return f"CREMA-D actor {actor!r} outside 1001..1091"
    if path.stem in _CREMAD_SILENT:
        return "known silent recording in the CREMA-D distribution"
    return {"id": path.stem, "speaker": actor, "label": _CREMAD_LABELS[emotion],
            "modality": modality_from_ext(path), "gender": None}


def _cremad_genders(root: Path) -> dict[str, str]:
    """Read ``VideoDemographics.csv`` (ActorID, Age, Sex, ...) if the distribution has it."""
    genders: dict[str, str] = {}
    for csv_path in sorted(root.rglob("VideoDemographics.csv")):
        with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.DictReader(fh):
                actor = (row.get("ActorID") or "").strip()
                sex = (row.get("Sex") or "").strip().lower()
                if actor and sex in ("male", "female"):
                    genders[actor] = sex
    return genders


#: The corpora of this module, in detection order.
LAYOUTS: tuple[Layout, ...] = (
    Layout("emodb", _parse_emodb),
    Layout("savee", _parse_savee),
    Layout("enterface", _parse_enterface),
    Layout("ravdess", _parse_ravdess),
    Layout("cremad", _parse_cremad, genders=_cremad_genders),
)
