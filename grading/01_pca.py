"""Checks of notebook 01 (PCA): the student's four functions on hidden inputs, and the figures they drive.

Every function check draws its inputs at grading time; edge cases (``L = 0``, ``L = n``, a threshold that
one component already meets) are marked and share only 20 % of a check's points.
"""

import numpy as np

from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference.pca import fit_pca, lost_energy, reconstruct, smallest_rank_below

EXERCISE = "01_pca"


def _data(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Correlated data with distinct variances along random directions and a non-zero mean (n > d)."""
    scales = np.sort(rng.uniform(0.2, 5.0, size=d))[::-1]
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return (rng.normal(size=(n, d)) * scales) @ basis.T + rng.normal(scale=3.0, size=d)


def _matrices(rng: np.random.Generator) -> list[tuple]:
    return [(_data(rng, n, d),) for n, d in [(30, 2), (50, 3), (80, 5), (200, 8), (40, 12), (120, 30)]]


def _reconstructions(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, d in [(40, 3), (60, 5), (100, 8), (150, 12)]:
        X = _data(rng, n, d)
        cases += [(X, int(L)) for L in sorted({1, int(rng.integers(2, d)), d - 1})]
        cases += [(X, 0), (X, d)]
    return cases


def _spectra(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (3, 5, 12, 40, 100):
        s = np.sort(rng.gamma(1.0, size=n))[::-1] * rng.uniform(0.1, 100)
        cases += [(s, int(L)) for L in sorted({1, int(rng.integers(1, n)), n - 1})]
        cases += [(s, 0), (s, n)]
    return cases


def _thresholds(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (4, 10, 30, 80, 185):
        s = np.sort(rng.gamma(0.7, size=n))[::-1] * rng.uniform(0.1, 100)
        lost = 1 - np.cumsum(s**2) / np.sum(s**2)
        for L in sorted({int(rng.integers(2, n)), n - 1}):  # a threshold strictly between lost(L) and lost(L - 1)
            cases.append((s, float(lost[L - 1] + rng.uniform(0.05, 0.95) * (lost[L - 2] - lost[L - 1]))))
        cases.append((s, float(lost[0] + 0.01)))  # edge: one component already loses less
    return cases


def _fix_component_signs(values: list[np.ndarray]) -> list[np.ndarray]:
    """Principal directions have no natural sign: flip each row so that its largest entry is positive."""
    if len(values) != 4 or np.ndim(values[1]) != 2:
        return values
    components = np.asarray(values[1], dtype=float)
    rows = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), rows])
    signs[signs == 0] = 1
    return [values[0], components * signs[:, None], values[2], values[3]]


def _uncentred_directions(case: tuple, got: list, want: list) -> bool:
    directions = np.linalg.svd(case[0], full_matrices=False)[2]
    return np.shape(got[1]) == directions.shape and np.allclose(np.abs(got[1]), np.abs(directions), atol=1e-6)


HINTS_FIT_PCA = (
    (_uncentred_directions, "The directions are those of the uncentred data: did you subtract the column means "
                            "before the SVD?"),
    (lambda case, got, want: np.allclose(got[3], want[2] / np.sum(want[2])),
     "The energies are proportional to the singular values: a component's energy is its squared singular value."),
    (lambda case, got, want: np.shape(got[1]) == (len(case[0]), len(want[2])) != np.shape(want[1]),
     "`components` has one row per data point: the principal directions are the rows of V^T (right singular "
     "vectors), not the columns of U."),
)
HINTS_RECONSTRUCT = (
    (lambda case, got, want: np.allclose(got[0] + case[0].mean(axis=0), want[0], atol=1e-6),
     "The reconstruction is off by the column means: add the mean back after projecting."),
    (lambda case, got, want: case[1] < case[0].shape[1] and np.allclose(got[0], case[0], atol=1e-6),
     "The reconstruction equals X: keep only the first n_components directions."),
)
HINTS_LOST = (
    (lambda case, got, want: np.isclose(got[0], np.sum(case[0][case[1]:]) / np.sum(case[0])),
     "The loss is computed from the singular values themselves: the energies are their squares."),
    (lambda case, got, want: np.isclose(got[0], 1 - want[0]), "This is the share of the energy kept, not lost."),
)
HINTS_RANK = (
    (lambda case, got, want: int(got[0]) == int(want[0]) + 1,
     "One component more than needed: return the first L whose loss is below the threshold."),
)

CHECKS = [
    FunctionCheck("fit_pca", "fit_pca", _matrices, fit_pca, points=3, rtol=1e-6, atol=1e-8, hints=HINTS_FIT_PCA,
                  returns=("mean", "components", "singular_values", "energies"),
                  normalize=_fix_component_signs, leak_parts=(1, 2, 3),  # the column means are no answer
                  description="mean, principal directions (up to sign), singular values and energies"),
    FunctionCheck("reconstruct", "reconstruct", _reconstructions, reconstruct, points=3, rtol=1e-6, atol=1e-8,
                  edge=lambda X, L: L in (0, X.shape[1]), uses={"fit_pca": (fit_pca, lambda X, L: [(X,)])},
                  hints=HINTS_RECONSTRUCT, returns=("reconstruction",),
                  description="best rank-L approximation in the original coordinates"),
    FunctionCheck("lost_energy", "lost_energy", _spectra, lost_energy, points=2, hints=HINTS_LOST,
                  returns=("lost share",),
                  edge=lambda s, L: L in (0, len(s)),
                  description="energy share lost by a rank-L truncation, on random spectra"),
    FunctionCheck("smallest_rank_below", "smallest_rank_below", _thresholds, smallest_rank_below, points=2,
                  edge=lambda s, max_loss: smallest_rank_below(s, max_loss) == 1,
                  uses={"lost_energy": (lost_energy, lambda s, max_loss: [(s, L) for L in range(len(s) + 1)])},
                  hints=HINTS_RANK, returns=("L",),
                  description="smallest L whose loss is strictly below a threshold"),
    ResultCheck("pca_dataset_pc1_energy", "pca_dataset_pc1_energy", points=1, rtol=1e-4, depends_on=("fit_pca",),
                description="energy share of the first component of the 2-D data set"),
    ResultCheck("raccoon_recon_L50_rmse", "raccoon_recon_L50_rmse", points=1, rtol=1e-4,
                depends_on=("fit_pca", "reconstruct"),
                description="RMS pixel error of the raccoon reconstructed from 50 components"),
    ResultCheck("raccoon_loss_L10", "raccoon_loss_L10", points=1, rtol=1e-4, depends_on=("fit_pca", "lost_energy"),
                description="energy the raccoon loses with 10 components"),
    ResultCheck("raccoon_L_below_1pct", "raccoon_L_below_1pct", points=1,
                depends_on=("fit_pca", "lost_energy", "smallest_rank_below"),
                description="smallest number of components that loses less than 1 % of the raccoon's energy"),
    ResultCheck("pedestrians_loss_2pc", "pedestrians_loss_2pc", points=1, rtol=1e-4,
                depends_on=("fit_pca", "lost_energy"), description="energy of the trajectories lost with 2 components"),
    ResultCheck("pedestrians_loss_3pc", "pedestrians_loss_3pc", points=1, rtol=1e-3, atol=1e-6,
                depends_on=("fit_pca", "lost_energy"), description="energy of the trajectories lost with 3 components"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"01-q1": 2}

# Deliberate bugs for tools/grade_demo.py: exact (old, new) replacements in the instructor notebook.
DEMO_BUGS = {
    "fit_pca_without_centring": [("np.linalg.svd(X - mean, full_matrices=False)",
                                  "np.linalg.svd(X, full_matrices=False)")],
    "fit_pca_energy_not_squared": [("energies = s**2 / np.sum(s**2)", "energies = s / np.sum(s)")],
    "fit_pca_u_for_v": [("_, s, Vt = np.linalg.svd(X - mean, full_matrices=False)",
                         "Vt, s, _ = np.linalg.svd(X - mean, full_matrices=False)")],
    "reconstruct_all_components": [("V = components[:n_components]", "V = components")],
    "reconstruct_forgets_mean": [("return mean + (X - mean) @ V.T @ V", "return (X - mean) @ V.T @ V")],
    "lost_energy_not_squared": [("energies = np.asarray(singular_values, dtype=float) ** 2",
                                 "energies = np.asarray(singular_values, dtype=float)")],
    "smallest_rank_off_by_one": [("            return L\n", "            return L + 1\n")],
    "lost_energy_kept_share": [("return float(energies[n_components:].sum() / energies.sum())",
                                "return float(energies[:n_components].sum() / energies.sum())")],
}
