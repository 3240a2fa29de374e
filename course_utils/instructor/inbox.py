"""The submissions of a batch: files in the inbox folder, each with a unique student id."""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

from .execute import MAX_NOTEBOOK
from .records import GradingJob, Submission


def student_name(path: Path) -> str:
    """A student's id from the submission's file name (its stem, with unsafe characters replaced)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip(".") or "submission"


def student_names(paths: list[Path]) -> dict[Path, str]:
    """Unique student ids for ``paths``: names equal after sanitising get suffixes ``-2``, ``-3``, ...

    The mapping is in ``summary.csv`` (column ``file``); ``grade_folder`` warns about every suffix.
    """
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for path in sorted(paths):
        base = name = student_name(path)
        number = 1
        while name.lower() in taken:  # case-insensitive: feedback pages on case-insensitive file systems
            number += 1
            name = f"{base}-{number}"
        taken.add(name.lower())
        names[path] = name
    return names



def submissions_of(folder: Path, job: GradingJob, transfer: str = "path") -> list[Submission]:
    """The ``*.ipynb`` of ``folder`` as submissions (by ``path`` or by ``bytes``), with unique student ids."""
    if transfer not in ("path", "bytes"):
        raise ValueError(f"transfer must be 'path' or 'bytes', not {transfer!r}")
    paths = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not paths:
        raise FileNotFoundError(f"No submitted notebooks (*.ipynb) in {folder}.")
    names = student_names(paths)
    submissions = []
    for path, name in names.items():
        if name != student_name(path):
            warnings.warn(f"{path.name}: its name collides with another submission's after sanitising; "
                          f"graded as {name!r} (see summary.csv, column file)", stacklevel=3)
        data = path.read_bytes() if path.stat().st_size <= MAX_NOTEBOOK else b""
        key = hashlib.sha256(f"{job.fingerprint}\x00{name}\x00".encode() + data).hexdigest()
        if transfer == "bytes" and len(data):
            submissions.append(Submission(name, path.name, data=data, key=key))
        else:  # too large files go by path: the worker's load_submission gives the reason
            submissions.append(Submission(name, path.name, path=str(path.resolve()), key=key))
    return submissions

