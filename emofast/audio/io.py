"""Audio input: :func:`load_audio` (soundfile, or PyAV for the audio track of any container) and
resampling (``scipy.signal.resample_poly``, filters designed once per rate pair).

Every error names the file: a missing one raises :class:`~emofast.errors.MissingFileError`, one that
cannot be decoded :class:`~emofast.errors.MediaError` (both ``ValueError`` subclasses).
"""
from __future__ import annotations

import math
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from emofast.errors import InputError, MediaError, MissingFileError

__all__ = ["load_audio"]

_SOUNDFILE_EXTS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au",
                   ".snd", ".caf", ".w64", ".rf64", ".sf", ".voc", ".nist", ".sph", ".htk", ".svx"}


@lru_cache(maxsize=16)
def _resample_filter(up: int, down: int) -> np.ndarray:
    """The FIR filter ``scipy.signal.resample_poly(x, up, down)`` designs for float32 ``x``.

    Designing it (``firwin`` with 8821 Kaiser-windowed taps for 22.05 → 16 kHz) costs more than the
    filtering of a typical utterance, so it is built once per rate pair; passing it back as
    ``window=`` gives bit-identical output.
    """
    from scipy.signal import firwin

    max_rate = max(up, down)
    h = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)
    h.flags.writeable = False
    return h


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return y
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    out = resample_poly(y, up, down, window=_resample_filter(up, down))
    return np.ascontiguousarray(out, dtype=np.float32)


def _check_wav_truncation(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk claims more bytes than the file holds."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # not plain RIFF/WAVE (RF64, W64...): left to the decoder
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                raise MediaError(f"{path}: truncated WAV file (no data chunk in {size} bytes)")
            cid, csize = ch[:4], struct.unpack(endian + "I", ch[4:])[0]
            pos += 8
            if cid == b"data":
                if csize not in (0, 0xFFFFFFFF) and csize > size - pos:
                    raise MediaError(f"{path}: truncated WAV file (data chunk declares {csize} bytes, "
                                     f"only {size - pos} present)")
                return
            pos += csize + (csize & 1)
            if pos > size:
                raise MediaError(f"{path}: truncated WAV file (chunk {cid!r} runs past the end)")
            f.seek(pos)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        declared = f.frames
        data = f.read(dtype="float32", always_2d=True)
        sr = f.samplerate
    if declared > 0 and data.shape[0] < declared:
        raise MediaError(f"{path}: truncated audio ({data.shape[0]} of {declared} frames decoded)")
    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(y, dtype=np.float32), int(sr)


_AV_SCALE = {"u8": None, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0,
             "flt": 1.0, "dbl": 1.0}


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream in the container")
            stream = container.streams.audio[0]
            sr = stream.rate or stream.codec_context.sample_rate
            for frame in container.decode(stream):
                a = frame.to_ndarray()
                name = frame.format.name
                base = name[:-1] if name.endswith("p") else name
                n_ch = len(frame.layout.channels)
                if not frame.format.is_planar:
                    a = a.reshape(-1, n_ch).T
                if base not in _AV_SCALE:
                    raise MediaError(f"{path}: unsupported sample format {name!r}")
                if base == "u8":
                    a = (a.astype(np.float32) - 128.0) / 128.0
                elif _AV_SCALE[base] != 1.0:
                    a = (a.astype(np.float64) / _AV_SCALE[base]).astype(np.float32)
                a = a.astype(np.float32, copy=False)
                chunks.append(a[0] if a.shape[0] == 1 else a.mean(axis=0, dtype=np.float32))
                sr = frame.sample_rate or sr
    except av.error.FFmpegError as exc:  # some FFmpeg errors subclass ValueError: wrap them first
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    if not chunks:
        raise MediaError(f"{path}: zero-length audio (no samples decoded)")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32), int(sr)


def load_audio(path: str | os.PathLike, sr: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read a sound file or the audio track of a video as a mono float32 waveform.

    Parameters
    ----------
    path : str or PathLike
        WAV/FLAC/OGG/AIFF... are read with soundfile (libsndfile); other containers (MP4, MOV, AVI,
        MKV, MP3, M4A, ...) with PyAV (FFmpeg), first audio stream.
    sr : int or None
        Target rate in Hz (16000); ``None`` keeps the file's native rate. Resampling uses
        ``scipy.signal.resample_poly`` (polyphase FIR, Kaiser β = 5, ratio reduced by the gcd).

    Returns
    -------
    y : np.ndarray
        float32 mono waveform: channels averaged; integer PCM scaled to [-1, 1), float kept as is.
    sr : int
        Its sample rate.

    Raises
    ------
    emofast.errors.MissingFileError
        The file does not exist (a :class:`~emofast.errors.MissingFileError`, also a ``ValueError``).
    emofast.errors.MediaError
        Corrupt, truncated or empty file, unsupported container or no audio stream, zero-length
        audio, NaN/Inf samples.
    emofast.errors.InputError
        Bad ``sr``, or ``path`` is not a regular file.

    Every message names the file; all three are ``ValueError`` subclasses.
    """
    p = Path(path)
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise InputError(f"{p}: target sample rate must be a positive integer or None, got {sr!r}")
    if not p.exists():
        raise MissingFileError(f"{p}: file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes)")
    ext = p.suffix.lower()
    if ext in (".wav", ".wave"):
        _check_wav_truncation(p)
    if ext in _SOUNDFILE_EXTS:
        try:
            y, native = _read_soundfile(p)
        except MediaError:
            raise
        except Exception as exc:  # soundfile.LibsndfileError / RuntimeError: try FFmpeg before giving up
            try:
                y, native = _read_pyav(p)
            except MediaError:
                raise MediaError(f"{p}: corrupt or unsupported audio file ({exc})") from exc
    else:
        y, native = _read_pyav(p)
    if y.size == 0:
        raise MediaError(f"{p}: zero-length audio (no samples)")
    from emofast.audio import kernels

    bad = kernels.count_nonfinite(y)
    if bad:
        raise MediaError(f"{p}: {bad} NaN/Inf sample(s)")
    if sr is None or sr == native:
        return y, native
    return _resample(y, native, int(sr)), int(sr)
