"""Checks of notebook 04 (fire evacuation): the critical-number search and the data's figures."""

import numpy as np

from course_utils.evacuation import binomial_critical_number
from course_utils.instructor.checks import FunctionCheck, ResultCheck

EXERCISE = "04_fire_evacuation"


def _shares(rng: np.random.Generator) -> list[tuple]:
    cases = [(1.0, 100), (0.5, 0), (0.5, 1)]
    cases += [(float(p), int(c)) for p, c in zip(rng.uniform(0.005, 0.6, 6), rng.integers(1, 200, 6), strict=True)]
    return cases


CHECKS = [
    FunctionCheck("critical_crowd", "critical_crowd", _shares, binomial_critical_number, points=4, rtol=0, atol=0,
                  description="smallest n with P(Binomial(n, p) > critical) >= 1/2"),
    ResultCheck("critical_people_empirical_median", "critical_people_empirical_median", points=1),
    ResultCheck("critical_people_empirical", "critical_people_empirical", points=1),
]
