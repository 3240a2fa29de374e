"""Checks of notebook 04 (fire evacuation): the binomial critical number, the search by sampling, the sampler.

``critical_number`` is a Monte-Carlo search, so it is compared with the exact binomial answer of samplers
whose share inside is known (``course_utils.evacuation.AreaSampler``), within a tolerance several times its
sampling error; most cases have small thresholds, where "more than critical" and "at least critical" differ by 15-30 %.
``people_sampler`` is run on a seeded kit VAE (probe): the mean and spread of 40 000 people, with the
prior and with a latent mixture, against the reference's. Graded runs use the small profile (3 epochs),
so only the figures that do not depend on training are compared with the reference run.
"""

import numpy as np

from course_utils.evacuation import AreaSampler
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference import evacuation as R
from course_utils.probes import evacuation as P

EXERCISE = "04_fire_evacuation"
AREA = ((130.0, 150.0), (50.0, 70.0))


def _shares(rng: np.random.Generator) -> list[tuple]:
    cases = [(1.0, 100), (0.5, 0)]
    cases += [(float(p), int(c)) for p, c in zip(rng.uniform(0.005, 0.6, 7), rng.integers(1, 200, 7), strict=True)]
    return cases


def _samplers(rng: np.random.Generator) -> list[tuple]:
    seeds = rng.integers(0, 10_000, 5)
    plan = [(1.0, 7, 5), (0.02, 5, 1000), (0.05, 3, 1000), (0.25, 10, 400), (0.1, 20, 400)]
    return [(share, AREA, critical, n_draws, int(seed))
            for (share, critical, n_draws), seed in zip(plan, seeds, strict=True)]


def _exact(sampler: AreaSampler, area, critical: int, n_draws: int, seed: int) -> int:
    return R.binomial_critical_number(sampler.share, critical)


def _people_cases(rng: np.random.Generator) -> list[tuple]:
    seeds = rng.integers(0, 1000, 2)
    return [(int(seed), mixture, 40_000) for seed in seeds for mixture in (False, True)]


# Kit functions withheld while grading this notebook (course_utils/instructor/withhold.py): none. critical_crowd
# (the binomial median search) and critical_number (the median crossing over seeded draws) have no counterpart in
# the kit (empirical_critical_number is critical / share, another quantity); people_sampler is meant to wire the
# kit VAE's generate (the sheet says so), so generate stays.
WITHHELD: list[str] = []

CHECKS = [
    FunctionCheck("critical_crowd", "critical_crowd", _shares, R.binomial_critical_number, points=2, rtol=0, atol=0,
                  returns=("n",),
                  description="smallest n with P(Binomial(n, p) > critical) >= 1/2"),
    FunctionCheck("critical_number", "critical_number", _samplers, _exact, probe=P.probe_critical_number,
                  points=5, rtol=0.08, atol=0,
                  description="critical number by sampling, against the exact binomial answer of samplers with a "
                              "known share inside (within 8 %)"),
    FunctionCheck("people_sampler", "people_sampler", _people_cases,
                  R.people_sampler, probe=P.probe_people_sampler,
                  points=2, rtol=0.03, atol=0,
                  description="mean and spread of people drawn from a seeded VAE (prior and latent mixture), "
                              "x ~ p(x|z), in metres"),
    ResultCheck("critical_people_empirical_median", "critical_people_empirical_median", points=1,
                depends_on=("critical_crowd",), description="your critical_crowd on the recorded positions' share"),
    ResultCheck("critical_people_empirical", "critical_people_empirical", points=1,
                description="100 / share of the recorded positions inside the exit area"),
    ResultCheck("critical_people_resampled", "critical_people_resampled", points=1,
                same_as="critical_people_empirical_median", rtol=0.06, depends_on=("critical_number", "critical_crowd"),
                description="your critical_number on the resampled data agrees with the binomial answer"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"04-q1": 3, "04-q2": 3}

# Deliberate bugs for tools/grade_demo.py: each replaces one exact piece of the instructor notebook.
DEMO_BUGS = {
    "critical_crowd_off_by_one": [("    return int(high)", "    return int(low)")],
    "critical_number_quartile": [("answer = int(np.sort(crossings)[int(np.ceil(n_draws / 2)) - 1])",
                                  "answer = int(np.sort(crossings)[n_draws // 4])")],
    "people_sampler_means_only": [("sample_likelihood=True, z_sampler=z_sampler))",
                                   "sample_likelihood=False, z_sampler=z_sampler))")],
    "people_sampler_ignores_latent_sampler": [("sample_likelihood=True, z_sampler=z_sampler))",
                                               "sample_likelihood=True, z_sampler=None))")],
    "critical_crowd_at_least_critical": [("while stats.binom.sf(critical, high, share) < 0.5:",
                                          "while stats.binom.sf(critical - 1, high, share) < 0.5:"),
                                         ("if stats.binom.sf(critical, middle, share) >= 0.5",
                                          "if stats.binom.sf(critical - 1, middle, share) >= 0.5")],
    "critical_number_counts_the_critical_th": [("crossings[d] = drawn + hits[critical - inside] + 1",
                                                "crossings[d] = drawn + hits[critical - inside - 1] + 1")],
}
