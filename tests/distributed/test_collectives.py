"""The collectives, the rank-0 writer and gradient sums on 2 gloo ranks, and their one-process
behaviour (plain calls, no communication)."""
from __future__ import annotations

import numpy as np
import pytest
from dist_workers import collectives_probe, needs_gloo

from emofast import distributed as dist
from emofast.distributed.local import run_local


@needs_gloo
def test_collectives_on_two_ranks():
    r0, r1 = run_local(collectives_probe, 2, timeout_s=90)
    for r in (r0, r1):
        assert r["world"] == 2 and r["active"] and r["main"] == (r["rank"] == 0)
        assert [g.tolist() for g in r["gathered"]] == [[0, 10], [0, 10, 20]]
        assert r["summed"].tolist() == [2.0, 1.0]
        assert r["broadcast"] == {"from": 0} and r["on_main"] == "computed on rank 0"
        assert r["on_main_error"] == "disk full"  # rank 0's error raised on every rank
        assert "values differ between ranks" in r["drift"]
        a, b, c = r["grads"]
        assert a.tolist() == [3.0, 3.0] and b.tolist() == [1.0] and c is None


def test_one_process_is_plain_calls():
    assert (dist.world(), dist.rank(), dist.is_main(), dist.active()) == (1, 0, True, False)
    assert dist.on_main(lambda x: x + 1, 1) == 2
    assert dist.broadcast_object("x") == "x"
    assert [a.tolist() for a in dist.all_gather_arrays(np.arange(3))] == [[0, 1, 2]]
    dist.check_same("anything", np.arange(3))
    dist.barrier()
    with pytest.raises(ValueError):
        dist.on_main(int, "not a number")


@needs_gloo
def test_run_local_reports_a_failing_rank():
    with pytest.raises(RuntimeError, match=r"rank \d failed(.|\n)*invalid literal"):
        run_local(int, 2, "not a number", timeout_s=60)
