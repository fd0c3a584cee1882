"""Video faces: PyAV decoding, OpenCV Viola-Jones detection and 64x64x3 face crops.

The visual stream of the papers (pathnet-meta-transfer-learning §3.1, pathnet-transfer-learning
§3.1): every frame goes through a Viola-Jones face detector; the face with the highest detection
score is kept; a frame without a face reuses the most recently detected face; the face region is
cropped and resized to 64x64x3.

Rules implemented by :func:`extract_faces`

- several faces in a frame: the highest detection score (``detectMultiScale3`` level weight) wins
  (``multiple="score"``, paper 001), or the previous face is kept (``multiple="previous"``, paper 002);
- no face in a frame: the most recently detected face is reused (``detected[i]`` is False);
- no face *yet*: frames before the first detection take the first face found later;
- no face in the whole video: :class:`NoFaceError` (``on_no_face="error"``) or an empty
  :class:`FaceTrack` whose ``reason`` says why (``on_no_face="empty"``).

Speed: detection runs on a downscaled luma plane (read straight from the decoded YUV frame), first
in a search region around the last face with a face-size window derived from it, and on the whole
frame only when the face is lost; ``detect_every=n`` detects on every n-th frame and reuses the last
face in between. :func:`iter_faces` runs videos in parallel processes with OpenCV threads capped per
worker. ``cv2`` and ``av`` are imported inside the functions, so ``import emofast.video`` stays light.

Modules
-------
:mod:`~emofast.video.decode`   :func:`iter_frames`, PyAV decoding, frame selection, rotation, :class:`VideoError`
:mod:`~emofast.video.detect`   the Haar-cascade detector with its tracking state, square crops
:mod:`~emofast.video.extract`  :func:`extract_faces`, :class:`FaceTrack`, :class:`NoFaceError`
:mod:`~emofast.video.batch`    :func:`iter_faces` (many videos, in parallel, in input order)
:mod:`~emofast.video.extractor`  :class:`FaceExtractor`, the feature store's video extractor
"""
from __future__ import annotations

from emofast.video.batch import VIDEO_EXTENSIONS, iter_faces
from emofast.video.decode import VideoError, iter_frames
from emofast.video.extract import FaceTrack, NoFaceError, extract_faces

__all__ = ["iter_frames", "extract_faces", "FaceTrack", "iter_faces", "VideoError", "NoFaceError",
           "VIDEO_EXTENSIONS", "FaceExtractor"]


def __getattr__(name: str):
    # the feature-store extractor imports emofast.store: loaded on first use only
    if name == "FaceExtractor":
        from emofast.video.extractor import FaceExtractor

        return FaceExtractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
