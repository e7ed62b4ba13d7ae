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
	# The pinned torch first: an unpinned one would pull a multi-GB CUDA build. Where pip
	# does not find the CPU wheel on its own, TORCH_INDEX names an index that has it.
	$(BIN)/pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/strata demo --data-dir $(DATA_DIR)

# Test files run side by side, a file to a worker (its module's server set up once):
# two workers ran the suite in 558 s where one took 1,078 s (the same 2-core machine,
# busy with other work both times).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

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
