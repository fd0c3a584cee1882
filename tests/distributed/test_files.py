"""Only rank 0 writes (checkpoints of the fold loop, of evolutions and chains), and interrupted
distributed runs resume to the uninterrupted result."""
from __future__ import annotations

import numpy as np
import pytest
from dist_workers import evolve_once, evolve_resume, experiments_watched, needs_gloo

from emofast.distributed.local import run_local
from emofast.errors import StoreError

pytestmark = needs_gloo


def test_only_rank_0_writes_and_a_rerun_resumes_every_fold(tmp_path):
    r0, r1 = run_local(experiments_watched, 2, str(tmp_path), timeout_s=120)
    assert r1["writes"] == []
    written = {p for _, p in r0["writes"]}
    for name in ("pathnet/scratch/run.pt", "pathnet/transfer/fold1/stage0.pt", "cnn/fold2.pt"):
        assert str(tmp_path / name) in written or str(tmp_path / name) + ".tmp" in written, name
    assert not list(tmp_path.rglob("*.tmp"))
    for first, second, other in zip(r0["first"], r0["second"], r1["first"]):
        np.testing.assert_array_equal(first["posteriors"], second["posteriors"])  # resumed folds
        np.testing.assert_array_equal(first["posteriors"], other["posteriors"])  # ranks agree
        assert first["best"] == second["best"]


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    r0, r1 = run_local(evolve_resume, 2, str(tmp_path), timeout_s=90)
    for r in (r0, r1):
        assert len(r["cut"]["history"]) == 2 and r["resumed"]["resumed_from"] == 2
        for key in ("genotypes", "params"):
            np.testing.assert_array_equal(r["resumed"][key], r["full"][key])
        np.testing.assert_array_equal(r["resumed"]["fitness"], r["full"]["fitness"])
        assert r["resumed"]["history"] == r["full"]["history"]
    # the checkpoint records the world size: one process may not resume a 2-rank run
    with pytest.raises(StoreError, match="world"):
        evolve_once(tournaments=2, checkpoint=str(tmp_path / "evolve.pt"))
