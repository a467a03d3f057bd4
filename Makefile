# spikefi: `make demo` runs the main job, `make test` the test suite.
# Both create a virtual environment in $(VENV) and install spikefi into it first.
PYTHON ?= python3
VENV ?= .venv
# A CPU build that installs offline here; on a CUDA machine use e.g.
#   make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
# pytest-xdist workers of `make test` (CI has 2 cores; 0 runs the suite in this process, without xdist)
TEST_WORKERS ?= 2
STAMP := $(VENV)/.spikefi-installed

.PHONY: setup demo test lint train bench-train clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo ">>> creating virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,ray]"
	# spikefi[nir] plus the frameworks tests/nir checks it against; --no-deps keeps torch as installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps nir==1.0.8 h5py==3.16.0 snntorch==1.0.0 norse==1.1.0 nirtorch==2.6
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m experiments.main

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check spikefi experiments analysis tests benchmarks
	$(BIN)/python -m mypy

train: $(STAMP)
	$(BIN)/python -m experiments.train

bench-train: $(STAMP)
	$(BIN)/python benchmarks/training_time.py

clean:
	rm -rf $(VENV) outputs mlruns mlflow.db .pytest_cache
