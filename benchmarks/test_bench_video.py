"""pytest-benchmark suite for emofast.video: decode + detect + crop on one core.

Groups compare, in one run and on the same synthetic-motion clip (real photo, see video_table.py),
plain decoding, plain full-size OpenCV Haar detection, and extract_faces with detection on every
frame and on every 5th frame. Run::

    python -m pytest benchmarks/test_bench_video.py --benchmark-enable --benchmark-group-by=group
"""
from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("skimage")

sys.path.insert(0, os.path.dirname(__file__))
from video_table import make_clip, reference_detections  # noqa: E402

from emofast.video import extract_faces, iter_frames  # noqa: E402

N_FRAMES = 100
SIZES = [(640, 360), (1280, 720)]


@pytest.fixture(scope="module", autouse=True)
def one_core():
    old = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(old)


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def clip(request):
    return make_clip(*request.param, N_FRAMES)


def _group(benchmark, clip) -> None:
    benchmark.group = f"video {clip.stem.split('_')[1]} ({N_FRAMES} frames)"


def test_decode(benchmark, clip):
    _group(benchmark, clip)
    n = benchmark.pedantic(lambda: sum(1 for _ in iter_frames(clip, threads=1)), rounds=3, iterations=1)
    assert n == N_FRAMES


def test_full_size_haar_reference(benchmark, clip):
    """Plain OpenCV detectMultiScale3 at full size on every 10th frame (10 frames)."""
    _group(benchmark, clip)
    found = benchmark.pedantic(lambda: reference_detections(clip, 10), rounds=1, iterations=1)
    assert any(found.values())


@pytest.mark.parametrize("every", [1, 5])
def test_extract_faces(benchmark, clip, every):
    _group(benchmark, clip)
    track = benchmark.pedantic(lambda: extract_faces(clip, detect_every=every, threads=1), rounds=3, iterations=1)
    assert len(track) == N_FRAMES
    if every == 1:  # no face lost that full-size detection finds
        ref = reference_detections(clip, 10)
        det = dict(zip(track.frame_indices.tolist(), track.detected.tolist()))
        assert not [i for i, f in ref.items() if f and not det[i]]
