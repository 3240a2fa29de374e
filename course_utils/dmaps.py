"""Diffusion-map analysis helpers: is an eigenfunction a function of others, does an embedding fold?

The diffusion-map algorithm itself (distances, kernel, normalisations, eigenproblem) is the exercise of
notebook 02 and is not part of this package. The choice of its density normalisation is:
:data:`NORMALIZATIONS` names the usual exponents ``alpha`` of ``K = P^-alpha W P^-alpha`` and
:func:`normalization_alpha` turns a name or a number into ``alpha``. These helpers work on any eigenfunctions:

* :func:`fix_signs` gives eigenvectors a deterministic sign;
* :func:`local_linear_residuals` and :func:`eigenfunction_residuals` tell whether an eigenfunction is a
  function of others (Dsilva et al., 2018);
* :func:`span_correlation` measures how close a vector is to a span (e.g. a Fourier mode);
* :func:`false_neighbor_fraction` tells whether an embedding folds the data onto itself.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist, pdist
from sklearn.neighbors import NearestNeighbors

NORMALIZATIONS: dict[str, float] = {"graph laplacian": 0.0, "fokker-planck": 0.5, "laplace-beltrami": 1.0}
"""The usual exponents ``alpha`` of the density normalisation ``K = P^-alpha W P^-alpha``, by name.

With ``P = diag(W 1)`` and the Markov matrix ``Q^-1 K`` (``Q = diag(K 1)``), the eigenfunctions approximate,
as ``eps -> 0`` (Coifman & Lafon, "Diffusion maps", ACHA 2006; the names as in datafold):

* ``"graph laplacian"`` (``alpha = 0``): no density normalisation, ``K = W``; the normalised graph Laplacian,
  whose eigenfunctions depend on how the points are sampled;
* ``"fokker-planck"`` (``alpha = 1/2``): the backward Fokker-Planck operator of a diffusion in the potential
  given by the sampling density;
* ``"laplace-beltrami"`` (``alpha = 1``, the lecture's ``K = P^-1 W P^-1``): the Laplace-Beltrami operator of
  the manifold, whatever the sampling density.
"""


def normalization_alpha(alpha: float | str = "laplace-beltrami") -> float:
    """The density-normalisation exponent ``alpha`` in ``K = P^-alpha W P^-alpha``, from a name or a number.

    Parameters
    ----------
    alpha : str or float
        A key of :data:`NORMALIZATIONS` (case and ``-``/``_``/space do not matter) or a number in [0, 1].

    Returns
    -------
    float
        ``alpha`` in [0, 1]; the default is the lecture's 1.
    """
    if isinstance(alpha, str):
        key = alpha.strip().lower().replace("_", " ").replace("-", " ")
        names = {name.replace("-", " "): value for name, value in NORMALIZATIONS.items()}
        if key not in names:
            raise ValueError(f"Unknown normalisation {alpha!r}; use one of {sorted(NORMALIZATIONS)} or a number "
                             "in [0, 1].")
        return names[key]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a name of {sorted(NORMALIZATIONS)} or a number in [0, 1]; got {alpha!r}.")
    return float(alpha)


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



def _check_finite_samples(values: np.ndarray, name: str) -> None:
    """Refuse NaN or infinite values, naming the argument, how many samples hold them and the first one."""
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if np.any(bad):
        raise ValueError(f"{name} holds NaN or infinite values in {int(bad.sum())} of its {len(values)} samples (the "
                         f"first is sample {int(np.flatnonzero(bad)[0])}); drop those samples from every argument.")


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
    if not (isinstance(scale, int | float | np.number) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive, finite number (the kernel width is the median distance / "
                         f"scale; Dsilva et al. use 3); got {scale!r}.")
    _check_finite_samples(X, "predictors")
    _check_finite_samples(Y, "targets")
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
    E = np.asarray(embedding, dtype=np.float64)
    if X.ndim != 2 or len(X) < 3:
        raise ValueError(f"X must be a data matrix (N, d) with N >= 3 samples; got shape {X.shape}.")
    if len(E) != len(X):
        raise ValueError(f"X and embedding must hold the same samples, one row each; got {len(X)} rows of X and "
                         f"{len(E)} of embedding.")
    E = E.reshape(len(X), -1)
    _check_finite_samples(X, "X")
    _check_finite_samples(E, "embedding")
    data_nn = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)[0][:, 1]
    embedded_nn = NearestNeighbors(n_neighbors=2).fit(E).kneighbors(E, return_distance=False)[:, 1]
    return float(np.mean(np.linalg.norm(X - X[embedded_nn], axis=1) > ratio * data_nn))
