"""The real nbgrader agrees with the kit's grader on notebook 01's points.

nbgrader's own ``generate_assignment`` and ``autograde`` run in a temporary course folder (its own
``nbgrader_config.py``, a SQLite gradebook in the folder) on two submissions: the instructor notebook (the
reference) and the kit's student release of it. nbgrader's split into automatic and manual (written) points
must equal the kit grader's for both, and so must the automatic score of the reference. Only notebook 01
(about 8 s to execute) runs here; the others differ only in their metadata, which ``tests/test_points.py``
checks against the same grading modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course_utils.data.loaders import COURSE_DIR_ENV
from course_utils.instructor import release as R
from course_utils.instructor.checks import load_checks
from course_utils.instructor.grade import Limits, grade_folder

ROOT = Path(__file__).resolve().parents[1]
EXERCISE, ASSIGNMENT = "01_pca", "ps01"
STUDENTS = ("reference", "release")

pytestmark = pytest.mark.network  # notebook 01 needs its real data sets (or a warm data cache)

CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "course-kit"
c.CourseDirectory.db_url = {db!r}
c.Execute.timeout = 600
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
"""


BIN = str(Path(sys.executable).parent)
"""nbgrader's gradebook runs the ``alembic`` command: this environment's scripts must be on the PATH."""


def _path() -> str:
    return os.pathsep.join([BIN, os.environ.get("PATH", "")])


def _nbgrader(course: Path, *args: str) -> None:
    """Run ``python -m nbgrader ARGS`` in ``course`` (its config file is found there); fail with its log."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PATH=_path(), COURSE_KIT_PROFILE="small")
    files = Path(os.environ.get(COURSE_DIR_ENV) or ROOT / "data" / "course")  # the course files, from any cwd
    if files.is_dir():
        env[COURSE_DIR_ENV] = str(files.resolve())
    env.pop("MPLBACKEND", None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


def _split(scores: list[tuple[float, float | None, bool]]) -> dict[str, float]:
    """Automatic max and score, manual max, from ``(max_score, auto_score, graded by hand)`` per grade cell.

    A cell graded by hand is a graded solution cell (a written answer); nbgrader still gives it an automatic
    0 when it is unchanged from the release (unanswered), so ``auto_score`` alone does not tell the kinds apart.
    """
    return {"auto_max": sum(m for m, _, hand in scores if not hand), "auto": sum(a or 0 for _, a, hand in scores
                                                                                 if not hand),
            "manual_max": sum(m for m, _, hand in scores if hand)}


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """The two submitted notebooks (instructor notebook, kit release of it) and a folder for the runs."""
    tmp = tmp_path_factory.mktemp("nbgrader")
    reference = json.loads((ROOT / "notebooks" / f"{EXERCISE}.ipynb").read_text(encoding="utf-8"))
    return tmp, {"reference": reference, "release": R.student_notebook(reference, EXERCISE)}


@pytest.fixture(scope="module")
def nbgrader_split(submissions) -> dict[str, dict[str, float]]:
    """nbgrader's ``generate_assignment`` then ``autograde`` of both submissions: each one's split."""
    tmp, notebooks = submissions
    course = tmp / "course"
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    (source / f"{EXERCISE}.ipynb").write_bytes((ROOT / "notebooks" / f"{EXERCISE}.ipynb").read_bytes())
    db = f"sqlite:///{tmp / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), db=db), encoding="utf-8")
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert (course / "release" / ASSIGNMENT / f"{EXERCISE}.ipynb").is_file()
    for student, notebook in notebooks.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{EXERCISE}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    _nbgrader(course, "autograde", ASSIGNMENT, "--force")
    with pytest.MonkeyPatch.context() as patch, Gradebook(db) as gradebook:
        patch.setenv("PATH", _path())
        by_hand = {cell.name for cell in gradebook.find_notebook(EXERCISE, ASSIGNMENT).solution_cells}
        return {student: _split([(g.max_score, g.auto_score, g.name in by_hand) for g in
                                 gradebook.find_submission_notebook(EXERCISE, ASSIGNMENT, student).grades])
                for student in STUDENTS}


@pytest.fixture(scope="module")
def kit_split(submissions) -> dict[str, dict[str, float]]:
    """The kit grader's split for the same two submissions (sandboxed, like every grading run)."""
    tmp, notebooks = submissions
    folder = tmp / "kit"
    folder.mkdir()
    for student, notebook in notebooks.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    grades = grade_folder(folder, ROOT / "grading" / f"{EXERCISE}.py", tmp / "kit-out", workers=2,
                          limits=Limits(timeout=600, cell_timeout=300), progress=False)
    return {g.student: {"auto_max": sum(r.max_points for r in g.results if not r.pending),
                        "auto": sum(r.points for r in g.results if not r.pending),
                        "manual_max": sum(r.max_points for r in g.results if r.pending)} for g in grades}


def test_nbgrader_gives_the_kit_graders_automatic_and_manual_points(nbgrader_split, kit_split):
    """One test (not one per submission): under pytest-xdist two tests could run both fixtures twice.

    On the untouched release every exercise's tests fail (0, as the kit gives); nbgrader cannot compare the
    recorded figures with the reference run, so it gives the ``results`` cell's points when that cell runs.
    """
    suite = load_checks(ROOT / "grading" / f"{EXERCISE}.py")
    expected = (suite.max_points, sum(suite.written.values()))
    assert expected == (16, 2)
    for student in STUDENTS:
        nb, kit = nbgrader_split[student], kit_split[student]
        assert (nb["auto_max"], nb["manual_max"]) == (kit["auto_max"], kit["manual_max"]) == expected, student
    assert nbgrader_split["reference"]["auto"] == kit_split["reference"]["auto"] == 16
    results = sum(check.points for check in suite.result_checks)
    assert kit_split["release"]["auto"] == 0
    assert nbgrader_split["release"]["auto"] == results == 6
