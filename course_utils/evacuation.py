"""How many people make an area critical? Counting points in a rectangle, from data or from a sampler.

An *area* is a rectangle ``((x_min, x_max), (y_min, y_max))`` (closed: its edges count as inside). It is
critical when more than ``critical`` people are inside. If each of ``n`` people is inside independently
with probability ``p``, the count inside is ``Binomial(n, p)``; the *critical number* is the smallest
``n`` for which the area is more likely critical than not, ``P(Binomial(n, p) > critical) >= 1/2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

Area = tuple[tuple[float, float], tuple[float, float]]


def _check_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {points.shape}.")
    return points


def _check_area(area: Area) -> np.ndarray:
    bounds = np.asarray(area, dtype=np.float64)
    if bounds.shape != (2, 2) or not np.all(np.isfinite(bounds)) or np.any(bounds[:, 0] > bounds[:, 1]):
        raise ValueError(f"area must be ((x_min, x_max), (y_min, y_max)) with finite min <= max, got {area}.")
    return bounds


def _check_critical(critical: int) -> int:
    if int(critical) != critical or critical < 0:
        raise ValueError(f"critical must be an integer >= 0, got {critical}.")
    return int(critical)


def in_area(points: np.ndarray, area: Area) -> np.ndarray:
    """Which points lie in the rectangle ``area`` (edges included).

    Parameters
    ----------
    points : array-like, shape (n, 2)
        Positions ``(x, y)``.
    area : ((x_min, x_max), (y_min, y_max))
        The rectangle.

    Returns
    -------
    numpy.ndarray, shape (n,), bool
    """
    points, (x_range, y_range) = _check_points(points), _check_area(area)
    x, y = points[:, 0], points[:, 1]
    return (x >= x_range[0]) & (x <= x_range[1]) & (y >= y_range[0]) & (y <= y_range[1])


def binomial_critical_number(share: float, critical: int = 100) -> int:
    """The smallest ``n`` with ``P(Binomial(n, share) > critical) >= 1/2`` (the median crossing).

    The probability grows with ``n``, so a bisection over ``n`` finds it exactly; it lies between
    ``critical + 1`` and about ``(critical + 2) / share``.

    Parameters
    ----------
    share : float
        Probability that one person is inside the area, in (0, 1].
    critical : int
        The area is critical with more than ``critical`` people inside.

    Returns
    -------
    int
    """
    critical = _check_critical(critical)
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


@dataclass(frozen=True)
class CriticalNumber:
    """The critical number estimated from a sample of positions; see :func:`empirical_critical_number`.

    Attributes
    ----------
    n_points, n_inside : int
        Size of the sample and number of its points inside the area.
    share : float
        ``n_inside / n_points``, the estimate p̂ of the probability of being inside.
    share_ci : (float, float)
        Exact (Clopper-Pearson) confidence interval for that probability.
    n_critical : int
        Point estimate: the smallest ``n`` with ``P(Binomial(n, p̂) > critical) >= 1/2``.
    n_simple : float
        ``critical / p̂``: the number of people for which the *expected* count inside is ``critical``.
    n_ci : (int, int)
        Confidence interval for the critical number: ``n_critical`` recomputed at the upper and at the
        lower end of ``share_ci`` (a larger share needs fewer people).
    critical : int
        Threshold: critical with more than ``critical`` people inside.
    confidence : float
        Confidence level of both intervals.
    """

    n_points: int
    n_inside: int
    share: float
    share_ci: tuple[float, float]
    n_critical: int
    n_simple: float
    n_ci: tuple[int, int]
    critical: int
    confidence: float


def empirical_critical_number(points: np.ndarray, area: Area, critical: int = 100,
                              confidence: float = 0.95) -> CriticalNumber:
    """Estimate how many people make ``area`` critical, from one sample of positions.

    Idea: the share p̂ of the sample inside the area estimates the probability ``p`` that a person is
    inside; with ``n`` people the count inside is ``Binomial(n, p)``. The point estimate is
    :func:`binomial_critical_number` at p̂; the interval maps the exact Clopper-Pearson interval
    ``[p_low, p_high]`` for ``p`` (``scipy.stats.binomtest(k, N).proportion_ci(confidence, "exact")``)
    through the decreasing map ``p -> binomial_critical_number(p)``, giving ``[n(p_high), n(p_low)]``.

    Parameters
    ----------
    points : array-like, shape (N, 2)
        Positions ``(x, y)``: one sample of the people in the building.
    area : ((x_min, x_max), (y_min, y_max))
        The sensitive area.
    critical : int
        The area is critical with more than ``critical`` people inside.
    confidence : float
        Confidence level of the intervals, in (0, 1).

    Returns
    -------
    CriticalNumber

    Raises
    ------
    ValueError
        If no point lies inside the area (p̂ = 0: the data give no finite critical number, nor an upper
        confidence bound), if ``points`` is empty or of the wrong shape, or if an argument is out of range.
    """
    points, critical = _check_points(points), _check_critical(critical)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if len(points) == 0:
        raise ValueError("points is empty: no share inside the area can be estimated.")
    if not np.all(np.isfinite(points)):  # a NaN row is inside no area but would count in the total
        bad = int((~np.all(np.isfinite(points), axis=1)).sum())
        raise ValueError(f"points has {bad} of {len(points)} rows with NaN or infinite values, which would count "
                         "as people outside the area; drop them first (points[np.isfinite(points).all(axis=1)]).")
    n_points, n_inside = len(points), int(in_area(points, area).sum())
    if n_inside == 0:
        raise ValueError(f"None of the {n_points} points lies inside the area {area}: the share inside is 0, "
                         "so no number of people is estimated to make it critical. Check the area, or use "
                         "more points.")
    interval = stats.binomtest(n_inside, n_points).proportion_ci(confidence_level=confidence, method="exact")
    share = n_inside / n_points
    low, high = float(interval.low), float(interval.high)  # low > 0 since n_inside >= 1
    return CriticalNumber(
        n_points=n_points, n_inside=n_inside, share=share, share_ci=(low, high),
        n_critical=binomial_critical_number(share, critical), n_simple=critical / share,
        n_ci=(binomial_critical_number(high, critical), binomial_critical_number(low, critical)),
        critical=critical, confidence=confidence,
    )


def critical_number_from_sampler(sample_fn: Callable[[int, np.random.Generator], np.ndarray], area: Area,
                                 critical: int = 100, n_draws: int = 200, seed: int = 0,
                                 n_max: int = 1_000_000, chunk: int = 1024) -> int:
    """The smallest ``n`` such that, in at least half of ``n_draws`` draws of ``n`` people, more than
    ``critical`` of them are inside ``area``.

    Idea: nested draws. Each draw is one growing sequence of people from ``sample_fn``; the first ``n``
    of them are the draw of size ``n``, so its count inside only grows with ``n`` and the draw turns
    critical at the position ``n_d`` of its ``(critical + 1)``-th person inside. The fraction of critical
    draws is then monotone in ``n``, and a bisection over ``n`` would stop exactly at the
    ``ceil(n_draws / 2)``-th smallest ``n_d``, which is returned directly (no steps needed). Each draw
    calls ``sample_fn`` on chunks (``chunk``, then doubling) until it turns critical or reaches
    ``n_max`` people, so the cost is about ``n_draws`` times the answer, vectorised per chunk.

    For a sampler whose people are inside independently with probability ``p``, ``P(n_d <= n) =
    P(Binomial(n, p) > critical)``: the result estimates :func:`binomial_critical_number` ``(p)``.

    Parameters
    ----------
    sample_fn : callable ``(n, rng) -> array (n, 2)``
        Draws ``n`` positions with the generator ``rng``. Rows must be independent draws of one
        distribution (e.g. a VAE decoder on independent latent samples, or
        ``lambda n, rng: make_fire_evacuation(n, rng)``).
    area : ((x_min, x_max), (y_min, y_max))
        The sensitive area.
    critical : int
        The area is critical with more than ``critical`` people inside.
    n_draws : int
        Number of independent draws.
    seed : int
        Seed: draw ``d`` uses the ``d``-th child of ``numpy.random.SeedSequence(seed)``, so the result is
        deterministic given ``seed`` (for a deterministic ``sample_fn``).
    n_max : int
        Largest number of people tried per draw.
    chunk : int
        Size of a draw's first call to ``sample_fn``; later calls double it.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If fewer than half of the draws turn critical within ``n_max`` people (the answer is larger than
        ``n_max``, or the sampler almost never puts anyone in the area), if ``sample_fn`` returns an
        array of the wrong shape, or if an argument is out of range.
    """
    critical = _check_critical(critical)
    _check_area(area)
    if n_draws < 1 or n_max < 1 or chunk < 1:
        raise ValueError(f"n_draws, n_max and chunk must be >= 1, got {n_draws}, {n_max}, {chunk}.")
    crossings = np.full(n_draws, np.iinfo(np.int64).max, dtype=np.int64)  # max: not critical within n_max
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
