"""Audio features: loading, resampling and 3-channel log-Mel segments.

Pipeline (all steps but the FFT are Numba kernels, compiled on first call and cached on disk)::

    waveform ─► frames × window ─► rfft (scipy.fft) ─► power ─► Mel ─► log ─► Δ, ΔΔ ─► segments

Conventions (the defaults follow the papers; every one is a :class:`LogMelConfig` field)

* **Frames are not centred.** Frame ``t`` covers samples ``[t·hop, t·hop + win_length)``; an utterance of
  ``L`` samples has ``1 + (L - win_length) // hop`` frames. A 64-frame context window therefore spans
  ``10 ms × 63 + 25 ms = 655 ms``, as in the papers. The ``win_length`` windowed samples are zero-padded to
  ``n_fft`` (the Kaldi/torchaudio convention). librosa with ``center=False`` centres a short window inside
  its ``n_fft`` frame instead; it gives identical numbers when ``y`` is padded by
  ``(n_fft - win_length) // 2`` zeros on the left (and the rest on the right) — the parity tests do this.
* **Window**: periodic, as ``scipy.signal.get_window(window, win_length, fftbins=True)`` (librosa's
  choice); Hamming and Hann are computed in numpy, other names are delegated to scipy.
  ``win_length = round(sr · win_ms / 1000)``, ``hop = round(sr · hop_ms / 1000)``, ``n_fft`` defaults to the
  next power of two ≥ ``win_length`` (512 at 16 kHz).
* **Mel filterbank**: identical to ``librosa.filters.mel`` (Slaney or HTK Mel scale, Slaney area
  normalisation or none).
* **Log**: ``"db"`` = ``10·log10(max(S, floor))`` (``librosa.power_to_db(S, ref=1, amin=floor, top_db=...)``),
  ``"ln"`` = ``log(max(S, floor))``, ``"log10"`` = ``log10(max(S, floor))``. All-zero audio gives the floor.
* **Deltas**: the Savitzky–Golay filter of ``librosa.feature.delta(S, width, order, mode="interp")``:
  Δ is the order-1 fit over ``width`` frames (for width 9, the N = 4 regression ``Σ k·x[t+k] / Σ k²``),
  ΔΔ is the order-2 Savitzky–Golay second derivative (``delta(S, order=2)``, *not* Δ of Δ). At the edges the
  polynomial fitted to the first/last ``width`` frames is used, i.e. the nearest full-window value is
  repeated. This is not torchaudio's ``compute_deltas`` (N = 2 regression with replicate padding).
  Deltas are computed over the whole utterance, then cut into segments, so segments see true context.
* **Segments**: ``frames`` frames every ``frames - overlap`` frames; trailing frames that do not fill a
  segment are dropped. Output axis order is ``(N, channel, mel, frame)`` with channels
  ``(static, Δ, ΔΔ)``, float32, C-contiguous.
* **Short utterances**: shorter than one context window (``win_length + hop·(frames-1)`` samples) are
  padded by the ``pad`` policy: ``"repeat"`` (tile the utterance), ``"reflect"``, ``"zero"``, or ``"drop"``
  (no segments).
* **Resampling**: ``scipy.signal.resample_poly`` (polyphase FIR, Kaiser β = 5 window, scipy's default
  filter), ratio reduced by the gcd. It is exact-rate and deterministic across platforms.

FFT: ``scipy.fft.rfft`` (pocketfft, float32) with ``workers=1`` (no hidden thread pools, GIL released).
``torch.fft.rfft`` (MKL) is ~2.5x faster per frame, but importing torch takes 3-5 s on the development
machine (numba + scipy.fft: ~0.5-1 s), which would break the ≤ 2 s first-call target, and a
feature-extraction worker should not need torch.

Data flow (what makes it fast): frames are processed in blocks of 128 (frame buffer, spectrum and power
spectrum stay in the L2 cache; the buffer is reused); the power spectrum is stored bin-major so each
sparse Mel band is a sum of a few whole rows vectorised over frames, floored in the same pass; one
in-place ``log10``; Δ and ΔΔ are computed straight into each output segment (dB factor folded in), so
no full-utterance (3, n_mels, T) array exists. Resampling filters and configurations are built once.

Threads and caching: the Numba kernels are serial and release the GIL; parallelism across utterances
and files comes from threads (:func:`emofast.parallel.ordered_map`; ``workers``, default
``NUMBA_NUM_THREADS``, i.e. the core count unless that environment variable caps it), so nothing is
oversubscribed. Compiled kernels are cached next to :mod:`emofast.audio.kernels` (``__pycache__``);
set ``NUMBA_CACHE_DIR`` to cache elsewhere (e.g. read-only installs).

Modules
-------
:mod:`~emofast.audio.config`      :class:`LogMelConfig`, every setting with the papers' default
:mod:`~emofast.audio.filters`     window, Mel filterbank, Savitzky–Golay taps, the per-config plan
:mod:`~emofast.audio.kernels`     the Numba kernels (imported on first use: numba is not imported here)
:mod:`~emofast.audio.io`          :func:`load_audio`, readers, resampling
:mod:`~emofast.audio.transforms`  :func:`logmel`, :func:`deltas`, :func:`logmel_segments`
:mod:`~emofast.audio.batch`       :func:`logmel_segments_many`, :func:`iter_logmel_segments`
:mod:`~emofast.audio.extractor`   :class:`LogMelExtractor`, the feature store's audio extractor
"""
from __future__ import annotations

from emofast.audio.batch import SegmentsResult, iter_logmel_segments, logmel_segments_many
from emofast.audio.config import FEATURE_VERSION, LogMelConfig
from emofast.audio.filters import _plan, mel_filterbank  # noqa: F401  (_plan: benchmarks)
from emofast.audio.io import _resample, load_audio  # noqa: F401  (_resample: benchmarks)
from emofast.audio.transforms import _log_mel, deltas, logmel, logmel_segments  # noqa: F401

__all__ = [
    "LogMelConfig",
    "LogMelExtractor",
    "SegmentsResult",
    "load_audio",
    "logmel",
    "deltas",
    "logmel_segments",
    "logmel_segments_many",
    "iter_logmel_segments",
    "mel_filterbank",
    "FEATURE_VERSION",
]


def __getattr__(name: str):
    # the feature-store extractor imports emofast.store: loaded on first use only
    if name == "LogMelExtractor":
        from emofast.audio.extractor import LogMelExtractor

        return LogMelExtractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
