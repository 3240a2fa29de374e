"""3-D facial landmarks with a posed structure: a seeded generator, a loader for real files, preprocessing.

The thesis of notebook 07 (seed 004) uses BU-3DFE: 100 people, each with a neutral face and 6 expressions
at 4 intensities, 83 3-D landmarks per face. That data set is licensed, so the kit generates faces with
the same structure from a template of 83 landmarks that MediaPipe's Face Landmarker found on a real photo
(``face_template.npz``, made by ``tools/make_face_template.py``), and reads a real file when one is given.

Everything here is NumPy; the models live in :mod:`course_utils.landmark_vae`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .errors import DataShapeError
from .files import course_file, display_path, read_npz
from .landmark_index import LEFT_EYE_LOWER, RIGHT_EYE_LOWER

TEMPLATE_PATH = Path(__file__).with_name("face_template.npz")
"""The shipped template: 83 MediaPipe landmarks of ``skimage.data.astronaut()`` (see the tool's docstring)."""

FACE_LANDMARKS_FILE = "face_landmarks.npz"
"""Name of a real landmark file in the course folder (format: :func:`load_face_landmarks`)."""

EXPRESSIONS = ("neutral", "angry", "disgusted", "fearful", "happy", "sad", "surprised")
"""Expression labels 0..6 (0 = neutral), as in BU-3DFE."""

# Action units (FACS) that the generator combines into the six prototypical expressions (EMFACS-like).
EXPRESSION_UNITS: dict[str, dict[str, float]] = {
    "angry": {"AU4": 1.0, "AU5": 0.4, "AU7": 0.8, "AU23": 1.0},
    "disgusted": {"AU4": 0.5, "AU9": 1.0, "AU10": 0.8, "AU15": 0.5, "AU17": 0.6},
    "fearful": {"AU1": 1.0, "AU2": 0.6, "AU4": 0.6, "AU5": 1.0, "AU20": 1.0, "AU25": 0.8},
    "happy": {"AU6": 1.0, "AU12": 1.0, "AU25": 0.4},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU17": 0.5},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.8, "AU26": 1.0},
}
ACTION_UNITS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU17", "AU20",
                "AU23", "AU25", "AU26")


def load_face_template(path: str | os.PathLike | None = None) -> Bunch:
    """The shipped face template.

    Returns
    -------
    Bunch
        ``data`` (83, 3) float64 landmarks (x to the subject's left, y up, z towards the camera; unit inter-ocular
        distance, centred between the eyes), ``mediapipe_index`` (83,), ``region`` (83,) str,
        ``right_eye_lower`` and ``left_eye_lower`` (indices into the 83 points of the lower eyelids), ``source``.
    """
    with np.load(TEMPLATE_PATH if path is None else path) as data:
        points, index, region = data["points"], data["mediapipe_index"], data["region"]
        source = str(data["source"])
    from_mediapipe = {int(m): i for i, m in enumerate(index)}
    return Bunch(data=points.astype(np.float64), mediapipe_index=index, region=region,
                 right_eye_lower=np.array([from_mediapipe[m] for m in RIGHT_EYE_LOWER]),
                 left_eye_lower=np.array([from_mediapipe[m] for m in LEFT_EYE_LOWER]), source=source)


# ----------------------------------------------------------------------------- action-unit displacement fields


def _ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, linear between."""
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def action_unit_fields(template: Bunch | None = None) -> dict[str, np.ndarray]:
    """Displacement fields (83, 3) of 15 FACS action units at full strength, in inter-ocular distances.

    Hand-made from the template's regions: e.g. AU1 raises the inner brows, AU12 pulls the lip corners
    up and out, AU26 drops the jaw (most at the chin). Magnitudes of 0.05-0.25 IOD, as for a strong
    posed expression.
    """
    t = load_face_template() if template is None else template
    p, region = t.data, t.region
    x, y = p[:, 0], p[:, 1]
    side = np.sign(x)
    n = len(p)

    def field() -> np.ndarray:
        return np.zeros((n, 3))

    brow = np.isin(region, ["right_eyebrow", "left_eyebrow"])
    inner = brow * (1 - _ramp(np.abs(x), 0.15, 0.75))
    outer = brow * _ramp(np.abs(x), 0.25, 0.85)
    eye = np.isin(region, ["right_eye", "left_eye"])
    eye_centre_y = np.where(eye, y, 0)[eye].mean()
    upper_lid = eye & (y > eye_centre_y + 0.01)
    lower_lid = eye & (y < eye_centre_y - 0.01)
    nose = np.char.startswith(region.astype(str), "nose")
    lower_nose = nose & (y < -0.3)
    lips = np.isin(region, ["outer_lips", "inner_lips"])
    mouth_y = y[lips].mean()
    mouth_half_width = np.abs(x[lips]).max()
    corner = lips * _ramp(np.abs(x), 0.55 * mouth_half_width, mouth_half_width)
    upper_lip = lips & (y >= mouth_y) & ~(corner > 0.5)
    lower_lip = lips & (y < mouth_y) & ~(corner > 0.5)
    jaw = region == "jaw"
    chin = jaw * _ramp(-y, 0.6, 1.3) * (1 - _ramp(np.abs(x), 0.3, 1.0))
    cheek_jaw = jaw * _ramp(np.abs(x), 0.5, 1.0) * _ramp(y, -1.2, -0.4)

    f = {name: field() for name in ACTION_UNITS}
    f["AU1"][:, 1] = 0.14 * inner                                   # inner brow raiser
    f["AU1"][:, 0] = -0.02 * side * inner
    f["AU2"][:, 1] = 0.14 * outer                                   # outer brow raiser
    f["AU4"][:, 1] = -0.09 * brow - 0.02 * upper_lid                # brow lowerer
    f["AU4"][:, 0] = -0.06 * side * inner
    f["AU4"][:, 2] = 0.02 * inner
    f["AU5"][:, 1] = 0.06 * upper_lid                               # upper lid raiser
    f["AU6"][:, 1] = 0.035 * lower_lid + 0.03 * cheek_jaw + 0.02 * outer  # cheek raiser
    f["AU6"][:, 0] = 0.02 * side * cheek_jaw
    f["AU7"][:, 1] = 0.035 * lower_lid - 0.015 * upper_lid          # lid tightener
    f["AU9"][:, 1] = 0.05 * lower_nose + 0.04 * upper_lip - 0.04 * inner  # nose wrinkler
    f["AU9"][:, 0] = 0.015 * side * lower_nose
    f["AU10"][:, 1] = 0.08 * upper_lip + 0.03 * corner              # upper lip raiser
    f["AU12"][:, 1] = 0.11 * corner + 0.02 * upper_lip              # lip corner puller (smile)
    f["AU12"][:, 0] = 0.10 * side * corner
    f["AU12"][:, 2] = -0.04 * corner
    f["AU15"][:, 1] = -0.09 * corner                                # lip corner depressor
    f["AU15"][:, 0] = 0.02 * side * corner
    f["AU17"][:, 1] = 0.05 * chin + 0.04 * lower_lip                # chin raiser
    f["AU17"][:, 2] = 0.03 * lower_lip
    f["AU20"][:, 0] = 0.12 * side * corner                          # lip stretcher
    f["AU20"][:, 1] = -0.03 * corner - 0.01 * lower_lip
    f["AU23"][:, 0] = -0.07 * side * corner                         # lip tightener
    f["AU23"][:, 1] = -0.02 * upper_lip + 0.025 * lower_lip
    f["AU23"][:, 2] = 0.03 * lips
    f["AU25"][:, 1] = -0.07 * lower_lip + 0.015 * upper_lip         # lips part
    f["AU26"][:, 1] = -0.22 * chin - 0.12 * lower_lip - 0.06 * cheek_jaw  # jaw drop
    f["AU26"][:, 2] = -0.05 * chin
    return f


# ----------------------------------------------------------------------------- the generator


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head-pose rotation matrix (3, 3) for angles in radians: yaw about y, then pitch about x, then roll about z.

    Extrinsic (fixed-axis) Euler angles ``"yxz"`` of ``scipy.spatial.transform.Rotation``, i.e. the product
    ``R_roll @ R_pitch @ R_yaw``.
    """
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("yxz", [yaw, pitch, roll]).as_matrix()


def _identity_shape(template: Bunch, rng: np.random.Generator, scale: float) -> np.ndarray:
    """One person's neutral face (83, 3) in IOD units: the template deformed region by region and smoothly."""
    p, region = template.data.copy(), template.region
    # Global proportions: face width, height and depth relative to the inter-ocular distance.
    p *= 1 + scale * rng.normal(0, [0.07, 0.07, 0.10])
    # Each region moves and resizes on its own (brow height, nose length, mouth width and position, ...).
    shifts = {"eyebrow": [0.02, 0.06, 0.03], "eye": [0.01, 0.015, 0.02], "nose": [0.02, 0.05, 0.06],
              "lips": [0.02, 0.06, 0.03], "jaw": [0.03, 0.07, 0.05]}
    for key, std in shifts.items():
        names = [f"right_{key}", f"left_{key}"] if key in ("eyebrow", "eye") else [key]
        for name in names:
            part = np.char.find(region.astype(str), "lips" if name == "lips" else name) >= 0
            centre = p[part].mean(axis=0)
            resize = 1 + scale * rng.normal(0, 0.08, 3)
            p[part] = centre + scale * rng.normal(0, std) + (p[part] - centre) * resize
    # A smooth random deformation: a random quadratic polynomial of (x, y) per coordinate.
    x, y = p[:, 0], p[:, 1]
    basis = np.stack([x, y, x * y, x**2, y**2, np.abs(x)], axis=1)
    p += scale * basis @ rng.normal(0, 0.02, (6, 3))
    return p


def make_face_landmarks(n_people: int = 100, noise: float = 0.01, identity_scale: float = 1.0,
                        style_scale: float = 1.0, head_pose_deg: float = 3.0, intensity_power: float = 1.0,
                        seed: int = 0) -> Bunch:
    """Posed 3-D facial landmarks: each person's neutral face and 6 expressions at 4 intensities.

    The structure of BU-3DFE (the thesis's licensed data set) from a seeded generator:

    - **identity**: each person's neutral face is the shipped MediaPipe template (83 landmarks), with
      random proportions (face width, height, depth), each region (brows, eyes, nose, mouth, jaw) moved
      and resized independently, and a smooth random polynomial deformation; about 0.07 IOD per landmark
      (RMS), as large as an expression's displacement, so identity and expression mix in raw coordinates;
    - **expression**: each expression is a sum of FACS action-unit displacement fields
      (:data:`EXPRESSION_UNITS`, :func:`action_unit_fields`); each person has their own style: every
      unit's weight is multiplied by a log-normal factor (sd ``0.7 * style_scale``, clipped at 2 sd), every other unit
      gets a random weight (half-normal, sd ``0.3 * style_scale``), and the person has an overall
      expressiveness (log-normal, sd 0.25). Intensity ``k`` in 1..4 scales the field by
      ``(k / 4) ** intensity_power`` times a per-face jitter (sd 0.1), so intensity 1 is subtle and the
      classes overlap. These defaults were calibrated once so that a linear SVM on the raw landmarks and
      on 30 principal components reaches about the accuracies the thesis reports on BU-3DFE (0.72 and
      0.68 on its test set); nothing was tuned on the VAEs. With 10 test people the split alone moves these
      by a few points: 0.70 and 0.66 on the split they were calibrated on, 0.69 and 0.62 on
      ``split_by_person(seed=0)`` since it draws with ``GroupShuffleSplit``;
    - **recording**: a small random head pose per face (yaw, pitch, roll with sd ``head_pose_deg``
      degrees), an inter-ocular distance of about 62 mm (sd 4) and a random position, then Gaussian noise
      of ``noise`` IOD per coordinate.

    Parameters
    ----------
    n_people : int
        Number of people (25 faces each).
    noise : float
        Measurement noise per coordinate, in inter-ocular distances.
    identity_scale, style_scale : float
        Multipliers of the identity variation and of the person-specific expression style (1 = default).
    head_pose_deg : float
        Standard deviation of each head-pose angle, in degrees.
    intensity_power : float
        Intensity ``k`` scales the expression by ``(k / 4) ** intensity_power``.
    seed : int
        Seed: the same seed gives the same faces.

    Returns
    -------
    Bunch
        ``data`` (25 n_people, 83, 3) float64 landmarks in millimetres (x right on the image, y up, z towards
        the camera; not yet normalised); ``target``: the expression (0 = neutral, see :data:`EXPRESSIONS`),
        ``person``, ``intensity`` (0 for neutral, else 1..4), each (n,) int64; ``target_names`` (the
        expressions); ``region`` (83,);
        ``right_eye_lower``, ``left_eye_lower`` (landmark indices of the lower eyelids).
        Faces are ordered person by person: neutral first, then expressions 1..6 at intensities 1..4.
    """
    if n_people < 1:
        raise ValueError(f"n_people must be at least 1; got {n_people}.")
    rng = np.random.default_rng(seed)
    template = load_face_template()
    units = action_unit_fields(template)
    unit_stack = np.stack([units[name] for name in ACTION_UNITS])  # (U, 83, 3)
    base_weights = np.array([[EXPRESSION_UNITS[e].get(u, 0.0) for u in ACTION_UNITS] for e in EXPRESSIONS[1:]])
    faces, person, expression, intensity = [], [], [], []
    for i in range(n_people):
        neutral = _identity_shape(template, rng, identity_scale)
        style = base_weights * np.exp(np.clip(rng.normal(0, 0.7 * style_scale, base_weights.shape),
                                              -1.4 * style_scale, 1.4 * style_scale))
        style += np.abs(rng.normal(0, 0.3 * style_scale, base_weights.shape)) * (base_weights == 0)
        style *= np.exp(rng.normal(0, 0.25))
        for e in range(len(EXPRESSIONS)):
            for k in ([0] if e == 0 else [1, 2, 3, 4]):
                face = neutral.copy()
                if e > 0:
                    level = (k / 4) ** intensity_power * (1 + rng.normal(0, 0.1))
                    face += level * np.tensordot(style[e - 1], unit_stack, axes=1)
                angles = np.deg2rad(rng.normal(0, head_pose_deg, 3))
                face = face @ _rotation(*angles).T + rng.normal(0, noise, face.shape)
                iod = 62.0 + 4.0 * rng.normal()
                faces.append(face * iod + rng.normal(0, 20.0, 3))
                person.append(i)
                expression.append(e)
                intensity.append(k)
    return Bunch(data=np.array(faces), person=np.array(person, dtype=np.int64),
                 target=np.array(expression, dtype=np.int64), intensity=np.array(intensity, dtype=np.int64),
                 target_names=list(EXPRESSIONS), region=template.region,
                 right_eye_lower=template.right_eye_lower, left_eye_lower=template.left_eye_lower)


# ----------------------------------------------------------------------------- loader


def _neutral_of_each(landmarks: np.ndarray, person: np.ndarray, expression: np.ndarray, where: str) -> np.ndarray:
    """The neutral face (expression 0) of each sample's person; every person needs exactly one."""
    neutral = np.empty_like(landmarks)
    for p in np.unique(person):
        rows = np.flatnonzero((person == p) & (expression == 0))
        if len(rows) != 1:
            raise DataShapeError(f"{where}: person {p} has {len(rows)} neutral faces (expression 0); "
                                 "each person needs exactly one.")
        neutral[person == p] = landmarks[rows[0]]
    return neutral


def _whole_numbers(values: np.ndarray, where: str) -> np.ndarray:
    """``values`` as int64 if they are whole numbers (of any numeric dtype); else a :class:`DataShapeError`."""
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise DataShapeError(f"{where} has dtype {values.dtype}; expected integers.")
    bad = ~np.isfinite(values) | (values != np.round(values)) if values.dtype.kind == "f" else np.zeros(0, bool)
    if np.any(bad):
        raise DataShapeError(f"{where} holds {int(bad.sum())} values that are not whole numbers, e.g. "
                             f"{values[bad][0].item()!r}; expected integers.")
    return values.astype(np.int64)


def load_face_landmarks(path: str | os.PathLike | None = None, seed: int = 0) -> Bunch:
    """Posed 3-D facial landmarks with person, expression and intensity labels.

    Parameters
    ----------
    path : path-like, optional
        A real data set as ``.npz`` with arrays ``landmarks`` (n, L, 3) float, ``person`` (n,) int,
        ``expression`` (n,) int in 0..6 (0 = neutral, then :data:`EXPRESSIONS`), ``intensity`` (n,) int in
        0..4 (0 for neutral), ``right_eye_lower`` and ``left_eye_lower`` (indices of the lower-eyelid
        landmarks, used to find the eyes). Each person needs exactly one neutral face.
        Default: ``<course dir>/face_landmarks.npz`` if present, else :func:`make_face_landmarks` ``(seed=seed)``.
    seed : int
        Seed of the generator.

    Returns
    -------
    Bunch
        ``data`` (n, L, 3) landmarks; ``target`` (the file's ``expression``), ``person``, ``intensity`` (n,)
        int64; ``neutral`` (n, L, 3), the neutral face of each sample's person; ``target_names`` (the
        expressions); ``right_eye_lower``,
        ``left_eye_lower``; ``region`` (L,) or ``None``; and the source fields ``source_kind``, ``source``,
        ``path``, ``description``.
    """
    file = course_file(path, FACE_LANDMARKS_FILE)
    description = "3-D facial landmarks: people x (neutral + 6 expressions x 4 intensities)."
    if file is None:
        data = make_face_landmarks(seed=seed)
        data.neutral = _neutral_of_each(data.data, data.person, data.target, "make_face_landmarks")
        return Bunch(**data, source_kind="generated", path=None, description=description,
                     source=f"generated: make_face_landmarks(seed={seed}) from the MediaPipe template of "
                            "skimage.data.astronaut(), stand-in for BU-3DFE")
    arrays = read_npz(file, "the arrays landmarks, person, expression, intensity, right_eye_lower, left_eye_lower "
                            "(see load_face_landmarks's docstring)")
    required = ("landmarks", "person", "expression", "intensity", "right_eye_lower", "left_eye_lower")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise DataShapeError(f"{file} lacks the arrays {missing}; it needs {list(required)} "
                             "(see load_face_landmarks's docstring).")
    if not np.issubdtype(arrays["landmarks"].dtype, np.number) or np.iscomplexobj(arrays["landmarks"]):
        raise DataShapeError(f"{file}: landmarks has dtype {arrays['landmarks'].dtype}; expected real numbers "
                             "(n, L, 3).")
    landmarks = np.asarray(arrays["landmarks"], dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[2] != 3 or len(landmarks) == 0:
        raise DataShapeError(f"{file}: landmarks has shape {landmarks.shape}; expected (n, L, 3).")
    if not np.all(np.isfinite(landmarks)):
        raise DataShapeError(f"{file}: landmarks contains NaN or infinite values.")
    labels = {key: _whole_numbers(arrays[key], f"{file}: {key}") for key in ("person", "expression", "intensity")}
    for key, values in labels.items():
        if values.shape != (len(landmarks),):
            raise DataShapeError(f"{file}: {key} has shape {values.shape}; expected ({len(landmarks)},), one label "
                                 "per face.")
    for key, high in (("expression", len(EXPRESSIONS) - 1), ("intensity", 4)):
        outside = labels[key][(labels[key] < 0) | (labels[key] > high)]
        if len(outside):
            raise DataShapeError(f"{file}: {key} labels must lie in 0..{high}; {len(outside)} do not, e.g. "
                                 f"{outside[0]}.")
    neutral_face = labels["expression"] == 0
    mismatch = np.flatnonzero(neutral_face != (labels["intensity"] == 0))
    if len(mismatch):
        i = mismatch[0]
        raise DataShapeError(f"{file}: face {i} has expression {labels['expression'][i]} and intensity "
                             f"{labels['intensity'][i]} ({len(mismatch)} faces like it); expected intensity 0 for "
                             "the neutral expression (0) and 1..4 for the others.")
    eyes = {key: _whole_numbers(arrays[key], f"{file}: {key}").ravel() for key in ("right_eye_lower", "left_eye_lower")}
    for key, index in eyes.items():
        if len(index) == 0 or index.min() < 0 or index.max() >= landmarks.shape[1]:
            raise DataShapeError(f"{file}: {key} must hold landmark indices in 0..{landmarks.shape[1] - 1}; got "
                                 f"{index.tolist()}.")
    right = landmarks[:, eyes["right_eye_lower"]].mean(axis=1)
    left = landmarks[:, eyes["left_eye_lower"]].mean(axis=1)
    same = np.flatnonzero(np.linalg.norm(left - right, axis=1) <= 1e-9 * (1 + np.abs(landmarks).max()))
    if len(same):
        raise DataShapeError(f"{file}: the two eyes (right_eye_lower {eyes['right_eye_lower'].tolist()}, "
                             f"left_eye_lower {eyes['left_eye_lower'].tolist()}) are at the same point in "
                             f"{len(same)} faces (the first is face {same[0]}); expected the indices of each "
                             "eye's lower-eyelid landmarks, which faces are normalised by.")
    neutral = _neutral_of_each(landmarks, labels["person"], labels["expression"], str(file))
    return Bunch(data=landmarks, neutral=neutral, person=labels["person"], target=labels["expression"],
                 intensity=labels["intensity"], **eyes, target_names=list(EXPRESSIONS),
                 region=arrays.get("region"), source_kind="course file", path=file, description=description,
                 source=f"course file {display_path(file)}")


# ----------------------------------------------------------------------------- preprocessing


def normalize_faces(landmarks: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray) -> np.ndarray:
    """Centre each face on the point between the eyes and scale it to unit inter-ocular distance.

    An eye's position is the centre of its lower-eyelid landmarks (robust to blinking, as in the thesis).

    Parameters
    ----------
    landmarks : (n, L, 3) array
    right_eye, left_eye : index arrays
        The lower-eyelid landmarks of each eye.

    Returns
    -------
    (n, L, 3) array; the eyes' midpoint is at the origin and the eyes are 1 apart.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[2] != 3:
        raise ValueError(f"Expected landmarks of shape (n, L, 3); got {landmarks.shape}.")
    right = landmarks[:, right_eye].mean(axis=1, keepdims=True)
    left = landmarks[:, left_eye].mean(axis=1, keepdims=True)
    distance = np.linalg.norm(left - right, axis=2, keepdims=True)
    if np.any(distance <= 1e-12):
        raise ValueError("Some faces have their two eyes at the same point; check the eye indices.")
    return (landmarks - (left + right) / 2) / distance
