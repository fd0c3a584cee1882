"""The decision-level fusion experiment on the one fold loop (tiny two-modality data)."""
from __future__ import annotations

import numpy as np
import pytest

from emofast import dataset, fusion
from emofast.errors import InputError
from emofast.experiments.fusion import (FusionConfig, Sequences, carve_validation,
                                        evaluate_fusion, fusion_methods)

N_UTT, C = 48, 3
NAMES = ["anger", "happiness", "sadness"]
NO_VIDEO = {1, 5}                                   # utterances without a face track


def _modalities():
    rng = np.random.default_rng(0)
    labels = [NAMES[u % C] for u in range(N_UTT)]
    speakers = [f"s{u % 4}" for u in range(N_UTT)]

    def frames(signal, longest, skip=()):
        X, g = [], []
        for u in range(N_UTT):
            if u in skip:
                continue
            x = rng.normal(0, 1, (int(rng.integers(2, longest)), 3, 4, 4)).astype(np.float32)
            x[:, u % C] += signal
            X.append(x)
            g += [u] * len(x)
        return np.concatenate(X), np.array(g)

    Xa, ga = frames(0.6, 6)
    audio = dataset.from_arrays(Xa, ga, labels, speakers, ids=[f"u{u}" for u in range(N_UTT)])
    Xv, gv = frames(1.0, 9, NO_VIDEO)
    keep = sorted(set(gv.tolist()))
    at = {u: i for i, u in enumerate(keep)}
    video = dataset.from_arrays(Xv, [at[u] for u in gv], [labels[u] for u in keep],
                                [speakers[u] for u in keep], ids=[f"u{u}" for u in keep])
    return audio, video


CONFIG = FusionConfig(hidden=16, lstm=16, epochs=5, pool=2)


@pytest.fixture(scope="module")
def spied_run():
    """Run LOSO (2 folds) once with spies on fuse and on logistic regression's fit."""
    audio, video = _modalities()
    calls, lr_fits = [], []
    mp = pytest.MonkeyPatch()
    real_fuse = fusion.fuse

    def spy(method, val_posteriors, val_labels, test_posteriors):
        calls.append({"method": method, "val": [np.array(p) for p in val_posteriors],
                      "val_labels": np.array(val_labels),
                      "test": [np.array(p) for p in test_posteriors], "fits": []})
        return real_fuse(method, val_posteriors, val_labels, test_posteriors)

    mp.setattr(fusion, "fuse", spy)
    if hasattr(fusion, "LogisticFusion"):
        real_fit = fusion.LogisticFusion.fit

        def fit_spy(self, posteriors, labels, *a, **k):
            calls[-1]["fits"].append(([np.array(p) for p in posteriors], np.array(labels)))
            lr_fits.append(len(np.asarray(labels)))
            return real_fit(self, posteriors, labels, *a, **k)

        mp.setattr(fusion.LogisticFusion, "fit", fit_spy)
    try:
        evs = evaluate_fusion({"audio": audio, "video": video}, "loso", CONFIG, max_folds=2)
    finally:
        mp.undo()
    return audio, evs, calls, lr_fits


def test_one_evaluation_per_method_and_modality(spied_run):
    audio, evs, _, _ = spied_run
    methods = fusion_methods(["audio", "video"])
    assert [ev.name for ev in evs] == [f"{label} loso" for _, label in methods]
    assert methods[:2] == [("modality:0", "audio"), ("modality:1", "video")]
    assert {m for m, _ in methods[2:]} == {m for m in fusion.FUSION_METHODS
                                           if m not in ("audio", "video")}
    for ev in evs:
        assert ev.protocol == "loso" and len(ev.folds) == 2 and ev.info["method"]
        assert ev.scores.n == sum(f["test_items"] for f in ev.folds)
        for f in ev.folds:
            assert len(f["d_micro_f1"]) == 2 and min(f["d_micro_f1"]) == 0.0
            assert set(f["winner_share"]) == {"audio", "video", "lr"}
            assert sum(f["winner_share"].values()) == pytest.approx(1.0)
    assert evs[0].curves[0]["train_loss"] and evs[1].curves[0]["train_loss"]
    assert evs[0].info["coverage"] == {"audio": N_UTT, "video": N_UTT - len(NO_VIDEO)}


def test_validation_is_carved_from_training_speakers_only(spied_run):
    audio, evs, calls, _ = spied_run
    speaker_of = dict(zip(audio.ids, audio.speakers))
    label_of = dict(zip(audio.ids, audio.labels))
    for f, details in enumerate(evs[0].folds):
        test_speaker = sorted(set(audio.speakers))[details["fold"]]
        val_ids = details["validation_ids"]
        val_speakers = {speaker_of[i] for i in val_ids}
        assert val_ids and test_speaker not in val_speakers
        # whole speakers: every utterance of a validation speaker is in validation
        assert sorted(val_ids) == sorted(i for i in audio.ids if speaker_of[i] in val_speakers)
        assert details["fit_utterances"] + len(val_ids) == N_UTT - details["test_items"]
        # fusion saw exactly the validation labels, and only test posteriors to fuse
        mine = calls[f * len(fusion_methods(["a", "v"])):(f + 1) * len(fusion_methods(["a", "v"]))]
        assert mine
        for call in mine:
            assert call["val_labels"].tolist() == [label_of[i] for i in val_ids]
            assert all(len(p) == len(val_ids) for p in call["val"])
            assert all(len(p) == details["test_items"] for p in call["test"])


def test_logistic_regression_fits_on_validation_only(spied_run):
    """Every LR fit (also the out-of-fold fits for LR's own micro-F1) gets validation rows only."""
    _, evs, calls, lr_fits = spied_run
    if not hasattr(fusion, "LogisticFusion"):
        pytest.skip("the fusion core has no logistic regression yet")
    assert lr_fits and max(lr_fits) <= max(len(f["validation_ids"]) for f in evs[0].folds)
    fitted = 0
    for call in calls:
        val_rows = {tuple(np.round(np.nan_to_num(r, nan=-1), 12)) for r in call["val"][0]}
        test_rows = {tuple(np.round(np.nan_to_num(r, nan=-1), 12)) for r in call["test"][0]}
        for posteriors, labels in call["fits"]:
            rows = {tuple(np.round(np.nan_to_num(r, nan=-1), 12)) for r in posteriors[0]}
            assert rows <= val_rows and not rows & test_rows
            fitted += 1
    assert fitted == len(lr_fits)
    assert any(c["method"] == "lr" and c["fits"] for c in calls)


def test_missing_modality_is_a_nan_row(spied_run):
    audio, evs, calls, _ = spied_run
    details = evs[0].folds[0]
    val_ids = details["validation_ids"]
    video_val = calls[0]["val"][1]
    for row, i in zip(video_val, val_ids):
        assert np.isnan(row).all() == (int(i[1:]) in NO_VIDEO)
    assert np.isfinite(calls[0]["val"][0]).all()          # audio always there


def test_kfold_carves_stratified_utterances_and_user_arrays_work():
    audio, video = _modalities()
    rng = np.random.default_rng(1)
    own = Sequences.from_arrays({i: rng.normal(size=(4, 5)) for i in video.ids})
    evs = evaluate_fusion({"audio": audio, "video": own}, "kfold",
                          FusionConfig(hidden=8, lstm=8, epochs=2, pool=2), folds=4, max_folds=1)
    f = evs[0].folds[0]
    assert f["validation_by"] == "utterance" and f["validation_utterances"] >= C


def test_carve_validation():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    speakers = np.array(list("aabbccddee"))
    v = carve_validation(labels, speakers, "utterance", 0.25, seed=0)
    assert [int(v[labels == c].sum()) for c in range(3)] == [1, 1, 1]
    s = carve_validation(labels, speakers, "speaker", 0.2, seed=0)
    held = set(speakers[s])
    assert len(held) == 1 and s.sum() == 2
    only_one = carve_validation(labels, np.array(["a"] * 10), "speaker", 0.3, seed=0)
    assert 0 < only_one.sum() < 10                          # falls back to utterances


def test_refusals():
    audio, video = _modalities()
    with pytest.raises(InputError, match="kfold or loso"):
        evaluate_fusion({"audio": audio, "video": video}, "segment", CONFIG)
    with pytest.raises(InputError, match="two modalities"):
        evaluate_fusion({"audio": audio}, "kfold", CONFIG)


def test_method_selection():
    audio, video = _modalities()
    evs = evaluate_fusion({"audio": audio, "video": video}, "kfold",
                          FusionConfig(hidden=8, lstm=8, epochs=1, pool=2), folds=4, max_folds=1,
                          methods=["video", "ensemble+prior"])
    assert [ev.name for ev in evs] == ["video kfold", "ensemble+prior kfold"]
    with pytest.raises(InputError, match="unknown fusion method"):
        evaluate_fusion({"audio": audio, "video": video}, "kfold", CONFIG, methods=["vote"])


def test_resume_retrains_a_missing_fold_identically(tmp_path):
    audio, video = _modalities()
    cfg = FusionConfig(hidden=8, lstm=8, epochs=2, pool=2)
    run = dict(folds=4, max_folds=2, checkpoint_dir=tmp_path, methods=["audio", "ensemble"])
    first = evaluate_fusion({"audio": audio, "video": video}, "kfold", cfg, **run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ensemble", "modality-0"]
    (tmp_path / "ensemble" / "fold2.pt").unlink()             # as if killed before saving it
    with pytest.warns(Warning, match="not re-run"):
        again = evaluate_fusion({"audio": audio, "video": video}, "kfold", cfg, **run)
    for a, b in zip(first, again):
        assert a.fold_war == b.fold_war
        np.testing.assert_array_equal(a.scores.confusion, b.scores.confusion)


def test_cnn_features_fit_each_fold_cnn_on_fit_utterances_only(av_store, monkeypatch):
    """``features="cnn"`` on the quick audio-visual demo corpus: a CNN per modality per fold,
    trained on the fold's fit utterances only; the LSTMs read its embeddings."""
    from emofast.experiments import baseline
    from emofast.nn import sequence

    audio = dataset.from_feature_set(dataset.open_feature_set(av_store, "demo_studio", "audio"))
    video = dataset.from_feature_set(dataset.open_feature_set(av_store, "demo_studio", "video"),
                                     audio.classes)
    cnn_fits, lstm_inputs = [], []
    real_train, real_fit = baseline.train_final, sequence.fit_sequences

    def train_spy(data, config, **kw):
        cnn_fits.append((list(data.ids), config))
        return real_train(data, config, **kw)

    def fit_spy(model, seqs, y, **kw):
        lstm_inputs.append([np.shape(s) for s in seqs])
        return real_fit(model, seqs, y, **kw)

    monkeypatch.setattr(baseline, "train_final", train_spy)
    monkeypatch.setattr(sequence, "fit_sequences", fit_spy)
    cfg = FusionConfig(hidden=8, lstm=8, epochs=1, max_steps=4, features="cnn", cnn_epochs=1)
    evs = evaluate_fusion({"audio": audio, "video": video}, "loso", cfg, max_folds=2,
                          methods=["audio", "video", "ensemble+prior"])
    assert [ev.name for ev in evs] == ["audio loso", "video loso", "ensemble+prior loso"]
    assert len(cnn_fits) == 4 and len(lstm_inputs) == 4       # 2 folds x 2 modalities
    speaker_of = dict(zip(audio.ids, audio.speakers))
    tiny = baseline.make_baseline(audio.n_classes, "tiny").embed_dim
    for f, details in enumerate(evs[0].folds):
        test_speaker = sorted(set(audio.speakers))[details["fold"]]
        test_ids = {i for i in audio.ids if speaker_of[i] == test_speaker}
        fit_ids = set(audio.ids) - test_ids - set(details["validation_ids"])
        assert len(fit_ids) == details["fit_utterances"]
        for ids, config in cnn_fits[2 * f:2 * f + 2]:
            assert set(ids) == fit_ids                    # no test, no validation utterance
            assert config.epochs == 1 and config.width == "tiny"
        for shapes in lstm_inputs[2 * f:2 * f + 2]:
            assert len(shapes) == len(fit_ids)
            assert {s[1] for s in shapes} == {tiny} and max(s[0] for s in shapes) <= 4
    for ev in evs:
        assert ev.info["features"] == "cnn"
        assert ev.scores.n == sum(f["test_items"] for f in ev.folds)
        assert np.isfinite(ev.scores.war)


def test_cnn_features_config():
    assert FusionConfig().features == "pooled"
    assert FusionConfig(features="cnn", cnn_width="small", cnn_epochs=2).cnn_config().width \
        == "small"
    with pytest.raises(InputError, match="features"):
        FusionConfig(features="dnn")
    with pytest.raises(InputError, match="width"):
        FusionConfig(features="cnn", cnn_width="huge")
    audio, video = _modalities()                          # 3 × 4 × 4 frames: not the CNN's input
    with pytest.raises(InputError, match="3 × 64 × 64"):
        evaluate_fusion({"audio": audio, "video": video}, "kfold",
                        FusionConfig(epochs=1, features="cnn", cnn_epochs=1), folds=4,
                        max_folds=1)
