"""Faces of still images: crops used as they are, Viola-Jones only on images that are not crops,
and the image modality of the feature store."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from emofast.corpora import Utterance  # noqa: E402
from emofast.errors import InputError, MediaError, MissingFileError  # noqa: E402
from emofast.store import FeatureStore  # noqa: E402
from emofast.video import NoFaceError  # noqa: E402
from emofast.video.extractor import ImageExtractor  # noqa: E402
from emofast.video.image import face_image  # noqa: E402


def _write(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def _photo(tmp_path: Path) -> tuple[Path, tuple[int, int, int, int]]:
    """A 320×240 photo with the astronaut's face at a known box (x, y, w, h)."""
    skdata = pytest.importorskip("skimage.data")
    head = skdata.astronaut()[16:256, 110:340]      # 240×230, face at (67, 50, 95, 95)
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[:, 40:270] = head
    return _write(tmp_path / "photo.png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)), (107, 50, 95, 95)


def test_gray_crop_is_resized_to_three_equal_channels(tmp_path: Path):
    gray = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    face = face_image(_write(tmp_path / "g.png", gray))
    assert face.shape == (64, 64, 3) and face.dtype == np.uint8
    assert np.array_equal(face[..., 0], face[..., 1]) and np.array_equal(face[..., 1], face[..., 2])
    expected = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(face[..., 0], expected)


def test_colour_non_square_and_same_size_crops(tmp_path: Path):
    bgr = np.zeros((40, 60, 3), np.uint8)
    bgr[:, :, 2] = 200                               # red in OpenCV's BGR order
    bgr[:, :10] = 0                                  # outside the centred 40×40 square
    face = face_image(_write(tmp_path / "c.png", bgr), size=20)
    assert face.shape == (20, 20, 3)
    assert (face[..., 0] == 200).all() and (face[..., 1:] == 0).all()   # RGB, centre square only
    same = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = face_image(_write(tmp_path / "same.png", same))
    assert np.array_equal(out, same[..., ::-1])       # a 64×64 crop is taken as it is


def test_detection_only_where_the_image_is_not_a_crop(tmp_path: Path):
    photo, (x, y, w, h) = _photo(tmp_path)
    found = face_image(photo)                        # 240 px > crop_max: Viola-Jones runs
    whole = face_image(photo, detect="never")
    assert found.shape == whole.shape == (64, 64, 3) and not np.array_equal(found, whole)
    rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    truth = cv2.resize(rgb[y:y + h, x:x + w], (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(found.astype(int) - truth).mean() < 40          # about the same face region
    assert np.array_equal(face_image(photo, crop_max=400), whole)  # below crop_max: a crop
    # a large image without a face: empty, the whole image, or an error
    blank = _write(tmp_path / "blank.png", np.full((200, 300, 3), 128, np.uint8))
    assert face_image(blank) is None
    assert face_image(blank, on_no_face="whole").shape == (64, 64, 3)
    with pytest.raises(NoFaceError, match="no face detected"):
        face_image(blank, on_no_face="error")
    small = _write(tmp_path / "small.png", np.full((48, 48), 128, np.uint8))
    assert face_image(small, detect="always") is None


def test_bad_inputs(tmp_path: Path):
    with pytest.raises(MissingFileError):
        face_image(tmp_path / "absent.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(MediaError, match="cannot decode image"):
        face_image(tmp_path / "bad.png")
    ok = _write(tmp_path / "ok.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="detect must be"):
        face_image(ok, detect="sometimes")
    with pytest.raises(InputError, match="on_no_face"):
        face_image(ok, on_no_face="skip")


def test_image_extractor_in_the_store(tmp_path: Path):
    rng = np.random.default_rng(2)
    utts = []
    for i, (label, split) in enumerate([("anger", "train"), ("sadness", "val"), ("anger", "test")]):
        path = _write(tmp_path / "img" / f"{i}.png", rng.integers(0, 256, (48, 48), dtype=np.uint8))
        utts.append(Utterance(str(i), "faces", "unknown", label, path, "image", split=split))
    (tmp_path / "img" / "3.png").write_bytes(b"broken")
    utts.append(Utterance("3", "faces", "unknown", "anger", tmp_path / "img" / "3.png", "image"))
    blank = _write(tmp_path / "img" / "4.png", np.full((200, 200), 128, np.uint8))
    utts.append(Utterance("4", "faces", "unknown", "anger", blank, "image"))
    store = FeatureStore(tmp_path / "store")
    fs = store.extract("faces", utts, "image", progress=False)
    assert fs.features.shape == (3, 64, 64, 3) and fs.features.dtype == np.uint8
    assert [r.split for r in fs.utterances] == ["train", "val", "test"]
    assert {f.id: f.status for f in fs.failed} == {"3": "failed", "4": "empty"}
    assert "cannot decode image" in fs.failed[0].reason and "no face" in fs.failed[1].reason
    assert np.array_equal(fs.features[0], ImageExtractor()(utts[0].path)[0])
    assert store.open("faces", "image").key == fs.key == store.open(None, ImageExtractor()).key
    # another detection setting is another feature set
    other = store.extract("faces", utts[:3], ImageExtractor({"detect": "never"}), progress=False)
    assert other.key != fs.key and other.path.parent == fs.path.parent
    # a record requested with another split is another corpus under the same name: refused
    moved = [Utterance("0", "faces", "unknown", "anger", utts[0].path, "image", split="test")]
    with pytest.raises(ValueError, match="split 'train'"):
        store.extract("faces", moved, "image", progress=False)
