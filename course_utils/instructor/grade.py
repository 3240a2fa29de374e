"""Grade a folder of submitted notebooks for one exercise: parallel, sandboxed, per-check partial credit.

Each submission runs in its own OS sandbox (:mod:`.isolation`: bubblewrap with an allow-list, new
namespaces, an unprivileged uid, limits per submission) running the child :mod:`.sandbox`: the notebook's
cells with per-cell and per-call alarms, then the student's functions on the hidden inputs, which reach
it on stdin only at phase 2 (JSON and ``.npz``; the expected values never leave this process). A hard
wall-clock limit kills the whole submission. Everything the child writes is hostile input: a fixed
schema, size caps, figure names checked, files opened without following links. A thread pool runs as
many sandboxes at once as the machine has cores; one broken, hung or hostile submission costs only its
own checks, and the batch always finishes. Without bubblewrap the grader refuses to grade unless told
``unsafe_no_sandbox`` (then: a child process, ``unshare -rn`` where possible, the audit hook).

Output in ``out_dir``: ``grades.csv`` (student, check, points, max, reason), ``summary.csv`` (student,
points, max, seconds, status, ..., sandbox, file) and ``feedback/<student>.html`` with the failing checks'
reasons, the cells that raised, and the student's own figures embedded.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..report import results_from_notebook
from . import isolation
from .checks import CheckResult, CheckSuite, FunctionCheck, load_checks, written_answer_ids, written_answer_results
from .isolation import INSTALL_HINT, SandboxUnavailable, bwrap_problem
from .sandbox import PHASE2_MARKER, encode_inputs

DEFAULT_TIMEOUT = 900.0
DEFAULT_CELL_TIMEOUT = 300.0
DEFAULT_MEMORY = 8 * 1024**3
DEFAULT_PROCESSES = 512
DEFAULT_FILE_SIZE = 1024**3
DEFAULT_TMP_SIZE = 1024**3
MAX_NOTEBOOK = 64 * 1024**2
MAX_RUN_JSON = 16 * 1024**2
MAX_EVENTS_TAIL = 4 * 1024**2
MAX_CALLS = 512 * 1024**2
MAX_FIGURE = 4 * 1024**2
MAX_FIGURES = 24
MAX_REASON = 600
STDERR_TAIL = 64 * 1024
FIGURE_NAME = re.compile(r"figures/(cell\d{3}_\d{2}\.png)")
UNSAFE_LABEL = "none (--unsafe-no-sandbox: the submission ran with the grader's own rights)"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")


@dataclass
class Limits:
    """Resource limits of one submission (all its processes together, where a cgroup is available).

    ``memory`` bounds the submission's cgroup and every process's address space; ``processes`` its
    processes and threads; ``file_size`` any one file it writes; ``tmp_size`` each of its tmpfs (home,
    ``/tmp``); the CPU time of a process is bounded by ``timeout``. ``unsafe_no_sandbox`` allows grading
    without the OS sandbox (then ``network_namespace`` asks for ``unshare -rn`` where it works).
    """

    timeout: float = DEFAULT_TIMEOUT
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    memory: int = DEFAULT_MEMORY
    network_namespace: bool = True
    processes: int = DEFAULT_PROCESSES
    file_size: int = DEFAULT_FILE_SIZE
    tmp_size: int = DEFAULT_TMP_SIZE
    unsafe_no_sandbox: bool = False


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
    sandbox: str = ""
    complete: bool = False

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [cell for cell in self.cells if cell.get("status") == "error"]


@dataclass
class Grade:
    """One student's checks."""

    student: str
    results: list[CheckResult]
    run: Run
    file: str = ""
    host: str = ""  # where it was graded: the machine's name
    worker: str = ""  # and the worker (a Dask worker's address, or the local pool's thread)
    wall: float = 0.0  # seconds the grading took on the worker (run, scoring, set-up)
    resumed: bool = False  # taken from an earlier run's record (``resume``)

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


def sandbox_problem(limits: Limits) -> str:
    """Empty if ``limits`` can be honoured here, else why not (no bubblewrap and no unsafe flag)."""
    if limits.unsafe_no_sandbox:
        return ""
    problem = bwrap_problem()
    return f"No OS sandbox for the submissions: {problem}; {INSTALL_HINT}." if problem else ""


def load_submission(path: Path) -> tuple[dict[str, Any] | None, str]:
    """A submitted notebook as nbformat 4 JSON, or ``None`` and the reason it cannot be graded."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK:
            return None, (f"{path.name} is larger than {MAX_NOTEBOOK // 1024**2} MiB; "
                          f"submit the notebook with its outputs cleared")
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, f"{path.name} is not a readable notebook ({_clean(str(exc), 200)})"
    if not isinstance(notebook, dict):
        return None, f"{path.name} is JSON but not a notebook (no cells)"
    version = notebook.get("nbformat")
    if isinstance(version, int) and version < 4:
        try:
            import nbformat

            notebook = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as exc:  # noqa: BLE001 (nbformat raises many kinds)
            return None, (f"{path.name} is in nbformat {version}, which could not be upgraded to nbformat 4 "
                          f"({_clean(str(exc), 200)}); open and save it in a current Jupyter")
    elif version != 4:
        return None, f"{path.name}: unsupported nbformat {_clean(repr(version), 40)}; save it in a current Jupyter"
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return None, f"{path.name} has no list of cells; it is not a Jupyter notebook"
    code = [c for c in cells if c.get("cell_type") == "code" and isinstance(c.get("source", ""), str | list)]
    if not code:
        return None, f"{path.name} has no code cells (an empty or unsaved notebook?); nothing to grade"
    return notebook, ""


def _clean(text: Any, cap: int = MAX_REASON) -> str:
    """Text from a submission made safe for the reports: a string, no NUL, at most ``cap`` characters."""
    text = text if isinstance(text, str) else str(text)
    text = text.replace("\x00", "")
    return text if len(text) <= cap else text[: cap - 3] + "..."


class _Pipes:
    """Reads the child's stdout (for the phase-2 marker) and the tail of its stderr, in threads."""

    def __init__(self, process: subprocess.Popen, payload: bytes | None) -> None:
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.process, self.payload = process, payload
        self.threads = [threading.Thread(target=self._stderr, daemon=True),
                        threading.Thread(target=self._stdout, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _stderr(self) -> None:
        while chunk := self.process.stderr.read1(65536):
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail_size - len(self.tail[0]) >= STDERR_TAIL:
                self.tail_size -= len(self.tail.popleft())

    def _stdout(self) -> None:
        window = b""
        while chunk := self.process.stdout.read1(65536):
            if self.payload is not None:
                window = (window + chunk)[-4096:]
                if PHASE2_MARKER in window:
                    payload, self.payload = self.payload, None
                    threading.Thread(target=self._send, args=(payload,), daemon=True).start()

    def _send(self, payload: bytes) -> None:
        try:
            self.process.stdin.write(payload)
            self.process.stdin.close()
        except (OSError, ValueError):  # the child closed stdin or died
            pass

    def stderr_lines(self, count: int = 3) -> list[str]:
        text = b"".join(self.tail)[-STDERR_TAIL:].decode(errors="replace")
        return [_clean(line, 300) for line in text.strip().splitlines()[-count:]]

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=5)


def run_notebook(notebook: Path, deny: list[Path], limits: Limits, inputs: dict[str, Any] | None = None,
                 stop_on_error: bool = False, env: dict[str, str] | None = None, scratch: Path | None = None,
                 shared: isolation.Shared | None = None) -> Run:
    """Run ``notebook`` in its own sandbox and return what it reported (validated).

    ``inputs`` maps check ids to ``{"function": name, "cases": [args, ...]}`` for phase 2. ``scratch``: the
    folder in which the run's private temporary folder is made. ``shared``: the batch's released package
    and data (made for this run alone when not given). ``deny``: paths the audit hook refuses too (the
    only file barrier with ``limits.unsafe_no_sandbox``). Raises :class:`SandboxUnavailable` when there
    is no OS sandbox and the limits do not allow grading without one.
    """
    start = time.perf_counter()
    problem = sandbox_problem(limits)
    if problem:
        raise SandboxUnavailable(problem)
    sandboxed = not limits.unsafe_no_sandbox
    data, problem = load_submission(notebook)
    if data is None:
        return Run("invalid", 0.0, message=problem, sandbox="" if sandboxed else UNSAFE_LABEL)
    with tempfile.TemporaryDirectory(prefix="course-kit-grade-", dir=scratch, ignore_cleanup_errors=True) as tmp:
        tmp_path = Path(tmp)
        out, submission = tmp_path / "out", tmp_path / "submission.ipynb"
        out.mkdir()
        submission.write_text(json.dumps(data), encoding="utf-8")
        spec: dict[str, Any] = {"cell_timeout": limits.cell_timeout, "stop_on_error": stop_on_error,
                                "memory": limits.memory, "phase2": bool(inputs)}
        child_env = {name: "1" for name in THREAD_VARIABLES}
        child_env.update({"MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0",
                          "PYTHONHASHSEED": "0"})
        cgroup = None
        if sandboxed:
            uid = isolation.next_uid() if os.geteuid() == 0 else None
            if uid is not None:
                os.chown(out, uid, uid)
            own_shared = shared is None
            if own_shared:
                shared = isolation.shared_for_batch(tmp_path / "release")
            passed = {k: v for k, v in (env or os.environ).items() if k in ("COURSE_KIT_PROFILE", "LANG", "TZ")}
            spec.update({"notebook": f"{isolation.BOX}/submission.ipynb", "workdir": isolation.HOME,
                         "out": f"{isolation.BOX}/out", "deny": []})
            argv = [sys.executable, "-B", f"{isolation.BOX}/runner/sandbox.py", json.dumps(spec)]
            command = isolation.bwrap_command(shared, submission, out, uid, argv, {**passed, **child_env},
                                              limits.tmp_size)
            cgroup = isolation.Cgroup(f"course-kit-{os.getpid()}-{uuid.uuid4().hex[:12]}", limits.memory,
                                      limits.processes)
            popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            preexec = isolation.limit_setter(cgroup, limits.memory, limits.processes, limits.file_size,
                                             int(limits.timeout) + 5, uid)
            label = "bwrap" + (" + cgroup" if cgroup.active else " + rlimits")
        else:
            workdir = tmp_path / "work"
            workdir.mkdir()
            spec.update({"notebook": str(submission), "workdir": str(workdir), "out": str(out),
                         "deny": [str(p) for p in deny], "own": str(tmp_path)})
            command = [sys.executable, "-B", str(isolation.RUNNER), json.dumps(spec)]
            if limits.network_namespace and network_namespace_available():
                command = ["unshare", "-rn", *command]
            popen_env = dict(os.environ if env is None else env)
            popen_env.update(child_env)
            preexec, label = None, UNSAFE_LABEL
        status, message = "ok", ""
        process = subprocess.Popen(command, cwd=tmp_path, env=popen_env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                   preexec_fn=preexec)
        pipes = _Pipes(process, encode_inputs(inputs) if inputs else None)
        try:
            process.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            status, message = "timeout", f"stopped at the time limit of {limits.timeout:.0f} s"
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # bwrap's death ends its PID namespace: every process
            except OSError:
                pass
            process.wait()
            if cgroup is not None:
                oom = cgroup.oom_killed()
                cgroup.remove()
            pipes.join()
        run = _collect(out, status, message, time.perf_counter() - start, inputs or {})
        run.sandbox = label
        if status == "ok" and not run.complete:  # died early: a crash, os._exit, a killed child
            why = f"the process ended with code {process.returncode}"
            if process.returncode in (-9, 137) and (cgroup is None or oom or not cgroup.active):
                why += (f" (killed: most likely the memory limit of {limits.memory / 1024**3:g} GiB "
                        f"of the submission)" if cgroup is None or oom else " (killed)")
            elif cgroup is not None and oom:
                why += f" (the memory limit of {limits.memory / 1024**3:g} GiB of the submission was reached)"
            run.status = "crashed"
            run.message = _clean(why + ": " + " | ".join(pipes.stderr_lines()))
        return run


def _open_in(dir_fd: int, name: str, cap: int, tail: bool = False) -> bytes | None:
    """A regular file ``name`` inside ``dir_fd`` (links not followed), at most ``cap`` bytes; ``None`` if absent.

    Raises ``ValueError`` for anything but a regular file, or a file over ``cap`` (unless ``tail``: then
    its last ``cap`` bytes).
    """
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{name} cannot be opened safely ({exc.strerror})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name} is not a regular file")
        if info.st_size > cap:
            if not tail:
                raise ValueError(f"{name} is larger than {cap} bytes")
            os.lseek(fd, info.st_size - cap, os.SEEK_SET)
        parts, left = [], cap
        while left and (part := os.read(fd, min(left, 1 << 20))):
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def _collect(out: Path, status: str, message: str, seconds: float, inputs: dict[str, Any]) -> Run:
    """Read the child's reports (``run.json``, else the per-cell log so far); all of it is hostile input."""
    run = Run(status, round(seconds, 2), message=message)
    try:
        dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        run.status, run.message = "crashed", f"its output folder was unreadable ({exc.strerror})"
        return run
    try:
        _read_reports(dir_fd, run, inputs)
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:  # reports mangled by the submission
        run.status, run.message = "crashed", _clean(f"its run report was unreadable ({type(exc).__name__}: {exc})")
        run.cells, run.results, run.calls, run.arrays, run.figures = [], {}, {}, {}, []
    finally:
        os.close(dir_fd)
    return run


def _cell_record(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict) or not isinstance(record.get("cell"), int) or record.get("status") not in ("ok",
                                                                                                               "error"):
        raise ValueError("a cell record does not have the expected fields")
    seconds = record.get("seconds")
    return {"cell": max(0, min(record["cell"], 10**6)), "status": record["status"],
            "first_line": _clean(record.get("first_line", ""), 120), "error": _clean(record.get("error", "")),
            "error_type": _clean(record.get("error_type", ""), 80), "output": _clean(record.get("output", ""), 2000),
            "seconds": float(seconds) if isinstance(seconds, int | float) else 0.0,
            "retried": record.get("retried") is True}


def _recorded(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError("recorded results are not a mapping")
    clean: dict[str, Any] = {}
    for key, value in list(values.items())[:2000]:
        if isinstance(key, str) and len(key) <= 200 and isinstance(value, bool | int | float | str):
            clean[key] = _clean(value, 500) if isinstance(value, str) else value
    return clean


def _calls(calls: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(calls, dict):
        raise ValueError("the function calls are not a mapping")
    clean: dict[str, Any] = {}
    for check_id, call in calls.items():
        if check_id not in inputs or not isinstance(call, dict):
            continue
        if "missing" in call:
            clean[check_id] = {"missing": _clean(call["missing"])}
            continue
        cases = []
        reported = call.get("cases") if isinstance(call.get("cases"), list) else []
        for case in reported[: len(inputs[check_id]["cases"])]:
            if isinstance(case, dict) and isinstance(case.get("n_values"), int) and 0 <= case["n_values"] <= 64:
                cases.append({"n_values": case["n_values"]})
            else:
                cases.append({"error": _clean(case.get("error", "no outcome reported") if isinstance(case, dict)
                                              else "no outcome reported")})
        clean[check_id] = {"cases": cases}
    return clean


def _read_reports(dir_fd: int, run: Run, inputs: dict[str, Any]) -> None:
    summary_bytes = _open_in(dir_fd, "run.json", MAX_RUN_JSON)
    names: list[str] = []
    if summary_bytes is not None:
        summary = json.loads(summary_bytes)
        if not isinstance(summary, dict) or not isinstance(summary.get("cells"), list):
            raise ValueError("run.json does not have the expected fields")
        run.complete = True
        run.cells = [_cell_record(c) for c in summary["cells"][:5000]]
        run.results = _recorded(summary.get("results", {}))
        run.calls = _calls(summary.get("calls", {}), inputs)
        names = [n for n in summary.get("figures", []) if isinstance(n, str)] if isinstance(
            summary.get("figures"), list) else []
    else:
        events = _open_in(dir_fd, "events.jsonl", MAX_EVENTS_TAIL, tail=True)
        latest: dict[int, dict] = {}
        for line in (events or b"").decode(errors="replace").splitlines():
            try:
                record = _cell_record(json.loads(line))
                results = _recorded(json.loads(line).get("results", {}))
            except (ValueError, AttributeError, RecursionError):  # a line cut off by the kill, or forged
                continue
            latest[record["cell"]] = record
            run.results = results  # the latest snapshot
        run.cells = [latest[i] for i in sorted(latest)]
        try:
            figures_fd = os.open("figures", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            figures_fd = None
        if figures_fd is not None:
            try:
                names = sorted(f"figures/{n}" for n in os.listdir(figures_fd))[:MAX_FIGURES]
            finally:
                os.close(figures_fd)
    run.figures = _figures(dir_fd, names)
    if run.calls:
        data = _open_in(dir_fd, "calls.npz", MAX_CALLS)
        if data is not None:
            import io

            pattern = re.compile(r"(.+)__(\d+)__(\d+)")
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                for key in npz.files:
                    match = pattern.fullmatch(key)
                    if match and match.group(1) in run.calls:
                        value = npz[key]
                        if value.dtype.kind in "biuf":
                            run.arrays[key] = value


def _figures(dir_fd: int, names: list[str]) -> list[bytes]:
    """The PNGs named ``figures/cellNNN_KK.png`` (nothing else), opened without following links."""
    figures: list[bytes] = []
    wanted = [m.group(1) for m in (FIGURE_NAME.fullmatch(n) for n in names[:MAX_FIGURES]) if m]
    if not wanted:
        return figures
    try:
        figures_fd = os.open("figures", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return figures
    try:
        for name in wanted:
            try:
                png = _open_in(figures_fd, name, MAX_FIGURE)
            except ValueError:
                continue
            if png and png.startswith(b"\x89PNG\r\n\x1a\n"):
                figures.append(png)
    finally:
        os.close(figures_fd)
    return figures


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
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip(".") or "submission"


def student_names(paths: list[Path]) -> dict[Path, str]:
    """Unique student ids for ``paths``: names equal after sanitising get suffixes ``-2``, ``-3``, ...

    The mapping is in ``summary.csv`` (column ``file``); ``grade_folder`` warns about every suffix.
    """
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in sorted(paths):
        base = name = student_name(path)
        number = 1
        while name.lower() in taken:  # case-insensitive: feedback pages on case-insensitive file systems
            number += 1
            name = f"{base}-{number}"
        taken.add(name.lower())
        names[path] = name
    return names


@dataclass
class GradingJob:
    """Everything a worker needs to grade any submission of one exercise: plain, picklable data.

    The checks travel as their source text (a worker needs the kit installed, not the instructor's
    ``grading/`` folder); the hidden inputs and the expected values are computed once, here.
    ``fingerprint`` changes whenever anything that could change a grade changes (``resume``).
    """

    exercise: str
    checks_name: str
    checks_source: str
    reference: dict[str, Any]
    inputs: dict[str, Any]
    expected: dict[str, list[Any]]
    limits: Limits
    profile: str
    seed: int
    deny: list[str]
    fingerprint: str = ""
    written: list[tuple[str, float]] = field(default_factory=list)  # (grade_id, points): pending manual grading


@dataclass
class Submission:
    """One student's notebook: by ``path`` (a shared file system) or by its bytes ``data``."""

    student: str
    file: str
    path: str | None = None
    data: bytes | None = None
    key: str = ""  # sha256 of the job's fingerprint, the student and the file's content


class BatchFolders:
    """A private scratch folder and (sandboxed) the read-only view of a batch, for one grading process.

    Made once per process (the local pool, each Dask worker) and deleted by :meth:`close`.
    """

    def __init__(self, sandboxed: bool) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="course-kit-batch-", ignore_cleanup_errors=True)
        self.scratch = Path(self._tmp.name)
        os.chmod(self.scratch, 0o700)
        self.shared = isolation.shared_for_batch(self.scratch / "release") if sandboxed else None
        self._suites: dict[str, CheckSuite] = {}
        self._lock = threading.Lock()

    def suite(self, job: GradingJob) -> CheckSuite:
        """The job's checks, loaded from their source (once per job)."""
        with self._lock:
            if job.fingerprint not in self._suites:
                folder = self.scratch / f"checks-{uuid.uuid4().hex[:12]}"
                folder.mkdir()
                path = folder / job.checks_name
                path.write_text(job.checks_source, encoding="utf-8")
                self._suites[job.fingerprint] = load_checks(path)
            return self._suites[job.fingerprint]

    def submission_path(self, submission: Submission) -> Path:
        """The submitted notebook as a file here (written into the scratch folder when sent as bytes)."""
        if submission.data is None:
            return Path(submission.path or "")
        folder = self.scratch / f"sub-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        path = folder / Path(submission.file).name
        path.write_bytes(submission.data)
        return path

    def close(self) -> None:
        self._tmp.cleanup()


def where() -> tuple[str, str]:
    """``(host, worker)`` of the calling thread: a Dask worker's address, else the local process and thread."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return socket.gethostname(), distributed.get_worker().address
        except ValueError:  # not in a Dask worker
            pass
    return socket.gethostname(), f"local pid {os.getpid()} {threading.current_thread().name}"


def grade_task(job: GradingJob, submission: Submission, folders: BatchFolders | None = None) -> dict[str, Any]:
    """Grade one submission in its own OS sandbox and return its grade record (plain data, JSON-ready).

    The task of :mod:`.batch` and :mod:`.distributed` (:func:`grade_submission` is the same for a
    file on this machine, returning a :class:`Grade`). Runs anywhere the kit is installed: the local
    pool, a process pool, a Dask worker; the checks travel as source and the submission by path or
    bytes. ``folders``: the calling process's (made once per process when not given). Raises
    :class:`SandboxUnavailable` where there is no OS sandbox and the limits do not allow grading
    without one (a worker without bubblewrap refuses, as the local grader does); any other failure
    costs only this submission, whose checks then score 0 with the reason.
    """
    start = time.perf_counter()
    host, worker = where()
    problem = sandbox_problem(job.limits)
    if problem:
        raise SandboxUnavailable(f"{host} ({worker}): {problem}")
    folders = folders or _process_folders(not job.limits.unsafe_no_sandbox)
    suite = folders.suite(job)
    try:
        path = folders.submission_path(submission)
        env = dict(os.environ, COURSE_KIT_PROFILE=job.profile)
        run = run_notebook(path, [*map(Path, job.deny), folders.scratch], job.limits, job.inputs, env=env,
                           scratch=folders.scratch, shared=folders.shared)
        results = score(suite, run, job.expected, job.reference) + written_answer_results(job.written, path,
                                                                                           max_bytes=MAX_NOTEBOOK)
    except Exception as exc:  # noqa: BLE001 (one submission must never stop the batch)
        run = Run("crashed", 0.0, message=_clean(f"grading failed: {type(exc).__name__}: {exc}"))
        results = [CheckResult(c.id, 0.0, c.points, run.message) for c in suite.checks]
    grade = Grade(submission.student, results, run, submission.file, host, worker,
                  round(time.perf_counter() - start, 2))
    return grade_record(grade, submission.key)


@functools.lru_cache(maxsize=2)
def _process_folders(sandboxed: bool) -> BatchFolders:
    """This process's folders, when a foreign executor (e.g. a process pool) runs :func:`grade_task`."""
    import atexit

    folders = BatchFolders(sandboxed)
    atexit.register(folders.close)
    return folders


def grade_record(grade: Grade, key: str = "") -> dict[str, Any]:
    """A grade as plain JSON data (figures base64): what a worker sends back and ``records/`` keeps."""
    run = grade.run
    return {"key": key, "student": grade.student, "file": grade.file, "host": grade.host, "worker": grade.worker,
            "wall": grade.wall,
            "results": [[r.check, r.points, r.max_points, r.reason, r.pending] for r in grade.results],
            "run": {"status": run.status, "seconds": run.seconds, "message": run.message, "sandbox": run.sandbox,
                    "complete": run.complete, "cells": run.cells, "results": run.results,
                    "figures": [base64.b64encode(png).decode("ascii") for png in run.figures]}}


def grade_from_record(record: dict[str, Any], resumed: bool = False) -> Grade:
    """The :class:`Grade` of a record made by :func:`grade_record`."""
    r = record["run"]
    run = Run(r["status"], r["seconds"], cells=r["cells"], results=r["results"], message=r["message"],
              sandbox=r["sandbox"], complete=r["complete"], figures=[base64.b64decode(f) for f in r["figures"]])
    results = [CheckResult(check, points, maximum, reason, bool(rest and rest[0]))
               for check, points, maximum, reason, *rest in record["results"]]
    return Grade(record["student"], results, run, record["file"], record.get("host", ""), record.get("worker", ""),
                 record.get("wall", 0.0), resumed)


@dataclass(frozen=True)
class Exercise:
    """Everything a worker needs to grade a submission of one exercise (paths and numbers: picklable).

    ``reference_notebook`` is the executed instructor notebook whose recorded results are the reference;
    ``deny``: extra paths the audit hook refuses (the only file barrier with ``--unsafe-no-sandbox``).
    """

    checks: Path
    limits: Limits = field(default_factory=Limits)
    seed: int = 0
    profile: str = "small"
    reference_notebook: Path | None = None
    deny: tuple[Path, ...] = ()


@functools.lru_cache(maxsize=8)
def _prepared(checks: Path, seed: int, reference_notebook: Path | None) -> tuple[CheckSuite, Path, dict, dict, dict]:
    """The checks, the reference notebook and its recorded results, the expected values and the inputs.

    Computed once per process (the expected values stay in this process: they never enter a sandbox).
    """
    suite = load_checks(checks)
    reference_notebook = reference_notebook or checks.resolve().parent.parent / "notebooks" / f"{suite.exercise}.ipynb"
    written_answer_ids(reference_notebook, suite.written)  # refuses written points that disagree with grading/
    reference = (results_from_notebook(reference_notebook) if reference_notebook.exists() else None) or {}
    cases = {check.id: check.make_cases(seed + index) for index, check in enumerate(suite.function_checks)}
    expected = {check.id: check.expected(cases[check.id]) for check in suite.function_checks}  # with case weights
    inputs = {check.id: {"function": check.function, "cases": cases[check.id], "probe": check.probe}
              for check in suite.function_checks}
    return suite, reference_notebook, reference, expected, inputs


@functools.lru_cache(maxsize=1)
def _process_view() -> isolation.Shared:
    """The released package and data for the sandboxes of this process (a worker of a foreign executor)."""
    import atexit

    folder = Path(tempfile.mkdtemp(prefix="course-kit-worker-"))
    atexit.register(shutil.rmtree, folder, True)
    return isolation.shared_for_batch(folder / "release")


def grade_submission(path: Path, exercise: Exercise, student: str | None = None, *,
                     shared: isolation.Shared | None = None, scratch: Path | None = None) -> Grade:
    """Grade one submitted notebook: run it in its sandbox, score every check; never raises for the submission.

    The unit of work of a batch: :func:`grade_folder` maps it over the submissions with an executor.
    ``shared`` and ``scratch`` are the batch's released package and temporary folder (made for this
    process when not given). Raises :class:`SandboxUnavailable` when this machine has no OS sandbox and
    ``exercise.limits`` do not allow grading without one.
    """
    suite, reference_notebook, reference, expected, inputs = _prepared(exercise.checks, exercise.seed,
                                                                       exercise.reference_notebook)
    student = student or student_name(path)
    problem = sandbox_problem(exercise.limits)
    if problem:
        raise SandboxUnavailable(problem)
    try:
        if shared is None and not exercise.limits.unsafe_no_sandbox:
            shared = _process_view()
        env = dict(os.environ, COURSE_KIT_PROFILE=exercise.profile)
        run = run_notebook(path, list(exercise.deny), exercise.limits, inputs, env=env, scratch=scratch, shared=shared)
        written = written_answer_results(reference_notebook, path, max_bytes=MAX_NOTEBOOK, written=suite.written)
        return Grade(student, score(suite, run, expected, reference) + written, run, path.name)
    except Exception as exc:  # noqa: BLE001 (one submission must never stop the batch)
        run = Run("crashed", 0.0, message=_clean(f"grading failed: {type(exc).__name__}: {exc}"))
        return Grade(student, [CheckResult(c.id, 0.0, c.points, run.message) for c in suite.checks], run, path.name)


def grading_job(checks: Path, reference_notebook: Path | None = None, limits: Limits | None = None, seed: int = 0,
                profile: str = "small", deny: list[Path] | None = None) -> GradingJob:
    """The job of grading submissions of the exercise whose checks are ``checks`` (see :func:`grade_folder`)."""
    suite, reference_notebook, reference, expected, inputs = _prepared(checks, seed, reference_notebook)
    limits = limits or Limits()
    denied = [checks.resolve().parent, reference_notebook.resolve().parent, *(deny or [])]
    job = GradingJob(suite.exercise, checks.name, checks.read_text(encoding="utf-8"), reference, inputs, expected,
                     limits, profile, seed, [str(p) for p in denied],
                     written=written_answer_ids(reference_notebook, suite.written))
    digest = hashlib.sha256()
    for part in (job.checks_source, json.dumps(reference, sort_keys=True, default=str), repr(limits), profile,
                 str(seed)):
        digest.update(part.encode() + b"\x00")
    job.fingerprint = digest.hexdigest()
    return job


def submissions_of(folder: Path, job: GradingJob, transfer: str = "path") -> list[Submission]:
    """The ``*.ipynb`` of ``folder`` as submissions (by ``path`` or by ``bytes``), with unique student ids."""
    if transfer not in ("path", "bytes"):
        raise ValueError(f"transfer must be 'path' or 'bytes', not {transfer!r}")
    paths = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not paths:
        raise FileNotFoundError(f"No submitted notebooks (*.ipynb) in {folder}.")
    names = student_names(paths)
    submissions = []
    for path, name in names.items():
        if name != student_name(path):
            warnings.warn(f"{path.name}: its name collides with another submission's after sanitising; "
                          f"graded as {name!r} (see summary.csv, column file)", stacklevel=3)
        data = path.read_bytes() if path.stat().st_size <= MAX_NOTEBOOK else b""
        key = hashlib.sha256(f"{job.fingerprint}\x00{name}\x00".encode() + data).hexdigest()
        if transfer == "bytes" and len(data):
            submissions.append(Submission(name, path.name, data=data, key=key))
        else:  # too large files go by path: the worker's load_submission gives the reason
            submissions.append(Submission(name, path.name, path=str(path.resolve()), key=key))
    return submissions


def grade_folder(submissions: Path, checks: Path, out_dir: Path, reference_notebook: Path | None = None,
                 workers: int | None = None, limits: Limits | None = None, seed: int = 0,
                 profile: str = "small", deny: list[Path] | None = None, executor: Any = None,
                 resume: bool = False, transfer: str = "path", progress: bool = False) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions`` with the checks in ``checks``; write the reports.

    Parameters
    ----------
    submissions : Path
        Folder of submitted notebooks, one per student, any file names.
    checks : Path
        The exercise's ``grading/NN_topic.py``.
    out_dir : Path
        Where ``grades.csv``, ``summary.csv``, ``feedback/`` and ``records/`` (one grade record per
        student, for ``resume``) go.
    reference_notebook : Path, optional
        The executed instructor notebook whose recorded results are the reference (default:
        ``notebooks/<EXERCISE>.ipynb`` next to the checks' folder).
    workers : int, optional
        Submissions run at once by the default local pool (default: the machine's cores).
    seed : int
        Seed of the hidden inputs (the same seed grades every student on the same inputs).
    profile : str
        ``COURSE_KIT_PROFILE`` for the runs (``small`` keeps training notebooks short).
    deny : list of Path, optional
        Extra paths a submission may not read (the checks' folder, the reference notebooks' folder,
        the submissions folder and ``out_dir`` are always denied).
    executor : optional
        Where the submissions run: ``None`` (a local thread pool of ``workers`` sandboxes), a
        :class:`~course_utils.instructor.batch.Backend` (e.g. a Dask cluster, see
        :mod:`.distributed`), or any ``concurrent.futures.Executor``.
    resume : bool
        Skip the submissions whose record in ``out_dir/records`` has the same content hash (same file,
        checks, reference, limits, seed and profile).
    transfer : str
        ``"path"`` (workers read the submissions folder: a shared file system) or ``"bytes"``.
    progress : bool
        Show a progress bar (done / running / failed) on stderr.
    """
    from .batch import LocalBackend, as_backend, run_batch

    limits = limits or Limits()
    problem = sandbox_problem(limits)
    if problem:
        raise SandboxUnavailable(problem)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = grading_job(checks, reference_notebook, limits, seed, profile,
                      [submissions.resolve(), out_dir.resolve(), *(deny or [])])
    subs = submissions_of(submissions, job, transfer)
    backend = LocalBackend(workers or cpu_count(), limits) if executor is None else as_backend(executor)
    try:
        grades = run_batch(backend, job, subs, out_dir, resume=resume, progress=progress)
    finally:
        if executor is None:
            backend.close()
    write_reports(grades, load_checks(checks), out_dir)
    return grades


def write_reports(grades: list[Grade], suite: CheckSuite, out_dir: Path) -> None:
    """``grades.csv``, ``summary.csv`` and one feedback page per student."""
    with (out_dir / "grades.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "check", "points", "max", "reason"])
        for grade in grades:
            for result in grade.results:
                writer.writerow([grade.student, result.check, result.shown_points, result.max_points,
                                 _clean(result.reason, 2000)])
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
