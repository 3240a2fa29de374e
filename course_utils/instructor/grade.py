"""Grade a folder of submitted notebooks for one exercise: parallel, sandboxed, per-check partial credit.

Each submission runs in its own child process (:mod:`.sandbox`): a copy of the notebook in a fresh
temporary working directory, an address-space limit, a hard wall-clock limit (the whole process group is
killed), per-cell and per-call alarms, no network (a network namespace via ``unshare`` where the system
allows it, and an audit hook in any case), and the instructor's files unreadable. A thread pool runs as
many children at once as the machine has cores. One broken, hung or hostile submission costs only its
own checks; the batch always finishes.

Output in ``out_dir``: ``grades.csv`` (student, check, points, max, reason), ``summary.csv`` (student,
points, max, seconds, status) and ``feedback/<student>.html`` with the failing checks' reasons, the cells
that raised, and the student's own figures embedded.
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..report import results_from_notebook
from .checks import CheckResult, CheckSuite, FunctionCheck, load_checks, written_answer_results

DEFAULT_TIMEOUT = 900.0
DEFAULT_CELL_TIMEOUT = 300.0
DEFAULT_MEMORY = 8 * 1024**3
FEEDBACK_CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}td{padding:.2em .6em;vertical-align:top}"
                ".ok td:nth-child(2){color:#176}.bad td:nth-child(2),p.bad{color:#a12}"
                "img{max-width:48%;margin:.3em;border:1px solid #ddd}")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")


@dataclass
class Limits:
    """Resource limits of one submission's process."""

    timeout: float = DEFAULT_TIMEOUT
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    memory: int = DEFAULT_MEMORY
    network_namespace: bool = True


@dataclass
class Run:
    """What came back from running one notebook in the sandbox."""

    status: str  # "ok", "timeout", "crashed", "invalid"
    seconds: float
    cells: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    figures: list[bytes] = field(default_factory=list)
    message: str = ""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [cell for cell in self.cells if cell.get("status") == "error"]


@dataclass
class Grade:
    """One student's checks."""

    student: str
    results: list[CheckResult]
    run: Run

    @property
    def points(self) -> float:
        return round(sum(r.points for r in self.results), 4)

    @property
    def max_points(self) -> float:
        return round(sum(r.max_points for r in self.results), 4)


def cpu_count() -> int:
    """Cores this process may use (respects CPU affinity and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (macOS)
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether ``unshare --user --net`` works here (unprivileged user namespaces enabled)."""
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_notebook(notebook: Path, deny: list[Path], limits: Limits, inputs: dict[str, Any] | None = None,
                 stop_on_error: bool = False, env: dict[str, str] | None = None, scratch: Path | None = None) -> Run:
    """Run ``notebook`` in a sandboxed child process and return what it reported.

    ``inputs`` maps check ids to ``{"function": name, "cases": [args, ...]}`` for phase 2. ``scratch``: the
    folder in which the run's temporary folder is made (a batch passes one shared folder and denies it, so
    that a submission cannot read the others' copies; its own folder stays open to it).
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course-kit-grade-", dir=scratch) as tmp:
        tmp_path = Path(tmp)
        workdir, out, gated = tmp_path / "work", tmp_path / "out", tmp_path / "gated"
        for folder in (workdir, out, gated):
            folder.mkdir()
        try:
            json.loads(notebook.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Run("invalid", 0.0, message=f"{notebook.name} is not a readable notebook ({exc})")
        shutil.copy2(notebook, workdir / "submission.ipynb")
        spec = {"notebook": str(workdir / "submission.ipynb"), "workdir": str(workdir), "out": str(out),
                "deny": [str(p) for p in deny], "own": str(tmp_path), "cell_timeout": limits.cell_timeout,
                "stop_on_error": stop_on_error, "memory": limits.memory}
        if inputs:
            (gated / "inputs.pkl").write_bytes(pickle.dumps(inputs))
            spec["inputs"] = str(gated / "inputs.pkl")
        (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        command = [sys.executable, "-m", "course_utils.instructor.sandbox", str(tmp_path / "spec.json")]
        if limits.network_namespace and network_namespace_available():
            command = ["unshare", "-rn", *command]
        child_env = dict(os.environ if env is None else env)
        child_env.update({name: "1" for name in THREAD_VARIABLES})
        child_env.update({"MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"})
        status, message = "ok", ""
        with (tmp_path / "stderr.txt").open("wb") as stderr:
            process = subprocess.Popen(command, cwd=workdir, env=child_env, stdout=subprocess.DEVNULL, stderr=stderr,
                                       start_new_session=True)
            try:
                process.wait(timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                status, message = "timeout", f"stopped at the time limit of {limits.timeout:.0f} s"
        run = _collect(out, status, message, time.perf_counter() - start)
        if status == "ok" and not (out / "run.json").exists():  # died early: a crash, os._exit, a killed child
            tail = (tmp_path / "stderr.txt").read_text(errors="replace").strip().splitlines()[-3:]
            run.status = "crashed"
            run.message = f"the process ended with code {process.returncode}: " + " | ".join(tail)
        return run


def _collect(out: Path, status: str, message: str, seconds: float) -> Run:
    """Read the child's reports: ``run.json`` when it finished, else the per-cell log written so far."""
    run = Run(status, round(seconds, 2), message=message)
    try:
        _read_reports(out, run)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # reports mangled by the submission itself
        run.status, run.message = "crashed", f"its run report was unreadable ({type(exc).__name__}: {exc})"
    return run


def _read_reports(out: Path, run: Run) -> None:
    summary_path = out / "run.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        run.cells, run.results, run.calls = summary["cells"], summary.get("results", {}), summary.get("calls", {})
        run.figures = [(out / name).read_bytes() for name in summary.get("figures", []) if (out / name).exists()]
    elif (out / "events.jsonl").exists():
        latest: dict[int, dict] = {}
        for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the last line, cut off by the kill
                continue
            latest[record["cell"]] = record
            run.results = record.get("results", run.results)  # the latest snapshot
        run.cells = [latest[i] for i in sorted(latest)]
        run.figures = [path.read_bytes() for path in sorted((out / "figures").glob("*.png"))]
    if (out / "calls.npz").exists():
        with np.load(out / "calls.npz", allow_pickle=False) as data:
            run.arrays = {key: data[key] for key in data.files}


def _function_outcomes(check: FunctionCheck, run: Run) -> list[dict[str, Any]] | str:
    """Per-case outcomes of a function check, or the reason none exist."""
    call = run.calls.get(check.id)
    if call is None:
        return {"timeout": f"the notebook was {run.message}", "crashed": run.message,
                "invalid": run.message}.get(run.status, "the function was never called")
    if "missing" in call:
        return call["missing"]
    outcomes = []
    for number, case in enumerate(call["cases"]):
        if "error" in case:
            outcomes.append({"error": case["error"]})
        else:
            outcomes.append({"value": [run.arrays[f"{check.id}__{number}__{j}"] for j in range(case["n_values"])]})
    return outcomes


def score(suite: CheckSuite, run: Run, expected: dict[str, list[Any]], reference: dict[str, Any]) -> list[CheckResult]:
    """Every check of ``suite`` scored on ``run``."""
    why_missing = _why_results_missing(run)
    results = []
    for check in suite.checks:
        if isinstance(check, FunctionCheck):
            outcomes = _function_outcomes(check, run)
            if isinstance(outcomes, str):
                results.append(CheckResult(check.id, 0.0, check.points, outcomes))
            else:
                results.append(check.score(expected[check.id], outcomes))
        else:
            results.append(check.score(reference, run.results, why_missing))
    return results


def _why_results_missing(run: Run) -> str:
    if run.status != "ok":
        return run.message
    errors = run.errors
    if errors:
        first = errors[0]
        return f"{len(errors)} cell(s) raised; the first, cell {first['cell'] + 1}: {first['error']}"
    return "no cell recorded it: was the cell deleted?"


def student_name(path: Path) -> str:
    """A student's id from the submission's file name (its stem, with unsafe characters replaced)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "submission"


def grade_folder(submissions: Path, checks: Path, out_dir: Path, reference_notebook: Path | None = None,
                 workers: int | None = None, limits: Limits | None = None, seed: int = 0,
                 profile: str = "small", deny: list[Path] | None = None) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions`` with the checks in ``checks``; write the reports.

    Parameters
    ----------
    submissions : Path
        Folder of submitted notebooks, one per student, any file names.
    checks : Path
        The exercise's ``grading/NN_topic.py``.
    out_dir : Path
        Where ``grades.csv``, ``summary.csv`` and ``feedback/`` go.
    reference_notebook : Path, optional
        The executed instructor notebook whose recorded results are the reference (default:
        ``notebooks/<EXERCISE>.ipynb`` next to the checks' folder).
    workers : int, optional
        Submissions run at once (default: the machine's cores).
    seed : int
        Seed of the hidden inputs (the same seed grades every student on the same inputs).
    profile : str
        ``COURSE_KIT_PROFILE`` for the runs (``small`` keeps training notebooks short).
    deny : list of Path, optional
        Extra paths a submission may not read (the checks' folder, the reference notebooks' folder,
        the submissions folder and ``out_dir`` are always denied).
    """
    suite = load_checks(checks)
    limits = limits or Limits()
    reference_notebook = reference_notebook or checks.resolve().parent.parent / "notebooks" / f"{suite.exercise}.ipynb"
    reference = (results_from_notebook(reference_notebook) if reference_notebook.exists() else None) or {}
    cases = {check.id: check.make_cases(seed + index) for index, check in enumerate(suite.function_checks)}
    expected = {check.id: check.expected(cases[check.id]) for check in suite.function_checks}  # with case weights
    inputs = {check.id: {"function": check.function, "cases": cases[check.id], "probe": check.probe}
              for check in suite.function_checks}
    paths = sorted(p for p in submissions.glob("*.ipynb") if p.is_file())
    if not paths:
        raise FileNotFoundError(f"No submitted notebooks (*.ipynb) in {submissions}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    denied = [checks.resolve().parent, reference_notebook.resolve().parent, submissions.resolve(),
              out_dir.resolve(), *(deny or [])]
    env = dict(os.environ, COURSE_KIT_PROFILE=profile)

    def grade_one(path: Path) -> Grade:
        student = student_name(path)
        try:
            run = run_notebook(path, denied, limits, inputs, env=env, scratch=scratch)
            manual = written_answer_results(reference_notebook, path)  # written answers: pending manual grading
            return Grade(student, score(suite, run, expected, reference) + manual, run)
        except Exception as exc:  # noqa: BLE001 (one submission must never stop the batch)
            run = Run("crashed", 0.0, message=f"grading failed: {type(exc).__name__}: {exc}")
            return Grade(student, [CheckResult(c.id, 0.0, c.points, run.message) for c in suite.checks], run)

    with tempfile.TemporaryDirectory(prefix="course-kit-batch-") as batch:
        scratch = Path(batch)
        denied.append(scratch)
        with ThreadPoolExecutor(max_workers=workers or cpu_count()) as pool:
            grades = list(pool.map(grade_one, paths))
    write_reports(grades, suite, out_dir)
    return grades


def write_reports(grades: list[Grade], suite: CheckSuite, out_dir: Path) -> None:
    """``grades.csv``, ``summary.csv`` and one feedback page per student."""
    with (out_dir / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "check", "points", "max", "reason"])
        for grade in grades:
            for result in grade.results:
                writer.writerow([grade.student, result.check, result.shown_points, result.max_points, result.reason])
    with (out_dir / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "points", "max", "seconds", "status", "cells_with_errors"])
        for grade in grades:
            writer.writerow([grade.student, grade.points, grade.max_points, grade.run.seconds, grade.run.status,
                             len(grade.run.errors)])
    feedback = out_dir / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in grades:
        (feedback / f"{grade.student}.html").write_text(feedback_html(grade, suite), encoding="utf-8")


def feedback_html(grade: Grade, suite: CheckSuite) -> str:
    """A self-contained HTML page for one student: checks, errors, figures."""
    esc = html.escape
    rows = "".join(
        f"<tr class='{'ok' if r.passed else 'bad'}'><td>{esc(r.check)}</td><td>{r.points:g} / {r.max_points:g}</td>"
        f"<td>{esc(r.reason)}</td></tr>" for r in grade.results)
    errors = "".join(f"<li>cell {c['cell'] + 1} (<code>{esc(c.get('first_line', ''))}</code>): "
                     f"<code>{esc(c['error'])}</code></li>" for c in grade.run.errors[:20])
    figures = "".join(f"<img alt='figure {number}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                      for number, png in enumerate(grade.run.figures, start=1))
    status = ("" if grade.run.status == "ok"
              else f"<p class='bad'>Run: {esc(grade.run.status)}: {esc(grade.run.message)}</p>")
    title = f"{esc(suite.exercise)}: {esc(grade.student)}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{FEEDBACK_CSS}</style>"
            f"</head><body><h1>{title}</h1>"
            f"<p><b>{grade.points:g} of {grade.max_points:g} points</b> (run took {grade.run.seconds:.0f} s)</p>"
            f"{status}"
            f"<table><tr><th>check</th><th>points</th><th>why</th></tr>{rows}</table>"
            f"<h2>Cells that raised an error</h2><ul>{errors or '<li>none</li>'}</ul>"
            f"<h2>Your figures</h2>{figures or '<p>none were produced</p>'}</body></html>\n")


def grades_table(grades: list[Grade]) -> str:
    """A markdown table: one row per student and check (for the README and the console)."""
    lines = ["| student | check | points | max | reason |", "|---|---|---|---|---|"]
    for grade in grades:
        for r in grade.results:
            reason = r.reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {grade.student} | {r.check} | {r.points:g} | {r.max_points:g} | {reason} |")
    return "\n".join(lines)
