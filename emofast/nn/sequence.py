"""The fusion paper's per-modality sequence model: hidden layer → LSTM → dropout → softmax.

Huang et al. (multimodal fusion with transfer learning, §4.1): one 128-unit fully connected hidden
layer maps each frame's feature vector to the LSTM's input, one 128-unit LSTM layer reads the
sequence, dropout 0.5 after the LSTM, and a softmax regression layer with weight decay 1e-4
classifies the utterance. The audio and the visual network differ only in the input size.

Sequences have different lengths: a batch is padded to its longest sequence and *packed*
(:func:`torch.nn.utils.rnn.pack_padded_sequence`), so the LSTM never reads padding and the last
hidden state is that of each sequence's own last frame — padding cannot change an output (tested).

Examples
--------
>>> import torch
>>> from emofast.nn import SequenceClassifier
>>> net = SequenceClassifier(in_features=20, n_classes=4).eval()
>>> x = torch.randn(3, 7, 20)                 # (batch, longest length, features), zero padded
>>> net(x, lengths=torch.tensor([7, 5, 2])).shape
torch.Size([3, 4])
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["SequenceClassifier", "pad_sequences", "fit_sequences", "predict_sequences",
           "SOFTMAX_WEIGHT_DECAY"]

#: Weight decay of the softmax regression layer (the paper's 0.0001).
SOFTMAX_WEIGHT_DECAY = 1e-4


class SequenceClassifier(nn.Module):
    """Hidden layer → LSTM → dropout → linear softmax layer, over variable-length sequences.

    Parameters
    ----------
    in_features : int
        Size of one frame's feature vector.
    n_classes : int
    hidden : int, default 128
        Units of the fully connected hidden layer (ReLU) applied to every frame.
    lstm : int, default 128
        Units of the LSTM layer.
    dropout : float, default 0.5
        Dropout on the LSTM's final state, before the softmax layer.

    Notes
    -----
    ``forward`` returns logits; the softmax is the loss's (cross-entropy) or
    :func:`predict_sequences`'. Train with :meth:`param_groups`, which puts the paper's weight
    decay on the softmax layer only.
    """

    def __init__(self, in_features: int, n_classes: int, hidden: int = 128, lstm: int = 128,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if in_features < 1 or n_classes < 2 or hidden < 1 or lstm < 1:
            raise ValueError(f"need in_features, hidden, lstm >= 1 and n_classes >= 2, got "
                             f"{in_features}, {hidden}, {lstm}, {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features, self.n_classes = int(in_features), int(n_classes)
        self.hidden = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.lstm = nn.LSTM(hidden, lstm, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.softmax = nn.Linear(lstm, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None
                ) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of padded sequences ``x`` ``(batch, T, in_features)``.

        ``lengths`` (default: all ``T``) are the true lengths, each in ``[1, T]``; frames past a
        sequence's length are ignored whatever they hold.
        """
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"expected (batch, time, {self.in_features}) input, got "
                             f"{tuple(x.shape)}")
        b, t = x.shape[:2]
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.int64)
        lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
        if lengths.shape != (b,) or (b and (int(lengths.min()) < 1 or int(lengths.max()) > t)):
            raise ValueError(f"lengths must be {b} values in [1, {t}], got {lengths.tolist()}")
        h = self.hidden(x)
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.softmax(self.dropout(h_n[-1]))

    def param_groups(self, weight_decay: float = SOFTMAX_WEIGHT_DECAY) -> list[dict]:
        """Optimizer groups: weight decay on the softmax layer only (the paper), none elsewhere."""
        soft = list(self.softmax.parameters())
        ids = {id(p) for p in soft}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest, "weight_decay": 0.0},
                {"params": soft, "weight_decay": weight_decay}]


def pad_sequences(seqs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad a list of ``(T_i, D)`` arrays to ``(n, max T_i, D)`` float32; returns the lengths."""
    if not len(seqs):
        raise ValueError("no sequences")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    if int(lengths.min()) < 1:
        raise ValueError("every sequence needs at least one frame")
    d = int(np.shape(seqs[0])[1])
    out = torch.zeros(len(seqs), int(lengths.max()), d)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(np.asarray(s, dtype=np.float32))
    return out, lengths


def fit_sequences(model: SequenceClassifier, seqs: Sequence[np.ndarray], labels: np.ndarray, *,
                  epochs: int = 30, batch_size: int = 16, lr: float = 1e-3, seed: int = 0,
                  weight_decay: float = SOFTMAX_WEIGHT_DECAY) -> dict[str, list[float]]:
    """Train ``model`` on labelled sequences with Adam (weight decay on the softmax layer only).

    Batches are shuffled by ``seed``; sequences of a batch are padded and packed. Returns the
    learning curve ``{"train_loss": [...], "train_acc": [...]}`` (one value per epoch).
    """
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if len(seqs) != len(labels):
        raise ValueError(f"{len(seqs)} sequences but {len(labels)} labels")
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    opt = torch.optim.Adam(model.param_groups(weight_decay), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    curve: dict[str, list[float]] = {"train_loss": [], "train_acc": []}
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(seqs), generator=gen)
        total = correct = 0.0
        for start in range(0, len(seqs), batch_size):
            idx = order[start:start + batch_size]
            x, lengths = pad_sequences([seqs[int(i)] for i in idx])
            y = labels[idx]
            logits = model(x, lengths)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += float((logits.argmax(1) == y).sum())
        curve["train_loss"].append(total / len(seqs))
        curve["train_acc"].append(correct / len(seqs))
    model.eval()
    return curve


@torch.no_grad()
def predict_sequences(model: SequenceClassifier, seqs: Sequence[np.ndarray],
                      batch_size: int = 64) -> np.ndarray:
    """Class posteriors ``(len(seqs), n_classes)`` float64 (eval mode: no dropout)."""
    model.eval()
    out = []
    for start in range(0, len(seqs), batch_size):
        x, lengths = pad_sequences(seqs[start:start + batch_size])
        out.append(torch.softmax(model(x, lengths), dim=1).double().numpy())
    if not out:
        return np.zeros((0, model.n_classes))
    return np.concatenate(out)
