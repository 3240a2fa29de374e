"""The Radboud Faces Database (RaFD): parse its file names, select cameras, pair emotes with neutral faces.

RaFD (Langner et al., 2010) holds photographs of 67 models showing 8 emotions, each taken by 5 cameras at
once and with 3 gaze directions: 8040 JPEGs of 681 x 1024 pixels named
``Rafd{camera}_{model}_{group}_{sex}_{emotion}_{gaze}.jpg``. It is licensed: the kit never ships or downloads
it. With a licence, put the files in ``<course dir>/rafd/`` (``data/course/rafd/`` in the repository) or in
the folder named by ``$COURSE_KIT_RAFD_DIR``. Without one, :func:`load_rafd` uses the kit's synthetic
stand-in (:mod:`course_utils.data.faces`), which has the same file naming.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .errors import DataShapeError, DataUnavailableError
from .loaders import course_dir

RAFD_DIR_ENV = "COURSE_KIT_RAFD_DIR"
"""Environment variable naming the folder with the real RaFD images."""

RAFD_CAMERAS = ("000", "045", "090", "135", "180")
RAFD_EMOTIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
RAFD_GAZES = ("frontal", "left", "right")
RAFD_GROUPS = ("Caucasian", "Moroccan", "Kid")
RAFD_SEXES = ("female", "male")
DEFAULT_CAMERAS = ("045", "090", "135")
"""The seed's choice: the profile cameras 000 and 180 do not show the whole face."""

RAFD_PATTERN = re.compile(
    r"^Rafd(?P<camera>\d{3})_(?P<model>\d{2})_(?P<group>[A-Za-z]+)_(?P<sex>[a-z]+)_"
    r"(?P<emotion>[a-z]+)_(?P<gaze>[a-z]+)\.(?:jpe?g|png)$",
    re.IGNORECASE,
)
COLUMNS = ["path", "camera", "model", "group", "sex", "emotion", "gaze"]

RAFD_HELP = (
    "RaFD (the Radboud Faces Database: 67 models, 8 emotions, 5 cameras, 3 gaze directions; Langner et al., "
    "Cognition and Emotion 24(8), 2010) is licensed for research and is never shipped or downloaded by the kit. "
    "Request it from Radboud University (search for 'Radboud Faces Database'), then put its JPEGs, named like "
    "Rafd090_01_Caucasian_female_angry_frontal.jpg, in {default} or in a folder named by ${env}, or pass that "
    "folder as `path`. Without RaFD, call load_rafd() with no path and no ${env} to get the kit's synthetic "
    "stand-in with the same file naming."
)


def rafd_help() -> str:
    """What RaFD is, how to obtain it and where to put it (the text of every 'RaFD missing' error)."""
    return RAFD_HELP.format(default=course_dir() / "rafd", env=RAFD_DIR_ENV)


def rafd_dir() -> Path:
    """Where the real RaFD is looked for: ``$COURSE_KIT_RAFD_DIR``, else ``<course dir>/rafd``."""
    env = os.environ.get(RAFD_DIR_ENV)
    return Path(env).expanduser() if env else course_dir() / "rafd"


def parse_rafd_name(name: str) -> dict[str, str] | None:
    """Fields of one RaFD file name, or None when the name does not follow RaFD's naming.

    >>> parse_rafd_name("Rafd090_01_Caucasian_female_angry_frontal.jpg")["emotion"]
    'angry'
    """
    match = RAFD_PATTERN.match(Path(name).name)
    if match is None:
        return None
    fields = match.groupdict()
    allowed = {"camera": RAFD_CAMERAS, "group": RAFD_GROUPS, "sex": RAFD_SEXES, "emotion": RAFD_EMOTIONS,
               "gaze": RAFD_GAZES}
    for key, values in allowed.items():
        value = fields[key]
        canonical = {v.lower(): v for v in values}.get(value.lower())
        if canonical is None:
            return None
        fields[key] = canonical
    return fields


def scan_rafd(folder: str | os.PathLike, strict: bool = False) -> pd.DataFrame:
    """One row per RaFD image in ``folder``: path, camera, model, group, sex, emotion, gaze.

    Files that are not images (``.jpg``, ``.jpeg``, ``.png``) are ignored. Image files whose names do not
    follow RaFD's naming are never dropped silently: with ``strict`` they raise, otherwise a warning gives
    their count and the first few names.

    Raises
    ------
    DataUnavailableError
        The folder does not exist (the message says what RaFD is and where to put it).
    DataShapeError
        No RaFD image in the folder, or (``strict``) unparseable image names.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataUnavailableError(f"RaFD folder {folder} does not exist. {rafd_help()}")
    rows, bad = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        fields = parse_rafd_name(path.name)
        if fields is None:
            bad.append(path.name)
        else:
            rows.append({"path": str(path), **fields})
    if bad:
        message = (f"{len(bad)} image file(s) in {folder} do not follow RaFD's naming "
                   f"Rafd{{camera}}_{{model}}_{{group}}_{{sex}}_{{emotion}}_{{gaze}}.jpg and were left out, e.g. "
                   f"{bad[:5]}")
        if strict:
            raise DataShapeError(message)
        warnings.warn(message, stacklevel=2)
    if not rows:
        raise DataShapeError(f"{folder} holds no RaFD images (named like "
                             f"Rafd090_01_Caucasian_female_angry_frontal.jpg). {rafd_help()}")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column, values in (("camera", RAFD_CAMERAS), ("group", RAFD_GROUPS), ("sex", RAFD_SEXES),
                           ("emotion", RAFD_EMOTIONS), ("gaze", RAFD_GAZES)):
        frame[column] = pd.Categorical(frame[column], categories=values)
    frame["model"] = frame["model"].astype(int)
    return frame.sort_values(["model", "camera", "emotion", "gaze"]).reset_index(drop=True)


def select_cameras(frame: pd.DataFrame, cameras: Iterable[str] = DEFAULT_CAMERAS) -> pd.DataFrame:
    """The rows taken by the given cameras (default 045, 090, 135: the face is fully visible).

    Raises
    ------
    ValueError
        An unknown camera, or none of the requested cameras is in ``frame``.
    """
    cameras = [str(c).zfill(3) for c in cameras]
    unknown = sorted(set(cameras) - set(RAFD_CAMERAS))
    if unknown:
        raise ValueError(f"Unknown camera(s) {unknown}; RaFD's cameras are {list(RAFD_CAMERAS)}.")
    selected = frame[frame["camera"].isin(cameras)]
    if selected.empty:
        raise ValueError(f"No image from cameras {cameras}; the data has {sorted(frame['camera'].unique())}.")
    return selected.reset_index(drop=True)


def pair_with_neutral(frame: pd.DataFrame, match: Sequence[str] = ("camera", "gaze")) -> pd.DataFrame:
    """Add ``neutral_path``: the neutral image of the same model, taken with the same ``match`` fields.

    The default pairs each image with the neutral face of the same model, **same camera and same gaze**, so
    that the landmark difference measures the expression alone: head pose relative to the camera and eye
    direction are the same in both photographs. (The seed paired everything with camera 090, frontal gaze,
    which adds the camera angle to every difference from another camera.) A neutral image is paired with
    itself, and its difference is exactly zero, a defined value.

    Rows without a matching neutral image are dropped with a warning that gives their count.

    Raises
    ------
    ValueError
        ``match`` names an unknown column, or no row has a neutral counterpart.
    """
    keys = ["model", *match]
    unknown = sorted(set(match) - set(frame.columns) - {"model"})
    if unknown or "emotion" in match:
        raise ValueError(f"`match` must name columns other than 'emotion'; got {list(match)}.")
    neutral = frame[frame["emotion"] == "neutral"][[*keys, "path"]].rename(columns={"path": "neutral_path"})
    duplicated = neutral.duplicated(keys)
    if duplicated.any():
        raise ValueError(f"Several neutral images share {keys}, e.g. {neutral[duplicated].iloc[0].to_dict()}; "
                         "add a field to `match`.")
    paired = frame.merge(neutral, on=keys, how="left")
    missing = paired["neutral_path"].isna()
    if missing.all():
        raise ValueError(f"No image has a neutral counterpart with the same {keys}.")
    if missing.any():
        warnings.warn(f"{int(missing.sum())} image(s) have no neutral image with the same {keys} and were left "
                      f"out, e.g. {Path(paired.loc[missing, 'path'].iloc[0]).name}.", stacklevel=2)
    return paired[~missing].reset_index(drop=True)


def load_rafd(path: str | os.PathLike | None = None, standin: bool = True, progress: bool = True) -> Bunch:
    """RaFD as a table of files, or the kit's synthetic stand-in when RaFD is not there.

    Parameters
    ----------
    path : path-like, optional
        The folder with the real RaFD JPEGs. Default: ``$COURSE_KIT_RAFD_DIR`` if set, else
        ``<course dir>/rafd`` if it exists, else the stand-in.
    standin : bool
        Allow the stand-in. With ``False``, a missing RaFD raises.
    progress : bool
        Show a progress bar while the stand-in is generated (first use only).

    Returns
    -------
    Bunch
        ``frame`` (DataFrame: path, camera, model, group, sex, emotion, gaze), ``folder``, ``source_kind``
        (``"course file"`` or ``"generated"``), ``source`` (one line) and ``generation_seconds``.

    Raises
    ------
    DataUnavailableError
        ``path`` or ``$COURSE_KIT_RAFD_DIR`` names a folder that does not exist (asking for the real data
        and not finding it is an error, never a silent switch to the stand-in), or ``standin`` is False and
        the default folder is missing.
    """
    explicit = path if path is not None else os.environ.get(RAFD_DIR_ENV)
    folder = Path(explicit).expanduser() if explicit else course_dir() / "rafd"
    if explicit or folder.is_dir() or not standin:
        frame = scan_rafd(folder)
        return Bunch(frame=frame, folder=folder, source_kind="course file", generation_seconds=0.0,
                     source=f"RaFD from {folder.name}/ ({len(frame)} images)")
    from .faces import STANDIN_PARAMS, ensure_rafd_standin

    folder, seconds = ensure_rafd_standin(progress=progress)
    frame = scan_rafd(folder)
    return Bunch(frame=frame, folder=folder, source_kind="generated", generation_seconds=seconds,
                 source=f"generated: synthetic RaFD stand-in (make_rafd_standin, seed={STANDIN_PARAMS['seed']}), "
                        f"{len(frame)} images; RaFD itself not found")


def read_images(paths: Sequence[str | os.PathLike], size: tuple[int, int] = (128, 85)) -> np.ndarray:
    """Read image files as one (n, height, width, 3) uint8 RGB array, resized with area averaging.

    The default (128, 85) is the seed's CNN input: RaFD's 1024 x 681 photographs shrunk 8-fold.

    Raises
    ------
    ValueError
        A file is not a readable image (the message names it).
    """
    import cv2

    h, w = size
    out = np.empty((len(paths), h, w, 3), np.uint8)
    for i, path in enumerate(paths):
        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path} is not a readable image file.")
        out[i] = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return out
