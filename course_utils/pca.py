"""Principal component analysis by singular value decomposition (``numpy.linalg.svd``).

For a data matrix ``X`` (n samples x d features), centre the columns, ``Xc = X - mean``, and decompose
``Xc = U S V^T``. The rows of ``V^T`` are the principal directions, ``U S`` the coordinates of the samples
along them, and the energy of component ``i`` is ``s_i^2 / sum_j s_j^2``. Keeping the ``L`` largest
components gives the best rank-``L`` approximation ``X_L = mean + U_L S_L V_L^T`` (Eckart-Young), whose
lost energy is ``sum_{i > L} s_i^2 / sum_j s_j^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCAResult:
    """The decomposition of a centred data matrix.

    Attributes
    ----------
    mean : numpy.ndarray, shape (d,)
        Column means that were subtracted (zeros if the data were not centred).
    components : numpy.ndarray, shape (k, d)
        Principal directions as rows (``V^T``), ``k = min(n, d)``, largest singular value first.
    singular_values : numpy.ndarray, shape (k,)
        Singular values ``s_1 >= s_2 >= ... >= s_k >= 0``.
    scores : numpy.ndarray, shape (n, k)
        Coordinates of the samples along the principal directions, ``U S``.
    """

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray
    scores: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of components, ``min(n, d)``."""
        return len(self.singular_values)


def fit_pca(X: np.ndarray, center: bool = True) -> PCAResult:
    """Decompose ``X`` into principal components with a thin SVD.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Data matrix, one sample per row. Must be finite.
    center : bool
        Subtract the column means first (PCA proper). ``False`` decomposes ``X`` as it is.

    Returns
    -------
    PCAResult
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or min(X.shape) < 1:
        raise ValueError(f"PCA needs a 2-D data matrix (samples x features); got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("PCA got NaN or infinite values; clean the data first.")
    mean = X.mean(axis=0) if center else np.zeros(X.shape[1])
    U, s, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return PCAResult(mean=mean, components=Vt, singular_values=s, scores=U * s)


def _check_rank(result: PCAResult, n_components: int) -> int:
    if not 0 <= n_components <= result.n_components:
        raise ValueError(f"n_components must be in [0, {result.n_components}]; got {n_components}.")
    return int(n_components)


def energy(result: PCAResult) -> np.ndarray:
    """Energy of each component, ``s_i^2 / sum_j s_j^2``; shape (k,), sums to 1."""
    squared = result.singular_values**2
    total = squared.sum()
    if total == 0:
        raise ValueError("The data have zero variance: every component's energy is undefined.")
    return squared / total


def energy_lost(result: PCAResult, n_components: int) -> float:
    """Fraction of the energy lost when only the ``n_components`` largest components are kept."""
    n_components = _check_rank(result, n_components)
    return float(energy(result)[n_components:].sum())


def energy_lost_curve(result: PCAResult) -> np.ndarray:
    """Energy lost for every ``L = 1 .. k``; shape (k,), entry ``L - 1`` is ``energy_lost(result, L)``."""
    return np.clip(1.0 - np.cumsum(energy(result)), 0.0, 1.0)


def smallest_rank_below(result: PCAResult, max_loss: float) -> int:
    """Smallest number of components whose energy loss is strictly below ``max_loss``."""
    curve = energy_lost_curve(result)
    below = np.flatnonzero(curve < max_loss)
    if below.size == 0:
        raise ValueError(f"No number of components loses less than {max_loss}.")
    return int(below[0]) + 1


def project(result: PCAResult, n_components: int) -> np.ndarray:
    """Coordinates of the samples on the first ``n_components`` directions; shape (n, n_components)."""
    return result.scores[:, : _check_rank(result, n_components)]


def reconstruct(result: PCAResult, n_components: int) -> np.ndarray:
    """Best rank-``n_components`` approximation of the data, in the original coordinates; shape (n, d)."""
    L = _check_rank(result, n_components)
    return result.mean + result.scores[:, :L] @ result.components[:L]
