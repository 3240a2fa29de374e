"""An offline, synthetic stand-in for RaFD: real face photographs, deformed per identity, emotion, gaze, camera.

RaFD (Radboud Faces Database) is licensed and never shipped; this module makes a folder of JPEGs with RaFD's
file naming so that everything downstream (loader, pairing, landmarks, models) runs without it. It is
**synthetic**: every face is made from two real public-domain photographs that ship with the kit's
dependencies (NASA astronaut Eileen Collins, ``skimage.data.astronaut()``; Grace Hopper, matplotlib's
``grace_hopper.jpg``), each also mirrored, so there are four base faces.

* **Identity** (one per RaFD "model"): a morph of two base faces (landmark-aligned, warped to a blended shape
  and cross-dissolved) plus a random face shape (face width, chin, eye spacing, nose, mouth, brows), size,
  tilt, skin tone and brightness.
* **Emotion and intensity**: landmark-driven image warps of brows, eyelids, lips, jaw and nose wings that
  follow the action units of each expression (e.g. happy: lip corners up and out, cheeks raised; surprised:
  brows up, eyes wide, jaw dropped), scaled by a random intensity per model and emotion and jittered per
  image; an open mouth gets a dark cavity.
* **Gaze**: the irises are shifted left or right.
* **Camera** 045 / 090 / 135: *approximated* by a horizontal perspective squeeze and shift of the whole image
  (a 2-D homography). It is not a 3-D rotation: nothing becomes occluded.

The labels ``group`` and ``sex`` are in the file names only because RaFD's naming needs them; here they are
``Caucasian`` and ``female`` for every model (both photographs show women) and carry no information.

Warps are thin-plate splines fitted on a few dozen control points (the landmarks MediaPipe finds on the
base photographs, moved as above, plus fixed anchors), evaluated on a coarse grid and applied with
``cv2.remap`` (a backward map: the spline maps each output point to where it comes from).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .alignment import align_on_eyes
from .errors import DataUnavailableError
from .landmark_index import (
    BROW_INNER,
    BROW_OUTER,
    CHEEK,
    CHIN,
    EYE_CORNERS,
    FACE_OVAL,
    INNER_LIPS,
    IRIS,
    LEFT_EYE_OUTER,
    LOWER_LID,
    LOWER_LIP_INNER,
    LOWER_LIP_OUTER,
    MID_CHIN,
    MID_LOWER_LIP,
    MID_UPPER_LIP,
    MOUTH_CORNER,
    NOSE_FIXED,
    NOSE_WING,
    RIGHT_EYE_OUTER,
    UPPER_LID,
    UPPER_LIP_INNER,
    UPPER_LIP_OUTER,
)

STANDIN_VERSION = 1
IMAGE_SIZE = (256, 170)
"""(height, width) of the stand-in images: twice the seed's 128 x 85, RaFD's 1024 x 681 aspect ratio."""

EMOTIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
CAMERAS = ("045", "090", "135")

# Each emotion: (group, out, down) with displacements in inter-ocular distances; "out" is away from the face's
# midline (mirrored per side), "down" is down the image. A group is a (right, left) pair or a midline list.
EMOTION_ACTIONS: dict[str, list[tuple[object, float, float]]] = {
    "neutral": [],
    "happy": [(MOUTH_CORNER, 0.10, -0.13), (UPPER_LIP_OUTER, 0.04, -0.05), (UPPER_LIP_INNER, 0.03, -0.04),
              (CHEEK, 0.0, -0.06), (LOWER_LID, 0.0, -0.035), (LOWER_LIP_OUTER, 0.03, 0.03),
              (LOWER_LIP_INNER, 0.02, 0.03), (MID_LOWER_LIP, 0.0, 0.05)],
    "sad": [(BROW_INNER, -0.02, -0.10), (BROW_OUTER, 0.0, 0.04), (MOUTH_CORNER, -0.01, 0.10),
            (UPPER_LID, 0.0, 0.025), (LOWER_LIP_OUTER, 0.0, -0.02), (MID_LOWER_LIP, 0.0, -0.03),
            (UPPER_LIP_OUTER, 0.0, 0.02)],
    "angry": [(BROW_INNER, -0.06, 0.11), (BROW_OUTER, -0.02, 0.06), (UPPER_LID, 0.0, 0.035),
              (LOWER_LID, 0.0, -0.025), (MOUTH_CORNER, -0.05, 0.01), (UPPER_LIP_OUTER, -0.02, 0.02),
              (MID_UPPER_LIP, 0.0, 0.02), (LOWER_LIP_OUTER, -0.01, -0.03), (MID_LOWER_LIP, 0.0, -0.03),
              (NOSE_WING, 0.025, 0.0)],
    "fearful": [(BROW_INNER, -0.03, -0.13), (BROW_OUTER, 0.0, -0.06), (UPPER_LID, 0.0, -0.05),
                (LOWER_LID, 0.0, 0.015), (MOUTH_CORNER, 0.10, 0.05), (LOWER_LIP_INNER, 0.03, 0.10),
                (LOWER_LIP_OUTER, 0.03, 0.10), (MID_LOWER_LIP, 0.0, 0.11), (CHIN, 0.0, 0.05),
                (MID_CHIN, 0.0, 0.05), (UPPER_LIP_OUTER, 0.03, 0.0)],
    "surprised": [(BROW_INNER, 0.0, -0.16), (BROW_OUTER, 0.0, -0.15), (UPPER_LID, 0.0, -0.06),
                  (LOWER_LID, 0.0, 0.02), (MOUTH_CORNER, -0.04, 0.08), (LOWER_LIP_INNER, -0.01, 0.24),
                  (LOWER_LIP_OUTER, -0.01, 0.25), (MID_LOWER_LIP, 0.0, 0.26), (CHIN, 0.0, 0.20),
                  (MID_CHIN, 0.0, 0.22), (UPPER_LIP_INNER, 0.0, -0.02)],
    "disgusted": [(UPPER_LIP_OUTER, 0.0, -0.08), (UPPER_LIP_INNER, 0.0, -0.08), (MID_UPPER_LIP, 0.0, -0.09),
                  (NOSE_WING, 0.02, -0.05), (BROW_INNER, -0.04, 0.06), (BROW_OUTER, 0.0, 0.04),
                  (LOWER_LID, 0.0, -0.035), (MOUTH_CORNER, -0.02, 0.04), (LOWER_LIP_OUTER, 0.0, 0.01),
                  (CHEEK, 0.0, -0.03)],
    # contempt is one-sided; the side is chosen per model (see _actions)
    "contemptuous": [(MOUTH_CORNER, 0.08, -0.08), (UPPER_LIP_OUTER, 0.03, -0.03), (CHEEK, 0.0, -0.02)],
}


@dataclass(frozen=True)
class BaseFace:
    """A real photograph aligned on the stand-in canvas, with its MediaPipe landmarks in pixels."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8
    points: np.ndarray  # (478, 2) float64 pixel coordinates (x, y)


def _base_photographs() -> list[tuple[str, np.ndarray]]:
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    astronaut = data.astronaut()
    return [("astronaut", astronaut), ("astronaut mirrored", astronaut[:, ::-1].copy()),
            ("hopper", hopper), ("hopper mirrored", hopper[:, ::-1].copy())]


Detector = Callable[[np.ndarray], "np.ndarray | None"]
"""A face detector as the data layer takes it: an (h, w, 3) uint8 RGB image -> its (478, 2 or 3) MediaPipe
landmarks with x and y normalised to the image's width and height, or ``None`` when it finds no face
(e.g. :func:`course_utils.landmarks.detect_landmarks`)."""


def base_faces(detect: Detector, size: tuple[int, int] = IMAGE_SIZE) -> list[BaseFace]:
    """The four base faces (two photographs and their mirror images) aligned on an (h, w) canvas.

    Each photograph is rotated, scaled and shifted so that the outer eye corners are level, 0.36 w apart,
    centred horizontally at 42 % of the height (a portrait crop, closer than RaFD's), by
    :func:`~course_utils.data.alignment.align_on_eyes`.

    Parameters
    ----------
    detect : callable
        The face detector (:data:`Detector`) that finds the landmarks on the photographs.
    size : (int, int)
        ``(height, width)`` of the canvas.
    """
    h, w = size
    faces = []
    for name, photo in _base_photographs():
        landmarks = detect(photo)
        if landmarks is None:  # pragma: no cover - verified on both photographs
            raise RuntimeError(f"The detector found no face in the base photograph '{name}'.")
        px = np.asarray(landmarks)[:, :2] * np.array([photo.shape[1], photo.shape[0]])
        image, M = align_on_eyes(photo, px[RIGHT_EYE_OUTER], px[LEFT_EYE_OUTER], size, eye_distance=0.36 * w,
                                 eye_centre=(w / 2, 0.42 * h))
        points = np.c_[px, np.ones(len(px))] @ M.T
        faces.append(BaseFace(name, image, points))
    return faces


def _tps_backward_map(dst: np.ndarray, src: np.ndarray, size: tuple[int, int], step: int = 4) -> tuple:
    """Backward map for ``cv2.remap``: a thin-plate spline through ``dst -> src``, on a coarse grid, upsampled."""
    import cv2
    from scipy.interpolate import RBFInterpolator

    h, w = size
    gy, gx = np.mgrid[0:h + step:step, 0:w + step:step].astype(np.float64)
    grid = np.c_[gx.ravel(), gy.ravel()]
    spline = RBFInterpolator(dst, src - dst, kernel="thin_plate_spline", smoothing=1e-3)
    shift = spline(grid).reshape(*gx.shape, 2).astype(np.float32)
    full = cv2.resize(shift, (gx.shape[1] * step, gx.shape[0] * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return xx + full[..., 0], yy + full[..., 1]


def warp_image(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Warp ``image`` so that the points ``src`` (k, 2) move to ``dst`` (k, 2) (x, y pixels), smoothly between.

    A thin-plate spline through the pairs, evaluated on a grid of every 4th pixel and upsampled, so one warp
    of a 256 x 170 image takes a few milliseconds. Put fixed anchor points (src == dst) where the image must
    not move.
    """
    import cv2

    map_x, map_y = _tps_backward_map(np.asarray(dst, float), np.asarray(src, float), image.shape[:2])
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _frame_anchors(size: tuple[int, int], n: int = 4) -> np.ndarray:
    h, w = size
    xs, ys = np.linspace(0, w - 1, n), np.linspace(0, h - 1, n + 2)
    return np.array([(x, y) for x in xs for y in (0, h - 1)] + [(x, y) for y in ys[1:-1] for x in (0, w - 1)])


def _indices(group: object) -> tuple[list[int], list[int]]:
    if isinstance(group, tuple):
        return group[0], group[1]
    return list(group), []  # midline


def _actions(emotion: str, contempt_side: int) -> list[tuple[object, float, float]]:
    actions = EMOTION_ACTIONS[emotion]
    if emotion != "contemptuous":
        return actions
    # keep only one side: contempt_side 0 = subject's right, 1 = subject's left
    return [((g[0], []) if contempt_side == 0 else ([], g[1]), out, down) for g, out, down in actions]


def expression_displacements(points: np.ndarray, emotion: str, intensity: float, rng: np.random.Generator,
                             contempt_side: int = 1, gaze: str = "frontal", jitter: float = 0.15
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Control points and their targets for an expression on a face with landmarks ``points`` (478, 2) px.

    Returns ``(src, dst)``, both (k, 2): the moved landmarks (displacements of :data:`EMOTION_ACTIONS` times
    ``intensity`` times a per-image factor ``1 + jitter * N(0, 1)``, in inter-ocular distances) and fixed
    anchors (face oval, nose, eye corners, the image frame).
    """
    iod = np.linalg.norm(points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER])
    moves: dict[int, np.ndarray] = {}
    for group, out, down in _actions(emotion, contempt_side):
        right, left = _indices(group)
        factor = intensity * (1 + jitter * rng.standard_normal())
        for side, indices in ((-1, right), (1, left)):
            for i in indices:
                moves[i] = moves.get(i, 0) + factor * iod * np.array([side * out, down])
    if gaze != "frontal":
        shift = (0.07 if gaze == "left" else -0.07) * iod  # the subject's left is on the image's right
        for i in IRIS[0] + IRIS[1]:
            moves[i] = np.array([shift, 0.0])
        for i in UPPER_LID[0] + UPPER_LID[1] + LOWER_LID[0] + LOWER_LID[1]:
            moves.setdefault(i, np.zeros(2))
    anchors = [i for i in FACE_OVAL + NOSE_FIXED + EYE_CORNERS[0] + EYE_CORNERS[1] if i not in moves]
    if emotion in ("surprised", "fearful"):  # the jaw drops: free the lower face oval
        anchors = [i for i in anchors if i not in (148, 176, 149, 150, 377, 400, 378, 379, 152)]
    # lips not moved stay put, so that moving one lip does not drag the other
    anchors += [i for i in INNER_LIPS + [0, 17, 61, 291] if i not in moves and i not in anchors]
    moved = np.array(sorted(moves))
    src = np.r_[points[moved], points[anchors]] if len(moved) else points[anchors]
    dst = np.r_[points[moved] + np.array([moves[i] for i in moved]), points[anchors]] if len(moved) else src
    return src, dst


def _mouth_cavity(image: np.ndarray, lips: np.ndarray, before: np.ndarray, iod: float) -> np.ndarray:
    """Darken the inside of a mouth opened by the warp (inner-lip polygon ``lips``, (20, 2) px; ``before``:
    the same points before the warp) with a soft edge. A mouth open in the photograph already is left alone."""
    import cv2

    gap = lips[15, 1] - lips[5, 1]  # landmarks 14 and 13: inner lips at the midline
    if gap - (before[15, 1] - before[5, 1]) < 0.04 * iod:
        return image
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.fillPoly(mask, [np.round(lips * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    cavity = np.array([45, 18, 22], np.float32)
    return (image * (1 - 0.9 * mask) + 0.9 * mask * cavity).astype(np.uint8)


def _camera_homography(camera: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Approximate a camera 45 degrees to one side by a horizontal squeeze with perspective, plus jitter."""
    import cv2

    h, w = size
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    squeeze, keystone, shift = {"090": (1.0, 0.0, 0.0), "045": (0.80, 0.07, -0.06), "135": (0.80, -0.07, 0.06)}[camera]
    cx = w / 2 + shift * w
    half = squeeze * w / 2
    near, far = 1 + keystone, 1 - keystone  # the image side nearer to the camera looks taller
    dst = np.float32([[cx - half, h / 2 - near * h / 2], [cx + half, h / 2 - far * h / 2],
                      [cx + half, h / 2 + far * h / 2], [cx - half, h / 2 + near * h / 2]])
    dst += rng.normal(0, 0.006 * w, size=dst.shape).astype(np.float32)  # per-image framing jitter
    scale = 1 + 0.02 * rng.standard_normal()
    dst = (dst - [w / 2, h / 2]) * scale + [w / 2, h / 2]
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


@dataclass
class Identity:
    """One synthetic model: its face image on the canvas, landmarks, and expressiveness."""

    image: np.ndarray
    points: np.ndarray
    intensities: dict[str, float]
    contempt_side: int


def make_identity(bases: list[BaseFace], rng: np.random.Generator) -> Identity:
    """Morph two base faces inside the face oval, then add a random face shape, size, tilt and skin tone.

    Hair, clothes and background come from the first base face; inside the face oval (soft edge) the second
    one is cross-dissolved in with a weight in [0.3, 0.7], both warped to one blended, randomly deformed shape.
    """
    import cv2

    size = bases[0].image.shape[:2]
    h, w = size
    a, b = rng.choice(len(bases), size=2, replace=False)
    alpha = rng.uniform(0.3, 0.7)  # weight of the second face inside the oval
    shape = (1 - 0.5 * alpha) * bases[a].points + 0.5 * alpha * bases[b].points
    iod = np.linalg.norm(shape[LEFT_EYE_OUTER] - shape[RIGHT_EYE_OUTER])
    centre = shape[[RIGHT_EYE_OUTER, LEFT_EYE_OUTER]].mean(axis=0)
    # face shape: stretch around the eye centre with different factors above/below and per feature
    rel = (shape - centre) / iod
    widen = 1 + 0.07 * rng.standard_normal()
    lower = 1 + 0.07 * rng.standard_normal()
    rel[:, 0] *= np.where(rel[:, 1] > 0.4, widen, 1 + 0.5 * (widen - 1))
    rel[:, 1] = np.where(rel[:, 1] > 0, rel[:, 1] * lower, rel[:, 1])
    for group, sd_out, sd_down in ((EYE_CORNERS, 0.03, 0.02), (NOSE_WING, 0.04, 0.02), (MOUTH_CORNER, 0.05, 0.03),
                                   (BROW_INNER, 0.02, 0.04), (BROW_OUTER, 0.02, 0.04)):
        out, down = rng.normal(0, sd_out), rng.normal(0, sd_down)
        for side, indices in ((-1, group[0]), (1, group[1])):
            rel[indices] += [side * out, down]
    # size, tilt and position of the head
    scale = rng.uniform(0.9, 1.08)
    theta = np.radians(rng.normal(0, 3))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    target = centre + rng.normal(0, 0.015, 2) * [w, h] + scale * iod * rel @ rot.T
    controls = sorted(set(FACE_OVAL + NOSE_FIXED + sum(EYE_CORNERS, []) + sum(MOUTH_CORNER, []) + sum(NOSE_WING, [])
                          + sum(BROW_INNER, []) + sum(BROW_OUTER, []) + MID_UPPER_LIP + MID_LOWER_LIP))
    frame = _frame_anchors(size)
    warped = []
    for base in (bases[a], bases[b]):
        src = np.r_[base.points[controls], frame]
        dst = np.r_[target[controls], frame]
        warped.append(warp_image(base.image, src, dst).astype(np.float32))
    mask = np.zeros(size, np.float32)
    oval = target[FACE_OVAL]
    oval = oval.mean(axis=0) + 0.92 * (oval - oval.mean(axis=0))
    cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * iod * w / 60 + 2)[..., None] * alpha
    image = (1 - mask) * warped[0] + mask * warped[1]
    # skin tone and light: in Lab, a brightness scale and a warm/cool, red/green shift
    lab = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] = np.clip(lab[..., 0] * rng.uniform(0.8, 1.12) + rng.normal(0, 6), 0, 255)
    lab[..., 1] += rng.normal(0, 4)
    lab[..., 2] += rng.normal(0, 7)
    image = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    expressiveness = rng.uniform(0.75, 1.15)
    intensities = {e: float(expressiveness * rng.uniform(0.6, 1.0)) for e in EMOTIONS}
    return Identity(image, target, intensities, int(rng.integers(2)))


def render(identity: Identity, emotion: str, camera: str, gaze: str, rng: np.random.Generator) -> np.ndarray:
    """One stand-in photograph of ``identity``: expression and gaze warp, mouth cavity, camera, noise."""
    import cv2

    size = identity.image.shape[:2]
    points = identity.points
    iod = np.linalg.norm(points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER])
    src, dst = expression_displacements(points, emotion, identity.intensities[emotion], rng,
                                        contempt_side=identity.contempt_side, gaze=gaze)
    # every landmark also wobbles a little (nobody holds a face perfectly still)
    wobble = rng.normal(0, 0.008 * iod, size=dst.shape)
    frame = _frame_anchors(size)
    image = warp_image(identity.image, np.r_[src, frame], np.r_[dst + wobble, frame])
    # where did the inner lips go? they are controls (moved or anchored) except a few: map them with a spline
    from scipy.interpolate import RBFInterpolator

    forward = RBFInterpolator(np.r_[src, frame], np.r_[dst + wobble, frame] - np.r_[src, frame],
                              kernel="thin_plate_spline", smoothing=1e-3)
    lips = points[INNER_LIPS] + forward(points[INNER_LIPS])
    image = _mouth_cavity(image, lips, points[INNER_LIPS], iod)
    H = _camera_homography(camera, size, rng)
    image = cv2.warpPerspective(image, H, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT101)
    noisy = image.astype(np.float32) * rng.uniform(0.93, 1.07) + rng.normal(0, 2.0, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def standin_file_name(camera: str, model: int, emotion: str, gaze: str) -> str:
    """RaFD's naming for a stand-in image (group and sex are fixed; see the module docstring)."""
    return f"Rafd{camera}_{model:02d}_Caucasian_female_{emotion}_{gaze}.jpg"


def make_rafd_standin(folder: str | os.PathLike, detect: Detector, n_models: int = 40, n_gaze_models: int = 5,
                      seed: int = 0, progress: bool = True, quality: int = 92) -> Path:
    """Write the synthetic RaFD stand-in into ``folder`` (created; must not hold other files).

    Every model gets all 8 emotions at cameras 045, 090 and 135 with frontal gaze; the first
    ``n_gaze_models`` models also look left and right. Default: 40 models, 960 + 240 = 1200 JPEGs of
    256 x 170 pixels (about 11 MB), seeded, in about 10-20 s on one core. ``detect`` (:data:`Detector`)
    finds the landmarks of the four base photographs (:func:`base_faces`).

    Returns
    -------
    Path
        ``folder``.
    """
    from PIL import Image
    from tqdm.std import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bases = base_faces(detect)
    jobs = [(m, e, c, g) for m in range(1, n_models + 1) for g in ("frontal", "left", "right")
            if g == "frontal" or m <= n_gaze_models for e in EMOTIONS for c in CAMERAS]
    identities = {m: make_identity(bases, rng) for m in range(1, n_models + 1)}
    for m, e, c, g in tqdm(jobs, desc="RaFD stand-in", disable=not progress, file=sys.stderr, mininterval=1.0):
        image_rng = np.random.default_rng([seed, m, EMOTIONS.index(e), CAMERAS.index(c), len(g)])
        image = render(identities[m], e, c, g, image_rng)
        Image.fromarray(image).save(folder / standin_file_name(c, m, e, g), quality=quality)
    return folder


STANDIN_PARAMS = {"n_models": 40, "n_gaze_models": 5, "seed": 0, "version": STANDIN_VERSION}


def standin_dir(data_home: str | os.PathLike | None = None) -> Path:
    """Where the stand-in lives: ``<data_home>/rafd_standin_v<version>`` (default: the kit's cache folder)."""
    from .cache import cache_dir

    return cache_dir(data_home) / f"rafd_standin_v{STANDIN_VERSION}"


def ensure_rafd_standin(detect: Detector | None = None, progress: bool = True,
                        data_home: str | os.PathLike | None = None) -> tuple[Path, float]:
    """The stand-in folder, generated on first use (into a temporary folder, renamed when complete).

    Parameters
    ----------
    detect : callable, optional
        The face detector (:data:`Detector`) that generating the stand-in needs; not used when the folder
        is already complete.
    progress : bool
        Show a progress bar while generating.
    data_home : path-like, optional
        The cache folder (default: :func:`~course_utils.data.cache.cache_dir`).

    Returns
    -------
    (Path, float)
        The folder and the seconds spent generating it (0.0 when it was already cached).

    Raises
    ------
    DataUnavailableError
        The stand-in must be generated and no ``detect`` was given.
    """
    folder = standin_dir(data_home)
    manifest = folder / "standin.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == STANDIN_PARAMS:
        return folder, 0.0
    if detect is None:
        raise DataUnavailableError(
            f"The synthetic RaFD stand-in is not in {folder} yet, and generating it needs a face detector for "
            "its base photographs: pass one, e.g. `load_rafd(detect=course_utils.landmarks.detect_landmarks)`."
        )
    start = time.perf_counter()
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    params = {k: v for k, v in STANDIN_PARAMS.items() if k != "version"}
    make_rafd_standin(tmp, detect, progress=progress, **params)
    (tmp / "standin.json").write_text(json.dumps(STANDIN_PARAMS))
    if manifest.is_file() and json.loads(manifest.read_text()) == STANDIN_PARAMS:
        shutil.rmtree(tmp)  # another process (a parallel test, a second notebook) finished first: use its folder
    else:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process renamed its complete folder in between
            shutil.rmtree(tmp, ignore_errors=True)
    return folder, time.perf_counter() - start
