"""``emofast evaluate --save-model``, ``emofast predict`` and bad input on the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emofast import cli
from emofast.bundle import load_model


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    """A bundle written by ``emofast evaluate --save-model`` (2 folds, 1 epoch), and its stdout."""
    out = tmp_path_factory.mktemp("evaluate")
    argv = ["evaluate", str(trained.store), "--corpus", "demo_phone", "--folds", "2", "--epochs",
            "1", "--out", str(out / "report"), "--no-plots", "--no-progress", "--no-checkpoint",
            "--save-model", str(out / "phone.emofast")]
    return out / "phone.emofast", argv, cli.main(argv)


def test_evaluate_save_model_writes_a_bundle_with_provenance(saved, trained, capsys):
    path, argv, rc = saved
    assert rc == 0
    model = load_model(path)
    p = model.provenance
    assert p["command"] == ["emofast", *argv]
    assert p["corpora"] == ["demo_phone"] and p["protocol"] == ["kfold"]
    assert p["cross_validation"][0]["folds"] == 2 and p["utterances"] == trained.data.n_utterances
    assert p["config"]["epochs"] == 1 and p["epochs_from"] == "config.epochs"
    assert model.classes == trained.data.classes
    assert model.features["config"] == trained.fs.settings["config"]
    report = json.loads((path.parent / "report" / "results.json").read_text())
    assert report["evaluations"][0]["protocol"] == "kfold"


def test_predict_table(saved, trained, capsys):
    wavs = sorted(trained.roots["demo_phone"].rglob("*.wav"))[:2]
    assert cli.main(["predict", str(saved[0]), *map(str, wavs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["file", "label", *trained.data.classes]
    rows = lines[2:]
    assert len(rows) == 2 and rows[0].startswith(str(wavs[0]))
    expected = load_model(saved[0]).predict(wavs[0]).posteriors
    np.testing.assert_allclose([float(v) for v in rows[0].split()[2:]], expected, atol=5e-4)


def test_predict_json_per_segment(saved, trained, capsys):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[0]
    assert cli.main(["predict", str(saved[0]), str(wav), "--per-segment", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["classes"] == trained.data.classes and data["modality"] == "audio"
    pred = data["predictions"][0]
    assert pred["file"] == str(wav) and len(pred["segments"]) == pred["n_segments"]
    assert sum(pred["posteriors"].values()) == pytest.approx(1.0)


def test_predict_per_segment_table(saved, trained, capsys):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[0]
    assert cli.main(["predict", str(saved[0]), str(wav), "--per-segment"]) == 0
    out = capsys.readouterr().out
    n = load_model(saved[0]).predict(wav).n_segments
    assert out.count("  segment ") == n


def _one_line_error(capsys, *fragments):
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return captured.out


def test_bad_media_files_each_get_one_line(saved, trained, tmp_path, capsys):
    wav = sorted(trained.roots["demo_phone"].rglob("*.wav"))[0]
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    assert cli.main(["predict", str(saved[0]), str(tmp_path / "gone.wav"), str(wav), str(bad)]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert "gone.wav does not exist" in errors[0] and str(bad) in errors[1]
    assert str(wav) in captured.out  # the good file is still predicted


@pytest.mark.parametrize("what", ["missing", "folder", "text", "checkpoint", "truncated", "evil"])
def test_bad_bundles_give_one_line(saved, trained, tmp_path, monkeypatch, capsys, write_evil,
                                   what):
    monkeypatch.chdir(tmp_path)
    wav = str(sorted(trained.roots["demo_phone"].rglob("*.wav"))[0])
    path = tmp_path / f"{what}.emofast"
    if what == "folder":
        path.mkdir()
    elif what == "text":
        path.write_text("hello\n")
    elif what == "checkpoint":
        from emofast.train import checkpoint

        checkpoint.save(path, "emofast.fold", {}, {})
    elif what == "truncated":
        path.write_bytes(saved[0].read_bytes()[:1000])
    elif what == "evil":
        write_evil(path, zipped=True)
    assert cli.main(["predict", str(path), wav]) == 1
    _one_line_error(capsys, "emofast predict: error:", str(path))
    assert not (tmp_path / "PWNED").exists()


def test_wrong_modality(trained, tmp_path, capsys):
    from emofast import FaceExtractor, save_bundle

    final = trained.final
    path = save_bundle(tmp_path / "faces.emofast", final, features=FaceExtractor())
    wav = str(sorted(trained.roots["demo_phone"].rglob("*.wav"))[0])
    assert cli.main(["predict", str(path), wav]) == 1
    _one_line_error(capsys, wav, "is an audio file", "reads faces")


@pytest.mark.parametrize("extra, message", [
    (["--model", "logreg"], "--model logreg cannot be saved"),
])
def test_save_model_refused_before_any_work(trained, tmp_path, capsys, extra, message):
    argv = ["evaluate", str(trained.store), "--out", str(tmp_path / "r"), "--save-model",
            str(tmp_path / "m.emofast"), *extra]
    assert cli.main(argv) == 1
    _one_line_error(capsys, message)
    assert not (tmp_path / "r").exists()


def test_save_model_into_a_missing_folder(trained, tmp_path, capsys):
    argv = ["evaluate", str(trained.store), "--out", str(tmp_path / "r"), "--save-model",
            str(tmp_path / "no" / "m.emofast")]
    assert cli.main(argv) == 1
    _one_line_error(capsys, "does not exist")


def test_speaker_normalised_model_predicts_recordings_of_one_speaker(trained, tmp_path, capsys):
    """``--normalize speaker --save-model``: the bundle records the normalisation, predict needs
    --same-speaker and normalises the files by their pooled statistics, as training did."""
    from emofast import dataset
    from emofast.bundle.storage import read_bundle

    path = tmp_path / "spk.emofast"
    argv = ["evaluate", str(trained.store), "--corpus", "demo_phone", "--folds", "2", "--epochs",
            "1", "--normalize", "speaker", "--out", str(tmp_path / "r"), "--no-plots",
            "--no-progress", "--no-checkpoint", "--save-model", str(path)]
    assert cli.main(argv) == 0
    assert "--same-speaker" in capsys.readouterr().out
    model = load_model(path)
    assert model.normalization == "speaker" and read_bundle(path).normalization == "speaker"

    speaker = trained.data.speakers[0]       # demo layout: <root>/<speaker>/<speaker>_<emotion>_<n>.wav
    wavs = sorted(str(w) for w in (trained.roots["demo_phone"] / speaker).glob("*.wav"))
    assert len(wavs) >= 2
    assert cli.main(["predict", str(path), *wavs]) == 1
    _one_line_error(capsys, "--same-speaker")
    assert cli.main(["predict", str(path), "--same-speaker", "--json", *wavs]) == 0
    got = json.loads(capsys.readouterr().out)["predictions"]

    # by hand: the speaker's segments standardised by their own per-band statistics, then the
    # bundle's training standardisation, then the network
    segs = [model.segments(w) for w in wavs]
    pooled = np.concatenate(segs)
    own = dataset.Standardizer.fit(pooled, per="band")
    for g, seg in zip(got, segs):
        expected = model.segment_posteriors(own(seg)).mean(0)
        np.testing.assert_allclose(list(g["posteriors"].values()), expected, atol=1e-5)
    with pytest.raises(Exception, match="same_speaker"):
        model.predict(wavs[0])
    assert len(model.predict(wavs, same_speaker=True)) == len(wavs)
