#!/usr/bin/env bash
# Compile every CUDA source with nvcc (object files only): proves the kernels build.
# No GPU is available here, so nothing built from them is run.
#
# The sources are the CUDA build's own list, from setup.py's sources(): the .cu files are compiled,
# the CUDA-only .cpp files (csrc/<family>/cuda/) type-checked. Listing them checks, as a CUDA build
# would, that no two sources compile to the same object name: CI cannot link CUDA, so this is where
# such a collision ("multiple rules generate x.o") shows up.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
ARCHS=${EMOFAST_CUDA_ARCHS:-"sm_80 sm_90"}
PY=${PYTHON:-python}
if ! command -v "$NVCC" >/dev/null 2>&1; then
  echo "cuda-check: nvcc not found (set NVCC)"; exit 1
fi
# CUDA-only sources: in the CUDA build's list and not in the CPU build's. Fails (with setup.py's
# message naming both files) when two sources of the CUDA build share an object name.
listing=$("$PY" -c "
import runpy
setup = runpy.run_path('setup.py', run_name='emofast_setup')
cpu = set(setup['sources'](cuda=False))
print('\n'.join(s for s in setup['sources'](cuda=True) if s not in cpu))
")
mapfile -t cuda_sources <<<"$listing"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for src in "${cuda_sources[@]}"; do
  [[ $src == *.cu ]] || continue
  for arch in $ARCHS; do
    obj="$out/$(basename "$src" .cu).$arch.o"
    "$NVCC" -std=c++17 -O3 -Icsrc -arch="$arch" -Xcompiler -Wall -c "$src" -o "$obj"
  done
  echo "cuda-check: compiled $src for $ARCHS"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "cuda-check: no CUDA sources found"; exit 1; }
# The host-side glue (csrc/<family>/cuda/*.cpp: ATen, CUDA streams and guards, op registration) is
# checked too, against the installed torch's headers and the toolkit's: a syntax and type check
# (-fsyntax-only), since the CPU wheel has no CUDA libraries to link against. The CPU wheel lacks the
# generated c10/cuda/impl/cuda_cmake_macros.h; C10_CUDA_NO_CMAKE_CONFIGURE_FILE skips it.
CUDA_INC=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v "$NVCC")")")")}/include
[ -f "$CUDA_INC/cuda_runtime_api.h" ] || CUDA_INC=/usr/local/cuda/include
TORCH_INC=$("$PY" -c "from torch.utils import cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))")
h=0
for src in "${cuda_sources[@]}"; do
  [[ $src == *.cpp ]] || continue
  # shellcheck disable=SC2086
  ${CXX:-g++} -std=c++17 -fsyntax-only -Wno-c++20-extensions -Icsrc $TORCH_INC -I"$CUDA_INC" -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE \
    -DEMOFAST_WITH_CUDA "$src"
  echo "cuda-check: host glue $src checked"
  h=$((h + 1))
done
[ "$h" -gt 0 ] || { echo "cuda-check: no CUDA host sources found"; exit 1; }
echo "cuda-check: $n CUDA source(s) compiled, $h host file(s) checked, object names unique (not run: no GPU on this machine)"
