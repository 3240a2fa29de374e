"""Read back what a submission's child wrote: all of it is hostile input.

A fixed schema, size caps, figure names checked, files opened without following links; anything that
does not fit makes the run ``crashed`` with the reason, never an error of the grader.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .records import Run
from .text import clean_text

MAX_RUN_JSON = 16 * 1024**2
MAX_EVENTS_TAIL = 4 * 1024**2
MAX_CALLS = 512 * 1024**2
MAX_FIGURE = 4 * 1024**2
MAX_FIGURES = 24
FIGURE_NAME = re.compile(r"figures/(cell\d{3}_\d{2}\.png)")


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
        run.status, run.message = "crashed", clean_text(f"its run report was unreadable ({type(exc).__name__}: {exc})")
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
            "first_line": clean_text(record.get("first_line", ""), 120),
            "error": clean_text(record.get("error", "")), "error_type": clean_text(record.get("error_type", ""), 80),
            "output": clean_text(record.get("output", ""), 2000),
            "seconds": float(seconds) if isinstance(seconds, int | float) else 0.0,
            "retried": record.get("retried") is True}


def _recorded(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError("recorded results are not a mapping")
    clean: dict[str, Any] = {}
    for key, value in list(values.items())[:2000]:
        if isinstance(key, str) and len(key) <= 200 and isinstance(value, bool | int | float | str):
            clean[key] = clean_text(value, 500) if isinstance(value, str) else value
    return clean


def _calls(calls: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(calls, dict):
        raise ValueError("the function calls are not a mapping")
    clean: dict[str, Any] = {}
    for check_id, call in calls.items():
        if check_id not in inputs or not isinstance(call, dict):
            continue
        if "missing" in call:
            clean[check_id] = {"missing": clean_text(call["missing"])}
            continue
        cases = []
        reported = call.get("cases") if isinstance(call.get("cases"), list) else []
        for case in reported[: len(inputs[check_id]["cases"])]:
            if isinstance(case, dict) and isinstance(case.get("n_values"), int) and 0 <= case["n_values"] <= 64:
                cases.append({"n_values": case["n_values"]})
            else:
                cases.append({"error": clean_text(case.get("error", "no outcome reported") if isinstance(case, dict)
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

