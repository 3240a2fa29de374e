"""Checks of notebook 02 (diffusion maps): the student's kernel normalisation and the circle figures."""

import numpy as np
from scipy.spatial.distance import pdist, squareform

from course_utils.instructor.checks import FunctionCheck, ResultCheck

EXERCISE = "02_diffusion_maps"


def _kernels(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, d in [(3, 1), (10, 2), (40, 3), (25, 5)]:
        X = rng.normal(size=(n, d))
        D2 = squareform(pdist(X)) ** 2
        cases.append((np.exp(-D2 / (0.5 * D2.max())),))
    return cases


def _diffusion_normalize(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = W.sum(axis=1)
    K = W / np.outer(p, p)
    sqrt_q = np.sqrt(K.sum(axis=1))
    return K / np.outer(sqrt_q, sqrt_q), sqrt_q


CHECKS = [
    FunctionCheck("diffusion_normalize", "diffusion_normalize", _kernels, _diffusion_normalize, points=4, rtol=1e-6,
                  atol=1e-12, description="T = Q^-1/2 P^-1 W P^-1 Q^-1/2 and sqrt(diag Q) on random kernels"),
    ResultCheck("circle_own_normalization_agrees", "circle_own_normalization_agrees", points=1, expected=True),
    ResultCheck("circle_min_abs_corr", "circle_min_abs_corr", points=1, bounds=(0.999, 1.0)),
    ResultCheck("swissroll_first_not_function_of_phi1", "swissroll_first_not_function_of_phi1", points=1),
]
