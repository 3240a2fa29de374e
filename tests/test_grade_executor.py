"""Grading one submission is one function, and a batch runs it through any concurrent.futures executor."""

from __future__ import annotations

import csv
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from course_utils.instructor.grade import Exercise, Limits, grade_folder, grade_submission

CHECKS = '''
from course_utils.instructor.checks import FunctionCheck, ResultCheck
EXERCISE = "tiny"
CHECKS = [FunctionCheck("double", "double", lambda rng: [(1.0,), (rng.normal(),)], lambda x: 2 * x, points=2),
          ResultCheck("answer", "answer", expected=42)]
'''
LIMITS = Limits(timeout=600, cell_timeout=300)
"""Generous: a loaded machine (spawned workers importing NumPy and IPython at load 10 on 2 cores) makes a
cell slower, never a different grade; no limit here is meant to be reached."""
CELLS = ("from course_utils.report import Report\nreport = Report('tiny')", "def double(x):\n    return 2 * x",
         "report.record('answer', 42)")


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "grading").mkdir()
    (tmp_path / "grading" / "tiny.py").write_text(CHECKS)
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, cells in {"good": CELLS, "half": CELLS[:2]}.items():
        notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                               "source": source} for source in cells], "metadata": {}, "nbformat": 4,
                    "nbformat_minor": 5}
        (subs / f"{name}.ipynb").write_text(json.dumps(notebook))
    return tmp_path / "grading" / "tiny.py", subs


def test_one_submission_is_one_function_call(tmp_path):
    checks, subs = _setup(tmp_path)
    exercise = Exercise(checks, LIMITS, reference_notebook=tmp_path / "none.ipynb")
    grade = grade_submission(subs / "half.ipynb", exercise)
    assert grade.student == "half" and grade.file == "half.ipynb"
    assert [r.points for r in grade.results] == [2.0, 0.0]


def test_a_process_pool_gives_the_same_grades_as_the_local_pool(tmp_path):
    checks, subs = _setup(tmp_path)
    limits = LIMITS
    reference = tmp_path / "none.ipynb"
    local = grade_folder(subs, checks, tmp_path / "local", reference_notebook=reference, workers=2, limits=limits)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = grade_folder(subs, checks, tmp_path / "pool", reference_notebook=reference, limits=limits,
                              executor=pool)
    assert [(g.student, g.points) for g in local] == [(g.student, g.points) for g in remote] == [
        ("good", 3.0), ("half", 2.0)]
    rows = [list(csv.reader((tmp_path / folder / "grades.csv").open())) for folder in ("local", "pool")]
    assert rows[0] == rows[1]
