"""Write a batch's reports: ``grades.csv``, ``summary.csv`` and one feedback page per student."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

from .checks import CheckSuite
from .records import Grade
from .text import clean_text


def write_reports(grades: list[Grade], suite: CheckSuite, out_dir: Path, withhold_expected: bool = False) -> None:
    """``grades.csv``, ``summary.csv`` and one feedback page per student (see :func:`feedback_html`)."""
    with (out_dir / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "check", "points", "max", "reason"])
        for grade in grades:
            for result in grade.results:
                writer.writerow([grade.student, result.check, result.shown_points, result.max_points,
                                 clean_text(result.reason, 2000)])
    with (out_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "points", "max", "seconds", "status", "cells_with_errors", "sandbox", "file",
                         "host", "worker", "wall_seconds", "resumed"])
        for grade in grades:
            writer.writerow([grade.student, grade.points, grade.max_points, grade.run.seconds, grade.run.status,
                             len(grade.run.errors), grade.run.sandbox, grade.file, grade.host, grade.worker,
                             grade.wall, "yes" if grade.resumed else ""])
    feedback = out_dir / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in grades:
        (feedback / f"{grade.student}.html").write_text(feedback_html(grade, suite, withhold_expected),
                                                           encoding="utf-8")


def feedback_html(grade: Grade, suite: CheckSuite, withhold_expected: bool = False) -> str:
    """A self-contained HTML page for one student: automatic points and pending review apart, each check with
    what it checks, why points were lost and a hint where the grader recognised the bug; errors; figures.

    ``withhold_expected`` leaves the expected figures out of the reasons (until the instructor releases grades:
    grade again with ``--resume`` and without ``--withhold-expected`` to rewrite the pages, nothing re-runs).
    Rendered from the Jinja2 template ``templates/feedback.html.j2`` with autoescape on (the student's
    text cannot add markup) and ``StrictUndefined`` (a name missing from the context is an error, not a blank).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("course_utils.instructor", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    errors = [{"cell": c["cell"] + 1, "first_line": c.get("first_line", ""), "error": c["error"]}
              for c in grade.run.errors[:20]]
    automatic = [r for r in grade.results if not r.pending]
    rows = [{"check": r.check, "points": r.points, "max_points": r.max_points, "pending": r.pending,
             "passed": r.passed, "reason": r.public_reason(withhold_expected), "description": r.description,
             "hint": r.hint} for r in grade.results]
    return env.get_template("feedback.html.j2").render(
        exercise=suite.exercise, student=grade.student, seconds=grade.run.seconds, status=grade.run.status,
        message=grade.run.message, results=rows, errors=errors, withheld=withhold_expected,
        auto_points=round(sum(r.points for r in automatic), 4), auto_max=round(sum(r.max_points for r in automatic), 4),
        pending_max=round(sum(r.max_points for r in grade.results if r.pending), 4),
        figures=[base64.b64encode(png).decode() for png in grade.run.figures])


def grades_table(grades: list[Grade]) -> str:
    """A markdown table: one row per student and check (for the README and the console)."""
    lines = ["| student | check | points | max | reason |", "|---|---|---|---|---|"]
    for grade in grades:
        for r in grade.results:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {grade.student} | {r.check} | {r.points:g} | {r.max_points:g} | {reason} |")
    return "\n".join(lines)
