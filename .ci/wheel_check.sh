#!/usr/bin/env bash
# Build emofast's wheel against the installed (CPU) torch, install it into a fresh virtual
# environment with nothing but the pinned torch and the wheel's own dependencies, and smoke-test it
# there, outside the source tree: the native op, log-Mel features, the command line, and the
# product path (features -> evaluate --save-model -> emofast predict on a wav).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" -m build --wheel --no-isolation --outdir "$work/dist" . > "$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/emofast-*.whl)
echo "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"

base=$("$PY" -c 'import sys; print(sys.base_prefix)')/bin/python3
"$base" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q -c constraints.txt "$wheel"

cd "$work"   # away from the source tree: the installed wheel, not ./emofast, is imported
"$work/venv/bin/python" - <<'PY'
import numpy as np
import torch

import emofast

assert "site-packages" in emofast.__file__, emofast.__file__
a, b = torch.randn(4, 8, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
la, lb = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0, 1])
loss = emofast.contrastive_loss(a, b, la, lb)
assert torch.isfinite(loss), loss
t = np.arange(16000) / 16000
seg = emofast.logmel_segments(np.sin(2 * np.pi * 440 * t).astype(np.float32), 16000)
assert seg.shape[1:] == (3, 64, 64), seg.shape
print(f"wheel smoke test: emofast {emofast.__version__} from {emofast.__file__}, torch {torch.__version__}, "
      f"contrastive loss {loss.item():.4f}, {seg.shape[0]} log-Mel segments")
PY
"$work/venv/bin/emofast" --version

# the product path in the fresh environment: features -> a trained bundle -> emofast predict on a wav
E="$work/venv/bin/emofast"
root=$("$work/venv/bin/python" -c 'from emofast.synthetic import make_demo_corpora as m; print(m("corpora", quick=True, video=False)["demo_phone"])')
"$E" features demo "$root" --out store --no-progress > features.log
"$E" evaluate store --protocol kfold --folds 2 --epochs 1 --no-plots --no-progress --out cv \
    --save-model phone.emofast > evaluate.log
wav=$(find "$root" -name '*.wav' | sort | head -n 1)
"$E" predict phone.emofast "$wav" --json > predict.json
"$work/venv/bin/python" -c 'import json, sys; r = json.load(open("predict.json")); print("wheel predict:", json.dumps(r)[:200])'
