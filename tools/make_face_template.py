"""Make the shipped face template: 83 salient MediaPipe landmarks of a real photo, as 3-D points.

Runs Google's MediaPipe Face Landmarker (from the kit's registry, cached) once on
``skimage.data.astronaut()`` (a real photo that ships inside scikit-image), keeps 83 of its 478 landmarks
in the layout of the BU-3DFE posed data set of the thesis (seed 004): 10 per eyebrow, 8 per eye, 12 on the
nose, 20 on the mouth (12 outer, 8 inner lip) and 15 on the jaw line, and writes them to
``course_utils/data/face_template.npz``:

- ``points`` (83, 3) float64: x to the subject's left on the image (image right), y up, z towards the
  camera, in units of the inter-ocular distance, centred on the point between the eyes, head roll removed;
- ``mediapipe_index`` (83,) int64: the landmark's index in MediaPipe's 478-point face mesh;
- ``region`` (83,) str: ``right_eyebrow``, ``left_eyebrow``, ``right_eye``, ``left_eye``, ``nose_bridge``,
  ``nose_base``, ``outer_lips``, ``inner_lips`` or ``jaw`` (left/right are the subject's, as in MediaPipe);
- ``source`` () str: what it was made from.

Usage::

    .venv/bin/python tools/make_face_template.py            # rewrite the shipped asset
    .venv/bin/python tools/make_face_template.py --check    # exit 1 if the asset differs from a fresh run

``tests/test_face_landmarks.py`` checks that a fresh run equals the shipped asset (to 1e-3 IOD).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "course_utils" / "data" / "face_template.npz"

# MediaPipe face-mesh indices, in drawing order within each region (a BU-3DFE-like 83-point layout).
REGIONS: dict[str, list[int]] = {
    "right_eyebrow": [46, 53, 52, 65, 55, 107, 66, 105, 63, 70],
    "left_eyebrow": [276, 283, 282, 295, 285, 336, 296, 334, 293, 300],
    "right_eye": [33, 161, 159, 157, 133, 154, 145, 163],
    "left_eye": [263, 388, 386, 384, 362, 381, 374, 390],
    "nose_bridge": [168, 6, 197, 195, 5, 4, 1],
    "nose_base": [64, 98, 2, 327, 294],
    "outer_lips": [61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91],
    "inner_lips": [78, 81, 13, 311, 308, 402, 14, 178],
    "jaw": [234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454],
}
LOWER_EYELIDS = {"right": [154, 145, 163], "left": [381, 374, 390]}
"""Lower-eyelid landmarks: an eye's position is their centre (the thesis's choice, robust to blinking)."""

DECIMALS = 5


def detect_astronaut() -> np.ndarray:
    """The 478 MediaPipe landmarks of ``skimage.data.astronaut()`` in pixels: (478, 3), x right, y down."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision
    from skimage import data

    from course_utils.data import REGISTRY, fetch

    image = np.ascontiguousarray(data.astronaut())
    model = np.load(fetch(REGISTRY["face_landmarker"]))["model"]
    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_buffer=bytes(model)), num_faces=1)
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
    if len(result.face_landmarks) != 1:
        raise RuntimeError(f"Expected one face in the astronaut photo, found {len(result.face_landmarks)}.")
    height, width = image.shape[:2]
    # MediaPipe: x, y normalised by the image width and height; z on roughly the scale of x.
    return np.array([[p.x * width, p.y * height, p.z * width] for p in result.face_landmarks[0]])


def make_template(mesh: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The template arrays (see the module docstring), from a 478-point mesh (default: the astronaut's)."""
    mesh = detect_astronaut() if mesh is None else np.asarray(mesh, dtype=np.float64)
    points = mesh * np.array([1.0, -1.0, -1.0])  # y up, z towards the camera
    right = points[LOWER_EYELIDS["right"]].mean(axis=0)
    left = points[LOWER_EYELIDS["left"]].mean(axis=0)
    points = points - (right + left) / 2
    axis = left - right
    angle = np.arctan2(axis[1], axis[0])  # head roll in the image plane
    c, s = np.cos(-angle), np.sin(-angle)
    points = points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    points /= np.linalg.norm(axis)
    index = np.array([i for ids in REGIONS.values() for i in ids], dtype=np.int64)
    region = np.array([name for name, ids in REGIONS.items() for _ in ids])
    return {
        "points": np.round(points[index], DECIMALS),
        "mediapipe_index": index,
        "region": region,
        "source": np.array("MediaPipe Face Landmarker on skimage.data.astronaut(), 83 of 478 landmarks"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped asset, write nothing")
    parser.add_argument("--out", type=Path, default=ASSET, help=f"where to write (default {ASSET.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    template = make_template()
    if args.check:
        shipped = np.load(ASSET)
        same = np.allclose(shipped["points"], template["points"], atol=1e-3) and np.array_equal(
            shipped["mediapipe_index"], template["mediapipe_index"])
        print("the shipped template matches a fresh run" if same else "the shipped template DIFFERS from a fresh run")
        return 0 if same else 1
    np.savez(args.out, **template)
    print(f"wrote {args.out}: {len(template['points'])} landmarks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
