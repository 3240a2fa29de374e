"""Reference solutions of notebook 04 (fire evacuation), and the samplers its grader uses.

* :func:`binomial_critical_number`: the smallest ``n`` with ``P(Binomial(n, share) > critical) >= 1/2``
  (the notebook's ``critical_crowd``: the data's answer).
* :func:`critical_number_from_sampler`: the same criterion judged by drawing people from a generative
  model (the notebook's ``critical_number``).
* :func:`people_sampler`: people drawn from a trained kit VAE, ``x ~ p(x|z)``, back in metres.

Check inputs: ``course_utils.evacuation.AreaSampler`` (people inside an area with a known probability,
so the exact answer is :func:`binomial_critical_number`) and ``course_utils.probes.evacuation.probe_people_sampler``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from course_utils.evacuation import Area, in_area


def binomial_critical_number(share: float, critical: int = 100) -> int:
    """The smallest ``n`` with ``P(Binomial(n, share) > critical) >= 1/2`` (bisection over ``n``)."""
    if int(critical) != critical or critical < 0:
        raise ValueError(f"critical must be an integer >= 0, got {critical}.")
    if not 0.0 < share <= 1.0 or not math.isfinite(share):
        raise ValueError(f"share must be in (0, 1], got {share}: with no one inside, no number is critical.")

    def crossed(n: int) -> bool:
        return stats.binom.sf(critical, n, share) >= 0.5

    low, high = critical, max(critical + 1, math.ceil((critical + 2) / share))  # crossed(low) is False
    while not crossed(high):
        low, high = high, 2 * high
    while high - low > 1:  # invariant: not crossed(low), crossed(high)
        middle = (low + high) // 2
        low, high = (low, middle) if crossed(middle) else (middle, high)
    return high


def critical_number_from_sampler(sample_fn: Callable[[int, np.random.Generator], np.ndarray], area: Area,
                                 critical: int = 100, n_draws: int = 200, seed: int = 0,
                                 n_max: int = 1_000_000, chunk: int = 1024) -> int:
    """The smallest ``n`` such that in at least half of ``n_draws`` draws of ``n`` people, more than
    ``critical`` are inside ``area``.

    Nested draws: draw ``d`` is one growing sequence of people from ``sample_fn`` (chunks of ``chunk``,
    doubling), so its count inside only grows with ``n`` and the draw turns critical at the position
    ``n_d`` of its ``(critical + 1)``-th person inside; the answer is the ``ceil(n_draws / 2)``-th smallest
    ``n_d`` (what a bisection over ``n`` would find). Draw ``d`` uses the ``d``-th child of
    ``numpy.random.SeedSequence(seed)``.
    """
    if int(critical) != critical or critical < 0:
        raise ValueError(f"critical must be an integer >= 0, got {critical}.")
    if n_draws < 1 or n_max < 1 or chunk < 1:
        raise ValueError(f"n_draws, n_max and chunk must be >= 1, got {n_draws}, {n_max}, {chunk}.")
    crossings = np.full(n_draws, np.iinfo(np.int64).max, dtype=np.int64)
    for d, child in enumerate(np.random.SeedSequence(seed).spawn(n_draws)):
        rng = np.random.default_rng(child)
        drawn, inside, size = 0, 0, chunk
        while drawn < n_max:
            size = min(size, n_max - drawn)
            points = np.asarray(sample_fn(size, rng))
            if points.shape != (size, 2):
                raise ValueError(f"sample_fn({size}, rng) returned shape {points.shape}, expected ({size}, 2).")
            hits = np.flatnonzero(in_area(points, area))
            if inside + len(hits) > critical:
                crossings[d] = drawn + hits[critical - inside] + 1
                break
            drawn, inside, size = drawn + size, inside + len(hits), 2 * size
    needed = math.ceil(n_draws / 2)
    answer = int(np.partition(crossings, needed - 1)[needed - 1])
    if answer > n_max:
        reached = int((crossings <= n_max).sum())
        raise ValueError(f"Only {reached} of {n_draws} draws put more than {critical} people in {area} within "
                         f"n_max={n_max} people: the critical number is above n_max (raise it), or the "
                         "sampler rarely places anyone in the area.")
    return answer


def people_sampler(model, to_metres: Callable[[np.ndarray], np.ndarray],
                   z_sampler: Callable[[int, np.random.Generator], np.ndarray] | None = None
                   ) -> Callable[[int, np.random.Generator], np.ndarray]:
    """``(n, rng) -> positions (n, 2)``: ``z`` from the prior (or ``z_sampler``), ``x ~ p(x|z)``, in metres."""
    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return to_metres(model.generate(n, seed=rng, sample_likelihood=True, z_sampler=z_sampler))

    return sample
