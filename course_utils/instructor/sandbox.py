"""The grader's child: run one notebook in this process (``python sandbox.py SPEC_JSON``).

This file is self-contained (standard library, NumPy, IPython, Matplotlib and the released
``course_utils.report``; nothing from ``course_utils.instructor``), because the grader binds it read-only
into each submission's OS sandbox (:mod:`.isolation`), where the instructor package does not exist. It
holds no answer and no check.

Phase 1 runs the code cells in notebook order with IPython, keeps going after errors, then re-runs cells
that failed with ``NameError`` (cells moved out of order) while that makes progress. Every cell, and the
saving of its figures, runs under an alarm (per-cell time limit). Phase 2 asks the grader for the check
inputs (it writes a marker line to stdout; the grader answers on stdin with a JSON manifest and an
``.npz``, never pickle) and calls the student's functions on them, each call under the alarm too.
Everything comes back as JSON and an ``.npz`` in the output folder; the grader treats all of it as
hostile input (fixed schema, size caps, see ``output._read_reports``).

An audit hook (PEP 578) stays as a second layer: it refuses sockets and the paths in ``deny``. Without
the OS sandbox (``--unsafe-no-sandbox``) it is the only file barrier, and it is not a security boundary.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import struct
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
PHASE2_MARKER = b"course-kit:phase2\n"
MAX_INPUTS = 256 * 1024**2


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


def as_arrays(value: Any) -> list[np.ndarray]:
    """A function's return value as a list of numeric arrays (a tuple or list gives one array per item)."""
    items = list(value) if isinstance(value, tuple | list) else [value]
    arrays = []
    for item in items:
        array = np.asarray(item)
        if array.dtype == object:
            raise TypeError(f"returned {type(item).__name__}, which is not numbers or an array of numbers")
        arrays.append(array)
    return arrays


def call_key(args: Any) -> tuple | None:
    """A hashable key of a call's arguments: numbers by value, numeric arrays by shape and float64 bytes.

    The grader keys the reference's answers of a helper (``FunctionCheck.uses``) with it, and the child
    keys the student's calls of that helper the same way. ``None`` if an argument is neither.
    """
    parts: list[Any] = []
    for value in args:
        if isinstance(value, bool | np.bool_):
            parts.append(("b", bool(value)))
            continue
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if array.ndim == 0:
            parts.append(("n", float(array)))
        else:
            parts.append(("a", array.shape, hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()))
    return tuple(parts)


def encode_inputs(inputs: dict[str, dict[str, Any]]) -> bytes:
    """Check inputs as bytes for the child's stdin: a JSON manifest and an ``.npz`` (no pickle).

    ``inputs`` maps check ids to ``{"function": name, "cases": [args, ...]}`` (see
    ``FunctionCheck.phase2_input``), optionally with ``"probe"``, ``"uses"`` (``{helper: [(args, answer),
    ...]}``: the reference's answers that replace the student's ``helper`` for those arguments) and
    ``"substitutes"``/``"substitute_names"`` (source defining helpers that replace the student's during the
    check). An argument is a NumPy array (or anything ``np.asarray`` turns into a numeric array) or a JSON
    value (number, string, bool, None); an answer is a number, an array or a tuple of them.
    """
    from io import BytesIO

    manifest: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    known: dict[int, tuple[Any, str]] = {}  # id -> (object, key): an array passed many times is stored once

    def encode(arg: Any, where: str) -> dict[str, Any]:
        if arg is None or isinstance(arg, bool | int | float | str):
            return {"json": arg}
        if id(arg) in known and known[id(arg)][0] is arg:
            return {"array": known[id(arg)][1]}
        array = np.asarray(arg)
        if array.dtype == object:
            raise TypeError(f"{where}: not an array")
        key = f"a{len(arrays)}"
        arrays[key] = array
        known[id(arg)] = (arg, key)
        return {"array": key}

    for check_id, call in inputs.items():
        cases = [[encode(arg, f"check {check_id}, case {number}, argument {position}")
                  for position, arg in enumerate(args)] for number, args in enumerate(call["cases"])]
        uses = {}
        for helper, answers in (call.get("uses") or {}).items():
            entries = []
            for args, answer in answers:
                kind = "tuple" if isinstance(answer, tuple | list) else "scalar" if np.ndim(answer) == 0 else "array"
                values = list(answer) if kind == "tuple" else [answer]
                entries.append({"args": [encode(a, f"check {check_id}, helper {helper}") for a in args],
                                "values": [encode(np.asarray(v), f"check {check_id}, answer of {helper}")
                                           for v in values], "kind": kind})
            uses[helper] = entries
        manifest[check_id] = {"function": call["function"], "cases": cases, "probe": probe_name(call.get("probe")),
                              "uses": uses, "substitutes": str(call.get("substitutes") or ""),
                              "substitute_names": [str(n) for n in call.get("substitute_names") or []]}
    buffer = BytesIO()
    np.savez(buffer, **arrays)
    head = json.dumps(manifest).encode()
    return struct.pack("<Q", len(head)) + head + struct.pack("<Q", len(buffer.getvalue())) + buffer.getvalue()


def decode_inputs(read: Any) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`encode_inputs`; ``read(n)`` returns the next ``n`` bytes."""
    from io import BytesIO

    def chunk() -> bytes:
        (size,) = struct.unpack("<Q", read(8))
        if size > MAX_INPUTS:
            raise ValueError("check inputs too large")
        data = read(size)
        if len(data) != size:
            raise ValueError("check inputs cut short")
        return data

    manifest = json.loads(chunk())
    with np.load(BytesIO(chunk()), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}

    def decode(encoded: list[dict[str, Any]]) -> tuple:
        return tuple(arrays[a["array"]] if "array" in a else a["json"] for a in encoded)

    return {check_id: {"function": call["function"], "probe": probe_by_name(call.get("probe")),
                       "cases": [decode(case) for case in call["cases"]],
                       "uses": {helper: [(decode(e["args"]), decode(e["values"]), e["kind"]) for e in entries]
                                for helper, entries in (call.get("uses") or {}).items()},
                       "substitutes": call.get("substitutes") or "",
                       "substitute_names": call.get("substitute_names") or []}
            for check_id, call in manifest.items()}


def answer_table(name: str, entries: list[tuple[tuple, tuple, str]], fallback: Any) -> Any:
    """A stand-in for the student's helper ``name``: the reference's answers for the listed arguments.

    ``entries`` are ``(args, values, kind)`` from the grader (``FunctionCheck.uses``); a call with other
    arguments goes to ``fallback``, the student's own helper (so a function that does not call the helper,
    or calls it differently, is graded on its own code). Answers are copies: the caller may modify them.
    """
    import inspect

    table = {call_key(args): (values, kind) for args, values, kind in entries}
    try:
        signature = inspect.signature(fallback) if callable(fallback) else None
    except (TypeError, ValueError):
        signature = None

    def helper(*args: Any, **kwargs: Any) -> Any:
        positional: tuple | None = args
        if kwargs:
            try:
                bound = signature.bind(*args, **kwargs) if signature is not None else None
                positional = bound.args if bound is not None and not bound.kwargs else None
            except TypeError:
                positional = None
        key = call_key(positional) if positional is not None else None
        if key is not None and key in table:
            values, kind = table[key]
            copies = [np.array(v, copy=True) for v in values]
            if kind == "tuple":
                return tuple(c[()] if c.ndim == 0 else c for c in copies)
            return copies[0][()] if kind == "scalar" else copies[0]
        if callable(fallback):
            return fallback(*args, **kwargs)
        raise NameError(f"name '{name}' is not defined")

    helper.__name__ = helper.__qualname__ = name
    return helper


def helpers_for(call: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The replacements of the student's helpers during one check: answer tables, then substitutes."""
    replacements = {name: answer_table(name, entries, namespace.get(name))
                    for name, entries in call.get("uses", {}).items()}
    if call.get("substitutes"):
        defined: dict[str, Any] = {"__name__": "course_kit_substitutes"}
        exec(compile(call["substitutes"], "<reference helpers>", "exec"), defined)  # noqa: S102 (the grader's code)
        replacements.update({name: defined[name] for name in call.get("substitute_names", []) if name in defined})
    return replacements


PROBES_MODULE = "course_utils.probes"


def probe_name(probe: Any) -> str | None:
    """``"course_utils.probes[.sub]:name"`` of a check's probe (``None`` without one); probes travel by name."""
    if probe is None:
        return None
    module = getattr(probe, "__module__", None) or ""
    if not (module == PROBES_MODULE or module.startswith(PROBES_MODULE + ".")) or "." in probe.__qualname__:
        raise TypeError(f"a check's probe must be a top-level function of {PROBES_MODULE} (or a submodule), "
                        f"not {probe!r}")
    return f"{module}:{probe.__qualname__}"


def probe_by_name(name: str | None) -> Any:
    """The probe function named by :func:`probe_name` (only functions of ``course_utils.probes`` and its submodules)."""
    if name is None:
        return None
    module, _, function = str(name).partition(":")
    inside = module == PROBES_MODULE or (module.startswith(PROBES_MODULE + ".") and module.count(".") == 2
                                         and module.rsplit(".", 1)[1].isidentifier())
    if not inside or not function.isidentifier():
        raise ValueError(f"unknown probe {name!r}")
    return getattr(importlib.import_module(module), function)


def _read_exactly(fd: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


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
        if len(self.figures) < MAX_FIGURES and isinstance(png, bytes):
            name = f"figures/cell{cell % 1000:03d}_{len(self.figures):02d}.png"
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
                self._collect_figures(captured.outputs, index)  # under the same alarm as the cell
            except CellTimeout as exc:  # fired between IPython's own handlers, or while saving figures
                error = exc
            except Exception as exc:  # noqa: BLE001 (a figure the student's code broke)
                error = exc
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
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

    def _collect_figures(self, outputs: list[Any], index: int) -> None:
        import base64
        from io import BytesIO

        import matplotlib.pyplot as plt

        for output in outputs:
            if "image/png" in output.data:
                png = output.data["image/png"]
                self._save_figure(png if isinstance(png, bytes) else base64.b64decode(png), index)
        for number in plt.get_fignums():
            buffer = BytesIO()
            plt.figure(number).savefig(buffer, format="png", dpi=60, bbox_inches="tight")
            self._save_figure(buffer.getvalue(), index)

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
        arrays: dict[str, np.ndarray] = {}
        outcomes: dict[str, Any] = {}
        for check_id, call in inputs.items():
            function = self.shell.user_ns.get(call["function"])
            if not callable(function):
                outcomes[check_id] = {"missing": f"function `{call['function']}` is not defined after running "
                                                 f"the notebook (did its cell run without error?)"}
                continue
            namespace = self.shell.user_ns
            try:
                replacements = helpers_for(call, namespace)
            except Exception as exc:  # noqa: BLE001 (the grader's helpers failed here: a grading problem)
                outcomes[check_id] = {"missing": f"the reference helpers of this check failed: {_error_text(exc)}"}
                continue
            saved = {name: namespace[name] for name in replacements if name in namespace}
            namespace.update(replacements)
            try:
                outcomes[check_id] = self._call_cases(check_id, function, call, arrays)
            finally:
                for name in replacements:
                    if name in saved:
                        namespace[name] = saved[name]
                    else:
                        namespace.pop(name, None)
        return arrays, outcomes

    def _call_cases(self, check_id: str, function: Any, call: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """Call ``function`` (through the check's probe, if any) on every case of one check."""
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
        return {"cases": cases}


def main(spec_text: str) -> int:
    import resource  # Unix only: imported where used, so the module imports on Windows

    spec = json.loads(spec_text)
    out = Path(spec["out"])
    notebook = json.loads(Path(spec["notebook"]).read_text(encoding="utf-8"))
    cells = [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
             for i, c in enumerate(notebook.get("cells", [])) if c.get("cell_type") == "code"]
    if spec.get("memory"):  # soft = hard: the submission cannot raise it again
        resource.setrlimit(resource.RLIMIT_AS, (int(spec["memory"]), int(spec["memory"])))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGALRM, _on_alarm)
    install_guard(spec.get("deny", []), os.devnull + ".none", spec.get("own"))
    os.chdir(spec["workdir"])
    runner = Runner(out, float(spec.get("cell_timeout", 600)))
    records = runner.run_notebook(cells, bool(spec.get("stop_on_error", False)))
    summary: dict[str, Any] = {"cells": records, "results": runner.results(), "calls": {}, "figures": runner.figures}
    if spec.get("phase2"):
        os.write(1, PHASE2_MARKER)  # the grader answers on stdin with the check inputs
        inputs = decode_inputs(lambda size: _read_exactly(0, size))
        sys.course_kit_phase = 2  # the exercise's WITHHELD_IN_CALLS kit functions raise from here (withhold.py)
        arrays, summary["calls"] = runner.call_functions(inputs)
        np.savez(out / "calls.npz", **arrays)
    (out / "run.json").write_text(json.dumps(summary, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        status = main(sys.argv[1])
    except SystemExit:  # an exit asked for on purpose keeps its own status
        raise
    except BaseException:  # the parent reads the reason from the tail of stderr
        traceback.print_exc()
        status = 3
    sys.exit(status)
