"""One source of points: the grading modules (CHECKS, WRITTEN) against the notebooks' nbgrader metadata and text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_utils.instructor import points as P
from course_utils.instructor.checks import PointsMismatch, load_checks, written_answer_ids, written_answer_results

ROOT = Path(__file__).resolve().parents[1]
GRADING = ROOT / "grading"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cell(notebook: dict, grade_id: str) -> dict:
    return next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _copy(tmp_path: Path, stem: str = "01_pca") -> tuple[Path, dict]:
    path = tmp_path / f"{stem}.ipynb"
    shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def _save(path: Path, notebook: dict) -> None:
    path.write_text(P.notebook_text(notebook), encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_agrees_with_its_grading_module(path):
    outcome, sheet = P.sync_file(path, GRADING / f"{path.stem}.py", write=False)
    assert not outcome.problems and not outcome.changes, "\n".join(outcome.problems + outcome.changes)
    automatic, manual = P.split(json.loads(path.read_text(encoding="utf-8")))
    suite = load_checks(GRADING / f"{path.stem}.py")
    assert (automatic, manual) == (suite.max_points, sum(suite.written.values())) == (sheet.automatic, sheet.manual)


def test_the_check_command_passes_on_the_committed_notebooks(capsys):
    assert P.main(NOTEBOOKS, GRADING, write=False) == 0
    assert "01_pca.ipynb: ok (16 automatic + 2 written = 18 points" in capsys.readouterr().out


def test_a_wrong_point_fails_the_check_and_write_fixes_it(tmp_path, capsys):
    path, notebook = _copy(tmp_path)
    _cell(notebook, "01_pca-reconstruct-tests")["metadata"]["nbgrader"]["points"] = 5
    _cell(notebook, "01_pca-results")["metadata"]["nbgrader"]["points"] = 1
    _cell(notebook, "01-q1")["metadata"]["nbgrader"]["points"] = 4
    intro = notebook["cells"][0]
    intro["source"] = [line.replace("18 in all", "20 in all") for line in intro["source"]]
    _save(path, notebook)
    before = path.read_text(encoding="utf-8")
    assert P.main([path], GRADING, write=False) == 1
    out = capsys.readouterr().out
    for expected in ["01_pca-reconstruct-tests: reconstruct): nbgrader points 5 -> 3", "points 1 -> 6",
                     "(01-q1, written): nbgrader points 4 -> 2", "the sheet's total (automatic + written): 20 -> 18"]:
        assert expected in out
    assert path.read_text(encoding="utf-8") == before  # --check changes nothing
    assert P.main([path], GRADING, write=True) == 0
    assert path.read_text(encoding="utf-8") == (ROOT / "notebooks" / "01_pca.ipynb").read_text(encoding="utf-8")
    assert P.main([path], GRADING, write=False) == 0


def test_stated_points_no_rule_covers_are_a_problem(tmp_path, capsys):
    path, notebook = _copy(tmp_path)
    notebook["cells"][3]["source"].append("\nA bonus part (4 points) nobody grades.")
    _save(path, notebook)
    assert P.main([path], GRADING, write=True) == 1
    assert "'(4 points' states points that no rule ties to the grading module" in capsys.readouterr().out
    assert path.read_text(encoding="utf-8") == P.notebook_text(notebook)  # a problem: nothing written


def test_an_exercise_without_a_graded_tests_cell_is_a_problem(tmp_path):
    path, notebook = _copy(tmp_path)
    _cell(notebook, "01_pca-lost_energy-tests")["metadata"]["nbgrader"]["grade_id"] = "renamed"
    sheet = P.SheetPoints.from_suite(load_checks(GRADING / "01_pca.py"))
    problems = P.sync(notebook, sheet).problems
    assert any("01_pca-lost_energy" in p and "no `exercise-tests` cell" in p for p in problems)
    assert any("renamed" in p for p in problems)


def test_the_grader_takes_written_points_from_the_module_and_refuses_a_mismatch(tmp_path):
    path, notebook = _copy(tmp_path)
    assert written_answer_ids(path, {"01-q1": 2}) == [("01-q1", 2.0)]
    assert written_answer_results(path, path, written={"01-q1": 2})[0].max_points == 2
    with pytest.raises(PointsMismatch, match=r"'01-q1' has 2 points in its nbgrader metadata, .* WRITTEN gives 3"):
        written_answer_ids(path, {"01-q1": 3})
    with pytest.raises(PointsMismatch, match="no `written-answer` cell has that grade_id"):
        written_answer_ids(path, {"01-q1": 2, "01-q2": 1})
    with pytest.raises(PointsMismatch, match="not in the grading module's WRITTEN"):
        written_answer_ids(path, {})
    assert written_answer_ids(tmp_path / "missing.ipynb", {"01-q1": 2}) == [("01-q1", 2.0)]
    assert written_answer_ids(tmp_path / "missing.ipynb") == []


def test_a_malformed_written_mapping_is_refused(tmp_path):
    module = (GRADING / "01_pca.py").read_text(encoding="utf-8").replace('WRITTEN = {"01-q1": 2}',
                                                                         'WRITTEN = {"01-q1": "two"}')
    assert 'WRITTEN = {"01-q1": "two"}' in module
    (tmp_path / "01_pca.py").write_text(module, encoding="utf-8")
    with pytest.raises(ValueError, match="WRITTEN must map written-answer grade_ids to points"):
        load_checks(tmp_path / "01_pca.py")
