# course-kit: `make run` executes every notebook, `make test` runs ruff, pytest and nbval.
# Both create the virtual environment (.venv, Python 3.11, pinned requirements) when it is missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 0
# A backend forced from outside (e.g. Agg) would hide every figure in the executed notebooks.
unexport MPLBACKEND

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 1800

.PHONY: run test refresh data nbval env clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

env: $(STAMP)

## The main job: execute every notebook on the default data into build/ (notebooks, html, results.json).
run: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --out build

## The tests: lint, unit tests of course_utils, and nbval regression of every committed notebook.
## Training cells run under the small CI profile (fewer epochs; those cells are nbval-ignore-output).
test: $(STAMP)
	$(BIN)/ruff check .
	COURSE_KIT_PROFILE=small $(BIN)/python -m pytest tests notebooks $(NBVAL)

## nbval alone (e.g. three times in a row: `make nbval nbval nbval` runs it once; use a loop).
nbval: $(STAMP)
	COURSE_KIT_PROFILE=small $(BIN)/python -m pytest notebooks $(NBVAL)

## Maintainer: re-execute the committed notebooks in place and refresh README's results table.
refresh: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --in-place

## Prefetch every dataset into the cache, for offline use afterwards.
data: $(STAMP)
	$(BIN)/python -m course_utils.data download-all

clean:
	rm -rf build .pytest_cache .ruff_cache
