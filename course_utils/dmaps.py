"""Diffusion maps, following the lecture's algorithm, with a sparse kernel and a sparse eigensolver.

For data ``x_1 .. x_N``: take the distance matrix ``D``, ``eps = 5 %`` of the data set's diameter, the
kernel ``W = exp(-D**2 / eps)``, ``P = diag(W 1)``, ``K = P^-1 W P^-1`` (removes the sampling density),
``Q = diag(K 1)`` and the symmetric ``T = Q^-1/2 K Q^-1/2``. The ``L + 1`` largest eigenpairs
``(a_l, v_l)`` of ``T`` give the eigenvalues ``lambda_l = a_l ** (1 / (2 eps))`` and the eigenfunctions
``phi_l = Q^-1/2 v_l`` (``phi_0`` is constant) of the Laplace-Beltrami operator on the data's manifold.

:func:`fit_diffusion_map` keeps only the kernel entries inside a neighbourhood radius (scikit-learn's
radius graph; the entries dropped are below ``exp(-cutoff**2)``) and calls ``scipy.sparse.linalg.eigsh``;
:func:`dense_diffusion_map` is the straightforward dense version, the reference in tests and benchmark.
:func:`local_linear_residuals` tells whether an eigenfunction is a function of others (Dsilva et al., 2018);
:func:`false_neighbor_fraction` whether an embedding folds the data onto itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh
from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.neighbors import NearestNeighbors, radius_neighbors_graph

DIAMETER_FRACTION = 0.05
"""The lecture's kernel scale: ``eps`` is this fraction of the data set's diameter."""


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
        ``phi_l = Q^-1/2 v_l`` as columns; ``phi_0`` is constant. Signs follow :func:`fix_signs`.
    epsilon : float
        Kernel scale used, ``W = exp(-D**2 / eps)``.
    mean_neighbors : float
        Mean number of kernel entries per row (``N`` for the dense version).
    """

    eigenvalues: np.ndarray
    kernel_eigenvalues: np.ndarray
    eigenfunctions: np.ndarray
    epsilon: float
    mean_neighbors: float

    @property
    def n_eigenfunctions(self) -> int:
        """``L``: the number of eigenfunctions after ``phi_0``."""
        return self.eigenfunctions.shape[1] - 1

    def embedding(self, n_components: int) -> np.ndarray:
        """The diffusion-map coordinates ``(phi_1, ..., phi_n)``; shape (N, n_components)."""
        if not 1 <= n_components <= self.n_eigenfunctions:
            raise ValueError(f"n_components must be in [1, {self.n_eigenfunctions}]; got {n_components}.")
        return self.eigenfunctions[:, 1 : n_components + 1]


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


def fix_signs(vectors: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """Flip each column so that its entry of largest magnitude is positive (eigenvector signs are arbitrary).

    Entries within ``rtol`` of the largest magnitude count as ties, won by the first row, so that rounding
    differences between machines or solvers cannot flip a symmetric eigenvector.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (N, k)
    rtol : float
        Relative tolerance for ties.

    Returns
    -------
    numpy.ndarray, shape (N, k)
        A copy with a deterministic sign per column.
    """
    vectors = np.array(vectors, dtype=np.float64)
    magnitude = np.abs(vectors)
    rows = np.argmax(magnitude >= (1 - rtol) * magnitude.max(axis=0), axis=0)  # first (near-)maximum
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def _normalize(W: np.ndarray | sp.csr_matrix) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """``T = Q^-1/2 K Q^-1/2`` with ``K = P^-1 W P^-1``; return ``T`` and ``sqrt(diag(Q))``."""
    p = np.asarray(W.sum(axis=1)).ravel()
    if sp.issparse(W):
        K = sp.diags(1.0 / p) @ W @ sp.diags(1.0 / p)
        sqrt_q = np.sqrt(np.asarray(K.sum(axis=1)).ravel())
        T = sp.diags(1.0 / sqrt_q) @ K @ sp.diags(1.0 / sqrt_q)
        return ((T + T.T) * 0.5).tocsr(), sqrt_q
    K = W / np.outer(p, p)
    sqrt_q = np.sqrt(K.sum(axis=1))
    T = K / np.outer(sqrt_q, sqrt_q)
    return (T + T.T) * 0.5, sqrt_q


def _result(a: np.ndarray, V: np.ndarray, sqrt_q: np.ndarray, epsilon: float, mean_neighbors: float
            ) -> DiffusionMap:
    """Sort the eigenpairs of ``T`` (largest first) and turn them into ``lambda_l`` and ``phi_l``."""
    order = np.argsort(a)[::-1]
    a, V = a[order], V[:, order]
    if np.any(a <= 0):
        raise ValueError("The kernel matrix has non-positive leading eigenvalues; increase epsilon.")
    phi = fix_signs(V / sqrt_q[:, None])
    return DiffusionMap(eigenvalues=a ** (1.0 / (2.0 * epsilon)), kernel_eigenvalues=a, eigenfunctions=phi,
                        epsilon=float(epsilon), mean_neighbors=float(mean_neighbors))


def sparse_kernel(X: np.ndarray, epsilon: float, radius: float) -> sp.csr_matrix:
    """The kernel ``W = exp(-D**2 / eps)`` restricted to pairs closer than ``radius``; sparse (N, N), symmetric.

    Self-pairs are kept (``W_ii = 1``); the radius graph stores them as explicit zeros of distance.
    """
    G = radius_neighbors_graph(X, radius, mode="distance", include_self=True)
    G.data = np.exp(-(G.data**2) / epsilon)
    return G.maximum(G.T).tocsr()  # symmetric even where rounding put a pair on one side of the radius only


def fit_diffusion_map(X: np.ndarray, n_eigenfunctions: int = 10, epsilon: float | None = None,
                      cutoff: float = 4.0, seed: int = 0) -> DiffusionMap:
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

    Returns
    -------
    DiffusionMap
        ``eigenvalues`` (L + 1,), ``eigenfunctions`` (N, L + 1), ...

    Raises
    ------
    ValueError
        Naming the argument and what to do: fewer than 3 samples, ``n_eigenfunctions`` not in
        ``[1, N - 2]``, ``epsilon`` not positive and finite, ``cutoff`` not positive, samples that all
        coincide, or an ``epsilon`` so small that no sample has a neighbour.
    """
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
    if epsilon is not None and not (isinstance(epsilon, int | float | np.number) and np.isfinite(epsilon)
                                    and epsilon > 0):
        raise ValueError(f"epsilon must be a positive, finite kernel scale (W = exp(-D**2 / epsilon)); "
                         f"got {epsilon!r}. Leave it out for the lecture's default, "
                         f"{DIAMETER_FRACTION:.0%} of the data set's diameter.")
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
    T, sqrt_q = _normalize(W)
    v0 = np.random.default_rng(seed).uniform(0.5, 1.5, size=len(X))
    a, V = eigsh(T, k=n_eigenfunctions + 1, which="LA", v0=v0)
    return _result(a, V, sqrt_q, eps, W.nnz / len(X))


def dense_diffusion_map(X: np.ndarray, n_eigenfunctions: int = 10, epsilon: float | None = None
                        ) -> DiffusionMap:
    """The lecture's algorithm written out with dense N x N matrices and ``scipy.linalg.eigh``.

    The reference for :func:`fit_diffusion_map` (tests, ``tools/bench_dmaps.py``); it needs ``O(N**2)``
    memory and ``O(N**3)`` time. Parameters and result as in :func:`fit_diffusion_map`.
    """
    X = _check_data(X, n_eigenfunctions)
    D = squareform(pdist(X))
    eps = DIAMETER_FRACTION * D.max() if epsilon is None else float(epsilon)
    W = np.exp(-(D**2) / eps)
    T, sqrt_q = _normalize(W)
    n = len(X)
    a, V = scipy.linalg.eigh(T, subset_by_index=[n - n_eigenfunctions - 1, n - 1])
    return _result(a, V, sqrt_q, eps, n)


def _median_distance(X: np.ndarray, max_samples: int = 2000, seed: int = 0) -> float:
    """Median pairwise distance, over at most ``max_samples`` rows chosen with ``seed``."""
    if len(X) > max_samples:
        X = X[np.random.default_rng(seed).choice(len(X), max_samples, replace=False)]
    return float(np.median(pdist(X)))


def local_linear_residuals(predictors: np.ndarray, targets: np.ndarray, scale: float = 3.0,
                           chunk_size: int = 500, seed: int = 0) -> np.ndarray:
    """How well each target is a function of the predictors: normalised leave-one-out local-linear residual.

    At every sample ``i`` a linear regression of the target on the predictors over all *other* samples,
    weighted by ``exp(-|x_j - x_i|**2 / h**2)`` with ``h = median distance / scale``, predicts ``f(x_i)``;
    the residual is ``sqrt(mean((y - f)**2)) / std(y)`` (Dsilva et al., "Parsimonious representation of
    nonlinear dynamical systems through manifold learning", ACHA 2018). Near 0: the target is a function
    of the predictors; near 1: it is not.

    Parameters
    ----------
    predictors : array-like, shape (N,) or (N, k)
    targets : array-like, shape (N,) or (N, m)
        Regressed one by one on the same predictors (the weights are computed once).
    scale : float
        The median distance is divided by this to give the kernel width ``h`` (3 in the paper).
    chunk_size : int
        Rows of weights held at once (memory ``chunk_size * N``).
    seed : int
        Seed for the subsample that estimates the median distance when ``N > 2000``.

    Returns
    -------
    numpy.ndarray, shape (m,)
    """
    X = np.asarray(predictors, dtype=np.float64).reshape(len(predictors), -1)
    Y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    if len(X) != len(Y):
        raise ValueError(f"predictors and targets need the same number of samples; got {len(X)}, {len(Y)}.")
    if np.any(Y.std(axis=0) == 0):
        raise ValueError("A constant target has no residual to normalise (phi_0 is constant: leave it out).")
    X = X - X.mean(axis=0)
    X = X / (np.sqrt(np.mean(X**2)) or 1.0)  # one common scale: conditioning only, the fit is unchanged
    h = _median_distance(X, seed=seed) / scale
    Z = np.hstack([np.ones((len(X), 1)), X])  # regressors (1, x_j), shape (N, k + 1)
    k1 = Z.shape[1]
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(len(Z), -1)  # outer products, (N, (k + 1)**2)
    ZY = (Z[:, :, None] * Y[:, None, :]).reshape(len(Z), -1)  # (N, (k + 1) * m)
    ridge = 1e-10 * np.eye(k1)  # keeps the solve defined where a sample has (almost) no neighbours
    fitted = np.empty_like(Y)
    for start in range(0, len(X), chunk_size):
        rows = np.arange(start, min(start + chunk_size, len(X)))
        weights = np.exp(-cdist(X[rows], X, "sqeuclidean") / h**2)  # (c, N)
        weights[np.arange(len(rows)), rows] = 0.0  # leave sample i out of its own fit
        M = (weights @ ZZ).reshape(-1, k1, k1) + ridge  # sum_j w_ij z_j z_j^T
        B = (weights @ ZY).reshape(-1, k1, Y.shape[1])  # sum_j w_ij z_j y_j
        coef = np.linalg.solve(M, B)  # (c, k + 1, m)
        fitted[rows] = np.einsum("ck,ckm->cm", Z[rows], coef)
    return np.sqrt(np.mean((Y - fitted) ** 2, axis=0)) / Y.std(axis=0)


def eigenfunction_residuals(eigenfunctions: np.ndarray, scale: float = 3.0, seed: int = 0) -> np.ndarray:
    """Dsilva et al.'s test for new directions: residual of each ``phi_l`` given ``phi_1 .. phi_(l-1)``.

    Parameters
    ----------
    eigenfunctions : numpy.ndarray, shape (N, L + 1)
        ``phi_0 .. phi_L`` as columns (``phi_0`` is ignored).

    Returns
    -------
    numpy.ndarray, shape (L,)
        Entry ``l - 1`` belongs to ``phi_l``; ``r_1 = 1`` by convention. Large (near 1): ``phi_l`` is a new
        direction on the manifold; small: a harmonic of earlier ones.
    """
    phi = np.asarray(eigenfunctions, dtype=np.float64)
    residuals = [1.0]
    for ell in range(2, phi.shape[1]):
        residuals.append(float(local_linear_residuals(phi[:, 1:ell], phi[:, ell], scale=scale, seed=seed)[0]))
    return np.array(residuals)


def span_correlation(y: np.ndarray, basis: np.ndarray) -> float:
    """Correlation of ``y`` with its best approximation ``c + basis @ w`` (the multiple correlation ``R``).

    With ``basis = [cos(m t), sin(m t)]`` this is ``max over phases |corr(y, cos(m t + phase))|``: 1 when
    ``y`` is a Fourier mode of frequency ``m`` up to sign, phase and scale.

    Parameters
    ----------
    y : array-like, shape (N,)
    basis : array-like, shape (N,) or (N, k)

    Returns
    -------
    float
        In [0, 1].
    """
    y = np.asarray(y, dtype=np.float64)
    A = np.hstack([np.ones((len(y), 1)), np.asarray(basis, dtype=np.float64).reshape(len(y), -1)])
    fit = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    return float(np.clip(np.corrcoef(y, fit)[0, 1], 0.0, 1.0)) if np.std(fit) > 0 else 0.0


def false_neighbor_fraction(X: np.ndarray, embedding: np.ndarray, ratio: float = 10.0) -> float:
    """Fraction of samples whose nearest neighbour in the embedding is a false one (the embedding folds there).

    The nearest neighbour ``j`` of sample ``i`` in the embedding is *false* when, in the data, ``x_j`` is
    more than ``ratio`` times farther from ``x_i`` than ``x_i``'s own nearest neighbour (the test of
    false nearest neighbours, Kennel, Brown & Abarbanel, Phys. Rev. A 45, 1992). A curve that crosses
    itself, or a surface folded onto itself, brings far-apart samples together and scores high; 0 means
    no sample has a false nearest neighbour.

    Parameters
    ----------
    X : array-like, shape (N, d)
        The data.
    embedding : array-like, shape (N,) or (N, k)
        Coordinates of the same samples in the embedding.
    ratio : float
        How much farther than the true nearest neighbour counts as false.

    Returns
    -------
    float
        In [0, 1].
    """
    X = np.asarray(X, dtype=np.float64)
    E = np.asarray(embedding, dtype=np.float64).reshape(len(X), -1)
    data_nn = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)[0][:, 1]
    embedded_nn = NearestNeighbors(n_neighbors=2).fit(E).kneighbors(E, return_distance=False)[:, 1]
    return float(np.mean(np.linalg.norm(X - X[embedded_nn], axis=1) > ratio * data_nn))
