"""fit_joint (Algorithm 1) on 2 gloo ranks equals the single-process run with the same K."""
from __future__ import annotations

import numpy as np
from dist_workers import joint_runs, needs_gloo

from emofast.distributed.local import run_local

pytestmark = needs_gloo

CONFIGS = [
    # the fused contrastive term over all K^2 pairs (embeddings gathered across the ranks), class
    # weights and label smoothing (global normalisers), SpecAugment drawn for the whole mini-batch,
    # SGD with momentum and a schedule; K = 3: an uneven share (2 rows and 1 row per corpus)
    dict(align="contrastive", batch_size=3, steps=6, epochs=2, lambdas=(1.0, 0.5, 0.3),
         optimizer="sgd", lr=0.05, momentum=0.9, schedule="cosine", class_weight="balanced",
         label_smoothing=0.1, freq_masks=1, mask_width=2),
    # two cross-entropies only, Adam, both heads on both mini-batches
    dict(align="none", batch_size=2, epochs=2, heads="both"),
    # MMD beside the contrastive term, and DANN's per-row domain loss
    dict(align="contrastive+mmd+dann", batch_size=4, steps=5, epochs=1),
    # K = 1 < W: rank 1 embeds no rows
    dict(align="contrastive+dann", batch_size=1, steps=3, epochs=1),
]


def _assert_equal_runs(ranks: list, single: list) -> None:
    for i, one in enumerate(single):
        r0, r1 = ranks[0][i], ranks[1][i]
        np.testing.assert_array_equal(r0["params"], r1["params"])  # the ranks hold one model
        np.testing.assert_allclose(r0["params"], one["params"], rtol=1e-5, atol=1e-6)
        for key in ("train_loss", "train_acc", "train_acc2"):
            np.testing.assert_allclose(r0[key], one[key], rtol=1e-5, atol=1e-7)
            assert r0[key] == r1[key]
        assert set(r0["terms"]) == set(one["terms"])
        for key, curve in one["terms"].items():
            np.testing.assert_allclose(r0["terms"][key], curve, rtol=1e-5, atol=1e-7)
        assert r0["steps"] == one["steps"] and r0["eval_acc"] == r1["eval_acc"] == one["eval_acc"]
        assert r0["calls"] == one["calls"] and r1["calls"] == {"evaluate": 0}  # callbacks on rank 0


def test_two_ranks_equal_one_process_for_every_alignment():
    ranks = run_local(joint_runs, 2, CONFIGS, timeout_s=90)
    _assert_equal_runs(ranks, joint_runs(CONFIGS))


def test_only_rank_0_writes(tmp_path):
    (r0, w0), (r1, w1) = run_local(joint_runs, 2, CONFIGS[1:2], str(tmp_path), timeout_s=60)
    assert w1 == [] and {p for _, p in w0} == {str(tmp_path / "eval0-1.txt"),
                                                 str(tmp_path / "eval0-2.txt")}
    _assert_equal_runs([r0, r1], joint_runs(CONFIGS[1:2]))
