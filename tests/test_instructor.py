"""Instructor workflow: student release, checks, sandboxed parallel grading, reports."""

from __future__ import annotations

import copy
import csv
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from course_utils.instructor import release as R
from course_utils.instructor.__main__ import check_release_notebook, main
from course_utils.instructor.checks import (
    CheckResult,
    FunctionCheck,
    ResultCheck,
    as_arrays,
    compare,
    load_checks,
)
from course_utils.instructor.grade import Limits, grade_folder, grades_table, run_notebook
from course_utils.instructor.release import cell_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_FILES = sorted((ROOT / "grading").glob("[0-9][0-9]_*.py"))


def _code(source: str, tags: list[str] | None = None) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": tags or []}, "outputs": [],
            "source": source}


def _notebook(*sources: str) -> dict:
    return {"cells": [_code(s) for s in sources], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _write(path: Path, notebook: dict) -> Path:
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def _edit(notebook: dict, old: str, new: str) -> dict:
    notebook = copy.deepcopy(notebook)
    hits = [c for c in notebook["cells"] if old in cell_source(c)]
    assert len(hits) == 1, old
    hits[0]["source"] = cell_source(hits[0]).replace(old, new)
    return notebook


# ----------------------------------------------------------------------------- release

def test_strip_regions_stubs_solutions_with_their_indentation_and_drops_hidden_tests():
    text = ("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n"
            "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN TESTS")
    assert R.strip_regions(text) == ("def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n"
                                     "    raise NotImplementedError()\n\nassert f(1) == 2")


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a matching"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION", "inside an open"),
])
def test_broken_markers_are_reported_with_the_cell(text, message):
    with pytest.raises(R.ReleaseError, match=message) as error:
        R.strip_regions(text, where="09_x.ipynb, cell 4")
    assert "09_x.ipynb, cell 4" in str(error.value)


def test_release_refuses_a_notebook_without_exercise(tmp_path):
    path = _write(tmp_path / "09_x.ipynb", _notebook("x = 1"))
    with pytest.raises(R.ReleaseError, match="09_x.ipynb: no exercise cell"):
        R.build_release([path], tmp_path / "out")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_graded_exercises_and_a_student_version(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    found = R.exercises(notebook)
    assert found, f"{path.name} has no exercise"
    for exercise in found:
        cell = notebook["cells"][exercise.cell_index]
        assert cell["metadata"]["nbgrader"]["solution"] is True and R.EXERCISE_TAG in cell["metadata"]["tags"]
        assert exercise.functions, f"{exercise.grade_id} defines no function"
        tests = next(c for c in notebook["cells"][exercise.cell_index + 1:] if c["cell_type"] == "code")
        assert tests["metadata"]["nbgrader"]["grade"] is True and tests["metadata"]["nbgrader"]["points"] > 0
    student = R.student_notebook(notebook, path.name)
    text = json.dumps(student)
    for marker in (R.BEGIN_SOLUTION, R.END_SOLUTION, R.BEGIN_HIDDEN, R.END_HIDDEN):
        assert marker not in text
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in student["cells"] if c["cell_type"] == "code")
    changed = [i for i, (a, b) in enumerate(zip(notebook["cells"], student["cells"], strict=True))
               if cell_source(a) != cell_source(b)]
    allowed = {e.cell_index for e in found} | {e.cell_index + 1 for e in found} | {
        i for i, c in enumerate(notebook["cells"]) if R.BEGIN_HIDDEN in cell_source(c)}
    assert set(changed) <= allowed, "only exercise and test cells may change in the student version"
    assert (ROOT / "grading" / f"{path.stem}.py").exists(), f"no hidden checks for {path.stem}"


def test_release_command_writes_student_notebooks_and_the_helper_package(tmp_path):
    assert main(["release", "--out", str(tmp_path), str(NOTEBOOKS[0])]) == 0
    assert (tmp_path / NOTEBOOKS[0].name).exists() and (tmp_path / "course_utils" / "vae.py").exists()
    assert not (tmp_path / "grading").exists() and not (tmp_path / "course_utils" / "instructor").exists()


# ----------------------------------------------------------------------------- checks

def test_function_check_gives_partial_credit_case_by_case():
    check = FunctionCheck("double", "double", lambda rng: [(1,), (2,), (3,), (4,)], lambda x: 2 * x, points=2)
    outcomes = [{"value": as_arrays(2)}, {"value": as_arrays(4)}, {"value": as_arrays(7)}, {"error": "ValueError: x"}]
    result = check.score([2, 4, 6, 8], outcomes)
    assert result.points == 1.0 and result.max_points == 2
    assert "2/4 cases correct" in result.reason and "case 3: 7, expected 6" in result.reason
    assert "case 4: ValueError: x" in result.reason


def test_compare_reports_shapes_counts_and_nan():
    assert compare([np.zeros(3)], [np.zeros(3)], 1e-6, 0) == ""
    assert "shape (2,)" in compare([np.zeros(3)], [np.zeros(2)], 1e-6, 0)
    assert "returned 1 value(s), expected 2" in compare([np.zeros(1), np.zeros(1)], [np.zeros(1)], 1e-6, 0)
    assert "NaN" in compare([np.zeros(2)], [np.array([0.0, np.nan])], 1e-6, 0)
    with pytest.raises(TypeError, match="not numbers"):
        as_arrays({"a": 1})


def test_result_check_kinds():
    recorded = {"a": 0.5, "b": 0.5004, "flag": True, "n": 7}
    assert ResultCheck("r", "a").score({"a": 0.5}, recorded).passed
    assert not ResultCheck("r", "a").score({"a": 0.6}, recorded).passed
    assert ResultCheck("r", "b", same_as="a", rtol=1e-3).score({}, recorded).passed
    assert ResultCheck("r", "n", bounds=(5, None)).score({}, recorded).passed
    assert not ResultCheck("r", "n", bounds=(None, 6)).score({}, recorded).passed
    assert ResultCheck("r", "flag", expected=True).score({}, recorded).passed
    missing = ResultCheck("r", "zzz").score({}, recorded, "the cell raised KeyError")
    assert missing == CheckResult("r", 0.0, 1.0, "`zzz` was not recorded (the cell raised KeyError)")


def test_load_checks_failures(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checks file"):
        load_checks(tmp_path / "nope.py")
    (tmp_path / "bad.py").write_text("EXERCISE = 'x'\n")
    with pytest.raises(ValueError, match="EXERCISE"):
        load_checks(tmp_path / "bad.py")
    (tmp_path / "dup.py").write_text("from course_utils.instructor.checks import ResultCheck\nEXERCISE = 'x'\n"
                                     "CHECKS = [ResultCheck('a', 'k'), ResultCheck('a', 'j')]\n")
    with pytest.raises(ValueError, match="unique"):
        load_checks(tmp_path / "dup.py")


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: p.stem)
def test_hidden_checks_agree_with_the_instructor_solution_and_fail_the_stub(path):
    """Run each exercise cell's solution (and its student stub) on the check inputs, without the notebook."""
    suite = load_checks(path)
    notebook = json.loads((ROOT / "notebooks" / f"{suite.exercise}.ipynb").read_text(encoding="utf-8"))
    imports = next(cell_source(c) for c in notebook["cells"] if c["cell_type"] == "code")
    solutions = [cell_source(notebook["cells"][e.cell_index]) for e in R.exercises(notebook)]
    namespaces = {}
    for version in ("solution", "stub"):
        namespace: dict = {}
        exec(imports, namespace)  # noqa: S102 (the kit's own notebook)
        for text in solutions:
            exec(text if version == "solution" else R.strip_regions(text), namespace)  # noqa: S102
        namespaces[version] = namespace
    assert suite.function_checks, f"{path.name} has no function check"
    for check in suite.function_checks:
        cases = check.make_cases(0)
        expected = [check.reference(*case) for case in cases]
        outcomes = [{"value": as_arrays(namespaces["solution"][check.function](*case))} for case in cases]
        assert check.score(expected, outcomes).passed, check.id
        with pytest.raises(NotImplementedError):
            namespaces["stub"][check.function](*cases[0])


# ----------------------------------------------------------------------------- grading notebook 01 end to end

@pytest.fixture(scope="module")
def graded_01(tmp_path_factory):
    """Grade four submissions of notebook 01 in parallel: reference, untouched release, a bug, a shuffle."""
    tmp = tmp_path_factory.mktemp("grade01")
    reference = json.loads((ROOT / "notebooks" / "01_pca.ipynb").read_text(encoding="utf-8"))
    subs = tmp / "submissions"
    subs.mkdir()
    _write(subs / "alice reference.ipynb", reference)
    _write(subs / "bob_untouched.ipynb", R.student_notebook(reference))
    _write(subs / "carol_bug.ipynb", _edit(reference, "np.asarray(singular_values, dtype=float) ** 2",
                                           "np.asarray(singular_values, dtype=float)"))
    # Dave copied the exercise cell to the end, moved his function below its first use, deleted the results cell.
    shuffled = copy.deepcopy(reference)
    cells = shuffled["cells"]
    exercise = R.exercises(shuffled)[0].cell_index
    cells.append(copy.deepcopy(cells[exercise]))
    cells.insert(len(cells) - 4, cells.pop(exercise))
    shuffled["cells"] = [c for c in cells if "results" not in c["metadata"].get("tags", [])]
    _write(subs / "dave_shuffled.ipynb", shuffled)
    (subs / "notes.txt").write_text("not a notebook: ignored")
    grades = grade_folder(subs, ROOT / "grading" / "01_pca.py", tmp / "out", workers=2,
                          limits=Limits(timeout=600, cell_timeout=300))
    return {g.student: g for g in grades}, tmp / "out"


def _failed(grade) -> set[str]:
    return {r.check for r in grade.results if not r.passed}


def test_reference_solution_scores_full_marks(graded_01):
    grades, _ = graded_01
    alice = grades["alice_reference"]
    assert alice.points == alice.max_points == 9, [r.reason for r in alice.results]


def test_untouched_release_scores_zero_on_code_checks_without_crashing(graded_01):
    grades, _ = graded_01
    bob = grades["bob_untouched"]
    assert bob.run.status == "ok"
    lost = next(r for r in bob.results if r.check == "lost_energy")
    assert lost.points == 0 and "NotImplementedError: the exercise is not done yet" in lost.reason
    # the figure that does not depend on the exercise still counts
    assert _failed(bob) == {"lost_energy", "raccoon_loss_L10", "raccoon_L_below_1pct", "pedestrians_loss_2pc",
                            "pedestrians_loss_3pc"}


def test_a_bug_loses_exactly_the_affected_checks(graded_01):
    grades, _ = graded_01
    carol = grades["carol_bug"]
    assert _failed(carol) == {"lost_energy", "raccoon_loss_L10", "pedestrians_loss_2pc", "pedestrians_loss_3pc"}
    lost = next(r for r in carol.results if r.check == "lost_energy")
    assert 0 < lost.points < lost.max_points, "cases that the bug does not affect keep their credit"


def test_moved_duplicated_cells_and_a_deleted_results_cell_still_grade(graded_01):
    grades, _ = graded_01
    dave = grades["dave_shuffled"]
    assert dave.points == dave.max_points, [r.reason for r in dave.results if not r.passed]
    assert any(c.get("retried") for c in dave.run.cells), "the cell run before its definition was retried"


def test_reports_csv_and_feedback_with_figures(graded_01):
    grades, out = graded_01
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows} == set(grades) and len(rows) == 4 * 6
    assert set(rows[0]) == {"student", "check", "points", "max", "reason"}
    page = (out / "feedback" / "carol_bug.html").read_text(encoding="utf-8")
    assert "raccoon_loss_L10" in page and page.count("data:image/png;base64,") >= 3
    assert "| carol_bug | lost_energy |" in grades_table(list(grades.values()))


# ----------------------------------------------------------------------------- sandbox limits, on tiny notebooks

TINY_CHECKS = '''
from course_utils.instructor.checks import FunctionCheck, ResultCheck
EXERCISE = "tiny"
CHECKS = [FunctionCheck("double", "double", lambda rng: [(1.0,), (2.5,)], lambda x: 2 * x, points=2),
          ResultCheck("answer", "answer", expected=42)]
'''
GOOD = ("from course_utils.report import Report\nreport = Report('tiny')",
        "def double(x):\n    return 2 * x",
        "report.record('answer', 42)")


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "grading").mkdir()
    (tmp_path / "grading" / "tiny.py").write_text(TINY_CHECKS)
    (tmp_path / "subs").mkdir()

    def grade(notebooks: dict[str, tuple[str, ...]], **limits):
        for name, cells in notebooks.items():
            _write(tmp_path / "subs" / f"{name}.ipynb", _notebook(*cells))
        grades = grade_folder(tmp_path / "subs", tmp_path / "grading" / "tiny.py", tmp_path / "out",
                              reference_notebook=tmp_path / "grading" / "none.ipynb", workers=2,
                              limits=Limits(**{"timeout": 60, "cell_timeout": 5, **limits}))
        return {g.student: g for g in grades}

    grade.root = tmp_path
    return grade


def test_endless_loops_cost_only_their_cells_and_a_hard_limit_stops_the_rest(tiny):
    grades = tiny({
        "good": GOOD,
        "loop_in_cell": (*GOOD[:2], "while True:\n    pass", GOOD[2]),
        "loop_in_function": (GOOD[0], "def double(x):\n    while True:\n        pass", GOOD[2]),
        "ignores_alarms": (*GOOD, "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                  "while True:\n    time.sleep(1)"),
    }, timeout=25)
    assert grades["good"].points == 3
    assert grades["loop_in_cell"].points == 3 and "CellTimeout" in grades["loop_in_cell"].run.errors[0]["error"]
    looped = grades["loop_in_function"]
    assert looped.points == 1 and "time limit" in looped.results[0].reason and "skipped" in looped.results[0].reason
    stuck = grades["ignores_alarms"]
    assert stuck.run.status == "timeout" and stuck.run.seconds < 40
    assert [r.points for r in stuck.results] == [0.0, 1.0], "results recorded before the hang still count"
    assert "time limit of 25 s" in stuck.results[0].reason


def test_memory_limit_network_and_instructor_files(tiny):
    secret = tiny.root / "grading" / "tiny.py"
    grades = tiny({
        "greedy": (*GOOD, "hog = bytearray(6 * 1024**3)"),
        "spy": (*GOOD, f"print(open({str(secret)!r}).read())", f"import os\nos.listdir({str(secret.parent)!r})",
                "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=2)",
                "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)",
                "import subprocess\nsubprocess.run(['cat', " + repr(str(secret)) + "], check=True)"),
    }, memory=3 * 1024**3)
    assert "MemoryError" in grades["greedy"].run.errors[0]["error"] and grades["greedy"].points == 3
    errors = [c["error"] for c in grades["spy"].run.errors]
    assert len(errors) == 5, errors
    assert errors[0].startswith("FileNotFoundError") and errors[1].startswith("FileNotFoundError"), \
        "the instructor's files do not exist inside the sandbox"
    assert all("network access is disabled" in e or "URLError" in e for e in errors[2:4]), errors
    assert errors[4].startswith("CalledProcessError"), "a child process sees no more than the notebook"
    assert grades["spy"].points == 3, "phase 2 still gets the inputs and grades the function"


def test_a_submission_sees_only_its_own_files(tiny):
    peek = ("import glob\nfound = [p for top in ('/home', '/tmp', '/opt') "
            "for p in glob.glob(top + '/**/*.ipynb', recursive=True)]\n"
            "assert found == ['/opt/course-kit/submission.ipynb'], found")
    readers = ("import os, time, uuid\nmine = uuid.uuid4().hex\nopen('/tmp/' + mine, 'w').write('a')\ntime.sleep(3)\n"
               "assert [n for n in os.listdir('/tmp') if len(n) == 32] == [mine], 'no /tmp shared with others'")
    grades = tiny({"a": (*GOOD, peek, readers), "b": (*GOOD, peek, readers)})
    for grade in grades.values():
        assert grade.points == 3
        assert not grade.run.errors, grade.run.errors


def test_network_is_blocked_by_the_audit_hook_without_a_namespace(tmp_path):
    path = _write(tmp_path / "n.ipynb", _notebook("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))"))
    run = run_notebook(path, [], Limits(timeout=60, network_namespace=False, unsafe_no_sandbox=True))
    assert run.errors and "network access is disabled" in run.errors[0]["error"]
    assert socket.socket  # the parent is untouched


def test_a_broken_file_or_a_process_that_exits_is_graded_with_a_reason(tiny):
    (tiny.root / "subs" / "broken.ipynb").write_text("{ not json")
    grades = tiny({"good": GOOD, "exits": (*GOOD, "import os\nos._exit(0)")})
    assert grades["broken"].points == 0 and "not a readable notebook" in grades["broken"].results[0].reason
    assert grades["good"].points == 3
    exits = grades["exits"]
    assert exits.run.status == "crashed" and [r.points for r in exits.results] == [0.0, 1.0]
    assert "ended with code 0" in exits.results[0].reason


# ----------------------------------------------------------------------------- the release runs to its first exercise

def test_every_student_notebook_runs_up_to_its_first_exercise_and_fails_exactly_there(tmp_path):
    """The release check of CI, two notebooks at a time: nothing before the first exercise is broken."""
    students = R.build_release(NOTEBOOKS, tmp_path)
    limits = Limits(timeout=600, cell_timeout=600)
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = list(pool.map(lambda s: check_release_notebook(s, ROOT / "notebooks" / s.name, limits), students))
    assert not [p for p in problems if p], problems
