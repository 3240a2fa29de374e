"""One source of points: the grading module writes the notebook's nbgrader points and the totals in its text.

``grading/NN_topic.py`` holds every point of a sheet: ``CHECKS`` (:class:`FunctionCheck` and
:class:`ResultCheck`, graded automatically) and ``WRITTEN`` (written answer grade_id -> points, graded by hand).
From it, ``python -m course_utils points --write`` sets in ``notebooks/NN_topic.ipynb``

* each ``exercise-tests`` cell's ``metadata.nbgrader.points``: the points of the function checks of the
  functions and classes its exercise cell defines;
* the ``results`` cell's nbgrader metadata: an autograded cell (grade id ``NN_topic-results``) carrying the
  total of the ``ResultCheck`` points (see :func:`results_metadata` for why that cell);
* each ``written-answer`` cell's points: ``WRITTEN``;
* the points stated in the markdown: exercise headings ("Exercise 2 ... (3 points)", "(2 + 2 points)"),
  question headings ("**Question 6 (written, 2 points).**"), the overview's list items (a function's
  "(3 automatic points ...", the figures' "(6: ...", a written answer's "(2, graded by hand") and the sheet's
  total ("points in brackets, 18 in all").

``--check`` changes nothing and fails, naming the cell and both numbers, where the notebook disagrees, and
where its text states points that no rule above ties to the grading module. Only metadata and markdown change:
the notebooks are not re-executed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import WRITTEN_ANSWER_TAG, CheckSuite, load_checks, written_answers
from .release import TESTS_TAG, cell_source, exercises

RESULTS_TAG = "results"  # course_utils.report.RESULTS_TAG (not imported: this module stays light)
NUMBER = r"\d+(?:\.\d+)?"


def fmt(points: float) -> str:
    """``3`` for 3.0, ``2.5`` for 2.5: how points are written in metadata and text."""
    return str(int(points)) if float(points).is_integer() else f"{points:g}"


def _json_points(points: float) -> int | float:
    """Points as nbgrader's metadata holds them: an int where whole (the committed notebooks' ``"points": 3``)."""
    return int(points) if float(points).is_integer() else float(points)


@dataclass
class SheetPoints:
    """A sheet's points as its grading module defines them."""

    exercise: str
    functions: dict[str, list[float]]
    """Student function or class name -> the points of its function checks, in ``CHECKS`` order."""
    results: float
    """Total of the ``ResultCheck`` points (figures the notebook records)."""
    written: dict[str, float]
    """Written answer grade_id -> points (the module's ``WRITTEN``)."""

    @property
    def automatic(self) -> float:
        """Points graded automatically: the function checks and the result checks."""
        return float(sum(sum(p) for p in self.functions.values()) + self.results)

    @property
    def manual(self) -> float:
        """Points graded by hand: the written answers."""
        return float(sum(self.written.values()))

    @classmethod
    def from_suite(cls, suite: CheckSuite) -> SheetPoints:
        """The points of ``suite``; a module without ``WRITTEN`` is refused (it must name its written points)."""
        if suite.written is None:
            raise ValueError(f"{suite.path}: no WRITTEN (written answer grade_id -> points; {{}} if there is none).")
        functions: dict[str, list[float]] = {}
        for check in suite.function_checks:
            functions.setdefault(check.function, []).append(float(check.points))
        return cls(suite.exercise, functions, float(sum(c.points for c in suite.result_checks)), dict(suite.written))


@dataclass
class Outcome:
    """What syncing one notebook found: the edits (made or to make) and the problems no edit can fix."""

    name: str
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def results_metadata(exercise: str, points: float) -> dict[str, Any]:
    """nbgrader metadata of the ``results`` cell: an autograded (locked test) cell with the figures' points.

    Why this cell: the kit's grader gives the ``ResultCheck`` points by comparing the recorded figures with
    the reference run, which nbgrader cannot do without shipping the expected figures in the student
    notebook (they must stay hidden); a new test cell that asserted the figures exist would change the
    committed notebooks' code and require re-running them. The ``results`` cell shows exactly those figures
    and runs last, so it carries their points in nbgrader's gradebook: nbgrader's automatic / manual split
    equals the kit grader's, and an instructor who grades with nbgrader alone reviews that cell (nbgrader
    awards its points when it runs without an error, whatever the figures).
    """
    return {"grade": True, "grade_id": f"{exercise}-results", "locked": True, "points": _json_points(points),
            "schema_version": 3, "solution": False, "task": False}


def _set_points(cell: dict[str, Any], points: float, what: str, outcome: Outcome) -> None:
    """Set ``cell``'s ``metadata.nbgrader.points`` to ``points``, noting the change in ``outcome``."""
    grading = cell.setdefault("metadata", {}).setdefault("nbgrader", {})
    old = grading.get("points")
    if old is None or not math.isclose(float(old), points):
        outcome.changes.append(f"{what}: nbgrader points {old} -> {fmt(points)}")
        grading["points"] = _json_points(points)


def _sync_metadata(notebook: dict[str, Any], sheet: SheetPoints, outcome: Outcome) -> None:
    """The nbgrader metadata: tests cells from the function checks, the results cell, the written answers."""
    cells = notebook.get("cells", [])
    tests = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"): index for index, cell in enumerate(cells)
             if TESTS_TAG in cell.get("metadata", {}).get("tags", [])}
    graded: set[str] = set()
    for exercise in exercises(notebook):
        names = [name for name in exercise.functions if name in sheet.functions]
        index = tests.pop(f"{exercise.grade_id}-tests", None)
        if not names:
            if index is not None:
                outcome.problems.append(f"cell {index} ({exercise.grade_id}-tests): no function check of the "
                                        f"grading module grades {', '.join(exercise.functions) or 'its exercise'}")
            continue
        if index is None:
            outcome.problems.append(f"cell {exercise.cell_index} ({exercise.grade_id}): no `{TESTS_TAG}` cell "
                                    f"with grade_id {exercise.grade_id}-tests carries the points of {names}")
            continue
        graded.update(names)
        _set_points(cells[index], sum(sum(sheet.functions[n]) for n in names), f"cell {index} ({exercise.grade_id}"
                    f"-tests: {' + '.join(names)})", outcome)
    for grade_id, index in tests.items():
        outcome.problems.append(f"cell {index} ({grade_id}): an `{TESTS_TAG}` cell without its exercise cell")
    for name in sorted(set(sheet.functions) - graded):
        outcome.problems.append(f"the function check(s) of `{name}` ({fmt(sum(sheet.functions[name]))} points) "
                                "have no exercise cell that defines it")

    results = [index for index, cell in enumerate(cells) if RESULTS_TAG in cell.get("metadata", {}).get("tags", [])]
    if sheet.results and len(results) != 1:
        outcome.problems.append(f"{len(results)} cells tagged {RESULTS_TAG!r}; one must carry the figures' "
                                f"{fmt(sheet.results)} points")
    for index in results:
        metadata = cells[index].setdefault("metadata", {})
        wanted = results_metadata(sheet.exercise, sheet.results) if sheet.results else None
        if metadata.get("nbgrader") != wanted:
            old = metadata.get("nbgrader", {}).get("points")
            outcome.changes.append(f"cell {index} ({RESULTS_TAG}): nbgrader autograded cell, points {old} -> "
                                   f"{fmt(sheet.results)} (the ResultChecks)")
            if wanted is None:
                metadata.pop("nbgrader", None)
            else:
                metadata["nbgrader"] = wanted

    found = written_answers(notebook)
    for index, grade_id, _ in found:
        if grade_id in sheet.written:
            _set_points(cells[index], sheet.written[grade_id], f"cell {index} ({grade_id}, written)", outcome)
        else:
            outcome.problems.append(f"cell {index}: written answer {grade_id!r} is not in the grading module's "
                                    "WRITTEN")
    for grade_id in sorted(set(sheet.written) - {grade_id for _, grade_id, _ in found}):
        outcome.problems.append(f"WRITTEN names {grade_id!r}, but no `{WRITTEN_ANSWER_TAG}` cell has that grade_id")


# --- points stated in the markdown ---------------------------------------------------------------------------

HEADING = re.compile(rf"(Exercise \d+\b[^\n(]*\()({NUMBER}(?:\s*\+\s*{NUMBER})*)(\s+points?\))")
QUESTION = re.compile(rf"(\*\*Question [^\s(]+ \((?:written, )?)({NUMBER})(\s+points?\))")
TOTAL = re.compile(rf"(points in brackets, )({NUMBER})( in all)|()({NUMBER})( points (?:in all|in total))")
ITEM = re.compile(r"(?ms)^[ \t]*\d+\.[ \t].*?(?=^[ \t]*\d+\.[ \t]|^[ \t]*$|\Z)")
AFTER = r"(?=\)|[:;,]|\s+(?:automatic\s+)?points?\b)"
FIGURES = re.compile(rf"(figures[^()`\n]*\()({NUMBER}){AFTER}")
WRITTEN_ITEM = re.compile(rf"([Ww]ritten answer[^()]*\()({NUMBER}){AFTER}")
STATED = re.compile(rf"\(\s*{NUMBER}(?:\s*\+\s*{NUMBER})*\s+(?:automatic\s+)?points?\b"
                    rf"|\b{NUMBER} points? in (?:all|total)")
"""Any statement of points; one that no rule above covers is a problem (the text would drift unnoticed)."""


@dataclass
class _Edit:
    """Replace ``text[start:end]`` of a markdown cell by ``new`` (``what``: the rule, for the report)."""

    start: int
    end: int
    new: str
    what: str


def _following(index: int, targets: list[int]) -> int | None:
    """The first of ``targets`` (cell indices) after cell ``index``."""
    return next((t for t in targets if t > index), None)


def _markdown_edits(notebook: dict[str, Any], sheet: SheetPoints) -> Iterator[tuple[int, list[_Edit], list[str]]]:
    """Per markdown cell: the number edits its point statements need, and what cannot be tied to the module."""
    cells = notebook.get("cells", [])
    exercise_cells = {e.cell_index: [n for n in e.functions if n in sheet.functions] for e in exercises(notebook)}
    written = [(index, grade_id) for index, grade_id, _ in written_answers(notebook)]
    total = sheet.automatic + sheet.manual
    written_items = 0
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown" or WRITTEN_ANSWER_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        text = cell_source(cell)
        edits: list[_Edit] = []
        problems: list[str] = []

        def want(match: re.Match[str], group: int, value: str, what: str, edits: list[_Edit] = edits) -> None:
            edits.append(_Edit(match.start(group), match.end(group), value, what))

        for match in HEADING.finditer(text):
            target = _following(index, sorted(exercise_cells))
            names = exercise_cells.get(target, []) if target is not None else []
            parts = [p for n in names for p in sheet.functions[n]]
            if not parts:
                problems.append(f"cell {index}: {match.group(0)!r} names no graded exercise after it")
                continue
            value = " + ".join(map(fmt, parts)) if "+" in match.group(2) else fmt(sum(parts))
            want(match, 2, value, f"exercise heading ({', '.join(names)})")
        for match in QUESTION.finditer(text):
            target = _following(index, [i for i, _ in written])
            if target is None:
                problems.append(f"cell {index}: {match.group(0)!r} has no written-answer cell after it")
                continue
            grade_id = dict(written)[target]
            want(match, 2, fmt(sheet.written.get(grade_id, 0.0)), f"question heading ({grade_id})")
        for match in TOTAL.finditer(text):
            group = 2 if match.group(2) is not None else 5
            want(match, group, fmt(total), "the sheet's total (automatic + written)")
        for item in ITEM.finditer(text):
            body, offset = item.group(0), item.start()
            for name in re.findall(r"`(\w+)`", body):
                if name not in sheet.functions:
                    continue
                match = re.search(rf"(`{name}`[^`(]*\()({NUMBER}){AFTER}", body)
                if match:
                    edits.append(_Edit(offset + match.start(2), offset + match.end(2), fmt(sum(sheet.functions[name])),
                                       f"overview item `{name}`"))
            for match in FIGURES.finditer(body):
                edits.append(_Edit(offset + match.start(2), offset + match.end(2), fmt(sheet.results),
                                   "overview item: the recorded figures (ResultChecks)"))
            for match in WRITTEN_ITEM.finditer(body):
                if written_items < len(written):
                    grade_id = written[written_items][1]
                    edits.append(_Edit(offset + match.start(2), offset + match.end(2),
                                       fmt(sheet.written.get(grade_id, 0.0)), f"overview item: written {grade_id}"))
                else:
                    problems.append(f"cell {index}: overview item {body.strip()[:60]!r}... names more written answers "
                                    f"than the notebook has ({len(written)})")
                written_items += 1
        for match in STATED.finditer(text):
            if not any(match.start() <= e.start and e.end <= match.end() for e in edits):
                problems.append(f"cell {index}: {match.group(0)!r} states points that no rule ties to the grading "
                                "module (write it as the rules in course_utils/instructor/points.py expect)")
        yield index, edits, problems


def _sync_markdown(notebook: dict[str, Any], sheet: SheetPoints, outcome: Outcome) -> None:
    """Rewrite the numbers of the point statements in the markdown cells (see :func:`_markdown_edits`)."""
    cells = notebook.get("cells", [])
    for index, edits, problems in _markdown_edits(notebook, sheet):
        outcome.problems.extend(problems)
        text = cell_source(cells[index])
        new = text
        for edit in sorted({(e.start, e.end): e for e in edits}.values(), key=lambda e: e.start, reverse=True):
            old = text[edit.start:edit.end]
            if old != edit.new:
                context = " ".join(text[max(0, edit.start - 40):edit.end + 12].split())
                outcome.changes.append(f"cell {index}, {edit.what}: {old} -> {edit.new} (in '...{context}...')")
                new = new[:edit.start] + edit.new + new[edit.end:]
        if new != text:
            lines = new.split("\n")
            cells[index]["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def sync(notebook: dict[str, Any], sheet: SheetPoints, name: str = "notebook") -> Outcome:
    """Bring ``notebook``'s nbgrader points and stated totals in line with ``sheet``, in place."""
    outcome = Outcome(name)
    _sync_metadata(notebook, sheet, outcome)
    _sync_markdown(notebook, sheet, outcome)
    return outcome


def notebook_text(notebook: dict[str, Any]) -> str:
    """A notebook as the committed files are written (nbformat's layout: indent 1, sorted keys)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def sync_file(notebook_path: Path, checks_path: Path, write: bool) -> tuple[Outcome, SheetPoints]:
    """Check (``write=False``) or write one notebook against its grading module: what was found, and the points.

    With ``write`` the file is rewritten only when there is something to change and no problem.
    """
    sheet = SheetPoints.from_suite(load_checks(checks_path))
    raw = Path(notebook_path).read_text(encoding="utf-8")
    notebook = json.loads(raw)
    outcome = sync(notebook, sheet, str(notebook_path))
    if write and outcome.changes and not outcome.problems:
        Path(notebook_path).write_text(notebook_text(notebook), encoding="utf-8")
    return outcome, sheet


def split(notebook: dict[str, Any]) -> tuple[float, float]:
    """``(automatic, manual)`` points of a notebook's nbgrader metadata, as nbgrader counts them.

    Autograded: code cells with ``grade`` and not ``solution`` (test cells); manual: graded ``solution``
    cells (written answers, manually graded code).
    """
    automatic = manual = 0.0
    for cell in notebook.get("cells", []):
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if grading.get("grade"):
            points = float(grading.get("points", 0))
            if grading.get("solution"):
                manual += points
            else:
                automatic += points
    return automatic, manual


def main(notebooks: list[Path], grading: Path, write: bool) -> int:
    """Check or write ``notebooks`` against ``grading/<stem>.py``; print what changed or differs; exit status."""
    status = 0
    for path in notebooks:
        outcome, sheet = sync_file(path, grading / f"{path.stem}.py", write)
        verb = "rewritten" if write and not outcome.problems else "differs"
        for change in outcome.changes:
            print(f"{path.name}: {verb}: {change}")
        for problem in outcome.problems:
            print(f"{path.name}: PROBLEM: {problem}")
        if outcome.problems or (outcome.changes and not write):
            status = 1
        state = "ok" if not outcome.changes else ("written" if write and not outcome.problems else "out of date")
        print(f"{path.name}: {state} ({fmt(sheet.automatic)} automatic + {fmt(sheet.manual)} written = "
              f"{fmt(sheet.automatic + sheet.manual)} points, from {(grading / path.stem).name}.py)")
    if status and not write:
        print("Run `python -m course_utils points --write` to write the grading modules' points into the notebooks.")
    return status
