"""Decision-level fusion (emofast.fusion): eq. 3 and eq. 5 of the multimodal fusion paper."""
from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emofast import fusion
from emofast.errors import InputError
from emofast.fusion import (FUSION_METHODS, FusionResult, confidence_ensemble, fuse,
                            micro_f1_prior, top2_margin)

NAN = np.nan


def test_doctests():
    failed, _ = doctest.testmod(fusion, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failed == 0


# ------------------------------------------------------------------------------------ top2_margin

def test_top2_margin_by_hand():
    p = np.array([[0.7, 0.2, 0.1],
                  [0.1, 0.45, 0.45],
                  [NAN, NAN, NAN],
                  [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(top2_margin(p), [0.5, 0.0, NAN, 1.0])


@pytest.mark.parametrize("bad, msg", [
    (np.array([[0.5, NAN, 0.5]]), "some columns"),
    (np.array([[0.5, np.inf, 0.5]]), "some columns"),
    (np.array([[1.5, -0.5]]), "outside"),
    (np.array([0.5, 0.5]), "shape"),
    (np.array([[1.0]]), "at least two"),
    (np.zeros((0, 3)), "no samples"),
    (np.array([["a", "b"]]), "numbers"),
])
def test_top2_margin_refuses(bad, msg):
    with pytest.raises(InputError, match=msg):
        top2_margin(bad)


# ----------------------------------------------------------------------------------------- eq. 3

# audio, video posteriors over 3 classes; the expected answers are worked out by hand
AUDIO = np.array([[0.6, 0.3, 0.1],     # margin 0.3 -> class 0
                  [0.4, 0.35, 0.25],   # margin 0.05 -> class 0
                  [0.2, 0.2, 0.6],     # margin 0.4 -> class 2
                  [0.5, 0.25, 0.25]])  # margin 0.25 -> class 0
VIDEO = np.array([[0.2, 0.5, 0.3],     # margin 0.2 -> class 1
                  [0.1, 0.2, 0.7],     # margin 0.5 -> class 2
                  [0.1, 0.8, 0.1],     # margin 0.7 -> class 1
                  [0.25, 0.5, 0.25]])  # margin 0.25 -> class 1 (tie with audio)


def test_eq3_by_hand():
    r = confidence_ensemble([AUDIO, VIDEO])
    assert isinstance(r, FusionResult)
    assert r.labels.dtype == np.int64 and r.winner.dtype == np.int64
    assert r.posteriors.dtype == np.float64 and r.posteriors.shape == (4, 3)
    assert r.winner.tolist() == [0, 1, 1, 0]          # sample 3 is a tie: the earlier modality
    assert r.labels.tolist() == [0, 2, 1, 0]
    np.testing.assert_array_equal(r.posteriors, [AUDIO[0], VIDEO[1], VIDEO[2], AUDIO[3]])


def test_eq3_tie_goes_to_the_earlier_modality():
    r = confidence_ensemble([VIDEO[3:], AUDIO[3:]])   # same tie, order swapped
    assert r.winner.tolist() == [0] and r.labels.tolist() == [1]


def test_eq5_by_hand():
    # audio +0.35: 0.65 >= 0.2, 0.4 < 0.5, 0.75 >= 0.7, 0.6 >= 0.25
    r = confidence_ensemble([AUDIO, VIDEO], prior=[0.35, 0.0])
    assert r.winner.tolist() == [0, 1, 0, 0]
    assert r.labels.tolist() == [0, 2, 2, 0]
    # video +0.05: 0.25 < 0.3, 0.55, 0.75, 0.3 -> video, video, video
    r = confidence_ensemble([AUDIO, VIDEO], prior=[0.0, 0.05])
    assert r.winner.tolist() == [0, 1, 1, 1]
    assert r.labels.tolist() == [0, 2, 1, 1]


def test_eq5_tie_goes_to_the_bonused_modality_in_either_order():
    a = np.array([[0.75, 0.25]])   # margin 0.5, + bonus 0.5 = 1.0
    v = np.array([[0.0, 1.0]])     # margin 1.0: an exact tie (all values exact in binary)
    d = 0.5
    assert confidence_ensemble([a, v], prior=[d, 0.0]).winner.tolist() == [0]
    assert confidence_ensemble([v, a], prior=[0.0, d]).winner.tolist() == [1]


def test_missing_modality_falls_back():
    audio = AUDIO.copy()
    video = VIDEO.copy()
    audio[1] = NAN      # audio missing: video decides even with a huge audio bonus
    video[2] = NAN      # video missing: audio decides
    r = confidence_ensemble([audio, video], prior=[0.0, 1.0])
    assert r.winner.tolist() == [1, 1, 0, 1]
    assert r.labels.tolist() == [1, 2, 2, 1]
    assert np.isfinite(r.posteriors).all()


def test_all_missing_sample_is_refused_with_its_index():
    audio, video = AUDIO.copy(), VIDEO.copy()
    audio[[1, 3]] = NAN
    video[3] = NAN
    with pytest.raises(InputError, match=r"sample\(s\) \[3\]"):
        confidence_ensemble([audio, video])


@pytest.mark.parametrize("mats, prior, msg", [
    ([AUDIO], None, "at least two"),
    (AUDIO, None, "list of"),
    ([AUDIO, VIDEO[:3]], None, "shape"),
    ([AUDIO, VIDEO[:, :2]], None, "shape"),
    ([AUDIO, VIDEO], [0.1], "one bonus per modality"),
    ([AUDIO, VIDEO], [-0.1, 0.0], ">= 0"),
    ([AUDIO, VIDEO], [np.inf, 0.0], "finite"),
])
def test_ensemble_refuses(mats, prior, msg):
    with pytest.raises(InputError, match=msg):
        confidence_ensemble(mats, prior)


def test_partial_nan_row_names_modality_and_row():
    video = VIDEO.copy()
    video[2, 1] = NAN
    with pytest.raises(InputError, match=r"posteriors\[1\] row\(s\) \[2\]"):
        confidence_ensemble([AUDIO, video])


# --------------------------------------------------------------------------------- micro-F1 prior

Y_VAL = np.array([0, 1, 2, 0, 1])
VAL_AUDIO = np.eye(3)[[0, 1, 0, 1, 1]] * 0.7 + 0.1    # right on 3 of 5 (0.6)
VAL_VIDEO = np.eye(3)[[0, 1, 2, 0, 0]] * 0.7 + 0.1    # right on 4 of 5 (0.8)


def test_micro_f1_prior_by_hand():
    np.testing.assert_allclose(micro_f1_prior([VAL_AUDIO, VAL_VIDEO], Y_VAL), [0.0, 0.2])
    np.testing.assert_allclose(micro_f1_prior([VAL_VIDEO, VAL_AUDIO], Y_VAL), [0.2, 0.0])
    # three modalities: d_k = F1_k - min F1
    worst = np.eye(3)[[1, 0, 0, 1, 0]] * 0.7 + 0.1      # 0 of 5
    np.testing.assert_allclose(micro_f1_prior([VAL_AUDIO, VAL_VIDEO, worst], Y_VAL),
                               [0.6, 0.8, 0.0])


def test_micro_f1_prior_counts_present_samples_only():
    audio = VAL_AUDIO.copy()
    audio[[2, 3]] = NAN          # its two mistakes: audio is right on 3 of its 3 samples
    np.testing.assert_allclose(micro_f1_prior([audio, VAL_VIDEO], Y_VAL), [0.2, 0.0])


def test_micro_f1_prior_refuses_bad_labels_and_absent_modality():
    with pytest.raises(InputError, match="outside"):
        micro_f1_prior([VAL_AUDIO, VAL_VIDEO], np.array([0, 1, 3, 0, 1]))
    with pytest.raises(InputError, match="integer"):
        micro_f1_prior([VAL_AUDIO, VAL_VIDEO], Y_VAL.astype(float))
    with pytest.raises(InputError, match="shape"):
        micro_f1_prior([VAL_AUDIO, VAL_VIDEO], Y_VAL[:4])
    audio = VAL_AUDIO.copy()
    audio[:] = NAN
    with pytest.raises(InputError, match=r"val_posteriors\[0\] is missing"):
        micro_f1_prior([audio, VAL_VIDEO], Y_VAL)


# ------------------------------------------------------------------------------------------- fuse

def _random_split(seed: int, n: int = 40, c: int = 4, k: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    mats = []
    for m in range(k):
        logits = rng.normal(size=(n, c)) + (1.0 + m) * np.eye(c)[y]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        mats.append(e / e.sum(axis=1, keepdims=True))
    return mats, y


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_fuse_every_method(method):
    val, yv = _random_split(0)
    test, _ = _random_split(1, n=25)
    test[0][3] = NAN          # missing audio
    test[1][7] = NAN          # missing video
    r = fuse(method, val, yv, test)
    assert r.labels.shape == (25,) and r.labels.dtype == np.int64
    assert r.posteriors.shape == (25, 4) and np.isfinite(r.posteriors).all()
    assert r.winner.shape == (25,) and r.winner.dtype == np.int64
    np.testing.assert_array_equal(r.labels, r.posteriors.argmax(axis=1))
    used = r.winner >= 0
    assert r.winner[3] != 0 and r.winner[7] != 1
    for i in np.flatnonzero(used):
        np.testing.assert_array_equal(r.posteriors[i], test[r.winner[i]][i])


def test_fuse_single_modality_and_fallback():
    val, yv = [VAL_AUDIO, VAL_VIDEO], Y_VAL
    audio, video = AUDIO.copy(), VIDEO.copy()
    audio[2] = NAN
    for name in ("audio", "modality:0"):
        r = fuse(name, val, yv, [audio, video])
        assert r.winner.tolist() == [0, 0, 1, 0]
        assert r.labels.tolist() == [0, 0, 1, 0]
    r = fuse("video", val, yv, [audio, video])
    assert r.winner.tolist() == [1, 1, 1, 1] and r.labels.tolist() == [1, 2, 1, 1]


def test_fuse_prior_is_tuned_on_validation_only():
    val, yv = [VAL_AUDIO, VAL_VIDEO], Y_VAL                 # d = [0, 0.2]
    r = fuse("ensemble+prior", val, yv, [AUDIO, VIDEO])
    np.testing.assert_array_equal(r.winner,
                                  confidence_ensemble([AUDIO, VIDEO], [0.0, 0.2]).winner)
    assert r.winner.tolist() == [1, 1, 1, 1]
    # other test posteriors: the bonus stays 0.2 (sample 0: 0.2 + 0.2 >= 0.3 still goes to video)
    d0 = micro_f1_prior(val, yv)
    other = [AUDIO[::-1].copy(), VIDEO[::-1].copy()]
    r2 = fuse("ensemble+prior", val, yv, other)
    np.testing.assert_array_equal(r2.winner, confidence_ensemble(other, d0).winner)
    np.testing.assert_array_equal(micro_f1_prior(val, yv), d0)


@pytest.mark.parametrize("method, msg", [
    ("nonsense", "unknown fusion method"),
    ("modality:2", "does not exist"),
    ("modality:x", "unknown modality"),
])
def test_fuse_refuses_unknown_names(method, msg):
    with pytest.raises(InputError, match=msg):
        fuse(method, [VAL_AUDIO, VAL_VIDEO], Y_VAL, [AUDIO, VIDEO])


def test_fuse_refuses_mismatched_splits():
    with pytest.raises(InputError, match="modalities"):
        fuse("ensemble", [VAL_AUDIO, VAL_VIDEO], Y_VAL, [AUDIO, VIDEO, VIDEO])
    with pytest.raises(InputError, match="classes"):
        fuse("ensemble", [VAL_AUDIO[:, :2], VAL_VIDEO[:, :2]], np.zeros(5, int), [AUDIO, VIDEO])


# ------------------------------------------------------------------------------------- properties

@st.composite
def posterior_sets(draw, min_k: int = 2, max_k: int = 4):
    """K modalities of n x C posteriors (rounded, so ties happen), some rows missing."""
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(1, 12))
    c = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mats = []
    for _ in range(k):
        raw = rng.integers(0, 4, size=(n, c)).astype(float)
        raw[raw.sum(axis=1) == 0, 0] = 1.0
        mats.append(raw / raw.sum(axis=1, keepdims=True))
    missing = rng.random((k, n)) < 0.3
    missing[rng.integers(0, k, n), np.arange(n)] = False      # one modality always present
    for m in range(k):
        mats[m][missing[m]] = NAN
    return mats


def _eq3_reference(mats, prior):
    """Eq. 3/5 written out sample by sample, with the documented tie rule."""
    out = []
    for i in range(mats[0].shape[0]):
        best = None
        for m, p in enumerate(mats):
            if np.isnan(p[i]).all():
                continue
            top = np.sort(p[i])[::-1]
            key = (top[0] - top[1] + prior[m], prior[m])
            if best is None or key > best[0]:
                best = (key, m)
        out.append(best[1])
    return out


@settings(max_examples=150, deadline=None)
@given(posterior_sets(), st.data())
def test_ensemble_matches_the_sample_by_sample_rule(mats, data):
    k = len(mats)
    prior = data.draw(st.lists(st.sampled_from([0.0, 0.25, 0.5]), min_size=k, max_size=k))
    r = confidence_ensemble(mats, prior)
    assert r.winner.tolist() == _eq3_reference(mats, prior)
    for i, w in enumerate(r.winner):
        np.testing.assert_array_equal(r.posteriors[i], mats[w][i])
        assert r.labels[i] == np.argmax(mats[w][i])


@settings(max_examples=100, deadline=None)
@given(posterior_sets())
def test_zero_prior_is_eq3(mats):
    a = confidence_ensemble(mats)
    b = confidence_ensemble(mats, np.zeros(len(mats)))
    np.testing.assert_array_equal(a.winner, b.winner)
    np.testing.assert_array_equal(a.labels, b.labels)


@settings(max_examples=100, deadline=None)
@given(posterior_sets(), st.data())
def test_huge_prior_picks_its_modality_where_present(mats, data):
    k = data.draw(st.integers(0, len(mats) - 1))
    prior = np.zeros(len(mats))
    prior[k] = 1.0                 # margins lie in [0, 1]: 1 is already enough
    r = confidence_ensemble(mats, prior)
    present = ~np.isnan(mats[k]).all(axis=1)
    assert (r.winner[present] == k).all()
    assert (r.winner[~present] != k).all()


@settings(max_examples=100, deadline=None)
@given(posterior_sets(), st.data())
def test_micro_f1_prior_is_nonnegative_with_a_zero(mats, data):
    n, c = mats[0].shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    if any(np.isnan(m).all() for m in mats):
        with pytest.raises(InputError):
            micro_f1_prior(mats, y)
        return
    d = micro_f1_prior(mats, y)
    assert d.shape == (len(mats),) and (d >= 0).all() and d.min() == 0.0
