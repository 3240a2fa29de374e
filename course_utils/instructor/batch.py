"""Run a batch of submissions on an executor: the local pool by default, or any backend (a Dask cluster).

A backend takes ``(job, submission)`` pairs and returns ``concurrent.futures`` futures of grade records
(plain data made by :func:`.worker.grade_task` wherever the submission ran). :func:`run_batch`
submits every submission not already graded, shows a progress bar (done / running / failed), writes each
record to ``out_dir/records/<student>.json`` as it arrives (so that an interrupted batch resumes where it
stopped) and returns the grades in the submissions' order. Only this process writes files; the workers
only return records. Dask backends are in :mod:`.distributed` (an optional dependency).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
from pathlib import Path
from typing import Any

from .checks import CheckResult
from .isolation import SandboxUnavailable
from .records import MAX_RECORD, Grade, GradingJob, Limits, Run, Submission, grade_from_record
from .text import check_json, read_regular, safe_text
from .worker import BatchFolders, grade_task


class Backend:
    """Where submissions are graded. Subclasses implement :meth:`submit`; :meth:`running` is optional."""

    description = "executor"
    slots = 1  # submissions graded at once (for the progress bar and the estimates)

    def submit(self, job: GradingJob, submission: Submission) -> cf.Future:
        raise NotImplementedError

    def running(self, futures: list[cf.Future]) -> int:
        """How many of ``futures`` are being graded now."""
        return sum(f.running() for f in futures)

    def close(self) -> None:
        """Release what the backend started."""


class LocalBackend(Backend):
    """Today's local pool: ``workers`` threads, each running one submission's sandbox at a time."""

    def __init__(self, workers: int, limits: Limits) -> None:
        self.slots = workers
        self.description = f"local pool of {workers} sandboxes"
        self.sandboxed = not limits.unsafe_no_sandbox
        self.folders: BatchFolders | None = None  # made at the first submission (none when all are resumed)
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader")

    def submit(self, job: GradingJob, submission: Submission) -> cf.Future:
        if self.folders is None:
            self.folders = BatchFolders(self.sandboxed)
        return self.pool.submit(grade_task, job, submission, self.folders)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.folders is not None:
            self.folders.close()
            self.folders = None


class ExecutorBackend(Backend):
    """Any ``concurrent.futures.Executor`` (e.g. a process pool): each call makes its own folders."""

    def __init__(self, executor: cf.Executor) -> None:
        self.executor = executor
        self.description = type(executor).__name__
        self.slots = getattr(executor, "_max_workers", 1)

    def submit(self, job: GradingJob, submission: Submission) -> cf.Future:
        return self.executor.submit(grade_task, job, submission)


def as_backend(executor: Any) -> Backend:
    """``executor`` as a :class:`Backend` (a backend is returned as it is)."""
    if isinstance(executor, Backend):
        return executor
    if isinstance(executor, cf.Executor):
        return ExecutorBackend(executor)
    raise TypeError(f"executor must be a Backend or a concurrent.futures.Executor, not {type(executor).__name__}")


def read_record(path: Path) -> dict[str, Any] | None:
    """A saved grade record, or ``None`` if absent, a link, too large or unreadable (then graded again)."""
    try:
        data = read_regular(path, MAX_RECORD)
        if data is None:
            return None
        check_json(data, path.name)
        record = json.loads(data)
        grade_from_record(record)
        return record
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        return None


def record_bytes(record: dict[str, Any]) -> bytes:
    """A grade record as JSON (ASCII: a lone surrogate is escaped); ``ValueError`` over :data:`MAX_RECORD`."""
    data = json.dumps(record).encode("ascii")
    if len(data) > MAX_RECORD:
        raise ValueError(f"its grade record takes {len(data)} bytes; the grader keeps at most {MAX_RECORD}")
    return data


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Save a grade record atomically (an interrupted batch never leaves half a record)."""
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(record_bytes(record))
    os.replace(temporary, path)


class _NoBar:
    """Stands in for the progress bar when it is off."""

    def update(self, count: int) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, description: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="submission", dynamic_ncols=True)


def run_batch(backend: Backend, job: GradingJob, submissions: list[Submission], out_dir: Path,
              resume: bool = False, progress: bool = False) -> list[Grade]:
    """Grade ``submissions`` on ``backend``; return their grades in order (see the module's docstring).

    With ``resume``, a submission whose saved record has the same key (content hash) is not graded
    again. A submission whose grading failed for a reason outside it (a worker lost more often than
    the cluster allows, a cancelled task) is reported as ``crashed`` with the reason and is not saved,
    so that a resumed batch grades it again. :class:`SandboxUnavailable` from a worker stops the batch.
    """
    records_dir = out_dir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    grades: dict[str, Grade] = {}
    for submission in submissions:
        record = read_record(records_dir / f"{submission.student}.json") if resume else None
        if record is not None and record.get("key") == submission.key and record.get("student") == submission.student:
            grades[submission.student] = grade_from_record(record, resumed=True)
    todo = [s for s in submissions if s.student not in grades]
    failed = sum(g.run.status != "ok" for g in grades.values())
    bar = _progress_bar(len(submissions), len(grades), f"{job.exercise} ({backend.description})", progress)
    futures = {backend.submit(job, submission): submission for submission in todo}
    pending = set(futures)
    try:
        while pending:
            done, pending = cf.wait(pending, timeout=2.0, return_when=cf.FIRST_COMPLETED)
            for future in done:
                submission = futures[future]
                try:
                    record = future.result()
                except SandboxUnavailable:
                    raise
                except BaseException as exc:  # noqa: BLE001 (a lost worker or a cancelled task: this one only)
                    grade = _failed(job, submission, f"grading did not finish on the cluster: "
                                                     f"{type(exc).__name__}: {exc}")
                else:
                    grade = _accepted(record, submission, records_dir, job)
                grades[submission.student] = grade
                failed += grade.run.status != "ok"
                bar.update(1)
            if progress:
                bar.set_postfix(running=backend.running(list(pending)), failed=failed, refresh=True)
    finally:
        for future in pending:
            future.cancel()
        bar.close()
    return [grades[s.student] for s in submissions]


def _failed(job: GradingJob, submission: Submission, why: str) -> Grade:
    """The grade of a submission whose grading failed outside it: every check 0 with the reason; not saved."""
    message = safe_text(why)
    grade = Grade(submission.student, [], Run("crashed", 0.0, message=message), submission.file)
    grade.results = [CheckResult(c, 0.0, m, message) for c, m in _check_points(job)]
    return grade


def _accepted(record: Any, submission: Submission, records_dir: Path, job: GradingJob) -> Grade:
    """The grade of a worker's record, saved for ``resume``; a record too large or malformed costs this one only."""
    try:
        grade = grade_from_record(record)
        if grade.student != submission.student:
            raise ValueError(f"the record is of {grade.student!r}, not of {submission.student!r}")
        write_record(records_dir / f"{submission.student}.json", record)
        return grade
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        return _failed(job, submission, f"its grade record was refused: {type(exc).__name__}: {exc}")


def _check_points(job: GradingJob) -> list[tuple[str, float]]:
    """``(check id, points)`` of the job's checks, in their order (loaded here from the job's source)."""
    folders = BatchFolders(sandboxed=False)
    try:
        return [(c.id, c.points) for c in folders.suite(job).checks]
    finally:
        folders.close()
