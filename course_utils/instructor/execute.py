"""Run one submission: its notebook checked, then executed in its own OS sandbox (or a plain child).

The child :mod:`.sandbox` runs the notebook's cells, then (phase 2) the student's functions on the hidden
inputs, which it receives on stdin only after it announced the end of phase 1. A hard wall-clock limit
kills the whole submission; its output is read back by :mod:`.output` as hostile input.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from . import isolation
from .isolation import INSTALL_HINT, SandboxUnavailable
from .output import _collect
from .records import Limits, Run
from .sandbox import PHASE2_MARKER, encode_inputs
from .text import clean_text

MAX_NOTEBOOK = 64 * 1024**2
STDERR_TAIL = 64 * 1024
UNSAFE_LABEL = "none (--unsafe-no-sandbox: the submission ran with the grader's own rights)"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")



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
    problem = isolation.bwrap_problem()
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
        return None, f"{path.name} is not a readable notebook ({clean_text(str(exc), 200)})"
    if not isinstance(notebook, dict):
        return None, f"{path.name} is JSON but not a notebook (no cells)"
    version = notebook.get("nbformat")
    if isinstance(version, int) and version < 4:
        try:
            import nbformat

            notebook = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as exc:  # noqa: BLE001 (nbformat raises many kinds)
            return None, (f"{path.name} is in nbformat {version}, which could not be upgraded to nbformat 4 "
                          f"({clean_text(str(exc), 200)}); open and save it in a current Jupyter")
    elif version != 4:
        return None, f"{path.name}: unsupported nbformat {clean_text(repr(version), 40)}; save it in a current Jupyter"
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return None, f"{path.name} has no list of cells; it is not a Jupyter notebook"
    code = [c for c in cells if c.get("cell_type") == "code" and isinstance(c.get("source", ""), str | list)]
    if not code:
        return None, f"{path.name} has no code cells (an empty or unsaved notebook?); nothing to grade"
    return notebook, ""



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
        return [clean_text(line, 300) for line in text.strip().splitlines()[-count:]]

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
            run.message = clean_text(why + ": " + " | ".join(pipes.stderr_lines()))
        return run

