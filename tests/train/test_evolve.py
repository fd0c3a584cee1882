"""Tests of emofast.nn.PathNet and emofast.train.evolve (tournaments, transfer, checkpoints)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emofast.nn import PathNet
from emofast.ops.pathnet import pathnet_reference
from emofast.train.evolve import EvolveConfig, Stage, evolve, evolve_chain, mutate_genotype


@pytest.fixture
def toy():
    """Separable 3-class toy data, 12 features."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, (3, 12))
    y = rng.integers(0, 3, 96)
    X = (centers[y] + rng.normal(0, 0.7, (96, 12))).astype(np.float32)
    return X, y


def small_net(num_classes=(3,), seed=0, dtype=torch.float32):
    return PathNet(12, num_classes, num_layers=3, num_modules=6, hidden=5, max_active=2,
                   generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_defaults_follow_the_papers():
    net = PathNet(12288, 6)
    assert (net.num_layers, net.num_modules, net.hidden, net.max_active) == (3, 20, 20, 4)
    assert tuple(net.weights[0].shape) == (20, 20, 12288)
    g = net.random_genotypes(20, torch.Generator().manual_seed(0))
    assert g.shape == (20, 3, 4) and all(len(set(row.tolist())) == 4 for row in g.reshape(-1, 4))


def test_forward_matches_reference_and_heads():
    net = small_net((3, 4), dtype=torch.float64)
    x = torch.randn(7, 3, 2, 2, dtype=torch.float64)  # flattened to 12
    g = net.random_genotypes(5, torch.Generator().manual_seed(1))
    logits = net(x, g, task=1)
    assert logits.shape == (5, 7, 4)
    feats = pathnet_reference(x.reshape(7, -1), net.layer_weights(), list(net.biases), g)
    torch.testing.assert_close(logits, F.linear(feats, net.heads[1].weight, net.heads[1].bias))
    with pytest.raises(ValueError, match="no head"):
        net(x, g, task=2)
    with pytest.raises(ValueError, match="features per sample"):
        net(torch.randn(7, 11, dtype=torch.float64), g)


def test_train_step_equals_autograd_sgd_on_summed_loss():
    net = small_net(dtype=torch.float64)
    ref = small_net(dtype=torch.float64)
    net.freeze(torch.zeros(3, 6, dtype=torch.bool).index_fill_(1, torch.tensor([1]), True))
    ref.load_state_dict(net.state_dict())
    x = torch.randn(8, 12, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    g = torch.tensor([[[0, 1], [1, 2], [3, 3]], [[1, 4], [0, 2], [2, 5]]])
    loss, correct = net.train_step(x, y, g, lr=0.1)
    logits = ref(x, g)
    want = torch.stack([F.cross_entropy(logits[p], y) for p in range(2)])
    want.sum().backward()
    with torch.no_grad():
        for p in ref.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    torch.testing.assert_close(loss, want.detach())
    assert torch.equal(correct, (logits.argmax(-1) == y).sum(1))
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)
    frozen_before = small_net(dtype=torch.float64).weights[0][1]
    torch.testing.assert_close(net.weights[0][1], frozen_before)  # frozen module untouched


def test_mutation_wrap_clamp_and_rates():
    rng = np.random.default_rng(0)
    g = np.array([[0, 1, 18, 19]] * 3)
    assert np.array_equal(mutate_genotype(g, 20, rng, rate=0.0), g)
    for boundary in ("wrap", "clamp"):
        muts = np.stack([mutate_genotype(g, 20, rng, rate=1.0, boundary=boundary) for _ in range(200)])
        assert muts.min() >= 0 and muts.max() <= 19
        if boundary == "wrap":
            assert (muts[..., 0] >= 18).any()  # 0 - 2 wraps to 18
        else:
            assert not (muts[..., 0] >= 3).any()
    diff = mutate_genotype(np.full((3, 4), 10), 20, rng, rate=1.0) - 10
    assert diff.min() >= -2 and diff.max() <= 2
    with pytest.raises(ValueError):
        mutate_genotype(g, 20, rng, boundary="reflect")


@pytest.mark.parametrize("mode,tournaments,mutate", [("sequential", 1, "loser"), ("parallel", 1, "winner"),
                                                     ("parallel", 3, "loser"), ("sequential", 2, "loser")])
def test_evolve_modes_learn(toy, mode, tournaments, mutate):
    X, y = toy
    net = small_net()
    cfg = EvolveConfig(population=8, generations=12, batch_size=16, lr=0.2, mode=mode, tournaments=tournaments,
                       mutate=mutate)
    res = evolve(net, X, y, task=0, config=cfg, seed=1)
    assert res.genotypes.shape == (8, 3, 2) and res.best.shape == (3, 2)
    assert len(res.history) == 12 and all(len(h["fitness"]) == 2 * tournaments for h in res.history)
    assert 0.0 <= res.best_fitness <= 1.0
    assert res.genotypes.min() >= 0 and res.genotypes.max() < 6
    assert res.best_fitness > 0.45  # chance is 1/3


def test_bad_config_and_data(toy):
    X, y = toy
    with pytest.raises(ValueError, match="mode"):
        evolve(small_net(), X, y, task=0, config=EvolveConfig(mode="async"))
    with pytest.raises(ValueError, match="tournaments"):
        evolve(small_net(), X, y, task=0, config=EvolveConfig(population=4, tournaments=3))
    with pytest.raises(ValueError, match="features"):
        evolve(small_net(), X[:, :5], y, task=0)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evolve(small_net(), Xn, y, task=0)


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_checkpoint_resume_is_exact(toy, tmp_path, mode):
    X, y = toy
    cfg = EvolveConfig(population=6, generations=5, batch_size=32, lr=0.1, mode=mode)
    full = small_net()
    r_full = evolve(full, X, y, task=0, config=cfg, seed=3)
    ck = tmp_path / "ck.pt"
    part = small_net()
    evolve(part, X, y, task=0, config=cfg, seed=3, checkpoint=ck, stop_after=2)
    resumed = small_net(seed=99)  # a new process: different initial weights, all restored from the file
    r_res = evolve(resumed, X, y, task=0, config=cfg, seed=3, checkpoint=ck)
    assert np.array_equal(r_full.genotypes, r_res.genotypes)
    assert np.array_equal(r_full.fitness, r_res.fitness, equal_nan=True)
    assert r_full.history == r_res.history
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_transfer_chain_fixes_paths_and_resumes(toy, tmp_path):
    X, y = toy
    rng = np.random.default_rng(5)
    y2 = (y + 1) % 3
    X2 = X + rng.normal(0, 0.1, X.shape).astype(np.float32)
    src = Stage("a", X[:48], y[:48], 3)
    src2 = Stage("b", X[48:], y[48:], 3)
    tgt = Stage("t", X2, y2, 3)
    cfg = EvolveConfig(population=6, generations=3, batch_size=16, lr=0.1)
    net = PathNet(12, (), num_layers=3, num_modules=6, hidden=5, max_active=2,
                  generator=torch.Generator().manual_seed(0))
    results = evolve_chain(net, [[src, src2], tgt, tgt], config=cfg, seed=2)
    assert len(results) == 3 and len(net.heads) == 3
    fixed1 = results[0].best_mask(6)
    assert np.array_equal(results[1].fixed, fixed1)
    assert np.array_equal(results[2].fixed, fixed1 | results[1].best_mask(6))
    assert np.array_equal(net.frozen.numpy(), results[2].fixed)

    # weights of the source's pathway are unchanged by the later stages
    net_src = PathNet(12, (), num_layers=3, num_modules=6, hidden=5, max_active=2,
                      generator=torch.Generator().manual_seed(0))
    evolve_chain(net_src, [[src, src2]], config=cfg, seed=2)
    for layer in range(3):
        sel = torch.from_numpy(fixed1[layer])
        assert torch.equal(net.weights[layer][sel], net_src.weights[layer][sel])

    # interrupted inside stage 1, resumed: same final network
    part = PathNet(12, (), num_layers=3, num_modules=6, hidden=5, max_active=2,
                   generator=torch.Generator().manual_seed(0))
    evolve_chain(part, [[src, src2], tgt, tgt], config=cfg, seed=2, checkpoint_dir=tmp_path, stop_after=(1, 1))
    again = PathNet(12, (), num_layers=3, num_modules=6, hidden=5, max_active=2,
                    generator=torch.Generator().manual_seed(0))
    resumed = evolve_chain(again, [[src, src2], tgt, tgt], config=cfg, seed=2, checkpoint_dir=tmp_path)
    assert np.array_equal(resumed[2].genotypes, results[2].genotypes)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_cli_evolve_scratch_vs_transfer(tmp_path):
    from emofast.cli import main

    rng = np.random.default_rng(0)

    def archive(path, n_utt, emotions):
        groups = np.repeat(np.arange(n_utt), 2)
        labels = np.array([emotions[i % len(emotions)] for i in range(n_utt)])
        X = rng.normal(0, 1, (2 * n_utt, 3, 64, 64)).astype(np.float32)
        X[:, 0, 0, :3] += 3 * np.eye(3)[[emotions.index(lab) for lab in labels[groups]]]
        np.savez(path, X=X, groups=groups, labels=labels, speakers=np.array([f"s{i % 2}" for i in range(n_utt)]))

    archive(tmp_path / "src.npz", 12, ["anger", "fear", "sadness"])
    archive(tmp_path / "tgt.npz", 12, ["anger", "fear", "sadness"])
    out = tmp_path / "out"
    rc = main(["evolve", "--target", str(tmp_path / "tgt.npz"), "--source", str(tmp_path / "src.npz"),
               "--protocol", "loso", "--max-folds", "1", "--generations", "2", "--population", "4",
               "--steps-per-epoch", "1", "--out", str(out)])
    assert rc == 0
    for f in ("results.json", "results.txt", "table.txt", "learning_curves.png", "pathways.png"):
        assert (out / f).exists()
    assert "src -> tgt, loso" in (out / "table.txt").read_text()


def _separable(d=64, classes=4, sep=1.0, n=512, seed=0):
    """Gaussian classes with means ``sep * N(0, I)`` in ``d`` dimensions: a train and a test draw."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((classes, d)) * sep

    def draw(k):
        y = rng.integers(0, classes, k)
        return (mu[y] + rng.standard_normal((k, d))).astype(np.float32), y

    return draw(n), draw(n)


def test_init_keeps_signal_through_the_mean_of_modules():
    # Root cause of the "one class everywhere" runs: with nn.Linear's init the mean over N = 4 modules
    # shrinks the sample-dependent part of every layer, so the last layer is nearly constant.
    (X, _), _ = _separable(d=512)
    x = torch.from_numpy(X)
    spread = {}
    for init in ("torch", "mean-he"):
        net = PathNet(512, 4, generator=torch.Generator().manual_seed(0), init=init)
        with torch.no_grad():
            f = net.features(x, net.random_genotypes(8, torch.Generator().manual_seed(1)))
        spread[init] = float(f.std(dim=1).mean())  # across samples, per pathway and unit
    assert spread["mean-he"] > 10 * spread["torch"]
    with pytest.raises(ValueError, match="init"):
        PathNet(12, 3, init="xavier")


def test_evolution_with_paper_settings_learns_a_separable_problem():
    # Regression: papers' settings (population 20, lr 0.02, batch 64, one epoch per contender), 10
    # generations, 4 separable classes. Before the "mean-he" init this stayed at the majority class.
    (X, y), (Xt, yt) = _separable()
    net = PathNet(64, 4, generator=torch.Generator().manual_seed(0))
    res = evolve(net, X, y, task=0, config=EvolveConfig(generations=10), seed=0)
    Xt = res.standardizer(Xt)  # the training statistics evolve() standardised with
    pred = net.predict_proba(torch.from_numpy(Xt), torch.from_numpy(res.best[None]))[0].argmax(1).numpy()
    assert res.best_fitness > 0.5
    assert np.mean(pred == yt) > 0.5  # chance 0.25
    assert len(np.unique(pred)) == 4


def test_min_steps_lengthens_short_epochs(toy):
    X, y = toy  # 96 samples, batch 64: one step per contender by the papers' rule
    seen = {}
    for min_steps in (1, 5):
        net = small_net()
        calls = []
        orig = net.train_step
        net.train_step = lambda *a, **k: calls.append(1) or orig(*a, **k)
        evolve(net, X, y, task=0, config=EvolveConfig(population=4, generations=2, min_steps=min_steps), seed=0)
        seen[min_steps] = len(calls)
    assert seen == {1: 2 * 2 * 1, 5: 2 * 2 * 5}
    with pytest.raises(ValueError, match="min_steps"):
        EvolveConfig(min_steps=0).validate()
