"""Print a markdown table comparing emofast.audio with librosa and a torch.stft pipeline.

Everything is measured in one run of this script, and speeds are reported as ratios against the
references measured in the same run (plus × real time, i.e. seconds of audio per second of compute).

    python benchmarks/audio_table.py [--repeats 3] [--subset 3] [--corpus PATH]

Data: EMO-DB (``../shared/corpora/emodb`` or ``$EMOFAST_EMODB``) when present, else synthetic WAVs.
Rows:
* features at 16 kHz (log-Mel + Δ + ΔΔ + 64×64 segments) on audio already in memory, 1 thread and all
  cores (emofast: one utterance per worker thread; torch: intra-op threads; librosa: a thread pool).
  The 1-thread rows give the per-core real-time factor; their repeats run round-robin (so a busy
  moment of a shared machine hits all three alike), and a last column also gives it in the thread's
  CPU time (time the scheduler gave to other processes excluded);
* end-to-end directory extraction (read + resample to 16 kHz + features): emofast
  ``iter_logmel_segments`` vs ``librosa.load`` (soxr_hq) + librosa features, sequential and thread pool;
* first call of ``emofast.logmel_segments`` in a fresh process (import included), cold and warm Numba cache.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EMODB = Path(os.environ.get("EMOFAST_EMODB", REPO.parent / "shared" / "corpora" / "emodb"))


# ----------------------------------------------------------------------------------------- pipelines
def librosa_features(y: np.ndarray, cfg) -> np.ndarray:
    """librosa at identical settings (center=False, window left-aligned via padding)."""
    import librosa

    win, hop, n_fft = cfg.win_length, cfg.hop_length, cfg.fft_size
    lp = (n_fft - win) // 2
    yp = np.pad(y, (lp, n_fft - win - lp))
    M = librosa.feature.melspectrogram(y=yp, sr=cfg.sr, n_fft=n_fft, hop_length=hop, win_length=win,
                                       window=cfg.window, center=False, power=2.0, n_mels=cfg.n_mels,
                                       fmin=cfg.fmin, fmax=cfg.fmax)
    L = librosa.power_to_db(M, ref=1.0, amin=cfg.floor, top_db=None)
    full = np.stack([L, librosa.feature.delta(L, width=cfg.delta_width, order=1),
                     librosa.feature.delta(L, width=cfg.delta_width, order=2)])
    step = cfg.frames - cfg.overlap
    n = 1 + (L.shape[1] - cfg.frames) // step
    idx = np.arange(n)[:, None] * step + np.arange(cfg.frames)
    return np.ascontiguousarray(full[:, :, idx].transpose(2, 0, 1, 3))


class TorchFeatures:
    """torch.stft → power → Mel matmul → dB → Savitzky–Golay conv1d (Δ, ΔΔ) → unfold segments."""

    def __init__(self, cfg):
        import torch

        from emofast.audio import _plan, mel_filterbank

        self.torch, self.cfg = torch, cfg
        p = _plan(cfg)
        w = np.zeros(p.n_fft, np.float32)
        w[:p.win] = p.window  # window at the start of the frame: same frames as emofast
        self.window = torch.from_numpy(w)
        self.mel = torch.from_numpy(mel_filterbank(cfg.sr, p.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax))
        self.taps = torch.from_numpy(np.stack([p.c1, p.c2])[:, None, :])
        self.p = p

    def __call__(self, y: np.ndarray) -> np.ndarray:
        torch, cfg, p = self.torch, self.cfg, self.p
        yt = torch.nn.functional.pad(torch.from_numpy(y), (0, p.n_fft - p.win))
        S = torch.stft(yt, p.n_fft, p.hop, window=self.window, center=False, return_complex=True)
        P = S.real.square() + S.imag.square()
        L = 10.0 * torch.log10(torch.clamp(self.mel @ P, min=cfg.floor))  # (n_mels, T)
        h = cfg.delta_width // 2
        D = torch.nn.functional.conv1d(L[:, None, :], self.taps)  # (n_mels, 2, T - 2h)
        D = torch.nn.functional.pad(D, (h, h), mode="replicate")
        full = torch.cat([L[None], D.permute(1, 0, 2)], 0)  # (3, n_mels, T)
        seg = full.unfold(2, cfg.frames, cfg.frames - cfg.overlap)  # (3, n_mels, N, frames)
        return seg.permute(2, 0, 1, 3).contiguous().numpy()


# ----------------------------------------------------------------------------------------- timing
def best_of(fn, repeats: int) -> float:
    fn()  # warm-up (compilation, plans, caches)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def best_of_interleaved(fns: list, repeats: int) -> list[tuple[float, float]]:
    """``(best wall seconds, best CPU seconds of this thread)`` of each function, run round-robin.

    Interleaving gives every pipeline the same share of a noisy machine's quiet and busy moments;
    the thread's CPU time excludes time the scheduler gave to other processes (single-thread runs
    only: all work must happen on the calling thread).
    """
    for fn in fns:
        fn()  # warm-up (compilation, plans, caches)
    wall = [float("inf")] * len(fns)
    cpu = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t, c = time.perf_counter(), time.thread_time()
            fn()
            c, t = time.thread_time() - c, time.perf_counter() - t
            wall[i], cpu[i] = min(wall[i], t), min(cpu[i], c)
    return list(zip(wall, cpu))


def first_call_seconds(cache_dir: str | None) -> float:
    code = ("import time; t=time.perf_counter(); import numpy as np, emofast; "
            "emofast.logmel_segments(np.random.default_rng(0).standard_normal(32000).astype(np.float32), 16000); "
            "print(time.perf_counter()-t)")
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def corpus_files(args) -> tuple[list[Path], str]:
    wavs = sorted((Path(args.corpus) / "wav").glob("*.wav")) if args.corpus else []
    if wavs:
        return wavs, f"EMO-DB ({len(wavs)} files, 22.05 kHz)"
    import soundfile as sf

    tmp = Path(tempfile.mkdtemp(prefix="emofast-bench-"))
    rng = np.random.default_rng(0)
    files = []
    for i in range(120):
        n = int(22050 * rng.uniform(1.5, 4.5))
        t = np.arange(n) / 22050
        y = 0.05 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * (120 + 60 * t) * t)
        files.append(tmp / f"syn{i:03d}.wav")
        sf.write(files[-1], y.astype(np.float32), 22050, subtype="PCM_16")
    return files, "synthetic (120 files, 22.05 kHz; EMO-DB absent)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--subset", type=int, default=3, help="feature rows use every n-th file")
    ap.add_argument("--corpus", default=str(EMODB) if (EMODB / "wav").is_dir() else "")
    args = ap.parse_args()

    import librosa
    import torch
    from threadpoolctl import threadpool_limits

    import emofast
    from emofast.audio import LogMelConfig, iter_logmel_segments, load_audio, logmel_segments

    from numba import config as ncfg  # a hard dependency of emofast

    cores = int(ncfg.NUMBA_NUM_THREADS)
    cfg = LogMelConfig()
    files, data_name = corpus_files(args)
    ys = [load_audio(f)[0] for f in files[::args.subset]]
    seconds = sum(y.size for y in ys) / cfg.sr
    tf = TorchFeatures(cfg)
    # sanity: all three pipelines compute the same features
    a, b, c = logmel_segments(ys[0], 16000), librosa_features(ys[0], cfg), tf(ys[0])
    agree = max(np.abs(a - b).max(), np.abs(a - c).max())

    rows = []

    def row(name, t, ref_t, audio_s, cpu=None):
        rows.append((name, t, audio_s / t, ref_t / t, "" if cpu is None else f"{audio_s / cpu:.0f}×"))

    # ---- features, 1 thread
    torch_threads = torch.get_num_threads()
    with threadpool_limits(1):
        torch.set_num_threads(1)
        (t_lib1, c_lib1), (t_tor1, c_tor1), (t_emo1, c_emo1) = best_of_interleaved(
            [lambda: [librosa_features(y, cfg) for y in ys], lambda: [tf(y) for y in ys],
             lambda: [logmel_segments(y, 16000) for y in ys]], args.repeats)
    row("librosa, 1 thread", t_lib1, t_lib1, seconds, c_lib1)
    row("torch.stft pipeline, 1 thread", t_tor1, t_lib1, seconds, c_tor1)
    row("**emofast**, 1 thread", t_emo1, t_lib1, seconds, c_emo1)
    # ---- features, all cores
    torch.set_num_threads(cores)
    with ThreadPoolExecutor(cores) as ex:
        t_libN = best_of(lambda: list(ex.map(lambda y: librosa_features(y, cfg), ys)), args.repeats)
    t_torN = best_of(lambda: [tf(y) for y in ys], args.repeats)
    t_emoN = best_of(lambda: emofast.logmel_segments_many(ys, 16000, workers=cores), args.repeats)
    torch.set_num_threads(torch_threads)
    row(f"librosa, thread pool ({cores})", t_libN, t_lib1, seconds)
    row(f"torch.stft pipeline, {cores} threads", t_torN, t_lib1, seconds)
    row(f"**emofast**, {cores} workers", t_emoN, t_lib1, seconds)

    # ---- end to end
    def librosa_e2e(f):
        y, _ = librosa.load(f, sr=16000)
        return librosa_features(y, cfg)

    t_e2e_lib = best_of(lambda: [librosa_e2e(f) for f in files], max(1, args.repeats - 1))
    with ThreadPoolExecutor(cores) as ex:
        t_e2e_libN = best_of(lambda: list(ex.map(librosa_e2e, files)), max(1, args.repeats - 1))
    t_e2e_emo = best_of(lambda: [r.segments for r in iter_logmel_segments(files, workers=cores, progress=False)],
                        max(1, args.repeats - 1))
    e2e_seconds = sum(librosa.get_duration(path=f) for f in files)
    e2e = [("librosa.load + librosa features, sequential", t_e2e_lib),
           (f"librosa.load + librosa features, thread pool ({cores})", t_e2e_libN),
           (f"**emofast** iter_logmel_segments, {cores} workers", t_e2e_emo)]

    # ---- first call in a fresh process
    with tempfile.TemporaryDirectory() as cache:
        cold = first_call_seconds(cache)
        warm = first_call_seconds(cache)
    warm_default = first_call_seconds(None)

    print(f"Data: {data_name}; features on every {args.subset}th file ({len(ys)} utterances, "
          f"{seconds:.0f} s of audio at 16 kHz); {cores} cores; best of {args.repeats}. "
          f"Max abs difference between the three pipelines: {agree:.2e} dB.\n")
    print("| log-Mel + Δ + ΔΔ + segments, 16 kHz | time (s) | × real time | vs librosa 1 thread "
          "| × real time, CPU time |")
    print("|---|---:|---:|---:|---:|")
    for name, t, rt, ratio, cpu_rt in rows:
        print(f"| {name} | {t:.3f} | {rt:.0f}× | {ratio:.2f}× | {cpu_rt} |")
    print(f"\n| End-to-end extraction, {len(files)} files ({e2e_seconds:.0f} s audio) | time (s) | "
          f"× real time | vs librosa sequential |")
    print("|---|---:|---:|---:|")
    for name, t in e2e:
        print(f"| {name} | {t:.3f} | {e2e_seconds / t:.0f}× | {t_e2e_lib / t:.2f}× |")
    print("\n| First `emofast.logmel_segments` call in a fresh process (incl. import) | seconds |")
    print("|---|---:|")
    print(f"| cold Numba cache (empty NUMBA_CACHE_DIR) | {cold:.2f} |")
    print(f"| warm Numba cache (same NUMBA_CACHE_DIR) | {warm:.2f} |")
    print(f"| warm default cache (`__pycache__`) | {warm_default:.2f} |")


if __name__ == "__main__":
    main()
