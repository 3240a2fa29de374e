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

.PHONY: run test refresh data nbval env clean release check-release grade grade-demo

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

## Instructor: student versions of every notebook (solutions stubbed, hidden tests removed) into release/.
release: $(STAMP)
	$(BIN)/python -m course_utils.instructor release --out release

## Instructor: each student notebook must run up to its first exercise and fail exactly there, the solved
## notebooks 01-02 run through on the release, and no released function reproduces a reference answer.
check-release: release
	$(BIN)/python -m course_utils.instructor check-release --out release

## Instructor: grade a folder of submissions, e.g. `make grade EXERCISE=01_pca SUBMISSIONS=~/inbox/01`.
grade: $(STAMP)
	$(BIN)/python -m course_utils.instructor grade $(EXERCISE) $(SUBMISSIONS) --out grades/$(EXERCISE)

## Instructor: grade the reference, the untouched release and each DEMO_BUGS bug of every exercise
## (or of one: `make grade-demo EXERCISE=01_pca`) and print the table.
grade-demo: $(STAMP)
	$(BIN)/python tools/grade_demo.py $(or $(EXERCISE),--all)

clean:
	rm -rf build release grades .pytest_cache .ruff_cache
