"""Read back what a submission's child wrote: all of it is hostile input.

A fixed schema, size caps, figure names checked, files opened without following links; anything that
does not fit makes the run ``crashed`` with the reason, never an error of the grader. Every text is made
safe where it is read (:func:`.text.safe_text`); JSON is checked for depth and size before it is parsed;
the arrays of ``calls.npz`` are checked for size from their headers before they are read, each and in
total, so the grader's memory stays bounded whatever the child wrote.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .records import Run, cell_record, recorded_values
from .text import check_json, safe_text

MAX_RUN_JSON = 16 * 1024**2
MAX_EVENTS_TAIL = 4 * 1024**2
MAX_CALLS = 64 * 1024**2
"""``calls.npz`` as written (compressed or not)."""
MAX_CALL_ENTRIES = 20_000
MAX_ARRAY = 64 * 1024**2
"""One returned array, decompressed (its header's shape times its item size)."""
MAX_ARRAYS = 256 * 1024**2
"""All returned arrays of one submission together, decompressed."""
MAX_FIGURE = 4 * 1024**2
MAX_FIGURES = 24
MAX_FIGURES_TOTAL = 12 * 1024**2
MAX_CELLS = 2000
MAX_DIRECTORY = 10_000
"""Entries of the figures folder looked at."""
MAX_OUTPUT = 256 * 1024**2
"""The child's output folder as a whole (each of its files is capped too, by ``RLIMIT_FSIZE``)."""
MAX_OUTPUT_FILES = 10_000
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
        run.status, run.message = "crashed", safe_text(f"its run report was unreadable ({type(exc).__name__}: {exc})")
        run.cells, run.results, run.calls, run.arrays, run.figures = [], {}, {}, {}, []
    finally:
        os.close(dir_fd)
    return run


def _calls(calls: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(calls, dict):
        raise ValueError("the function calls are not a mapping")
    clean: dict[str, Any] = {}
    for check_id, call in calls.items():
        if check_id not in inputs or not isinstance(call, dict):
            continue
        if "missing" in call:
            clean[check_id] = {"missing": safe_text(call["missing"])}
            continue
        cases = []
        reported = call.get("cases") if isinstance(call.get("cases"), list) else []
        for case in reported[: len(inputs[check_id]["cases"])]:
            if isinstance(case, dict) and isinstance(case.get("n_values"), int) and 0 <= case["n_values"] <= 64:
                cases.append({"n_values": case["n_values"]})
            else:
                cases.append({"error": safe_text(case.get("error", "no outcome reported") if isinstance(case, dict)
                                              else "no outcome reported")})
        clean[check_id] = {"cases": cases}
    return clean


def _read_reports(dir_fd: int, run: Run, inputs: dict[str, Any]) -> None:
    summary_bytes = _open_in(dir_fd, "run.json", MAX_RUN_JSON)
    names: list[str] = []
    if summary_bytes is not None:
        check_json(summary_bytes, "run.json")
        summary = json.loads(summary_bytes)
        if not isinstance(summary, dict) or not isinstance(summary.get("cells"), list):
            raise ValueError("run.json does not have the expected fields")
        run.complete = True
        run.cells = [cell_record(c) for c in summary["cells"][:MAX_CELLS]]
        run.results = recorded_values(summary.get("results", {}))
        run.calls = _calls(summary.get("calls", {}), inputs)
        names = [n for n in summary.get("figures", []) if isinstance(n, str)] if isinstance(
            summary.get("figures"), list) else []
    else:
        events = _open_in(dir_fd, "events.jsonl", MAX_EVENTS_TAIL, tail=True)
        latest: dict[int, dict] = {}
        for line in (events or b"").decode(errors="replace").splitlines():
            try:
                check_json(line, "a line of events.jsonl")
                parsed = json.loads(line)
                record = cell_record(parsed)
                results = recorded_values(parsed.get("results", {}))
            except (ValueError, AttributeError, RecursionError):  # a line cut off by the kill, or forged
                continue
            latest[record["cell"]] = record
            run.results = results  # the latest snapshot
        run.cells = [latest[i] for i in sorted(latest)][:MAX_CELLS]
        try:
            figures_fd = os.open("figures", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            figures_fd = None
        if figures_fd is not None:
            try:
                names = sorted(f"figures/{n}" for n in _first_names(figures_fd, MAX_DIRECTORY))[:MAX_FIGURES]
            finally:
                os.close(figures_fd)
    run.figures = _figures(dir_fd, names)
    if run.calls:
        data = _open_in(dir_fd, "calls.npz", MAX_CALLS)
        if data is not None:
            try:
                run.arrays = read_arrays(data, set(run.calls))
            except (ValueError, OSError, EOFError) as exc:  # a bomb or a broken archive: the values only
                _refuse_values(run, safe_text(f"its returned values were refused: {exc}", 400))


def _refuse_values(run: Run, why: str) -> None:
    """Every returned value of ``run`` marked as refused with ``why`` (the phase-1 results stay)."""
    run.arrays = {}
    for call in run.calls.values():
        if "cases" in call:
            call["cases"] = [{"error": why} for _ in call["cases"]]


def folder_size(folder: Path, max_files: int = MAX_OUTPUT_FILES) -> int:
    """Bytes of the files under ``folder`` (links not followed); more than ``max_files`` entries count as infinite."""
    total, seen = 0, 0
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_files:
                        return 1 << 62
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            continue
    return total


def phase1_ended(out: Path, last_cell: int, stop_on_error: bool = False) -> bool:
    """Whether the child's per-cell log in ``out`` shows the notebook's last code cell run (or, with
    ``stop_on_error``, a cell that raised): what the grader must see before it sends the phase-2 inputs."""
    try:
        dir_fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        events = _open_in(dir_fd, "events.jsonl", MAX_EVENTS_TAIL, tail=True) or b""
    except ValueError:
        return False
    finally:
        os.close(dir_fd)
    for line in reversed(events.splitlines()):
        try:
            check_json(line, "a line of events.jsonl")
            record = cell_record(json.loads(line))
        except (ValueError, RecursionError):
            continue
        if record["cell"] == last_cell or (stop_on_error and record["status"] == "error"):
            return True
    return False


def _first_names(dir_fd: int, count: int) -> list[str]:
    """At most ``count`` names of the folder ``dir_fd`` (a folder of a million files costs no more)."""
    names = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if len(names) >= count:
                break
            names.append(entry.name)
    return names


CALL_KEY = re.compile(r"(.+)__(\d+)__(\d+)")


def read_arrays(data: bytes, checks: set[str], max_array: int = MAX_ARRAY,
                max_total: int = MAX_ARRAYS) -> dict[str, np.ndarray]:
    """The numeric arrays of the ``.npz`` ``data`` whose names are ``<check>__<case>__<value>`` of ``checks``.

    Each array's size is read from its ``.npy`` header before its data: an array over ``max_array``
    bytes, or one that would take the total over ``max_total``, raises ``ValueError`` (the run is then
    unreadable: a compression bomb costs the grader no memory). Only ``b``, ``i``, ``u``, ``f`` dtypes.
    """
    import io
    import zipfile

    if data.count(b"PK\x01\x02") > MAX_CALL_ENTRIES:
        raise ValueError(f"calls.npz has more than {MAX_CALL_ENTRIES} entries")
    arrays: dict[str, np.ndarray] = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist()[:MAX_CALL_ENTRIES]:
            key = info.filename[:-4] if info.filename.endswith(".npy") else ""
            match = CALL_KEY.fullmatch(key)
            if not match or match.group(1) not in checks:
                continue
            with archive.open(info) as handle:
                major, _ = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(handle, max_header_size=10_000)
            if dtype.kind not in "biuf" or dtype.hasobject:
                continue
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize if shape else dtype.itemsize
            if size > max_array or total + size > max_total:
                raise ValueError(f"the returned array {safe_text(key, 80)} takes {size} bytes decompressed; "
                                 f"the grader reads at most {max_array} per array and {max_total} in all")
            total += size
            with archive.open(info) as handle:
                arrays[key] = np.lib.format.read_array(handle, allow_pickle=False, max_header_size=10_000)
    return arrays


def _figures(dir_fd: int, names: list[str]) -> list[bytes]:
    """The PNGs named ``figures/cellNNN_KK.png`` (nothing else), opened without following links."""
    figures: list[bytes] = []
    total = 0
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
            if png and png.startswith(b"\x89PNG\r\n\x1a\n") and total + len(png) <= MAX_FIGURES_TOTAL:
                figures.append(png)
                total += len(png)
    finally:
        os.close(figures_fd)
    return figures

