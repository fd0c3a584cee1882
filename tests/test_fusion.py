"""Decision-level fusion (emofast.fusion): eq. 3 and eq. 5 of the multimodal fusion paper."""
from __future__ import annotations

import doctest
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emofast import fusion
from emofast.errors import InputError
from emofast.fusion import (FUSION_METHODS, FusionResult, LogisticFusion, confidence_ensemble,
                            fuse, micro_f1_prior, search_prior, top2_margin)

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
    val[0][[1, 5]] = NAN      # missing in validation too (LR fills them, the prior skips them)
    val[1][2] = NAN
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
    ("ensemble:audio", "unknown fusion method"),
    ("lr+ensemble+prior:2", "does not exist"),
    ("lr+ensemble:face", "unknown modality"),
    (None, "unknown fusion method"),
])
def test_fuse_refuses_unknown_names(method, msg):
    with pytest.raises(InputError, match=msg):
        fuse(method, [VAL_AUDIO, VAL_VIDEO], Y_VAL, [AUDIO, VIDEO])


def test_fuse_refuses_mismatched_splits():
    with pytest.raises(InputError, match="modalities"):
        fuse("ensemble", [VAL_AUDIO, VAL_VIDEO], Y_VAL, [AUDIO, VIDEO, VIDEO])
    with pytest.raises(InputError, match="classes"):
        fuse("ensemble", [VAL_AUDIO[:, :2], VAL_VIDEO[:, :2]], np.zeros(5, int), [AUDIO, VIDEO])


# ------------------------------------------------------------------------------------ search_prior

# the search_prior doctest: audio right on 3 of 4, video on 1 of 4; d = 0.3 hands sample 1 to audio,
# d = 0.6 would also hand it sample 2 (wrong)
Y_S = np.array([0, 1, 1, 0])
S_AUDIO = np.array([[0.9, 0.1], [0.45, 0.55], [0.6, 0.4], [0.7, 0.3]])
S_VIDEO = np.array([[0.2, 0.8], [0.7, 0.3], [0.1, 0.9], [0.3, 0.7]])


def _accuracy(mats, y, prior):
    return float(np.mean(confidence_ensemble(mats, prior).labels == y))


def test_search_prior_by_hand():
    d = search_prior([S_AUDIO, S_VIDEO], Y_S)
    assert d[1] == 0.0 and d[0] == pytest.approx(0.3)
    assert _accuracy([S_AUDIO, S_VIDEO], Y_S, d) == 1.0
    assert _accuracy([S_AUDIO, S_VIDEO], Y_S, [0.0, 0.0]) == 0.75
    assert _accuracy([S_AUDIO, S_VIDEO], Y_S, [0.65, 0.0]) == 0.75
    # the better modality is found by micro-F1, whatever its place in the list
    np.testing.assert_allclose(search_prior([S_VIDEO, S_AUDIO], Y_S), [0.0, 0.3])


def test_search_prior_on_a_grid():
    np.testing.assert_array_equal(
        search_prior([S_AUDIO, S_VIDEO], Y_S, grid=np.array([0.7, 0.5, 0.0, 0.1])), [0.5, 0.0])
    # no grid value helps: ties go to the smallest bonus
    np.testing.assert_array_equal(
        search_prior([S_AUDIO, S_VIDEO], Y_S, grid=[0.2, 0.1, 0.9]), [0.1, 0.0])
    for bad in ([], [[0.1]], [-0.1], [np.nan]):
        with pytest.raises(InputError, match="grid"):
            search_prior([S_AUDIO, S_VIDEO], Y_S, grid=np.array(bad))


def test_search_prior_finds_exact_ties():
    # video (better) ties audio on sample 1 at d = 0: the earlier modality (audio, wrong) wins;
    # any d > 0 hands the tie to video (right)
    y = np.array([1, 1, 0])
    audio = np.array([[0.5, 0.5], [0.75, 0.25], [1.0, 0.0]])
    video = np.array([[0.0, 1.0], [0.25, 0.75], [0.5, 0.5]])
    d = search_prior([audio, video], y)
    assert d[0] == 0.0 and 0.0 < d[1] < 1e-300
    assert _accuracy([audio, video], y, d) == 1.0
    assert _accuracy([audio, video], y, [0.0, 0.0]) == pytest.approx(2 / 3)


def test_fuse_search_uses_validation_only():
    val, yv = [S_AUDIO, S_VIDEO], Y_S
    d = search_prior(val, yv)
    for test in ([S_VIDEO, S_AUDIO], [S_AUDIO[::-1], S_VIDEO[:, ::-1]],
                 [np.full((3, 2), 0.5), np.array([[0.0, 1.0]] * 3)]):
        r = fuse("ensemble+search", val, yv, test)
        np.testing.assert_array_equal(r.winner, confidence_ensemble(test, d).winner)
    np.testing.assert_array_equal(search_prior(val, yv), d)


# ------------------------------------------------------------------------------ LogisticFusion

def _mats_for_lr(seed=0, n=60, c=4):
    return _random_split(seed, n=n, c=c)


@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_logistic_fusion_matches_sklearn(C):
    lm = pytest.importorskip("sklearn.linear_model")
    mats, y = _mats_for_lr()
    X = np.hstack(mats)
    sk = lm.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)  # multinomial (lbfgs)
    lr = LogisticFusion(C=C).fit(mats, y)
    test, _ = _mats_for_lr(seed=5, n=30)
    np.testing.assert_allclose(lr.predict_proba(test), sk.predict_proba(np.hstack(test)),
                               atol=1e-7)
    np.testing.assert_allclose(lr.coef_, sk.coef_.T, atol=1e-6)
    np.testing.assert_array_equal(lr.predict(test).labels, sk.predict(np.hstack(test)))


def test_logistic_fusion_two_classes_is_sklearns_binary_at_twice_c():
    lm = pytest.importorskip("sklearn.linear_model")
    mats, y = _mats_for_lr(c=2)
    sk = lm.LogisticRegression(C=2.0, tol=1e-12, max_iter=10_000).fit(np.hstack(mats), y)
    lr = LogisticFusion(C=1.0).fit(mats, y)
    np.testing.assert_allclose(lr.predict_proba(mats), sk.predict_proba(np.hstack(mats)),
                               atol=1e-7)


def test_logistic_fusion_is_deterministic_and_fills_missing_with_uniform():
    mats, y = _mats_for_lr()
    a = LogisticFusion().fit(mats, y)
    b = LogisticFusion().fit(mats, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    holes = [m.copy() for m in mats]
    holes[0][[3, 10]] = NAN
    holes[1][20] = NAN
    filled = [m.copy() for m in holes]
    for m in filled:
        m[np.isnan(m).all(axis=1)] = 0.25
    h, f = LogisticFusion().fit(holes, y), LogisticFusion().fit(filled, y)
    np.testing.assert_array_equal(h.coef_, f.coef_)
    np.testing.assert_array_equal(h.predict_proba(holes), f.predict_proba(filled))
    r = h.predict(holes)
    assert r.winner.tolist() == [-1] * 60 and np.isfinite(r.posteriors).all()
    np.testing.assert_allclose(r.posteriors.sum(axis=1), 1.0)


def test_logistic_fusion_classes_absent_from_fitting():
    mats, y = _mats_for_lr()
    seen = y != 2
    lr = LogisticFusion().fit([m[seen] for m in mats], y[seen])
    assert lr.classes_.tolist() == [0, 1, 3]
    p = lr.predict_proba(mats)
    assert p.shape == (60, 4) and (p[:, 2] == 0).all()
    one = LogisticFusion().fit([m[y == 1] for m in mats], y[y == 1])
    np.testing.assert_array_equal(one.predict_proba(mats), np.eye(4)[np.ones(60, int)])


def test_logistic_fusion_refuses():
    mats, y = _mats_for_lr()
    with pytest.raises(InputError, match="not fitted"):
        LogisticFusion().predict_proba(mats)
    lr = LogisticFusion().fit(mats, y)
    with pytest.raises(InputError, match="fitted on 2 modalities x 4 classes"):
        lr.predict_proba([m[:, :3] / m[:, :3].sum(1, keepdims=True) for m in mats])
    with pytest.raises(InputError, match="fitted on 2"):
        lr.predict_proba(mats + [mats[0]])
    for kw, msg in (({"C": 0.0}, "C must"), ({"C": np.inf}, "C must"),
                    ({"max_iter": 0}, "max_iter"), ({"max_iter": 2.5}, "max_iter")):
        with pytest.raises(InputError, match=msg):
            LogisticFusion(**kw)
    with pytest.raises(InputError, match="outside"):
        LogisticFusion().fit(mats, y + 1)


def test_logistic_fusion_warns_when_not_converged():
    mats, y = _mats_for_lr()
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        LogisticFusion(C=100.0, max_iter=1).fit(mats, y)


def test_fuse_lr_is_fitted_on_validation_only():
    val, yv = _random_split(0)
    test, yt = _random_split(1, n=25)
    r = fuse("lr", val, yv, test)
    expected = LogisticFusion().fit(val, yv).predict(test)
    np.testing.assert_array_equal(r.posteriors, expected.posteriors)
    # test labels never enter fuse(); shuffling the test samples only shuffles the predictions
    perm = np.random.default_rng(0).permutation(25)
    shuffled = fuse("lr", val, yv, [t[perm] for t in test])
    np.testing.assert_allclose(shuffled.posteriors, r.posteriors[perm], rtol=1e-12)
    np.testing.assert_array_equal(shuffled.labels, r.labels[perm])
    assert (r.labels == yt).mean() > 0.5              # and it learnt something on validation
    # a different validation split gives a different model
    val2, yv2 = _random_split(2)
    assert not np.array_equal(fuse("lr", val2, yv2, test).posteriors, r.posteriors)


# ------------------------------------------------------------------- Table 4 and 5 combinations

def test_fuse_table4_is_lr_as_one_more_modality():
    val, yv = _random_split(0)
    test, _ = _random_split(1, n=25)
    test[0][4] = NAN
    lr = LogisticFusion().fit(val, yv).predict_proba(test)
    for name, members, index in (("lr+ensemble:audio", [test[0], lr], [0, -1]),
                                 ("lr+ensemble:video", [test[1], lr], [1, -1]),
                                 ("lr+ensemble:1", [test[1], lr], [1, -1]),
                                 ("lr+ensemble", [test[0], test[1], lr], [0, 1, -1])):
        r = fuse(name, val, yv, test)
        ref = confidence_ensemble(members)
        np.testing.assert_array_equal(r.labels, ref.labels)
        np.testing.assert_array_equal(r.posteriors, ref.posteriors)
        np.testing.assert_array_equal(r.winner, np.array(index)[ref.winner])
    assert fuse("lr+ensemble:audio", val, yv, test).winner[4] == -1   # audio missing: LR


def test_fuse_table5_prior_uses_out_of_fold_lr_on_validation():
    val, yv = _random_split(0)
    test, _ = _random_split(1, n=25)
    oof = fusion._out_of_fold(np.stack(val), yv)
    lr = LogisticFusion().fit(val, yv).predict_proba(test)
    for name, k in (("lr+ensemble+prior:audio", 0), ("lr+ensemble+prior:video", 1)):
        d = micro_f1_prior([val[k], oof], yv)
        ref = confidence_ensemble([test[k], lr], d)
        r = fuse(name, val, yv, test)
        np.testing.assert_array_equal(r.labels, ref.labels)
        np.testing.assert_array_equal(r.winner, np.array([k, -1])[ref.winner])
    d = search_prior([val[0], oof], yv)
    ref = confidence_ensemble([test[0], lr], d)
    np.testing.assert_array_equal(fuse("lr+ensemble+search:audio", val, yv, test).labels,
                                  ref.labels)


def test_out_of_fold_never_predicts_a_sample_with_a_model_that_saw_it():
    val, yv = _random_split(0, n=30)
    P = np.stack(val)
    oof = fusion._out_of_fold(P, yv)
    fold = np.empty(30, int)
    fold[np.argsort(yv, kind="stable")] = np.arange(30) % 5
    for f in range(5):
        held = fold == f
        assert 0 < held.sum() < 30
        expected = LogisticFusion().fit(P[:, ~held], yv[~held]).predict_proba(P[:, held])
        np.testing.assert_array_equal(oof[held], expected)
    assert not np.allclose(oof, LogisticFusion().fit(P, yv).predict_proba(P))


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_fuse_decides_each_test_sample_alone(method):
    """Nothing is fitted on test: a sample's decision does not depend on the other test samples."""
    val, yv = _random_split(0)
    test, _ = _random_split(1, n=25)
    other, _ = _random_split(7, n=25)
    full = fuse(method, val, yv, test)
    half = fuse(method, val, yv, [np.vstack([t[:12], o[12:]]) for t, o in zip(test, other)])
    np.testing.assert_array_equal(full.labels[:12], half.labels[:12])
    np.testing.assert_array_equal(full.posteriors[:12], half.posteriors[:12])
    np.testing.assert_array_equal(full.winner[:12], half.winner[:12])


def test_import_is_light_and_reachable_from_the_package():
    code = ("import sys, emofast, emofast.fusion; "
            "assert emofast.fusion.fuse is emofast.fuse; "
            "assert emofast.FUSION_METHODS is emofast.fusion.FUSION_METHODS; "
            "heavy = {'torch', 'scipy', 'sklearn'} & {m.split('.')[0] for m in sys.modules}; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_fusion_methods_in_table_order():
    assert FUSION_METHODS[:4] == ("audio", "video", "lr", "ensemble")
    assert FUSION_METHODS.index("lr+ensemble") < FUSION_METHODS.index("lr+ensemble+prior:audio")
    assert len(set(FUSION_METHODS)) == len(FUSION_METHODS)


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


@settings(max_examples=60, deadline=None)
@given(posterior_sets(max_k=3), st.data())
def test_exact_search_is_the_smallest_best_bonus(mats, data):
    n, c = mats[0].shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    if any(np.isnan(m).all() for m in mats):
        return
    d = search_prior(mats, y)
    better = int(np.argmax(search_prior(mats, y, grid=[1.0])))   # where the bonus goes
    assert (d >= 0).all() and (np.delete(d, better) == 0).all()
    best = _accuracy(mats, y, d)
    for g in data.draw(st.lists(st.floats(0, 1.5), min_size=1, max_size=8)):
        prior = np.zeros(len(mats))
        prior[better] = g
        acc = _accuracy(mats, y, prior)
        assert acc <= best
        if acc == best:
            assert d[better] <= g


@settings(max_examples=60, deadline=None)
@given(posterior_sets(max_k=3), st.data())
def test_single_modality_picks_it_where_present(mats, data):
    k = data.draw(st.integers(0, len(mats) - 1))
    n, c = mats[0].shape
    y = np.zeros(n, dtype=np.int64)
    r = fuse(f"modality:{k}", mats, y, mats)
    present = ~np.isnan(mats[k]).all(axis=1)
    assert (r.winner[present] == k).all()
    # elsewhere: eq. 3 over the others
    np.testing.assert_array_equal(r.winner[~present], confidence_ensemble(mats).winner[~present])
