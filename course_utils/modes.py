"""Mode coverage and cluster counting for samples of a known Gaussian mixture.

Mode coverage follows the mode-collapse literature (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al.
2018), which scores a generator on a mixture whose components are known: a sample is **high quality**
if it lies within 3 standard deviations of some true component, here measured by the Mahalanobis
distance ``sqrt((x - mu_k)^T Sigma_k^{-1} (x - mu_k))`` so that elongated, tilted components are judged by
their own shape; a component (mode) is **captured** if enough high-quality samples fall nearest to it
(:func:`mode_coverage` documents the threshold). Each component's share of the high-quality samples is
compared with its true mixing weight by the total variation distance.

Cluster counting is done in the full space of the points (never on a 1-D histogram of flattened
coordinates): :func:`choose_n_clusters` fits K-Means (silhouette) for a range of cluster numbers and keeps
the best, or takes the choice from a BIC function (notebook 06's exercise) and labels the points with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import chi2

HIGH_QUALITY_STD = 3.0
"""A sample within this many standard deviations (Mahalanobis) of a component is high quality."""

MIN_EXPECTED_FRACTION = 0.1
"""A component is captured if it receives at least this fraction of the samples the true mixture gives it."""


def _check_mixture(means: np.ndarray, covariances: np.ndarray, weights: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    means = np.asarray(means, float)
    covariances = np.asarray(covariances, float)
    if means.ndim != 2:
        raise ValueError(f"means must have shape (K, dim); got {means.shape}.")
    k, dim = means.shape
    if covariances.shape != (k, dim, dim):
        raise ValueError(f"covariances must have shape {(k, dim, dim)} to match the means; got {covariances.shape}.")
    if weights is not None:
        weights = np.asarray(weights, float)
        if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"weights must be {k} non-negative numbers summing to 1; got {weights}.")
    return means, covariances, weights


def mahalanobis_distances(x: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of every point to every component, shape (n, K).

    Parameters
    ----------
    x : array, shape (n, dim)
        Points.
    means, covariances : arrays, shapes (K, dim) and (K, dim, dim)
        The components; each covariance must be symmetric positive definite.
    """
    means, covariances, _ = _check_mixture(means, covariances)
    x = np.asarray(x, float)
    if x.ndim != 2 or x.shape[1] != means.shape[1]:
        raise ValueError(f"x must have shape (n, {means.shape[1]}); got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("x holds NaN or infinite values.")
    columns = []
    for mean, covariance in zip(means, covariances, strict=True):
        try:
            np.linalg.cholesky(covariance)
        except np.linalg.LinAlgError as exc:
            raise ValueError("Every covariance must be symmetric positive definite.") from exc
        columns.append(cdist(x, mean[None], metric="mahalanobis", VI=np.linalg.inv(covariance))[:, 0])
    return np.stack(columns, axis=1) if columns else np.empty((len(x), 0))


def high_quality_ceiling(dim: int, threshold: float = HIGH_QUALITY_STD) -> float:
    """Share of a Gaussian's own samples within ``threshold`` Mahalanobis units: ``P(chi2_dim <= threshold^2)``.

    The best high-quality fraction a perfect sampler of a well-separated mixture can reach: 0.989 in 2-D,
    0.971 in 3-D (overlapping components raise it slightly, as a sample may be close to a neighbour).
    """
    return float(chi2.cdf(threshold**2, dim))


@dataclass
class ModeCoverage:
    """Mode-coverage figures of a set of samples against a known mixture (see :func:`mode_coverage`)."""

    n_samples: int
    threshold: float
    min_count: np.ndarray = field(repr=False)
    """(K,) high-quality samples a component needs to be captured."""
    counts: np.ndarray
    """(K,) high-quality samples nearest to each component."""
    captured: np.ndarray
    """(K,) bool: the component is captured."""
    shares: np.ndarray
    """(K,) each component's share of the high-quality samples."""
    weights: np.ndarray
    """(K,) the true mixing weights."""
    nearest: np.ndarray = field(repr=False)
    """(n,) index of the nearest component (Mahalanobis) of every sample."""
    high_quality: np.ndarray = field(repr=False)
    """(n,) bool: the sample is within ``threshold`` standard deviations of some component."""

    @property
    def modes_total(self) -> int:
        """Number of true components."""
        return len(self.weights)

    @property
    def modes_captured(self) -> int:
        """Number of captured components."""
        return int(self.captured.sum())

    @property
    def high_quality_fraction(self) -> float:
        """Share of the samples that are high quality."""
        return float(self.high_quality.mean()) if self.n_samples else 0.0

    @property
    def weight_total_variation(self) -> float:
        """Total variation distance ``0.5 * sum_k |share_k - w_k|`` between shares and true weights, in [0, 1]."""
        return total_variation(self.shares, self.weights)

    def as_dict(self) -> dict[str, float | int]:
        """The four headline figures, ready for ``Report.record``."""
        return {"modes_total": self.modes_total, "modes_captured": self.modes_captured,
                "high_quality_fraction": self.high_quality_fraction,
                "weight_total_variation": self.weight_total_variation}


def total_variation(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Total variation distance ``0.5 * sum |p - q|`` between two discrete distributions of the same length."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"Need two 1-D distributions of the same length; got shapes {p.shape} and {q.shape}.")
    for name, dist in (("p", p), ("q", q)):
        if np.any(dist < 0) or not np.isclose(dist.sum(), 1.0):
            raise ValueError(f"{name} must be non-negative and sum to 1; got {dist}.")
    return float(0.5 * np.abs(p - q).sum())


def mode_coverage(samples: np.ndarray, means: np.ndarray, covariances: np.ndarray, weights: np.ndarray,
                  threshold: float = HIGH_QUALITY_STD, min_expected_fraction: float = MIN_EXPECTED_FRACTION
                  ) -> ModeCoverage:
    """Score samples against a known Gaussian mixture, the way the mode-collapse literature does.

    - A sample is **high quality** if its Mahalanobis distance to some component is at most ``threshold``
      (3 standard deviations).
    - Each high-quality sample is assigned to its **nearest** component (smallest Mahalanobis distance).
    - A component is **captured** if it receives at least ``min_expected_fraction * w_k * n`` high-quality
      samples, i.e. a tenth (by default) of what the true mixture would give it, and at least one. A
      relative threshold treats light and heavy components alike; a few stray samples that land on a
      component the model does not really produce do not count.
    - Each component's **share** is its fraction of the high-quality samples (all zeros if there are none);
      the shares are compared with the weights by the total variation distance.

    Parameters
    ----------
    samples : array, shape (n, dim)
        Generated points (n >= 1).
    means, covariances, weights : arrays, shapes (K, dim), (K, dim, dim), (K,)
        The true mixture.
    threshold : float
        Standard deviations within which a sample is high quality.
    min_expected_fraction : float
        Fraction of a component's expected count ``w_k * n`` it needs to be captured, in (0, 1].

    Returns
    -------
    ModeCoverage
        With ``modes_total``, ``modes_captured``, ``high_quality_fraction``, ``weight_total_variation``,
        per-component ``counts``, ``captured``, ``shares`` and per-sample ``nearest``, ``high_quality``.
    """
    means, covariances, weights = _check_mixture(means, covariances, weights)
    if weights is None:
        raise ValueError("mode_coverage needs the mixing weights.")
    if threshold <= 0:
        raise ValueError(f"threshold must be positive; got {threshold}.")
    if not 0 < min_expected_fraction <= 1:
        raise ValueError(f"min_expected_fraction must lie in (0, 1]; got {min_expected_fraction}.")
    samples = np.asarray(samples, float)
    if samples.ndim != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (n, dim) with n >= 1; got {samples.shape}.")
    distances = mahalanobis_distances(samples, means, covariances)
    nearest = distances.argmin(axis=1)
    high_quality = distances.min(axis=1) <= threshold
    counts = np.bincount(nearest[high_quality], minlength=len(weights))
    min_count = np.maximum(1, np.ceil(min_expected_fraction * weights * len(samples))).astype(int)
    shares = counts / counts.sum() if counts.sum() else np.zeros(len(weights))
    return ModeCoverage(n_samples=len(samples), threshold=threshold, min_count=min_count, counts=counts,
                        captured=counts >= min_count, shares=shares, weights=weights, nearest=nearest,
                        high_quality=high_quality)


# ----------------------------------------------------------------------------- counting clusters


@dataclass
class ClusterChoice:
    """The number of clusters chosen by :func:`choose_n_clusters`, with the score of every candidate."""

    method: str
    """``"bic"`` (Gaussian mixtures; lower is better) or ``"silhouette"`` (K-Means; higher is better)."""
    n_clusters: int
    candidates: np.ndarray
    scores: np.ndarray
    labels: np.ndarray = field(repr=False)
    """(n,) cluster of every point under the chosen model."""
    model: object = field(repr=False)
    """The fitted ``GaussianMixture`` or ``KMeans`` of the chosen size."""


BicChooser = Callable[..., tuple[int, np.ndarray]]
"""``bic(x, candidates, seed=..., n_init=...) -> (n_clusters, BIC of every candidate)`` (notebook 06's exercise)."""


def choose_n_clusters(x: np.ndarray, candidates: Sequence[int] = range(2, 9), method: str = "silhouette",
                      seed: int = 0, n_init: int = 3, max_points: int | None = 5000,
                      bic: BicChooser | None = None) -> ClusterChoice:
    """Choose the number of clusters of points ``x`` (n, dim) in their own space.

    ``method="silhouette"`` fits ``KMeans`` for each candidate and keeps the largest mean silhouette
    (candidates below 2 are skipped: a silhouette needs two clusters). ``method="bic"`` delegates the choice to
    ``bic(x, candidates, seed=seed, n_init=n_init) -> (n_clusters, scores)`` (the BIC of a full-covariance
    Gaussian mixture per candidate; writing it is an exercise of notebook 06) and then fits the chosen
    ``GaussianMixture`` to label the points.

    Parameters
    ----------
    x : array, shape (n, dim)
        Points.
    candidates : sequence of int
        Cluster numbers to try.
    method : {"silhouette", "bic"}
        Criterion.
    seed : int
        Seed of the fits' initialisations.
    n_init : int
        Initialisations per fit (the best is kept).
    max_points : int, optional
        Use a seeded random subset of at most this many points for the silhouette (its cost is quadratic);
        ``None`` uses all.
    bic : callable, optional
        Required for ``method="bic"``.

    Returns
    -------
    ClusterChoice
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, float)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be a finite array of shape (n, dim); got shape {x.shape}.")
    if method not in {"bic", "silhouette"}:
        raise ValueError(f"Unknown method {method!r}; use 'silhouette' or 'bic'.")
    if method == "bic" and bic is None:
        raise ValueError("method='bic' needs bic=..., a function (x, candidates, seed, n_init) -> (k, scores).")
    candidates = np.array(sorted({int(k) for k in candidates if method == "bic" or k >= 2}))
    if len(candidates) == 0 or candidates[0] < 1 or candidates[-1] > len(x):
        raise ValueError(f"Need candidate cluster numbers between {1 if method == 'bic' else 2} and {len(x)}.")
    if method == "bic":
        n_clusters, scores = bic(x, [int(k) for k in candidates], seed=seed, n_init=n_init)
        scores = np.asarray(scores, float)
        if scores.shape != candidates.shape or int(n_clusters) not in candidates:
            raise ValueError(f"bic must return one of the candidates and {len(candidates)} scores; got "
                             f"{n_clusters!r} and shape {scores.shape}.")
        model = GaussianMixture(int(n_clusters), covariance_type="full", n_init=n_init, random_state=seed).fit(x)
        return ClusterChoice(method=method, n_clusters=int(n_clusters), candidates=candidates, scores=scores,
                             labels=np.asarray(model.predict(x)), model=model)
    models, scores = [], []
    for k in candidates:
        model = KMeans(k, n_init=n_init, random_state=seed).fit(x)
        scores.append(silhouette_score(x, model.labels_, sample_size=max_points, random_state=seed))
        models.append(model)
    scores = np.array(scores)
    best = int(np.argmax(scores))
    return ClusterChoice(method=method, n_clusters=int(candidates[best]), candidates=candidates, scores=scores,
                         labels=np.asarray(models[best].labels_), model=models[best])


def histogram_peaks_1d(x: np.ndarray, bins: int = 50, min_height: float = 0.1, min_distance: int = 3) -> int:
    """The seed project's mode count, kept to show why it fails: peaks of a histogram of *all* values flattened.

    Flattening (n, dim) points into one list of numbers mixes the coordinates, so the count describes
    neither the clusters nor any coordinate; use :func:`choose_n_clusters` instead. Peaks are found with
    ``scipy.signal.find_peaks`` on the density histogram, with height at least ``min_height`` times the
    tallest bin and at least ``min_distance`` bins apart.
    """
    from scipy.signal import find_peaks

    values = np.asarray(x, float).ravel()
    if len(values) == 0:
        raise ValueError("histogram_peaks_1d needs at least one value.")
    density, _ = np.histogram(values, bins=bins, density=True)
    padded = np.concatenate([[0.0], density, [0.0]])  # a peak in the first or last bin counts too
    peaks, _ = find_peaks(padded, height=min_height * density.max(), distance=min_distance)
    return len(peaks)
