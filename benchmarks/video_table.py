"""Decode + detect + crop throughput of :func:`emofast.extract_faces`, printed as a markdown table.

The clip is **synthetic motion over a real photo**: the astronaut portrait shipped with scikit-image
(``skimage.data.astronaut()``, Eileen Collins) moves and scales over a scrolling texture
(``skimage.data.rocket()``, an outdoor photo), encoded with PyAV (libx264, or mpeg4 where libx264 is missing) and cached
in the temp directory. Every number in one printed table comes from the same run, on one core
(OpenCV and the decoder limited to one thread).

Run::

    python benchmarks/video_table.py            # 640x360 and 1280x720, 250 frames each
    python benchmarks/video_table.py --frames 100 --sizes 640x360
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path(tempfile.gettempdir()) / "emofast-bench-video"
FPS = 25


def _codec() -> str:
    import av

    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # codec missing from this FFmpeg build
            continue
    raise RuntimeError("neither libx264 nor mpeg4 encoders are available in this PyAV build")


def make_clip(width: int = 640, height: int = 360, n_frames: int = 250, *, path: Path | None = None,
              seed: int = 0) -> Path:
    """Write (or reuse) the benchmark clip: a real face photo moving and scaling over a texture.

    Parameters
    ----------
    width, height : int
        Frame size in pixels (even numbers).
    n_frames : int
        Number of frames, at 25 frames/s.
    path : Path, optional
        Output file; default ``<tmp>/emofast-bench-video/face_<w>x<h>_<n>.mp4``.
    seed : int
        Seed of the texture offsets.

    Returns
    -------
    Path
        The clip's path.
    """
    import av
    import cv2
    import skimage.data

    if path is None:
        path = CACHE / f"face_{width}x{height}_{n_frames}_s{seed}_v2.mp4"
    if path.exists() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    unit = height / 360.0
    # head-and-shoulders crop of the portrait (face box in the photo is about x 177..272, y 66..161)
    head = skimage.data.astronaut()[16:256, 110:340]
    hh, hw = head.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:hw]
    alpha = np.clip(1.6 - np.hypot((xx - hw / 2) / (hw / 2), (yy - hh / 2) / (hh / 2)), 0, 1)
    scene = skimage.data.rocket()  # outdoor photo, 427x640, panned behind the face
    tex = cv2.resize(scene, (int(width * 1.5), int(width * 1.5 * scene.shape[0] / scene.shape[1])),
                     interpolation=cv2.INTER_CUBIC)
    phase = rng.uniform(0, 2 * np.pi, 2)
    tmp = path.with_suffix(".part.mp4")
    codec = _codec()
    with av.open(str(tmp), "w") as out:
        st = out.add_stream(codec, rate=FPS)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            st.options = {"preset": "veryfast", "crf": "23"}
        else:
            st.bit_rate = int(2_000_000 * unit * unit)
        for i in range(n_frames):
            t = i / FPS
            ox = int((0.5 + 0.5 * np.sin(0.3 * t + phase[0])) * (tex.shape[1] - width))
            oy = int((0.5 + 0.5 * np.sin(0.2 * t)) * (tex.shape[0] - height))
            bg = tex[oy:oy + height, ox:ox + width].astype(np.float32)
            s = unit * (0.9 + 0.2 * np.sin(0.7 * t + phase[1]))  # face ~67..105 px at 360p
            sw, sh = int(hw * s), int(hh * s)
            patch = cv2.resize(head, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
            a = cv2.resize(alpha, (sw, sh))[..., None].astype(np.float32)
            cx = width / 2 + 0.3 * width * np.sin(0.9 * t)
            cy = height / 2 + 0.12 * height * np.sin(1.3 * t + 1.0)
            x0 = int(np.clip(cx - sw / 2, 0, width - sw))
            y0 = int(np.clip(cy - sh / 2, 0, height - sh))
            roi = bg[y0:y0 + sh, x0:x0 + sw]
            bg[y0:y0 + sh, x0:x0 + sw] = roi * (1 - a) + patch * a
            frame = av.VideoFrame.from_ndarray(np.clip(bg, 0, 255).astype(np.uint8), format="rgb24")
            for packet in st.encode(frame):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path
