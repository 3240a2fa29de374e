"""Checks of notebook 01 (PCA): the student's ``lost_energy`` and the figures it drives."""

import numpy as np

from course_utils.instructor.checks import FunctionCheck, ResultCheck

EXERCISE = "01_pca"


def _spectra(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in (1, 2, 5, 12, 40):
        s = np.sort(rng.gamma(1.0, size=n))[::-1] * rng.uniform(0.1, 100)
        for L in sorted({0, 1, n // 2, n}):
            cases.append((s, L))
    return cases


def _lost_energy(singular_values: np.ndarray, n_components: int) -> float:
    energies = np.asarray(singular_values, dtype=float) ** 2
    return float(energies[n_components:].sum() / energies.sum())


CHECKS = [
    FunctionCheck("lost_energy", "lost_energy", _spectra, _lost_energy, points=4,
                  description="energy share lost by a rank-L truncation, on random spectra"),
    ResultCheck("raccoon_loss_L10", "raccoon_loss_L10", points=1, rtol=1e-4),
    ResultCheck("raccoon_L_below_1pct", "raccoon_L_below_1pct", points=1),
    ResultCheck("pedestrians_loss_2pc", "pedestrians_loss_2pc", points=1, rtol=1e-4),
    ResultCheck("pedestrians_loss_3pc", "pedestrians_loss_3pc", points=1, rtol=1e-3, atol=1e-6),
    ResultCheck("pca_dataset_pc1_energy", "pca_dataset_pc1_energy", points=1, rtol=1e-4),
]
