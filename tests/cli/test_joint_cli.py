"""``emofast joint`` on the quick demo corpora: every arm in both directions, Table 7 in the
report, refusals in one line."""
from __future__ import annotations

import json

import pytest

from emofast import cli


@pytest.fixture(scope="module")
def store(demo_pair_store):
    return demo_pair_store


def test_joint_both_directions_writes_every_arm_and_table_7(store, tmp_path, capsys):
    out = tmp_path / "joint"
    rc = cli.main(["joint", str(store), "--target", "demo_phone", "--source", "demo_studio",
                   "--protocol", "loso", "--max-folds", "1", "--steps", "3",
                   "--align", "none", "contrastive", "mmd+dann", "--both-directions",
                   "--labels", "anger,happiness,sadness", "--lambdas", "1", "1", "0.5",
                   "--batch", "3", "--out", str(out), "--no-plots", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    data = json.loads((out / "results.json").read_text())
    evs = data["evaluations"]
    assert len(evs) == 2 * 5
    assert [e["info"]["arm"] for e in evs[:5]] == ["target", "source", "none", "contrastive",
                                                   "mmd+dann"]
    assert {e["info"]["target"] for e in evs} == {"demo_phone", "demo_studio"}
    for e in evs:
        assert e["classes"] == ["anger", "happiness", "sadness"] and len(e["fold_war"]) == 1
        assert e["info"]["lambdas"] == [1.0, 1.0, 0.5] and e["info"]["batch_size"] == 3
        assert e["folds"][0]["steps"] == 3
    cells = data["table7"]["loso"]["war"]
    assert set(cells) == {"target only", "source only", "combined (2 CE)", "joint (contrastive)",
                          "joint (mmd+dann)"}
    assert set(cells["joint (contrastive)"]) == {"demo_phone", "demo_studio"}
    report = (out / "results.txt").read_text()
    assert "Table 7 shape: WAR" in report and "Table 7 shape: UAR" in report
    assert "joint (contrastive)" in text and "Avg." in text
    assert (out / "checkpoints" / "loso" / "demo_phone" / "contrastive" / "fold1.pt").is_file()


def test_joint_refuses_bad_input_in_one_line(store, tmp_path, capsys):
    rc = cli.main(["joint", str(store), "--target", "demo_phone", "--source", "demo_studio",
                   "--align", "cosine", "--out", str(tmp_path / "a")])
    assert rc == 1 and "unknown alignment" in capsys.readouterr().err
    rc = cli.main(["joint", str(store), "--target", "demo_phone", "--source", "nowhere",
                   "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("emofast joint: error:") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        cli.main(["joint", str(store), "--target", "demo_phone", "--source", "demo_studio",
                  "--mixup", "0.2"])
