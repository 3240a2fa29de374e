"""How many people make an area critical? Counting points in a rectangle; the share inside, with its interval.

An *area* is a rectangle ``((x_min, x_max), (y_min, y_max))`` (closed: its edges count as inside). It is
critical when more than ``critical`` people are inside. If each of ``n`` people is inside independently
with probability ``p``, the count inside is ``Binomial(n, p)``, whose mean is ``n p``.

Notebook 04 asks students for the critical number itself (the smallest ``n`` with
``P(Binomial(n, p) > critical) >= 1/2``, from the data and by sampling from a model); those answers live
in the instructor-only ``course_utils.instructor.reference.evacuation``, not here.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class CriticalNumber:
    """The share of a sample inside an area and what it says about the critical number, by expectation.

    Attributes
    ----------
    n_points, n_inside : int
        Size of the sample and number of its points inside the area.
    share : float
        ``n_inside / n_points``, the estimate p̂ of the probability of being inside.
    share_ci : (float, float)
        Exact (Clopper-Pearson) confidence interval for that probability.
    n_simple : float
        ``critical / p̂``: the number of people for which the *expected* count inside is ``critical``.
    n_simple_ci : (float, float)
        ``critical / p`` at the upper and at the lower end of ``share_ci`` (a larger share needs fewer people).
    critical : int
        Threshold: critical with more than ``critical`` people inside.
    confidence : float
        Confidence level of the intervals.
    """

    n_points: int
    n_inside: int
    share: float
    share_ci: tuple[float, float]
    n_simple: float
    n_simple_ci: tuple[float, float]
    critical: int
    confidence: float


def empirical_critical_number(points: np.ndarray, area: Area, critical: int = 100,
                              confidence: float = 0.95) -> CriticalNumber:
    """The share of ``points`` inside ``area``, its exact confidence interval, and ``critical / share``.

    Idea: the share p̂ of the sample inside the area estimates the probability ``p`` that a person is
    inside; with ``n`` people the expected count inside is ``n p``, which reaches ``critical`` at
    ``n = critical / p``. The interval maps the exact Clopper-Pearson interval ``[p_low, p_high]``
    (``scipy.stats.binomtest(k, N).proportion_ci(confidence, "exact")``) through ``p -> critical / p``.

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
        If no point lies inside the area (p̂ = 0: the data give no finite number, nor an upper confidence
        bound), if ``points`` is empty or of the wrong shape, or if an argument is out of range.
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
        (x_low, y_low), (x_high, y_high) = points.min(axis=0), points.max(axis=0)
        raise ValueError(f"None of the {n_points} points lies inside the area {area}: the share inside is 0, "
                         "so no number of people is estimated to make it critical. The points cover x in "
                         f"[{x_low:g}, {x_high:g}] and y in [{y_low:g}, {y_high:g}]: are they in the area's "
                         "units (metres for load_fire_evacuation's data and sensitive_area), with x first? "
                         "Check the area, or use more points.")
    interval = stats.binomtest(n_inside, n_points).proportion_ci(confidence_level=confidence, method="exact")
    share = n_inside / n_points
    low, high = float(interval.low), float(interval.high)  # low > 0 since n_inside >= 1
    return CriticalNumber(n_points=n_points, n_inside=n_inside, share=share, share_ci=(low, high),
                          n_simple=critical / share, n_simple_ci=(critical / high, critical / low),
                          critical=critical, confidence=confidence)


@dataclass(frozen=True)
class AreaSampler:
    """A sampler of people with a known share inside an area: ``sampler(n, rng) -> positions (n, 2)``.

    Each person is inside ``area`` (uniformly) with probability ``share``, otherwise uniformly in a band of
    width ``margin`` just outside one of its four sides. The count inside ``n`` people is then exactly
    ``Binomial(n, share)``, so a critical-number search by sampling can be tested against the binomial
    answer.
    """

    share: float
    area: Area = ((0.0, 1.0), (0.0, 1.0))
    margin: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {self.share}.")
        _check_area(self.area)
        if not self.margin > 0:
            raise ValueError(f"margin must be positive, got {self.margin}.")

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        (x0, x1), (y0, y1) = self.area
        inside = rng.random(n) < self.share
        points = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
        outside = np.flatnonzero(~inside)
        side = rng.integers(0, 4, len(outside))  # left, right, below, above the area
        offset = rng.uniform(1e-6, self.margin, len(outside))
        points[outside[side == 0], 0] = x0 - offset[side == 0]
        points[outside[side == 1], 0] = x1 + offset[side == 1]
        points[outside[side == 2], 1] = y0 - offset[side == 2]
        points[outside[side == 3], 1] = y1 + offset[side == 3]
        return points
