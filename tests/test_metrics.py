"""Metrics cross-checked against scikit-learn."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emofast import metrics

sk = pytest.importorskip("sklearn.metrics")


@st.composite
def label_pairs(draw):
    c = draw(st.integers(2, 7))
    n = draw(st.integers(1, 60))
    t = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return np.array(t), np.array(p), c


@settings(max_examples=200, deadline=None)
@given(label_pairs())
def test_label_metrics_match_sklearn(data):
    t, p, c = data
    union = np.union1d(t, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on classes absent from y_true
        assert metrics.war(t, p) == pytest.approx(sk.accuracy_score(t, p))
        assert metrics.uar(t, p) == pytest.approx(sk.balanced_accuracy_score(t, p))
        assert metrics.uap(t, p) == pytest.approx(
            sk.precision_score(t, p, labels=union, average="macro", zero_division=0))
        micro, macro = metrics.f1_scores(t, p)
        assert micro == pytest.approx(sk.f1_score(t, p, average="micro"))
        assert macro == pytest.approx(
            sk.f1_score(t, p, labels=union, average="macro", zero_division=0))
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p, c),
                                  sk.confusion_matrix(t, p, labels=np.arange(c)))
    rec = metrics.per_class_recall(t, p, c)
    present = np.bincount(t, minlength=c) > 0
    assert np.isnan(rec[~present]).all()
    np.testing.assert_allclose(
        rec[present], sk.recall_score(t, p, labels=np.flatnonzero(present), average=None))


@st.composite
def scored(draw):
    c = draw(st.integers(2, 6))
    n = draw(st.integers(2, 50))
    t = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    # coarse scores produce ties, which the threshold handling must get right
    s = np.array(draw(st.lists(st.integers(0, 8), min_size=n * c, max_size=n * c)),
                 dtype=float).reshape(n, c) / 8.0
    return t, s, c


@settings(max_examples=150, deadline=None)
@given(scored())
def test_roc_matches_sklearn(data):
    t, s, c = data
    res = metrics.roc_ovr(t, s)
    onehot = np.eye(c, dtype=int)[t]
    for k in range(c):
        pos = onehot[:, k].sum()
        if 0 < pos < t.size:
            f, r, thr = sk.roc_curve(onehot[:, k], s[:, k], drop_intermediate=False)
            np.testing.assert_allclose(res.fpr[k], f)
            np.testing.assert_allclose(res.tpr[k], r)
            assert res.auc[k] == pytest.approx(sk.roc_auc_score(onehot[:, k], s[:, k]))
        else:
            assert np.isnan(res.auc[k])
    assert res.micro_auc == pytest.approx(sk.roc_auc_score(onehot.ravel(), s.ravel()))
    if np.unique(t).size == c:
        assert res.macro_auc == pytest.approx(
            sk.roc_auc_score(onehot, s, average="macro"))


def test_roc_curve_thresholds():
    f, r, thr = metrics.roc_curve([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.4])
    np.testing.assert_allclose(f, [0, 0, 0.5, 1])
    np.testing.assert_allclose(r, [0, 0.5, 1, 1])
    assert np.isinf(thr[0])
    assert metrics.auc(f, r) == pytest.approx(0.875)


def test_absent_classes_documented_rules():
    t = np.array([0, 0, 1, 1])
    p = np.array([0, 0, 0, 2])  # class 1 never predicted, class 2 never true, class 3 nowhere
    rec = metrics.per_class_recall(t, p, 4)
    np.testing.assert_allclose(rec[:2], [1.0, 0.0])
    assert np.isnan(rec[2]) and np.isnan(rec[3])
    prec = metrics.per_class_precision(t, p, 4)
    np.testing.assert_allclose(prec[:3], [2 / 3, 0.0, 0.0])
    assert np.isnan(prec[3])
    assert metrics.uar(t, p) == pytest.approx(0.5)
    assert metrics.uap(t, p) == pytest.approx((2 / 3) / 3)


def test_score_bundle_and_input_checks():
    rng = np.random.default_rng(0)
    s = rng.random((30, 4))
    t = rng.integers(0, 4, 30)
    out = metrics.score(t, scores=s)
    assert out.n == 30 and out.confusion.shape == (4, 4)
    assert out.war == pytest.approx(np.mean(s.argmax(1) == t))
    assert out.roc is not None and 0 <= out.roc.micro_auc <= 1
    with pytest.raises(ValueError, match="differ in length"):
        metrics.war([0, 1], [0])
    with pytest.raises(TypeError, match="integer"):
        metrics.war([0.5], [0.0])
    with pytest.raises(ValueError, match="out of range"):
        metrics.confusion_matrix([0, 5], [0, 1], 3)
    with pytest.raises(ValueError, match="empty"):
        metrics.uar([], [])
