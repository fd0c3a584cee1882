"""The speaker-kfold and official split protocols, and their validation part in the fold loop."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from emofast import protocols as P
from emofast.dataset import from_arrays
from emofast.errors import InputError
from emofast.experiments.crossval import FoldOutput, cross_validate


def _subjects(n_subjects: int = 23, seed: int = 0) -> np.ndarray:
    """Subject of every item, 1 to 9 items per subject (like CK+'s frames per subject)."""
    sizes = np.random.default_rng(seed).integers(1, 10, n_subjects)
    return np.repeat([f"S{i:03d}" for i in range(n_subjects)], sizes)


@pytest.mark.parametrize("k, seed", [(2, 0), (5, 1), (10, 2)])
def test_speaker_kfold_never_splits_a_speaker_and_balances_folds(k: int, seed: int):
    spk = _subjects(seed=seed)
    folds = list(P.speaker_kfold(spk, k, seed=seed))
    assert len(folds) == k
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(spk.size))   # every item tested once
    for tr, te in folds:
        assert not set(spk[tr]) & set(spk[te])                     # no speaker on both sides
        assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(spk.size))
    sizes = [te.size for _, te in folds]
    assert max(sizes) - min(sizes) <= 9                            # at most one subject apart


def test_speaker_kfold_seeded_repeats_and_errors():
    spk = _subjects()
    a = list(P.speaker_kfold(spk, 4, seed=3))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, P.speaker_kfold(spk, 4, seed=3)))
    assert len(list(P.speaker_kfold(spk, 4, repeats=3))) == 12
    with pytest.raises(InputError, match="need at least 30 speakers, got 23"):
        list(P.speaker_kfold(spk, 30))
    with pytest.raises(InputError, match="k must be"):
        list(P.speaker_kfold(spk, 1))


def test_official_split_train_val_test():
    s = np.array(["train", "test", "val", "train", "test", "train"])
    split = P.official_split(s)
    tr, te = split                                                 # unpacks as a pair
    assert tr.tolist() == [0, 3, 5] and te.tolist() == [1, 4] and split.val.tolist() == [2]
    assert split.train is tr and split.test is te
    assert P.official_split(np.array(["train", "test"])).val.size == 0
    with pytest.raises(InputError, match="1 of 3 utterances have no official split"):
        P.official_split(np.array(["train", "", "test"]))
    with pytest.raises(InputError, match="needs train and test"):
        P.official_split(np.array(["train", "val"]))


def test_make_splits_new_protocols():
    labels = np.array([0, 1] * 6)
    spk = np.repeat(["a", "b", "c", "d"], 3)
    folds = P.make_splits("speaker-kfold", labels=labels, speakers=spk, k=2)
    assert len(folds) == 2 and all(isinstance(f, P.Split) and f.val.size == 0 for f in folds)
    splits = np.array(["train"] * 8 + ["val"] * 2 + ["test"] * 2)
    (only,) = P.make_splits("split", labels=labels, splits=splits)
    assert only.val.tolist() == [8, 9] and only.test.tolist() == [10, 11]
    with pytest.raises(InputError, match="has none"):
        P.make_splits("split", labels=labels)
    unknown = np.array(["unknown"] * 12)
    for protocol in ("loso", "speaker-kfold"):
        with pytest.raises(InputError, match="no speaker identity"):
            P.make_splits(protocol, labels=labels, speakers=unknown, k=2)
    assert {"split", "speaker-kfold"} <= set(P.PROTOCOLS)


def _data(splits: list[str] | None = None, size: int = 8):
    """12 utterances of 2 segments (rows 2u, 2u+1 of utterance u), 4 speakers, features that tell
    the classes apart."""
    rng = np.random.default_rng(0)
    labels = ["anger", "sadness"] * 6
    X = rng.standard_normal((24, 3, size, size)).astype(np.float32)
    groups = np.repeat(np.arange(12), 2)
    X += np.repeat(np.array([0.0, 3.0] * 6, np.float32), 2)[:, None, None, None]
    speakers = np.repeat(["a", "b", "c", "d"], 3).tolist()
    return from_arrays(X, groups, labels, speakers, splits=splits)


def test_split_protocol_hands_the_fold_its_validation_part():
    splits = ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    data = _data(splits)
    seen = {}

    def fit(fold):
        seen["fold"] = fold
        return FoldOutput(np.full((len(fold.X_test), fold.n_classes), 0.5))

    ev = cross_validate(data, "split", fit, name="const")
    fold = seen["fold"]
    assert fold.X_val.shape == (6, 3, 8, 8) and fold.y_val.shape == (6,)
    assert sorted(set(fold.groups_val.tolist())) == [6, 7, 8]
    assert sorted(set(fold.groups_test.tolist())) == [9, 10, 11]
    assert sorted(set(fold.groups_train.tolist())) == list(range(6))
    # standardised with the training side's statistics only
    raw = data.arrays(np.arange(12))
    mean = raw.mean(axis=(0, 2, 3), keepdims=True)
    std = raw.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    assert np.allclose(fold.X_val, (data.arrays(np.arange(12, 18)) - mean) / std, atol=1e-4)
    assert ev.protocol == "split" and ev.scores.n == 3 and ev.folds[0]["val_segments"] == 6
    # speaker-kfold: no fold has a validation part, every utterance is tested once
    ev2 = cross_validate(data, "speaker-kfold", fit, name="const", folds=2)
    assert seen["fold"].X_val is None and ev2.scores.n == 12


def test_cnn_selects_its_epoch_on_the_official_val_split():
    from emofast.experiments.baseline import BaselineConfig, evaluate_cnn

    data = _data(["train"] * 6 + ["val"] * 3 + ["test"] * 3, size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate_cnn(data, "split", BaselineConfig(epochs=2, batch_size=4), progress=False)
    assert ev.folds[0]["best_epoch"] in (1, 2)
    assert len(ev.curves[0]["val_uar"]) == 2
