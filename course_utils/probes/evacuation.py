"""Probe of notebook 04's ``people_sampler`` check: run a student's sampler on a seeded kit VAE, return numbers.

Runs inside the grading sandbox (and in the grader on the reference); holds no answer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _probe_model(seed: int):
    """A small kit VAE of 2-D points with seeded weights (untrained: its samples are a fixed distribution)."""
    import keras

    from course_utils import vae as V

    keras.utils.set_random_seed(seed)  # the weights (build_vae leaves the global generators alone)
    return V.build_vae((2,), latent_dim=2, likelihood=V.GaussianLikelihood(scale=0.3), encoder_hidden=(16,),
                       decoder_hidden=(16,), seed=seed, jit_compile=False)


def _scale(points: np.ndarray) -> np.ndarray:
    return 40.0 * np.asarray(points) + np.array([95.0, 55.0])


def _mixture_z(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, 2)) * 0.3 + np.where(rng.random((n, 1)) < 0.5, -1.5, 1.5)


def probe_people_sampler(function: Callable, seed: int, use_mixture: bool, n: int) -> np.ndarray:
    """Mean and standard deviation of each coordinate of ``n`` people from ``function(model, to_metres, z_sampler)``.

    The model is a seeded kit VAE, ``to_metres`` a fixed affine map, ``z_sampler`` a fixed two-component
    mixture when ``use_mixture``; the numbers are compared with the reference's within a sampling tolerance.
    """
    sample = function(_probe_model(seed), _scale, _mixture_z if use_mixture else None)
    points = np.asarray(sample(n, np.random.default_rng(seed)), dtype=np.float64)
    if points.shape != (n, 2):
        raise ValueError(f"the sampler returned shape {points.shape}, expected ({n}, 2)")
    return np.concatenate([points.mean(axis=0), points.std(axis=0)])


def probe_critical_number(function: Callable, share: float, area, critical: int, n_draws: int,
                          seed: int) -> int:
    """``function(sampler, area, critical, n_draws, seed)`` on an :class:`~course_utils.evacuation.AreaSampler`.

    The sampler puts each person inside ``area`` with probability ``share``, so the expected value is the exact
    binomial answer. The case travels into the sandbox as numbers; the sampler is built here.
    """
    from course_utils.evacuation import AreaSampler

    (x0, x1), (y0, y1) = np.asarray(area, dtype=float)
    box = ((float(x0), float(x1)), (float(y0), float(y1)))
    return function(AreaSampler(float(share), box), box, int(critical), int(n_draws), int(seed))
