"""Graded checks: each has points, gives partial credit where it can, and explains every point it withholds.

An exercise's checks live in ``grading/NN_topic.py`` (instructor side, never released), a module with

* ``EXERCISE = "NN_topic"``: the notebook's stem;
* ``CHECKS``: a list of :class:`FunctionCheck` and :class:`ResultCheck`.

:class:`FunctionCheck` calls a function the student wrote on inputs generated at grading time (which the
student never saw) and compares with the instructor's reference (``course_utils.instructor.reference``),
case by case. Cases that ``edge`` marks as edge cases (``L = 0``, ``L = n``: answers a wrong formula can
still get right) share at most ``edge_share`` of the points; the substantive cases carry the rest.
:class:`ResultCheck` compares a figure the notebook recorded (``course_utils.report``) with the reference
run, another recorded figure, or bounds. :func:`written_answer_results` lists the notebook's written
answers (cells tagged ``written-answer``) as results pending manual grading.

The module may also define ``WRITTEN``: written answer ``grade_id`` -> points. With ``CHECKS`` it is the one
source of the sheet's points: the grader takes written points from it and refuses a reference notebook whose
nbgrader metadata disagrees (:class:`PointsMismatch`); ``python -m course_utils points --write`` writes the
notebooks' metadata from it (``course_utils/instructor/points.py``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import math
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .sandbox import as_arrays, call_key

Case = tuple[Any, ...]
JUDGE_LOCK = threading.Lock()
"""Judges (``FunctionCheck.judge``) run in the grader, some seeding Keras' global random state and training a
toy model: two grader threads judging at once would race on that state (a correct branch once lost a point)."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check for one student: points earned, out of ``max_points``, and why."""

    check: str
    points: float
    max_points: float
    reason: str
    pending: bool = False  # a written answer awaiting manual grading: ``points`` is not a grade yet
    description: str = ""  # what the check checks (from the grading module), shown in the feedback
    hint: str = ""  # a likely cause the grader recognised in the wrong answers (e.g. "did you centre X?")
    revealing: str = ""  # the part of ``reason`` that shows the expected figure (withheld until grades are released)

    @property
    def passed(self) -> bool:
        return not self.pending and math.isclose(self.points, self.max_points)

    def public_reason(self, withhold_expected: bool = False) -> str:
        """``reason`` as the student's feedback shows it: without the expected figure while it is withheld."""
        if withhold_expected and self.revealing:
            return self.reason.replace(self.revealing, "the expected value is shown when grades are released")
        return self.reason

    @property
    def shown_points(self) -> float | str:
        """``points``, or ``"pending"`` for a written answer not graded yet (the grades table's column)."""
        return "pending" if self.pending else self.points


class Expected(list):
    """The reference's return values, one per case, with the ``cases`` and their ``weights`` (share of the points)."""

    weights: list[float]
    cases: list[Case]  # the argument tuples (a check's ``judge`` reads them in the grader)
    judged: dict[int, list[np.ndarray]]  # case number -> the reference's values after ``judge`` (a cache)


@dataclass(frozen=True)
class FunctionCheck:
    """Call the student's ``function`` on fresh cases and compare with ``reference``.

    Parameters
    ----------
    id : str
        Name of the check in the grades table.
    function : str
        Name of the student's function (found in the notebook's namespace after it ran).
    cases : callable
        ``cases(rng) -> list of argument tuples``, drawn at grading time with a seeded generator.
    reference : callable
        The instructor's implementation, called with the same arguments.
    points : float
        Points for all cases right; without edge cases each case is worth ``points / len(cases)``.
    rtol, atol : float
        Tolerances of ``numpy.allclose`` for every returned number.
    description : str
        One line on what is checked, shown in the feedback.
    probe : callable, optional
        For code that does not map arrays to arrays (a Keras model builder, a ``keras.Model`` subclass, a
        callback): ``probe(student_object, *case) -> arrays``, called in the sandbox instead of
        ``student_object(*case)``. It must be importable by name (a module-level function of the
        instructor package, or a ``functools.partial`` of one), since it travels to the sandbox pickled.
        ``reference`` then returns what the probe returns for the instructor's code.
    edge : callable, optional
        ``edge(*case) -> bool``: the case is an edge case (trivial answers such as ``L = 0`` or ``L = n``).
        Edge cases together are worth ``edge_share`` of the points, the substantive ones the rest. The
        release check (``leaks``) uses only substantive cases.
    edge_share : float
        Share of the points for all edge cases together (only when there are both kinds).
    normalize : callable, optional
        ``normalize(list of arrays) -> list of arrays``, applied to the reference's and the student's
        return values before comparing (e.g. fix the arbitrary sign of eigenvectors). Runs in the grader.
    probe : callable, optional
        For pieces that do not return numbers (a Keras layer, a callback, a model builder) or whose output is
        random: ``probe(obj, *case) -> numbers`` exercises the student's object ``obj`` (and the reference
        the same way) and returns what is compared, e.g. output shapes, outputs on fixed weights, or whether
        a loss decreased over a few steps. It runs inside the sandbox, so it must be a module-level function
        of ``course_utils.probes`` or a submodule (the released package), not of ``grading/``.
    leak_parts : tuple of int, optional
        Indices of the returned values that the release's leak check protects one by one (default: all);
        leave out parts that are no answer on their own (e.g. the column means returned by ``fit_pca``).
        The whole answer is always protected.
    uses : mapping, optional
        One bug costs its own points: ``{helper: (reference_helper, args)}`` gives the student's function the
        reference's answers of another exercise function ``helper`` that it calls (e.g. ``reconstruct``
        calls ``fit_pca``). ``args(*case)`` lists the argument tuples to answer; the grader computes
        ``reference_helper(*arguments)`` for each and only those *answers* enter the sandbox (a table, no
        code). During this check, the student's ``helper`` is replaced by a lookup in the table that falls
        back to the student's own ``helper`` for any other arguments.
    substitutes : mapping, optional
        For helpers whose arguments cannot be known beforehand (tensors inside ``train_step``):
        ``{helper: function}``; the *source* of each function (after ``substitutes_preamble``, e.g. its
        imports) runs in the sandbox and replaces the student's ``helper`` during this check, and replaces
        the reference's own ``helper`` when the reference is called. Use it only where ``uses`` cannot work:
        the code runs in the student's process.
    substitutes_preamble : str
        Source run before the ``substitutes`` (imports they need).
    returns : tuple of str
        Names of the returned values (``("mean", "components", ...)``), used in the feedback.
    hints : tuple of (predicate, text)
        Bugs the checks recognise: ``predicate(case, got, want) -> bool`` runs in the grader on each wrong
        case (``got``/``want``: the student's and the reference's values as lists of arrays); the ``text`` of
        each one that holds on some case is shown with the result (e.g. "did you centre X?").
    judge : callable, optional
        ``judge(raw arrays, *case) -> arrays``, run in the grader (trusted) on what the probe returned for the
        reference and for the student, before comparing: the probe returns raw observations that only a correct
        solution produces on the hidden inputs (samples, gradients, outputs with hidden weights, per-step
        losses), and the statistics, tolerances and facts are computed here, from the true hidden ``case``, where
        the submission cannot replace them. A probe whose raw output is the same for every correct solution
        (shapes, flags, a constant statistic) is worth nothing, since a stub of it would score.
    """

    id: str
    function: str
    cases: Callable[[np.random.Generator], Sequence[Case]]
    reference: Callable[..., Any]
    points: float = 2.0
    rtol: float = 1e-6
    atol: float = 1e-9
    description: str = ""
    edge: Callable[..., bool] | None = None
    edge_share: float = 0.2
    normalize: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    probe: Callable[..., Any] | None = None
    leak_parts: tuple[int, ...] | None = None
    uses: Mapping[str, tuple[Callable[..., Any], Callable[..., Sequence[Case]]]] | None = None
    returns: tuple[str, ...] = ()
    hints: tuple[tuple[Callable[..., bool], str], ...] = ()
    substitutes: Mapping[str, Callable[..., Any]] | None = None
    substitutes_preamble: str = ""
    judge: Callable[..., Any] | None = None

    def call_reference(self, case: Case) -> Any:
        """The reference's answer to ``case`` (through the probe, if any; with the ``substitutes``)."""
        with substituted(_globals_of(self.reference), self.substitute_namespace()):
            return self.reference(*case) if self.probe is None else self.probe(self.reference, *case)

    def substitute_source(self) -> str:
        """The Python source that defines every helper of ``substitutes`` under its helper name."""
        if not self.substitutes:
            return ""
        parts = [textwrap.dedent(self.substitutes_preamble)]
        for name, function in self.substitutes.items():
            parts.append(textwrap.dedent(inspect.getsource(function)))
            if function.__name__ != name:
                parts.append(f"{name} = {function.__name__}\n")
        return "\n".join(parts)

    def substitute_namespace(self) -> dict[str, Any]:
        """``{helper: function}`` defined by running :meth:`substitute_source` (what the sandbox runs too)."""
        if not self.substitutes:
            return {}
        namespace: dict[str, Any] = {"__name__": "course_kit_substitutes"}
        exec(compile(self.substitute_source(), f"<substitutes of {self.id}>", "exec"), namespace)  # noqa: S102
        return {name: namespace[name] for name in self.substitutes}

    def helper_answers(self, cases: Sequence[Case]) -> dict[str, list[tuple[Case, Any]]]:
        """``{helper: [(arguments, reference answer), ...]}`` of ``uses`` for all ``cases`` (no duplicates)."""
        answers: dict[str, list[tuple[Case, Any]]] = {}
        for helper, (reference, arguments) in (self.uses or {}).items():
            seen: set[Any] = set()
            for case in cases:
                for args in arguments(*case):
                    key = call_key(tuple(args))
                    if key is not None and key not in seen:
                        seen.add(key)
                        answers.setdefault(helper, []).append((tuple(args), reference(*args)))
        return answers

    def phase2_input(self, cases: Sequence[Case]) -> dict[str, Any]:
        """What the sandbox needs to call the student's function on ``cases`` (see ``sandbox.encode_inputs``)."""
        return {"function": self.function, "cases": list(cases), "probe": self.probe,
                "uses": self.helper_answers(cases), "substitutes": self.substitute_source(),
                "substitute_names": list(self.substitutes or {})}

    def make_cases(self, seed: int) -> list[Case]:
        """The argument tuples for a grading run with ``seed``."""
        cases = [tuple(case) for case in self.cases(np.random.default_rng(seed))]
        if not cases:
            raise ValueError(f"Check {self.id!r} generated no cases.")
        return cases

    def is_edge(self, case: Case) -> bool:
        """Whether ``case`` is an edge case (see ``edge``)."""
        return bool(self.edge is not None and self.edge(*case))

    def weights(self, cases: Sequence[Case]) -> list[float]:
        """Each case's share of ``points``: edge cases share ``edge_share``, substantive ones the rest."""
        edges = [self.is_edge(case) for case in cases]
        n_edge = sum(edges)
        n_sub = len(cases) - n_edge
        if n_edge == 0 or n_sub == 0:
            return [self.points / len(cases)] * len(cases)
        return [self.points * (self.edge_share / n_edge if e else (1 - self.edge_share) / n_sub) for e in edges]

    def expected(self, cases: Sequence[Case]) -> Expected:
        """The reference's value for every case, carrying the cases' weights."""
        values = Expected(self.call_reference(case) for case in cases)
        values.weights = self.weights(cases)
        values.cases = list(cases)
        values.judged = {}
        return values

    def judged(self, arrays: list[np.ndarray], case: Case | None) -> list[np.ndarray]:
        """``arrays`` (one case's raw values) through ``judge`` with the hidden ``case`` (unchanged without one)."""
        if self.judge is None:
            return arrays
        if case is None:
            raise ValueError(f"check {self.id!r} has a judge, which needs the cases (use FunctionCheck.expected)")
        with JUDGE_LOCK:  # judges seed and train Keras models: one at a time, whatever the grader's threads do
            return as_arrays(self.judge(list(arrays), *case))

    def arrays(self, value: Any) -> list[np.ndarray]:
        """A return value as the list of arrays that is compared (after ``normalize``)."""
        arrays = as_arrays(value) if not isinstance(value, list) or not all(
            isinstance(v, np.ndarray) for v in value) else value
        return self.normalize(arrays) if self.normalize is not None else arrays

    def score(self, expected: Sequence[Any], outcomes: Sequence[dict[str, Any]]) -> CheckResult:
        """Score the student's ``outcomes`` (one per case: ``{"value": arrays}`` or ``{"error": text}``).

        ``expected`` from :meth:`expected` carries the case weights; a plain list weighs cases equally.
        """
        weights = getattr(expected, "weights", None) or [self.points / len(expected)] * len(expected)
        cases = getattr(expected, "cases", None) or [None] * len(expected)
        earned, problems, hints = 0.0, [], []
        for number, (want, got, weight, case) in enumerate(zip(expected, outcomes, weights, cases, strict=True),
                                                           start=1):
            if "error" in got:
                problems.append(f"case {number}: {got['error']}")
                continue
            judged = getattr(expected, "judged", None)  # the reference's judged values, once per process
            try:
                if judged is not None and number in judged:
                    want_arrays = judged[number]
                else:
                    want_arrays = self.arrays(self.judged(as_arrays(want), case))
                    if judged is not None:
                        judged[number] = want_arrays
            except Exception as exc:  # the reference's own raw values: a broken judge is the instructor's bug
                raise ValueError(f"check {self.id!r}: the judge fails on the reference's case {number}") from exc
            try:
                message = compare(want_arrays, self.arrays(self.judged(list(got["value"]), case)), self.rtol,
                                  self.atol, self.returns)
            except Exception as exc:  # noqa: BLE001 (a student's value that normalize cannot handle)
                message = f"could not compare the returned value ({type(exc).__name__}: {exc})"
            if message:
                problems.append(f"case {number}: {message}")
                found = self.recognised(case, list(got["value"]), as_arrays(want))
                hints += [text for text in found if text not in hints]
            else:
                earned += weight
        if not problems:
            return CheckResult(self.id, self.points, self.points, f"all {len(expected)} cases correct",
                               description=self.description)
        shown = "; ".join(problems[:3]) + (f"; ... ({len(problems)} cases wrong)" if len(problems) > 3 else "")
        return CheckResult(self.id, round(earned, 4), self.points,
                           f"`{self.function}`: {len(expected) - len(problems)}/{len(expected)} cases correct. {shown}",
                           description=self.description, hint=" ".join(hints))

    def recognised(self, case: Case | None, got: list[np.ndarray], want: list[np.ndarray]) -> list[str]:
        """The ``hints`` whose predicate holds for one wrong case (a predicate that fails counts as not holding)."""
        if case is None:
            return []
        found = []
        for predicate, text in self.hints:
            try:
                if predicate(case, got, want):
                    found.append(text)
            except Exception:  # noqa: BLE001 (a student's value of another shape: this hint does not apply)
                continue
        return found


@dataclass(frozen=True)
class ResultCheck:
    """Compare a recorded figure ``key`` with an expected value, another recorded figure, or bounds.

    Exactly one of ``expected`` (a number, bool or string; ``None`` means: the value recorded in the
    committed instructor notebook), ``same_as`` (another key of the same run) or ``bounds`` is used, in
    that order of precedence: ``bounds`` wins if given, then ``same_as``, then ``expected``.

    ``depends_on`` names the function checks whose functions compute the figure: a figure that was recorded
    but is wrong while one of them already lost points is not charged again (see :func:`not_charged_again`).
    """

    id: str
    key: str
    points: float = 1.0
    expected: Any = None
    same_as: str | None = None
    bounds: tuple[float | None, float | None] | None = None
    rtol: float = 1e-6
    atol: float = 0.0
    description: str = ""
    depends_on: tuple[str, ...] = ()

    def target(self, reference: dict[str, Any], recorded: dict[str, Any]) -> tuple[str, Any]:
        """``(kind, value)`` the recorded figure is compared with."""
        if self.bounds is not None:
            return "bounds", self.bounds
        if self.same_as is not None:
            return "same_as", recorded.get(self.same_as)
        if self.expected is not None:
            return "expected", self.expected
        return "reference", reference.get(self.key)

    def score(self, reference: dict[str, Any], recorded: dict[str, Any], missing_reason: str = "") -> CheckResult:
        """Score the run's recorded figures; ``missing_reason`` explains a key that was never recorded."""
        return dataclasses.replace(self._score(reference, recorded, missing_reason), description=self.description)

    def _score(self, reference: dict[str, Any], recorded: dict[str, Any], missing_reason: str) -> CheckResult:
        if self.key not in recorded:
            why = missing_reason or "the cell that records it did not run"
            return CheckResult(self.id, 0.0, self.points, f"`{self.key}` was not recorded ({why})")
        value = recorded[self.key]
        kind, target = self.target(reference, recorded)
        if kind == "bounds":
            low, high = target
            ok = isinstance(value, int | float) and (low is None or value >= low) and (high is None or value <= high)
            wanted = f"within [{low}, {high}]"
        elif target is None:
            return CheckResult(self.id, 0.0, self.points,
                               f"cannot compare `{self.key}`: no {kind} value ({self.same_as or 'reference run'})")
        elif isinstance(target, bool | str) or isinstance(value, bool | str):
            ok, wanted = value == target, f"{target!r}"
        else:
            ok = isinstance(value, int | float) and math.isclose(value, target, rel_tol=self.rtol, abs_tol=self.atol)
            wanted = f"{target:.6g} (rtol {self.rtol:g}, atol {self.atol:g})"
        if ok:
            return CheckResult(self.id, self.points, self.points, f"`{self.key}` = {value!r}, as expected")
        return CheckResult(self.id, 0.0, self.points, f"`{self.key}` = {value!r}, expected {wanted}",
                           revealing=f"expected {wanted}")


MIN_FUNCTION_SHARE = 0.5
"""A figure is forgiven only when the student's functions earned at least this share of their points."""


def not_charged_again(suite: CheckSuite, results: list[CheckResult], recorded: Mapping[str, Any]) -> list[CheckResult]:
    """One bug costs its own points: a wrong figure that follows from a function that already lost points keeps its.

    A :class:`ResultCheck` with ``depends_on`` that failed (wrong, or never recorded because a cell failed on
    the wrong function's output) gets full points, with a reason naming the function checks that charged
    the bug, when at least one of them lost points, and the student's function checks earned at least
    :data:`MIN_FUNCTION_SHARE` of their points as a whole: a submission whose functions mostly work is not
    charged twice for one bug, while stubs or garbage earn no figure points (the untouched release scores 0).
    """
    by_id = {result.check: result for result in results}
    checks = {check.id: check for check in suite.checks}
    functions = [by_id[c.id] for c in suite.function_checks if c.id in by_id]
    total = sum(r.max_points for r in functions)
    works = total > 0 and sum(r.points for r in functions) >= MIN_FUNCTION_SHARE * total - 1e-9
    kept = []
    for result in results:
        check = checks.get(result.check)
        if works and isinstance(check, ResultCheck) and check.depends_on and not result.passed:
            charged = [d for d in check.depends_on if d in by_id and by_id[d].points < by_id[d].max_points - 1e-9]
            if charged:
                names = ", ".join(f"`{d}`" for d in charged)
                how = "is wrong" if check.key in recorded else "was not recorded"
                result = CheckResult(result.check, check.points, check.points,
                                     f"{result.reason}; not charged again: this figure {how} because of {names}, "
                                     f"which already lost points for it", description=result.description,
                                     revealing=result.revealing)
        kept.append(result)
    return kept


WITHHELD_MARK = "is withheld while grading"
"""Part of the error a withheld kit function raises (``withhold.message``)."""


def not_through_withheld(suite: CheckSuite, results: list[CheckResult]) -> list[CheckResult]:
    """A figure computed through a kit function withheld while grading earns nothing.

    The ``WITHHELD_IN_CALLS`` functions still work while the notebook runs (its own cells need them), so a
    function that delegates to one records right figures and fails only in its checks' calls, with the withheld
    error. A :class:`ResultCheck` whose ``depends_on`` names such a function check scores 0, with the reason
    (also where :func:`not_charged_again` gave it its points).
    """
    by_id = {result.check: result for result in results}
    checks = {check.id: check for check in suite.checks}
    kept = []
    for result in results:
        check = checks.get(result.check)
        if isinstance(check, ResultCheck) and result.points > 0:
            through = [d for d in check.depends_on if d in by_id and WITHHELD_MARK in by_id[d].reason]
            if through:
                names = ", ".join(f"`{d}`" for d in through)
                result = dataclasses.replace(result, points=0.0, reason=(
                    f"not counted: the function behind {names} calls a kit function withheld while grading (see "
                    f"its check), so this figure is the kit's, not yours"))
        kept.append(result)
    return kept


def compare(want: list[np.ndarray], got: list[np.ndarray], rtol: float, atol: float,
            names: Sequence[str] = ()) -> str:
    """An empty string if ``got`` matches ``want`` within tolerance, else what differs (values named by ``names``)."""
    if len(want) != len(got):
        return f"returned {len(got)} value(s), expected {len(want)}"
    for index, (a, b) in enumerate(zip(want, got, strict=True)):
        name = names[index] if index < len(names) else f"value {index + 1}"
        which = f"{name}: " if len(want) > 1 or names else ""
        if np.squeeze(a).shape != np.squeeze(b).shape:
            return f"{which}shape {b.shape}, expected {a.shape}"
        a, b = np.squeeze(a).astype(float), np.squeeze(b).astype(float)
        if not np.all(np.isfinite(b)):
            return f"{which}contains NaN or inf"
        if not np.allclose(b, a, rtol=rtol, atol=atol):
            error = float(np.max(np.abs(b - a)))
            shown = f"{float(b):.6g}, expected {float(a):.6g}" if a.size == 1 else f"max abs difference {error:.3g}"
            return f"{which}{shown}"
    return ""


def _globals_of(reference: Any) -> dict[str, Any]:
    """The module namespace where ``reference`` (a function or a class) looks up the helpers it calls."""
    if hasattr(reference, "__globals__"):
        return reference.__globals__
    module = sys.modules.get(getattr(reference, "__module__", ""), None)
    return vars(module) if module is not None else {}


@contextmanager
def substituted(namespace: dict[str, Any], replacements: Mapping[str, Any]) -> Iterator[None]:
    """Replace names of ``namespace`` by ``replacements`` for the ``with`` block, then restore them."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


@dataclass
class CheckSuite:
    """The checks of one exercise, loaded from ``grading/NN_topic.py``."""

    exercise: str
    checks: list[FunctionCheck | ResultCheck]
    path: Path
    module: ModuleType | None = field(default=None, repr=False)

    @property
    def max_points(self) -> float:
        return float(sum(check.points for check in self.checks))

    @property
    def written(self) -> dict[str, float] | None:
        """The module's ``WRITTEN`` (written answer grade_id -> points), or None where it defines none."""
        written = getattr(self.module, "WRITTEN", None)
        return None if written is None else {str(key): float(value) for key, value in written.items()}

    @property
    def function_checks(self) -> list[FunctionCheck]:
        return [c for c in self.checks if isinstance(c, FunctionCheck)]

    @property
    def result_checks(self) -> list[ResultCheck]:
        return [c for c in self.checks if isinstance(c, ResultCheck)]

    def cases(self, seed: int) -> dict[str, list[Case]]:
        """The hidden cases of every function check for a grading run with ``seed`` (check ``i`` uses ``seed + i``).

        The grader, the release's leak check and the tests all draw them here, so they see the same inputs.
        """
        return {check.id: check.make_cases(seed + index) for index, check in enumerate(self.function_checks)}


WRITTEN_ANSWER_TAG = "written-answer"
WRITTEN_PLACEHOLDER = "YOUR ANSWER HERE"


def written_answers(notebook: dict[str, Any]) -> list[tuple[int, str, float]]:
    """``(cell index, grade_id, points)`` of every written-answer cell (markdown, tagged ``written-answer``)."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        meta = cell.get("metadata", {})
        if WRITTEN_ANSWER_TAG in meta.get("tags", []):
            grading = meta.get("nbgrader", {})
            found.append((index, str(grading.get("grade_id", f"cell-{index}")), float(grading.get("points", 0))))
    return found


class PointsMismatch(ValueError):
    """A notebook's nbgrader points disagree with its grading module (``CHECKS``, ``WRITTEN``)."""


def written_points_problems(notebook: dict[str, Any], written: Mapping[str, float], name: str = "the notebook"
                            ) -> list[str]:
    """What differs between the written-answer cells of ``notebook`` and ``written`` (grade_id -> points)."""
    found = {grade_id: points for _, grade_id, points in written_answers(notebook)}
    problems = [f"{name}: written answer {grade_id!r} has {found[grade_id]:g} points in its nbgrader metadata, "
                f"the grading module's WRITTEN gives {float(written[grade_id]):g}"
                for grade_id in found if grade_id in written and not math.isclose(found[grade_id], written[grade_id])]
    problems += [f"{name}: written answer {grade_id!r} is not in the grading module's WRITTEN"
                 for grade_id in found if grade_id not in written]
    problems += [f"{name}: WRITTEN names {grade_id!r}, but no `{WRITTEN_ANSWER_TAG}` cell has that grade_id"
                 for grade_id in written if grade_id not in found]
    return problems


def written_answer_ids(reference_notebook: Path, written: Mapping[str, float] | None = None
                       ) -> list[tuple[str, float]]:
    """``(grade_id, points)`` of the written answers of ``reference_notebook`` (empty if it is unreadable).

    With ``written`` (the grading module's ``WRITTEN``) the points are the module's, in the notebook's order,
    and a readable notebook whose written-answer cells or points disagree with it is refused.

    Raises
    ------
    PointsMismatch
        ``written`` is given and disagrees with the notebook's written-answer cells.
    """
    try:
        reference = json.loads(Path(reference_notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [] if written is None else [(key, float(value)) for key, value in written.items()]
    if written is None:
        return [(grade_id, points) for _, grade_id, points in written_answers(reference)]
    problems = written_points_problems(reference, written, str(reference_notebook))
    if problems:
        raise PointsMismatch("; ".join(problems) + ". Run `python -m course_utils points --write`, or fix WRITTEN.")
    return [(grade_id, float(written[grade_id])) for _, grade_id, _ in written_answers(reference)]


def written_answer_results(reference_notebook: Path | list[tuple[str, float]], submission: Path, shown: int = 300,
                           max_bytes: int = 64 * 1024**2, written: Mapping[str, float] | None = None
                           ) -> list[CheckResult]:
    """Pending manual-grading results for the written answers of ``reference_notebook``, read in ``submission``.

    ``reference_notebook`` is the instructor notebook or its :func:`written_answer_ids`; ``written`` the
    grading module's ``WRITTEN``, which then gives the points (see :func:`written_answer_ids`). The answer is found by
    the cell's ``grade_id`` (cells may have moved); the reason quotes its start, or says that it is missing or
    unanswered. Empty if the reference notebook is missing or has no such cell. A submission larger than
    ``max_bytes`` is not parsed (its answers count as missing).
    """
    ids = (written_answer_ids(reference_notebook, written) if isinstance(reference_notebook, (str, Path))
           else reference_notebook)
    if not ids:
        return []
    try:
        too_big = Path(submission).stat().st_size > max_bytes
        cells = [] if too_big else json.loads(Path(submission).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        cells = []
    answers = {}
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict):
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            source = cell.get("source", "")
            answers[grade_id] = "".join(source) if isinstance(source, list) else str(source)
    results = []
    for grade_id, points in ids:
        text = " ".join(answers.get(grade_id, "").split())
        if grade_id not in answers:
            why = "the answer cell is missing from the submission"
        elif not text or text == WRITTEN_PLACEHOLDER:
            why = "not answered (still YOUR ANSWER HERE)"
        else:
            why = "answer: " + (text[:shown] + " ..." if len(text) > shown else text)
        results.append(CheckResult(grade_id, 0.0, points, f"pending manual grading; {why}", pending=True))
    return results


def load_checks(path: str | Path) -> CheckSuite:
    """Load an exercise's checks from a ``grading/NN_topic.py`` file.

    Raises
    ------
    FileNotFoundError, ValueError
        The file is missing, or lacks ``EXERCISE``/``CHECKS``, or two checks share an id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checks file {path}; write one with EXERCISE and CHECKS (see grading/).")
    from course_utils.notebook import import_tensorflow

    import_tensorflow()  # the checks import reference solutions and probes, which import TensorFlow: quietly
    spec = importlib.util.spec_from_file_location(f"course_kit_checks_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exercise, checks = getattr(module, "EXERCISE", None), getattr(module, "CHECKS", None)
    if not isinstance(exercise, str) or not checks:
        raise ValueError(f"{path} must define EXERCISE (the notebook's stem) and a non-empty CHECKS list.")
    ids = [check.id for check in checks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: check ids must be unique, got {ids}.")
    for check in checks:
        unknown = [d for d in getattr(check, "depends_on", ()) if d not in ids]
        if unknown:
            raise ValueError(f"{path}: check {check.id!r} depends on unknown checks {unknown}; use check ids.")
    written = getattr(module, "WRITTEN", None)
    if written is not None and not (isinstance(written, dict) and all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for k, v in written.items())):
        raise ValueError(f"{path}: WRITTEN must map written-answer grade_ids to points (>= 0), got {written!r}.")
    return CheckSuite(exercise, list(checks), path, module)
