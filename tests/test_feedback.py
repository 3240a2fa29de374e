"""The feedback page: rendered from the Jinja2 template, student text escaped, every part of the grade shown."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from course_utils.instructor.checks import CheckResult, CheckSuite
from course_utils.instructor.grade import Grade, Run, feedback_html

ATTACK = "<script>alert('x')</script>"


class _Tags(HTMLParser):
    """Collects start tags and the text of the page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _grade(**run) -> tuple[Grade, CheckSuite]:
    results = [CheckResult("lost_energy", 2.0, 2.0, "all 5 cases match"),
               CheckResult("fit_pca", 0.5, 3.0, f"returned {ATTACK} & more")]
    run = {"status": "ok", "seconds": 12.4, **run}
    grade = Grade(f"eve{ATTACK}", results, Run(**run))
    return grade, CheckSuite(exercise="01_pca", checks=[], path=Path("grading/01_pca.py"))


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_student_text_is_escaped_everywhere():
    cells = [{"cell": 3, "status": "error", "first_line": ATTACK, "error": f"ValueError: {ATTACK}"}]
    grade, suite = _grade(status="crashed", message=ATTACK, cells=cells)
    page = feedback_html(grade, suite)
    parsed = _parse(page)
    assert "script" not in [tag for tag, _ in parsed.tags]
    assert "<script>" not in page and page.count("&lt;script&gt;") == 6  # title, h1, reason, status, 2 in the error
    assert "returned <script>alert('x')</script> & more" in "".join(parsed.text)


def test_page_shows_points_checks_errors_and_figures():
    png = b"\x89PNG fake bytes"
    cells = [{"cell": 0, "status": "error", "first_line": "x = 1 / 0", "error": "ZeroDivisionError"},
             {"cell": 1, "status": "ok"}]
    grade, suite = _grade(cells=cells, figures=[png, png])
    parsed = _parse(feedback_html(grade, suite))
    text = "".join(parsed.text)
    assert "2.5 / 5 automatic" in text and "(run took 12 s)" in text and "awaiting review" not in text
    rows = [attrs.get("class") for tag, attrs in parsed.tags if tag == "tr" and attrs]
    assert rows == ["ok", "bad"]
    assert "0.5 / 3" in text and "2 / 2" in text
    assert "cell 1 (x = 1 / 0): ZeroDivisionError" in text
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert [i["alt"] for i in images] == ["figure 1", "figure 2"]
    assert images[0]["src"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert "Run:" not in text  # a run that went well has no status line


def test_empty_parts_say_so():
    grade, suite = _grade()
    text = "".join(_parse(feedback_html(grade, suite)).text)
    assert "none were produced" in text and "none" in text.split("Cells that raised an error")[1]


def test_template_ships_with_the_package_and_refuses_missing_names():
    env = jinja2.Environment(loader=jinja2.PackageLoader("course_utils.instructor", "templates"),
                             undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("feedback.html.j2").render(exercise="01_pca")
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    # the instructor side, templates included, runs from a checkout and is never in the student wheel
    assert 'exclude = ["course_utils.instructor*"]' in pyproject


def test_pending_review_hints_descriptions_and_withheld_expected_figures():
    results = [CheckResult("fit_pca", 3.0, 3.0, "all 6 cases correct", description="mean, directions, energies"),
               CheckResult("lost_energy", 0.4, 2.0, "`lost_energy`: 2/10 cases correct. case 1: lost share: 0.3",
                           description="energy share lost", hint="the energies are their squares"),
               CheckResult("raccoon_loss_L10", 0.0, 1.0, "`raccoon_loss_L10` = 0.2, expected 0.0123 (rtol 1e-4)",
                           revealing="expected 0.0123 (rtol 1e-4)"),
               CheckResult("01-q1", 0.0, 2.0, "pending manual grading; answer: ...", pending=True)]
    grade = Grade("eve", results, Run(status="ok", seconds=3.0))
    suite = CheckSuite(exercise="01_pca", checks=[], path=Path("grading/01_pca.py"))
    parsed = _parse(feedback_html(grade, suite))
    text = "".join(parsed.text)
    assert "3.4 / 6 automatic, 2 points awaiting review" in text, "pending points are not part of a low score"
    rows = [attrs.get("class") for tag, attrs in parsed.tags if tag == "tr" and attrs]
    assert rows == ["ok", "bad", "bad", "pending"], "a pending answer is never a red zero"
    assert "awaiting review (2 points)" in text and "0 / 2" not in text
    assert "energy share lost" in text and "Hint: the energies are their squares" in text
    assert "expected 0.0123" in text
    withheld = "".join(_parse(feedback_html(grade, suite, withhold_expected=True)).text)
    assert "0.0123" not in withheld and "shown when grades are released" in withheld
    assert "`raccoon_loss_L10` = 0.2" in withheld, "the student's own figure is still shown"
