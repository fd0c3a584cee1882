"""GroupNormCNN's ``norm`` (group or batch) and ``set_trainable("fc")``; the chain's head
transfer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emofast.errors import InputError
from emofast.experiments.baseline import BaselineConfig, drop_head, load_transfer, make_baseline
from emofast.train.fit import fit


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_both_norms_train(norm):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 16)
    X = rng.normal(size=(32, 3, 64, 64)).astype(np.float32) + y[:, None, None, None] * 0.5
    model = make_baseline(2, "tiny", 0.0, norm)
    kind = torch.nn.GroupNorm if norm == "group" else torch.nn.BatchNorm2d
    assert any(isinstance(m, kind) for m in model.modules())
    config = BaselineConfig(epochs=4, batch_size=8, lr=3e-3, norm=norm)
    hist = fit(model, X, y, config.fit_config(0, False))
    assert hist.train_loss[-1] < hist.train_loss[0]


def test_fc_only_freezes_the_conv_blocks():
    torch.manual_seed(0)
    model = make_baseline(3).freeze_features()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X = np.random.default_rng(1).normal(size=(12, 3, 64, 64)).astype(np.float32)
    fit(model, X, np.arange(12) % 3, BaselineConfig(epochs=1, batch_size=4).fit_config(0, False))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("features."))
    assert not torch.equal(before["classifier.1.weight"], after["classifier.1.weight"])
    assert all(p.requires_grad for p in model.set_trainable("all").parameters())
    with pytest.raises(InputError):
        model.set_trainable("conv")
    with pytest.raises(InputError):
        BaselineConfig(norm="layer")


def test_drop_head_keeps_a_fresh_output_layer():
    src = make_baseline(4).state_dict()
    model = make_baseline(3)
    load_transfer(model, drop_head(src))
    assert torch.equal(model.state_dict()["features.0.weight"], src["features.0.weight"])
    assert model.head(0).out_features == 3
    with pytest.raises(RuntimeError):
        load_transfer(make_baseline(3), src)
