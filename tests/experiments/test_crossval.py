"""The one fold loop: every utterance tested once, training statistics only, seeded folds."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from emofast import dataset
from emofast.errors import InputError
from emofast.experiments.crossval import FoldOutput, cross_validate, select_folds


def _toy(n_utt=24, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    labels = np.array(["anger", "sadness"])[np.arange(n_utt) % 2]
    groups = np.repeat(np.arange(n_utt), rng.integers(1, 4, n_utt))
    X = rng.normal(size=(groups.size, 3, 16, 16)).astype(np.float32)
    X[labels[groups] == "sadness", 0] += shift  # class 1: brighter first channel
    speakers = [f"s{i % 4}" for i in range(n_utt)]
    return dataset.from_arrays(X, groups, labels, speakers, corpus="toy")


def test_every_utterance_is_tested_once_with_training_statistics_only():
    data = _toy()
    seen = []

    def fit_fold(fold):
        # standardised with the training side's statistics: mean 0 there, not on the test side
        np.testing.assert_allclose(fold.X_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
        n_train_utts = len(set(fold.groups_train.tolist()))
        assert n_train_utts + len(fold.X_test) >= data.n_utterances > n_train_utts
        seen.append(fold.index)
        # a perfect oracle from the (known) shift of channel 0
        p1 = (fold.X_test[:, 0].mean(axis=(1, 2)) > fold.X_test[:, 0].mean()).astype(float)
        return FoldOutput(np.stack([1 - p1, p1], axis=1), curve={"test_acc": [0.5, 1.0]})

    ev = cross_validate(data, "kfold", fit_fold, name="oracle", folds=3)
    assert ev.scores.n == data.n_utterances and len(ev.fold_war) == 3 == len(ev.folds)
    assert ev.scores.war > 0.9 and ev.level == "utterance" and not ev.leaky
    assert [f["fold"] for f in ev.folds] == [0, 1, 2] and ev.info["corpus"] == "toy"
    assert seen == [0, 1, 2]
    loso = cross_validate(data, "loso", fit_fold, name="oracle", fold_indices=[1, 3])
    assert [f["fold"] for f in loso.folds] == [1, 3] and loso.info["folds_run"] == [2, 4]


def test_the_cnn_baseline_learns_and_is_seeded():
    torch = pytest.importorskip("torch")
    from emofast.experiments.baseline import cnn_fold
    from emofast.nn import GroupNormCNN

    torch.set_num_threads(1)
    data = _toy()

    def make(n_classes):
        return GroupNormCNN(n_classes, input_size=16, channels=(4, 8), hidden=(8,), groups=2,
                            dropout=0.0)

    from emofast.experiments.baseline import BaselineConfig

    fit = cnn_fold(BaselineConfig(epochs=8, batch_size=8, lr=1e-2), make_model=make,
                   progress=False)
    ev = cross_validate(data, "kfold", fit, name="cnn", folds=3)
    np.testing.assert_allclose(ev.scores.confusion.sum(), data.n_utterances)
    assert ev.scores.war >= 0.9
    assert all(len(c["test_acc"]) == 8 and len(c["train_loss"]) == 8 for c in ev.curves)
    again = cross_validate(data, "kfold", fit, name="cnn", folds=3, fold_indices=[2])
    assert again.fold_war == [ev.fold_war[2]]


def test_bad_callbacks_and_fold_choices_are_named():
    data = _toy()
    with pytest.raises(InputError, match="posteriors of shape"):
        cross_validate(data, "kfold", lambda f: FoldOutput(np.zeros((1, 2))), name="x", folds=2)
    assert select_folds(5, max_folds=3) == [0, 1, 2]
    with pytest.raises(InputError, match="out of range"):
        select_folds(5, max_folds=3, fold_indices=[3])


def _oracle(calls):
    def fit_fold(fold):
        calls.append(fold.index)
        assert fold.identity["fold"] == fold.index
        assert fold.checkpoint_dir is None or os.path.isdir(fold.checkpoint_dir)
        p1 = (fold.X_test[:, 0].mean(axis=(1, 2)) > 0).astype(float)
        return FoldOutput(np.stack([1 - p1, p1], axis=1), curve={"x": [float(fold.index)]},
                          info={"np": np.float32(0.25), "arr": np.arange(2)})

    return fit_fold


def test_checkpointed_folds_are_skipped_and_other_runs_refused(tmp_path):
    from emofast.errors import StoreError

    data, ck = _toy(), tmp_path / "ck"
    calls = []
    first = cross_validate(data, "kfold", _oracle(calls), name="o", folds=3, fold_indices=[0, 2],
                           checkpoint_dir=ck)
    assert calls == [0, 2] and sorted(p.name for p in ck.iterdir()) == ["fold1.pt", "fold3.pt", "run.pt"]
    with pytest.warns(UserWarning, match="fold 1: finished in"):
        full = cross_validate(data, "kfold", _oracle(calls), name="o", folds=3, checkpoint_dir=ck)
    assert calls == [0, 2, 1]
    plain = cross_validate(data, "kfold", _oracle([]), name="o", folds=3)
    def as_json(value):  # what results.json holds (numpy values in info become lists/floats)
        return json.dumps(value, default=lambda o: o.tolist())

    assert full.fold_war == plain.fold_war
    assert as_json(full.folds) == as_json(plain.folds) == as_json(
        [*first.folds[:1], plain.folds[1], first.folds[1]])
    np.testing.assert_array_equal(full.scores.confusion, plain.scores.confusion)
    for kw, field in [({"seed": 1}, "seed"), ({"folds": 4}, "folds"),
                      ({"info": {"lr": 2}}, "settings.lr")]:
        with pytest.raises(StoreError, match=f"run.pt .*{field} is"):
            cross_validate(data, "kfold", _oracle([]), name="o", **{"folds": 3, **kw},
                           checkpoint_dir=ck)
    with pytest.raises(StoreError, match="data is"):
        cross_validate(_toy(seed=1), "kfold", _oracle([]), name="o", folds=3, checkpoint_dir=ck)
    (ck / "fold1.pt").write_bytes((ck / "fold3.pt").read_bytes())  # a fold file copied over another
    with pytest.raises(StoreError, match="fold1.pt .*fold is 2 there but 0"):
        cross_validate(data, "kfold", _oracle([]), name="o", folds=3, checkpoint_dir=ck)
    (ck / "fold1.pt").write_bytes(b"")
    with pytest.raises(StoreError, match="fold1.pt is damaged"):
        cross_validate(data, "kfold", _oracle([]), name="o", folds=3, checkpoint_dir=ck)
