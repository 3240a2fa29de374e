"""Offline data layer: real data from packages on the index, seeded stand-ins, real course files.

Loaders: :func:`load_pca_dataset`, :func:`load_pedestrians`, :func:`load_raccoon`, :func:`load_mnist`,
:func:`load_fire_evacuation`, :func:`load_rafd` (RaFD file table; synthetic stand-in without the licence),
:func:`load_face_landmarks`.
Splits: :func:`split_by_person` (no person in two parts) returns a :class:`Split`, as every splitter of the kit.
Seeded generators: :func:`make_gaussian_mixture_parameters` (parameters of a random Gaussian mixture),
:func:`make_face_landmarks` (posed 3-D facial landmarks) and the stand-ins.
Every loader returns a :class:`sklearn.utils.Bunch` with one convention (``data``, ``target``, ``data_test``,
``target_names``, ``description``, source fields; see :mod:`~course_utils.data.loaders`), and the cache-backed
ones take ``data_home``. Nothing here imports a model: the RaFD stand-in takes a face detector as an argument.
Prefetch everything for offline use with ``python -m course_utils.data download-all``.
"""

from .cache import CACHE_ENV, PackageSource, cache_dir, fetch
from .errors import CorruptDataError, DataError, DataShapeError, DataUnavailableError
from .face_landmarks import load_face_landmarks, make_face_landmarks
from .files import COURSE_DIR_ENV, course_dir
from .loaders import (
    load_fire_evacuation,
    load_mnist,
    load_pca_dataset,
    load_pedestrians,
    load_raccoon,
)
from .rafd import (
    RAFD_DIR_ENV,
    RAFD_EMOTIONS,
    attach_neutral,
    list_images,
    load_rafd,
    rafd_dir,
    rafd_table,
    select_cameras,
)
from .registry import REGISTRY
from .splits import Split, split_by_person
from .synthetic import (
    FIRE_EVACUATION_BOUNDS,
    make_fire_evacuation,
    make_gaussian_mixture_parameters,
    make_pca_dataset,
    make_pedestrian_trajectories,
)

__all__ = [
    "CACHE_ENV",
    "COURSE_DIR_ENV",
    "FIRE_EVACUATION_BOUNDS",
    "RAFD_DIR_ENV",
    "RAFD_EMOTIONS",
    "REGISTRY",
    "CorruptDataError",
    "DataError",
    "DataShapeError",
    "DataUnavailableError",
    "PackageSource",
    "Split",
    "cache_dir",
    "course_dir",
    "fetch",
    "load_face_landmarks",
    "load_fire_evacuation",
    "load_mnist",
    "load_pca_dataset",
    "load_pedestrians",
    "load_raccoon",
    "load_rafd",
    "make_face_landmarks",
    "make_fire_evacuation",
    "make_gaussian_mixture_parameters",
    "make_pca_dataset",
    "make_pedestrian_trajectories",
    "attach_neutral",
    "list_images",
    "rafd_dir",
    "rafd_table",
    "select_cameras",
    "split_by_person",
]
