# Strata: `make demo` and `make test` each set everything up on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(HOME)/.strata/demo

.PHONY: demo test lint stubs serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/strata demo --data-dir $(DATA_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/buf lint
	$(BIN)/python -m tools.gen_stubs --check
	$(BIN)/ruff check hierarchy service tools tests
	$(BIN)/ruff format --check hierarchy service tools tests

stubs: $(STAMP)
	$(BIN)/python -m tools.gen_stubs

serve: $(STAMP)
	$(BIN)/strata serve --data-dir $(DATA_DIR)

clean:
	rm -rf $(VENV) .pytest_cache
