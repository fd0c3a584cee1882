"""Combining evaluated systems from their saved predictions (:mod:`emofast.experiments.combine`)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emofast.errors import InputError
from emofast.experiments.combine import combine_evaluations
from emofast.metrics import score
from emofast.report import Evaluation

CLASSES = ["anger", "happiness", "sadness"]


def _evaluation(name, post, labels, folds, ids, transductive=None):
    post = np.asarray(post, float)
    return Evaluation(name=name, classes=CLASSES, protocol="loso",
                      scores=score(labels, scores=post, n_classes=3), transductive=transductive,
                      predictions={"ids": np.asarray(ids), "folds": np.asarray(folds),
                                   "labels": np.asarray(labels), "posteriors": post})


def _pair():
    labels = np.array([0, 1, 2, 0])
    folds = np.array([0, 0, 1, 1])
    ids = np.array(["u0", "u1", "u2", "u3"])
    # a is right on u0, u1; b is right on u2, u3; each is confident where it is right
    a = [[.9, .05, .05], [.1, .8, .1], [.4, .35, .25], [.3, .4, .3]]
    b = [[.3, .4, .3], [.4, .35, .25], [.05, .05, .9], [.9, .05, .05]]
    return labels, folds, ids, a, b


def test_mean_of_two_systems_by_hand():
    labels, folds, ids, a, b = _pair()
    ea = _evaluation("a", a, labels, folds, ids)
    # b saved in another utterance order: combine aligns by id
    perm = [3, 1, 0, 2]
    eb = _evaluation("b", np.asarray(b)[perm], labels[perm], folds[perm], ids[perm], "speaker")
    both = combine_evaluations([ea, eb])
    expected = (np.asarray(a) + np.asarray(b)) / 2
    np.testing.assert_allclose(both.predictions["posteriors"], expected)
    assert both.scores.war == 1.0 and ea.scores.war == 0.5 and eb.scores.war == 0.5
    assert both.fold_uar == [1.0, 1.0] and [f["fold"] for f in both.folds] == [0, 1]
    assert both.transductive == "speaker" and both.info["members"] == ["a", "b"]


def test_logmean_is_the_normalised_geometric_mean():
    labels, folds, ids, a, b = _pair()
    both = combine_evaluations([_evaluation("a", a, labels, folds, ids),
                                _evaluation("b", b, labels, folds, ids)], how="logmean")
    g = np.sqrt(np.asarray(a) * np.asarray(b))
    np.testing.assert_allclose(both.predictions["posteriors"], g / g.sum(1, keepdims=True))


def test_mismatches_are_refused():
    labels, folds, ids, a, b = _pair()
    ea = _evaluation("a", a, labels, folds, ids)
    with pytest.raises(InputError, match="two or more"):
        combine_evaluations([ea])
    with pytest.raises(InputError, match="folds"):
        combine_evaluations([ea, _evaluation("b", b, labels, [1, 1, 0, 0], ids)])
    with pytest.raises(InputError, match="other utterances"):
        combine_evaluations([ea, _evaluation("b", b, labels, folds, ["x", "u1", "u2", "u3"])])
    with pytest.raises(InputError, match="how"):
        combine_evaluations([ea, ea], how="max")


def test_round_trip_through_json():
    labels, folds, ids, a, _ = _pair()
    ea = _evaluation("a", a, labels, folds, ids, "speaker")
    back = Evaluation.from_dict(json.loads(json.dumps(ea.to_dict())), source="x.json")
    assert back.scores.uar == ea.scores.uar and back.transductive == "speaker"
    np.testing.assert_allclose(back.predictions["posteriors"], a)
    d = ea.to_dict()
    d["predictions"] = None
    with pytest.raises(InputError, match="x.json.*no per-utterance"):
        Evaluation.from_dict(d, source="x.json")
