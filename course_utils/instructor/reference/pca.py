"""Reference answers of notebook 01 (PCA by singular value decomposition); instructor only.

The student implements these four functions in ``notebooks/01_pca.ipynb``; ``grading/01_pca.py`` compares
them with these, and the tests check these against scikit-learn's PCA.

For a data matrix ``X`` (n samples x d features): centre the columns, ``Xc = X - mean``, decompose
``Xc = U S V^T``. The rows of ``V^T`` are the principal directions, the energy of component ``i`` is
``s_i^2 / sum_j s_j^2``, and keeping the ``L`` largest components gives the best rank-``L`` approximation
``X_L = mean + Xc V_L V_L^T`` (Eckart-Young), which loses ``sum_{i > L} s_i^2 / sum_j s_j^2`` of the energy.
"""

from __future__ import annotations

import numpy as np


def _matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or min(X.shape) < 1:
        raise ValueError(f"PCA needs a 2-D data matrix (samples x features); got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("PCA got NaN or infinite values; clean the data first.")
    return X


def fit_pca(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of ``X`` (n, d) by a thin SVD of the centred data.

    Returns ``(mean, components, singular_values, energies)``: the column means (d,), the principal
    directions as rows (k, d) with ``k = min(n, d)``, the singular values (k,) largest first, and each
    component's share of the energy (k,), summing to 1.
    """
    X = _matrix(X)
    mean = X.mean(axis=0)
    _, s, Vt = np.linalg.svd(X - mean, full_matrices=False)
    total = np.sum(s**2)
    if total == 0:
        raise ValueError("The data have zero variance: every component's energy is undefined.")
    return mean, Vt, s, s**2 / total


def reconstruct(X: np.ndarray, n_components: int) -> np.ndarray:
    """Best rank-``n_components`` approximation of ``X`` (n, d) in the original coordinates (n, d)."""
    mean, Vt, s, _ = fit_pca(X)
    if not 0 <= n_components <= len(s):
        raise ValueError(f"n_components must be in [0, {len(s)}]; got {n_components}.")
    V = Vt[: int(n_components)]
    return mean + (np.asarray(X, dtype=np.float64) - mean) @ V.T @ V


def lost_energy(singular_values: np.ndarray, n_components: int) -> float:
    """Share of the energy lost when only the first ``n_components`` components are kept.

    ``n_components`` must be a whole number in ``[0, len(singular_values)]``: a negative one would count from
    the end (NumPy's indexing) and return a number that means nothing.
    """
    energies = np.asarray(singular_values, dtype=float) ** 2
    if (isinstance(n_components, bool) or not isinstance(n_components, int | np.integer)
            or not 0 <= n_components <= len(energies)):
        raise ValueError(f"n_components must be a whole number in [0, {len(energies)}] (how many components are "
                         f"kept); got {n_components!r}.")
    return float(energies[n_components:].sum() / energies.sum())


def smallest_rank_below(singular_values: np.ndarray, max_loss: float) -> int:
    """Smallest number of components ``L >= 1`` whose energy loss is strictly below ``max_loss``."""
    energies = np.asarray(singular_values, dtype=float) ** 2
    lost = 1.0 - np.cumsum(energies) / energies.sum()  # entry L - 1: loss with L components
    below = np.flatnonzero(lost < max_loss)
    if below.size == 0:
        raise ValueError(f"No number of components loses less than {max_loss}.")
    return int(below[0]) + 1
