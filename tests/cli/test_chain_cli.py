"""``emofast chain`` on the quick demo corpora (tiny width, 1 epoch): one row per stage, saved
stage models, a fresh head for another class set, a resumed rerun, refusals."""
from __future__ import annotations

import argparse
import json

import pytest

from emofast import cli
from emofast.commands.chain import parse_stage


@pytest.fixture(scope="module")
def store(demo_pair_store):
    return demo_pair_store


def test_chain_writes_one_row_per_stage_and_resumes(store, tmp_path, capsys):
    out = tmp_path / "chain"
    argv = ["chain", str(store), "--stage", "demo_studio:all", "--stage", "demo_phone/audio:fc",
            "--stage", "demo_studio:all", "--protocol", "kfold", "--folds", "2", "--max-folds",
            "1", "--epochs", "1", "--out", str(out), "--no-plots", "--no-progress"]
    assert cli.main(argv) == 0, capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    evs = data["evaluations"]
    assert [e["info"]["stage"] for e in evs] == [1, 2, 3]
    assert [e["info"]["trainable"] for e in evs] == ["all", "fc", "all"]
    assert [e["info"]["started_from"] for e in evs] == [None, "demo_studio", "demo_phone"]
    assert evs[0]["info"]["fine_tuned"] is False and evs[1]["info"]["fine_tuned"] is True
    for stage in data["stages"]:
        assert stage["bundle"].endswith(".emofast") and not stage["resumed"]
    assert (out / "models" / "stage2-demo_phone.pt").is_file()
    report = (out / "results.txt").read_text()
    assert "chain 2 demo_phone (fc) <- demo_studio" in report
    capsys.readouterr()
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "not retrained" in text
    again = json.loads((out / "results.json").read_text())
    assert all(s["resumed"] for s in again["stages"])
    assert [e["war"] for e in again["evaluations"]] == [e["war"] for e in evs]


def test_chain_new_head_when_classes_differ(store, tmp_path):
    from emofast import dataset
    from emofast.experiments.baseline import BaselineConfig
    from emofast.experiments.chain import ChainStage, run_chain

    def load(corpus):
        return dataset.from_feature_set(dataset.open_feature_set(store, corpus,
                                                                 default_settings=True))

    first = load("demo_studio")
    second = dataset.select_classes(load("demo_phone"), first.classes[:3])
    config = BaselineConfig(epochs=1)
    results = run_chain([ChainStage(first, "all", config), ChainStage(second, "fc", config)],
                        "kfold", out_dir=tmp_path, folds=2, max_folds=1, progress=False)
    ev = results[1].evaluation
    assert ev.classes == list(first.classes[:3]) and ev.info["new_head"] is True
    assert results[1].state["classifier.5.weight"].shape[0] == 3
    assert results[1].bundle is None and results[1].model_path.is_file()


def test_chain_refusals(store, tmp_path, capsys):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_stage("demo_phone:conv")
    assert parse_stage("savee/video:fc") == ("savee", "video", "fc")
    rc = cli.main(["chain", str(store), "--stage", "demo_studio:fc", "--out",
                   str(tmp_path / "a")])
    assert rc == 1 and "first stage" in capsys.readouterr().err
