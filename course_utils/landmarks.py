"""Face landmarks with MediaPipe's Face Landmarker (Tasks API), a content-keyed disk cache, delta features.

:class:`FaceLandmarker` wraps ``mediapipe.tasks.python.vision.FaceLandmarker`` (478 landmarks: the 468-point
face mesh plus 10 iris points; optionally 52 blendshape scores). The model file comes from the data layer
(``REGISTRY["face_landmarker"]``, sha256-verified). Use it as a context manager, so MediaPipe's graph is
closed before the interpreter exits.

:func:`detect_landmarks` detects one image (no cache): it is the ``detect`` argument the data layer takes to
make the RaFD stand-in, which keeps MediaPipe out of :mod:`course_utils.data`.
:func:`extract_landmarks` runs the detector over many images with a progress bar; every result goes into one
cache (:func:`landmark_cache`, a :class:`~course_utils.data.cache.ContentCache`) keyed by the sha256 of the
image's bytes, in a folder per model and options, so a second run reads the cache. The landmark index tables
(eye corners, ...) live in :mod:`course_utils.data.landmark_index`.
An image without a detected face is recorded as *missing*: :class:`LandmarkTable` keeps a ``found`` mask and
returns landmarks only for images that have them; asking for a missing one raises
:class:`MissingLandmarksError`. Nothing is ever filled with zeros or NaN.

:func:`check_landmark_pairs` validates (emote, neutral) landmark pairs for the delta features (the displacement
of every landmark from the same person's neutral face, in inter-ocular distances), which notebook 05's
students write themselves; :func:`normalized_positions` gives eye-centred positions; :func:`align_face` crops
faces on the eyes. :meth:`LandmarkTable.pairs_with_faces` finds the pairs usable for training and refuses a
folder in which no pair has a face.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.alignment import align_on_eyes
from .data.cache import ContentCache, cache_dir, fetch
from .data.landmark_index import LEFT_EYE_OUTER, N_LANDMARKS, RIGHT_EYE_OUTER
from .data.registry import REGISTRY

CACHE_VERSION = 1


class MissingLandmarksError(LookupError):
    """Landmarks were asked for an image in which no face was found (or which was never processed)."""


@dataclass(frozen=True)
class Detection:
    """One detected face.

    Attributes
    ----------
    landmarks : np.ndarray
        (478, 3) float32: x and y normalised to the image width and height (0..1), z relative depth in
        roughly the units of x (MediaPipe's convention).
    blendshapes : np.ndarray
        (52,) float32 blendshape scores in [0, 1] (MediaPipe's ARKit-style names, e.g. mouthSmileLeft).
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray


def _model_bytes() -> bytes:
    with np.load(fetch(REGISTRY["face_landmarker"])) as archive:
        return bytes(archive["model"])


class FaceLandmarker:
    """MediaPipe's Face Landmarker for single images, as a context manager.

    Parameters
    ----------
    min_detection_confidence : float
        MediaPipe's face-detection threshold (its default is 0.5).
    model : bytes, optional
        The ``face_landmarker.task`` file's bytes. Default: the kit's verified copy from the data layer.

    Examples
    --------
    >>> with FaceLandmarker() as landmarker:            # doctest: +SKIP
    ...     detection = landmarker.detect(rgb_image)    # None when no face is found
    """

    def __init__(self, min_detection_confidence: float = 0.5, model: bytes | None = None) -> None:
        self.min_detection_confidence = float(min_detection_confidence)
        self._model = _model_bytes() if model is None else model
        self.model_sha256 = hashlib.sha256(self._model).hexdigest()
        self._landmarker = None

    @property
    def cache_key(self) -> str:
        """What a cached result depends on besides the image: model, options, cache format."""
        return f"v{CACHE_VERSION}-{self.model_sha256[:16]}-conf{self.min_detection_confidence:g}"

    def open(self) -> FaceLandmarker:
        """Create MediaPipe's landmarker (silencing its C++ start-up messages); called by ``__enter__``."""
        if self._landmarker is None:
            from mediapipe.tasks.python import BaseOptions, vision

            from .notebook import silenced_stderr

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=self._model),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=1,
                min_face_detection_confidence=self.min_detection_confidence,
                output_face_blendshapes=True,
            )
            with silenced_stderr():
                self._landmarker = vision.FaceLandmarker.create_from_options(options)
        return self

    def close(self) -> None:
        """Release MediaPipe's graph."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> FaceLandmarker:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: np.ndarray) -> Detection | None:
        """Landmarks of the (largest) face in an RGB image, or None when no face is found.

        Parameters
        ----------
        image : np.ndarray
            (h, w, 3) uint8 RGB image (a gray (h, w) image is converted).
        """
        import mediapipe as mp

        from .notebook import silenced_stderr

        if self._landmarker is None:
            raise RuntimeError("Use FaceLandmarker as a context manager (`with FaceLandmarker() as lm:`).")
        rgb = _as_rgb(image)
        with silenced_stderr():  # the first call announces the XNNPACK delegate on the C++ side
            result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        if not result.face_landmarks:
            return None
        points = np.array([[p.x, p.y, p.z] for p in result.face_landmarks[0]], dtype=np.float32)
        scores = np.array([c.score for c in result.face_blendshapes[0]], dtype=np.float32)
        return Detection(points, scores)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"Expected an (h, w, 3) RGB image; got shape {image.shape}.")
    if image.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image; got {image.dtype} (convert with skimage.util.img_as_ubyte).")
    return np.ascontiguousarray(image[:, :, :3])


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (h, w, 3) uint8 RGB; a file that is not an image raises ``ValueError``."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path} is not a readable image file.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class LandmarkTable:
    """Landmarks of a list of images; images without a face are recorded as missing, never filled in.

    Attributes
    ----------
    keys : list of str
        One key per image, in input order (the file path, or ``"image-<i>"`` for arrays).
    found : np.ndarray
        (n,) bool, whether a face was found.
    points : np.ndarray
        (n_found, 478, 3) float32 landmarks of the images with a face, in input order.
    blendshapes : np.ndarray
        (n_found, 52) float32 blendshape scores of the same images.
    seconds : float
        Wall time of the extraction (reading, hashing, detecting, caching).
    n_cached : int
        How many results came from the disk cache.
    """

    keys: list[str]
    found: np.ndarray
    points: np.ndarray
    blendshapes: np.ndarray
    seconds: float = 0.0
    n_cached: int = 0
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        rows = np.cumsum(self.found) - 1
        self._row = {key: int(rows[i]) for i, key in enumerate(self.keys) if self.found[i]}

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_missing(self) -> int:
        """Images in which no face was found."""
        return int((~self.found).sum())

    @property
    def detection_rate(self) -> float:
        """Fraction of images with a detected face."""
        return float(self.found.mean()) if len(self.found) else 0.0

    @property
    def missing_keys(self) -> list[str]:
        """Keys of the images without a face."""
        return [key for key, ok in zip(self.keys, self.found, strict=True) if not ok]

    def has(self, keys: Iterable[str | os.PathLike]) -> np.ndarray:
        """Boolean mask: which of ``keys`` have landmarks."""
        return np.array([str(key) in self._row for key in keys], dtype=bool)

    def pairs_with_faces(self, first: Iterable[str | os.PathLike], second: Iterable[str | os.PathLike],
                         source: str = "these images") -> np.ndarray:
        """Boolean mask of the pairs ``(first[i], second[i])`` (e.g. emote and neutral) with landmarks on both.

        Raises
        ------
        MissingLandmarksError
            No pair is usable (typically: MediaPipe found no face in the folder ``source``); the message
            gives the detection count and what to check.
        """
        first, second = list(first), list(second)
        if len(first) != len(second):
            raise ValueError(f"first and second must pair up one to one; got {len(first)} and {len(second)} keys.")
        mask = self.has(first) & self.has(second)
        if len(mask) == 0 or not mask.any():
            raise MissingLandmarksError(
                f"No usable pair: of the {len(first)} pairs none has landmarks on both images (MediaPipe found "
                f"a face in {int(self.found.sum())} of {len(self)} images of {source}). Check that {source} "
                f"holds photographs of faces, frontal enough and at least about 100 pixels wide (RaFD: the "
                f"cameras 045, 090, 135), e.g. open one of {self.keys[:2]} and look."
            )
        return mask

    def get(self, keys: Iterable[str | os.PathLike]) -> np.ndarray:
        """(len(keys), 478, 3) landmarks of ``keys``.

        Raises
        ------
        MissingLandmarksError
            Some key has no face (or was not extracted): drop those rows first, using :meth:`has`.
        """
        keys = [str(key) for key in keys]
        missing = [key for key in keys if key not in self._row]
        if missing:
            raise MissingLandmarksError(
                f"{len(missing)} of {len(keys)} requested images have no landmarks (no face found, or not "
                f"extracted), e.g. {missing[:3]}. Drop them first with `table.has(keys)`; landmarks are never "
                f"filled with zeros or NaN."
            )
        return self.points[[self._row[key] for key in keys]]


def landmark_cache(landmarker: FaceLandmarker, data_home: str | os.PathLike | None = None) -> ContentCache:
    """The landmark cache of ``landmarker``'s model and options: ``<data_home>/landmarks/<cache key>/``."""
    return ContentCache(cache_dir(data_home) / "landmarks" / landmarker.cache_key)


def _digest_of_array(image: np.ndarray) -> str:
    image = np.ascontiguousarray(image)
    header = f"{image.shape}{image.dtype}".encode()
    return hashlib.sha256(header + image.tobytes()).hexdigest()


def detect_landmarks(image: np.ndarray) -> np.ndarray | None:
    """(478, 3) landmarks of the face in an RGB image, or ``None``: one image, no cache.

    Opens and closes a :class:`FaceLandmarker` per call (about a second), so use it for a few images, e.g.
    as the ``detect`` argument of :func:`course_utils.data.load_rafd`; :func:`extract_landmarks` is for many.
    """
    with FaceLandmarker() as landmarker:
        detection = landmarker.detect(image)
    return None if detection is None else detection.landmarks


def _detection_arrays(detection: Detection | None) -> dict[str, np.ndarray]:
    """What the cache stores for one image: ``found``, ``landmarks`` and ``blendshapes`` (empty when not found)."""
    if detection is None:
        return {"found": np.array(False), "landmarks": np.empty((0, 3), np.float32),
                "blendshapes": np.empty(0, np.float32)}
    return {"found": np.array(True), "landmarks": detection.landmarks, "blendshapes": detection.blendshapes}


def extract_landmarks(images: Sequence[str | os.PathLike] | Sequence[np.ndarray] | np.ndarray,
                      landmarker: FaceLandmarker | None = None, cache: bool = True, progress: bool = True,
                      desc: str = "landmarks", data_home: str | os.PathLike | None = None) -> LandmarkTable:
    """Detect the landmarks of many images, with a disk cache keyed by each image's content.

    Detection is :meth:`FaceLandmarker.detect` (a pure function of the image); the cache is
    :func:`landmark_cache`, consulted before and filled after it.

    Parameters
    ----------
    images : sequence of paths, or of (h, w, 3) uint8 arrays, or an (n, h, w, 3) array
        Files are hashed by their bytes, arrays by their pixels; either way an unchanged image is read from
        the cache (``<cache dir>/landmarks/<model and options>/``) on the next run.
    landmarker : FaceLandmarker, optional
        An open landmarker; default: one is opened (and closed) here, but only if some image is not cached.
    cache : bool
        Read and write the cache.
    progress : bool
        Show a tqdm progress bar on stderr.
    desc : str
        The progress bar's label.
    data_home : path-like, optional
        The kit's cache folder (default: :func:`~course_utils.data.cache.cache_dir`).

    Returns
    -------
    LandmarkTable
        With ``found`` per image and landmarks for the images with a face.
    """
    from tqdm.std import tqdm

    start = time.perf_counter()
    is_paths = len(images) > 0 and isinstance(images[0], str | os.PathLike)
    keys = [str(item) for item in images] if is_paths else [f"image-{i}" for i in range(len(images))]
    own = landmarker is None
    probe = landmarker if landmarker is not None else FaceLandmarker()
    store = landmark_cache(probe, data_home) if cache else None
    found = np.zeros(len(keys), dtype=bool)
    points, shapes = [], []
    n_cached = 0
    try:
        for i, item in enumerate(tqdm(images, desc=desc, disable=not progress, file=sys.stderr, mininterval=1.0)):
            digest = hashlib.sha256(Path(item).read_bytes()).hexdigest() if is_paths else _digest_of_array(item)
            result = store.get(digest) if store is not None else None
            if result is not None:
                n_cached += 1
            else:
                result = _detection_arrays(probe.open().detect(read_rgb(item) if is_paths else item))
                if store is not None:
                    store.put(digest, result)
            found[i] = bool(result["found"])
            if found[i]:
                points.append(result["landmarks"])
                shapes.append(result["blendshapes"])
    finally:
        if own:
            probe.close()
    pts = np.stack(points).astype(np.float32) if points else np.empty((0, N_LANDMARKS, 3), np.float32)
    bss = np.stack(shapes).astype(np.float32) if shapes else np.empty((0, 52), np.float32)
    return LandmarkTable(keys, found, pts, bss, seconds=time.perf_counter() - start, n_cached=n_cached)


def inter_ocular_distance(points: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                          right_eye: int = RIGHT_EYE_OUTER) -> np.ndarray:
    """Distance between the outer eye corners, per face: (..., 478, 3) -> (...)."""
    points = np.asarray(points, dtype=np.float64)
    return np.linalg.norm(points[..., left_eye, :] - points[..., right_eye, :], axis=-1)


def check_landmark_pairs(emote: np.ndarray, neutral: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                         right_eye: int = RIGHT_EYE_OUTER) -> tuple[np.ndarray, np.ndarray]:
    """Validate (emote, neutral) landmark pairs for delta features; return both as float64 arrays.

    Accepted: two arrays of the same shape, ``(n, L, 3)`` with ``n >= 1`` or a single face ``(L, 3)``, whose
    ``left_eye`` and ``right_eye`` are two different landmark indices below ``L`` and whose neutral faces
    have a finite, positive distance between those two landmarks.

    Raises
    ------
    ValueError
        Naming the argument, the value found and what to do: different shapes, not (n, L, 3), an empty
        batch, eye indices that the faces do not have (e.g. the default 263 with 83-landmark faces),
        identical eye indices, or neutral faces whose eyes coincide or are not finite.
    """
    emote = np.asarray(emote, dtype=np.float64)
    neutral = np.asarray(neutral, dtype=np.float64)
    if emote.shape != neutral.shape:
        raise ValueError(f"emote and neutral must have the same shape (one neutral face per emote face); "
                         f"got {emote.shape} and {neutral.shape}.")
    if emote.ndim not in (2, 3) or emote.shape[-1] != 3:
        raise ValueError(f"emote and neutral must be (n, L, 3) arrays of L 3-D landmarks per face, or (L, 3) for "
                         f"one face; got shape {emote.shape}.")
    if emote.ndim == 3 and emote.shape[0] == 0:
        raise ValueError("emote and neutral hold no face (an empty batch of shape "
                         f"{emote.shape}): drop the empty selection before computing delta features.")
    n_landmarks = emote.shape[-2]
    for argument, index in (("left_eye", left_eye), ("right_eye", right_eye)):
        if not isinstance(index, int | np.integer) or not 0 <= index < n_landmarks:
            raise ValueError(f"{argument}={index!r} is not a landmark of these faces, which have {n_landmarks} "
                             f"landmarks (indices 0..{n_landmarks - 1}); pass the indices of the outer eye "
                             f"corners in your landmark scheme (MediaPipe's 478-point mesh: 263 and 33).")
    if left_eye == right_eye:
        raise ValueError(f"left_eye and right_eye are both {left_eye}; the unit of length is the distance "
                         "between two different landmarks (the outer eye corners).")
    scale = np.linalg.norm(neutral[..., left_eye, :] - neutral[..., right_eye, :], axis=-1)
    bad = ~(np.isfinite(scale) & (scale > 0))
    if np.any(bad):
        faces = np.flatnonzero(np.atleast_1d(bad))
        raise ValueError(f"neutral face(s) {faces[:5].tolist()} have a zero or non-finite distance between "
                         f"landmarks {left_eye} and {right_eye} (NaN or coinciding eye corners); drop those "
                         f"faces or fix their landmarks.")
    return emote, neutral


def normalized_positions(points: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                         right_eye: int = RIGHT_EYE_OUTER) -> np.ndarray:
    """Landmarks centred on the eyes' midpoint, in units of the inter-ocular distance, flattened per face.

    (n, L, 3) -> (n, 3L) float32: where every point of the face *is* (notebook 05's third input), free of
    the face's position and size in the photograph. Input checks as :func:`check_landmark_pairs`.
    """
    points, _ = check_landmark_pairs(points, points, left_eye, right_eye)
    centre = 0.5 * (points[..., left_eye, :] + points[..., right_eye, :])
    scale = inter_ocular_distance(points, left_eye, right_eye)
    out = (points - centre[..., None, :]) / np.asarray(scale)[..., None, None]
    return out.reshape(*out.shape[:-2], -1).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 64, eye_distance: float = 0.45,
               eye_height: float = 0.32) -> np.ndarray:
    """Crop a face so that the outer eye corners are level, ``eye_distance * size`` apart, at ``eye_height``.

    A similarity transform (rotation, scale, shift) from the eye corners only, so the crop does not depend on
    the expression (a dropped jaw does not change the box). Returns a (size, size, 3) uint8 image.
    """
    h, w = image.shape[:2]
    right = landmarks[RIGHT_EYE_OUTER, :2] * (w, h)
    left = landmarks[LEFT_EYE_OUTER, :2] * (w, h)
    aligned, _ = align_on_eyes(image, right, left, (size, size), eye_distance * size, (size / 2, eye_height * size))
    return aligned


def aligned_faces(paths: Sequence[str | os.PathLike], table: LandmarkTable, size: int = 64) -> np.ndarray:
    """(n, size, size, 3) uint8 aligned face crops (:func:`align_face`) of image files with landmarks in ``table``.

    Raises
    ------
    MissingLandmarksError
        Some file has no landmarks (drop it first with ``table.has``).
    """
    points = table.get(paths)
    return np.stack([align_face(read_rgb(path), lm, size) for path, lm in zip(paths, points, strict=True)])
