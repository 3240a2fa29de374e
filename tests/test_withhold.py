"""Kit functions withheld while grading (course_utils/instructor/withhold.py): the transform, every grading module's
lists, and the notebooks' own cells (which must not need a function withheld for the whole run)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.instructor.checks import load_checks
from course_utils.instructor.isolation import release_package
from course_utils.instructor.release import EXERCISE_TAG, cell_source
from course_utils.instructor.withhold import WithheldError, split_entry, transform_source, withheld_of

ROOT = Path(__file__).resolve().parents[1]
CHECK_FILES = sorted((ROOT / "grading").glob("[0-9][0-9]_*.py"))

SOURCE = '''
def answer(x):
    """The answer."""
    secret = x * 42
    return secret


class Model:
    def step(self, x):
        return x + 1

    def other(self):
        return 0
'''


def test_the_transform_leaves_nothing_of_the_body_and_keeps_the_rest():
    text = transform_source(SOURCE, "course_utils.toy", ["answer", "Model.step"], [], "09_toy")
    assert "secret" not in text and "42" not in text and "x + 1" not in text
    assert "return 0" in text  # the rest of the class stays
    namespace: dict = {}
    exec(text, namespace)  # noqa: S102 (the transformed test source)
    for call in (lambda: namespace["answer"](1), lambda: namespace["Model"]().step(1)):
        with pytest.raises(RuntimeError, match=r"course_utils\.toy\.(answer|Model\.step) is withheld while grading "
                                               r"09_toy: it is what the exercise asks you to write"):
            call()
    assert namespace["Model"]().other() == 0


def test_a_guarded_function_works_until_phase_2(monkeypatch):
    text = transform_source(SOURCE, "course_utils.toy", [], ["answer"], "09_toy")
    namespace: dict = {}
    exec(text, namespace)  # noqa: S102
    assert namespace["answer"](1) == 42
    monkeypatch.setattr(sys, "course_kit_phase", 2, raising=False)
    with pytest.raises(RuntimeError, match="in the calls of your functions"):
        namespace["answer"](1)


@pytest.mark.parametrize("entry", ["course_utils.vae", "vae:reparameterize", "course_utils.vae:",
                                   "course_utils.instructor.grade:score", "course_utils.vae:a-b"])
def test_malformed_entries_are_refused(entry):
    with pytest.raises(WithheldError):
        split_entry(entry)


def test_a_name_the_module_does_not_define_is_refused():
    with pytest.raises(WithheldError, match="defines no function or method Model.missing"):
        transform_source(SOURCE, "course_utils.toy", ["Model.missing"], [], "09_toy")


CALL_EVERY_ENTRY = r'''
import importlib, inspect, json, sys
entries, in_calls = json.loads(sys.argv[1]), json.loads(sys.argv[2])


def target(entry):
    module, _, qualname = entry.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def raises_withheld(entry):
    function = target(entry)
    required = [p for p in inspect.signature(function).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        function(*[None] * len(required))
    except RuntimeError as exc:
        return "is withheld while grading" in str(exc)
    except Exception:
        return False
    return False


before = {entry: raises_withheld(entry) for entry in in_calls}
sys.course_kit_phase = 2
for entry in {e.partition(":")[0] for e in entries + in_calls}:
    importlib.reload(importlib.import_module(entry))  # a reload reads the same transformed file
print(json.dumps({"withheld": {e: raises_withheld(e) for e in entries}, "in_calls_before": before,
                  "in_calls_after": {e: raises_withheld(e) for e in in_calls}}))
'''


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: p.stem)
def test_every_withheld_function_raises_in_the_package_view(path, tmp_path):
    suite = load_checks(path)
    withheld, in_calls = withheld_of(suite.module)
    if not withheld and not in_calls:
        pytest.skip(f"{suite.exercise} withholds nothing")
    view = release_package(tmp_path / "view", withheld, in_calls, suite.exercise)
    assert not (view / "course_utils" / "instructor").exists()
    command = [sys.executable, "-c", CALL_EVERY_ENTRY, json.dumps(list(withheld)), json.dumps(list(in_calls))]
    env = {"PYTHONPATH": str(view), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3",
           "MPLBACKEND": "Agg"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(result["withheld"].values()), result["withheld"]
    assert not any(result["in_calls_before"].values()), result["in_calls_before"]
    assert all(result["in_calls_after"].values()), result["in_calls_after"]


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: p.stem)
def test_the_notebooks_own_cells_call_no_function_withheld_for_the_whole_run(path):
    """Cells other than the exercise cells run while grading: a function they call must not be in WITHHELD (it may
    be in WITHHELD_IN_CALLS, which raise only in the calls of the checks). By name, in the code."""
    suite = load_checks(path)
    withheld, _ = withheld_of(suite.module)
    notebook = json.loads((ROOT / "notebooks" / f"{suite.exercise}.ipynb").read_text(encoding="utf-8"))
    own = "\n".join(cell_source(c) for c in notebook["cells"] if c["cell_type"] == "code"
                    and EXERCISE_TAG not in c["metadata"].get("tags", []))
    own = "\n".join(line.split("#")[0] for line in own.splitlines())
    used = []
    for entry in withheld:
        name = split_entry(entry)[1].rsplit(".", 1)[-1]
        if re.search(rf"\.{re.escape(name)}\b", own) or re.search(rf"import[^\n]*\b{re.escape(name)}\b", own):
            used.append(entry)
    assert not used, f"{suite.exercise}'s own cells call {used}: move them to WITHHELD_IN_CALLS or use the student's"


def test_a_figure_computed_through_a_function_withheld_in_the_calls_earns_nothing():
    """WITHHELD_IN_CALLS functions work while the notebook runs: a delegating function records the right figure and
    fails only in its checks' calls; the figures that depend on it then score 0 (and not 'not charged again')."""
    from course_utils.instructor.checks import (
        CheckResult,
        CheckSuite,
        FunctionCheck,
        ResultCheck,
        not_through_withheld,
    )

    checks = [FunctionCheck("fraction", "fraction", lambda rng: [(1.0,)], lambda x: x, points=2),
              FunctionCheck("other", "other", lambda rng: [(1.0,)], lambda x: x, points=2),
              ResultCheck("figure", "figure", points=1, expected=0.5, depends_on=("fraction",)),
              ResultCheck("unrelated", "unrelated", points=1, expected=1.0, depends_on=("other",))]
    suite = CheckSuite("09_toy", checks, Path("09_toy.py"))
    withheld = ("`fraction`: 0/1 cases correct. case 1: RuntimeError: course_utils.modes.mahalanobis_distances is "
                "withheld while grading 09_toy (in the calls of your functions on the hidden inputs): ...")
    results = [CheckResult("fraction", 0.0, 2.0, withheld), CheckResult("other", 0.0, 2.0, "case 1: 3, expected 1"),
               CheckResult("figure", 1.0, 1.0, "`figure` = 0.5, as expected"),
               CheckResult("unrelated", 1.0, 1.0, "`unrelated` = 1.0, as expected")]
    kept = {r.check: r for r in not_through_withheld(suite, results)}
    assert kept["figure"].points == 0 and "withheld while grading" in kept["figure"].reason
    assert kept["unrelated"].points == 1  # its function failed for another reason: the figure keeps its point
    assert kept["fraction"].points == 0 and kept["other"].points == 0
