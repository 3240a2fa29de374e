"""Face landmarks with MediaPipe's Face Landmarker (Tasks API), a content-keyed disk cache, delta features.

:class:`FaceLandmarker` wraps ``mediapipe.tasks.python.vision.FaceLandmarker`` (478 landmarks: the 468-point
face mesh plus 10 iris points; optionally 52 blendshape scores). The model file comes from the data layer
(``REGISTRY["face_landmarker"]``, sha256-verified). Use it as a context manager, so MediaPipe's graph is
closed before the interpreter exits.

:func:`extract_landmarks` runs it over many images with a progress bar and caches every result on disk,
keyed by the sha256 of the image's bytes (and of the model and options), so a second run reads the cache.
An image without a detected face is recorded as *missing*: :class:`LandmarkTable` keeps a ``found`` mask and
returns landmarks only for images that have them; asking for a missing one raises
:class:`MissingLandmarksError`. Nothing is ever filled with zeros or NaN.

:func:`landmark_deltas` turns (emote, neutral) landmark pairs into features: the displacement of every
landmark from the same person's neutral face, in units of the neutral face's inter-ocular distance.
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

N_LANDMARKS = 478
"""Landmarks per face: the 468-point mesh plus 5 points per iris."""

RIGHT_EYE_OUTER = 33
"""Outer corner of the subject's right eye (on the left of a frontal photo)."""

LEFT_EYE_OUTER = 263
"""Outer corner of the subject's left eye (on the right of a frontal photo)."""

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
    from .data import REGISTRY, fetch

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


def _cache_root(landmarker: FaceLandmarker) -> Path:
    from .data import cache_dir

    return cache_dir() / "landmarks" / landmarker.cache_key


def _cache_file(root: Path, digest: str) -> Path:
    return root / digest[:2] / f"{digest}.npz"


def _digest_of_array(image: np.ndarray) -> str:
    image = np.ascontiguousarray(image)
    header = f"{image.shape}{image.dtype}".encode()
    return hashlib.sha256(header + image.tobytes()).hexdigest()


def extract_landmarks(images: Sequence[str | os.PathLike] | Sequence[np.ndarray] | np.ndarray,
                      landmarker: FaceLandmarker | None = None, cache: bool = True, progress: bool = True,
                      desc: str = "landmarks") -> LandmarkTable:
    """Detect the landmarks of many images, with a disk cache keyed by each image's content.

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
    root = _cache_root(probe)
    found = np.zeros(len(keys), dtype=bool)
    points, shapes = [], []
    n_cached = 0
    try:
        for i, item in enumerate(tqdm(images, desc=desc, disable=not progress, file=sys.stderr, mininterval=1.0)):
            if is_paths:
                raw = Path(item).read_bytes()
                digest = hashlib.sha256(raw).hexdigest()
            else:
                digest = _digest_of_array(item)
            file = _cache_file(root, digest)
            if cache and file.is_file():
                with np.load(file) as stored:
                    ok = bool(stored["found"])
                    lm, bs = stored["landmarks"], stored["blendshapes"]
                n_cached += 1
            else:
                image = read_rgb(item) if is_paths else item
                probe.open()
                detection = probe.detect(image)
                ok = detection is not None
                lm = detection.landmarks if ok else np.empty((0, 3), np.float32)
                bs = detection.blendshapes if ok else np.empty(0, np.float32)
                if cache:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    tmp = file.with_suffix(f".{os.getpid()}.tmp.npz")
                    np.savez(tmp, found=ok, landmarks=lm, blendshapes=bs)
                    os.replace(tmp, file)
            found[i] = ok
            if ok:
                points.append(lm)
                shapes.append(bs)
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


def landmark_deltas(emote: np.ndarray, neutral: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                    right_eye: int = RIGHT_EYE_OUTER) -> np.ndarray:
    """Displacement of every landmark from the neutral face, in units of the neutral inter-ocular distance.

    .. math:: \\Delta_i = (e_i - n_i) / \\lVert n_{\\text{left eye}} - n_{\\text{right eye}} \\rVert

    The seed notebook divided each displacement by its own length, which is 0/0 = NaN wherever a landmark
    does not move (always, for a neutral face paired with itself). Dividing by the neutral face's
    inter-ocular distance instead keeps a zero displacement zero and makes faces of different sizes comparable.

    Parameters
    ----------
    emote, neutral : np.ndarray
        (n, 478, 3) or (478, 3) landmarks of the same people, emote and neutral.
    left_eye, right_eye : int
        Landmark indices whose distance sets the scale (default: the outer eye corners).

    Returns
    -------
    np.ndarray
        (n, 478 * 3) float32, or (478 * 3,) for single faces.

    Raises
    ------
    ValueError
        Shapes differ, or some neutral face has a zero or non-finite inter-ocular distance.
    """
    emote = np.asarray(emote, dtype=np.float64)
    neutral = np.asarray(neutral, dtype=np.float64)
    if emote.shape != neutral.shape or emote.ndim not in (2, 3) or emote.shape[-1] != 3:
        raise ValueError(f"emote and neutral must both be (n, L, 3) or (L, 3); got {emote.shape} and {neutral.shape}.")
    scale = inter_ocular_distance(neutral, left_eye, right_eye)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)).ravel())
        raise ValueError(f"Neutral face(s) {bad[:5].tolist()} have a zero or non-finite inter-ocular distance.")
    delta = (emote - neutral) / np.asarray(scale)[..., None, None]
    return delta.reshape(*delta.shape[:-2], -1).astype(np.float32)


def normalized_positions(points: np.ndarray, left_eye: int = LEFT_EYE_OUTER,
                         right_eye: int = RIGHT_EYE_OUTER) -> np.ndarray:
    """Landmarks centred on the eyes' midpoint, in units of the inter-ocular distance, flattened per face."""
    points = np.asarray(points, dtype=np.float64)
    centre = 0.5 * (points[..., left_eye, :] + points[..., right_eye, :])
    scale = inter_ocular_distance(points, left_eye, right_eye)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError("Some face has a zero or non-finite inter-ocular distance.")
    out = (points - centre[..., None, :]) / np.asarray(scale)[..., None, None]
    return out.reshape(*out.shape[:-2], -1).astype(np.float32)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 64, eye_distance: float = 0.45,
               eye_height: float = 0.32) -> np.ndarray:
    """Crop a face so that the outer eye corners are level, ``eye_distance * size`` apart, at ``eye_height``.

    A similarity transform (rotation, scale, shift) from the eye corners only, so the crop does not depend on
    the expression (a dropped jaw does not change the box). Returns a (size, size, 3) uint8 image.
    """
    import cv2

    h, w = image.shape[:2]
    right = landmarks[RIGHT_EYE_OUTER, :2] * (w, h)
    left = landmarks[LEFT_EYE_OUTER, :2] * (w, h)
    angle = np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))
    scale = eye_distance * size / np.linalg.norm(left - right)
    centre = (left + right) / 2
    M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), float(scale))
    M[:, 2] += np.array([size / 2, eye_height * size]) - centre
    return cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)


def aligned_faces(paths: Sequence[str | os.PathLike], table: LandmarkTable, size: int = 64) -> np.ndarray:
    """(n, size, size, 3) uint8 aligned face crops (:func:`align_face`) of image files with landmarks in ``table``.

    Raises
    ------
    MissingLandmarksError
        Some file has no landmarks (drop it first with ``table.has``).
    """
    points = table.get(paths)
    return np.stack([align_face(read_rgb(path), lm, size) for path, lm in zip(paths, points, strict=True)])
