"""The command line: demo end to end, features/evaluate on small inputs, bad input."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from emofast import cli


def _wav(path, seconds=0.8, sr=16000, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    y = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))
    sf.write(path, y.astype(np.float32), sr)


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "features", "evaluate", "evolve"):
        assert name in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "usage: emofast" in capsys.readouterr().out


def test_absent_command_is_listed_and_refused(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + ("nonexistent",))
    assert cli.main(["nonexistent", "--whatever"]) == 2
    assert "emofast.commands.nonexistent is absent" in capsys.readouterr().err


def test_python_dash_m_runs():
    proc = subprocess.run([sys.executable, "-m", "emofast", "--version"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("emofast ")


def test_demo_quick_end_to_end(tmp_path, demo_cache, capsys):
    out = tmp_path / "report"
    rc = cli.main(["demo", "--quick", "--out", str(out), "--cache", str(demo_cache),
                   "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "Method" in text and "WAR" in text and "UAR" in text
    assert "3-fold by utterance" in text
    data = json.loads((out / "results.json").read_text())
    ev = data["evaluations"][0]
    assert ev["leaky"] is False and ev["level"] == "utterance" and ev["protocol"] == "kfold"
    assert ev["n"] == 48  # every utterance of the quick corpus tested exactly once
    assert 0.0 <= ev["war"] <= 1.0 and len(ev["fold_war"]) == 3
    assert (out / "results.txt").read_text().startswith("emofast demo (quick)")
    # features are cached per generated corpus set (quick/full and seeds reuse utterance ids)
    corpora_set = next((demo_cache / "corpora").glob("*seed0-quick*"))
    assert (demo_cache / "features" / corpora_set.name / "demo_phone").is_dir()
    # PathNet scratch vs transfer is part of the same report
    assert [e["name"] for e in data["evaluations"][1:3]] == [
        "PathNet scratch, kfold", "PathNet demo_studio -> demo_phone, kfold"]
    # the joint-learning stage: Table 7's arms on the target's folds, and its table
    assert [e["info"]["arm"] for e in data["evaluations"][3:]] == [
        "target", "source", "none", "contrastive"]
    assert "Table 7 shape: WAR on demo_phone" in (out / "results.txt").read_text()
    assert "fixed_modules" in data["evaluations"][2]["folds"][0]
    pytest.importorskip("matplotlib")
    pngs = {p.name for p in out.glob("*.png")}
    assert {"pathways.png", "learning_curves.png"} <= pngs and len(pngs) == 3 * (3 + 4) + 2


@pytest.fixture(scope="module")
def store(tmp_path_factory, demo_roots):
    path = tmp_path_factory.mktemp("store")
    assert cli.main(["features", "demo", str(demo_roots["demo_studio"]), "--out", str(path),
                     "--no-progress"]) == 0
    return path


def test_features_reports_corpus_and_store(store, capsys):
    from emofast.store import FeatureStore

    fs = FeatureStore(store).open("demo_studio", "audio")
    assert len(fs) == 48 and fs.features.shape[1:] == (3, 64, 64)


def test_evaluate_store_kfold_and_leaky_segment(store, tmp_path, capsys):
    from emofast.protocols import LeakageWarning

    out = tmp_path / "ev"
    with pytest.warns(LeakageWarning):
        rc = cli.main(["evaluate", str(store), "--protocol", "kfold", "segment", "--folds", "2",
                       "--epochs", "1", "--out", str(out), "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "segment *" in text and "leaky" in text
    data = json.loads((out / "results.json").read_text())
    kinds = [(e["protocol"], e["level"], e["leaky"]) for e in data["evaluations"]]
    assert kinds == [("kfold", "utterance", False), ("segment", "segment", True)]
    assert not list(out.glob("*.png"))


def test_evaluate_loso(store, tmp_path, capsys):
    rc = cli.main(["evaluate", str(store), "--corpus", "demo_studio", "--protocol", "loso",
                   "--epochs", "1", "--labels", "anger,sadness", "--out", str(tmp_path),
                   "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["evaluations"][0]["classes"] == ["anger", "sadness"]
    assert len(data["evaluations"][0]["fold_war"]) == 4  # 4 speakers in the quick corpus


def test_evaluate_predictions_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    post = rng.dirichlet(np.ones(3), 40)
    np.savez(tmp_path / "p.npz", y_true=y, posteriors=post, classes=np.array(["a", "b", "c"]))
    assert cli.main(["evaluate", "--predictions", str(tmp_path / "p.npz"),
                     "--out", str(tmp_path / "r"), "--no-plots"]) == 0
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert data["evaluations"][0]["war"] == pytest.approx(np.mean(post.argmax(1) == y))


# ---------------------------------------------------------------------------------------- bad input

def _fails(argv, capsys, *needles):
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith(f"emofast {argv[0]}: error: ")
    for n in needles:
        assert n in err, err
    return err


def test_unknown_layout(tmp_path, capsys):
    for i in range(3):
        _wav(tmp_path / "corpus" / f"recording_{i}.wav", seed=i)
    _fails(["features", "auto", str(tmp_path / "corpus"), "--out", str(tmp_path / "s")],
           capsys, "unknown corpus layout")


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails(["features", "auto", str(tmp_path / "empty"), "--out", str(tmp_path / "s")],
           capsys, "empty")


def test_missing_folder(tmp_path, capsys):
    _fails(["features", "emodb", str(tmp_path / "nope"), "--out", str(tmp_path / "s")],
           capsys, "does not exist")


def test_mixed_corpora(tmp_path, capsys):
    _wav(tmp_path / "mixed" / "03a01Fa.wav")         # EMO-DB
    _wav(tmp_path / "mixed" / "DC" / "a01.wav")      # SAVEE
    _wav(tmp_path / "mixed" / "DC" / "sa02.wav")
    _wav(tmp_path / "mixed" / "1001_DFA_ANG_XX.wav")  # CREMA-D
    _fails(["features", "auto", str(tmp_path / "mixed"), "--out", str(tmp_path / "s")],
           capsys, "mixed corpora")


def test_unreadable_file_in_the_middle(tmp_path, demo_roots, capsys):
    root = tmp_path / "corpus"
    shutil.copytree(demo_roots["demo_phone"], root)
    wavs = sorted(root.rglob("*.wav"))
    bad = wavs[len(wavs) // 2]
    bad.write_bytes(b"RIFF\x00\x00garbage, not a wav file" * 4)
    rc = cli.main(["features", "demo", str(root), "--out", str(tmp_path / "s"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "files without features (reported and counted; the rest is kept): 1" in out
    assert bad.name in out
    assert f"{len(wavs) - 1} utterances" in out


def test_store_from_other_settings(tmp_path, demo_roots, capsys):
    from emofast.audio import LogMelConfig
    from emofast.corpora import load_corpus
    from emofast.store import FeatureStore

    utts = load_corpus("demo", demo_roots["demo_street"]).utterances[:6]
    FeatureStore(tmp_path / "s").extract("demo_street", utts, "audio",
                                         config=LogMelConfig(n_mels=32), progress=False)
    _fails(["evaluate", str(tmp_path / "s"), "--out", str(tmp_path / "r")], capsys, "settings")


def test_evaluate_missing_store(tmp_path, capsys):
    _fails(["evaluate", str(tmp_path / "none"), "--out", str(tmp_path / "r")], capsys,
           "does not exist", "emofast features")


def test_evaluate_keeps_every_label_and_runs_chosen_folds(store, tmp_path, capsys):
    rc = cli.main(["evaluate", str(store), "--protocol", "loso", "--epochs", "1",
                   "--fold-indices", "2", "--out", str(tmp_path), "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    ev = json.loads((tmp_path / "results.json").read_text())["evaluations"][0]
    assert len(ev["classes"]) == 6 and [f["fold"] for f in ev["folds"]] == [1]
    assert "fold 2 (1/1)" in text
    _fails(["evaluate", str(store), "--protocol", "loso", "--fold-indices", "9",
            "--out", str(tmp_path)], capsys, "out of range")


def test_errors_are_one_line_whatever_their_class(tmp_path, capsys, monkeypatch):
    import emofast.commands.evaluate as evaluate

    def shape_error(args):
        raise TypeError("features must be float32,\n  got int64")

    monkeypatch.setattr(evaluate, "run", shape_error)
    err = _fails(["evaluate", str(tmp_path)], capsys, "features must be float32, got int64")
    assert err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "file").write_text("x")
    _fails(["evolve", "--target", "x.npz", "--out", str(tmp_path / "file")], capsys,
           "not a folder")
