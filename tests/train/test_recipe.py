"""The training recipe of :func:`emofast.train.fit.fit`: schedules, class weights, augmentation,
model selection on validation data."""
import numpy as np
import pytest
import torch
from torch import nn

from emofast.errors import InputError
from emofast.train.augment import mixup, spec_mask
from emofast.train.fit import FitConfig, _class_weights, _lr_factor, fit


def _toy(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    X[np.arange(n), 0, y, :] += 3.0  # class = the band that is loud
    return X, y


def _model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(192, 3))
    m.n_classes = 3
    return m


def test_spec_mask_masks_whole_bands_and_frames_in_every_channel():
    g = torch.Generator().manual_seed(1)
    x = torch.ones(4, 3, 16, 20)
    y = spec_mask(x, g, freq_masks=1, time_masks=0, max_width=5)
    assert torch.equal(x, torch.ones_like(x))  # input untouched
    zero = (y == 0)
    # a masked band is zero across all frames and channels
    band = zero.all(dim=3).all(dim=1)
    assert torch.equal(zero.any(dim=1).any(dim=2), band)
    assert int(band.sum(1).max()) <= 5
    assert torch.equal(spec_mask(x, g, freq_masks=0, time_masks=0), x)
    with pytest.raises(InputError):
        spec_mask(torch.ones(2, 3, 4), g)


def test_mixup_keeps_target_mass_and_mixes_pairs():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(4.0).view(4, 1)
    t = torch.eye(4)
    xm, tm = mixup(x, t, 0.4, g)
    assert torch.allclose(tm.sum(1), torch.ones(4))
    lam = tm.max(1).values
    assert (lam >= 0.5 - 1e-6).all()
    with pytest.raises(InputError):
        mixup(x, t, 0.0, g)


def test_lr_schedules_and_balanced_weights():
    assert _lr_factor("constant", 5, 10) == 1.0
    assert _lr_factor("cosine", 0, 10) == pytest.approx(1.0)
    assert _lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert _lr_factor("onecycle", 3, 10) == pytest.approx(1.0)
    assert _lr_factor("onecycle", 0, 10) < 0.1
    w = _class_weights(np.array([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


def test_recipe_options_train_and_are_checked():
    X, y = _toy()
    cfg = FitConfig(epochs=8, batch_size=8, lr=0.05, progress=False, schedule="cosine",
                    class_weight="balanced", label_smoothing=0.1, freq_masks=1, time_masks=1,
                    mask_width=2, mixup=0.2)
    m = _model()
    hist = fit(m, X, y, cfg)
    assert hist.train_loss[-1] < hist.train_loss[0]
    m2 = _model()
    assert fit(m2, X, y, cfg).train_loss == hist.train_loss  # seeded: reproducible
    for bad in (dict(schedule="step"), dict(class_weight="auto"), dict(label_smoothing=1.0),
                dict(mixup=-1.0), dict(patience=0)):
        with pytest.raises(InputError):
            FitConfig(**bad)
    with pytest.raises(InputError, match="SpecAugment"):
        fit(_model(), X.reshape(len(X), -1), y, FitConfig(freq_masks=1, progress=False))


def test_select_restores_the_best_epoch_and_stops_early():
    X, y = _toy()
    scores = iter([0.2, 0.9, 0.5, 0.4, 0.3, 0.8, 0.1])
    snapshots = []

    def select(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    m = _model()
    hist = fit(m, X, y, FitConfig(epochs=7, progress=False, patience=3), select=select)
    assert hist.best_epoch == 2
    assert len(hist.train_loss) == 5  # epochs 3, 4, 5 brought nothing: stopped after epoch 5
    assert hist.select_score == [0.2, 0.9, 0.5, 0.4, 0.3]
    for k, v in m.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
