"""Score a run: every check of an exercise on what the submission's run reported."""

from __future__ import annotations

from typing import Any

from .checks import CheckResult, CheckSuite, FunctionCheck, not_charged_again, not_through_withheld
from .records import Run


def _function_outcomes(check: FunctionCheck, run: Run, n_cases: int) -> list[dict[str, Any]] | str:
    """Per-case outcomes of a function check (exactly ``n_cases``), or the reason none exist."""
    call = run.calls.get(check.id)
    if call is None:
        return {"timeout": f"the notebook was {run.message}", "crashed": run.message,
                "invalid": run.message}.get(run.status, "the function was never called")
    if "missing" in call:
        return call["missing"]
    outcomes = []
    for number in range(n_cases):
        case = call["cases"][number] if number < len(call["cases"]) else {"error": "no outcome reported"}
        keys = [f"{check.id}__{number}__{j}" for j in range(case.get("n_values", 0))]
        if "error" in case:
            outcomes.append({"error": case["error"]})
        elif not all(key in run.arrays for key in keys):
            outcomes.append({"error": "its return value was not saved"})
        else:
            outcomes.append({"value": [run.arrays[key] for key in keys]})
    return outcomes


def score(suite: CheckSuite, run: Run, expected: dict[str, list[Any]], reference: dict[str, Any]) -> list[CheckResult]:
    """Every check of ``suite`` scored on ``run``."""
    why_missing = _why_results_missing(run)
    results = []
    for check in suite.checks:
        if isinstance(check, FunctionCheck):
            outcomes = _function_outcomes(check, run, len(expected[check.id]))
            if isinstance(outcomes, str):
                results.append(CheckResult(check.id, 0.0, check.points, outcomes))
            else:
                results.append(check.score(expected[check.id], outcomes))
        else:
            results.append(check.score(reference, run.results, why_missing))
    return not_through_withheld(suite, not_charged_again(suite, results, run.results))


def _why_results_missing(run: Run) -> str:
    if run.status != "ok":
        return run.message
    errors = run.errors
    if errors:
        first = errors[0]
        return f"{len(errors)} cell(s) raised; the first, cell {first['cell'] + 1}: {first['error']}"
    return "no cell recorded it: was the cell deleted?"

