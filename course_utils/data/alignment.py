"""Align a face image on its two outer eye corners with one similarity transform (OpenCV).

The kit's only face-alignment warp: the RaFD stand-in puts its base photographs on a canvas with it
(:func:`course_utils.data.faces.base_faces`) and notebook 05 crops faces with it
(:func:`course_utils.landmarks.align_face`). OpenCV is imported when a function runs, not on import.
"""

from __future__ import annotations

import numpy as np


def eye_similarity(right_eye: np.ndarray, left_eye: np.ndarray, eye_distance: float,
                   eye_centre: tuple[float, float]) -> np.ndarray:
    """The 2 x 3 similarity matrix (rotation, uniform scale, shift) that levels two eye corners.

    Parameters
    ----------
    right_eye, left_eye : (2,) arrays
        Pixel positions ``(x, y)`` of the outer corners of the subject's right and left eye.
    eye_distance : float
        Distance between the corners after the transform, in pixels.
    eye_centre : (float, float)
        Where their midpoint goes, ``(x, y)`` in pixels.

    Returns
    -------
    (2, 3) float64 array ``M`` mapping a point ``p`` to ``M @ (x, y, 1)``, as ``cv2.warpAffine`` takes it.
    """
    import cv2

    right, left = np.asarray(right_eye, np.float64), np.asarray(left_eye, np.float64)
    angle = np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))
    scale = eye_distance / np.linalg.norm(left - right)
    centre = (left + right) / 2
    M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), float(scale))
    M[:, 2] += np.asarray(eye_centre, np.float64) - centre
    return M


def align_on_eyes(image: np.ndarray, right_eye: np.ndarray, left_eye: np.ndarray, size: tuple[int, int],
                  eye_distance: float, eye_centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` so that the eye corners are level, ``eye_distance`` apart, centred on ``eye_centre``.

    A similarity transform from the two eye corners only (:func:`eye_similarity`), so the result does not
    depend on the expression; area interpolation, the border reflected.

    Parameters
    ----------
    image : (h, w) or (h, w, c) array
    right_eye, left_eye : (2,) arrays
        Pixel positions ``(x, y)`` of the outer eye corners in ``image``.
    size : (int, int)
        ``(height, width)`` of the output.
    eye_distance, eye_centre
        As for :func:`eye_similarity`, in output pixels.

    Returns
    -------
    (aligned, M)
        The (height, width[, c]) image and the 2 x 3 matrix used (to move landmarks the same way).
    """
    import cv2

    M = eye_similarity(right_eye, left_eye, eye_distance, eye_centre)
    h, w = size
    aligned = cv2.warpAffine(image, M, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101)
    return aligned, M
