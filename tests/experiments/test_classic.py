"""Linear models on feature vectors through the one fold loop, per-speaker normalisation, and the
transductive mark in reports."""
import numpy as np
import pytest

from emofast.dataset import from_arrays, normalize
from emofast.errors import InputError
from emofast.experiments.classic import C_GRID, LinearConfig, evaluate_linear
from emofast.report import results_table

pytest.importorskip("sklearn")


def _speakers_with_offsets(seed=0, n_spk=6, per=12, dim=5):
    """Class = sign of feature 0 relative to the speaker's own mean; speakers differ by a large
    offset, so only per-speaker normalisation makes the task linearly easy across speakers."""
    rng = np.random.default_rng(seed)
    X, labels, speakers = [], [], []
    for s in range(n_spk):
        offset = rng.normal(0, 10, dim)
        for i in range(per):
            c = i % 2
            x = rng.normal(0, 0.3, dim) + offset
            x[0] += 1.5 if c else -1.5
            X.append(x)
            labels.append("anger" if c else "sadness")
            speakers.append(f"s{s}")
    X = np.asarray(X, np.float32)
    return from_arrays(X, np.arange(len(X)), labels, speakers, corpus="toy")


def test_normalize_per_speaker_zero_mean_unit_std_and_marks():
    data = _speakers_with_offsets()
    out = normalize(data, "speaker")
    assert out.normalization == "speaker" and data.normalization is None
    for s in np.unique(data.speakers):
        rows = data.speakers[data.groups] == s
        assert np.allclose(out.X[rows].mean(0), 0, atol=1e-5)
        assert np.allclose(out.X[rows].std(0), 1, atol=1e-3)
    corpus = normalize(data, "corpus")
    assert np.allclose(corpus.X.mean(0), 0, atol=1e-4)
    with pytest.raises(InputError):
        normalize(data, "utterance")


def test_normalize_segments_per_channel_and_band():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3, 4, 4)).astype(np.float32) + np.arange(4)[None, None, :, None]
    data = from_arrays(X, [0, 0, 1, 1, 2, 2, 3, 3], ["a", "b", "a", "b"], ["x", "x", "y", "y"])
    out = normalize(data, "speaker")
    sel = data.speakers[data.groups] == "x"
    assert np.allclose(out.X[sel].mean(axis=(0, 3)), 0, atol=1e-5)


def test_speaker_normalisation_helps_a_linear_model_and_is_marked():
    data = _speakers_with_offsets()
    raw = evaluate_linear(data, "loso", LinearConfig("logreg", C=1.0))
    spk = evaluate_linear(data, "loso", LinearConfig("logreg", C=1.0), normalize="speaker")
    assert spk.scores.uar == 1.0
    assert raw.scores.uar < 0.9
    assert spk.transductive == "speaker" and raw.transductive is None
    assert spk.label.endswith("†") and spk.info["normalization"] == "speaker"
    table = results_table([raw, spk])
    assert "† transductive" in table and table.count("†") == 2


def test_svm_and_C_chosen_on_validation_speakers_only():
    data = _speakers_with_offsets()
    ev = evaluate_linear(data, "loso", LinearConfig("svm", C=None, val_speakers=2),
                         normalize="speaker", max_folds=2)
    for fold in ev.folds:
        assert fold["C"] in C_GRID and set(fold["val_uar"]) == {str(c) for c in C_GRID}
    assert np.allclose(ev.scores.confusion.sum(), 24)
    with pytest.raises(InputError, match="validation"):
        evaluate_linear(data, "loso", LinearConfig("logreg", C=None, val_speakers=5), max_folds=1)
    with pytest.raises(InputError):
        LinearConfig("forest")
