# The README's commands. PY defaults to the active interpreter (a venv in practice).
PY ?= python
PIP := $(PY) -m pip

.PHONY: install demo test bench cuda-check clean

# torch first (the CPU build pinned in constraints.txt), then emofast built against it.
install:
	$(PIP) install -c constraints.txt torch==2.13.0 setuptools wheel ninja
	$(PIP) install -c constraints.txt --no-build-isolation -e ".[test,bench,plots]"

# The main job: the end-to-end demo on generated corpora.
demo:
	$(PY) -m emofast demo

test:
	$(PY) -m pytest -q

bench:
	$(PY) benchmarks/run_all.py

# nvcc compile check of every CUDA source (nothing CUDA can run on a machine without a GPU).
cuda-check:
	bash .ci/cuda_check.sh

clean:
	rm -rf build dist *.egg-info emofast/_C*.so
