"""Reference answers of notebook 02 (the lecture's diffusion-map algorithm); instructor only.

For data ``x_1 .. x_N``: the distance matrix ``D``, ``eps = 5 %`` of the data set's diameter, the kernel
``W = exp(-D**2 / eps)``, ``P = diag(W 1)``, ``K = P^-1 W P^-1`` (removes the sampling density),
``Q = diag(K 1)`` and the symmetric ``T = Q^-1/2 K Q^-1/2``. The ``L + 1`` largest eigenpairs
``(a_l, v_l)`` of ``T`` give the eigenvalues ``lambda_l = a_l ** (1 / (2 eps))`` and the eigenfunctions
``phi_l = Q^-1/2 v_l`` (``phi_0`` is constant) of the Laplace-Beltrami operator on the data's manifold.

The density normalisation is the lecture's case ``alpha = 1`` of ``K = P^-alpha W P^-alpha``; every function
here takes ``alpha`` (a number in [0, 1] or a name of :data:`course_utils.dmaps.NORMALIZATIONS`: ``"graph
laplacian"`` 0, ``"fokker-planck"`` 0.5, ``"laplace-beltrami"`` 1), with the lecture's 1 as the default.

The student writes :func:`kernel_matrix`, :func:`diffusion_normalize`, :func:`diffusion_eigenpairs` and
:func:`diffusion_map` (dense) in ``notebooks/02_diffusion_maps.ipynb``; ``grading/02_diffusion_maps.py``
compares them with these. :func:`fit_diffusion_map` is a sparse version of the same algorithm (radius
graph + ``scipy.sparse.linalg.eigsh``) that ``tools/bench_dmaps.py`` times against
:func:`dense_diffusion_map`. None of this is released: it would hand the exercise's answer to a student.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh
from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.neighbors import radius_neighbors_graph

from ...dmaps import fix_signs, normalization_alpha

DIAMETER_FRACTION = 0.05
"""The lecture's kernel scale: ``eps`` is this fraction of the data set's diameter."""


def kernel_matrix(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Dense kernel ``W = exp(-D**2 / eps)`` (N, N) of the rows of ``X`` and ``eps = 5 %`` of the diameter."""
    D = squareform(pdist(np.asarray(X, dtype=np.float64)))
    eps = DIAMETER_FRACTION * float(D.max())
    return np.exp(-(D**2) / eps), eps


def diffusion_normalize(W: np.ndarray, alpha: float | str = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``T = Q^-1/2 K Q^-1/2`` with ``K = P^-alpha W P^-alpha`` (N, N), and ``sqrt(diag Q)`` (N,), for a dense ``W``.

    ``alpha = 1`` (default) is the lecture's ``K = P^-1 W P^-1``; see :func:`course_utils.dmaps.normalization_alpha`.
    """
    W = np.asarray(W, dtype=np.float64)
    p = W.sum(axis=1) ** normalization_alpha(alpha)
    K = W / np.outer(p, p)
    sqrt_q = np.sqrt(K.sum(axis=1))
    return K / np.outer(sqrt_q, sqrt_q), sqrt_q


def diffusion_eigenpairs(T: np.ndarray, sqrt_q: np.ndarray, epsilon: float, n_eigenfunctions: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The ``L + 1`` largest eigenpairs of the symmetric ``T`` as ``(lambda, phi)``, largest first.

    ``lambda_l = a_l ** (1 / (2 eps))`` (L + 1,) and ``phi_l = v_l / sqrt_q`` as columns (N, L + 1), each
    column's sign fixed by :func:`course_utils.dmaps.fix_signs`.
    """
    _check_epsilon(epsilon)
    T = np.asarray(T, dtype=np.float64)
    n = len(T)
    a, V = scipy.linalg.eigh((T + T.T) / 2, subset_by_index=[n - n_eigenfunctions - 1, n - 1])
    order = np.argsort(a)[::-1]
    a, V = a[order], V[:, order]
    phi = fix_signs(V / np.asarray(sqrt_q, dtype=np.float64)[:, None])
    return a ** (1.0 / (2.0 * epsilon)), phi


def diffusion_map(X: np.ndarray, n_eigenfunctions: int = 10, alpha: float | str = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The whole lecture algorithm on dense matrices: ``(lambda (L + 1,), phi (N, L + 1))``."""
    W, eps = kernel_matrix(X)
    T, sqrt_q = diffusion_normalize(W, alpha)
    return diffusion_eigenpairs(T, sqrt_q, eps, n_eigenfunctions)


@dataclass(frozen=True)
class DiffusionMap:
    """The leading eigenpairs of a diffusion map.

    Attributes
    ----------
    eigenvalues : numpy.ndarray, shape (L + 1,)
        ``lambda_l = a_l ** (1 / (2 eps))``, largest first; ``lambda_0 = 1``.
    kernel_eigenvalues : numpy.ndarray, shape (L + 1,)
        ``a_l``, the eigenvalues of the symmetric matrix ``T``, largest first.
    eigenfunctions : numpy.ndarray, shape (N, L + 1)
        ``phi_l = Q^-1/2 v_l`` as columns; ``phi_0`` is constant. Signs follow :func:`course_utils.dmaps.fix_signs`.
    epsilon : float
        Kernel scale used, ``W = exp(-D**2 / eps)``.
    mean_neighbors : float
        Mean number of kernel entries per row (``N`` for the dense version).
    alpha : float
        Exponent of the density normalisation ``K = P^-alpha W P^-alpha`` (1: the lecture's).
    """

    eigenvalues: np.ndarray
    kernel_eigenvalues: np.ndarray
    eigenfunctions: np.ndarray
    epsilon: float
    mean_neighbors: float
    alpha: float = 1.0

    @property
    def n_eigenfunctions(self) -> int:
        """``L``: the number of eigenfunctions after ``phi_0``."""
        return self.eigenfunctions.shape[1] - 1

    def embedding(self, n_components: int) -> np.ndarray:
        """The diffusion-map coordinates ``(phi_1, ..., phi_n)``; shape (N, n_components)."""
        if not 1 <= n_components <= self.n_eigenfunctions:
            raise ValueError(f"n_components must be in [1, {self.n_eigenfunctions}]; got {n_components}.")
        return self.eigenfunctions[:, 1 : n_components + 1]


def _check_epsilon(epsilon: float) -> float:
    """``epsilon`` as a float; anything but a positive, finite number is a ValueError naming it.

    ``epsilon < 0`` turns the kernel into ``exp(+D**2 / |eps|)`` (eigenvalues above 1), ``epsilon = 0`` divides by 0.
    """
    if isinstance(epsilon, bool) or not (isinstance(epsilon, int | float | np.number) and np.isfinite(epsilon)
                                         and epsilon > 0):
        raise ValueError(f"epsilon must be a positive, finite kernel scale (W = exp(-D**2 / epsilon)); "
                         f"got {epsilon!r}. Leave it out for the lecture's default, "
                         f"{DIAMETER_FRACTION:.0%} of the data set's diameter.")
    return float(epsilon)


def _check_data(X: np.ndarray, n_eigenfunctions: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"Diffusion maps need a 2-D data matrix with at least 2 samples; got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("Diffusion maps got NaN or infinite values; clean the data first.")
    if not 1 <= n_eigenfunctions < len(X) - 1:
        raise ValueError(f"n_eigenfunctions must be in [1, {len(X) - 2}]; got {n_eigenfunctions}.")
    return X


def diameter(X: np.ndarray, chunk_size: int = 2048) -> float:
    """Largest distance between two samples of ``X`` (shape (N, d)), computed in blocks of rows.

    Memory stays at ``chunk_size * N`` distances instead of ``N * N``.
    """
    X = np.asarray(X, dtype=np.float64)
    return float(max(cdist(X[i : i + chunk_size], X).max() for i in range(0, len(X), chunk_size)))


def default_epsilon(X: np.ndarray, fraction: float = DIAMETER_FRACTION) -> float:
    """The lecture's kernel scale, ``eps = fraction * diameter(X)`` (5 % by default)."""
    eps = fraction * diameter(X)
    if eps <= 0:
        raise ValueError("All samples coincide: the data set has no diameter to scale the kernel by.")
    return eps


def _normalize(W: np.ndarray | sp.csr_matrix, alpha: float = 1.0) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """``T = Q^-1/2 K Q^-1/2`` with ``K = P^-alpha W P^-alpha``; return ``T`` and ``sqrt(diag(Q))``."""
    p = np.asarray(W.sum(axis=1)).ravel() ** alpha
    if sp.issparse(W):
        K = sp.diags(1.0 / p) @ W @ sp.diags(1.0 / p)
        sqrt_q = np.sqrt(np.asarray(K.sum(axis=1)).ravel())
        T = sp.diags(1.0 / sqrt_q) @ K @ sp.diags(1.0 / sqrt_q)
        return ((T + T.T) * 0.5).tocsr(), sqrt_q
    K = W / np.outer(p, p)
    sqrt_q = np.sqrt(K.sum(axis=1))
    T = K / np.outer(sqrt_q, sqrt_q)
    return (T + T.T) * 0.5, sqrt_q


def _result(a: np.ndarray, V: np.ndarray, sqrt_q: np.ndarray, epsilon: float, mean_neighbors: float,
            alpha: float) -> DiffusionMap:
    """Sort the eigenpairs of ``T`` (largest first) and turn them into ``lambda_l`` and ``phi_l``."""
    order = np.argsort(a)[::-1]
    a, V = a[order], V[:, order]
    if np.any(a <= 0):
        raise ValueError("The kernel matrix has non-positive leading eigenvalues; increase epsilon.")
    phi = fix_signs(V / sqrt_q[:, None])
    return DiffusionMap(eigenvalues=a ** (1.0 / (2.0 * epsilon)), kernel_eigenvalues=a, eigenfunctions=phi,
                        epsilon=float(epsilon), mean_neighbors=float(mean_neighbors), alpha=alpha)


def sparse_kernel(X: np.ndarray, epsilon: float, radius: float) -> sp.csr_matrix:
    """The kernel ``W = exp(-D**2 / eps)`` restricted to pairs closer than ``radius``; sparse (N, N), symmetric.

    Self-pairs are kept (``W_ii = 1``); the radius graph stores them as explicit zeros of distance.
    """
    G = radius_neighbors_graph(X, radius, mode="distance", include_self=True)
    G.data = np.exp(-(G.data**2) / epsilon)
    return G.maximum(G.T).tocsr()  # symmetric even where rounding put a pair on one side of the radius only


def fit_diffusion_map(X: np.ndarray, n_eigenfunctions: int = 10, epsilon: float | None = None,
                      cutoff: float = 4.0, seed: int = 0, alpha: float | str = "laplace-beltrami") -> DiffusionMap:
    """Diffusion map of ``X`` with a sparse neighbourhood kernel and ``scipy.sparse.linalg.eigsh``.

    Parameters
    ----------
    X : array-like, shape (N, d)
        Data, one sample per row.
    n_eigenfunctions : int
        ``L``: eigenpairs computed after the constant ``phi_0`` (``L + 1`` in all).
    epsilon : float, optional
        Kernel scale in ``W = exp(-D**2 / eps)``; default: 5 % of the data set's diameter, as in the lecture.
    cutoff : float
        Neighbourhood radius in units of ``sqrt(eps)``: pairs farther apart than ``cutoff * sqrt(eps)``
        get no kernel entry. Every entry dropped is below ``exp(-cutoff**2)`` (``1.1e-7`` for the default 4).
    seed : int
        Seed of the eigensolver's start vector (the result does not depend on it beyond rounding).
    alpha : str or float
        Density normalisation ``K = P^-alpha W P^-alpha``: ``"laplace-beltrami"`` (1, the lecture's),
        ``"fokker-planck"`` (0.5), ``"graph laplacian"`` (0) or a number in [0, 1]
        (:data:`course_utils.dmaps.NORMALIZATIONS`).

    Returns
    -------
    DiffusionMap
        ``eigenvalues`` (L + 1,), ``eigenfunctions`` (N, L + 1), ...

    Raises
    ------
    ValueError
        Naming the argument and what to do: fewer than 3 samples, ``n_eigenfunctions`` not in
        ``[1, N - 2]``, ``epsilon`` not positive and finite, ``cutoff`` not positive, samples that all
        coincide, an ``epsilon`` so small that no sample has a neighbour, or an unknown ``alpha``.
    """
    alpha = normalization_alpha(alpha)
    X = np.asarray(X, dtype=np.float64)
    if isinstance(n_eigenfunctions, bool) or not isinstance(n_eigenfunctions, int | np.integer):
        raise ValueError(f"n_eigenfunctions must be a whole number >= 1; got {n_eigenfunctions!r}.")
    if X.ndim == 2 and len(X) < 3:
        raise ValueError(f"X has {len(X)} sample(s): a diffusion map of N samples has at most N - 2 eigenfunctions "
                         "after the constant phi_0, so it needs at least 3 samples. Pass more samples.")
    if X.ndim == 2 and not 1 <= n_eigenfunctions <= len(X) - 2:
        raise ValueError(f"n_eigenfunctions must be in [1, {len(X) - 2}] for {len(X)} samples (at most N - 2); got "
                         f"{n_eigenfunctions}."
                         f"{' Ask for fewer eigenfunctions or pass more samples.' if n_eigenfunctions > 1 else ''}")
    if epsilon is not None:
        _check_epsilon(epsilon)
    if not (isinstance(cutoff, int | float | np.number) and cutoff > 0):  # np.inf is allowed: no cutoff
        raise ValueError(f"cutoff must be > 0 (the kernel radius in units of sqrt(epsilon); np.inf keeps every "
                         f"pair); got {cutoff!r}.")
    X = _check_data(X, n_eigenfunctions)
    if np.all(X == X[0]):
        raise ValueError(f"All {len(X)} samples of X are the same point: a diffusion map needs distinct samples.")
    eps = default_epsilon(X) if epsilon is None else float(epsilon)
    W = sparse_kernel(X, eps, cutoff * np.sqrt(eps))
    if W.nnz <= len(X):
        raise ValueError(f"epsilon={eps:.3g} is so small that no sample has a neighbour within the kernel radius "
                         f"cutoff * sqrt(epsilon) = {cutoff * np.sqrt(eps):.3g}: every sample is its own component "
                         f"and the eigenfunctions mean nothing. Increase epsilon (the default, "
                         f"{DIAMETER_FRACTION:.0%} of the diameter, is {default_epsilon(X):.3g}).")
    T, sqrt_q = _normalize(W, alpha)
    v0 = np.random.default_rng(seed).uniform(0.5, 1.5, size=len(X))
    a, V = eigsh(T, k=n_eigenfunctions + 1, which="LA", v0=v0)
    return _result(a, V, sqrt_q, eps, W.nnz / len(X), alpha)


def dense_diffusion_map(X: np.ndarray, n_eigenfunctions: int = 10, epsilon: float | None = None,
                        alpha: float | str = "laplace-beltrami") -> DiffusionMap:
    """The lecture's algorithm written out with dense N x N matrices and ``scipy.linalg.eigh``.

    The reference for :func:`fit_diffusion_map` (tests, ``tools/bench_dmaps.py``); it needs ``O(N**2)``
    memory and ``O(N**3)`` time. Parameters and result as in :func:`fit_diffusion_map`.
    """
    alpha = normalization_alpha(alpha)
    X = _check_data(X, n_eigenfunctions)
    D = squareform(pdist(X))
    eps = DIAMETER_FRACTION * D.max() if epsilon is None else _check_epsilon(epsilon)
    if eps <= 0:
        raise ValueError(f"All {len(X)} samples of X are the same point: a diffusion map needs distinct samples.")
    W = np.exp(-(D**2) / eps)
    T, sqrt_q = _normalize(W, alpha)
    n = len(X)
    a, V = scipy.linalg.eigh(T, subset_by_index=[n - n_eigenfunctions - 1, n - 1])
    return _result(a, V, sqrt_q, eps, n, alpha)


