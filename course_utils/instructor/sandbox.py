"""Run one notebook in this process: the grader's child (``python -m course_utils.instructor.sandbox SPEC``).

The parent (:mod:`.grade`) starts this module in a fresh process with a memory limit, in a temporary
working directory, inside a network namespace where the system allows one, and kills it at a hard time
limit. Inside, before any student code runs:

* an audit hook (PEP 578) refuses to open or list the instructor's files (checks, reference notebooks,
  other submissions, the check inputs until phase 2) and refuses sockets (connect, bind, name lookup);
* every cell runs under an alarm (per-cell time limit), so an endless loop costs one cell, not the run.

Phase 1 runs the code cells in notebook order with IPython, keeps going after errors, then re-runs cells
that failed with ``NameError`` (cells moved out of order) while that makes progress. Phase 2 loads the
check inputs and calls the student's functions on them, each call under the alarm too. Everything comes
back as JSON and a NumPy ``.npz`` (never pickle), written to the output folder.

This keeps honest mistakes and casual cheating out; it is not a security boundary against a determined
attacker with the same user id (use a container per submission for that).
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

NETWORK_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
                            "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "urllib.Request"})
PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "glob.glob", "shutil.copyfile", "os.chdir"})
MAX_FIGURES = 24
MAX_TEXT = 2000


class CellTimeout(BaseException):
    """Raised by the alarm in a cell or call that exceeds its time limit (not an ``Exception``: a bare
    ``except Exception`` in student code cannot swallow it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("time limit of the cell exceeded")


def install_guard(deny: list[str], gated: str, own: str | None = None) -> dict[str, bool]:
    """Install the audit hook; return its state (set ``state["gated"] = True`` to allow the check inputs).

    Paths under ``deny`` are refused, except those under ``own`` (the run's own temporary folder, which
    may lie inside a denied batch folder); the ``gated`` file is refused until phase 2.
    """
    roots = [os.path.realpath(p) for p in deny]
    gated_root = os.path.realpath(gated)
    own_root = os.path.realpath(own) if own else None
    state = {"gated": False}

    def under(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

    def hook(event: str, args: tuple) -> None:
        if event in NETWORK_EVENTS:
            raise PermissionError("grading sandbox: network access is disabled while grading")
        if event not in PATH_EVENTS or not args or isinstance(args[0], int) or args[0] is None:
            return
        try:
            path = os.path.realpath(os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        if under(path, gated_root):
            if not state["gated"]:
                raise PermissionError(f"grading sandbox: {args[0]} is not accessible to a submission")
            return
        if own_root and under(path, own_root):
            return
        if any(under(path, root) for root in roots):
            raise PermissionError(f"grading sandbox: {args[0]} is not accessible to a submission")

    sys.addaudithook(hook)
    return state


def _error_text(error: BaseException | None) -> str:
    if error is None:
        return ""
    if isinstance(error, CellTimeout):
        return "CellTimeout: the cell ran past its time limit and was stopped"
    if isinstance(error, MemoryError):
        return "MemoryError: the memory limit of the submission was reached"
    if isinstance(error, NotImplementedError) and not str(error):
        return "NotImplementedError: the exercise is not done yet"
    return (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:MAX_TEXT]


class Runner:
    """Executes one notebook's code cells in an IPython shell and collects errors, figures and results."""

    def __init__(self, out: Path, cell_timeout: float) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.core.pylabtools import select_figure_formats

        self.out = out
        self.cell_timeout = cell_timeout
        self.shell = InteractiveShell.instance()
        self.shell.user_ns["__name__"] = "__main__"
        select_figure_formats(self.shell, {"png"})
        self.figures: list[str] = []
        (out / "figures").mkdir(parents=True, exist_ok=True)
        self.events = (out / "events.jsonl").open("a", encoding="utf-8")

    def _save_figure(self, png: bytes, cell: int) -> None:
        if len(self.figures) < MAX_FIGURES:
            name = f"figures/cell{cell:03d}_{len(self.figures):02d}.png"
            (self.out / name).write_bytes(png)
            self.figures.append(name)

    def run_cell(self, index: int, source: str) -> dict[str, Any]:
        """Run one cell under the alarm; return ``{"cell", "status", "error", "seconds", "output"}``."""
        import matplotlib.pyplot as plt
        from IPython.utils.capture import capture_output

        start = time.perf_counter()
        error: BaseException | None = None
        with capture_output() as captured:
            signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
            try:
                result = self.shell.run_cell(source, store_history=False)
                error = result.error_before_exec or result.error_in_exec
            except CellTimeout as exc:  # fired between IPython's own handlers
                error = exc
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        for output in captured.outputs:
            if "image/png" in output.data:
                png = output.data["image/png"]
                self._save_figure(png if isinstance(png, bytes) else __import__("base64").b64decode(png), index)
        for number in plt.get_fignums():
            figure = plt.figure(number)
            from io import BytesIO

            buffer = BytesIO()
            figure.savefig(buffer, format="png", dpi=60, bbox_inches="tight")
            self._save_figure(buffer.getvalue(), index)
        plt.close("all")
        first_line = next((line for line in source.splitlines() if line.strip()), "")[:120]
        record = {"cell": index, "first_line": first_line, "status": "error" if error else "ok",
                  "error": _error_text(error), "results": self.results(),
                  "error_type": type(error).__name__ if error else "",
                  "seconds": round(time.perf_counter() - start, 3),
                  "output": (captured.stdout + captured.stderr)[-MAX_TEXT:]}
        self.events.write(json.dumps(record) + "\n")
        self.events.flush()
        return record

    def run_notebook(self, cells: list[tuple[int, str]], stop_on_error: bool) -> list[dict[str, Any]]:
        """Phase 1: all cells in order, then NameError retries while they make progress."""
        records = {}
        for index, source in cells:
            records[index] = self.run_cell(index, source)
            if stop_on_error and records[index]["status"] == "error":
                return list(records.values())
        if stop_on_error:
            return list(records.values())
        for _ in range(3):
            retry = [(i, s) for i, s in cells if records[i]["error_type"] == "NameError"]
            if not retry:
                break
            progress = False
            for index, source in retry:
                again = self.run_cell(index, source)
                again["retried"] = True
                progress |= again["status"] == "ok"
                records[index] = again
            if not progress:
                break
        return [records[i] for i, _ in cells]

    def results(self) -> dict[str, Any]:
        """Figures recorded by every ``course_utils.report.Report`` in the namespace (a snapshot)."""
        from course_utils.report import Report

        values: dict[str, Any] = {}
        try:
            for value in list(self.shell.user_ns.values()):
                if isinstance(value, Report):
                    values.update({k: v for k, v in value.values.items() if isinstance(v, bool | int | float | str)})
        except Exception:  # noqa: BLE001 (a namespace mangled by student code)
            return {}
        return values

    def call_functions(self, inputs: dict[str, dict[str, Any]]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Phase 2: call the student's functions on the check inputs; arrays and per-case outcomes."""
        from course_utils.instructor.checks import as_arrays

        arrays: dict[str, np.ndarray] = {}
        outcomes: dict[str, Any] = {}
        for check_id, call in inputs.items():
            function = self.shell.user_ns.get(call["function"])
            if not callable(function):
                outcomes[check_id] = {"missing": f"function `{call['function']}` is not defined after running "
                                                 f"the notebook (did its cell run without error?)"}
                continue
            cases: list[dict[str, Any]] = []
            for number, args in enumerate(call["cases"]):
                if any("CellTimeout" in case.get("error", "") for case in cases):
                    cases.append({"error": "skipped: an earlier case ran past the time limit"})
                    continue
                signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
                try:
                    probe = call.get("probe")
                    values = as_arrays(function(*args) if probe is None else probe(function, *args))
                    for j, value in enumerate(values):
                        arrays[f"{check_id}__{number}__{j}"] = value
                    cases.append({"n_values": len(values)})
                except BaseException as exc:  # noqa: BLE001 (student code: anything can happen)
                    cases.append({"error": _error_text(exc)})
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            outcomes[check_id] = {"cases": cases}
        return arrays, outcomes


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    notebook = json.loads(Path(spec["notebook"]).read_text(encoding="utf-8"))
    cells = [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
             for i, c in enumerate(notebook.get("cells", [])) if c.get("cell_type") == "code"]
    if spec.get("memory"):  # soft = hard: the submission cannot raise it again
        resource.setrlimit(resource.RLIMIT_AS, (int(spec["memory"]), int(spec["memory"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGALRM, _on_alarm)
    state = install_guard(spec.get("deny", []), spec.get("inputs", os.devnull + ".none"), spec.get("own"))
    os.chdir(spec["workdir"])
    runner = Runner(out, float(spec.get("cell_timeout", 600)))
    records = runner.run_notebook(cells, bool(spec.get("stop_on_error", False)))
    summary: dict[str, Any] = {"cells": records, "results": runner.results(), "calls": {}, "figures": runner.figures}
    if spec.get("inputs"):
        state["gated"] = True
        with open(spec["inputs"], "rb") as handle:
            inputs = pickle.load(handle)  # noqa: S301 (written by the grader itself)
        arrays, summary["calls"] = runner.call_functions(inputs)
        np.savez(out / "calls.npz", **arrays)
    (out / "run.json").write_text(json.dumps(summary, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except BaseException:  # the parent reads the reason from stderr
        traceback.print_exc()
        sys.exit(3)
