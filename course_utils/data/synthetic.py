"""Seeded generators that stand in for course files the kit may not redistribute.

Each generator reproduces the *structure* the exercise is about (documented per function), so the
notebooks teach the same lesson on the stand-in as on the real file. Same seed, same data.
"""

from __future__ import annotations

import numpy as np


def make_pca_dataset(n_samples: int = 100, seed: int = 0) -> np.ndarray:
    """Stand-in for ``pca_dataset.txt``: a strongly correlated 2-D point cloud.

    Points spread along a line at 30 degrees (standard deviation 1.0) with a thin orthogonal scatter
    (standard deviation 0.085), so the first principal component holds about 99.3 % of the energy, as in
    the course file, around a mean near (0.5, 0.3).

    Parameters
    ----------
    n_samples : int
        Number of points (rows). The course file has 100.
    seed : int
        Seed of the random generator.

    Returns
    -------
    numpy.ndarray, shape (n_samples, 2), float64
    """
    rng = np.random.default_rng(seed)
    along = rng.normal(0.0, 1.0, n_samples)
    across = rng.normal(0.0, 0.085, n_samples)
    angle = np.deg2rad(30.0)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-np.sin(angle), np.cos(angle)])
    return np.array([0.5, 0.3]) + along[:, None] * direction + across[:, None] * normal


def make_pedestrian_trajectories(
    n_steps: int = 1000,
    n_pedestrians: int = 15,
    seed: int = 0,
    deformation: float = 0.9,
    zigzag: float = 0.12,
    noise: float = 0.05,
) -> np.ndarray:
    """Stand-in for ``data_DMAP_PCA_vadere.txt``: pedestrians walking repeated, noisy loops.

    Every pedestrian walks an ellipse (1.5-3 m by 1-2 m semi-axes, random orientation, centres spread
    over a 25 m x 25 m area) with its own phase offset, all driven by one shared walking phase
    ``theta(t)`` (about 12 laps in 1000 steps, the pace varying slowly). Each loop is also pushed by a
    common second-harmonic deformation ``cos(2 theta)`` (egg-shaped loops, strength ``deformation`` in
    metres), and every step swings sideways by ``zigzag`` metres, alternating left and right, plus
    Gaussian noise. The clean trajectories are linear in (cos theta, sin theta, cos 2 theta), so after
    centring the data are close to rank 3: two principal components lose a clearly visible share of the
    energy (about 15 %), three keep nearly all of it, as in the course file.

    Parameters
    ----------
    n_steps : int
        Number of time steps (rows). The course file has 1000.
    n_pedestrians : int
        Number of pedestrians. The course file has 15.
    seed : int
        Seed of the random generator.
    deformation, zigzag, noise : float
        Strength in metres of the common loop deformation, the alternating side step and the noise.

    Returns
    -------
    numpy.ndarray, shape (n_steps, 2 * n_pedestrians), float64
        Columns ``x1 y1 x2 y2 ...`` in metres, as in the course file.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps)
    pace = 2 * np.pi / 85 * (1 + 0.15 * np.sin(2 * np.pi * steps / 260 + rng.uniform(0, 2 * np.pi)))
    theta = np.cumsum(pace)
    centres = rng.uniform(2.0, 23.0, size=(n_pedestrians, 2))
    semi_a = rng.uniform(1.5, 3.0, n_pedestrians)
    semi_b = rng.uniform(1.0, 2.0, n_pedestrians)
    phase = rng.uniform(0, 2 * np.pi, n_pedestrians)
    turn = rng.uniform(0, np.pi, n_pedestrians)
    push = rng.normal(0.0, deformation, size=(n_pedestrians, 2))

    local = np.stack(
        [semi_a * np.cos(theta[:, None] + phase), semi_b * np.sin(theta[:, None] + phase)], axis=-1
    )  # (T, P, 2)
    cos_t, sin_t = np.cos(turn), np.sin(turn)
    rotation = np.stack([np.stack([cos_t, -sin_t], -1), np.stack([sin_t, cos_t], -1)], -2)  # (P, 2, 2)
    positions = centres + np.einsum("pij,tpj->tpi", rotation, local) + np.cos(2 * theta)[:, None, None] * push

    heading = np.gradient(positions, axis=0)
    sideways = np.stack([-heading[..., 1], heading[..., 0]], axis=-1)
    sideways /= np.linalg.norm(sideways, axis=-1, keepdims=True) + 1e-12
    alternate = np.where(steps % 2 == 0, 1.0, -1.0)[:, None, None]
    positions = positions + zigzag * alternate * sideways + rng.normal(0.0, noise, positions.shape)
    return positions.reshape(n_steps, 2 * n_pedestrians)


FIRE_EVACUATION_BOUNDS = ((0.0, 190.0), (0.0, 110.0))
"""The floor plan of the fire-evacuation data, ``((x_min, x_max), (y_min, y_max))`` in metres."""

# The stand-in's components: (kind, share of the people, geometry). Shares sum to 1.
_EVACUATION_DOOR = (95.0, 40.0)
_EVACUATION_COMPONENTS = (
    ("fan", 0.30, {"door": _EVACUATION_DOOR, "radius": 38.0, "half_angle": 80.0}),
    ("blob", 0.15, {"centre": (35.0, 88.0), "std": (3.5, 2.5)}),
    ("horizontal", 0.15, {"at": 75.0, "span": (10.0, 180.0)}),
    ("horizontal", 0.08, {"at": 45.0, "span": (15.0, 175.0)}),
    ("vertical", 0.08, {"at": 140.0, "span": (45.0, 105.0)}),
    ("vertical", 0.048, {"at": 20.0, "span": (45.0, 105.0)}),
    ("vertical", 0.048, {"at": 60.0, "span": (45.0, 105.0)}),
    ("vertical", 0.048, {"at": 95.0, "span": (45.0, 75.0)}),
    ("vertical", 0.048, {"at": 115.0, "span": (75.0, 105.0)}),
    ("vertical", 0.048, {"at": 170.0, "span": (45.0, 105.0)}),
)
_CORRIDOR_WIDTH_STD = 0.8  # metres: people walk near the middle of a corridor a few metres wide


def _sample_component(kind: str, geometry: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions (n, 2) of one component of :func:`make_fire_evacuation`."""
    if kind == "fan":
        # Half-disc opening downwards from the door, denser near the door (radius ~ R * u**0.75).
        angle = np.deg2rad(rng.uniform(-geometry["half_angle"], geometry["half_angle"], n))
        radius = geometry["radius"] * rng.uniform(0.0, 1.0, n) ** 0.75
        door = np.asarray(geometry["door"])
        return door + np.stack([radius * np.sin(angle), -radius * np.cos(angle)], axis=1)
    if kind == "blob":
        return np.asarray(geometry["centre"]) + rng.normal(0.0, 1.0, (n, 2)) * np.asarray(geometry["std"])
    along = rng.uniform(*geometry["span"], n)
    across = geometry["at"] + rng.normal(0.0, _CORRIDOR_WIDTH_STD, n)
    return np.stack([along, across] if kind == "horizontal" else [across, along], axis=1)


def make_fire_evacuation(n_samples: int = 3600, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Stand-in for ``FireEvac_{train,test}_set.npy``: a snapshot of people evacuating a large building.

    The floor plan is x in [0, 190] m, y in [0, 110] m. The building fills the upper part (y > 40 m),
    the main entrance is a door in its south wall at (95, 40), and the forecourt lies below it. Each
    person belongs to one component, drawn with these shares (multinomial counts, then the rows are
    shuffled, so the rows are independent draws from the mixture and any prefix is itself a sample):

    - 30 % crowd fanning out in front of the main entrance: a half-disc (opening +-80 degrees around
      straight down) of radius 38 m from the door, denser near the door (radius ``38 * u**0.75``);
    - 15 % dense waiting area: a Gaussian blob at (35, 88) with standard deviations (3.5, 2.5) m;
    - 15 % main corridor: horizontal, y = 75, x uniform in [10, 180];
    - 8 % south corridor: horizontal, y = 45, x uniform in [15, 175];
    - 8 % east corridor: vertical, x = 140, y uniform in [45, 105]; it crosses the exercise's sensitive
      area [130, 150] x [50, 70] over a third of its length, so about 2.7 % of all people are inside;
    - 24 % five more vertical corridors (4.8 % each): x = 20, 60 and 170 over y in [45, 105], x = 95
      over [45, 75] (from the entrance to the main corridor) and x = 115 over [75, 105].

    Corridors are thin: the across coordinate has a Gaussian spread of 0.8 m. Points are clipped to the
    floor plan (a handful at most touch its edge), so all are finite and inside the bounds.

    Parameters
    ----------
    n_samples : int
        Number of people (rows). The course files hold 3000 (train) + 600 (test).
    seed : int or numpy.random.Generator
        Seed of the random generator, or a generator to draw from (so ``lambda n, rng:
        make_fire_evacuation(n, rng)`` is a sampler of people, e.g. for notebook 04's ``critical_number``).

    Returns
    -------
    numpy.ndarray, shape (n_samples, 2), float64
        Positions ``(x, y)`` in metres.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}.")
    rng = np.random.default_rng(seed)
    shares = np.array([share for _, share, _ in _EVACUATION_COMPONENTS])
    counts = rng.multinomial(n_samples, shares / shares.sum())
    parts = [_sample_component(kind, geometry, int(count), rng)
             for (kind, _, geometry), count in zip(_EVACUATION_COMPONENTS, counts, strict=True)]
    points = np.concatenate(parts, axis=0)[rng.permutation(n_samples)]
    (x_min, x_max), (y_min, y_max) = FIRE_EVACUATION_BOUNDS
    return np.clip(points, [x_min, y_min], [x_max, y_max]).astype(np.float64, copy=False)


def _random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation (dim, dim): ``scipy.stats.special_ortho_group``; the identity when ``dim == 1``."""
    from scipy.stats import special_ortho_group

    return np.eye(1) if dim == 1 else special_ortho_group.rvs(dim, random_state=rng)


def make_gaussian_mixture_parameters(n_components: int = 4, dim: int = 3, seed: int = 0, box: float = 2.0,
                                     min_distance: float = 2.0, std_range: tuple[float, float] = (0.35, 0.9),
                                     min_weight: float | None = None):
    """The parameters of a random Gaussian mixture in ``dim`` dimensions (drawing points from it is an exercise).

    The mixture is drawn from ``seed``:

    - means uniform in the cube ``[-box, box]^dim``, redrawn until every pair is at least ``min_distance``
      apart (so no two components coincide, yet with standard deviations up to 0.9 their 3-sigma
      ellipsoids overlap: the components are *partly* overlapping);
    - covariances ``R diag(s^2) R^T`` with a random rotation ``R`` and standard deviations ``s`` uniform
      in ``std_range`` (elongated, tilted ellipsoids);
    - mixing weights from a Dirichlet(4, ..., 4) distribution, mixed with the uniform one so that no
      weight is below ``min_weight`` (default ``0.5 / n_components``).

    Parameters
    ----------
    n_components : int
        Number of components K (at least 1).
    dim : int
        Dimension of the points (at least 1).
    seed : int
        Seed of the random generator: the same seed gives the same mixture.
    box, min_distance : float
        Half-width of the cube of the means and the smallest distance between two means.
    std_range : (float, float)
        Range of the components' standard deviations along their principal axes.
    min_weight : float, optional
        Smallest mixing weight; default ``0.5 / n_components``.

    Returns
    -------
    sklearn.utils.Bunch
        ``means`` (K, dim); ``covariances`` (K, dim, dim), symmetric positive definite; ``weights`` (K,),
        summing to 1; ``source`` (str).
    """
    from sklearn.utils import Bunch

    if n_components < 1 or dim < 1:
        raise ValueError(f"Need n_components >= 1 and dim >= 1; got {n_components} and {dim}.")
    low, high = std_range
    if not 0 < low <= high:
        raise ValueError(f"std_range must satisfy 0 < low <= high; got {std_range}.")
    min_weight = 0.5 / n_components if min_weight is None else min_weight
    if not 0 <= min_weight <= 1 / n_components:
        raise ValueError(f"min_weight must lie in [0, 1 / n_components]; got {min_weight}.")
    rng = np.random.default_rng(seed)
    means = _separated_means(n_components, dim, box, min_distance, rng)
    covariances = np.empty((n_components, dim, dim))
    for k in range(n_components):
        rotation = _random_rotation(dim, rng)
        covariances[k] = rotation @ np.diag(rng.uniform(low, high, dim) ** 2) @ rotation.T
    dirichlet = rng.dirichlet(np.full(n_components, 4.0))
    weights = min_weight + (1 - n_components * min_weight) * dirichlet
    return Bunch(means=means, covariances=covariances, weights=weights,
                 source=f"generated: make_gaussian_mixture_parameters(n_components={n_components}, dim={dim}, "
                        f"seed={seed})")


def _separated_means(n_components: int, dim: int, box: float, min_distance: float, rng: np.random.Generator,
                     max_tries: int = 10_000) -> np.ndarray:
    """``n_components`` means uniform in ``[-box, box]^dim`` with pairwise distances >= ``min_distance``."""
    from scipy.spatial.distance import pdist

    for _ in range(max_tries):
        means = rng.uniform(-box, box, size=(n_components, dim))
        if n_components == 1 or pdist(means).min() >= min_distance:
            return means
    raise ValueError(f"Could not place {n_components} means {min_distance} apart in [-{box}, {box}]^{dim}; "
                     "lower min_distance or raise box.")
