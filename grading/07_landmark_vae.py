"""Checks of notebook 07 (landmark VAE): the triplet loss and the baselines of the results table.

Model 3 trains with the student's ``triplet_loss``; its scores depend on the training profile (graded
runs use the small one), so only the profile-independent baselines are compared with the reference run.
"""

import numpy as np

from course_utils.instructor.checks import FunctionCheck, ResultCheck

EXERCISE = "07_landmark_vae"


def _triplets(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for t, d, variance, spread in [(1, 2, 1.0, 1.0), (20, 4, 0.04, 1.0), (50, 30, 0.5, 3.0), (8, 3, 2.0, 0.01)]:
        ref, pos, neg = rng.normal(scale=spread, size=(3, t, d))
        cases.append((ref, pos, neg, variance))
    ref = rng.normal(size=(10, 5))
    cases.append((ref, ref + 0.01, ref + 20.0, 1.0))  # every triplet satisfied by a wide margin
    cases.append((ref, ref + 20.0, ref + 0.01, 0.1))  # every triplet violated
    return cases


def _triplet_loss(z_ref, z_pos, z_neg, topological_variance=1.0) -> float:
    d_pos = np.linalg.norm(z_ref - z_pos, axis=-1)
    d_neg = np.linalg.norm(z_ref - z_neg, axis=-1)
    return float(np.mean(np.logaddexp(0.0, d_pos - d_neg)) / topological_variance)


CHECKS = [
    FunctionCheck("triplet_loss", "triplet_loss", _triplets, _triplet_loss, points=5, rtol=1e-4, atol=1e-6,
                  description="mean softplus(d(ref, pos) - d(ref, neg)) / topological variance"),
    ResultCheck("triplets_raw", "triplets_raw", points=1, rtol=1e-4),
    ResultCheck("triplets_pca", "triplets_pca", points=1, rtol=1e-4),
    ResultCheck("svm_acc_pca", "svm_acc_pca", points=1, rtol=1e-4),
]
