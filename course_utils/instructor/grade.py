"""Grade a folder of submitted notebooks for one exercise: parallel, sandboxed, per-check partial credit.

Each submission runs in its own OS sandbox (:mod:`.isolation`: bubblewrap with an allow-list, new
namespaces, an unprivileged uid, limits per submission) running the child :mod:`.sandbox`: the notebook's
cells with per-cell and per-call alarms, then the student's functions on the hidden inputs, which reach
it on stdin only at phase 2 (JSON and ``.npz``; the expected values never leave this process). A hard
wall-clock limit kills the whole submission. Everything the child writes is hostile input: a fixed
schema, size caps, figure names checked, files opened without following links. A thread pool runs as
many sandboxes at once as the machine has cores; one broken, hung or hostile submission costs only its
own checks, and the batch always finishes. Without bubblewrap the grader refuses to grade unless told
``unsafe_no_sandbox`` (then: a child process, ``unshare -rn`` where possible, the audit hook).

Output in ``out_dir``: ``grades.csv`` (student, check, points, max, reason), ``summary.csv`` (student,
points, max, seconds, status, ..., sandbox, file) and ``feedback/<student>.html`` with the failing checks'
reasons, the cells that raised, and the student's own figures embedded.

This module is the batch's entry point (:func:`grade_folder`); the work is done by one module per concern:
:mod:`.inbox` (the submissions and their ids), :mod:`.execute` (running one submission), :mod:`.output`
(reading what it wrote), :mod:`.scoring` (the checks), :mod:`.worker` (one submission on any worker),
:mod:`.batch` (a batch on a backend) and :mod:`.reports` (the files written). Every name that was public
here stays importable from here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .batch import LocalBackend, as_backend, run_batch
from .checks import CheckResult, CheckSuite, FunctionCheck, load_checks
from .execute import (
    MAX_NOTEBOOK,
    STDERR_TAIL,
    THREAD_VARIABLES,
    UNSAFE_LABEL,
    cpu_count,
    load_submission,
    network_namespace_available,
    run_notebook,
    sandbox_problem,
)
from .inbox import InboxEntry, inbox_csv, read_inbox, read_roster, student_name, student_names, submissions_of
from .isolation import INSTALL_HINT, SandboxUnavailable, bwrap_problem
from .output import FIGURE_NAME, MAX_CALLS, MAX_EVENTS_TAIL, MAX_FIGURE, MAX_FIGURES, MAX_RUN_JSON
from .records import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_FILE_SIZE,
    DEFAULT_MEMORY,
    DEFAULT_PROCESSES,
    DEFAULT_TIMEOUT,
    DEFAULT_TMP_SIZE,
    Grade,
    GradingJob,
    Limits,
    Run,
    Submission,
    grade_from_record,
    grade_record,
)
from .reports import csv_bytes, feedback_html, grades_table, write_atomically, write_reports
from .scoring import score
from .text import MAX_REASON, safe_text
from .worker import BatchFolders, Exercise, grade_submission, grade_task, grading_job, where

_clean = safe_text  # the former private name
clean_text = safe_text

__all__ = [
    "DEFAULT_CELL_TIMEOUT", "DEFAULT_FILE_SIZE", "DEFAULT_MEMORY", "DEFAULT_PROCESSES", "DEFAULT_TIMEOUT",
    "DEFAULT_TMP_SIZE", "FIGURE_NAME", "INSTALL_HINT", "MAX_CALLS", "MAX_EVENTS_TAIL", "MAX_FIGURE",
    "MAX_FIGURES", "MAX_NOTEBOOK", "MAX_REASON", "MAX_RUN_JSON", "STDERR_TAIL", "THREAD_VARIABLES",
    "UNSAFE_LABEL", "BatchFolders", "bwrap_problem", "CheckResult", "CheckSuite", "clean_text", "cpu_count",
    "Exercise", "feedback_html", "FunctionCheck", "Grade", "grade_folder", "grade_from_record", "grade_record",
    "grade_submission", "grade_task", "grades_table", "grading_job", "GradingJob", "InboxEntry", "Limits",
    "load_checks", "load_submission", "network_namespace_available", "read_inbox", "read_roster", "Run",
    "run_notebook", "safe_text", "sandbox_problem", "SandboxUnavailable", "score", "student_name",
    "student_names", "Submission", "submissions_of", "where", "write_atomically", "write_reports",
]


def grade_folder(submissions: Path, checks: Path, out_dir: Path, reference_notebook: Path | None = None,
                 workers: int | None = None, limits: Limits | None = None, seed: int = 0,
                 profile: str = "small", deny: list[Path] | None = None, executor: Any = None,
                 resume: bool = False, transfer: str = "path", progress: bool = False,
                 withhold_expected: bool = False, roster: Path | None = None) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions`` with the checks in ``checks``; write the reports.

    Parameters
    ----------
    submissions : Path
        Folder of submitted notebooks, one per student, any file names.
    checks : Path
        The exercise's ``grading/NN_topic.py``.
    out_dir : Path
        Where ``grades.csv``, ``summary.csv``, ``feedback/`` and ``records/`` (one grade record per
        student, for ``resume``) go.
    reference_notebook : Path, optional
        The executed instructor notebook whose recorded results are the reference (default:
        ``notebooks/<EXERCISE>.ipynb`` next to the checks' folder).
    workers : int, optional
        Submissions run at once by the default local pool (default: the machine's cores).
    seed : int
        Seed of the hidden inputs (the same seed grades every student on the same inputs).
    profile : str
        ``COURSE_KIT_PROFILE`` for the runs (``small`` keeps training notebooks short).
    deny : list of Path, optional
        Extra paths a submission may not read (the checks' folder, the reference notebooks' folder,
        the submissions folder and ``out_dir`` are always denied).
    executor : optional
        Where the submissions run: ``None`` (a local thread pool of ``workers`` sandboxes), a
        :class:`~course_utils.instructor.batch.Backend` (e.g. a Dask cluster, see
        :mod:`.distributed`), or any ``concurrent.futures.Executor``.
    resume : bool
        Skip the submissions whose record in ``out_dir/records`` has the same content hash (same file,
        checks, reference, limits, seed and profile).
    transfer : str
        ``"path"`` (workers read the submissions folder: a shared file system) or ``"bytes"``.
    progress : bool
        Show a progress bar (done / running / failed) on stderr.
    withhold_expected : bool
        Leave the expected figures out of the feedback pages (``grades.csv`` keeps them).
    roster : Path, optional
        A CSV with a ``student`` column (and optionally ``file``): each file is graded as the student
        whose file it is (``<student>.ipynb`` without a ``file`` column); files that match no one, and
        students without a file, are listed in ``out_dir/inbox.csv`` and not graded.

    Only regular files are graded: links, devices and folders are refused (``inbox.csv`` says why).
    """
    limits = limits or Limits()
    problem = sandbox_problem(limits)
    if problem:
        raise SandboxUnavailable(problem)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = grading_job(checks, reference_notebook, limits, seed, profile,
                      [submissions.resolve(), out_dir.resolve(), *(deny or [])])
    subs, inbox = read_inbox(submissions, job, transfer, roster)
    write_atomically(out_dir / "inbox.csv", csv_bytes(["file", "student", "outcome"], inbox_csv(inbox)))
    for entry in inbox:
        if entry.outcome != "graded":
            warnings.warn(f"{entry.file or entry.student}: {entry.outcome} (see inbox.csv)", stacklevel=2)
        elif "~" in entry.student:
            warnings.warn(f"{entry.file}: its name collides with another submission's after sanitising; graded "
                          f"as {entry.student!r} (see summary.csv, column file)", stacklevel=2)
    backend = LocalBackend(workers or cpu_count(), limits) if executor is None else as_backend(executor)
    try:
        grades = run_batch(backend, job, subs, out_dir, resume=resume, progress=progress)
    finally:
        if executor is None:
            backend.close()
    write_reports(grades, load_checks(checks), out_dir, withhold_expected)
    return grades

