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
