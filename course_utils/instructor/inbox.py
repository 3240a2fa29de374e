"""The submissions of a batch: regular files in the inbox folder, each with a student id no one else has.

Only regular ``*.ipynb`` files are graded: a symbolic link (an archive unpacked into the inbox keeps
them), a device, a pipe or a folder is refused with its reason, never followed; a file over
:data:`MAX_NOTEBOOK` is graded as invalid with its reason. With a roster (a CSV with a ``student``
column and optionally a ``file`` column, the file's name as ``inbox.csv`` shows it) a file belongs to the
roster's student whose ``file`` it is,
or whose id is its name without ``.ipynb``; a file that matches no one is reported and not graded, and
no file ever gets another student's id. Without a roster the id is the file's sanitised name; names
that collide (``alice.ipynb``, ``Alice.ipynb``) all get a visible suffix (``alice~1``, ``alice~2``):
none keeps the clean id, so a second file cannot push the real student aside. What happened to every
entry of the inbox goes to ``inbox.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .execute import MAX_NOTEBOOK
from .records import GradingJob, Submission
from .text import read_regular, safe_file_name

MAX_ROSTER = 8 * 1024**2
SUFFIX = "~"


@dataclass
class InboxEntry:
    """One entry of the inbox and what became of it (a row of ``inbox.csv``)."""

    file: str  # safe text
    student: str  # "" when not graded
    outcome: str  # "graded", "refused: ...", "unmatched: ...", "missing: ..."


def student_name(path: Path) -> str:
    """A student's id from the submission's file name: its stem, unsafe characters and leading dots made ``_``.

    A hidden file (``.alice.ipynb``, macOS's ``._alice.ipynb``) keeps a visible mark (``_alice``).
    """
    stem = safe_file_name(path.name)
    stem = stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    name = re.sub(r"^\.+", "_", name).rstrip(".")
    return name[:100] or "submission"


def student_names(paths: list[Path]) -> dict[Path, str]:
    """Unique student ids for ``paths``: every name shared after sanitising gets a suffix ``~1``, ``~2``, ...

    Names are compared without case (feedback pages on case-insensitive file systems); no suffixed id
    equals another file's id. The mapping is in ``summary.csv`` and ``inbox.csv`` (column ``file``).
    """
    base = {path: student_name(path) for path in paths}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    taken = {name.lower() for name in base.values()}
    names: dict[Path, str] = {}
    numbers: dict[str, int] = {}
    for path in sorted(paths, key=lambda p: os.fsencode(p.name)):
        name = base[path]
        if counts[name.lower()] > 1:
            number = numbers.get(name.lower(), 0)
            while True:
                number += 1
                candidate = f"{name}{SUFFIX}{number}"
                if candidate.lower() not in taken:
                    break
            numbers[name.lower()] = number
            taken.add(candidate.lower())
            name = candidate
        names[path] = name
    return names


def read_roster(path: Path) -> dict[str, str]:
    """The roster: ``{file name or id: student id}`` from a CSV with a ``student`` column (and optionally ``file``).

    Raises ``ValueError`` naming the file when it has no ``student`` column, an id twice, or an unsafe id.
    """
    if path.stat().st_size > MAX_ROSTER:
        raise ValueError(f"the roster {path} is larger than {MAX_ROSTER // 1024**2} MiB")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"the roster {path} is not a UTF-8 CSV file ({exc}); save it as CSV UTF-8") from exc
    if not rows or "student" not in rows[0]:
        raise ValueError(f"the roster {path} needs a header with a 'student' column (and optionally 'file')")
    mapping: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        student = (row.get("student") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", student):
            raise ValueError(f"the roster {path}, line {number}: the id {student!r} is not letters, digits, "
                             f"'_', '.' and '-' (starting with a letter, digit or '_'); fix the roster")
        keys = [(row.get("file") or "").strip() or f"{student}.ipynb"]
        for key in keys:
            if key in mapping or student in mapping.values():
                raise ValueError(f"the roster {path}, line {number}: {key!r} or {student!r} appears twice")
            mapping[key] = student
    return mapping


def scan(folder: Path) -> tuple[list[Path], list[InboxEntry]]:
    """The regular ``*.ipynb`` files of ``folder`` and the entries refused (links, devices, folders...).

    Nothing is followed: each entry is examined with ``lstat``.
    """
    files, refused = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".ipynb"):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode):
                files.append(Path(entry.path))
                continue
            kind = ("a symbolic link" if stat.S_ISLNK(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode)
                    else "not a regular file")
            refused.append(InboxEntry(safe_file_name(entry.name), "",
                                      f"refused: {kind}; submit the notebook file itself"))
    return sorted(files, key=lambda p: os.fsencode(p.name)), refused


def _assign(files: list[Path], roster: dict[str, str] | None) -> tuple[dict[Path, str], list[InboxEntry]]:
    """Student ids for ``files`` (by the roster when given) and the files that match no one."""
    if roster is None:
        return student_names(files), []
    names, unmatched = {}, []
    for path in files:
        student = roster.get(path.name, roster.get(safe_file_name(path.name)))
        if student is None:
            unmatched.append(InboxEntry(safe_file_name(path.name), "",
                                        "unmatched: no student of the roster has this file; add it to the roster"))
        else:
            names[path] = student
    missing = sorted(set(roster.values()) - set(names.values()))
    unmatched += [InboxEntry("", student, "missing: no file for this student of the roster") for student in missing]
    return names, unmatched


def read_inbox(folder: Path, job: GradingJob, transfer: str = "path",
               roster: Path | None = None) -> tuple[list[Submission], list[InboxEntry]]:
    """The regular ``*.ipynb`` of ``folder`` as submissions (by ``path`` or by ``bytes``), and the inbox report.

    Raises ``FileNotFoundError`` when the folder has no submission at all.
    """
    if transfer not in ("path", "bytes"):
        raise ValueError(f"transfer must be 'path' or 'bytes', not {transfer!r}")
    files, report = scan(folder)
    if not files and not report:
        raise FileNotFoundError(f"No submitted notebooks (*.ipynb) in {folder}.")
    names, unmatched = _assign(files, read_roster(roster) if roster else None)
    submissions = []
    for path, name in names.items():
        try:
            data = read_regular(path, MAX_NOTEBOOK)
        except OSError as exc:
            report.append(InboxEntry(safe_file_name(path.name), "", f"refused: {exc}"))
            continue
        key = hashlib.sha256(f"{job.fingerprint}\x00{name}\x00".encode() + (data or b"")).hexdigest()
        file = safe_file_name(path.name)
        if data is not None and transfer == "bytes":
            submissions.append(Submission(name, file, data=data, key=key))
        else:  # a file over the cap goes by path: the worker reads no more than the cap and gives the reason
            submissions.append(Submission(name, file, path=str(path.resolve()), key=key))
        report.append(InboxEntry(file, name, "graded"))
    return submissions, report + unmatched


def submissions_of(folder: Path, job: GradingJob, transfer: str = "path",
                   roster: Path | None = None) -> list[Submission]:
    """The submissions of :func:`read_inbox` alone (without the report of the entries not graded)."""
    return read_inbox(folder, job, transfer, roster)[0]


def inbox_csv(entries: list[InboxEntry]) -> list[list[str]]:
    """The rows of ``inbox.csv``: file, student, outcome."""
    return [[entry.file, entry.student, entry.outcome] for entry in entries]
