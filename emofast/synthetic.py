"""Embedded demo corpora: synthetic emotional speech (WAV) and faces (MP4 with an audio track).

Why one ~640-line module: speech and faces are driven by one table of per-emotion cues and one
per-speaker/per-corpus parameter draw, and the demo's determinism (same seed, same bytes) depends on
drawing them in one order; split files would have to share that state.

A newcomer without any corpus can run the whole pipeline on three small "corpora" that differ the
way real corpora differ: other speakers and faces, another recording channel, noise and lighting.
The emotion structure is learnable but not trivial: every cue varies from utterance to utterance
and from speaker to speaker, and several emotions share cues (anger/happiness are both loud and
high; fear/surprise both open the eyes; sadness/disgust both turn the mouth down).

Speech
    A glottal pulse train (with jitter and shimmer) through a two-pole spectral-tilt filter,
    aspiration noise (breathiness), and formant resonators switching vowel per syllable, shaped by
    syllable envelopes. Emotion sets pitch level, pitch contour (declination/rise, accent size),
    energy, tempo (syllable rate), spectral tilt and voice quality (jitter, breathiness); the
    speaker sets base pitch, vocal-tract length (formant scale) and expressiveness; the corpus sets
    the channel (band-pass/EQ), noise level and recording gain.
Faces
    The face of :func:`skimage.data.astronaut` with its mouth, eyes and brows repainted per frame:
    brows (height, inner-end tilt), eye opening (plus blinks), mouth curvature, opening and width,
    rising from a neutral onset. The speaker sets geometry (scale, aspect, rotation, landmark
    offsets) and colours; the corpus sets lighting, colour cast, blur and sensor noise. OpenCV's
    frontal-face Haar cascade finds the face in nearly every frame.

Layout of one corpus (see :mod:`emofast.corpora`, loader ``"demo"``)::

    <root>/manifest.json                      format "emofast-demo", corpus, speakers, files, ...
    <root>/<speaker>/<speaker>_<emotion>_<n>.wav   16 kHz mono PCM-16 (modality "audio")
    <root>/<speaker>/<speaker>_<emotion>_<n>.mp4   H.264 video + AAC audio of the same utterance

Requires scikit-image (for the face photo) when ``video=True``.

"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import signal

from emofast.corpora import DEMO_FORMAT, DEMO_MANIFEST, EMOTIONS, PAPER_SIX
from emofast.errors import InputError

__all__ = ["DEMO_CORPORA", "GENERATOR_VERSION", "make_demo_corpora", "synthesize_speech",
           "render_face_frames", "write_wav", "write_mp4"]

#: Bumped whenever generated content changes; part of the cache folder name.
GENERATOR_VERSION = 1
SAMPLE_RATE = 16000


# ----------------------------------------------------------------------------------------------
# parameter tables
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Voice:
    f0: float       # pitch multiplier of the speaker's base pitch
    range: float    # accent size, semitones
    slope: float    # declination (-) or rise (+) across the utterance, semitones
    energy: float   # dB
    rate: float     # syllables per second
    tilt: float     # pole of the two-pole glottal low-pass (higher = darker)
    jitter: float   # relative period perturbation
    breath: float   # aspiration noise relative to the voiced source


_VOICE: dict[str, _Voice] = {
    "anger":     _Voice(1.30, 4.0, -3.0, 6.0, 5.3, 0.80, 0.010, 0.05),
    "happiness": _Voice(1.28, 5.0, 0.0, 3.5, 4.8, 0.85, 0.010, 0.08),
    "fear":      _Voice(1.45, 1.5, 1.0, -1.0, 5.8, 0.89, 0.035, 0.20),
    "sadness":   _Voice(0.86, 1.0, -3.0, -6.0, 3.0, 0.95, 0.015, 0.25),
    "disgust":   _Voice(0.93, 3.0, -5.0, 0.0, 3.5, 0.90, 0.030, 0.10),
    "surprise":  _Voice(1.35, 3.0, 7.0, 3.0, 4.5, 0.86, 0.010, 0.08),
    "neutral":   _Voice(1.00, 2.0, -2.0, 0.0, 4.5, 0.90, 0.010, 0.08),
    "boredom":   _Voice(0.90, 0.8, -1.5, -3.0, 3.4, 0.93, 0.010, 0.12),
    "calm":      _Voice(0.95, 1.5, -1.5, -2.0, 4.0, 0.92, 0.005, 0.10),
}


@dataclass(frozen=True)
class _Face:
    brow: float      # brow height, -1 (lowered) .. 1 (raised)
    tilt: float      # inner brow end, -1 (down, frown) .. 1 (up, worry)
    eyes: float      # eye opening, 1 = neutral
    curve: float     # mouth corners, -1 (down) .. 1 (up)
    open: float      # mouth opening 0 .. 1
    width: float     # mouth width factor


_FACE: dict[str, _Face] = {
    "anger":     _Face(-0.7, -1.0, 0.80, -0.3, 0.25, 0.90),
    "disgust":   _Face(-0.5, -0.4, 0.60, -0.6, 0.10, 0.90),
    "fear":      _Face(0.7, 0.8, 1.50, -0.3, 0.50, 1.10),
    "happiness": _Face(0.1, 0.0, 0.75, 1.00, 0.30, 1.20),
    "sadness":   _Face(0.0, 1.0, 0.70, -0.80, 0.00, 0.95),
    "surprise":  _Face(1.0, 0.2, 1.60, 0.00, 1.00, 0.80),
    "neutral":   _Face(0.0, 0.0, 1.00, 0.00, 0.00, 1.00),
    "boredom":   _Face(-0.2, 0.0, 0.60, -0.10, 0.00, 1.00),
    "calm":      _Face(0.0, 0.0, 0.90, 0.20, 0.00, 1.00),
}

#: The three demo corpora: name -> (speaker prefix, channel settings, lighting settings).
DEMO_CORPORA: dict[str, dict] = {
    "demo_studio": {"prefix": "stu", "band": (60.0, 7600.0), "snr_db": 38.0, "gain_db": 0.0,
                    "tilt_eq": 0.0, "noise": "white",
                    "light": {"gain": 1.0, "gradient": 0.0, "tint": (1.0, 1.0, 1.0), "blur": 0,
                              "noise": 2.0, "contrast": 1.0}},
    "demo_phone": {"prefix": "pho", "band": (300.0, 3400.0), "snr_db": 24.0, "gain_db": -3.0,
                   "tilt_eq": 0.0, "noise": "hum",
                   "light": {"gain": 1.05, "gradient": 0.0, "tint": (1.12, 1.0, 0.82), "blur": 3,
                             "noise": 4.0, "contrast": 0.8}},
    "demo_street": {"prefix": "str", "band": (120.0, 6000.0), "snr_db": 14.0, "gain_db": 2.0,
                    "tilt_eq": 0.6, "noise": "pink",
                    "light": {"gain": 0.75, "gradient": 0.45, "tint": (0.88, 0.98, 1.15), "blur": 0,
                              "noise": 7.0, "contrast": 1.1}},
}

# vowel formants (Hz) of an adult male vocal tract; scaled per speaker
_VOWELS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240],
                    [530, 1840, 2480], [570, 840, 2410]], dtype=np.float64)
_BANDWIDTHS = np.array([90.0, 110.0, 160.0])


def _rng_for(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, GENERATOR_VERSION, *keys]))


# ----------------------------------------------------------------------------------------------
# speech
# ----------------------------------------------------------------------------------------------

def _resonator(freq: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = math.exp(-math.pi * bw / sr)
    theta = 2 * math.pi * freq / sr
    a = np.array([1.0, -2 * r * math.cos(theta), r * r])
    b = np.array([a.sum()])  # unit gain at DC
    return b, a


def synthesize_speech(emotion: str, rng: np.random.Generator, *, base_f0: float = 120.0,
                      formant_scale: float = 1.0, expressiveness: float = 1.0,
                      n_syllables: int = 6, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Synthesize one clean emotional utterance.

    Parameters
    ----------
    emotion : str
        Emotion from :data:`emofast.corpora.EMOTIONS`.
    rng : numpy.random.Generator
        Source of every random choice (utterance-level cue variation, syllables, noise).
    base_f0 : float
        Speaker's neutral pitch in Hz.
    formant_scale : float
        Vocal-tract scale: formant frequencies are multiplied by it (~1.0 male, ~1.15 female).
    expressiveness : float
        Scales how far the emotion moves the cues from neutral (0 = always neutral).
    n_syllables : int
        Number of syllables; duration follows from the (emotion-dependent) syllable rate.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        float32 mono waveform, before channel and noise, roughly within [-1, 1].
    """
    if emotion not in _VOICE:
        raise InputError(f"unknown emotion {emotion!r}; expected one of {list(EMOTIONS)}")
    v, n = _VOICE[emotion], _VOICE["neutral"]
    e = expressiveness

    def mix(a: float, b: float) -> float:
        return b + e * (a - b)

    f0_mult = math.exp(mix(math.log(v.f0), math.log(n.f0)) + rng.normal(0, 0.07))
    accent = max(0.2, mix(v.range, n.range) * math.exp(rng.normal(0, 0.3)))
    slope = mix(v.slope, n.slope) + rng.normal(0, 1.5)
    energy_db = mix(v.energy, n.energy) + rng.normal(0, 1.5)
    rate = mix(v.rate, n.rate) * math.exp(rng.normal(0, 0.12))
    tilt = float(np.clip(mix(v.tilt, n.tilt) + rng.normal(0, 0.02), 0.6, 0.98))
    jitter = max(0.0, mix(v.jitter, n.jitter) * math.exp(rng.normal(0, 0.3)))
    breath = max(0.0, mix(v.breath, n.breath) * math.exp(rng.normal(0, 0.3)))

    # syllable timing
    durs = np.maximum(0.08, rng.normal(1.0, 0.2, n_syllables) / rate)
    lead, tail = rng.uniform(0.08, 0.15), rng.uniform(0.08, 0.15)
    total = lead + durs.sum() + tail
    n_samples = int(round(total * sr))
    t = np.arange(n_samples) / sr
    starts = lead + np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    centers = starts + durs / 2

    # pitch contour: declination/rise + accents on stressed syllables
    speech_span = max(durs.sum(), 1e-3)
    pos = np.clip((t - lead) / speech_span, 0.0, 1.0)
    semis = slope * (pos - 0.5)
    stressed = rng.random(n_syllables) < 0.5
    stressed[rng.integers(n_syllables)] = True
    for c, d, s in zip(centers, durs, stressed):
        if s:
            semis += accent * rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((t - c) / (0.35 * d)) ** 2)
    f0 = base_f0 * f0_mult * 2.0 ** (semis / 12.0)

    # glottal pulses with jitter and shimmer
    source = np.zeros(n_samples + 2)
    tk = 0.0
    while tk < total:
        i = int(tk * sr)
        if i >= n_samples:
            break
        period = (1.0 / f0[i]) * (1.0 + jitter * rng.standard_normal())
        amp = 1.0 + 2.0 * jitter * rng.standard_normal()
        x = tk * sr
        i0 = int(x)
        frac = x - i0
        source[i0] += amp * (1 - frac)
        source[i0 + 1] += amp * frac
        tk += max(period, 1.0 / 800.0)
    source = source[:n_samples]
    source = signal.lfilter([1.0 - tilt], [1.0, -tilt], source)
    source = signal.lfilter([1.0 - tilt], [1.0, -tilt], source)
    source = np.diff(source, prepend=0.0) * 40.0  # radiation (+6 dB/oct)

    # syllable envelopes: voiced nucleus + short consonant noise at the onset
    env = np.zeros(n_samples)
    cons = np.zeros(n_samples)
    vowel_of = rng.integers(0, len(_VOWELS), n_syllables)
    vowel_env = np.zeros((len(_VOWELS), n_samples))
    for k, (s0, d) in enumerate(zip(starts, durs)):
        a, b = int(s0 * sr), int((s0 + d) * sr)
        onset = int(0.25 * (b - a))
        nuc = np.hanning(max(b - a - onset, 4)) ** 0.7
        seg = np.zeros(b - a)
        seg[onset:onset + len(nuc)] = nuc[: b - a - onset]
        gain = 1.0 if stressed[k] else 0.7
        env[a:b] = np.maximum(env[a:b], gain * seg)
        vowel_env[vowel_of[k], a:b] = np.maximum(vowel_env[vowel_of[k], a:b], gain * seg)
        cons[a:a + onset] = np.hanning(max(onset, 2))[:onset] * rng.uniform(0.05, 0.2)

    voiced = np.zeros(n_samples)
    breath_noise = signal.lfilter([1.0, -0.9], [1.0], rng.standard_normal(n_samples))
    excitation = source + breath * 0.5 * breath_noise
    for vi in np.unique(vowel_of):
        y = excitation
        for f, bw in zip(_VOWELS[vi] * formant_scale, _BANDWIDTHS):
            b, a = _resonator(min(f, 0.45 * sr), bw, sr)
            y = signal.lfilter(b, a, y)
        voiced += vowel_env[vi] * y
    fric = signal.lfilter(*signal.butter(2, 2500.0 / (sr / 2), "high"), rng.standard_normal(n_samples))
    y = voiced + cons * fric * 0.3
    y *= 10.0 ** (energy_db / 20.0)
    return (0.1 * y / (np.sqrt(np.mean(voiced ** 2)) + 1e-9)).astype(np.float32)


def _channel(y: np.ndarray, corpus: dict, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Corpus channel: band-pass/EQ, recording gain and additive noise at the corpus SNR."""
    lo, hi = corpus["band"]
    sos = signal.butter(4, [lo / (sr / 2), min(hi / (sr / 2), 0.99)], "band", output="sos")
    out = signal.sosfilt(sos, y.astype(np.float64))
    if corpus["tilt_eq"]:
        out = signal.lfilter([1.0], [1.0, -0.5 * corpus["tilt_eq"]], out)  # low-frequency boost
    n = len(out)
    kind = corpus["noise"]
    noise = rng.standard_normal(n)
    if kind == "pink":
        noise = signal.lfilter([0.049922, -0.095993, 0.050612, -0.004408],
                               [1.0, -2.494956, 2.017265, -0.522189], noise)
    elif kind == "hum":
        t = np.arange(n) / sr
        noise = 0.3 * noise + np.sin(2 * np.pi * 50 * t + rng.uniform(0, 6.28)) * 2.0
        noise = signal.sosfilt(sos, noise)
    # reference level: a fixed nominal speech level, so emotion energy differences survive
    ref = 0.1
    noise *= ref * 10.0 ** (-corpus["snr_db"] / 20.0) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
    gain = 10.0 ** ((corpus["gain_db"] + rng.normal(0, 1.5)) / 20.0)
    out = (out + noise) * gain * 1.5
    peak = np.max(np.abs(out))
    if peak > 0.98:
        out *= 0.98 / peak
    return out.astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write mono float audio as 16-bit PCM WAV."""
    import soundfile as sf

    sf.write(str(path), np.clip(y, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")


# ----------------------------------------------------------------------------------------------
# faces
# ----------------------------------------------------------------------------------------------

# canonical canvas: astronaut()[20:200, 135:315]; landmark coordinates in that canvas
_CANVAS = (20, 200, 135, 315)
_EYES = ((67.0, 80.0), (112.0, 82.0))
_MOUTH = (89.0, 123.0)
_FRAME = 128
_BASE_CACHE: list[np.ndarray] = []


def _base_face() -> np.ndarray:
    """The astronaut's face with mouth, eyes and brows painted out (RGB uint8, 180x180)."""
    if _BASE_CACHE:
        return _BASE_CACHE[0]
    import cv2

    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("demo faces are drawn on scikit-image's astronaut photo: "
                          "pip install scikit-image, or pass video=False") from exc

    y0, y1, x0, x1 = _CANVAS
    img = np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1])
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(mask, (int(_MOUTH[0]), int(_MOUTH[1])), (25, 11), 0, 0, 360, 255, -1)
    for ex, ey in _EYES:
        cv2.ellipse(mask, (int(ex), int(ey)), (12, 7), 0, 0, 360, 255, -1)
        cv2.ellipse(mask, (int(ex), int(ey - 13)), (15, 5), 0, 0, 360, 255, -1)
    base = cv2.inpaint(img, mask, 5, cv2.INPAINT_TELEA)
    _BASE_CACHE.append(base)
    return base


def _draw_expression(canvas: np.ndarray, f: _Face, look: dict, blink: bool) -> None:
    import cv2

    dx_eye, dy_mouth = look["eye_spread"], look["mouth_dy"]
    brow_col, lip_col = look["brow_col"], look["lip_col"]
    for side, (ex, ey) in enumerate(_EYES):
        ex = ex + (dx_eye if side else -dx_eye)
        sgn = -1.0 if side == 0 else 1.0  # inner end is towards the nose
        h = 0.5 if blink else max(0.5, 3.6 * f.eyes)
        center = (int(round(ex * 4)), int(round(ey * 4)))
        cv2.ellipse(canvas, center, (40, int(h * 4)), 0, 0, 360, (235, 230, 225), -1, cv2.LINE_AA, 2)
        if not blink:
            cv2.circle(canvas, center, int(min(h, 4.5) * 4), (60, 40, 30), -1, cv2.LINE_AA, 2)
        cv2.ellipse(canvas, center, (42, int(h * 4) + 4), 0, 180, 360, (50, 35, 30), 1, cv2.LINE_AA, 2)
        # brow: outer and inner ends
        by = ey - 12.0 - 5.0 * f.brow
        inner = (ex - sgn * 11.0, by - 5.0 * f.tilt)
        outer = (ex + sgn * 13.0, by + 1.5)
        mid = (ex + sgn * 1.0, by - 2.0)
        pts = np.array([inner, mid, outer]) * 4
        cv2.polylines(canvas, [pts.astype(np.int32)], False, brow_col, look["brow_w"], cv2.LINE_AA, 2)
    mx, my = _MOUTH[0], _MOUTH[1] + dy_mouth
    half = 17.0 * f.width * look["mouth_w"]
    xs = np.linspace(-half, half, 15)
    curve = -6.0 * f.curve * (xs / half) ** 2 + 6.0 * f.curve * 0.5
    upper = np.stack([mx + xs, my + curve - 1.0 - 2.0 * f.open * (1 - (xs / half) ** 2)], 1)
    lower = np.stack([mx + xs, my + curve + 1.0 + 9.0 * f.open * (1 - (xs / half) ** 2)], 1)
    poly = np.concatenate([upper, lower[::-1]]) * 4
    if f.open > 0.05:
        cv2.fillPoly(canvas, [poly.astype(np.int32)], (70, 25, 30), cv2.LINE_AA, 2)
    cv2.polylines(canvas, [(upper * 4).astype(np.int32)], False, lip_col, 2, cv2.LINE_AA, 2)
    cv2.polylines(canvas, [(lower * 4).astype(np.int32)], False, lip_col, 3, cv2.LINE_AA, 2)


def render_face_frames(emotion: str, n_frames: int, rng: np.random.Generator, *, look: dict,
                       light: dict, expressiveness: float = 1.0) -> np.ndarray:
    """Render the face video of one utterance.

    Parameters
    ----------
    emotion : str
        Emotion from :data:`emofast.corpora.EMOTIONS`.
    n_frames : int
        Number of frames.
    rng : numpy.random.Generator
        Source of every random choice (intensity, onset, blinks, head motion, sensor noise).
    look : dict
        Speaker appearance (see ``_speaker_look``): geometry and colours.
    light : dict
        Corpus lighting: ``gain``, ``gradient``, ``tint`` (RGB), ``blur``, ``noise``, ``contrast``.
    expressiveness : float
        Scales the expression's distance from neutral.

    Returns
    -------
    numpy.ndarray
        uint8 RGB frames of shape (n_frames, 128, 128, 3).
    """
    import cv2

    if emotion not in _FACE:
        raise InputError(f"unknown emotion {emotion!r}; expected one of {list(EMOTIONS)}")
    target, neutral = _FACE[emotion], _FACE["neutral"]
    peak = expressiveness * rng.uniform(0.55, 1.0)
    onset = max(1, int(n_frames * rng.uniform(0.15, 0.45)))
    blinks = set()
    if rng.random() < 0.6:
        b = int(rng.integers(0, n_frames))
        blinks.update({b, b + 1})
    base = _base_face()
    frames = np.empty((n_frames, _FRAME, _FRAME, 3), np.uint8)
    h, w = _FRAME, _FRAME
    # per-pixel affine colour transform: x -> x * mul + add (skin, contrast, gain, gradient, tint)
    shade = (light["gain"] * np.linspace(1.0, 1.0 - light["gradient"], w)[None, :, None]
             * np.asarray(light["tint"])[None, None, :])
    mul = (np.asarray(look["skin"])[None, None, :] * light["contrast"] * shade).astype(np.float32)
    add = ((128.0 - 128.0 * light["contrast"]) * shade).astype(np.float32)
    mul = np.broadcast_to(mul, (h, w, 3)).copy()
    add = np.broadcast_to(add, (h, w, 3)).copy()
    jitter_xy = np.cumsum(rng.normal(0, 0.6, (n_frames, 2)), axis=0)
    noise = rng.standard_normal((n_frames, h, w, 3), dtype=np.float32) * np.float32(light["noise"])
    scale = look["scale"] * _FRAME / base.shape[0]
    m0 = cv2.getRotationMatrix2D((90.0, 90.0), look["angle"], 1.0)
    m0[0] *= scale * look["aspect"]
    m0[1] *= scale / look["aspect"]
    m0[:, 2] += (_FRAME / 2 - 90.0 * scale * look["aspect"], _FRAME / 2 - 90.0 * scale / look["aspect"])
    m0[:, 2] += look["offset"]
    keys = ("brow", "tilt", "eyes", "curve", "open", "width")
    for i in range(n_frames):
        k = peak * min(1.0, (i + 1) / onset)
        f = _Face(*(getattr(neutral, a) + k * (getattr(target, a) - getattr(neutral, a)) for a in keys))
        canvas = base.copy()
        _draw_expression(canvas, f, look, i in blinks)
        m = m0.copy()
        m[:, 2] += jitter_xy[i]
        img = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x = img.astype(np.float32)
        x *= mul
        x += add
        if light["blur"]:
            x = cv2.GaussianBlur(x, (light["blur"], light["blur"]), 0)
        x += noise[i]
        np.clip(x, 0, 255, out=x)
        frames[i] = x
    return frames


def _speaker_look(rng: np.random.Generator) -> dict:
    return {
        "scale": rng.uniform(0.92, 1.08),
        "aspect": rng.uniform(0.92, 1.08),
        "angle": rng.uniform(-5.0, 5.0),
        "offset": rng.uniform(-4.0, 4.0, 2),
        "eye_spread": rng.uniform(-2.0, 2.0),
        "mouth_dy": rng.uniform(-3.0, 3.0),
        "mouth_w": rng.uniform(0.9, 1.1),
        "brow_w": int(rng.integers(2, 4)),
        "brow_col": tuple(int(c) for c in np.array([95.0, 65.0, 40.0]) * rng.uniform(0.6, 1.2)),
        "lip_col": tuple(int(c) for c in np.array([180.0, 90.0, 85.0]) * rng.uniform(0.9, 1.1, 3)),
        "skin": rng.uniform([0.85, 0.85, 0.85], [1.1, 1.05, 1.05]),
    }


def write_mp4(path: Path, frames: np.ndarray, fps: int, audio: np.ndarray | None,
              sr: int = SAMPLE_RATE) -> None:
    """Write RGB frames as H.264 (yuv420p) MP4, with an AAC mono track when ``audio`` is given."""
    import av

    with av.open(str(path), "w") as container:
        vs = container.add_stream("libx264", rate=fps)
        vs.width, vs.height = frames.shape[2], frames.shape[1]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        vs.codec_context.thread_count = 1
        as_ = None
        if audio is not None:
            as_ = container.add_stream("aac", rate=sr)
            as_.layout = "mono"
            as_.options = {"aac_coder": "fast"}
            as_.bit_rate = 64000
        for fr in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                container.mux(packet)
        for packet in vs.encode():
            container.mux(packet)
        if as_ is not None:
            # feed the encoder whole frames of its own size, so PyAV needs no re-framing graph
            size = as_.codec_context.frame_size or 1024
            y = np.asarray(audio, np.float32)
            y = np.concatenate([y, np.zeros((-len(y)) % size, np.float32)])[None, :]
            for start in range(0, y.shape[1], size):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[:, start:start + size]),
                                                format="fltp", layout="mono")
                af.sample_rate = sr
                af.pts = start
                for packet in as_.encode(af):
                    container.mux(packet)
            for packet in as_.encode():
                container.mux(packet)


# ----------------------------------------------------------------------------------------------
# corpora
# ----------------------------------------------------------------------------------------------

def _sizes(quick: bool) -> dict:
    if quick:
        return {"speakers": 4, "per_emotion": 2, "syllables": (4, 6), "fps": 10}
    return {"speakers": 5, "per_emotion": 3, "syllables": (4, 8), "fps": 12}


def _generate_corpus(root: Path, name: str, ci: int, seed: int, quick: bool,
                     emotions: Sequence[str], video: bool) -> list[str]:
    spec = DEMO_CORPORA[name]
    sizes = _sizes(quick)
    files: list[str] = []
    speakers: dict[str, str] = {}
    for si in range(sizes["speakers"]):
        srng = _rng_for(seed, ci, si)
        speaker = f"{spec['prefix']}{si + 1:02d}"
        gender = "female" if si % 2 == 0 else "male"
        speakers[speaker] = gender
        base_f0 = srng.uniform(185, 235) if gender == "female" else srng.uniform(95, 135)
        fscale = srng.uniform(1.1, 1.22) if gender == "female" else srng.uniform(0.92, 1.04)
        expressive = srng.uniform(0.6, 1.0)
        look = _speaker_look(srng)
        (root / speaker).mkdir(parents=True, exist_ok=True)
        for ei, emotion in enumerate(emotions):
            e_index = EMOTIONS.index(emotion)
            for n in range(sizes["per_emotion"]):
                urng = _rng_for(seed, ci, si, e_index, n)
                lo, hi = sizes["syllables"]
                y = synthesize_speech(emotion, urng, base_f0=base_f0, formant_scale=fscale,
                                      expressiveness=expressive, n_syllables=int(urng.integers(lo, hi + 1)))
                y = _channel(y, spec, urng)
                stem = f"{speaker}_{emotion}_{n}"
                write_wav(root / speaker / f"{stem}.wav", y)
                files.append(f"{speaker}/{stem}.wav")
                if video:
                    n_frames = max(2, int(round(len(y) / SAMPLE_RATE * sizes["fps"])))
                    frames = render_face_frames(emotion, n_frames, urng, look=look, light=spec["light"],
                                                expressiveness=expressive)
                    write_mp4(root / speaker / f"{stem}.mp4", frames, sizes["fps"], y)
                    files.append(f"{speaker}/{stem}.mp4")
    manifest = {
        "format": DEMO_FORMAT, "generator_version": GENERATOR_VERSION, "corpus": name,
        "seed": seed, "quick": quick, "video": video, "emotions": list(emotions),
        "sample_rate": SAMPLE_RATE, "fps": sizes["fps"] if video else None,
        "channel": {k: v for k, v in spec.items() if k not in ("prefix", "light")},
        "lighting": spec["light"], "speakers": speakers, "files": files,
    }
    (root / DEMO_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return files


def _complete(root: Path, seed: int, quick: bool, emotions: Sequence[str], video: bool) -> bool:
    try:
        manifest = json.loads((root / DEMO_MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if (manifest.get("format") != DEMO_FORMAT or manifest.get("generator_version") != GENERATOR_VERSION
            or manifest.get("seed") != seed or manifest.get("quick") != quick
            or manifest.get("emotions") != list(emotions) or manifest.get("video") != video):
        return False
    return all((root / f).is_file() and (root / f).stat().st_size > 0 for f in manifest.get("files", []))


def make_demo_corpora(cache_dir: str | Path, *, seed: int = 0, quick: bool = False,
                      emotions: Sequence[str] = PAPER_SIX, video: bool = True,
                      workers: int | None = None) -> dict[str, Path]:
    """Generate (or reuse) the demo corpora.

    Parameters
    ----------
    cache_dir : str or Path
        Folder holding generated corpora; each configuration gets its own sub-folder
        ``demo-v<version>-seed<seed>-<quick|full>``, so settings never mix.
    seed : int
        Every random choice derives from it: same seed, same files.
    quick : bool
        Smaller corpora (4 speakers x 2 utterances per emotion, shorter utterances, 10 fps)
        instead of 5 speakers x 3 utterances per emotion at 12 fps.
    emotions : sequence of str
        Emotions to generate (default the papers' six).
    video : bool
        Also write MP4 files (faces + audio track); needs scikit-image.
    workers : int, optional
        Processes generating corpora in parallel (one corpus each); default
        ``min(3, os.cpu_count())``; 1 generates in this process.

    Returns
    -------
    dict of str to Path
        Corpus name (``demo_studio``, ``demo_phone``, ``demo_street``) to its root folder, ready
        for ``emofast.corpora.load_corpus("demo", root)``.
    """
    emotions = tuple(emotions)
    unknown = [e for e in emotions if e not in EMOTIONS]
    if unknown or not emotions:
        raise InputError(f"unknown or no emotions {unknown or list(emotions)}; expected a subset of {list(EMOTIONS)}")
    if len(set(emotions)) != len(emotions):
        raise InputError(f"duplicate emotions in {list(emotions)}")
    tag = "" if emotions == PAPER_SIX else "-" + "_".join(emotions)
    folder = Path(cache_dir).expanduser() / (
        f"demo-v{GENERATOR_VERSION}-seed{seed}-{'quick' if quick else 'full'}{'' if video else '-audio'}{tag}")
    folder.mkdir(parents=True, exist_ok=True)
    roots = {name: folder / name for name in DEMO_CORPORA}
    todo = [(ci, name) for ci, name in enumerate(DEMO_CORPORA)
            if not _complete(roots[name], seed, quick, emotions, video)]
    if workers is None:
        workers = min(len(todo), os.cpu_count() or 1)
    if workers > 1 and len(todo) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import threading

        # fork is cheapest (no re-import of torch), but only safe while this process has no threads
        methods = multiprocessing.get_all_start_methods()
        method = ("fork" if "fork" in methods and threading.active_count() == 1
                  else "forkserver" if "forkserver" in methods else "spawn")
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx) as pool:
            jobs = [pool.submit(_generate_into, folder, name, ci, seed, quick, emotions, video)
                    for ci, name in todo]
            for job in jobs:
                job.result()
    else:
        for ci, name in todo:
            _generate_into(folder, name, ci, seed, quick, emotions, video)
    return roots


def _generate_into(folder: Path, name: str, ci: int, seed: int, quick: bool,
                   emotions: Sequence[str], video: bool) -> None:
    """Generate one corpus in a temporary folder, then move it into place (never half-written)."""
    import cv2  # a hard dependency of emofast

    cv2.setNumThreads(1)  # one thread per generating worker process
    root = folder / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
    try:
        _generate_corpus(tmp, name, ci, seed, quick, tuple(emotions), video)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
