"""Leakage-free protocols and segment aggregation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emofast import protocols as P


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**16), st.lists(st.integers(0, 5), min_size=6, max_size=80))
def test_stratified_kfold_partitions_and_stratifies(k, seed, labels):
    y = np.array(labels)
    if k > y.size:
        k = y.size
    splits = list(P.stratified_kfold(y, k, seed=seed))
    assert len(splits) == k
    tests = np.concatenate([te for _, te in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(y.size))  # each item tested once
    for tr, te in splits:
        assert np.intersect1d(tr, te).size == 0
        assert tr.size + te.size == y.size
    sizes = np.array([te.size for _, te in splits])
    assert sizes.max() - sizes.min() <= 1
    for c in np.unique(y):
        per_fold = np.array([np.sum(y[te] == c) for _, te in splits])
        assert per_fold.max() - per_fold.min() <= 1


def test_kfold_seeded_and_repeats():
    y = np.repeat(np.arange(3), 10)
    a = list(P.stratified_kfold(y, 5, seed=1))
    b = list(P.stratified_kfold(y, 5, seed=1))
    c = list(P.stratified_kfold(y, 5, seed=2))
    assert all(np.array_equal(x[1], z[1]) for x, z in zip(a, b))
    assert any(not np.array_equal(x[1], z[1]) for x, z in zip(a, c))
    assert len(list(P.stratified_kfold(y, 5, repeats=3, seed=0))) == 15
    with pytest.raises(ValueError, match="k=40"):
        list(P.stratified_kfold(y, 40))
    with pytest.raises(ValueError, match=">= 2"):
        list(P.stratified_kfold(y, 1))


def test_loso_one_split_per_speaker():
    spk = np.array(["b", "a", "b", "c", "a"])
    splits = list(P.leave_one_speaker_out(spk))
    assert [spk[te][0] for _, te in splits] == ["a", "b", "c"]
    for tr, te in splits:
        assert len(set(spk[te])) == 1 and spk[te][0] not in set(spk[tr])
    with pytest.raises(ValueError, match="at least 2 speakers"):
        list(P.leave_one_speaker_out(["a", "a"]))


def test_utterance_splits_never_straddle_segments():
    rng = np.random.default_rng(0)
    n_utt = 40
    groups = np.repeat(np.arange(n_utt), rng.integers(1, 6, n_utt))
    labels = rng.integers(0, 4, n_utt)
    for tr, te in P.stratified_kfold(labels, 4, seed=3):
        seg_tr, seg_te = P.segments_of(tr, groups), P.segments_of(te, groups)
        assert np.intersect1d(groups[seg_tr], groups[seg_te]).size == 0
        assert seg_tr.size + seg_te.size == groups.size


def test_segment_split_warns_leakage():
    groups = np.repeat(np.arange(10), 4)
    seg_labels = np.repeat(np.arange(10) % 2, 4)
    with pytest.warns(P.LeakageWarning):
        splits = list(P.segment_kfold(seg_labels, 4, seed=0))
    assert issubclass(P.LeakageWarning, UserWarning)
    # it does leak: some utterance has segments on both sides
    tr, te = splits[0]
    assert np.intersect1d(groups[tr], groups[te]).size > 0
    with pytest.warns(P.LeakageWarning):
        P.make_splits("segment", labels=np.zeros(10), segment_labels=seg_labels, k=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.make_splits("kfold", labels=seg_labels[::4], k=2)
    with pytest.raises(ValueError, match="unknown protocol"):
        P.make_splits("random", labels=seg_labels)


def test_aggregate_segments_means_posteriors():
    post = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9], [0.3, 0.7]])
    groups = np.array([5, 5, 2, 5])
    out, ids = P.aggregate_segments(post, groups)
    np.testing.assert_array_equal(ids, [2, 5])
    np.testing.assert_allclose(out, [[0.1, 0.9], [0.5, 0.5]])
    full, ids = P.aggregate_segments(post, groups, n_groups=6)
    assert full.shape == (6, 2) and np.isnan(full[0]).all()
    np.testing.assert_allclose(full[5], [0.5, 0.5])
    with pytest.raises(ValueError, match="shape"):
        P.aggregate_segments(post, groups[:2])


def test_degenerate_protocols_warn():
    """LOSO over a handful of utterances, or k-fold whose folds test classes their training side
    lacks, warns instead of silently reporting noisy numbers."""
    with pytest.warns(P.DegenerateProtocolWarning, match="fewer than 2 items"):
        P.make_splits("loso", labels=np.array([0, 1]), speakers=np.array(["a", "b"]))
    with pytest.warns(P.DegenerateProtocolWarning, match="lacks"):
        P.make_splits("kfold", labels=np.array([0, 0, 0, 1, 1, 2]), k=2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P.make_splits("kfold", labels=np.arange(20) % 2, k=5)


def test_group_norm_cnn_shapes():
    torch = pytest.importorskip("torch")
    from emofast.nn import GroupNormCNN

    m = GroupNormCNN(6, channels=(8, 16, 32, 32), hidden=(64, 32), groups=8)
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 6)
    with pytest.raises(ValueError, match="n_classes"):
        GroupNormCNN(1)
    with pytest.raises(ValueError, match="too small"):
        GroupNormCNN(3, input_size=8)


def test_aggregate_logmean_is_the_normalised_geometric_mean():
    from emofast.errors import InputError
    from emofast.protocols import aggregate_segments

    p = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    mean, ids = aggregate_segments(p, [0, 0, 1])
    geo, _ = aggregate_segments(p, [0, 0, 1], how="logmean")
    g = np.sqrt(p[0] * p[1])
    assert np.allclose(geo[0], g / g.sum()) and np.allclose(geo[1], p[2])
    assert np.allclose(mean[0], [0.65, 0.35])
    with pytest.raises(InputError):
        aggregate_segments(p, [0, 0, 1], how="median")
