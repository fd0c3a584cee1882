#!/usr/bin/env bash
# Compile every CUDA source with nvcc (object files only): proves the kernels build.
# No GPU is available here, so nothing built from them is run.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
ARCHS=${EMOFAST_CUDA_ARCHS:-"sm_80 sm_90"}
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "cuda-check: nvcc not found (set NVCC)"; exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
while IFS= read -r -d '' src; do
  for arch in $ARCHS; do
    obj="$out/$(basename "$src" .cu).$arch.o"
    "$NVCC" -std=c++17 -O3 -Icsrc -arch="$arch" -Xcompiler -Wall -c "$src" -o "$obj"
  done
  echo "cuda-check: compiled $src for $ARCHS"
  n=$((n + 1))
done < <(find csrc -name '*_cuda.cu' -print0 | sort -z)
[ "$n" -gt 0 ] || { echo "cuda-check: no CUDA sources found"; exit 1; }
echo "cuda-check: $n CUDA source(s) compiled (not run: no GPU on this machine)"
