"""Grade one submission wherever a worker runs: the local pool, a process pool, a Dask worker.

:func:`grade_task` is the unit of a batch (a grade record back as plain data); :func:`grade_submission`
is the same for one file on this machine (a :class:`~.records.Grade` back).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..report import results_from_notebook
from . import isolation
from .checks import CheckResult, CheckSuite, load_checks, written_answer_ids, written_answer_results
from .execute import MAX_NOTEBOOK, run_notebook, sandbox_problem
from .inbox import student_name
from .isolation import SandboxUnavailable
from .records import Grade, GradingJob, Limits, Run, Submission, grade_record
from .scoring import score
from .text import read_regular, safe_file_name, safe_text
from .withhold import withheld_of


class BatchFolders:
    """A private scratch folder and (sandboxed) the read-only view of a batch, for one grading process.

    Made once per process (the local pool, each Dask worker) and deleted by :meth:`close`.
    """

    def __init__(self, sandboxed: bool) -> None:
        isolation.clean_leftovers()  # what a grader that died on this host left behind
        self.scratch, self._lock_fd = isolation.owned_folder("course-kit-batch-")
        self.sandboxed = sandboxed
        self._views: dict[tuple, isolation.Shared] = {}
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

    def view(self, suite: CheckSuite) -> isolation.Shared | None:
        """The read-only view of ``suite``'s exercise (``None`` unsandboxed): its kit functions withheld."""
        if not self.sandboxed:
            return None
        key = (suite.exercise, *withheld_of(suite.module))
        with self._lock:
            if key not in self._views:
                self._views[key] = isolation.shared_for_batch(self.scratch / f"release-{len(self._views)}",
                                                              *key[1:], exercise=suite.exercise)
            return self._views[key]

    def submission_path(self, submission: Submission) -> Path:
        """The submitted notebook as a private file here, read once and never through a link.

        A submission sent by path is read without following a link (``OSError`` naming it otherwise);
        one over :data:`MAX_NOTEBOOK` stays where it is, for :func:`.execute.load_submission` to refuse.
        """
        data = submission.data
        if data is None:
            data = read_regular(submission.path or "", MAX_NOTEBOOK)
            if data is None:
                return Path(submission.path or "")
        folder = self.scratch / f"sub-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        path = folder / (safe_file_name(Path(submission.file).name) or "submission.ipynb")
        path.write_bytes(data)
        return path

    def close(self) -> None:
        """Delete the folder (and release its lock)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


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
        try:
            path = folders.submission_path(submission)
        except OSError as exc:  # a link or a device put in the submission's place: refused, never followed
            run = Run("invalid", 0.0, message=safe_text(f"{exc}; submit the notebook file itself"))
            path = Path(os.devnull)
        else:
            env = dict(os.environ, COURSE_KIT_PROFILE=job.profile)
            run = run_notebook(path, [*map(Path, job.deny), folders.scratch], job.limits, job.inputs, env=env,
                               scratch=folders.scratch, shared=folders.view(suite))
        results = score(suite, run, job.expected, job.reference) + written_results(job.written, path, run)
    except Exception as exc:  # noqa: BLE001 (one submission must never stop the batch)
        run = Run("crashed", 0.0, message=safe_text(f"grading failed: {type(exc).__name__}: {exc}"))
        results = [CheckResult(c.id, 0.0, c.points, run.message) for c in suite.checks]
    grade = Grade(submission.student, results, run, submission.file, host, worker,
                  round(time.perf_counter() - start, 2))
    return grade_record(grade, submission.key)


def written_results(written: Path | list[tuple[str, float]], path: Path, run: Run,
                    points: dict[str, float] | None = None) -> list[CheckResult]:
    """The pending written answers of the submission at ``path``, their quoted text made safe.

    ``points``: the grading module's ``WRITTEN`` (refused when the reference notebook disagrees).

    A submission the grader refused to run (``invalid``: a link, too large, too deep) is not read again:
    its answers count as missing.
    """
    if run.status == "invalid":
        path = Path(os.devnull + ".none")
    return [CheckResult(r.check, r.points, r.max_points, safe_text(r.reason, 2000), r.pending)
            for r in written_answer_results(written, path, max_bytes=MAX_NOTEBOOK, written=points)]


@functools.lru_cache(maxsize=2)
def _process_folders(sandboxed: bool) -> BatchFolders:
    """This process's folders, when a foreign executor (e.g. a process pool) runs :func:`grade_task`."""
    import atexit

    folders = BatchFolders(sandboxed)
    atexit.register(folders.close)
    return folders



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
    cases = suite.cases(seed)
    expected = {check.id: check.expected(cases[check.id]) for check in suite.function_checks}  # with case weights
    inputs = {check.id: check.phase2_input(cases[check.id]) for check in suite.function_checks}
    return suite, reference_notebook, reference, expected, inputs


@functools.lru_cache(maxsize=8)
def _process_view(exercise: str = "", withheld: tuple[str, ...] = (), in_calls: tuple[str, ...] = ()
                  ) -> isolation.Shared:
    """The released package (``exercise``'s kit functions withheld) and data for the sandboxes of this process."""
    import atexit

    folder, lock_fd = isolation.owned_folder("course-kit-worker-")
    atexit.register(os.close, lock_fd)
    atexit.register(shutil.rmtree, folder, True)
    return isolation.shared_for_batch(folder / "release", withheld, in_calls, exercise)


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
            shared = _process_view(suite.exercise, *withheld_of(suite.module))
        env = dict(os.environ, COURSE_KIT_PROFILE=exercise.profile)
        run = run_notebook(path, list(exercise.deny), exercise.limits, inputs, env=env, scratch=scratch, shared=shared)
        written = written_results(reference_notebook, path, run, suite.written)
        return Grade(student, score(suite, run, expected, reference) + written, run, safe_file_name(path.name))
    except Exception as exc:  # noqa: BLE001 (one submission must never stop the batch)
        run = Run("crashed", 0.0, message=safe_text(f"grading failed: {type(exc).__name__}: {exc}"))
        return Grade(student, [CheckResult(c.id, 0.0, c.points, run.message) for c in suite.checks], run,
                     safe_file_name(path.name))


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

