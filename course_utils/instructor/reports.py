"""Write a batch's reports: ``grades.csv``, ``summary.csv`` and one feedback page per student."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

from .checks import CheckSuite
from .records import Grade
from .text import clean_text


def write_reports(grades: list[Grade], suite: CheckSuite, out_dir: Path) -> None:
    """``grades.csv``, ``summary.csv`` and one feedback page per student."""
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
        (feedback / f"{grade.student}.html").write_text(feedback_html(grade, suite), encoding="utf-8")


def feedback_html(grade: Grade, suite: CheckSuite) -> str:
    """A self-contained HTML page for one student: checks, errors, figures.

    Rendered from the Jinja2 template ``templates/feedback.html.j2`` with autoescape on (the student's
    text cannot add markup) and ``StrictUndefined`` (a name missing from the context is an error, not a blank).
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("course_utils.instructor", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    errors = [{"cell": c["cell"] + 1, "first_line": c.get("first_line", ""), "error": c["error"]}
              for c in grade.run.errors[:20]]
    return env.get_template("feedback.html.j2").render(
        exercise=suite.exercise, student=grade.student, points=grade.points, max_points=grade.max_points,
        seconds=grade.run.seconds, status=grade.run.status, message=grade.run.message, results=grade.results,
        errors=errors, figures=[base64.b64encode(png).decode() for png in grade.run.figures])


def grades_table(grades: list[Grade]) -> str:
    """A markdown table: one row per student and check (for the README and the console)."""
    lines = ["| student | check | points | max | reason |", "|---|---|---|---|---|"]
    for grade in grades:
        for r in grade.results:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {grade.student} | {r.check} | {r.points:g} | {r.max_points:g} | {reason} |")
    return "\n".join(lines)
