"""pytest-benchmark suite for emofast.audio (compare within a group; the table script prints ratios).

    python -m pytest benchmarks/test_bench_audio.py --benchmark-enable --benchmark-group-by=group

Uses EMO-DB (``../shared/corpora/emodb`` or ``$EMOFAST_EMODB``) when present, synthetic audio otherwise.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_table import EMODB, TorchFeatures, librosa_features  # noqa: E402

librosa = pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

import emofast  # noqa: E402
from emofast.audio import LogMelConfig, iter_logmel_segments, load_audio, logmel_segments  # noqa: E402

CFG = LogMelConfig()
CORES = int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    wavs = sorted((EMODB / "wav").glob("*.wav"))
    if wavs:
        return wavs[::4]
    import soundfile as sf

    d = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        n = int(22050 * rng.uniform(1.5, 4.5))
        out.append(d / f"s{i:02d}.wav")
        sf.write(out[-1], (0.1 * rng.standard_normal(n)).astype(np.float32), 22050, subtype="PCM_16")
    return out


@pytest.fixture(scope="module")
def utterances(files) -> list[np.ndarray]:
    return [load_audio(f)[0] for f in files[::2]]


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
    torch.set_num_threads(n)


@pytest.mark.benchmark(group="features-16k-1thread")
def test_features_emofast_1thread(benchmark, utterances, one_thread):
    benchmark(lambda: [logmel_segments(y, 16000) for y in utterances])


@pytest.mark.benchmark(group="features-16k-1thread")
def test_features_librosa_1thread(benchmark, utterances, one_thread):
    benchmark(lambda: [librosa_features(y, CFG) for y in utterances])


@pytest.mark.benchmark(group="features-16k-1thread")
def test_features_torch_1thread(benchmark, utterances, one_thread):
    tf = TorchFeatures(CFG)
    benchmark(lambda: [tf(y) for y in utterances])


@pytest.mark.benchmark(group="features-16k-allcores")
def test_features_emofast_allcores(benchmark, utterances):
    benchmark(lambda: emofast.logmel_segments_many(utterances, 16000, workers=CORES))


@pytest.mark.benchmark(group="features-16k-allcores")
def test_features_torch_allcores(benchmark, utterances):
    tf = TorchFeatures(CFG)
    n = torch.get_num_threads()
    torch.set_num_threads(CORES)
    benchmark(lambda: [tf(y) for y in utterances])
    torch.set_num_threads(n)


@pytest.mark.benchmark(group="features-16k-allcores")
def test_features_librosa_allcores(benchmark, utterances):
    with ThreadPoolExecutor(CORES) as ex:
        benchmark(lambda: list(ex.map(lambda y: librosa_features(y, CFG), utterances)))


@pytest.mark.benchmark(group="end-to-end")
def test_e2e_emofast(benchmark, files):
    benchmark.pedantic(lambda: [r.segments for r in iter_logmel_segments(files, workers=CORES, progress=False)],
                       rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="end-to-end")
def test_e2e_librosa(benchmark, files):
    def run():
        return [librosa_features(librosa.load(f, sr=16000)[0], CFG) for f in files]

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
