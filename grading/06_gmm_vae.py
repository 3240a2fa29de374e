"""Checks of notebook 06 (GMM VAE): the high-quality share and the yardsticks scored with it."""

import numpy as np

from course_utils.data import make_gaussian_mixture
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.modes import mahalanobis_distances

EXERCISE = "06_gmm_vae"


def _mixtures(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for k, dim in [(1, 2), (3, 3), (5, 3), (2, 4)]:
        mixture = make_gaussian_mixture(n_samples=300, n_components=k, dim=dim, seed=int(rng.integers(1_000_000)))
        samples = mixture.points + rng.normal(scale=1.5, size=mixture.points.shape)  # some far from every mode
        cases.append((samples, mixture.means, mixture.covariances, 3.0))
    cases.append((cases[1][0], cases[1][1], cases[1][2], 1.5))
    return cases


def _high_quality_fraction(samples, means, covariances, threshold=3.0) -> float:
    return float(np.mean(mahalanobis_distances(samples, means, covariances).min(axis=1) <= threshold))


CHECKS = [
    FunctionCheck("high_quality_fraction", "high_quality_fraction", _mixtures, _high_quality_fraction, points=4,
                  description="share of samples within a Mahalanobis threshold of some component"),
    ResultCheck("gmm_reference_high_quality_fraction", "gmm_reference_high_quality_fraction", points=1, rtol=1e-4),
    ResultCheck("true_sample_high_quality_fraction", "true_sample_high_quality_fraction", points=1, rtol=1e-4),
]
