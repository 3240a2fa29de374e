"""Reference solutions of notebook 06 (a VAE on a Gaussian mixture), used by the tests and ``grading/06_gmm_vae.py``.

Each function is the instructor's answer to one exercise, with the exact protocol the exercise states (the
order of the random draws), so that a student's function can be compared case by case on hidden inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_utils.data.synthetic import make_gaussian_mixture_parameters

MIN_SCALE = 1e-3
"""Floor of a learned decoder standard deviation."""


def sample_mixture(means: np.ndarray, covariances: np.ndarray, weights: np.ndarray, n: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the mixture and the component of each: ``(points (n, d), labels (n,))``.

    Protocol: ``rng = np.random.default_rng(seed)``; ``labels = rng.choice(K, size=n, p=weights)``; then
    ``eps = rng.standard_normal((n, d))`` and ``x_i = mu_{k_i} + L_{k_i} eps_i`` with ``L_k`` the Cholesky
    factor of ``Sigma_k``.
    """
    means, covariances, weights = (np.asarray(a, float) for a in (means, covariances, weights))
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(weights), size=int(n), p=weights)
    eps = rng.standard_normal((int(n), means.shape[1]))
    points = means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[labels], eps)
    return points, labels.astype(np.int64)


def make_gaussian_mixture(n_samples: int = 5000, n_components: int = 4, dim: int = 3, seed: int = 0, **kwargs: Any):
    """:func:`make_gaussian_mixture_parameters` plus ``points`` and ``labels`` from :func:`sample_mixture`."""
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}.")
    mixture = make_gaussian_mixture_parameters(n_components, dim, seed, **kwargs)
    mixture.points, mixture.labels = sample_mixture(mixture.means, mixture.covariances, mixture.weights,
                                                    n_samples, seed)
    return mixture


def high_quality_fraction(samples: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                          threshold: float = 3.0) -> float:
    """Share of ``samples`` within Mahalanobis distance ``threshold`` of at least one component."""
    samples, means, covariances = (np.asarray(a, float) for a in (samples, means, covariances))
    inverses = np.linalg.inv(covariances)
    differences = samples[:, None, :] - means[None, :, :]  # (n, K, d)
    squared = np.einsum("nkd,kde,nke->nk", differences, inverses, differences)
    return float(np.mean(np.sqrt(squared).min(axis=1) <= threshold))


def decoder_noise(params: Any, scale: float | None = None) -> tuple[Any, Any]:
    """``(loc, scale)`` of the Gaussian decoder ``p(x|z)`` from the decoder's output ``params``.

    Fixed noise (``scale`` given): ``params`` is the mean, the standard deviation is ``scale`` everywhere.
    Learned noise (``scale=None``): ``params`` holds the mean and a raw scale side by side (last axis split in
    two halves); the standard deviation is ``softplus(raw) + 1e-3``. Written with ``keras.ops``.
    """
    import keras

    ops = keras.ops
    params = ops.convert_to_tensor(params, dtype="float32")
    if scale is not None:
        return params, ops.ones_like(params) * scale
    loc, raw = ops.split(params, 2, axis=-1)
    return loc, ops.softplus(raw) + MIN_SCALE


def sample_vae(decoder: Callable[[np.ndarray], Any], latent_dim: int, n: int, seed: int = 0,
               scale: float | None = None) -> np.ndarray:
    """``n`` samples of the VAE: ``z ~ N(0, I)``, then ``x ~ N(loc, diag(s^2))`` from :func:`decoder_noise`.

    Protocol: ``rng = np.random.default_rng(seed)``; ``z = rng.standard_normal((n, latent_dim))`` (float32);
    ``loc, s = decoder_noise(decoder(z), scale)``; ``eps = rng.standard_normal(loc.shape)``; ``x = loc + s eps``.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((int(n), int(latent_dim))).astype(np.float32)
    loc, s = (np.asarray(a, np.float64) for a in decoder_noise(decoder(z), scale))
    return loc + s * rng.standard_normal(loc.shape)


def bic_n_clusters(x: np.ndarray, candidates: Sequence[int] = range(1, 9), seed: int = 0,
                   n_init: int = 3) -> tuple[int, np.ndarray]:
    """The number of clusters with the smallest BIC of a full-covariance ``GaussianMixture``, and every BIC.

    Protocol: for each ``k`` of ``candidates`` in the given order,
    ``GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=seed).fit(x).bic(x)``; ties go
    to the first candidate.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, float)
    candidates = [int(k) for k in candidates]
    bics = np.array([GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=seed).fit(x).bic(x)
                     for k in candidates])
    return candidates[int(np.argmin(bics))], bics
