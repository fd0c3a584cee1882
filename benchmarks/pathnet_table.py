"""Print the PathNet benchmark table (median wall times, ratios measured in the same run).

Usage: ``python benchmarks/pathnet_table.py [--repeats 15] [--emodb-run FEATURES.npz --generations 200]``

The cases of each group are timed in turn, round after round (medians over rounds), so that on a
shared machine the ratios compare times taken under the same load.

Rows: population forward (P=20, B=64, 64x64x3 inputs) native vs the per-module loop reference and
vs one dense GEMM over all 20 first-layer modules (the bound; also the same GEMM with the weight in
the (out, in) layout nn.PathNet stores, x @ W^T, which is what the native op multiplies when every
module is in use); one training step of two contenders
fused vs two sequential reference steps; one tournament (two contenders x one epoch of
``--epoch-steps`` steps) parallel-fused vs sequential-fused vs sequential reference. With
``--emodb-run`` a full evolution on saved features (``X`` (n, 3, 64, 64), ``y``) is timed too.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's emofast, not an installed one
from test_bench_pathnet import B, IN, M, H, make_problem, reference_step  # noqa: E402

from emofast.ops.pathnet import pathnet, pathnet_reference  # noqa: E402


def timeit_interleaved(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median ms of each callable, calling them in turn every round (in a rotating order) so that all
    of them see the same load on a shared machine (the ratios between them are what the table
    reports)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:  # rotate: no case always follows the same one
            t0 = time.perf_counter()
            fns[k]()
            ts[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in ts.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--epoch-steps", type=int, default=8, help="steps per contender in the tournament row")
    ap.add_argument("--emodb-run", type=str, default=None, help=".npz with X and y to time a full evolution")
    ap.add_argument("--generations", type=int, default=200)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    net, x, y, g = make_problem()
    w, b = net.layer_weights(), list(net.biases)
    with torch.no_grad():
        dense = torch.randn(IN, M * H)  # (in, out) contiguous: x @ dense
        dense_t = torch.randn(M * H, IN)  # (out, in) contiguous: x @ dense_t.t()
        t = timeit_interleaved({
            "native": lambda: pathnet(x, w, b, g),
            "gemm": lambda: torch.mm(x, dense),
            "gemm_t": lambda: torch.mm(x, dense_t.t()),
            "ref": lambda: pathnet_reference(x, w, b, g),
        }, 2 * args.repeats)
        t_kernel, t_gemm, t_gemm_t, t_ref = t["native"], t["gemm"], t["gemm_t"], t["ref"]
    rows.append(("population forward P=20 B=64 in=12288: native", t_kernel, ""))
    rows.append(("  per-module loop reference", t_ref, f"native {t_ref / t_kernel:.1f}x faster"))
    rows.append(("  dense GEMM 64x12288 @ 12288x400 (bound)", t_gemm, f"native = {t_kernel / t_gemm:.2f}x the GEMM"))
    rows.append(("  dense GEMM x @ W^T, W 400x12288 (nn.PathNet's layout)", t_gemm_t,
                 f"native = {t_kernel / t_gemm_t:.2f}x this GEMM"))

    net2, x2, y2, g2 = make_problem(1)
    t = timeit_interleaved({
        "fused": lambda: net2.train_step(x2, y2, g2[:2], lr=0.02),
        "seq": lambda: [net2.train_step(x2, y2, g2[i:i + 1], lr=0.02) for i in range(2)],
        "ref": lambda: [reference_step(net2, x2, y2, g2[i]) for i in range(2)],
    }, args.repeats)
    t_fused, t_seq_native, t_seq_ref = t["fused"], t["seq"], t["ref"]
    rows.append(("two contenders, one step: fused (one call)", t_fused, ""))
    rows.append(("  two sequential native steps", t_seq_native, f"fused {t_seq_native / t_fused:.2f}x faster"))
    rows.append(("  two sequential reference steps", t_seq_ref, f"fused {t_seq_ref / t_fused:.1f}x faster"))

    T = args.epoch_steps
    xs = torch.randn(T, B, IN)
    ys = torch.randint(0, 6, (T, B))
    t = timeit_interleaved({
        "par": lambda: [net2.train_step(xs[s], ys[s], g2[:2], lr=0.02) for s in range(T)],
        "seq": lambda: [net2.train_step(xs[s], ys[s], g2[i:i + 1], lr=0.02) for i in range(2) for s in range(T)],
        "ref": lambda: [reference_step(net2, xs[s], ys[s], g2[i]) for i in range(2) for s in range(T)],
    }, 5, warmup=1)
    t_tour_par, t_tour_seq, t_tour_ref = t["par"], t["seq"], t["ref"]
    rows.append((f"one tournament (2 x {T} steps): parallel fused", t_tour_par, ""))
    rows.append(("  sequential, native steps", t_tour_seq, f"parallel {t_tour_seq / t_tour_par:.2f}x faster"))
    rows.append(("  sequential reference", t_tour_ref, f"parallel {t_tour_ref / t_tour_par:.1f}x faster"))

    if args.emodb_run:
        import numpy as np

        from emofast.nn import PathNet
        from emofast.train.evolve import EvolveConfig, evolve

        d = np.load(args.emodb_run)
        X, yy = d["X"].reshape(len(d["y"]), -1).astype(np.float32), d["y"]
        for mode in ("sequential", "parallel"):
            netf = PathNet(X.shape[1], int(yy.max()) + 1, generator=torch.Generator().manual_seed(0))
            t0 = time.perf_counter()
            evolve(netf, X, yy, task=0, config=EvolveConfig(generations=args.generations, mode=mode), seed=0)
            rows.append((f"evolution {args.generations} generations, {mode}, n={len(yy)}",
                         (time.perf_counter() - t0) * 1e3, ""))

    import emofast

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, emofast from {Path(emofast.__file__).parent}")
    print("| case | median ms | ratio |\n|---|---:|---|")
    for name, t, note in rows:
        print(f"| {name} | {t:.2f} | {note} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
