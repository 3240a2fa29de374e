"""Checks of notebook 05 (RaFD multimodal): the landmark delta features and the landmark extraction.

The classifiers' accuracies depend on the training profile (graded runs use the small one), so they are
not compared; the delta features feed the MLP and the fusion model, whose inputs the function check covers.
"""

import numpy as np

from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.landmarks import landmark_deltas

EXERCISE = "05_rafd_multimodal"


def _faces(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (1, 3):
        neutral = rng.normal(size=(n, 478, 3))
        cases.append((neutral + rng.normal(scale=0.05, size=neutral.shape), neutral))
    neutral = rng.normal(size=(478, 3)) * rng.uniform(0.1, 10)
    cases.append((neutral + rng.normal(scale=0.1, size=neutral.shape), neutral))  # one face, any scale
    cases.append((neutral, neutral))  # a neutral face paired with itself: exactly zero
    small = rng.normal(size=(2, 5, 3))
    cases.append((small + 1.0, small, 3, 1))  # other eye landmarks
    return cases


def _reference(emote, neutral, left_eye=263, right_eye=33):
    return landmark_deltas(emote, neutral, left_eye, right_eye)


CHECKS = [
    FunctionCheck("landmark_deltas", "landmark_deltas", _faces, _reference, points=4, rtol=1e-5, atol=1e-5,
                  description="(emote - neutral) / neutral inter-ocular distance, flattened per face"),
    ResultCheck("landmark_detection_rate", "landmark_detection_rate", points=1, rtol=1e-4),
    ResultCheck("n_pairs_used", "n_pairs_used", points=1),
]
