"""Corpus loaders: native on-disk layouts to utterance records in one emotion vocabulary.

Why one ~620-line module: six small file-name parsers, each next to the layout it documents, and
the walk/detect/load code they plug into; a package of 50-line files would scatter one table.

Every loader walks a corpus folder, parses each media file name (and, where the corpus encodes it,
the folder path), and yields :class:`Utterance` records. Files whose names do not parse are listed
in :attr:`CorpusIndex.skipped` with the reason; nothing is guessed.

Supported layouts
-----------------
``emodb``      ``<root>/**/SSTTTEV.wav`` (e.g. ``03a01Fa.wav``).
``savee``      ``<root>/**/DC/a01.wav`` or ``<root>/**/DC_a01.wav`` (``.avi``/``.mp4`` clips too).
``enterface``  ``<root>/**/subject N/<emotion>/sentence M/sN_an_M.avi`` (folder path is authoritative;
               the file-name quirks of the distribution are accepted, see :func:`_parse_enterface`).
``ravdess``    ``<root>/**/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav|.mp4`` (id ``VV-EE-II-SS-RR-AA``: the
               files of one performance in several modalities share it).
``cremad``     ``<root>/**/1001_DFA_ANG_XX.wav|.flv|.mp4`` (gender from ``VideoDemographics.csv``
               when present anywhere under the root).
``demo``       emofast's synthetic corpora, ``<root>/manifest.json`` and
               ``<root>/<speaker>/<speaker>_<emotion>_<n>.wav|.mp4`` (see :mod:`emofast.synthetic`).

"""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from emofast.errors import InputError, MissingFileError

__all__ = [
    "EMOTIONS",
    "PAPER_SIX",
    "CORPORA",
    "MEDIA_EXTENSIONS",
    "Utterance",
    "CorpusIndex",
    "load_corpus",
    "detect_corpus",
    "select_labels",
    "select_modality",
    "MissingPathError",
]

#: Shared emotion vocabulary; every corpus maps its codes onto it.
EMOTIONS: tuple[str, ...] = (
    "anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness", "surprise", "calm",
)
#: The six emotions the papers evaluate.
PAPER_SIX: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

#: File extensions treated as media (lower case). Other files (READMEs, CSVs, manifests) are ignored.
MEDIA_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".mp4", ".avi", ".flv", ".mov", ".mkv"})
_AUDIO_EXTENSIONS = frozenset({".wav", ".flac"})
MODALITIES: tuple[str, ...] = ("audio", "video", "audiovisual")


#: Former name of :class:`emofast.errors.MissingFileError` (kept for callers that import it).
MissingPathError = MissingFileError


@dataclass(frozen=True)
class Utterance:
    """One recorded utterance.

    Attributes
    ----------
    id : str
        Identifier unique within the corpus and modality (usually the file stem). The audio and
        audiovisual files of one recording share the id where the corpus names them alike.
    corpus : str
        Corpus name (``"emodb"``, ``"savee"``, ..., or the demo corpus' own name).
    speaker : str
        Speaker/actor identifier as the corpus spells it (e.g. ``"03"``, ``"DC"``, ``"1001"``).
    label : str
        Emotion in :data:`EMOTIONS`.
    path : Path
        Media file.
    modality : str
        ``"audio"``, ``"video"`` (no sound) or ``"audiovisual"``.
    gender : str or None
        ``"female"``/``"male"`` where the corpus documents it, else ``None``.
    """

    id: str
    corpus: str
    speaker: str
    label: str
    path: Path
    modality: str
    gender: str | None = None


@dataclass
class CorpusIndex:
    """Result of :func:`load_corpus`.

    Attributes
    ----------
    name : str
        Loader name (``"emodb"``, ..., ``"demo"``).
    root : Path
        Corpus folder.
    utterances : list of Utterance
        Parsed records, sorted by path.
    skipped : list of (Path, str)
        Media files that did not parse, with the reason.

    An index is a sequence-like view of its utterances: ``len(index)`` counts them and
    ``for u in index`` iterates them in :attr:`utterances` order (sorted by path), so an index can
    be passed wherever utterances are expected (``select_labels(index)``,
    ``FeatureStore.extract(name, index, "audio")``).

    Examples
    --------
    >>> idx = CorpusIndex("emodb", Path("."), [Utterance("03a01Fa", "emodb", "03", "happiness",
    ...                                                  Path("03a01Fa.wav"), "audio")])
    >>> len(idx), [u.id for u in idx]
    (1, ['03a01Fa'])
    """

    name: str
    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        """Number of utterances."""
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        """The utterances, in :attr:`utterances` order."""
        return iter(self.utterances)

    def speakers(self) -> list[str]:
        """Sorted distinct speakers."""
        return sorted({u.speaker for u in self.utterances})

    def label_counts(self) -> dict[str, int]:
        """Utterances per label, in :data:`EMOTIONS` order."""
        counts = Counter(u.label for u in self.utterances)
        return {e: counts[e] for e in EMOTIONS if counts[e]}

    def summary(self) -> str:
        """One-line human-readable description."""
        labels = ", ".join(f"{k} {v}" for k, v in self.label_counts().items())
        return (f"{self.name}: {len(self.utterances)} utterances, {len(self.speakers())} speakers "
                f"({labels}); {len(self.skipped)} files skipped")


# --------------------------------------------------------------------------------------------
# per-corpus file-name parsers: (path relative to root) -> Utterance fields or a reason string
# --------------------------------------------------------------------------------------------

_Parsed = dict  # keys: id, speaker, label, modality, gender (optional), corpus (optional)
_Parser = Callable[[Path, Path], "_Parsed | str"]


def _modality_from_ext(path: Path, video_modality: str = "audiovisual") -> str:
    return "audio" if path.suffix.lower() in _AUDIO_EXTENSIONS else video_modality


_EMODB_RE = re.compile(r"^(\d{2})([a-z]\d{2})([A-Z])([a-z])$")
_EMODB_LABELS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                 "T": "sadness", "N": "neutral"}
_EMODB_SPEAKERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                   "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}


def _parse_emodb(path: Path, rel: Path) -> _Parsed | str:
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


def _parse_savee(path: Path, rel: Path) -> _Parsed | str:
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
            "modality": _modality_from_ext(path), "gender": "male"}


_ENTERFACE_FOLDERS = {"anger": "an", "disgust": "di", "fear": "fe", "happiness": "ha",
                      "sadness": "sa", "surprise": "su"}
_ENTERFACE_SUBJECT_RE = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)
_ENTERFACE_SENTENCE_RE = re.compile(r"^sentence\s*(\d+)$", re.IGNORECASE)
# s1_an_1, s12_an_1 (subject 11's files), s_3_an_1 (stray underscore), optional trailing 'avi'
_ENTERFACE_STEM_RE = re.compile(r"^s_?(\d+)_([a-z]{2})_?(\d+)$", re.IGNORECASE)


def _parse_enterface(path: Path, rel: Path) -> _Parsed | str:
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


def _parse_ravdess(path: Path, rel: Path) -> _Parsed | str:
    m = _RAVDESS_RE.match(path.stem)
    if not m:
        return "name does not match RAVDESS 'MM-VV-EE-II-SS-RR-AA'"
    modality_code, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if modality_code not in _RAVDESS_MODALITY:
        return f"unknown RAVDESS modality code {modality_code!r}"
    modality = _RAVDESS_MODALITY[modality_code]
    is_audio_file = path.suffix.lower() in _AUDIO_EXTENSIONS
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


def _parse_cremad(path: Path, rel: Path) -> _Parsed | str:
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
            "modality": _modality_from_ext(path), "gender": None}


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


DEMO_MANIFEST = "manifest.json"
DEMO_FORMAT = "emofast-demo"
_DEMO_RE = re.compile(r"^([A-Za-z0-9]+)_([a-z]+)_(\d+)$")


def _read_demo_manifest(root: Path) -> dict | None:
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


def _make_demo_parser(manifest: dict) -> _Parser:
    genders = {str(k): v for k, v in (manifest.get("speakers") or {}).items()}
    corpus = str(manifest.get("corpus", "demo"))

    def parse(path: Path, rel: Path) -> _Parsed | str:
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
                "modality": _modality_from_ext(path), "gender": genders.get(speaker),
                "corpus": corpus}

    return parse


_PARSERS: dict[str, _Parser] = {
    "emodb": _parse_emodb,
    "savee": _parse_savee,
    "enterface": _parse_enterface,
    "ravdess": _parse_ravdess,
    "cremad": _parse_cremad,
}
#: Loader names accepted by :func:`load_corpus`.
CORPORA: tuple[str, ...] = ("emodb", "savee", "enterface", "ravdess", "cremad", "demo")


# --------------------------------------------------------------------------------------------
# walking, detection, loading
# --------------------------------------------------------------------------------------------

def _check_root(root: str | Path) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise MissingFileError(f"corpus folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise InputError(f"corpus path {str(root)!r} is not a folder")
    return root


def _is_candidate(path: Path, rel: Path) -> bool:
    if any(part.startswith(".") for part in rel.parts):  # hidden files, '._x.wav' resource forks
        return False
    if path.suffix.lower() in MEDIA_EXTENSIONS:
        return True
    # eNTERFACE's 's16_su_3avi' has no dot before its extension
    return not path.suffix and path.name.lower().endswith("avi")


def _media_files(root: Path) -> list[tuple[Path, Path]]:
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if _is_candidate(path, rel) and path.is_file():
            files.append((path, rel))
    files.sort(key=lambda pr: str(pr[1]))
    return files


def detect_corpus(root: str | Path) -> str:
    """Recognise which corpus layout a folder holds.

    Parameters
    ----------
    root : str or Path
        Corpus folder.

    Returns
    -------
    str
        One of :data:`CORPORA`.

    Raises
    ------
    MissingFileError
        The folder does not exist (a ``FileNotFoundError`` and a ``ValueError``).
    emofast.errors.InputError
        The path is not a folder, holds no media files, no layout claims at least half of its
        media files (unknown layout), or several layouts claim files (mixed corpora).
    """
    root = _check_root(root)
    files = _media_files(root)
    manifest = _read_demo_manifest(root)
    if not files:
        raise InputError(f"corpus folder {str(root)!r} is empty: no media files "
                         f"({', '.join(sorted(MEDIA_EXTENSIONS))})")
    parsers = dict(_PARSERS)
    if manifest is not None:
        parsers = {"demo": _make_demo_parser(manifest), **parsers}
    claims: dict[str, list[Path]] = {}
    for name, parser in parsers.items():
        claimed = [rel for path, rel in files if not isinstance(parser(path, rel), str)]
        if claimed:
            claims[name] = claimed
    if len(claims) > 1:
        detail = "; ".join(f"{len(v)} {k} files (e.g. {v[0]})" for k, v in claims.items())
        raise InputError(f"mixed corpora in {str(root)!r}: {detail}. Put each corpus in its own folder.")
    if not claims:
        examples = ", ".join(str(rel) for _, rel in files[:3])
        raise InputError(f"unknown corpus layout in {str(root)!r}: none of its {len(files)} media files "
                         f"(e.g. {examples}) matches {', '.join(CORPORA)}")
    (name, claimed), = claims.items()
    if 2 * len(claimed) < len(files):
        unclaimed = [str(rel) for _, rel in files if rel not in set(claimed)][:3]
        raise InputError(f"unknown corpus layout in {str(root)!r}: only {len(claimed)} of {len(files)} "
                         f"media files match {name} (unmatched e.g. {', '.join(unclaimed)})")
    return name


def load_corpus(name: str | None, root: str | Path) -> CorpusIndex:
    """Index a corpus folder.

    Parameters
    ----------
    name : str or None
        Loader, one of :data:`CORPORA`; ``None`` or ``"auto"`` runs :func:`detect_corpus`.
    root : str or Path
        Corpus folder (searched recursively; hidden files are ignored).

    Returns
    -------
    CorpusIndex
        Utterances sorted by path, and the media files that did not parse with their reasons.

    Raises
    ------
    MissingFileError
        The folder does not exist (a ``FileNotFoundError`` and a ``ValueError``).
    emofast.errors.InputError
        Unknown loader name, a ``demo`` folder without its manifest, or a folder
        in which no file parses.
    """
    root = _check_root(root)
    if name is None or name == "auto":
        name = detect_corpus(root)
    if name not in CORPORA:
        raise InputError(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)} or 'auto'")
    corpus_name = name
    genders: dict[str, str] = {}
    if name == "demo":
        manifest = _read_demo_manifest(root)
        if manifest is None:
            raise InputError(f"{str(root)!r} is not a demo corpus: no {DEMO_MANIFEST} with "
                             f"format {DEMO_FORMAT!r}")
        parser = _make_demo_parser(manifest)
        corpus_name = str(manifest.get("corpus", "demo"))
    else:
        parser = _PARSERS[name]
        if name == "cremad":
            genders = _cremad_genders(root)
    index = CorpusIndex(name=name, root=root)
    seen: dict[tuple[str, str], Path] = {}
    files = _media_files(root)
    for path, rel in files:
        parsed = parser(path, rel)
        if isinstance(parsed, str):
            index.skipped.append((path, parsed))
            continue
        key = (parsed["id"], parsed["modality"])
        if key in seen:
            index.skipped.append((path, f"duplicate of {seen[key]} (id {parsed['id']!r}, "
                                        f"{parsed['modality']})"))
            continue
        try:
            size = path.stat().st_size
        except OSError as exc:
            index.skipped.append((path, f"cannot stat file: {exc}"))
            continue
        if size == 0:
            index.skipped.append((path, "empty file (0 bytes)"))
            continue
        seen[key] = path
        gender = parsed.get("gender") or genders.get(parsed["speaker"])
        index.utterances.append(Utterance(
            id=parsed["id"], corpus=parsed.get("corpus", corpus_name), speaker=parsed["speaker"],
            label=parsed["label"], path=path, modality=parsed["modality"], gender=gender))
    if not index.utterances:
        if not files:
            raise InputError(f"corpus folder {str(root)!r} is empty: no media files")
        reasons = "; ".join(f"{p.name}: {r}" for p, r in index.skipped[:3])
        raise InputError(f"no {name} utterances under {str(root)!r}: all {len(files)} media files "
                         f"were skipped (e.g. {reasons})")
    return index


def select_labels(utterances: Iterable[Utterance], labels: Sequence[str] | str = PAPER_SIX
                  ) -> list[Utterance]:
    """Keep the utterances whose label is in ``labels``.

    Parameters
    ----------
    utterances : iterable of Utterance
    labels : sequence of str or ``"paper_six"``
        Emotions from :data:`EMOTIONS`; default :data:`PAPER_SIX`.

    Returns
    -------
    list of Utterance
        In input order.

    Raises
    ------
    emofast.errors.InputError
        A label is not in :data:`EMOTIONS`, or ``labels`` is empty (a ``ValueError``).
    """
    if isinstance(labels, str):
        if labels.lower() in ("paper_six", "paper-six", "six"):
            labels = PAPER_SIX
        else:
            labels = (labels,)
    wanted = set(labels)
    if not wanted:
        raise InputError("select_labels: empty label set")
    unknown = sorted(wanted - set(EMOTIONS))
    if unknown:
        raise InputError(f"unknown emotion label(s) {unknown}; the vocabulary is {list(EMOTIONS)}")
    return [u for u in utterances if u.label in wanted]


def select_modality(utterances: Iterable[Utterance], modality: str) -> list[Utterance]:
    """Utterances usable for one feature modality, one record per utterance id.

    ``"audio"`` takes audio and audiovisual files, ``"video"`` takes video and audiovisual files.
    When one id exists as several files, the single-modality file wins (a ``.wav`` over the
    ``.mp4`` of the same recording for audio), so every id appears once.

    Parameters
    ----------
    utterances : iterable of Utterance
    modality : {"audio", "video"}

    Returns
    -------
    list of Utterance
        In order of first appearance of each id.
    """
    if modality not in ("audio", "video"):
        raise InputError(f"modality must be 'audio' or 'video', got {modality!r}")
    chosen: dict[tuple[str, str], Utterance] = {}
    for u in utterances:
        if u.modality != modality and u.modality != "audiovisual":
            continue
        key = (u.corpus, u.id)
        prev = chosen.get(key)
        if prev is None or (prev.modality == "audiovisual" and u.modality == modality):
            chosen[key] = u
    return list(chosen.values())
