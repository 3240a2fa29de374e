"""Checks of notebook 02 (diffusion maps): the four pieces of the lecture algorithm on hidden point clouds,
and the figures they drive (circle, swiss roll, pedestrians).

The hidden point clouds are dense enough for the kernel to connect them and are redrawn until the leading
eigenvalues are well separated, so that eigenvectors are defined up to sign only (``normalize`` fixes the
sign, as the notebook asks the student to do with ``course_utils.dmaps.fix_signs``).
"""

import numpy as np

from course_utils.dmaps import fix_signs
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference.dmaps import (
    diffusion_eigenpairs,
    diffusion_map,
    diffusion_normalize,
    kernel_matrix,
)

EXERCISE = "02_diffusion_maps"
L_CHECK = 4


def _cloud(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` points in a random rectangle-ish region (2-D to 4-D), well separated leading eigenvalues."""
    for _ in range(50):
        d = int(rng.integers(2, 5))
        X = rng.uniform(size=(n, d)) * rng.uniform(0.3, 1.0, size=d) * rng.uniform(0.5, 3.0)
        W, eps = kernel_matrix(X)
        a = np.sort(np.linalg.eigvalsh(diffusion_normalize(W)[0]))[::-1][: L_CHECK + 2]
        if np.min(-np.diff(a)) > 1e-3 * a[1]:
            return X
    raise RuntimeError("no point cloud with separated eigenvalues in 50 draws")


def _clouds(rng: np.random.Generator) -> list[tuple]:
    return [(_cloud(rng, n),) for n in (40, 60, 90, 120)]


def _kernels(rng: np.random.Generator) -> list[tuple]:
    return [(kernel_matrix(_cloud(rng, n))[0],) for n in (10, 40, 70, 100)]


def _normalized(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (40, 60, 90, 120):
        W, eps = kernel_matrix(_cloud(rng, n))
        T, sqrt_q = diffusion_normalize(W)
        cases.append((T, sqrt_q, eps, L_CHECK))
    return cases


def _maps(rng: np.random.Generator) -> list[tuple]:
    return [(_cloud(rng, n), L_CHECK) for n in (50, 80, 110)]


def _fix_phi_signs(values: list[np.ndarray]) -> list[np.ndarray]:
    """Eigenvectors have no natural sign: apply the kit's sign convention to ``phi`` (the second value)."""
    if len(values) != 2 or np.ndim(values[1]) != 2:
        return values
    return [values[0], fix_signs(values[1])]


CHECKS = [
    FunctionCheck("kernel_matrix", "kernel_matrix", _clouds, kernel_matrix, points=2, rtol=1e-7, atol=1e-10,
                  description="W = exp(-D^2 / eps) with eps = 5 % of the diameter, on random point clouds"),
    FunctionCheck("diffusion_normalize", "diffusion_normalize", _kernels, diffusion_normalize, points=2, rtol=1e-6,
                  atol=1e-12, description="T = Q^-1/2 P^-1 W P^-1 Q^-1/2 and sqrt(diag Q) on random kernels"),
    FunctionCheck("diffusion_eigenpairs", "diffusion_eigenpairs", _normalized, diffusion_eigenpairs, points=3,
                  rtol=1e-5, atol=1e-7, normalize=_fix_phi_signs,
                  description="lambda_l = a_l^(1/(2 eps)) and phi_l = Q^-1/2 v_l of the L + 1 largest eigenpairs"),
    FunctionCheck("diffusion_map", "diffusion_map", _maps, diffusion_map, points=2, rtol=1e-5, atol=1e-7,
                  normalize=_fix_phi_signs, description="the whole algorithm on random point clouds"),
    ResultCheck("circle_min_abs_corr", "circle_min_abs_corr", points=1, bounds=(0.999, 1.0)),
    ResultCheck("circle_max_eigenvalue_rel_error", "circle_max_eigenvalue_rel_error", points=1, bounds=(0.0, 2e-3)),
    ResultCheck("swissroll_first_not_function_of_phi1", "swissroll_first_not_function_of_phi1", points=1),
    ResultCheck("swissroll_min_mode_corr", "swissroll_min_mode_corr", points=1, bounds=(0.9, 1.0)),
    ResultCheck("pedestrians_dmap_n_eigenfunctions", "pedestrians_dmap_n_eigenfunctions", points=1),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"02-q1": 2, "02-q2": 2}

# Deliberate bugs for tools/grade_demo.py: exact (old, new) replacements in the instructor notebook.
DEMO_BUGS = {
    "kernel_without_square": [("W = np.exp(-D**2 / eps)", "W = np.exp(-D / eps)")],
    "normalize_skips_density": [("K = W / np.outer(p, p)", "K = W")],
    "eigenpairs_lambda_is_a": [("lam = a ** (1 / (2 * epsilon))", "lam = a")],
    "eigenpairs_phi_is_v": [("phi = V / sqrt_q[:, None]", "phi = V")],
}
