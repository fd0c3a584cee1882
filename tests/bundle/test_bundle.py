"""Model bundles: save → load → predict equals the trained model, per-segment output, arrays,
video models, refused and damaged files, and the final-model training it builds on."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import emofast
from emofast.bundle import Model, Prediction, export_onnx, load_model, read_bundle, save_bundle
from emofast.errors import InputError, MediaError, MissingFileError
from emofast.experiments.baseline import BaselineConfig, baseline_settings, pretrain, train_final
from emofast.train.fit import predict_proba


def _reference(trained, wav) -> np.ndarray:
    """Segment posteriors of the in-memory model on a wav, computed without the bundle code."""
    segments = emofast.LogMelExtractor(trained.fs.settings["config"])(wav)
    return predict_proba(trained.final.model, trained.final.standardizer(segments))


def test_round_trip_equals_the_in_memory_model(trained):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[3]
    model = load_model(trained.bundle)
    pred = model.predict(wav)
    ref = _reference(trained, wav)
    assert isinstance(pred, Prediction) and pred.source == str(wav)
    np.testing.assert_allclose(pred.posteriors, ref.mean(0), atol=1e-6)
    assert pred.n_segments == len(ref) and pred.segments is None
    assert pred.classes == tuple(trained.data.classes) and pred.label in pred.classes
    assert pred.posteriors.sum() == pytest.approx(1.0)
    assert model.modality == "audio" and model.input_shape == (3, 64, 64)
    assert model.provenance["corpora"] == ["demo_phone"]
    assert model.provenance["emofast_version"] == emofast.__version__


def test_per_segment_posteriors(trained):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[0]
    pred = load_model(trained.bundle).predict(wav, per_segment=True)
    assert pred.segments.shape == (pred.n_segments, len(trained.data.classes))
    np.testing.assert_allclose(pred.segments.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pred.segments.mean(0), pred.posteriors, atol=1e-6)
    d = json.loads(json.dumps(pred.as_dict()))
    assert len(d["segments"]) == pred.n_segments and set(d["posteriors"]) == set(pred.classes)


def test_predict_a_freshly_generated_demo_wav_and_a_list(trained, tmp_path):
    from emofast.synthetic import synthesize_speech, write_wav

    wav = tmp_path / "new.wav"
    write_wav(wav, synthesize_speech("sadness", np.random.default_rng(7), base_f0=110.0))
    model = load_model(trained.bundle)
    preds = model.predict([wav, str(wav)])
    assert [p.source for p in preds] == [str(wav), str(wav)]
    np.testing.assert_array_equal(preds[0].posteriors, preds[1].posteriors)
    np.testing.assert_allclose(preds[0].posteriors, _reference(trained, wav).mean(0), atol=1e-6)


def test_arrays_of_segments(trained):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[1]
    model = load_model(trained.bundle)
    segments = model.segments(wav)
    from_file, from_array = model.predict(wav), model.predict(segments)
    assert from_array.source == "<array>"
    np.testing.assert_array_equal(from_file.posteriors, from_array.posteriors)
    one = model.predict(torch.from_numpy(segments[0]), per_segment=True)  # one segment, a tensor
    assert one.segments.shape == (1, len(model.classes))
    with pytest.raises(InputError, match=r"shape \(3, 32, 32\).*takes \(3, 64, 64\)"):
        model.predict(np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(InputError, match="NaN"):
        model.predict(np.full((1, 3, 64, 64), np.nan, np.float32))
    with pytest.raises(InputError, match="no segments"):
        model.predict(np.zeros((0, 3, 64, 64), np.float32))


def test_logmean_aggregation_is_recorded(trained, tmp_path):
    path = save_bundle(tmp_path / "g.emofast", trained.final, features=trained.fs,
                       aggregate="logmean")
    model = load_model(path)
    seg = model.segments(sorted(trained.roots["demo_phone"].rglob("*.wav"))[0])
    post = model.segment_posteriors(seg).astype(np.float64)
    expected = np.exp(np.log(post).mean(0))
    np.testing.assert_allclose(model.predict(seg).posteriors, expected / expected.sum(), atol=1e-6)


def test_changed_feature_algorithm_refuses_files_not_arrays(trained, tmp_path):
    features = json.loads(json.dumps(trained.fs.settings))
    features["config"]["feature_version"] = 99
    path = save_bundle(tmp_path / "old.emofast", trained.final, features=features)
    model = load_model(path)
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[0]
    with pytest.raises(InputError, match="feature_version"):
        model.predict(wav)
    assert model.predict(np.zeros((1, 3, 64, 64), np.float32)).n_segments == 1


def test_media_errors_name_the_file(trained, tmp_path):
    model = load_model(trained.bundle)
    with pytest.raises(MissingFileError, match="nothere.wav"):
        model.predict(tmp_path / "nothere.wav")
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(MediaError, match="bad.wav"):
        model.predict(bad)
    with pytest.raises(InputError, match="is a folder"):
        model.predict(tmp_path)


# --- video models ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """One generated face video (with an audio track) of the demo corpora's kind."""
    from emofast import synthetic

    rng = np.random.default_rng(3)
    frames = synthetic.render_face_frames("happiness", 6, rng, look=synthetic._speaker_look(rng),
                                          light=synthetic.DEMO_CORPORA["demo_studio"]["light"])
    path = tmp_path_factory.mktemp("video") / "face.mp4"
    synthetic.write_mp4(path, frames, 10, synthetic.synthesize_speech("happiness", rng))
    return path


def test_video_model_predicts_faces_as_in_training(face_video, tmp_path):
    from emofast.dataset import RowView, Standardizer
    from emofast.nn.cnn import GroupNormCNN

    torch.manual_seed(0)
    settings = baseline_settings(3, "tiny", 0.2)
    net = GroupNormCNN(**settings).eval()
    std = Standardizer(np.full((1, 3, 1, 1), 0.5, np.float32), np.full((1, 3, 1, 1), 0.2, np.float32))
    path = save_bundle(tmp_path / "faces.emofast", net, architecture="GroupNormCNN",
                       settings=settings, classes=["a", "b", "c"],
                       features=emofast.FaceExtractor({"size": 64}), standardizer=std)
    model = load_model(path)
    assert model.modality == "video"
    pred = model.predict(face_video, per_segment=True)
    crops = emofast.extract_faces(face_video, size=64).crops
    ref = predict_proba(net, std(RowView(crops, np.arange(len(crops)), channels_last=True)[:]))
    np.testing.assert_allclose(pred.segments, ref, atol=1e-6)
    assert pred.n_segments == len(crops)
    np.testing.assert_array_equal(model.predict(crops).posteriors, pred.posteriors)  # uint8 HWC
    wav = tmp_path / "speech.wav"
    from emofast.synthetic import synthesize_speech, write_wav

    write_wav(wav, synthesize_speech("anger", np.random.default_rng(0)))
    with pytest.raises(InputError, match=r"speech\.wav is an audio file.*reads faces"):
        model.predict(wav)


def test_audio_model_reads_the_audio_track_of_a_video(trained, face_video):
    assert load_model(trained.bundle).predict(face_video).n_segments >= 1


# --- refused, damaged, inconsistent -----------------------------------------------------------------

@pytest.mark.parametrize("zipped", [True, False])
def test_a_malicious_pickle_is_refused_and_never_run(tmp_path, monkeypatch, write_evil, zipped):
    monkeypatch.chdir(tmp_path)
    path = write_evil(tmp_path / "evil.emofast", zipped)
    with pytest.raises(InputError, match="is refused: .*never runs code") as exc:
        load_model(path)
    assert str(path) in str(exc.value)
    assert not (tmp_path / "PWNED").exists()


def _damage(trained, path, how):
    data = trained.bundle.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "checkpoint":
        from emofast.train import checkpoint

        checkpoint.save(path, "emofast.fold", {}, {"x": torch.zeros(2)})
    elif how == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:  # edit one field of an intact bundle
        obj = torch.load(trained.bundle, weights_only=True)
        meta = json.loads(obj["meta"])
        if how == "classes":
            meta["classes"] = meta["classes"][:2]
        elif how == "architecture":
            meta["architecture"] = "os.system"
        elif how == "weights":
            obj["weights"] = {k: v[:1] for k, v in obj["weights"].items()}
        elif how == "newer":
            obj["version"] = 99
        elif how == "meta":
            meta = "{not json"
        obj["meta"] = meta if isinstance(meta, str) else json.dumps(meta)
        torch.save(obj, path)


@pytest.mark.parametrize("how, message", [
    ("truncated", "is damaged or not an emofast model bundle"),
    ("random", "is refused|is damaged"),
    ("empty", "is damaged or not an emofast model bundle"),
    ("checkpoint", "is not an emofast model bundle"),
    ("foreign", "is not an emofast model bundle"),
    ("classes", "is damaged: 6 distinct class names needed"),
    ("architecture", "is damaged: unknown architecture 'os.system'"),
    ("weights", "is damaged: its weights do not fit"),
    ("newer", "layout version 99; .*upgrade emofast"),
    ("meta", "is damaged: JSONDecodeError"),
])
def test_bad_bundles_are_refused_naming_the_file(trained, tmp_path, how, message):
    path = tmp_path / f"{how}.emofast"
    _damage(trained, path, how)
    with pytest.raises(InputError, match=message) as exc:
        load_model(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_missing_bundle_and_folder(tmp_path):
    with pytest.raises(MissingFileError, match="nothere.emofast does not exist"):
        load_model(tmp_path / "nothere.emofast")
    with pytest.raises(InputError, match="is a folder"):
        read_bundle(tmp_path)


def test_save_refuses_inconsistent_parts(trained, tmp_path):
    final, out = trained.final, tmp_path / "x.emofast"
    parts = dict(architecture=final.architecture, settings=final.settings, classes=final.classes,
                 standardizer=final.standardizer, features=trained.fs)
    with pytest.raises(InputError, match="do not describe this model"):
        save_bundle(out, final.model, **{**parts, "settings": baseline_settings(6, "small")})
    with pytest.raises(InputError, match="6 distinct class names"):
        save_bundle(out, final.model, **{**parts, "classes": ["a", "b"]})
    with pytest.raises(InputError, match="unknown architecture 'PathNet'"):
        save_bundle(out, final.model, **{**parts, "architecture": "PathNet"})
    with pytest.raises(InputError, match="standardizer mean of shape"):
        save_bundle(out, final.model, **{**parts, "standardizer": (np.zeros(5), np.ones(5))})
    with pytest.raises(InputError, match="features must be"):
        save_bundle(out, final.model, **{**parts, "features": {"modality": "audio"}})
    with pytest.raises(InputError, match="plain JSON"):
        save_bundle(out, final, features=trained.fs, provenance={"when": object()})
    with pytest.raises(InputError, match="needs architecture"):
        save_bundle(out, final.model, features=trained.fs)
    assert not out.exists()


# --- training the final model ---------------------------------------------------------------------

def test_pretrain_is_train_final(trained):
    config = BaselineConfig(epochs=1)
    state, hist = pretrain(trained.data, config, seed=0, progress=False)
    final = trained.final.state_dict()
    assert state.keys() == final.keys()
    for k in state:
        torch.testing.assert_close(state[k], final[k], rtol=0, atol=0)
    assert len(hist.train_loss) == 1
    np.testing.assert_allclose(trained.final.standardizer.mean.ravel(),
                               trained.data.arrays().mean(axis=(0, 2, 3)), rtol=1e-4)


def test_final_model_epochs_follow_validation(trained, tmp_path):
    from types import SimpleNamespace

    from emofast.bundle.final import final_epochs, save_final_model

    evs = [SimpleNamespace(folds=[{"best_epoch": 1}, {"best_epoch": 3}, {"best_epoch": 2}],
                           name="cv", protocol="loso", scores=SimpleNamespace(war=0.5, uar=0.4),
                           fold_uar=[0.4] * 3)]
    assert final_epochs(evs) == 2 and final_epochs([]) is None
    config = BaselineConfig(epochs=9, val_speakers=1, patience=2)
    final, record = save_final_model(tmp_path / "f.emofast", trained.data, config,
                                     features=trained.fs, evaluations=evs, progress=False)
    assert final.config.epochs == 2 and final.config.val_speakers == 0
    assert len(final.history.train_loss) == 2
    assert record["cross_validation"][0]["uar"] == 0.4 and record["protocol"] == ["loso"]
    assert load_model(tmp_path / "f.emofast").provenance["epochs_from"].startswith("median")


# --- the package surface ---------------------------------------------------------------------------

def test_lazy_names_and_a_light_import():
    assert emofast.load_model is load_model and emofast.save_bundle is save_bundle
    assert emofast.bundle.Model is Model and emofast.bundle.export_onnx is export_onnx
    code = "import sys, emofast, emofast.bundle; emofast.load_model; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_settings_without_n_classes_are_damage(trained, tmp_path):
    obj = torch.load(trained.bundle, weights_only=True)
    meta = json.loads(obj["meta"])
    del meta["settings"]["n_classes"]
    obj["meta"] = json.dumps(meta)
    torch.save(obj, tmp_path / "n.emofast")
    with pytest.raises(InputError, match=r"n\.emofast is damaged: settings need an integer n_classes"):
        load_model(tmp_path / "n.emofast")
