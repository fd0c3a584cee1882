"""GroupNormCNN as a shared feature extractor with several classification heads."""
from __future__ import annotations

import pytest
import torch

from emofast.errors import InputError
from emofast.nn import GroupNormCNN


def _net(**kw):
    torch.manual_seed(0)
    return GroupNormCNN(4, input_size=16, channels=(4, 8), hidden=(12, 6), groups=2, dropout=0.0,
                        **kw).eval()


def test_embed_is_the_last_hidden_layer_and_head_zero_is_the_plain_forward():
    net = _net()
    x = torch.randn(3, 3, 16, 16)
    f = net.embed(x)
    assert f.shape == (3, 6) == (3, net.embed_dim)
    assert torch.equal(net(x), net.head(0)(f))
    assert torch.equal(net(x), net(x, head=0))
    assert net.n_heads == 1 and list(net.state_dict()) == list(_net().state_dict())


def test_added_heads_read_the_embedding():
    net = _net()
    x = torch.randn(2, 3, 16, 16)
    i = net.add_head()
    j = net.add_head(3)
    assert (i, j, net.n_heads) == (1, 2, 3)
    assert net(x, head=1).shape == (2, 4) and net(x, head=2).shape == (2, 3)
    assert torch.equal(net(x, head=2), net.head(2)(net.embed(x)))
    k = net.add_head(copy_from=0)
    assert torch.equal(net(x, head=k), net(x))
    assert "extra_heads.0.weight" in net.state_dict()
    with pytest.raises(InputError):
        net.head(9)
    with pytest.raises(InputError):
        net.add_head(3, copy_from=0)


def test_without_hidden_layers_the_embedding_is_the_flattened_maps():
    torch.manual_seed(0)
    net = GroupNormCNN(2, input_size=8, channels=(4,), hidden=(), groups=2, dropout=0.0)
    assert net.embed(torch.randn(1, 3, 8, 8)).shape == (1, 4 * 4 * 4) and net.embed_dim == 64
