"""The fusion paper's per-modality sequence model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emofast.nn import SequenceClassifier
from emofast.nn.sequence import fit_sequences, pad_sequences, predict_sequences


def test_shapes_and_paper_sizes():
    net = SequenceClassifier(12, 5)
    assert net.hidden[0].out_features == 128 and net.lstm.hidden_size == 128
    assert net.dropout.p == 0.5 and net.softmax.out_features == 5
    out = net.eval()(torch.randn(4, 9, 12), torch.tensor([9, 3, 1, 6]))
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    assert net(torch.randn(2, 3, 12)).shape == (2, 5)          # no lengths: all full


def test_weight_decay_on_softmax_layer_only():
    net = SequenceClassifier(6, 3)
    groups = net.param_groups()
    soft = {id(p) for p in net.softmax.parameters()}
    assert groups[1]["weight_decay"] == 1e-4 and {id(p) for p in groups[1]["params"]} == soft
    assert groups[0]["weight_decay"] == 0.0 and not soft & {id(p) for p in groups[0]["params"]}
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(net.parameters()))


def test_padding_does_not_change_a_sequence_output():
    torch.manual_seed(0)
    net = SequenceClassifier(8, 4, hidden=16, lstm=16).eval()
    seqs = [np.random.default_rng(i).normal(size=(n, 8)).astype(np.float32)
            for i, n in enumerate([5, 2, 11])]
    alone = [net(torch.from_numpy(s)[None]) for s in seqs]
    x, lengths = pad_sequences(seqs)
    x_garbage = x.clone()
    for i, n in enumerate(lengths):
        x_garbage[i, n:] = 1e3                                   # padding full of garbage
    batched, garbage = net(x, lengths), net(x_garbage, lengths)
    for i in range(3):
        torch.testing.assert_close(batched[i], alone[i][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(garbage[i], alone[i][0], atol=1e-5, rtol=1e-5)
    longer = torch.cat([x, torch.full((3, 4, 8), -7.0)], dim=1)  # extra padded frames
    torch.testing.assert_close(net(longer, lengths), batched)


def test_bad_inputs_are_refused():
    net = SequenceClassifier(4, 2)
    with pytest.raises(ValueError, match="expected"):
        net(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="lengths"):
        net(torch.zeros(2, 3, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError):
        SequenceClassifier(4, 1)


def test_learns_a_toy_sequence_task():
    """Class = whether a marker frame comes in the first or the second half: order matters, the
    mean over frames carries nothing."""
    rng = np.random.default_rng(0)

    def make(n):
        seqs, y = [], []
        for _ in range(n):
            t = int(rng.integers(6, 14))
            s = rng.normal(0, 0.3, size=(t, 4)).astype(np.float32)
            label = int(rng.integers(2))
            pos = int(rng.integers(0, t // 2)) if label == 0 else int(rng.integers(t // 2 + 1, t))
            s[pos, 0] += 3.0
            seqs.append(s)
            y.append(label)
        return seqs, np.array(y)

    train, y_train = make(160)
    test, y_test = make(100)
    torch.manual_seed(0)
    net = SequenceClassifier(4, 2, hidden=32, lstm=32, dropout=0.1)
    curve = fit_sequences(net, train, y_train, epochs=15, batch_size=16, lr=5e-3, seed=0)
    assert curve["train_loss"][-1] < curve["train_loss"][0]
    post = predict_sequences(net, test)
    assert post.shape == (100, 2) and np.allclose(post.sum(1), 1.0)
    assert np.mean(post.argmax(1) == y_test) > 0.85
