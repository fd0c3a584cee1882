"""Joint-learning benchmark table: training steps per second of Algorithm 1 (one
:class:`emofast.train.joint.JointTrainer` step: K examples from each of two corpora through the
GroupNorm CNN, two cross-entropy heads, the contrastive loss over the K² pairs, backward, Adam)
with the fused native loss vs the same loop with the pure-PyTorch reference loss, and the share of
a step the loss takes.

Run:  python benchmarks/bench_joint.py [--threads N] [--quick] [--json FILE]

For every network (``tiny``: the demo's preset; ``paper``: 64-128-256-512 filters) and K, three
loops are timed in interleaved rounds (median of ≥ 15 rounds, 5 for the paper network at K = 64
where a step takes seconds; see ``contrastive_table``): with the
fused loss, with ``contrastive_loss_reference``, and without the contrastive term
(``align="none"``, otherwise the same step). The loss alone (forward + backward on K × 32 leaves,
the CNN's embedding width) is timed beside them; its share of a step is that time over the step's.
(The difference between the steps with and without the term says the same, but on a shared
machine it drowns in noise as soon as a step takes milliseconds.)
Inputs are 3 × 64 × 64 segments of random data; 64 per corpus are drawn in turn.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform

import numpy as np
import torch

from contrastive_table import time_interleaved

KS = (2, 64)
NETS = ("tiny", "paper")
LOOPS = ("fused", "reference", "none")


def make_trainer(loop: str, k: int, width: str = "tiny", seed: int = 0, rows: int = 128):
    """A :class:`~emofast.train.joint.JointTrainer` on random two-corpus data; ``loop`` picks the
    contrastive loss (``fused``, ``reference``) or none."""
    from emofast.experiments.baseline import make_baseline
    from emofast.ops import contrastive_loss_reference
    from emofast.train.joint import JointConfig, JointTrainer

    rng = np.random.default_rng(seed)
    corpora = [(rng.normal(size=(rows, 3, 64, 64)).astype(np.float32), rng.integers(0, 6, rows))
               for _ in range(2)]
    torch.manual_seed(seed)
    net = make_baseline(6, width)
    config = JointConfig(batch_size=k, align="none" if loop == "none" else "contrastive",
                         steps=10 ** 9, progress=False, seed=seed)
    return JointTrainer(net, corpora[0], corpora[1], config,
                        contrastive_fn=contrastive_loss_reference if loop == "reference" else None)


def make_loss_step(loop: str, k: int, dim: int = 32, seed: int = 0):
    """The contrastive loss alone, forward + backward, on (k, dim) leaves."""
    import emofast
    from emofast.ops import contrastive_loss_reference

    g = torch.Generator().manual_seed(seed)
    a = torch.randn(k, dim, generator=g).requires_grad_(True)
    b = torch.randn(k, dim, generator=g).requires_grad_(True)
    la, lb = torch.randint(0, 6, (k,), generator=g), torch.randint(0, 6, (k,), generator=g)
    fn = emofast.contrastive_loss if loop == "fused" else contrastive_loss_reference
    return lambda: fn(a, b, la, lb).backward()


def _fmt(s: float) -> str:
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--quick", action="store_true", help="shorter timing windows, tiny net only")
    p.add_argument("--json", help="also write the raw numbers to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    min_time = 0.2 if args.quick else 1.0
    rows = []
    for width in NETS[:1] if args.quick else NETS:
        for k in KS:
            trainers = {loop: make_trainer(loop, k, width) for loop in LOOPS}
            slow = width == "paper" and k > 2  # seconds a step: 5 rounds
            t = time_interleaved({loop: tr.step for loop, tr in trainers.items()},
                                 min_time=0.0 if slow else min_time, rounds=5 if slow else 15)
            loss = time_interleaved({loop: make_loss_step(loop, k) for loop in LOOPS[:2]},
                                    min_time=min_time / 2)
            rows.append({"net": width, "K": k, **{f"step_{n}": v for n, v in t.items()},
                         **{f"loss_{n}": v for n, v in loss.items()}})
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"Joint learning (Algorithm 1) training step, {args.threads} thread(s), torch "
          f"{torch.__version__}, {platform.machine()}, "
          f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}{load}")
    print()
    print("| net | K | step, fused loss | step, reference loss | reference / fused | step without "
          "the term | loss fwd+bwd alone, fused / reference | loss share of a step, fused / "
          "reference |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        fused, ref, none = r["step_fused"], r["step_reference"], r["step_none"]
        lf, lr = r["loss_fused"], r["loss_reference"]
        print(f"| {r['net']} | {r['K']} | {_fmt(fused)} ({1 / fused:.3g}/s) | {_fmt(ref)} "
              f"({1 / ref:.3g}/s) | {ref / fused:.2f}× | {_fmt(none)} | {_fmt(lf)} / {_fmt(lr)} | "
              f"{lf / fused:.1%} / {lr / ref:.1%} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
