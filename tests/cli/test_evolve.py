"""``emofast evolve`` reading feature stores written by ``FeatureStore.extract`` (as ``emofast features`` does)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emofast.corpora import Utterance
from emofast.store import FeatureStore

EMOS = ["anger", "fear", "sadness"]


def _extract(path: str) -> np.ndarray:
    """Two (3, 64, 64) segments per utterance; the class shows as a bump on three features."""
    cls, seed = (int(v) for v in Path(path).read_text().split())
    X = np.random.default_rng(seed).normal(0, 1, (2, 3, 64, 64)).astype(np.float32)
    X[:, 0, 0, cls] += 3.0
    return X


def _store(root: Path, corpus: str, n_utt: int, offset: int) -> None:
    media = root.parent / f"media_{corpus}"
    media.mkdir(parents=True, exist_ok=True)
    utts = []
    for i in range(n_utt):
        p = media / f"u{i:02d}.wav"
        p.write_text(f"{i % 3} {offset + i}")
        utts.append(Utterance(f"u{i:02d}", corpus, f"s{i % 2}", EMOS[i % 3], p, "audio"))
    FeatureStore(root).extract(corpus, utts, "audio", extractor=_extract, workers=1, progress=False)


def test_evolve_reads_feature_stores(tmp_path):
    from emofast.cli import main

    _store(tmp_path / "tgt_store", "tgtcorpus", 12, 0)
    _store(tmp_path / "src_store", "srccorpus", 12, 100)
    out = tmp_path / "out"
    rc = main(["evolve", "--store", str(tmp_path / "tgt_store"), "--target", "tgtcorpus",
               "--source-store", str(tmp_path / "src_store"), "--source", "srccorpus",
               "--protocol", "kfold", "--folds", "2", "--max-folds", "1", "--generations", "2",
               "--population", "4", "--mode", "parallel", "--min-steps", "2", "--no-curves", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    scratch, transfer = res["evaluations"]
    assert scratch["classes"] == EMOS and len(scratch["folds"]) == 1
    cfg = transfer["info"]["evolve"]
    assert cfg["mode"] == "parallel" and cfg["min_steps"] == 2
    assert cfg["generations"] == 2 and cfg["population"] == 4
    assert transfer["folds"][0]["train_segments"] == 12  # 6 of 12 utterances, 2 segments each
    assert transfer["info"]["sources"] == ["srccorpus"]
    assert res["command"][:2] == ["emofast", "evolve"]
    assert "srccorpus -> tgtcorpus, kfold" in (out / "table.txt").read_text()


def test_evolve_store_errors(tmp_path, capsys):
    from emofast.cli import main

    def err(argv):
        assert main(argv) == 1
        return capsys.readouterr().err

    assert "--store" in err(["evolve", "--target", "emodb", "--out", str(tmp_path / "o")])
    assert "does not exist" in err(["evolve", "--store", str(tmp_path / "nope"), "--target", "emodb",
                                           "--out", str(tmp_path / "o")])
    _store(tmp_path / "s", "tgtcorpus", 6, 0)
    assert "other" in err(["evolve", "--store", str(tmp_path / "s"), "--target", "other", "--out", str(tmp_path / "o")])


def test_evolve_fold_indices_match_full_run(tmp_path):
    """``--fold-indices`` runs only the chosen folds (1-based), each with the seed it has in a full run,
    so a fold run alone reproduces that fold of the full run (source pathway included)."""
    from emofast.cli import main

    _store(tmp_path / "st", "tgtcorpus", 12, 0)
    _store(tmp_path / "st", "srccorpus", 12, 100)
    common = ["evolve", "--store", str(tmp_path / "st"), "--target", "tgtcorpus", "--source", "srccorpus",
              "--protocol", "kfold", "--folds", "3", "--generations", "2", "--population", "4",
              "--min-steps", "2", "--no-curves"]
    assert main(common + ["--out", str(tmp_path / "full")]) == 0
    assert main(common + ["--fold-indices", "3", "2", "--out", str(tmp_path / "sel")]) == 0
    full = json.loads((tmp_path / "full" / "results.json").read_text())["evaluations"]
    sel = json.loads((tmp_path / "sel" / "results.json").read_text())["evaluations"]
    for arm_full, arm_sel in zip(full, sel):
        assert [fd["fold"] for fd in arm_full["folds"]] == [0, 1, 2]
        assert [fd["fold"] for fd in arm_sel["folds"]] == [1, 2]
        for fd in arm_sel["folds"]:
            ref = arm_full["folds"][fd["fold"]]
            for key in ("war", "uar", "best", "best_fitness", "fixed_modules",
                        "source_best_fitness"):
                assert fd.get(key) == ref.get(key), key
    assert "fixed_modules" in sel[1]["folds"][0]
    assert main(common + ["--fold-indices", "4", "--out", str(tmp_path / "bad")]) == 1
