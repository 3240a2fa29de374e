"""What a grading passes around and keeps: the limits, one run, one grade, the job and a submission.

A grade travels as plain JSON data (:func:`grade_record`): a worker returns it, ``records/`` keeps it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .checks import CheckResult

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


def grade_from_record(record: dict[str, Any], resumed: bool = False) -> Grade:
    """The :class:`Grade` of a record made by :func:`grade_record`."""
    r = record["run"]
    run = Run(r["status"], r["seconds"], cells=r["cells"], results=r["results"], message=r["message"],
              sandbox=r["sandbox"], complete=r["complete"], figures=[base64.b64decode(f) for f in r["figures"]])
    results = [CheckResult(check, points, maximum, reason, bool(rest and rest[0]),
                           *(str(text) for text in rest[1:4]))
               for check, points, maximum, reason, *rest in record["results"]]
    return Grade(record["student"], results, run, record["file"], record.get("host", ""), record.get("worker", ""),
                 record.get("wall", 0.0), resumed)


