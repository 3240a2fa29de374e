"""What a grading passes around and keeps: the limits, one run, one grade, the job and a submission.

A grade travels as plain JSON data (:func:`grade_record`): a worker returns it, ``records/`` keeps it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import CheckResult
from .text import safe_text

DEFAULT_TIMEOUT = 900.0
DEFAULT_CELL_TIMEOUT = 300.0
DEFAULT_MEMORY = 8 * 1024**3
DEFAULT_PROCESSES = 512
DEFAULT_FILE_SIZE = 1024**3
DEFAULT_TMP_SIZE = 1024**3


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

    @property
    def auto_points(self) -> float:
        """Points of the automatic checks (written answers awaiting review left out)."""
        return round(sum(r.points for r in self.results if not r.pending), 4)

    @property
    def auto_max(self) -> float:
        """The most the automatic checks give."""
        return round(sum(r.max_points for r in self.results if not r.pending), 4)

    @property
    def pending_max(self) -> float:
        """Points of the written answers awaiting review."""
        return round(sum(r.max_points for r in self.results if r.pending), 4)



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




def grade_record(grade: Grade, key: str = "") -> dict[str, Any]:
    """A grade as plain JSON data (figures base64): what a worker sends back and ``records/`` keeps."""
    run = grade.run
    return {"key": key, "student": grade.student, "file": grade.file, "host": grade.host, "worker": grade.worker,
            "wall": grade.wall,
            "results": [[r.check, r.points, r.max_points, r.reason, r.pending, r.description, r.hint, r.revealing]
                        for r in grade.results],
            "run": {"status": run.status, "seconds": run.seconds, "message": run.message, "sandbox": run.sandbox,
                    "complete": run.complete, "cells": run.cells, "results": run.results,
                    "figures": [base64.b64encode(png).decode("ascii") for png in run.figures]}}


def cell_record(record: Any) -> dict[str, Any]:
    """A cell's record (from the child, or a saved grade) checked and made safe; ``ValueError`` if malformed."""
    if not isinstance(record, dict) or not isinstance(record.get("cell"), int) or record.get("status") not in ("ok",
                                                                                                               "error"):
        raise ValueError("a cell record does not have the expected fields")
    seconds = record.get("seconds")
    return {"cell": max(0, min(record["cell"], 10**6)), "status": record["status"],
            "first_line": safe_text(record.get("first_line", ""), 120),
            "error": safe_text(record.get("error", "")), "error_type": safe_text(record.get("error_type", ""), 80),
            "output": safe_text(record.get("output", ""), 2000),
            "seconds": float(seconds) if isinstance(seconds, int | float) else 0.0,
            "retried": record.get("retried") is True}


def recorded_values(values: Any) -> dict[str, Any]:
    """Recorded results (name -> number or text), checked and made safe; at most 2000."""
    if not isinstance(values, dict):
        raise ValueError("recorded results are not a mapping")
    clean: dict[str, Any] = {}
    for key, value in list(values.items())[:2000]:
        if isinstance(key, str) and len(key) <= 200 and safe_text(key, 200) == key and isinstance(
                value, bool | int | float | str):
            clean[key] = safe_text(value, 500) if isinstance(value, str) else value
    return clean


MAX_RECORD = 48 * 1024**2
"""A grade record's JSON (its parts are capped on the way in: figures, cells, recorded values)."""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{safe_text(repr(value), 40)} is not a number")
    return float(value)


def grade_from_record(record: dict[str, Any], resumed: bool = False) -> Grade:
    """The :class:`Grade` of a record made by :func:`grade_record`, checked and its texts made safe.

    A record enters the grader's process from a worker or from ``records/`` (``resume``): each field
    is checked for its type (``ValueError``, ``KeyError`` or ``TypeError`` otherwise) and every text
    passes through :func:`.text.safe_text`, so a report can always be written from it.
    """
    r = record["run"]
    if not isinstance(r["cells"], list) or not isinstance(r["figures"], list):
        raise ValueError("the run's cells or figures are not lists")
    run = Run(safe_text(r["status"], 20), _number(r["seconds"]), cells=[cell_record(c) for c in r["cells"]],
              results=recorded_values(r["results"]), message=safe_text(r["message"], 2000),
              sandbox=safe_text(r["sandbox"], 200), complete=r["complete"] is True,
              figures=[base64.b64decode(f, validate=True) for f in r["figures"] if isinstance(f, str)])
    results = [CheckResult(safe_text(check, 200), _number(points), _number(maximum), safe_text(reason, 2000),
                           bool(rest and rest[0] is True),
                           *(safe_text(text, 2000) for text in rest[1:4]))
               for check, points, maximum, reason, *rest in record["results"]]
    return Grade(safe_text(record["student"], 200), results, run, safe_text(record["file"], 255),
                 safe_text(record.get("host", ""), 200), safe_text(record.get("worker", ""), 200),
                 _number(record.get("wall", 0.0)), resumed)
