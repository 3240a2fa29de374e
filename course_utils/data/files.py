"""Where the real course files are and how the loaders read them: the course folder, explicit paths, ``.npz``.

Public helpers of the data layer, shared by :mod:`~course_utils.data.loaders`,
:mod:`~course_utils.data.face_landmarks` and :mod:`~course_utils.data.rafd`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DataShapeError, DataUnavailableError

COURSE_DIR_ENV = "COURSE_KIT_COURSE_DIR"
"""Environment variable naming the folder that holds the real course files."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


def course_dir() -> Path:
    """Return the folder for real course files.

    ``$COURSE_KIT_COURSE_DIR`` if set; else ``data/course`` under the working directory or its parent (a
    notebook runs in ``notebooks/``, a command in the repository root), the first that exists; else
    ``./data/course`` (which may not exist). Never the package's own location, so that a non-editable
    install (``pip install .``, Colab) finds the files next to the notebooks.
    """
    env = os.environ.get(COURSE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cwd = Path.cwd()
    candidates = [cwd / "data" / "course", cwd.parent / "data" / "course"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def checked_course_dir() -> Path:
    """:func:`course_dir`, where the loaders look for course files: a ``$COURSE_KIT_COURSE_DIR`` that names no
    folder is a :class:`DataUnavailableError` (naming the variable and the folder), never a silent switch to
    the kit's stand-ins."""
    folder = course_dir()
    env = os.environ.get(COURSE_DIR_ENV)
    if env and not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataUnavailableError(
            f"{COURSE_DIR_ENV} is set to {env!r}, which {state}. Set {COURSE_DIR_ENV} to the folder that holds "
            f"the course files, or unset it (unset {COURSE_DIR_ENV}) to use data/course/ or, where a file is "
            "missing there, the kit's stand-in."
        )
    return folder


def display_path(path: Path) -> str:
    """A path relative to the repository where possible, so that printed sources match across machines."""
    try:
        return str(path.resolve().relative_to(_REPO_ROOT))
    except ValueError:
        return str(path)


def course_file(path: str | os.PathLike | None, filename: str) -> Path | None:
    """Resolve an explicit ``path`` (which must exist) or the course folder's ``filename`` (which may not)."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataUnavailableError(
                f"{path} does not exist or is not a file. Pass the path of {filename}, or leave `path` "
                f"out to use {course_dir() / filename} if present, else the kit's own source."
            )
        return path
    candidate = checked_course_dir() / filename
    return candidate if candidate.is_file() else None


def read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of the ``.npz`` file ``path``; a truncated or corrupt archive is a :class:`DataShapeError`.

    ``what`` says what the file should hold, for the error message.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataShapeError(f"{path} is not a readable .npz archive ({type(exc).__name__}: {exc}): truncated, "
                             f"corrupt or another format; expected {what}. Copy the file again.") from exc
    if isinstance(loaded, np.ndarray):
        raise DataShapeError(f"{path} is a single .npy array, not an .npz archive; expected {what}.")
    try:
        with loaded as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataShapeError(f"{path} is not a readable .npz archive ({type(exc).__name__}: {exc}): truncated, "
                             f"corrupt or another format; expected {what}. Copy the file again.") from exc
