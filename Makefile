# The README's two commands, `make demo` and `make test`, work on a fresh clone with only
# python3 >= 3.10 and a C++ compiler: they create (or reuse) the project-local virtual environment
# .venv, install into it when it is missing or the build inputs changed (the pinned CPU torch of
# constraints.txt first, then emofast built against it), and run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.emofast-installed
# Extra arguments of the demo, e.g. make demo ARGS="--quick"
ARGS ?=

.PHONY: install demo test bench cuda-check wheel wheel-check clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "emofast needs python >= 3.10; set PYTHON=/path/to/python3.x" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first (the CPU build pinned in constraints.txt), then emofast built against it
# (--no-build-isolation: an isolated build would fetch a multi-GB CUDA torch).
$(STAMP): $(PY) pyproject.toml setup.py constraints.txt $(shell find csrc -type f 2>/dev/null)
	$(PY) -m pip install -c constraints.txt torch==2.13.0 setuptools wheel ninja
	$(PY) -m pip install -c constraints.txt --no-build-isolation -e ".[test,bench,plots,build]"
	@touch $(STAMP)

install: $(STAMP)

# The main job: the end-to-end demo on generated corpora.
demo: $(STAMP)
	$(PY) -m emofast demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# nvcc compile check of every CUDA source (nothing CUDA can run on a machine without a GPU).
cuda-check: $(STAMP)
	PYTHON=$(PY) bash .ci/cuda_check.sh

# A wheel built against the installed torch (CPU here; a CUDA torch + EMOFAST_CUDA=1 on a GPU host).
wheel: $(STAMP)
	$(PY) -m build --wheel --no-isolation --outdir dist .

# The wheel installed into a fresh virtual environment and smoke-tested there (what CI runs).
wheel-check: $(STAMP)
	PYTHON=$(PY) bash .ci/wheel_check.sh

clean:
	rm -rf build dist *.egg-info emofast/_C*.so
