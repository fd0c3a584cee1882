"""The Numba kernels of the log-Mel pipeline: serial, GIL-free, compiled on first call, cached on disk.

This module imports Numba, so it is imported on first use (:func:`emofast.audio.transforms._kernels`),
never by ``import emofast.audio``. Each kernel is a module-level ``@njit`` function; Numba compiles it
for the argument types of its first call and caches the machine code next to this file
(``__pycache__``, or ``NUMBA_CACHE_DIR``), so later processes load it instead of compiling.

All kernels run serially and release the GIL (``nogil=True``): parallelism comes from running
whole utterances on several threads (:func:`emofast.parallel.ordered_map`), never from inside a
kernel, so nothing is oversubscribed. ``error_model="numpy"`` keeps division by zero from raising.
The ``_fjit`` kernels allow reassociation and contraction (so LLVM vectorises the reductions) but
not ``nnan``/``ninf``, so NaN checks stay valid.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["count_nonfinite", "frame_window", "mel_bands", "sg_row", "delta_rows", "segments"]

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_fjit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})


@_jit
def count_nonfinite(y):
    n = 0
    for i in range(y.shape[0]):
        v = y[i]
        if v - v != 0.0:  # NaN or ±Inf
            n += 1
    return n


@_fjit
def frame_window(y, window, hop, out):
    # out: (T, n_fft) frames, windowed and zero-padded. Slices keep the indices non-negative so
    # LLVM vectorises without wraparound checks.
    n_frames, n_fft = out.shape
    win = window.shape[0]
    for t in range(n_frames):
        o = out[t]
        x = y[t * hop:t * hop + win]
        for i in range(win):
            o[i] = x[i] * window[i]
        for i in range(win, n_fft):
            o[i] = 0.0


@_fjit
def mel_bands(spec, bin_lo, bin_hi, mel_lo, mel_len, mel_off, mel_w, power, floor, out, t0):
    # spec: (n, 2*n_bins) float32 view of the complex rfft of frames t0..t0+n; out: (n_mels, T)
    # Mel energies, floored, written to columns t0..t0+n. The power spectrum is stored bin-major
    # (P[k, t]) so that every band is a sum of a few whole rows, vectorised over frames; each band
    # touches only its own bins (sparse).
    n = spec.shape[0]
    n_mels = mel_lo.shape[0]
    nb = bin_hi - bin_lo
    # Row stride: an odd number of 64-byte lines. With a power-of-two stride (e.g. 128-frame blocks)
    # the column writes below would all map to a few L1 sets and miss (2x slower).
    lines = (n + 15) // 16
    P = np.empty((nb, 16 * (lines + 1 - lines % 2)), np.float32)
    for t in range(n):
        row = spec[t, 2 * bin_lo:2 * bin_hi]
        for k in range(nb):
            re = row[2 * k]
            im = row[2 * k + 1]
            P[k, t] = re * re + im * im
    half = np.float32(power * 0.5)
    if half != 1.0:
        for k in range(nb):
            pk = P[k]
            for t in range(n):
                pk[t] = pk[t] ** half
    fl = np.float32(floor)
    for m in range(n_mels):
        a = mel_lo[m]
        o = mel_off[m]
        ln = mel_len[m]
        acc = out[m, t0:t0 + n]
        if ln == 0:
            for t in range(n):
                acc[t] = fl
            continue
        w0 = mel_w[o]
        p0 = P[a]
        for t in range(n):
            acc[t] = w0 * p0[t]
        i = 1
        while i + 1 < ln:  # two bins per pass over the row
            wa = mel_w[o + i]
            wb = mel_w[o + i + 1]
            pa = P[a + i]
            pb = P[a + i + 1]
            for t in range(n):
                acc[t] += wa * pa[t] + wb * pb[t]
            i += 2
        if i < ln:
            wa = mel_w[o + i]
            pa = P[a + i]
            for t in range(n):
                acc[t] += wa * pa[t]
        for t in range(n):
            acc[t] = max(acc[t], fl)


@_fjit
def sg_row(xr, c, out):
    # Savitzky–Golay (deriv == polyorder) of one row; edges repeat the nearest full-window value.
    n = xr.shape[0]
    w = c.shape[0]
    h = w // 2
    for t in range(h, n - h):
        acc = np.float32(0.0)
        for k in range(w):
            acc += c[k] * xr[t - h + k]
        out[t] = acc
    for t in range(h):
        out[t] = out[h]
        out[n - 1 - t] = out[n - 1 - h]


@_fjit
def delta_rows(x, c, out):
    for r in range(x.shape[0]):
        sg_row(x[r], c, out[r])


@_fjit
def segments(lm, c1, c2, scale, step, out):
    # lm: (n_mels, T) log-Mel (multiplied by ``scale`` on the way out); out: (N, 3, n_mels, frames).
    # Δ/ΔΔ are computed straight into each segment from the whole utterance's frames (segments see
    # true context), vectorised over frames; frames within width//2 of the utterance's ends repeat
    # the nearest full-window value.
    n_mels, n = lm.shape
    n_seg = out.shape[0]
    frames = out.shape[3]
    w = c1.shape[0]
    h = w // 2
    for s in range(n_seg):
        t0 = s * step
        f_lo = max(0, h - t0)  # valid Savitzky–Golay centres in this segment: [f_lo, f_hi)
        f_hi = min(frames, n - h - t0)
        nv = f_hi - f_lo
        for m in range(n_mels):
            row = lm[m]
            o0 = out[s, 0, m]
            src = row[t0:t0 + frames]
            for f in range(frames):
                o0[f] = src[f] * scale
            o1 = out[s, 1, m, f_lo:f_hi]
            o2 = out[s, 2, m, f_lo:f_hi]
            x = row[t0 + f_lo - h:t0 + f_hi - h]
            a = c1[0] * scale
            b = c2[0] * scale
            for f in range(nv):
                o1[f] = a * x[f]
                o2[f] = b * x[f]
            for k in range(1, w):
                a = c1[k] * scale
                b = c2[k] * scale
                x = row[t0 + f_lo - h + k:t0 + f_hi - h + k]
                for f in range(nv):
                    o1[f] += a * x[f]
                    o2[f] += b * x[f]
            for c in range(1, 3):
                oc = out[s, c, m]
                for f in range(f_lo):
                    oc[f] = oc[f_lo]
                for f in range(f_hi, frames):
                    oc[f] = oc[f_hi - 1]
