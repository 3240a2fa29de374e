"""Run one submission: its notebook checked, then executed in its own OS sandbox (or a plain child).

The child :mod:`.sandbox` runs the notebook's cells, then (phase 2) the student's functions on the hidden
inputs, which it receives on stdin only after it announced the end of phase 1. A hard wall-clock limit
kills the whole submission; its output is read back by :mod:`.output` as hostile input.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import isolation, seccomp
from .isolation import INSTALL_HINT, SandboxUnavailable
from .output import MAX_OUTPUT, _collect, folder_size, phase1_ended
from .records import Limits, Run
from .sandbox import PHASE2_MARKER, encode_inputs
from .text import check_json, read_regular, safe_file_name, safe_text

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
    """A submitted notebook as nbformat 4 JSON, or ``None`` and the reason it cannot be graded.

    The file is read without following a link and only up to :data:`MAX_NOTEBOOK` bytes; its JSON is
    checked for depth and size before it is parsed (:func:`.text.check_json`).
    """
    name = safe_file_name(path.name)
    try:
        data = read_regular(path, MAX_NOTEBOOK)
        if data is None:
            return None, (f"{name} is larger than {MAX_NOTEBOOK // 1024**2} MiB; "
                          f"submit the notebook with its outputs cleared")
        check_json(data, name)
        text = data.decode("utf-8")
        notebook = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"{name} is not a readable notebook ({safe_text(str(exc), 200)})"
    if not isinstance(notebook, dict):
        return None, f"{name} is JSON but not a notebook (no cells)"
    version = notebook.get("nbformat")
    if isinstance(version, int) and version < 4:
        try:
            import nbformat

            notebook = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as exc:  # noqa: BLE001 (nbformat raises many kinds)
            return None, (f"{name} is in nbformat {version}, which could not be upgraded to nbformat 4 "
                          f"({safe_text(str(exc), 200)}); open and save it in a current Jupyter")
    elif version != 4:
        return None, f"{name}: unsupported nbformat {safe_text(repr(version), 40)}; save it in a current Jupyter"
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return None, f"{name} has no list of cells; it is not a Jupyter notebook"
    code = [c for c in cells if c.get("cell_type") == "code" and isinstance(c.get("source", ""), str | list)]
    if not code:
        return None, f"{name} has no code cells (an empty or unsaved notebook?); nothing to grade"
    return notebook, ""



class _Pipes:
    """Reads the child's stdout (for the phase-2 marker) and the tail of its stderr, in threads."""

    def __init__(self, process: subprocess.Popen, payload: bytes | None,
                 phase1_ended: Callable[[], bool] = lambda: True) -> None:
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.process, self.payload, self.phase1_ended = process, payload, phase1_ended
        self.refused = False  # the marker came before the grader saw phase 1 end: no inputs sent
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
                    if not self.phase1_ended():  # the marker alone proves nothing: student code can print it
                        self.refused, payload = True, b""
                    threading.Thread(target=self._send, args=(payload,), daemon=True).start()

    def _send(self, payload: bytes) -> None:
        try:
            self.process.stdin.write(payload)
            self.process.stdin.close()
        except (OSError, ValueError):  # the child closed stdin or died
            pass

    def stderr_lines(self, count: int = 3) -> list[str]:
        text = b"".join(self.tail)[-STDERR_TAIL:].decode(errors="replace")
        return [safe_text(line, 300) for line in text.strip().splitlines()[-count:]]

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=5)


def _watch(process: subprocess.Popen, out: Path, timeout: float, every: float = 0.5) -> tuple[str, str]:
    """Wait for ``process`` up to ``timeout`` s, checking that its output folder stays under :data:`MAX_OUTPUT`.

    Returns ``(status, message)``: ``ok``, ``timeout``, or ``crashed`` when the folder grew over the cap
    (the submission is then killed by the caller; it wrote at most ``every`` seconds' worth more).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(timeout=max(0.0, min(every, deadline - time.monotonic())))
            return "ok", ""
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() >= deadline:
            return "timeout", f"stopped at the time limit of {timeout:.0f} s"
        if folder_size(out) > MAX_OUTPUT:
            return "crashed", (f"stopped: it wrote more than {MAX_OUTPUT // 1024**2} MiB (or too many files) to "
                               f"its output folder")


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
        with contextlib.ExitStack() as cleanup:  # the uid lease and the seccomp program, released last
            cgroup = None
            if sandboxed:
                lease = isolation.lease_uid() if os.geteuid() == 0 else None
                uid = lease.uid if lease is not None else None
                if lease is not None:
                    cleanup.callback(lease.release)  # after the kill: no process of the submission keeps this uid
                if uid is not None:
                    os.chown(out, uid, uid)
                own_shared = shared is None
                if own_shared:
                    shared = isolation.shared_for_batch(tmp_path / "release")
                passed = {k: v for k, v in (env or os.environ).items() if k in ("COURSE_KIT_PROFILE", "LANG", "TZ")}
                spec.update({"notebook": f"{isolation.BOX}/submission.ipynb", "workdir": isolation.HOME,
                             "out": f"{isolation.BOX}/out", "deny": []})
                argv = [sys.executable, "-B", f"{isolation.BOX}/runner/sandbox.py", json.dumps(spec)]
                seccomp_fd = seccomp.program_fd() if seccomp.supported() else None
                if seccomp_fd is not None:
                    cleanup.callback(os.close, seccomp_fd)
                command = isolation.bwrap_command(shared, submission, out, uid, argv, {**passed, **child_env},
                                                  limits.tmp_size, seccomp_fd)
                cgroup = isolation.Cgroup(f"course-kit-{os.getpid()}-{uuid.uuid4().hex[:12]}", limits.memory,
                                          limits.processes)
                popen_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
                preexec = isolation.limit_setter(cgroup, limits.memory, limits.processes, limits.file_size,
                                                 int(limits.timeout) + 5, uid)
                label = ("bwrap" + (" + cgroup" if cgroup.active else " + rlimits")
                         + (" + seccomp" if seccomp_fd is not None else ""))
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
                preexec, label, seccomp_fd = None, UNSAFE_LABEL, None
            try:
                process = subprocess.Popen(command, cwd=tmp_path, env=popen_env, stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                           preexec_fn=preexec, pass_fds=() if seccomp_fd is None else (seccomp_fd,))
            except BaseException:
                if cgroup is not None:
                    cgroup.remove()
                raise
            last_cell = max((i for i, c in enumerate(data["cells"]) if c.get("cell_type") == "code"), default=-1)
            pipes = _Pipes(process, encode_inputs(inputs) if inputs else None,
                           functools.partial(phase1_ended, out, last_cell, stop_on_error))
            try:
                status, message = _watch(process, out, limits.timeout)
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
                run.message = safe_text(why + ": " + " | ".join(pipes.stderr_lines()))
            if pipes.refused:
                run.message = safe_text(run.message + "; phase 2 was refused: the child announced it before the grader "
                                        "saw the notebook's last code cell end", 2000).lstrip("; ")
            return run

