"""Write a batch's reports: ``grades.csv``, ``summary.csv`` and one feedback page per student.

Every text in a grade is already safe (made so where it entered, :mod:`.text`); here each CSV cell is
neutralised against spreadsheet formulas (:func:`.text.csv_cell`), each file is written atomically (a
temporary file renamed into place), and each student's rows and page are made on their own: a failure
costs that student only (a row saying so), and ``summary.csv`` is always written.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from .checks import CheckSuite
from .records import Grade
from .text import csv_cell, safe_text

MAX_FEEDBACK = 24 * 1024**2
"""A feedback page's size; over it, the page is made again without the figures, then without the errors."""
GRADES_HEADER = ["student", "check", "points", "max", "reason"]
SUMMARY_HEADER = ["student", "points", "max", "seconds", "status", "cells_with_errors", "sandbox", "file", "host",
                  "worker", "wall_seconds", "resumed"]


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place (never half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def csv_bytes(header: list[str], rows: Iterable[list]) -> bytes:
    """A CSV file (UTF-8) of ``rows``, every cell neutralised (:func:`.text.csv_cell`)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def grade_rows(grade: Grade) -> list[list]:
    """The rows of ``grades.csv`` of one student."""
    return [[grade.student, r.check, r.shown_points, r.max_points, safe_text(r.reason, 2000)] for r in grade.results]


def summary_row(grade: Grade) -> list:
    """The row of ``summary.csv`` of one student."""
    return [grade.student, grade.points, grade.max_points, grade.run.seconds, grade.run.status,
            len(grade.run.errors), grade.run.sandbox, grade.file, grade.host, grade.worker, grade.wall,
            "yes" if grade.resumed else ""]


def _each(grades: list[Grade], make, failed: dict[str, str]) -> list[list]:
    """``make(grade)`` for every grade; a grade whose rows cannot be made gets one row saying why."""
    rows: list[list] = []
    for grade in grades:
        try:
            made = make(grade)
            rows.extend(made if made and isinstance(made[0], list) else [made])
        except Exception as exc:  # noqa: BLE001 (one student's report must never stop the others')
            failed[grade.student] = safe_text(f"{type(exc).__name__}: {exc}", 300)
            rows.append([safe_text(grade.student, 200), "", "", "", f"report failed: {failed[grade.student]}"])
    return rows


def write_reports(grades: list[Grade], suite: CheckSuite, out_dir: Path,
                  withhold_expected: bool = False) -> dict[str, str]:
    """``grades.csv``, ``summary.csv`` and one feedback page per student; return ``{student: what failed}``.

    ``withhold_expected``: the feedback pages leave out the expected figures (see :func:`feedback_html`).
    ``summary.csv`` is written first and whatever else fails; a student whose page or rows cannot be
    made is named in a warning and in the returned mapping, and every other student's reports are written.
    """
    failed: dict[str, str] = {}
    write_atomically(out_dir / "summary.csv", csv_bytes(SUMMARY_HEADER, _each(grades, summary_row, failed)))
    write_atomically(out_dir / "grades.csv", csv_bytes(GRADES_HEADER, _each(grades, grade_rows, failed)))
    feedback = out_dir / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in grades:
        try:
            page = feedback_html(grade, suite, withhold_expected=withhold_expected)
            write_atomically(feedback / f"{grade.student}.html", page.encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 (one student's page must never stop the others')
            failed[grade.student] = safe_text(f"{type(exc).__name__}: {exc}", 300)
    for student, why in sorted(failed.items()):
        warnings.warn(f"{student}: a report could not be written ({why}); the other students' are complete",
                      stacklevel=2)
    return failed


def feedback_html(grade: Grade, suite: CheckSuite, withhold_expected: bool = False,
                  max_size: int = MAX_FEEDBACK) -> str:
    """A self-contained HTML page for one student: automatic points and pending review apart, each check with
    what it checks, why points were lost and a hint where the grader recognised the bug; errors; figures; at
    most ``max_size`` characters.

    ``withhold_expected`` leaves the expected figures out of the reasons (until the instructor releases grades:
    grade again with ``--resume`` and without ``--withhold-expected`` to rewrite the pages, nothing re-runs).
    Over ``max_size``, the page is made again without the figures, then without the errors' list.
    Rendered from the Jinja2 template ``templates/feedback.html.j2`` with autoescape on (the student's
    text cannot add markup) and ``StrictUndefined`` (a name missing from the context is an error, not a blank).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("course_utils.instructor", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    errors = [{"cell": c["cell"] + 1, "first_line": c.get("first_line", ""), "error": c["error"]}
              for c in grade.run.errors[:20]]
    rows = [{"check": r.check, "points": r.points, "max_points": r.max_points, "pending": r.pending,
             "passed": r.passed, "reason": r.public_reason(withhold_expected), "description": r.description,
             "hint": r.hint} for r in grade.results]
    figures = [base64.b64encode(png).decode() for png in grade.run.figures]
    for kept_figures, kept_errors in ((figures, errors), ([], errors), ([], [])):
        page = env.get_template("feedback.html.j2").render(
            exercise=suite.exercise, student=grade.student, seconds=grade.run.seconds, status=grade.run.status,
            message=grade.run.message, results=rows, errors=kept_errors, withheld=withhold_expected,
            auto_points=grade.auto_points, auto_max=grade.auto_max, pending_max=grade.pending_max,
            figures=kept_figures)
        if len(page) <= max_size:
            return page
    return page[:max_size]


def grades_table(grades: list[Grade]) -> str:
    """A markdown table: one row per student and check (for the README and the console)."""
    lines = ["| student | check | points | max | reason |", "|---|---|---|---|---|"]
    for grade in grades:
        for r in grade.results:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {grade.student} | {r.check} | {r.points:g} | {r.max_points:g} | {reason} |")
    return "\n".join(lines)
