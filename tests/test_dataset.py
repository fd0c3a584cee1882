"""The one data adapter: class numbering, label selection, face layout, archives, standardisation."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from emofast import dataset
from emofast.errors import EmofastError, InputError, MissingFileError


def _records(labels):
    return [SimpleNamespace(id=f"u{i}", start=2 * i, stop=2 * i + 2, label=lab, speaker=f"s{i % 2}")
            for i, lab in enumerate(labels)]


def test_classes_are_numbered_over_the_labels_present():
    codes, classes = dataset.encode_labels(["neutral", "anger", "boredom", "anger"])
    assert classes == ["anger", "boredom", "neutral"] and codes.tolist() == [2, 0, 1, 0]
    codes, classes = dataset.encode_labels(["b"], classes=["b", "a"])
    assert codes.tolist() == [0] and classes == ["b", "a"]
    with pytest.raises(InputError, match="not among"):
        dataset.encode_labels(["c"], classes=["a", "b"])


def test_feature_set_selection_and_face_crops():
    """Label selection keeps utterance grouping and says what it dropped; channels-last uint8 face
    crops become CHW floats in [0, 1]."""
    faces = (np.arange(8 * 64 * 64 * 3, dtype=np.int64).reshape(8, 64, 64, 3) % 256).astype(np.uint8)
    fs = SimpleNamespace(features=faces, utterances=_records(["anger", "calm", "sadness", "anger"]),
                         corpus="toy")
    data = dataset.from_feature_set(fs, ["anger", "sadness"])
    assert data.ids == ["u0", "u2", "u3"] and data.labels.tolist() == [0, 1, 0]
    assert data.groups.tolist() == [0, 0, 1, 1, 2, 2]
    assert data.segment_labels.tolist() == [0, 0, 1, 1, 0, 0]
    assert data.dropped == {"calm": 1} and "left out by --labels: 1 (calm 1)" in data.summary()
    x = data.X[np.array([2])]
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], np.moveaxis(faces[4], -1, 0) / 255.0)
    every = dataset.from_feature_set(fs)
    assert every.classes == ["anger", "calm", "sadness"] and every.dropped == {}
    with pytest.raises(InputError, match="only one emotion"):
        dataset.from_feature_set(fs, ["sadness", "fear"])
    with pytest.raises(InputError, match="no utterances with labels"):
        dataset.from_feature_set(fs, ["fear"])


def test_from_arrays_regroups_unsorted_segments_and_checks_shapes():
    X = np.random.default_rng(0).normal(size=(5, 3, 4, 4)).astype(np.float32)
    data = dataset.from_arrays(X, [2, 0, 2, 1, 0], ["a", "b", "a"], ["s", "t", "s"])
    assert data.groups.tolist() == [0, 0, 1, 2, 2]
    np.testing.assert_array_equal(data.arrays(), X[[1, 4, 3, 0, 2]])
    assert data.labels.tolist() == [0, 1, 0]
    with pytest.raises(InputError, match="utterance indices"):
        dataset.from_arrays(X, [0, 0, 3, 1, 0], ["a", "b", "a"], ["s", "t", "s"])
    with pytest.raises(InputError, match="speakers"):
        dataset.from_arrays(X, [0, 0, 2, 1, 0], ["a", "b", "a"], ["s"])
    with pytest.raises(InputError, match="3 × N × N"):
        dataset.from_arrays(np.zeros((2, 2, 4, 4)), [0, 1], ["a", "b"], ["s", "t"])


def test_archive_round_trip_and_errors(tmp_path):
    X = np.zeros((4, 3, 8, 8), np.float32)
    np.savez(tmp_path / "a.npz", X=X, groups=[0, 0, 1, 1], labels=["fear", "joy"],
             speakers=["s1", "s2"])
    data = dataset.load(tmp_path / "a.npz")
    assert data.corpus == "a" and data.classes == ["fear", "joy"] and len(data.X) == 4
    np.savez(tmp_path / "b.npz", X=X, groups=[0, 0, 1, 1])
    with pytest.raises(InputError, match="lacks"):
        dataset.from_archive(tmp_path / "b.npz")
    with pytest.raises(MissingFileError, match="no such feature archive"):
        dataset.from_archive(tmp_path / "none.npz")
    with pytest.raises(InputError, match="--store"):
        dataset.load("emodb")
    with pytest.raises(EmofastError, match="does not exist"):
        dataset.load("emodb", store=tmp_path / "nostore")


@pytest.mark.parametrize("per", ["channel", "feature"])
def test_standardizer_uses_the_rows_it_is_given(per):
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(50, 3, 4, 4)).astype(np.float32)
    std = dataset.Standardizer.fit(X, per=per, rows=np.arange(40), chunk=7)
    Z = std(X[:40])
    axes = (0, 2, 3) if per == "channel" else (0,)
    np.testing.assert_allclose(Z.mean(axis=axes), 0.0, atol=1e-4)
    np.testing.assert_allclose(Z.std(axis=axes), 1.0, atol=1e-3)
    assert std.mean.shape == ((1, 3, 1, 1) if per == "channel" else (1, 3, 4, 4))
    with pytest.raises(InputError, match="per must be"):
        dataset.Standardizer.fit(X, per="utterance")
