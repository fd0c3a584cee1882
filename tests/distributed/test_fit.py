"""fit on 2 gloo ranks equals the single-process fit with the same (global) batch size."""
from __future__ import annotations

import numpy as np
from dist_workers import fit_runs, needs_gloo

from emofast.distributed.local import run_local

pytestmark = needs_gloo

CONFIGS = [
    # uneven last batch (37 = 6 * 6 + 1: rank 1's share of it is empty), class weights, label
    # smoothing, SpecAugment and mixup drawn for the global batch, SGD with momentum, a schedule
    dict(epochs=2, batch_size=6, optimizer="sgd", lr=0.05, schedule="cosine", class_weight="balanced",
         label_smoothing=0.1, freq_masks=1, time_masks=1, mask_width=3, mixup=0.4),
    # Adam, early stopping on a score that only gets worse (patience 1: 2 of 4 epochs)
    dict(epochs=4, batch_size=8, optimizer="adam", patience=1),
]


def test_two_ranks_equal_one_process_with_the_same_global_batch():
    ranks = run_local(fit_runs, 2, CONFIGS, timeout_s=90)
    single = fit_runs(CONFIGS)
    for i, one in enumerate(single):
        r0, r1 = ranks[0][i], ranks[1][i]
        np.testing.assert_array_equal(r0["params"], r1["params"])  # the ranks hold one model
        np.testing.assert_allclose(r0["params"], one["params"], rtol=1e-5, atol=1e-6)
        for key in ("train_loss", "train_acc"):
            np.testing.assert_allclose(r0[key], one[key], rtol=1e-5)
            assert r0[key] == r1[key]
        for r in (r0, r1):  # callbacks: rank 0's values on every rank, same early stop
            assert (r["eval_acc"], r["select_score"], r["best_epoch"]) == \
                (one["eval_acc"], one["select_score"], one["best_epoch"])
        assert r0["calls"] == one["calls"] and r1["calls"] == {"evaluate": 0, "select": 0}
    assert len(single[1]["train_loss"]) == 2
