"""Joint learning on the one fold loop: arms in the same folds and seeds, the source whole in
training, shared classes, the Table 7 layout, resumable runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emofast import dataset
from emofast.errors import InputError
from emofast.experiments.joint import arm_label, evaluate_joint, shared_classes
from emofast.report import cross_corpus_table
from emofast.train import joint as joint_mod
from emofast.train.checkpoint import ResumeWarning
from emofast.train.joint import JointConfig

torch.set_num_threads(1)


def _corpus(name, emotions, n_speakers, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    n_utt = len(emotions) * n_speakers * 2
    labels = [emotions[i % len(emotions)] for i in range(n_utt)]
    speakers = [f"{name}{(i // len(emotions)) % n_speakers}" for i in range(n_utt)]
    groups = np.repeat(np.arange(n_utt), 2)
    X = rng.normal(size=(groups.size, 3, 16, 16)).astype(np.float32) + shift
    for u, e in enumerate(labels):
        X[groups == u, 0, 2 * sorted(emotions).index(e)] += 3.0
    return dataset.from_arrays(X, groups, labels, speakers, corpus=name)


def _make(n_classes):
    from emofast.nn import GroupNormCNN

    return GroupNormCNN(n_classes, input_size=16, channels=(4, 8), hidden=(8,), groups=2,
                        dropout=0.0)


CFG = JointConfig(steps=6, progress=False)


@pytest.fixture(scope="module")
def corpora():
    target = _corpus("tgt", ["anger", "fear", "sadness"], 3, 0)
    source = _corpus("src", ["anger", "happiness", "sadness"], 2, 1, shift=0.5)
    return target, source


def test_arms_share_folds_seeds_and_steps_and_the_source_trains_whole(corpora, monkeypatch):
    target, source = corpora
    calls = []
    real = joint_mod.fit_joint

    def spy(net, first, second, cfg, **kw):
        calls.append({"first": len(first[1]), "second": None if second is None else len(second[1]),
                      "align": cfg.align_name, "steps": cfg.steps, "seed": cfg.seed,
                      "first_is_source": first[0] is not None and not isinstance(first[0], np.ndarray)})
        return real(net, first, second, cfg, **kw)

    monkeypatch.setattr(joint_mod, "fit_joint", spy)
    arms = evaluate_joint(target, source, "loso", CFG, make_model=_make, progress=False)
    assert list(arms) == ["target", "source", "none", "contrastive"]
    shared_src = 2 * 2 * 2 * 2  # anger + sadness utterances of the source, 2 segments each
    by_arm = {k: calls[i * 3:(i + 1) * 3] for i, k in enumerate(arms)}  # 3 LOSO folds each
    for fold in range(3):
        row = [by_arm[k][fold] for k in arms]
        assert len({c["steps"] for c in row}) == 1 and len({c["seed"] for c in row}) == 1
        assert row[0]["seed"] == fold  # fold_seed(0, fold)
    assert all(c["second"] is None and not c["first_is_source"] for c in by_arm["target"])
    assert all(c["first"] == shared_src and c["second"] is None and c["first_is_source"]
               for c in by_arm["source"])
    assert all(c["second"] == shared_src for c in by_arm["none"] + by_arm["contrastive"])
    assert [c["align"] for c in by_arm["contrastive"]] == ["contrastive"] * 3
    assert {c["align"] for c in by_arm["none"] + by_arm["target"]} == {"none"}
    n_shared = 2 * 3 * 2  # target utterances of anger and sadness
    for key, ev in arms.items():
        assert ev.scores.n == n_shared and ev.classes == ["anger", "sadness"]
        assert ev.info["arm"] == key and ev.info["target"] == "tgt" and ev.info["source"] == "src"
        assert ev.info["dropped"] == {"target": {"fear": 6}, "source": {"happiness": 4}}
        assert len(ev.folds) == 3 and ev.folds[0]["steps"] == by_arm[key][0]["steps"]
        assert ("contrastive_loss" in ev.curves[0]) == (key == "contrastive")
    assert arms["contrastive"].name == "joint (contrastive) (src+tgt), loso"
    assert arms["source"].name == "source only (src -> tgt), loso"


def test_a_fold_alone_equals_the_same_fold_of_a_full_run(corpora):
    target, source = corpora
    full = evaluate_joint(target, source, "kfold", CFG, arms=["contrastive+mmd"], folds=2,
                          make_model=_make, progress=False)["contrastive+mmd"]
    one = evaluate_joint(target, source, "kfold", CFG, arms=["mmd+contrastive"], folds=2,
                         fold_indices=[1], make_model=_make, progress=False)["contrastive+mmd"]
    assert one.fold_war == full.fold_war[1:] and one.curves == full.curves[1:]


def test_the_table_7_layout_over_both_directions(corpora):
    target, source = corpora
    evs = []
    for t, s in ((target, source), (source, target)):
        evs += evaluate_joint(t, s, "kfold", CFG, arms=["target", "none", "contrastive"],
                              folds=2, max_folds=1, make_model=_make, progress=False).values()
    table = cross_corpus_table(evs, title="Table 7")
    lines = table.splitlines()
    assert lines[0] == "Table 7" and lines[2].split() == ["Method", "tgt", "src", "Avg."]
    rows = [ln.split("  ")[0].strip() for ln in lines[4:7]]
    assert rows == ["target only", "combined (2 CE)", "joint (contrastive)"]
    war = {ev.info["target"]: ev.scores.war for ev in evs if ev.info["arm"] == "contrastive"}
    assert lines[6].split()[-1] == f"{np.mean(list(war.values())):.2f}"


def test_resumes_from_its_checkpoints(corpora, tmp_path):
    target, source = corpora
    kw = dict(arms=["contrastive"], folds=2, make_model=_make, progress=False,
              checkpoint_dir=tmp_path)
    first = evaluate_joint(target, source, "kfold", CFG, **kw)["contrastive"]
    assert (tmp_path / "contrastive" / "fold2.pt").is_file()
    with pytest.warns(ResumeWarning):
        again = evaluate_joint(target, source, "kfold", CFG, **kw)["contrastive"]
    assert again.fold_war == first.fold_war


def test_shared_classes_and_refusals(corpora):
    target, source = corpora
    t, s = shared_classes(target, source, classes=["sadness", "anger", "fear"])
    assert t.classes == s.classes == ["sadness", "anger"]
    assert arm_label("mmd+dann") == "joint (mmd+dann)" and arm_label("none") == "combined (2 CE)"
    other = _corpus("x", ["fear", "happiness"], 2, 3)
    with pytest.raises(InputError, match="share fewer than two"):
        evaluate_joint(target, other, "loso", CFG, make_model=_make)
    flat = dataset.from_arrays(np.zeros((4, 5), np.float32), [0, 1, 2, 3],
                               ["anger", "sadness"] * 2, ["a", "a", "b", "b"])
    with pytest.raises(InputError, match="4-D"):
        evaluate_joint(flat, source, "loso", CFG)
    with pytest.raises(InputError):
        evaluate_joint(target, source, "loso", CFG, arms=["cosine"])


def test_validation_speakers_choose_the_epoch(corpora):
    target, source = corpora
    ev = evaluate_joint(target, source, "loso", JointConfig(epochs=2, progress=False),
                        arms=["contrastive"], val_speakers=1, max_folds=1, make_model=_make,
                        progress=False)["contrastive"]
    assert len(ev.curves[0]["val_uar"]) == 2 and ev.folds[0]["best_epoch"] in (1, 2)
