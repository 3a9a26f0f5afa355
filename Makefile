# rnncourse: the two commands most people need are `make lab` and `make test`.
# Both create a private virtual environment in .venv on first use (nothing is
# installed or registered outside this folder) and reinstall into it only when
# pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnncourse-installed

.PHONY: help venv lab test test-fast build lint format doctor bench sync-curriculum

help:
	@echo "make lab     open the lessons in JupyterLab (creates $(VENV) on first use)"
	@echo "make test    run the whole test suite, as CI does"
	@echo "make test-fast  the unit tests only (under a minute), for the inner loop"
	@echo "make build   regenerate lessons/ from solutions/"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make format  let ruff fix formatting and import order"
	@echo "make doctor  check this environment and say how to fix what is missing"
	@echo "make bench   measure speeds into bench/RESULTS.md (about 20 minutes; BENCH_ARGS=--help)"

# The stamp is newer than pyproject.toml once the install has succeeded, so
# later runs skip pip entirely; a failed install leaves no stamp and is retried.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

venv: $(STAMP)

# jupyter-config/ adds the course's JupyterLab defaults (no news prompt, no update
# check; jupyter-config/labconfig/) to the Jupyter config path, in front of any the
# caller has; the user's own settings and ~/.jupyter are read as always.
lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter-config$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
	$(BIN)/jupyter lab lessons/

# Tests run in parallel workers (notebook kernels use one torch thread each).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --maxprocesses 4

# The unit layer: the package against torch, the layout, lint. No notebook runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto --maxprocesses 4 tests/unit

build: $(STAMP)
	$(BIN)/rnncourse build

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

format: $(STAMP)
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .

doctor: $(STAMP)
	$(BIN)/rnncourse doctor

# Measured speeds (bench/README.md); e.g. make bench BENCH_ARGS="--only notebooks"
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# New exercise contracts arrive in the project's shared folder beside the clone;
# the course's own copy is docs/curriculum.md (a test compares the two).
SHARED ?= ../shared
sync-curriculum:
	cp $(SHARED)/CURRICULUM.md docs/curriculum.md
