"""The Radboud Faces Database (RaFD): list its images, tabulate parsed names, select cameras, attach neutral partners.

RaFD (Langner et al., 2010) holds photographs of 67 models showing 8 emotions, each taken by 5 cameras at
once and with 3 gaze directions: 8040 JPEGs of 681 x 1024 pixels named
``Rafd{camera}_{model}_{group}_{sex}_{emotion}_{gaze}.jpg``. It is licensed: the kit never ships or downloads
it. With a licence, put the files in ``<course dir>/rafd/`` (``data/course/rafd/`` in the repository) or in
the folder named by ``$COURSE_KIT_RAFD_DIR``. Without one, :func:`load_rafd` uses the kit's synthetic
stand-in (:mod:`course_utils.data.faces`), which has the same file naming.

What is public here is the bookkeeping: listing a folder's images (:func:`load_rafd`), turning the fields that a
file-name parser returns into a checked table (:func:`rafd_table`), keeping cameras (:func:`select_cameras`) and
attaching neutral partners found by a pairing rule (:func:`attach_neutral`). Reading a name and finding the
neutral partner are notebook 05's exercises: the student's ``parse_rafd_name`` and ``neutral_partner`` are
passed in.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .errors import DataShapeError, DataUnavailableError
from .files import checked_course_dir, course_dir

if TYPE_CHECKING:
    from .faces import Detector

RAFD_DIR_ENV = "COURSE_KIT_RAFD_DIR"
"""Environment variable naming the folder with the real RaFD images."""

RAFD_CAMERAS = ("000", "045", "090", "135", "180")
RAFD_EMOTIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
RAFD_GAZES = ("frontal", "left", "right")
RAFD_GROUPS = ("Caucasian", "Moroccan", "Kid")
RAFD_SEXES = ("female", "male")
DEFAULT_CAMERAS = ("045", "090", "135")
"""The seed's choice: the profile cameras 000 and 180 do not show the whole face."""

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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_images(folder: str | os.PathLike) -> list[str]:
    """Sorted paths of the image files (``.jpg``, ``.jpeg``, ``.png``) in ``folder`` (not recursive).

    Raises
    ------
    DataUnavailableError
        The folder does not exist (the message says what RaFD is and where to put it).
    DataShapeError
        The folder holds no image file.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataUnavailableError(f"RaFD folder {folder} does not exist. {rafd_help()}")
    paths = sorted(str(path) for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataShapeError(f"{folder} holds no image files (.jpg, .jpeg, .png). {rafd_help()}")
    return paths


def rafd_table(paths: Sequence[str | os.PathLike], parse: Callable[[str], Mapping[str, object] | None],
               folder: str | os.PathLike | None = None, strict: bool = False,
               require_emotions: Sequence[str] = RAFD_EMOTIONS) -> pd.DataFrame:
    """One row per RaFD image: path plus the fields ``parse(file name)`` returns (camera, model, group, sex,
    emotion, gaze), with RaFD's categories as column dtypes, sorted by model, camera, emotion, gaze.

    ``parse`` returns None for a name that does not follow RaFD's naming; such files are never dropped
    silently: with ``strict`` they raise, otherwise a warning gives their count and the first few names.

    Raises
    ------
    DataShapeError
        No name parses; ``parse`` returns something else than a mapping with the six fields or values outside
        RaFD's categories; (``strict``) unparseable names; or an emotion of ``require_emotions`` has no image
        (the notebook classifies all eight). Each message names ``folder``.
    """
    where = Path(folder) if folder is not None else (Path(paths[0]).parent if len(paths) else Path("."))
    rows, bad = [], []
    for path in paths:
        name = Path(path).name
        fields = parse(name)
        if fields is None:
            bad.append(name)
            continue
        if not isinstance(fields, Mapping) or set(COLUMNS[1:]) - set(fields):
            raise DataShapeError(f"parse({name!r}) returned {fields!r}; expected a dict with the fields "
                                 f"{COLUMNS[1:]} (or None for a name that is not RaFD's).")
        rows.append({"path": str(path), **{key: fields[key] for key in COLUMNS[1:]}})
    if bad:
        message = (f"{len(bad)} image file(s) in {where} do not follow RaFD's naming "
                   f"Rafd{{camera}}_{{model}}_{{group}}_{{sex}}_{{emotion}}_{{gaze}}.jpg and were left out, e.g. "
                   f"{bad[:5]}")
        if strict:
            raise DataShapeError(message)
        warnings.warn(message, stacklevel=2)
    if not rows:
        raise DataShapeError(f"No file name in {where} parses as RaFD's (named like "
                             f"Rafd090_01_Caucasian_female_angry_frontal.jpg). {rafd_help()}")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column, values in (("camera", RAFD_CAMERAS), ("group", RAFD_GROUPS), ("sex", RAFD_SEXES),
                           ("emotion", RAFD_EMOTIONS), ("gaze", RAFD_GAZES)):
        outside = sorted(set(frame[column].astype(str)) - set(values))
        if outside:
            raise DataShapeError(f"parse returned {column} values {outside[:5]} for files in {where}; RaFD's are "
                                 f"{list(values)}.")
        frame[column] = pd.Categorical(frame[column].astype(str), categories=values)
    frame["model"] = frame["model"].astype(int)
    missing = [emotion for emotion in require_emotions if not (frame["emotion"] == emotion).any()]
    if missing:
        raise DataShapeError(
            f"The RaFD images in {where} show no {', no '.join(missing)} face: {len(frame)} images, emotions "
            f"{sorted(set(frame['emotion'].astype(str)))}. Notebook 05 classifies all eight RaFD emotions and "
            f"pairs every image with a neutral one: copy the missing images into {where} (RaFD has "
            f"Rafd*_{{model}}_*_{{emotion}}_*.jpg for every model and emotion), or point RAFD_DIR at the complete "
            f"folder.")
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


def attach_neutral(frame: pd.DataFrame, partner: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """``frame`` with a column ``neutral_path``, from ``partner[i]``: the row position of row i's neutral image
    (as notebook 05's ``neutral_partner`` returns it), or -1 when row i has none.

    Rows without a partner are dropped with a warning that gives their count and an example.

    Raises
    ------
    ValueError
        ``partner`` has the wrong length, is not integer, points outside the frame or at a row that is not
        neutral; or no row has a partner.
    """
    partner = np.asarray(partner)
    if partner.shape != (len(frame),) or not np.issubdtype(partner.dtype, np.integer):
        raise ValueError(f"partner must be one integer row position per row of frame ({len(frame)}); got "
                         f"shape {partner.shape}, dtype {partner.dtype}.")
    if np.any((partner < -1) | (partner >= len(frame))):
        raise ValueError(f"partner holds positions outside 0..{len(frame) - 1} (and -1 for 'none'), e.g. "
                         f"{partner[(partner < -1) | (partner >= len(frame))][:3].tolist()}.")
    has = partner >= 0
    emotions = frame["emotion"].astype(str).to_numpy()
    not_neutral = has & (emotions[np.where(has, partner, 0)] != "neutral")
    if np.any(not_neutral):
        row = int(np.flatnonzero(not_neutral)[0])
        raise ValueError(f"partner[{row}] = {int(partner[row])} points at a {emotions[partner[row]]} image, not a "
                         f"neutral one.")
    if not has.any():
        raise ValueError(f"No image has a neutral partner (all {len(frame)} entries of partner are -1): does the "
                         f"data hold neutral images of the same models, cameras and gazes?")
    if not has.all():
        warnings.warn(f"{int((~has).sum())} image(s) have no neutral partner and were left out, e.g. "
                      f"{Path(frame['path'].iloc[int(np.flatnonzero(~has)[0])]).name}.", stacklevel=2)
    paths = frame["path"].to_numpy()
    out = frame.assign(neutral_path=np.where(has, paths[np.where(has, partner, 0)], None))
    return out[has].reset_index(drop=True)


def load_rafd(path: str | os.PathLike | None = None, standin: bool = True, progress: bool = True,
              detect: Detector | None = None, data_home: str | os.PathLike | None = None) -> Bunch:
    """The image files of RaFD, or of the kit's synthetic stand-in when RaFD is not there.

    Parameters
    ----------
    path : path-like, optional
        The folder with the real RaFD JPEGs. Default: ``$COURSE_KIT_RAFD_DIR`` if set, else
        ``<course dir>/rafd`` if it exists, else the stand-in.
    standin : bool
        Allow the stand-in. With ``False``, a missing RaFD raises.
    progress : bool
        Show a progress bar while the stand-in is generated (first use only).
    detect : callable, optional
        A face detector (:data:`~course_utils.data.faces.Detector`, e.g.
        :func:`course_utils.landmarks.detect_landmarks`); needed only to generate the stand-in (first use).
    data_home : path-like, optional
        The cache folder that holds the stand-in (default: :func:`~course_utils.data.cache.cache_dir`).

    Returns
    -------
    Bunch
        ``filenames`` (sorted list of the folder's image files, as scikit-learn's ``load_files``; reading
        their names is notebook 05's exercise, see :func:`rafd_table`), ``folder``, ``source_kind``
        (``"course file"`` or ``"generated"``), ``source`` (one line) and ``generation_seconds``.

    Raises
    ------
    DataUnavailableError
        ``path`` or ``$COURSE_KIT_RAFD_DIR`` names a folder that does not exist (asking for the real data
        and not finding it is an error, never a silent switch to the stand-in), or ``standin`` is False and
        the default folder is missing, or the stand-in must be generated and ``detect`` is ``None``.
    DataShapeError
        The folder holds no image file.
    """
    explicit = path if path is not None else os.environ.get(RAFD_DIR_ENV)
    folder = Path(explicit).expanduser() if explicit else checked_course_dir() / "rafd"
    if explicit or folder.is_dir() or not standin:
        paths = list_images(folder)
        return Bunch(filenames=paths, folder=folder, source_kind="course file", generation_seconds=0.0,
                     source=f"RaFD from {folder}/ ({len(paths)} image files)")
    from .faces import STANDIN_PARAMS, ensure_rafd_standin

    folder, seconds = ensure_rafd_standin(detect, progress=progress, data_home=data_home)
    paths = list_images(folder)
    return Bunch(filenames=paths, folder=folder, source_kind="generated", generation_seconds=seconds,
                 source=f"generated: synthetic RaFD stand-in (make_rafd_standin, seed={STANDIN_PARAMS['seed']}), "
                        f"{len(paths)} images; RaFD itself not found")


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
