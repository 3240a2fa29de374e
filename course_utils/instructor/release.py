"""Student release: solutions replaced by a stub, hidden tests removed, outputs cleared.

The markers are nbgrader's, so instructors who use nbgrader can use the notebooks as they are:

* ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in a code cell becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()``, indented like the ``BEGIN`` line;
* ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed;
* a markdown cell tagged ``written-answer`` (the instructor's model answer to a written question) becomes
  ``YOUR ANSWER HERE``; its nbgrader metadata stays, so the grader finds the student's answer by grade_id.

Everything else (helper imports, data access, prose) is unchanged. The release never contains the
instructor package (``course_utils/instructor``: grader, reference answers), ``grading/``, ``tests/`` or
``tools/``; :func:`build_release` refuses to write one that does.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
EXERCISE_TAG = "exercise"
TESTS_TAG = "exercise-tests"
WRITTEN_TAG = "written-answer"
WRITTEN_PLACEHOLDER = "YOUR ANSWER HERE"
FORBIDDEN = ("course_utils/instructor", "grading", "tests", "tools")
"""Paths (relative to the release folder) that must never be part of a student release."""
_DEF = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)\s*[(:]", re.MULTILINE)


class ReleaseError(ValueError):
    """An instructor notebook whose markers cannot be turned into a student version."""


@dataclass(frozen=True)
class Exercise:
    """One exercise cell of an instructor notebook: its index, nbgrader id and the functions and classes it
    defines (top-level ``def`` and ``class`` statements)."""

    cell_index: int
    grade_id: str
    functions: tuple[str, ...]


def cell_source(cell: dict[str, Any]) -> str:
    """A notebook cell's source as one string (nbformat allows a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _set_source(cell: dict[str, Any], text: str) -> None:
    parts = text.split("\n")
    cell["source"] = [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def strip_regions(text: str, where: str = "cell") -> str:
    """Return ``text`` with solution regions replaced by the stub and hidden-test regions removed.

    Raises
    ------
    ReleaseError
        A ``BEGIN`` marker without its ``END`` (or the reverse), or nested markers; ``where`` names the
        notebook and cell in the message.
    """
    out: list[str] = []
    inside: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if inside:
                raise ReleaseError(f"{where}, line {number}: {marker!r} inside an open {inside!r} region.")
            inside = marker
            if marker == BEGIN_SOLUTION:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + stub for stub in STUB)
            continue
        if marker in (END_SOLUTION, END_HIDDEN):
            expected = BEGIN_SOLUTION if marker == END_SOLUTION else BEGIN_HIDDEN
            if inside != expected:
                raise ReleaseError(f"{where}, line {number}: {marker!r} without a matching {expected!r}.")
            inside = None
            continue
        if inside is None:
            out.append(line)
    if inside:
        raise ReleaseError(f"{where}: {inside!r} is never closed; add the matching END marker.")
    return "\n".join(out).rstrip("\n")


def exercises(notebook: dict[str, Any]) -> list[Exercise]:
    """The exercise cells of an instructor notebook (cells holding a ``BEGIN SOLUTION`` marker), in order."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        text = cell_source(cell)
        if cell.get("cell_type") == "code" and BEGIN_SOLUTION in text:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell-{index}")
            found.append(Exercise(index, grade_id, tuple(_DEF.findall(text))))
    return found


def student_notebook(notebook: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """The student version of a parsed instructor notebook (the input is not modified)."""
    student = copy.deepcopy(notebook)
    for index, cell in enumerate(student.get("cells", [])):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        text = cell_source(cell)
        if WRITTEN_TAG in cell.get("metadata", {}).get("tags", []):
            if cell.get("cell_type") != "markdown":
                raise ReleaseError(f"{name}, cell {index}: a {WRITTEN_TAG!r} cell must be a markdown cell.")
            cell["source"] = WRITTEN_PLACEHOLDER
            cell.pop("attachments", None)
        elif any(marker in text for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)):
            _set_source(cell, strip_regions(text, where=f"{name}, cell {index}"))
    return student


def forbidden_paths(out_dir: Path) -> list[Path]:
    """Everything under ``out_dir`` that a student release must not contain (see ``FORBIDDEN``)."""
    return [out_dir / name for name in FORBIDDEN if (out_dir / name).exists()]


def build_release(notebooks: list[Path], out_dir: Path, extra: list[Path] | None = None) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` and return their paths.

    ``extra`` files or folders (the helper package, requirements) are copied beside them unchanged.

    Raises
    ------
    ReleaseError
        A notebook has no exercise cell, or broken markers (the message names the file and cell).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if not exercises(notebook):
            raise ReleaseError(f"{path}: no exercise cell (a code cell with {BEGIN_SOLUTION!r}); nothing to release.")
        target = out_dir / path.name
        text = json.dumps(student_notebook(notebook, path.name), indent=1, ensure_ascii=False) + "\n"
        target.write_text(text, encoding="utf-8")
        written.append(target)
    for item in extra or []:
        destination = out_dir / item.name
        if item.is_dir():
            shutil.copytree(item, destination, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "instructor"))
        else:
            shutil.copy2(item, destination)
    leaked = forbidden_paths(out_dir)
    if leaked:
        raise ReleaseError(f"{out_dir}: the release would contain instructor material ({', '.join(map(str, leaked))});"
                           " remove it and build the release into an empty folder.")
    return written


def apply_replacements(notebook: dict[str, Any], replacements: list[tuple[str, str]], name: str = "notebook"
                       ) -> dict[str, Any]:
    """A copy of ``notebook`` with each exact ``(old, new)`` replacement made in the one cell holding ``old``.

    Used for the grading modules' ``DEMO_BUGS`` (a deliberate bug in the instructor notebook).

    Raises
    ------
    ReleaseError
        ``old`` occurs in no cell, in several, or several times in one.
    """
    changed = copy.deepcopy(notebook)
    for old, new in replacements:
        hits = [cell for cell in changed.get("cells", []) if old in cell_source(cell)]
        count = sum(cell_source(cell).count(old) for cell in hits)
        if count != 1:
            raise ReleaseError(f"{name}: {old!r} occurs {count} times in the notebook's cells; it must occur once.")
        _set_source(hits[0], cell_source(hits[0]).replace(old, new))
    return changed
