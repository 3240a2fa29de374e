"""Instructor workflow: student release, checks, sandboxed parallel grading, reports."""

from __future__ import annotations

import copy
import csv
import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from course_utils.instructor import release as R
from course_utils.instructor.__main__ import SOLVED_DEFAULT, check_release_notebook, check_solved_notebook, main
from course_utils.instructor.checks import (
    CheckResult,
    FunctionCheck,
    ResultCheck,
    as_arrays,
    compare,
    load_checks,
    not_charged_again,
    substituted,
    written_answer_results,
)
from course_utils.instructor.datasets import warm_cache
from course_utils.instructor.edition import build_edition
from course_utils.instructor.grade import Limits, grade_folder, grades_table, run_notebook
from course_utils.instructor.leaks import find_leaks
from course_utils.instructor.release import cell_source
from course_utils.instructor.sandbox import decode_inputs, encode_inputs, helpers_for
from tests.conftest import GOOD, TINY_CHECKS

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
    written = {i for i, c in enumerate(notebook["cells"]) if R.WRITTEN_TAG in c["metadata"].get("tags", [])}
    allowed = {e.cell_index for e in found} | {e.cell_index + 1 for e in found} | {
        i for i, c in enumerate(notebook["cells"]) if R.BEGIN_HIDDEN in cell_source(c)} | written
    assert set(changed) <= allowed, "only exercise, test and written-answer cells may change in the student version"
    assert all(cell_source(student["cells"][i]) == R.WRITTEN_PLACEHOLDER for i in written)
    assert (ROOT / "grading" / f"{path.stem}.py").exists(), f"no hidden checks for {path.stem}"


def test_release_command_writes_student_notebooks_and_the_helper_package(tmp_path):
    assert main(["release", "--out", str(tmp_path), "--url", "https://github.com/org/course", str(NOTEBOOKS[0])]) == 0
    assert (tmp_path / NOTEBOOKS[0].name).exists() and (tmp_path / "course_utils" / "vae.py").exists()
    assert (tmp_path / "pyproject.toml").exists() and (tmp_path / "README.md").exists()
    assert not (tmp_path / "grading").exists() and not (tmp_path / "course_utils" / "instructor").exists()
    assert R.forbidden_paths(tmp_path) == [] and not (tmp_path / "tests").exists() and not (tmp_path / "tools").exists()


# ----------------------------------------------------------------------------- i11a: written answers, classes,
# forbidden paths, demo bugs, case weights, pending manual grading

def _markdown(source: str, tags: list[str] | None = None, nbgrader: dict | None = None) -> dict:
    meta = {"tags": tags or []}
    if nbgrader:
        meta["nbgrader"] = nbgrader
    return {"cell_type": "markdown", "metadata": meta, "source": source}


def _with_written_answer() -> dict:
    notebook = _notebook("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
                         "class Model:\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION")
    notebook["cells"][0]["metadata"]["nbgrader"] = {"grade_id": "09-f", "solution": True}
    notebook["cells"] += [_markdown("**Q1.** Why?"),
                          _markdown("Because the loss is below 1 %.", [R.WRITTEN_TAG],
                                    {"solution": True, "grade": True, "grade_id": "09-q1", "points": 2})]
    return notebook


def test_written_answers_are_blanked_and_classes_count_as_exercises():
    notebook = _with_written_answer()
    student = R.student_notebook(notebook)
    assert cell_source(student["cells"][3]) == "YOUR ANSWER HERE"
    assert student["cells"][3]["metadata"]["nbgrader"]["grade_id"] == "09-q1"
    assert "1 %" not in json.dumps(student)
    assert [e.functions for e in R.exercises(notebook)] == [("f",), ("Model",)]
    code_answer = copy.deepcopy(notebook)
    code_answer["cells"][3]["cell_type"] = "code"
    with pytest.raises(R.ReleaseError, match="must be a markdown cell"):
        R.student_notebook(code_answer)


def test_release_refuses_to_write_instructor_material(tmp_path):
    path = _write(tmp_path / "09_x.ipynb", _with_written_answer())
    (tmp_path / "out" / "grading").mkdir(parents=True)
    with pytest.raises(R.ReleaseError, match="instructor material"):
        R.build_release([path], tmp_path / "out")


def test_pending_written_answers_are_read_from_the_submission(tmp_path):
    reference = _write(tmp_path / "ref.ipynb", _with_written_answer())
    answered = _write(tmp_path / "a.ipynb", _with_written_answer())
    blank = _write(tmp_path / "b.ipynb", R.student_notebook(_with_written_answer()))
    moved = _with_written_answer()
    moved["cells"] = moved["cells"][:3]
    missing = _write(tmp_path / "c.ipynb", moved)
    results = {p.stem: written_answer_results(reference, p)[0] for p in (answered, blank, missing)}
    assert all(r.pending and r.points == 0 and r.max_points == 2 and r.shown_points == "pending" and not r.passed
               for r in results.values())
    assert "Because the loss is below 1 %." in results["a"].reason
    assert "not answered" in results["b"].reason and "missing" in results["c"].reason
    assert written_answer_results(tmp_path / "nope.ipynb", answered) == []


def test_edge_cases_carry_only_their_share_and_normalize_applies_to_both_sides():
    check = FunctionCheck("sq", "sq", lambda rng: [(0,), (1,), (2,), (3,), (4,), (5,)], lambda x: x * x, points=5,
                          edge=lambda x: x in (0, 1), edge_share=0.2)
    cases = check.make_cases(0)
    expected = check.expected(cases)
    assert expected == [0, 1, 4, 9, 16, 25] and sum(expected.weights) == pytest.approx(5)
    assert expected.weights[:2] == [0.5, 0.5] and expected.weights[2:] == [1.0] * 4
    wrong = [{"value": as_arrays(x)} for x in (0, 1, 2, 3, 4, 5)]  # identity: right on the edge cases only
    assert check.score(expected, wrong).points == pytest.approx(1.0)
    signs = FunctionCheck("v", "v", lambda rng: [(1.0,)], lambda x: np.array([x, -x]), points=1,
                          normalize=lambda values: [np.abs(v) for v in values])
    assert signs.score(signs.expected([(1.0,)]), [{"value": [np.array([-1.0, 1.0])]}]).passed


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: p.stem)
def test_demo_bugs_apply_once_and_change_an_exercise(path):
    suite = load_checks(path)
    bugs = getattr(suite.module, "DEMO_BUGS", {})
    notebook = json.loads((ROOT / "notebooks" / f"{suite.exercise}.ipynb").read_text(encoding="utf-8"))
    for name, replacements in bugs.items():
        buggy = R.apply_replacements(notebook, [tuple(r) for r in replacements], name)
        assert buggy != notebook, name
    with pytest.raises(R.ReleaseError, match="occurs 0 times"):
        R.apply_replacements(notebook, [("no such text anywhere 1234", "")])


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
    imports = next(cell_source(c) for c in notebook["cells"]
                   if c["cell_type"] == "code" and "install-kit" not in c["metadata"].get("tags", []))
    solutions = [cell_source(notebook["cells"][e.cell_index]) for e in R.exercises(notebook)]
    namespaces = {}
    for version in ("solution", "stub"):
        namespace: dict = {}
        exec(imports, namespace)  # noqa: S102 (the kit's own notebook)
        for text in solutions:
            exec(text if version == "solution" else R.strip_regions(text), namespace)  # noqa: S102
        namespaces[version] = namespace
    assert suite.function_checks, f"{path.name} has no function check"
    all_cases = suite.cases(0)  # the grader's seeds (grade.grading_job's default), check by check
    for check in suite.function_checks:
        cases = all_cases[check.id]
        expected = check.expected(cases)  # through the probe, with the cases' weights

        def call(version, case, check=check):
            student = namespaces[version][check.function]
            return student(*case) if check.probe is None else check.probe(student, *case)

        # The cases travel into the sandbox as JSON and .npz (no pickle): what the child decodes is what it calls,
        # with the reference helpers (answer tables, substitutes) the child gives the student's function.
        payload = encode_inputs({check.id: check.phase2_input(cases)})
        decoded = decode_inputs(io.BytesIO(payload).read)[check.id]
        with substituted(namespaces["solution"], helpers_for(decoded, namespaces["solution"])):
            outcomes = [{"value": as_arrays(call("solution", case))} for case in decoded["cases"]]
        result = check.score(expected, outcomes)
        assert result.passed, (check.id, result.reason)
        with pytest.raises(NotImplementedError):
            call("stub", decoded["cases"][0])


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
    bug = load_checks(ROOT / "grading" / "01_pca.py").module.DEMO_BUGS["lost_energy_not_squared"]
    _write(subs / "carol_bug.ipynb", R.apply_replacements(reference, bug))
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


def _auto(grade) -> float:
    return sum(r.max_points for r in grade.results if not r.pending)


@pytest.mark.network
def test_reference_solution_scores_full_marks(graded_01):
    grades, _ = graded_01
    alice = grades["alice_reference"]
    assert alice.points == _auto(alice) == 16, [r.reason for r in alice.results if not r.passed]
    pending = [r for r in alice.results if r.pending]
    assert [(r.check, r.max_points) for r in pending] == [("01-q1", 2)] and "Model answer" in pending[0].reason


@pytest.mark.network
def test_untouched_release_scores_zero_without_crashing(graded_01):
    grades, _ = graded_01
    bob = grades["bob_untouched"]
    assert bob.run.status == "ok" and bob.points == 0
    fit = next(r for r in bob.results if r.check == "fit_pca")
    assert "NotImplementedError: the exercise is not done yet" in fit.reason
    assert "not answered" in next(r for r in bob.results if r.pending).reason


@pytest.mark.network
def test_a_bug_loses_exactly_the_affected_checks(graded_01):
    grades, _ = graded_01
    carol = grades["carol_bug"]
    # One bug costs its own points: smallest_rank_below gets the reference's lost_energy, and the four loss
    # figures, wrong because of lost_energy, are not charged again.
    assert _failed(carol) - {"01-q1"} == {"lost_energy"}
    lost = next(r for r in carol.results if r.check == "lost_energy")
    assert 0 < lost.points <= 0.2 * lost.max_points + 1e-9, "edge cases right, but they carry only 20 %"
    assert "energies are their squares" in lost.hint
    figure = next(r for r in carol.results if r.check == "raccoon_loss_L10")
    assert figure.points == figure.max_points and "not charged again" in figure.reason


@pytest.mark.network
def test_moved_duplicated_cells_and_a_deleted_results_cell_still_grade(graded_01):
    grades, _ = graded_01
    dave = grades["dave_shuffled"]
    assert dave.points == _auto(dave), [r.reason for r in dave.results if not r.passed and not r.pending]
    assert any(c.get("retried") for c in dave.run.cells), "the cell run before its definition was retried"


@pytest.mark.network
def test_reports_csv_and_feedback_with_figures(graded_01):
    grades, out = graded_01
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows} == set(grades) and len(rows) == 4 * 11
    assert {r["points"] for r in rows if r["check"] == "01-q1"} == {"pending"}
    assert set(rows[0]) == {"student", "check", "points", "max", "reason"}
    page = (out / "feedback" / "carol_bug.html").read_text(encoding="utf-8")
    assert "raccoon_loss_L10" in page and page.count("data:image/png;base64,") >= 3
    assert "| carol_bug | lost_energy |" in grades_table(list(grades.values()))


# ----------------------------------------------------------------------------- sandbox limits, on tiny notebooks



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
    with socket.socket() as parent_socket:  # the hook ran in the child only: the parent may still bind
        parent_socket.bind(("127.0.0.1", 0))
        assert parent_socket.getsockname()[1] > 0


def test_a_broken_file_or_a_process_that_exits_is_graded_with_a_reason(tiny):
    (tiny.root / "subs" / "broken.ipynb").write_text("{ not json")
    grades = tiny({"good": GOOD, "exits": (*GOOD, "import os\nos._exit(0)")})
    assert grades["broken"].points == 0 and "not a readable notebook" in grades["broken"].results[0].reason
    assert grades["good"].points == 3
    exits = grades["exits"]
    assert exits.run.status == "crashed" and [r.points for r in exits.results] == [0.0, 1.0]
    assert "ended with code 0" in exits.results[0].reason


# ----------------------------------------------------------------------------- the release runs to its first exercise

@pytest.mark.network
def test_every_student_notebook_runs_up_to_its_first_exercise_and_fails_exactly_there(tmp_path):
    """The release check of CI, two notebooks at a time: nothing before the first exercise is broken."""
    assert warm_cache() == []  # as check-release does: the notebooks' data, before the read-only sandbox
    students = build_edition(tmp_path, url="https://github.com/org/course")  # what students receive
    limits = Limits(timeout=600, cell_timeout=600)
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = list(pool.map(lambda s: check_release_notebook(s, ROOT / "notebooks" / s.name, limits), students))
    assert not [p for p in problems if p], problems


# ----------------------------------------------------------------------------- i11a: check-release (b) and (c)

# Exercises whose released helpers still hand out the answer, until their notebooks are converted (issue 11/12).
# Remove an entry when its notebook is done: the test then insists that it leaks nothing.
PENDING_LEAKS: set[str] = set()

TINY_LEAK_CHECKS = '''
import numpy as np
from course_utils.instructor.checks import FunctionCheck
EXERCISE = "09_tiny"
CHECKS = [FunctionCheck("share", "share", lambda rng: [(rng.uniform(1, 2, size=5), 2), (rng.uniform(1, 2, size=5), 0)],
                        lambda s, L: float((s[L:] ** 2).sum() / (s ** 2).sum()), points=2,
                        edge=lambda s, L: L == 0)]
'''


def test_leak_check_finds_a_released_answer_and_passes_an_innocent_package(tmp_path):
    """Positive and negative control of the leak check on a tiny fake release."""
    grading = tmp_path / "grading"
    grading.mkdir()
    (grading / "09_tiny.py").write_text(TINY_LEAK_CHECKS)
    for name, body in [("leaky", "def lost(values, n):\n    e = values ** 2\n    return e[n:].sum() / e.sum()\n"),
                       ("innocent", "def lost(values, n):\n    return float(values[n:].sum() / values.sum())\n"
                                    "def _hidden(values, n):\n    e = values ** 2\n"
                                    "    return e[n:].sum() / e.sum()\n")]:
        package = tmp_path / name / "course_utils"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "helpers.py").write_text("import numpy as np\n\n" + body)
    leaky = find_leaks(tmp_path / "leaky", grading, call_timeout=5, module_timeout=60)
    assert [str(leak) for leak in leaky.leaks] == [
        "course_utils.helpers.lost reproduces the whole answer of 09_tiny:share (case 1)"]
    innocent = find_leaks(tmp_path / "innocent", grading, call_timeout=5, module_timeout=60)
    assert innocent.ok and innocent.calls == 1 and innocent.functions == 1, "private functions are not called"


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    build_edition(out, url="https://github.com/org/course")
    return out


def test_no_released_function_reproduces_a_reference_answer(release_dir):
    """check-release (c): every public function of the released package on every function check's inputs."""
    report = find_leaks(release_dir, ROOT / "grading")
    assert not report.failed_modules, report.failed_modules
    assert report.calls > 0 and report.functions > 20
    leaking = {leak.check.split(":")[0] for leak in report.leaks}
    assert leaking <= PENDING_LEAKS, [str(leak) for leak in report.leaks if leak.check.split(":")[0] not in
                                      PENDING_LEAKS]
    assert leaking == PENDING_LEAKS, f"{sorted(PENDING_LEAKS - leaking)} no longer leak: remove from PENDING_LEAKS"


@pytest.mark.parametrize("stem", [pytest.param(stem, marks=pytest.mark.network) if stem == "01_pca" else stem
                                  for stem in SOLVED_DEFAULT])  # 01 loads the real raccoon photograph
def test_solved_notebook_runs_through_on_the_release(release_dir, stem):
    """check-release (b): the instructor notebook (solutions spliced back in) runs on the released package."""
    assert check_solved_notebook(ROOT / "notebooks" / f"{stem}.ipynb", release_dir) == ""


# ----------------------------------------------------------------------------- one bug costs its own points

def test_answer_table_gives_the_references_answers_for_listed_arguments_only():
    from course_utils.instructor.sandbox import answer_table

    s = np.array([3.0, 2.0, 1.0])
    calls = []

    def student_lost_energy(singular_values, n_components):  # wrong (not squared) but it keeps its own cases
        calls.append(n_components)
        return float(np.sum(singular_values[n_components:]) / np.sum(singular_values))

    helper = answer_table("lost_energy", [((s, 1), (np.array(5 / 14),), "scalar"),
                                          ((s, 2), (np.array(1 / 14),), "scalar")], student_lost_energy)
    assert helper(s.copy(), 1) == pytest.approx(5 / 14) and helper(s, n_components=2) == pytest.approx(1 / 14)
    assert helper(singular_values=s, n_components=np.int64(2)) == pytest.approx(1 / 14)
    assert calls == [] and helper(s, 0) == 1.0 and calls == [0], "other arguments go to the student's own helper"
    mean = np.zeros(2)
    table = answer_table("fit_pca", [((np.eye(2),), (mean, np.eye(2), np.array(1.5)), "tuple")], None)
    got = table(np.eye(2))
    got[0][0] = 99.0  # the caller may modify what it got: the next call gets the reference's answer again
    assert table(np.eye(2))[0][0] == 0.0 and isinstance(table(np.eye(2))[2], float)
    with pytest.raises(NameError, match="fit_pca"):
        table(np.ones((2, 2)))


def test_a_figure_that_follows_from_a_charged_bug_is_not_charged_again(tmp_path):
    (tmp_path / "c.py").write_text(
        "from course_utils.instructor.checks import FunctionCheck, ResultCheck\nEXERCISE = 'x'\n"
        "CHECKS = [FunctionCheck('f', 'f', lambda rng: [(1.0,)], abs),\n"
        "          ResultCheck('fig', 'fig', expected=2.0, depends_on=('f',)),\n"
        "          ResultCheck('other', 'other', expected=1)]\n")
    suite = load_checks(tmp_path / "c.py")
    wrong_f = CheckResult("f", 1.0, 2.0, "1/2 cases correct")
    results = [wrong_f, suite.checks[1].score({}, {"fig": 3.0}), suite.checks[2].score({}, {"other": 0})]
    kept = not_charged_again(suite, results, {"fig": 3.0, "other": 0})
    assert [r.points for r in kept] == [1.0, 1.0, 0.0]
    assert "not charged again" in kept[1].reason and "`f`" in kept[1].reason
    missing = suite.checks[1].score({}, {})
    forgiven = not_charged_again(suite, [wrong_f, missing, results[2]], {})[1]
    assert forgiven.points == 1 and "was not recorded because of `f`" in forgiven.reason, "its cell failed on f's bug"
    stub = CheckResult("f", 0.0, 2.0, "NotImplementedError")
    assert not_charged_again(suite, [stub, missing, results[2]], {})[1].points == 0, "functions that do not work"
    assert not_charged_again(suite, [stub, results[1], results[2]], {"fig": 3.0})[1].points == 0, "garbage figures"
    right_f = CheckResult("f", 2.0, 2.0, "all cases correct")
    assert not_charged_again(suite, [right_f, *results[1:]], {"fig": 3.0})[1].points == 0, "its own bug"
    (tmp_path / "bad.py").write_text(
        "from course_utils.instructor.checks import ResultCheck\nEXERCISE = 'x'\n"
        "CHECKS = [ResultCheck('fig', 'fig', depends_on=('nope',))]\n")
    with pytest.raises(ValueError, match="unknown checks"):
        load_checks(tmp_path / "bad.py")


def test_hints_name_the_bug_and_values_are_named():
    suite = load_checks(ROOT / "grading" / "01_pca.py")
    check = next(c for c in suite.function_checks if c.id == "fit_pca")
    cases = suite.cases(0)[check.id]
    expected = check.expected(cases)
    uncentred = [{"value": as_arrays((X.mean(0), *np.linalg.svd(X, full_matrices=False)[1:][::-1][:1],
                                      np.linalg.svd(X, full_matrices=False)[1],
                                      np.linalg.svd(X - X.mean(0), full_matrices=False)[1] ** 2
                                      / np.sum(np.linalg.svd(X - X.mean(0), full_matrices=False)[1] ** 2)))}
                 for (X,) in cases]
    result = check.score(expected, uncentred)
    assert result.points == 0 and "components:" in result.reason and "value 2" not in result.reason
    assert "did you subtract the column means" in result.hint and result.description == check.description
    assert check.score(expected, [{"value": as_arrays(v)} for v in expected]).hint == ""
