"""Tests of emofast.video on small videos written here with PyAV.

The face is a real photograph shipped with scikit-image (``skimage.data.astronaut()``), pasted over
a plain background; no timing assertions (speed lives in benchmarks/).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

import emofast  # noqa: E402
from emofast.video import (FaceTrack, NoFaceError, VideoError, extract_faces, iter_faces,  # noqa: E402
                           iter_frames)

W, H = 320, 240
FACE_BOX = (177 - 110, 66 - 16, 95, 95)  # the astronaut's face inside HEAD (x, y, w, h)
HEAD = skdata.astronaut()[16:256, 110:340]  # 240x230 head-and-shoulders crop


def _canvas(value: int = 90, w: int = W, h: int = H) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([value + 20 * np.sin(xx / 37.0), value + 15 * np.cos(yy / 29.0),
                   np.full((h, w), value, float)], -1)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, x: int, y: int, scale: float) -> tuple[int, int, int, int]:
    """Paste the head at (x, y) scaled by ``scale``; return the true face box (x, y, w, h)."""
    head = cv2.resize(HEAD, (int(HEAD.shape[1] * scale), int(HEAD.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    img[y:y + head.shape[0], x:x + head.shape[1]] = head
    fx, fy, fw, fh = FACE_BOX
    return (int(x + fx * scale), int(y + fy * scale), int(fw * scale), int(fh * scale))


def _write(path: Path, frames: list[np.ndarray], codec: str = "libx264", *, pix_fmt: str = "yuv420p",
           rotation: int | None = None, rate: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        st = out.add_stream(codec, rate=rate)
        st.height, st.width = frames[0].shape[:2]
        st.pix_fmt = pix_fmt
        if codec == "libx264":
            st.options = {"crf": "18", "preset": "veryfast"}
        else:
            st.bit_rate = 4_000_000
        if rotation:
            st.set_display_rotation(rotation)
        fmt = "gray" if frames[0].ndim == 2 else "rgb24"
        for f in frames:
            for packet in st.encode(av.VideoFrame.from_ndarray(f, format=fmt)):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return path


def _moving(n: int = 16) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    frames, boxes = [], []
    for i in range(n):
        img = _canvas()
        boxes.append(_paste(img, 10 + 8 * i, 20 + 2 * i, 0.6 + 0.01 * i))
        frames.append(img)
    return frames, boxes


@pytest.fixture(scope="module")
def moving(tmp_path_factory) -> tuple[Path, list[tuple[int, int, int, int]]]:
    frames, boxes = _moving()
    return _write(tmp_path_factory.mktemp("v") / "moving.mp4", frames), boxes


def _face_frame(scale: float = 0.6, x: int = 60, y: int = 20) -> np.ndarray:
    img = _canvas()
    _paste(img, x, y, scale)
    return img


# ------------------------------------------------------------------------------------------------
# decoding


def test_iter_frames_rgb_indices_and_colour(tmp_path):
    frames = []
    for i in range(10):
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., i % 3] = 200
        frames.append(img)
    path = _write(tmp_path / "c.mp4", frames)
    out = list(iter_frames(path))
    assert [i for i, _ in out] == list(range(10))
    for i, f in out:
        assert f.shape == (48, 64, 3) and f.dtype == np.uint8 and f.flags.c_contiguous
        assert int(np.argmax(f.reshape(-1, 3).mean(0))) == i % 3
    gray = list(iter_frames(path, format="gray"))
    assert gray[0][1].shape == (48, 64) and gray[0][1].dtype == np.uint8


def test_iter_frames_stride_and_fps(tmp_path):
    path = _write(tmp_path / "s.mp4", [_canvas(60 + 10 * i, 64, 48) for i in range(12)])
    assert [i for i, _ in iter_frames(path, stride=3)] == [0, 3, 6, 9]
    assert [i for i, _ in iter_frames(path, fps=12.5)] == [0, 2, 4, 6, 8, 10]
    assert [i for i, _ in iter_frames(path, fps=100.0)] == list(range(12))
    with pytest.raises(ValueError, match="either stride or fps"):
        list(iter_frames(path, stride=2, fps=5.0))
    with pytest.raises(ValueError, match="fps"):
        list(iter_frames(path, fps=-1.0))
    with pytest.raises(ValueError, match="stride"):
        list(iter_frames(path, stride=0))


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_iter_frames_honours_rotation(tmp_path, rotation):
    img = _canvas(60, 96, 64)
    img[:16, :32] = (250, 20, 20)  # red patch top-left marks orientation
    path = _write(tmp_path / "r.mp4", [img] * 2, rotation=rotation)
    _, f = next(iter_frames(path))
    expected = np.rot90(img, rotation // 90)
    assert f.shape == expected.shape
    assert np.abs(f.astype(int) - expected).mean() < 6
    _, raw = next(iter_frames(path, rotate=False))
    assert raw.shape == img.shape


def test_extract_faces_rotated_video_boxes_in_display_coords(tmp_path):
    path = _write(tmp_path / "rf.mp4", [np.ascontiguousarray(np.rot90(_face_frame(0.5), -1))] * 3, rotation=90)
    track = extract_faces(path)
    assert track.detected.all()
    x, y, w, h = track.boxes[0]
    assert 0 <= x and x + w <= W and 0 <= y and y + h <= H  # upright frame is W x H again


# ------------------------------------------------------------------------------------------------
# faces


def test_moving_face_is_tracked(moving):
    path, truth = moving
    track = extract_faces(path)
    assert isinstance(track, FaceTrack) and track.reason is None
    n = len(truth)
    assert len(track) == n
    assert track.crops.shape == (n, 64, 64, 3) and track.crops.dtype == np.uint8
    assert track.boxes.shape == (n, 4) and track.boxes.dtype == np.int32
    np.testing.assert_array_equal(track.frame_indices, np.arange(n))
    np.testing.assert_allclose(track.times, np.arange(n) / 25.0, atol=1e-6)
    assert track.detected.all() and np.isfinite(track.scores).all()
    for (x, y, w, h), (tx, ty, tw, th) in zip(track.boxes, truth):
        assert abs((x + w / 2) - (tx + tw / 2)) < 0.25 * tw
        assert abs((y + h / 2) - (ty + th / 2)) < 0.25 * th
        assert 0.6 < w / tw < 1.6
    # the crop shows the photo's face: compare with the face cut from the photo itself
    x, y, w, h = FACE_BOX
    ref = cv2.resize(HEAD[y:y + h, x:x + w], (64, 64), interpolation=cv2.INTER_AREA).astype(float)
    crop = track.crops[0].astype(float)
    assert np.corrcoef(ref.ravel(), crop.ravel())[0, 1] > 0.6


def test_no_face_lost_that_full_size_detection_finds(moving):
    path, _ = moving
    clf = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    reference = []
    for _, f in iter_frames(path):
        boxes, _, _ = clf.detectMultiScale3(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), scaleFactor=1.1,
                                            minNeighbors=3, outputRejectLevels=True)
        reference.append(len(boxes) > 0)
    track = extract_faces(path)  # downscaled, tracked detection
    assert sum(reference) > 0
    assert not (np.array(reference) & ~track.detected).any()


def test_detect_every_fills_in_between(moving):
    path, _ = moving
    track = extract_faces(path, detect_every=3)
    np.testing.assert_array_equal(track.detected, np.arange(len(track)) % 3 == 0)
    assert np.isnan(track.scores[~track.detected]).all()
    np.testing.assert_array_equal(track.boxes[1], track.boxes[0])
    np.testing.assert_array_equal(track.crops[2], extract_faces(path, detect_every=3).crops[2])


def test_gap_without_face_reuses_most_recent_face(tmp_path):
    frames = [_face_frame(0.55, 40 + 6 * i) for i in range(5)] + [_canvas()] * 4 + [_face_frame(0.55, 120)] * 3
    track = extract_faces(_write(tmp_path / "gap.mp4", frames))
    np.testing.assert_array_equal(track.detected, [True] * 5 + [False] * 4 + [True] * 3)
    for i in range(5, 9):
        np.testing.assert_array_equal(track.boxes[i], track.boxes[4])
    assert track.boxes[9][0] > track.boxes[4][0] + 30


def test_no_face_yet_takes_first_face_found_later(tmp_path):
    frames = [_canvas()] * 4 + [_face_frame(0.55, 100 + 4 * i) for i in range(4)]
    track = extract_faces(_write(tmp_path / "late.mp4", frames), stride=1)
    np.testing.assert_array_equal(track.detected, [False] * 4 + [True] * 4)
    for i in range(4):
        np.testing.assert_array_equal(track.boxes[i], track.boxes[4])
        assert track.crops[i].mean() > 40  # cropped from the (face-less) frame, not left as zeros


def test_video_without_any_face(tmp_path):
    path = _write(tmp_path / "none.mp4", [_canvas(80 + i) for i in range(5)])
    with pytest.raises(NoFaceError, match="no face detected in 5 frame"):
        extract_faces(path)
    track = extract_faces(path, size=32, on_no_face="empty")
    assert len(track) == 0 and track.crops.shape == (0, 32, 32, 3)
    assert "no face" in track.reason


def test_two_faces_highest_score_wins(tmp_path):
    img = _canvas()
    _paste(img, 5, 10, 0.8)     # large face
    _paste(img, 215, 60, 0.35)  # small face
    path = _write(tmp_path / "two.mp4", [img] * 3)
    gray = next(iter_frames(path, format="gray"))[1]
    clf = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    min_px = int(0.05 * H)
    boxes, _, scores = clf.detectMultiScale3(gray, scaleFactor=1.1, minNeighbors=3, minSize=(24, 24),
                                             maxSize=(H, H), outputRejectLevels=True)
    assert len(boxes) >= 2  # both faces are found by the plain detector
    best = np.asarray(boxes)[int(np.argmax(scores))]
    track = extract_faces(path, downscale=1.0, min_face=min_px / H, track=False)
    np.testing.assert_array_equal(track.boxes[0], best)
    assert track.scores[0] == pytest.approx(float(np.max(scores)), rel=1e-5)


def test_multiple_previous_rule(tmp_path):
    one = _face_frame(0.7, 10, 10)
    two = one.copy()
    _paste(two, 220, 80, 0.4)
    path = _write(tmp_path / "prev.mp4", [one] * 3 + [two] * 3)
    track = extract_faces(path, min_face=0.1, track=False, multiple="previous")
    assert track.detected[:3].all() and not track.detected[3:].any()
    np.testing.assert_array_equal(track.boxes[5], track.boxes[2])


def test_margin_and_size(moving):
    path, _ = moving
    tight = extract_faces(path, size=48)
    wide = extract_faces(path, size=48, margin=0.5)
    assert wide.crops.shape == (len(tight), 48, 48, 3)
    np.testing.assert_array_equal(wide.boxes, tight.boxes)
    assert not np.array_equal(wide.crops, tight.crops)


def test_crop_at_frame_edge_is_zero_padded(tmp_path):
    img = _canvas(150)
    face = _paste(img, 0, 0, 0.6)
    x, y, w, h = face
    assert x + w / 2 < 2 * w and y + h / 2 < 2 * h  # a square of 3x the face side leaves the frame
    track = extract_faces(_write(tmp_path / "edge.mp4", [img] * 2), margin=1.0)
    assert track.detected.all()
    assert (track.crops[0][:, :4] == 0).all() and (track.crops[0][:4, :] == 0).all()
    assert track.crops[0][32:, 32:].mean() > 40


def test_grayscale_video(tmp_path):
    frames = [cv2.cvtColor(_face_frame(0.6, 50 + 5 * i), cv2.COLOR_RGB2GRAY) for i in range(6)]
    path = _write(tmp_path / "gray.avi", frames, "ffv1", pix_fmt="gray")
    _, f = next(iter_frames(path))
    assert f.shape == (H, W, 3)
    track = extract_faces(path)
    assert track.detected.all()
    c = track.crops.astype(int)
    assert (c[..., 0] == c[..., 1]).all() and (c[..., 1] == c[..., 2]).all()


def test_one_frame_video(tmp_path):
    track = extract_faces(_write(tmp_path / "one.mp4", [_face_frame()]))
    assert len(track) == 1 and track.detected[0] and track.crops.shape == (1, 64, 64, 3)


@pytest.mark.parametrize("ext,codec", [("avi", "mpeg4"), ("avi", "mjpeg"), ("mp4", "libx264"), ("mov", "libx264"),
                                       ("mov", "mpeg4")])
def test_containers(tmp_path, ext, codec):
    frames, _ = _moving(6)
    pix = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    track = extract_faces(_write(tmp_path / f"m.{ext}", frames, codec, pix_fmt=pix))
    assert len(track) == 6 and track.detected.all()


# ------------------------------------------------------------------------------------------------
# bad input


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        extract_faces(tmp_path / "nope.mp4")


def test_corrupt_files(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(VideoError, match="cannot read video"):
        extract_faces(junk)
    frames, _ = _moving(6)
    good = _write(tmp_path / "good.mp4", frames).read_bytes()
    cut = tmp_path / "cut.mp4"  # mp4 truncated before its index (moov) atom
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(VideoError):
        list(iter_frames(cut))


def test_no_video_stream(tmp_path):
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w") as out:
        st = out.add_stream("aac", rate=16000)
        st.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in st.encode(frame):
            out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        extract_faces(path)


def test_zero_frames(tmp_path):
    path = tmp_path / "zero.avi"
    out = av.open(str(path), "w")
    st = out.add_stream("mpeg4", rate=25)
    st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
    out.start_encoding()
    out.close()
    with pytest.raises(VideoError, match="no decodable frame"):
        extract_faces(path)


@pytest.mark.parametrize("kwargs", [dict(size=0), dict(margin=-0.1), dict(detect_every=0), dict(downscale=0.5),
                                    dict(min_face=2.0), dict(multiple="first"), dict(on_no_face="skip"),
                                    dict(scale_factor=1.0), dict(threads=0)])
def test_bad_parameters(moving, kwargs):
    with pytest.raises(ValueError):
        extract_faces(moving[0], **kwargs)


def test_bad_parameter_types(moving):
    with pytest.raises(TypeError):
        extract_faces(moving[0], size=64.0)


# ------------------------------------------------------------------------------------------------
# many videos


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dir")
    frames, _ = _moving(5)
    _write(d / "a.mp4", frames)
    (d / "sub").mkdir()
    _write(d / "sub" / "b.avi", frames, "mpeg4")
    _write(d / "c.mov", frames[::-1])
    (d / "broken.mp4").write_bytes(b"not a video at all")
    (d / "notes.txt").write_text("ignored")
    return d


@pytest.mark.parametrize("workers", [0, 2])
def test_iter_faces_directory_skip(video_dir, workers):
    results = dict(iter_faces(video_dir, workers=workers, progress=False, on_error="skip", size=32))
    assert sorted(p.name for p in results) == ["a.mp4", "b.avi", "broken.mp4", "c.mov"]
    assert isinstance(results[video_dir / "broken.mp4"], VideoError)
    for name in ("a.mp4", "sub/b.avi", "c.mov"):
        track = results[video_dir / name]
        assert isinstance(track, FaceTrack) and track.crops.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(results[video_dir / "a.mp4"].crops,
                                  extract_faces(video_dir / "a.mp4", size=32).crops)


def test_iter_faces_raise(video_dir):
    with pytest.raises(VideoError):
        list(iter_faces([video_dir / "a.mp4", video_dir / "broken.mp4"], workers=0, progress=False))
    with pytest.raises(ValueError, match="on_error"):
        list(iter_faces(video_dir, on_error="ignore"))


# ------------------------------------------------------------------------------------------------
# packaging


def test_public_names_are_lazy():
    code = ("import sys, emofast; assert 'cv2' not in sys.modules and 'av' not in sys.modules; "
            "emofast.extract_faces; assert 'emofast.video' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert emofast.FaceTrack is FaceTrack and emofast.iter_faces is iter_faces


def test_video_with_audio_track(tmp_path):
    """Faces come from the video stream; the audio track of the same file goes to emofast.load_audio."""
    path = tmp_path / "av.mp4"
    frames, _ = _moving(8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        aus = out.add_stream("aac", rate=16000)
        aus.layout = "mono"
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(5120) / 16000)).astype(np.float32)
        for k in range(5):
            af = av.AudioFrame.from_ndarray(tone[None, k * 1024:(k + 1) * 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, k * 1024
            for packet in aus.encode(af):
                out.mux(packet)
        for f in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for st in (vs, aus):
            for packet in st.encode():
                out.mux(packet)
    track = extract_faces(path)
    assert len(track) == 8 and track.detected.all()
    load_audio = getattr(emofast, "load_audio", None)
    if load_audio is None:
        pytest.skip("emofast.load_audio not available")
    wave, sr = load_audio(path)
    assert sr == 16000 and wave.ndim == 1 and wave.size > 2000


def test_errors_use_the_error_root(tmp_path, moving):
    from emofast.errors import InputError, MediaError, MissingFileError

    assert issubclass(VideoError, MediaError) and issubclass(NoFaceError, MediaError)
    with pytest.raises(MissingFileError, match="nope.mp4"):
        extract_faces(tmp_path / "nope.mp4")
    with pytest.raises(InputError, match="directory"):
        extract_faces(tmp_path)
    with pytest.raises(InputError, match="margin"):
        extract_faces(moving[0], margin=-1.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="junk.mp4"):
        extract_faces(junk)


def test_iter_faces_from_an_unguarded_top_level_script(tmp_path):
    """A script calling iter_faces(workers=2) at top level (no __main__ guard) used to die with
    BrokenProcessPool: the worker processes re-import the script. It now runs on threads and warns."""
    frames, _ = _moving(5)
    videos = [_write(tmp_path / "a.mp4", frames), _write(tmp_path / "b.mp4", frames[::-1])]
    script = tmp_path / "faces_job.py"
    script.write_text(
        "from emofast.video import iter_faces\n"
        f"for path, track in iter_faces({[str(v) for v in videos]!r}, workers=2, progress=False, size=32):\n"
        "    print(path.name, track.crops.shape)\n")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["a.mp4 (5, 32, 32, 3)", "b.mp4 (5, 32, 32, 3)"]
    assert "BrokenProcessPool" not in proc.stderr and "running on threads" in proc.stderr
    assert proc.stderr.count("RuntimeWarning") == 1


def test_iter_faces_in_input_order_with_processes(video_dir):
    files = [video_dir / "c.mov", video_dir / "broken.mp4", video_dir / "a.mp4", video_dir / "sub" / "b.avi"]
    got = [p for p, _ in iter_faces(files, workers=2, progress=False, on_error="skip", size=16)]
    assert got == files
