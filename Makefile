# course-kit: `make run` executes every notebook, `make test` runs ruff, pytest and nbval.
# Both create the virtual environment (.venv, pinned requirements) when it is missing, with the default
# supported Python (python3 if it is 3.11-3.13, else the newest of those found); `make PYTHON=...` overrides.
# Every target is a thin call of `python -m course_utils COMMAND` (the same commands work without make).

PYTHON ?= $(shell python3 course_utils/environment.py pick 2>/dev/null)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 0
# A backend forced from outside (e.g. Agg) would hide every figure in the executed notebooks.
unexport MPLBACKEND

.PHONY: run test refresh data nbval env clean release check-release grade grade-demo mutation

$(STAMP): requirements.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then if command -v python3 >/dev/null; then python3 course_utils/environment.py pick; \
	  else echo "No python3 on PATH: install Python 3.11, 3.12 or 3.13 (see README, Install)."; fi; exit 1; fi
	@$(PYTHON) course_utils/environment.py check $(PYTHON) 2>/dev/null || python3 course_utils/environment.py check $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	sh tools/install_sandbox.sh
	sh tools/install_slurm.sh
	touch $@

env: $(STAMP)

## The main job: execute every notebook on the default data into build/ (notebooks, html, results.json).
run: $(STAMP)
	$(BIN)/python -m course_utils run

## The tests: lint, unit tests of course_utils, and nbval regression of every committed notebook.
## Training cells run under the small CI profile (fewer epochs; those cells are nbval-ignore-output).
## Then the student edition on every install path, in a fresh venv of the newest supported Python with Colab's
## versions (.venv-colab; tools/edition_check.py).
test: $(STAMP)
	$(BIN)/python -m course_utils test

## nbval alone (e.g. three times in a row: `make nbval nbval nbval` runs it once; use a loop).
nbval: $(STAMP)
	$(BIN)/python -m course_utils nbval

## Maintainer: re-execute the committed notebooks in place and refresh README's results table.
refresh: $(STAMP)
	$(BIN)/python -m course_utils refresh

## Prefetch every dataset into the cache, for offline use afterwards.
data: $(STAMP)
	$(BIN)/python -m course_utils data download-all

## Instructor: the student edition into release/, a repository to publish as it is, e.g.
## `make release URL=https://github.com/ORG/COURSE` (the notebooks install the kit from URL; Colab links).
release: $(STAMP)
	$(BIN)/python -m course_utils release --out release $(if $(URL),--url $(URL))

## Instructor: each student notebook must run up to its first exercise and fail exactly there, the solved
## notebooks 01-02 run through on the release, and no released function reproduces a reference answer.
check-release: release
	$(BIN)/python -m course_utils check-release --out release

## Instructor: grade a folder of submissions, e.g. `make grade EXERCISE=01_pca SUBMISSIONS=~/inbox/01`.
grade: $(STAMP)
	$(BIN)/python -m course_utils grade $(EXERCISE) $(SUBMISSIONS) --out grades/$(EXERCISE)

## Instructor: grade the reference, the untouched release and each DEMO_BUGS bug of every exercise
## (or of one: `make grade-demo EXERCISE=01_pca`) and print the table.
grade-demo: $(STAMP)
	$(BIN)/python -m course_utils grade-demo $(or $(EXERCISE),--all)

## Maintainer: mutation testing (cosmic-ray) of the maths and the grader's scoring, one module at a time with the
## unit tests that cover it; prints killed / run and the survivors. Slow (not part of `make test`); e.g.
## `make mutation MODULES="dmaps checks" ARGS="--sample 30"`. See tools/mutation.md.
mutation: $(STAMP)
	$(BIN)/python -m course_utils mutation $(MODULES) $(ARGS)

clean:
	rm -rf build release grades .pytest_cache .ruff_cache
