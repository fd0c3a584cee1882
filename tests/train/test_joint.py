"""Joint cross-domain learning (Algorithm 1): the loss, its reductions, its effect, determinism."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from emofast.errors import InputError
from emofast.nn import GroupNormCNN
from emofast.nn.domain import mmd_loss
from emofast.train.joint import (JointConfig, JointTrainer, _BatchStream, fit_joint, parse_align)

torch.set_num_threads(1)


def _domain(n, seed, shift=0.0, scale=1.0, n_classes=3):
    """Inputs whose class is the loud band; a domain adds its own offset and gain."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    X[np.arange(n), 0, 2 * y, :] += 3.0
    return (scale * X + shift).astype(np.float32), y


def _net(seed=0, hidden=(8,)):
    torch.manual_seed(seed)
    return GroupNormCNN(3, input_size=8, channels=(4,), hidden=hidden, groups=2, dropout=0.0)


def _hand_ce(logits, y):
    return float(-(torch.log_softmax(logits, 1)[torch.arange(len(y)), y]).mean())


def _hand_contrastive(f1, f2, y1, y2, m):
    total = 0.0
    for i in range(len(f1)):
        for j in range(len(f2)):
            d2 = float(((f1[i] - f2[j]) ** 2).sum())
            total += 0.5 * d2 if y1[i] == y2[j] else 0.5 * max(0.0, m - d2)
    return total / (len(f1) * len(f2))


def _fixed_batches(k=3):
    X1, y1 = _domain(k, 1)
    X2, y2 = _domain(k, 2, shift=0.5)
    y2 = np.array([0, 0, 2][:k])
    return [(torch.from_numpy(X1), torch.from_numpy(y1)), (torch.from_numpy(X2), torch.from_numpy(y2))]


def test_the_loss_is_the_hand_computed_sum_of_eq_3():
    batches = _fixed_batches()
    (x1, y1), (x2, y2) = batches
    net = _net()
    with torch.no_grad():
        f1, f2 = net.embed(x1), net.embed(x2)
    d2 = ((f1[:, None] - f2[None]) ** 2).sum(-1)
    margin = float(d2.median())  # some negative pairs inside the margin, some beyond
    cfg = JointConfig(lambdas=(0.7, 1.3, 0.5), margin=margin, align="contrastive+mmd+dann",
                      lambda_mmd=0.25, lambda_dann=0.4)
    trainer = JointTrainer(net, (x1.numpy(), y1.numpy()), (x2.numpy(), y2.numpy()), cfg)
    terms = trainer.terms(batches)
    with torch.no_grad():
        ce1 = _hand_ce(net.head(0)(f1), y1)
        ce2 = _hand_ce(net.head(1)(f2), y2)
        lc = _hand_contrastive(f1, f2, y1, y2, margin)
        lmmd = float(mmd_loss(f1, f2))
        domain = torch.tensor([0, 0, 0, 1, 1, 1])
        ldann = float(F.cross_entropy(trainer.domain_classifier.net(torch.cat([f1, f2])), domain))
    assert terms["ce1"].item() == pytest.approx(ce1, rel=1e-5)
    assert terms["ce2"].item() == pytest.approx(ce2, rel=1e-5)
    assert terms["contrastive"].item() == pytest.approx(lc, rel=1e-5)
    assert terms["mmd"].item() == pytest.approx(lmmd, rel=1e-4, abs=1e-6)
    assert terms["dann"].item() == pytest.approx(ldann, rel=1e-5)
    expected = 0.7 * ce1 + 1.3 * ce2 + 0.5 * lc + 0.25 * lmmd + 0.4 * ldann
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert 0 < lc and any(y1[i] != y2[j] and d2[i, j] < margin for i in range(3) for j in range(3))


def test_both_heads_classify_both_batches_as_algorithm_1_writes_it():
    batches = _fixed_batches()
    (x1, y1), (x2, y2) = batches
    net = _net()
    trainer = JointTrainer(net, (x1.numpy(), y1.numpy()), (x2.numpy(), y2.numpy()),
                           JointConfig(heads="both"))
    terms = trainer.terms(batches)
    with torch.no_grad():
        f1, f2 = net.embed(x1), net.embed(x2)
        for h, key in ((0, "ce1"), (1, "ce2")):
            want = _hand_ce(net.head(h)(f1), y1) + _hand_ce(net.head(h)(f2), y2)
            assert terms[key].item() == pytest.approx(want, rel=1e-5)


def test_without_alignment_it_is_two_cross_entropies():
    X1, y1 = _domain(20, 1)
    X2, y2 = _domain(14, 2, shift=1.0)
    none = JointTrainer(_net(), (X1, y1), (X2, y2), JointConfig(align="none", batch_size=4))
    zero = JointTrainer(_net(), (X1, y1), (X2, y2),
                        JointConfig(align="contrastive", lambdas=(1, 1, 0), batch_size=4))
    batches = none.batches()
    zero.batches()  # both streams at the same place
    terms = none.terms(batches)
    assert set(terms) == {"loss", "ce1", "ce2", "acc1", "acc2"}
    with torch.no_grad():
        (x1, b1), (x2, b2) = batches
        want = _hand_ce(none.net(x1), b1) + _hand_ce(none.net(x2, head=1), b2)
    assert terms["loss"].item() == pytest.approx(want, rel=1e-5)
    for _ in range(5):
        a, b = none.step(), zero.step()
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and "contrastive" in b
    for p, q in zip(none.net.parameters(), zero.net.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def _cross_domain_ratio(net, X1, y1, X2, y2):
    """Mean squared distance of same-class cross-domain pairs over that of different-class ones."""
    with torch.no_grad():
        net.eval()
        f1, f2 = net.embed(torch.from_numpy(X1)), net.embed(torch.from_numpy(X2))
    d2 = ((f1[:, None] - f2[None]) ** 2).sum(-1)
    same = torch.from_numpy(y1[:, None] == y2[None, :])
    return float(d2[same].mean() / d2[~same].mean())


def test_the_contrastive_term_pulls_same_class_cross_domain_embeddings_together():
    X1, y1 = _domain(60, 1)
    X2, y2 = _domain(60, 2, shift=1.5, scale=0.6)
    ratios = {}
    for align in ("none", "contrastive"):
        net = _net(1)
        before = _cross_domain_ratio(net, X1, y1, X2, y2)
        fit_joint(net, (X1, y1), (X2, y2),
                  JointConfig(align=align, lambdas=(1, 1, 1.0), margin=4.0, batch_size=4,
                              steps=300, lr=3e-3, seed=1, progress=False))
        ratios[align] = _cross_domain_ratio(net, X1, y1, X2, y2)
    assert ratios["contrastive"] < 0.6 * ratios["none"]
    assert ratios["contrastive"] < before


def test_a_seed_makes_training_deterministic():
    X1, y1 = _domain(16, 1)
    X2, y2 = _domain(10, 2, shift=1.0)

    def run(seed):
        net = _net()
        cfg = JointConfig(align="contrastive+dann+mmd", epochs=2, seed=seed, progress=False,
                          freq_masks=1, mask_width=2)
        hist = fit_joint(net, (X1, y1), (X2, y2), cfg)
        return hist, net.state_dict()

    (h1, s1), (h2, s2), (h3, _) = run(3), run(3), run(4)
    assert h1.train_loss == h2.train_loss and h1.terms == h2.terms
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert h1.train_loss != h3.train_loss
    assert h1.steps == 16 and len(h1.train_loss) == 2  # 2 passes over the larger corpus, K = 2
    assert set(h1.terms) == {"ce1", "ce2", "contrastive", "mmd", "dann", "domain_acc"}


def test_one_corpus_epochs_steps_and_callbacks():
    X1, y1 = _domain(9, 1)
    net = _net()
    seen = []
    hist = fit_joint(net, (X1, y1), None,
                     JointConfig(align="none", epochs=3, batch_size=4, progress=False),
                     evaluate=lambda m: seen.append(m.training) or 0.5,
                     select=lambda m: -len(seen), )
    assert hist.steps == 9 and len(hist.train_loss) == 3 and hist.train_acc2 == []
    assert seen == [False] * 3 and hist.best_epoch == 1 and hist.eval_acc == [0.5] * 3
    assert net.n_heads == 1
    partial = fit_joint(_net(), (X1, y1), None,
                        JointConfig(align="none", steps=4, batch_size=4, progress=False))
    assert partial.steps == 4 and len(partial.train_loss) == 2  # 3 steps, then 1
    with pytest.raises(InputError, match="two corpora"):
        fit_joint(_net(), (X1, y1), None, JointConfig(progress=False))


def test_labels_must_index_the_shared_classes():
    X1, y1 = _domain(6, 1)
    with pytest.raises(InputError, match="shared class"):
        JointTrainer(_net(), (X1, y1), (X1, y1 + 1), JointConfig())
    with pytest.raises(InputError, match="labels"):
        JointTrainer(_net(), (X1, y1[:3]), (X1, y1), JointConfig())
    with pytest.raises(InputError, match="shape"):
        JointTrainer(_net(), (X1, y1), (X1[:, :, :4], y1), JointConfig())


def test_config_checks_and_alignment_names():
    assert parse_align("mmd+contrastive") == ("contrastive", "mmd")
    assert parse_align(["dann"]) == ("dann",) and parse_align("none") == ()
    assert JointConfig(align="none").align_name == "none"
    cfg = JointConfig()
    assert (cfg.lambdas, cfg.batch_size, cfg.align) == ((1.0, 1.0, 0.01), 2, ("contrastive",))
    assert cfg.total_steps(10, 3) == 10 * 5 and JointConfig(steps=7).total_steps(100) == 7
    for bad in (dict(align="none+mmd"), dict(align="cosine"), dict(lambdas=(1, 1)),
                dict(lambdas=(1, -1, 0)), dict(mixup=0.2), dict(heads="one"),
                dict(align="mmd", batch_size=1), dict(steps=0), dict(form="x")):
        with pytest.raises(InputError):
            JointConfig(**bad)


def test_batch_stream_draws_exactly_k_and_covers_every_row_each_pass():
    s = _BatchStream(5, 2, np.random.default_rng(0))
    rows = np.concatenate([s.next() for _ in range(5)])  # two passes
    assert all(np.bincount(rows, minlength=5) == 2)
    tiny = _BatchStream(1, 3, np.random.default_rng(0))
    assert tiny.next().tolist() == [0, 0, 0]


def test_fused_and_reference_losses_train_alike():
    from emofast.ops import contrastive_loss_reference

    X1, y1 = _domain(12, 1)
    X2, y2 = _domain(12, 2, shift=1.0)
    a, b = _net(), copy.deepcopy(_net())
    cfg = JointConfig(steps=6, lambdas=(1, 1, 0.5), progress=False)
    ha = fit_joint(a, (X1, y1), (X2, y2), cfg)
    hb = fit_joint(b, (X1, y1), (X2, y2), cfg, contrastive_fn=contrastive_loss_reference)
    assert np.allclose(ha.terms["contrastive"], hb.terms["contrastive"], rtol=1e-4)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
