"""Checks of notebook 02 (diffusion maps): the four pieces of the lecture algorithm on hidden point clouds,
and the figures they drive (circle, swiss roll, pedestrians).

The hidden point clouds are dense enough for the kernel to connect them and are redrawn until the leading
eigenvalues are well separated, so that eigenvectors are defined up to sign only (``normalize`` fixes the
sign, as the notebook asks the student to do with ``course_utils.dmaps.fix_signs``).
"""

import numpy as np
from scipy.spatial.distance import pdist, squareform

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


def _map_helpers(X: np.ndarray, L: int) -> dict[str, list[tuple]]:
    """The calls ``diffusion_map(X, L)`` makes of the three pieces, with the reference's intermediate values."""
    W, eps = kernel_matrix(X)
    T, sqrt_q = diffusion_normalize(W)
    return {"kernel_matrix": [(X,)], "diffusion_normalize": [(W,)], "diffusion_eigenpairs": [(T, sqrt_q, eps, L)]}


MAP_USES = {name: (function, lambda X, L, name=name: _map_helpers(X, L)[name])
            for name, function in [("kernel_matrix", kernel_matrix), ("diffusion_normalize", diffusion_normalize),
                                   ("diffusion_eigenpairs", diffusion_eigenpairs)]}
PIECES = ("kernel_matrix", "diffusion_normalize", "diffusion_eigenpairs", "diffusion_map")


def _eps_ratio(case: tuple, got: list, want: list) -> bool:
    return len(got) == 2 and np.ndim(got[1]) == 0 and not np.isclose(float(got[1]), float(want[1]))


def _kernel_without_square(case: tuple, got: list, want: list) -> bool:
    distances = squareform(pdist(np.asarray(case[0], dtype=float)))
    return np.allclose(got[0], np.exp(-distances / (0.05 * distances.max())), atol=1e-9)


HINTS_KERNEL = (
    (_kernel_without_square, "W looks like exp(-D / eps): the kernel uses the squared distance, exp(-D^2 / eps)."),
    (_eps_ratio, "eps differs from the reference: it is 5 % of the largest pairwise distance (the diameter)."),
)
HINTS_NORMALIZE = (
    (lambda case, got, want: np.allclose(got[1] ** 2, want[1], rtol=1e-6) or np.allclose(got[1], want[1] ** 2),
     "sqrt_q is off by a square (root): it holds the square roots of the row sums of K."),
    (lambda case, got, want: np.allclose(got[1], np.sqrt(case[0].sum(axis=1)), rtol=1e-6),
     "sqrt_q comes from W's row sums: divide W by the outer product of its row sums (K = P^-1 W P^-1) first."),
)
HINTS_EIGENPAIRS = (
    (lambda case, got, want: np.allclose(got[0], want[0] ** (2 * case[2]), rtol=1e-5),
     "lambda is the eigenvalue a of T itself: the diffusion map's eigenvalues are a^(1 / (2 eps))."),
    (lambda case, got, want: np.allclose(np.abs(got[1]), np.abs(want[1] * case[1][:, None]), rtol=1e-4, atol=1e-7),
     "phi is the eigenvector v of T: the eigenfunctions are Q^-1/2 v."),
    (lambda case, got, want: bool(np.nanmax(got[0]) < np.min(want[0])),
     "Every eigenvalue is below the reference's: the diffusion map takes the L + 1 largest eigenpairs of T."),
)

CHECKS = [
    FunctionCheck("kernel_matrix", "kernel_matrix", _clouds, kernel_matrix, points=2, rtol=1e-7, atol=1e-10,
                  returns=("W", "eps"), hints=HINTS_KERNEL,
                  description="W = exp(-D^2 / eps) with eps = 5 % of the diameter, on random point clouds"),
    FunctionCheck("diffusion_normalize", "diffusion_normalize", _kernels, diffusion_normalize, points=2, rtol=1e-6,
                  returns=("T", "sqrt_q"), hints=HINTS_NORMALIZE,
                  atol=1e-12, description="T = Q^-1/2 P^-1 W P^-1 Q^-1/2 and sqrt(diag Q) on random kernels"),
    FunctionCheck("diffusion_eigenpairs", "diffusion_eigenpairs", _normalized, diffusion_eigenpairs, points=3,
                  rtol=1e-5, atol=1e-7, normalize=_fix_phi_signs, returns=("lambda", "phi"), hints=HINTS_EIGENPAIRS,
                  description="lambda_l = a_l^(1/(2 eps)) and phi_l = Q^-1/2 v_l of the L + 1 largest eigenpairs"),
    FunctionCheck("diffusion_map", "diffusion_map", _maps, diffusion_map, points=2, rtol=1e-5, atol=1e-7,
                  normalize=_fix_phi_signs, returns=("lambda", "phi"), uses=MAP_USES,
                  description="the whole algorithm on random point clouds (with the reference's three pieces, so "
                              "that a bug in one of them is not charged twice)"),
    ResultCheck("circle_min_abs_corr", "circle_min_abs_corr", points=1, bounds=(0.999, 1.0), depends_on=PIECES,
                description="phi_1..phi_4 on the circle match cos/sin of t and 2t"),
    ResultCheck("circle_max_eigenvalue_rel_error", "circle_max_eigenvalue_rel_error", points=1, bounds=(0.0, 2e-3),
                depends_on=PIECES, description="lambda_1..lambda_4 on the circle match the Bessel-function theory"),
    ResultCheck("swissroll_first_not_function_of_phi1", "swissroll_first_not_function_of_phi1", points=1,
                depends_on=PIECES, description="the first eigenfunction on the swiss roll that is not a function of "
                                               "phi_1"),
    ResultCheck("swissroll_min_mode_corr", "swissroll_min_mode_corr", points=1, bounds=(0.9, 1.0), depends_on=PIECES,
                description="the swiss roll's eigenfunctions match the predicted modes"),
    ResultCheck("pedestrians_dmap_n_eigenfunctions", "pedestrians_dmap_n_eigenfunctions", points=1,
                depends_on=PIECES,
                description="eigenfunctions needed to embed the pedestrians without self-intersection"),
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
    "kernel_eps_whole_diameter": [("eps = 0.05 * D.max()", "eps = D.max()")],
    "normalize_q_without_root": [("sqrt_q = np.sqrt(K.sum(axis=1))", "sqrt_q = K.sum(axis=1)")],
    "eigenpairs_smallest": [("subset_by_index=[n - n_eigenfunctions - 1, n - 1]",
                             "subset_by_index=[0, n_eigenfunctions]")],
}
