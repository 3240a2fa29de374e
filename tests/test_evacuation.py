"""Counting people in an area and the critical number: by hand, from data, from a sampler; and the plot.

The critical-number searches are notebook 04's exercises: their reference solutions are tested here from
the instructor-only package.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle
from scipy import stats

from course_utils import evacuation, plotting
from course_utils.data import make_fire_evacuation
from course_utils.instructor.reference import evacuation as reference
from tests.plots import assert_axes

AREA = ((130.0, 150.0), (50.0, 70.0))
UNIT_AREA = ((0.0, 0.1), (0.0, 0.5))  # 5 % of the unit square


pytestmark = pytest.mark.usefixtures("close_figures")


def _brute_force_critical_number(p: float, critical: int) -> int:
    """Smallest n with P(Binomial(n, p) > critical) >= 1/2, by trying every n."""
    ns = np.arange(0, int(10 * (critical + 2) / p))
    return int(ns[np.argmax(stats.binom.sf(critical, ns, p) >= 0.5)])


def _toy(n_points: int, n_inside: int) -> np.ndarray:
    """n_points positions of which exactly n_inside lie in AREA."""
    points = np.tile([10.0, 10.0], (n_points, 1))
    points[:n_inside] = [140.0, 60.0]
    return points


def _uniform(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, (n, 2))


# ---------------------------------------------------------------- in_area


def test_in_area_counts_the_edges_as_inside():
    points = np.array([[130, 50], [150, 70], [140, 60], [130, 70], [129.999, 60], [140, 70.001], [0, 0]])
    np.testing.assert_array_equal(evacuation.in_area(points, AREA), [1, 1, 1, 1, 0, 0, 0])
    assert evacuation.in_area(np.empty((0, 2)), AREA).shape == (0,)


@pytest.mark.parametrize(
    ("points", "area", "message"),
    [
        (np.ones((3, 3)), AREA, r"shape \(n, 2\)"),
        (np.ones(4), AREA, r"shape \(n, 2\)"),
        (np.ones((3, 2)), ((150, 130), (50, 70)), "min <= max"),
        (np.ones((3, 2)), ((0, 1), (0, np.nan)), "finite"),
        (np.ones((3, 2)), (0, 1, 2, 3), "x_min, x_max"),
    ],
)
def test_in_area_refuses_bad_input(points, area, message):
    with pytest.raises(ValueError, match=message):
        evacuation.in_area(points, area)


# ---------------------------------------------------------------- the binomial critical number


def test_binomial_critical_number_by_hand():
    # P(Bin(n, 1/2) > 0) = 1 - 2**-n: first >= 1/2 at n = 1.
    assert reference.binomial_critical_number(0.5, 0) == 1
    # P(Bin(2, 1/2) > 1) = 1/4, P(Bin(3, 1/2) > 1) = 1 - 1/8 - 3/8 = 1/2.
    assert reference.binomial_critical_number(0.5, 1) == 3
    assert reference.binomial_critical_number(1.0, 100) == 101  # everyone inside


@pytest.mark.parametrize(("p", "critical"), [(0.05, 100), (0.0256, 100), (0.3, 7), (0.001, 20), (0.9, 50)])
def test_binomial_critical_number_matches_brute_force(p, critical):
    assert reference.binomial_critical_number(p, critical) == _brute_force_critical_number(p, critical)


@pytest.mark.parametrize(("share", "critical"), [(0.0, 100), (-0.1, 100), (1.5, 100), (np.nan, 100), (0.1, -1),
                                                 (0.1, 2.5)])
def test_binomial_critical_number_refuses_bad_input(share, critical):
    with pytest.raises(ValueError, match="share must be|critical must be"):
        reference.binomial_critical_number(share, critical)


# ---------------------------------------------------------------- from data


def test_empirical_critical_number_on_a_toy_set_with_known_share():
    result = evacuation.empirical_critical_number(_toy(1000, 50), AREA)  # p̂ = 0.05
    assert (result.n_points, result.n_inside, result.critical, result.confidence) == (1000, 50, 100, 0.95)
    assert result.share == pytest.approx(0.05)
    assert result.n_simple == pytest.approx(2000.0)
    ci = stats.binomtest(50, 1000).proportion_ci(confidence_level=0.95, method="exact")
    assert result.share_ci == pytest.approx((ci.low, ci.high))
    assert result.n_simple_ci == pytest.approx((100 / ci.high, 100 / ci.low))
    assert 2000 <= reference.binomial_critical_number(result.share, 100) <= 2040  # median crossing: just above


def test_confidence_interval_contains_the_estimate_and_shrinks_with_more_data():
    widths = []
    for n_points in (400, 4000, 40000):
        result = evacuation.empirical_critical_number(_toy(n_points, n_points // 40), AREA)
        assert result.share_ci[0] < result.share < result.share_ci[1]
        assert result.n_simple_ci[0] < result.n_simple < result.n_simple_ci[1]
        widths.append(result.n_simple_ci[1] - result.n_simple_ci[0])
    assert widths[0] > widths[1] > widths[2] > 0
    narrow = evacuation.empirical_critical_number(_toy(4000, 100), AREA, confidence=0.5)
    wide = evacuation.empirical_critical_number(_toy(4000, 100), AREA, confidence=0.99)
    assert narrow.n_simple_ci[0] > wide.n_simple_ci[0] and narrow.n_simple_ci[1] < wide.n_simple_ci[1]


def test_no_point_inside_is_a_clear_error_not_inf():
    with pytest.raises(ValueError, match="None of the 100 points lies inside"):
        evacuation.empirical_critical_number(_toy(100, 0), AREA)


@pytest.mark.parametrize(
    ("points", "kwargs", "message"),
    [
        (np.empty((0, 2)), {}, "points is empty"),
        (np.ones((5, 3)), {}, r"shape \(n, 2\)"),
        (_toy(10, 5), {"confidence": 1.0}, "confidence must be"),
        (_toy(10, 5), {"critical": -3}, "critical must be"),
    ],
)
def test_empirical_critical_number_refuses_bad_input(points, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evacuation.empirical_critical_number(points, AREA, **kwargs)


# ---------------------------------------------------------------- from a sampler


@pytest.mark.parametrize(("critical", "n_draws", "tolerance"), [(30, 1000, 0.03), (100, 200, 0.05)])
def test_sampler_recovers_the_binomial_answer_for_a_uniform_sampler(critical, n_draws, tolerance):
    exact = reference.binomial_critical_number(0.05, critical)
    found = reference.critical_number_from_sampler(_uniform, UNIT_AREA, critical=critical, n_draws=n_draws)
    assert found == pytest.approx(exact, rel=tolerance)


def test_sampler_result_is_deterministic_given_the_seed():
    def run(seed):
        return reference.critical_number_from_sampler(_uniform, UNIT_AREA, critical=20, n_draws=50, seed=seed)

    assert run(3) == run(3)
    assert len({run(seed) for seed in range(4)}) > 1
    # Another chunk size changes the random stream, not the distribution of the answer.
    small = reference.critical_number_from_sampler(_uniform, UNIT_AREA, critical=20, n_draws=400, chunk=7)
    assert small == pytest.approx(reference.binomial_critical_number(0.05, 20), rel=0.05)


def test_sampler_with_everyone_inside_needs_critical_plus_one():
    def everyone(n, rng):
        return np.full((n, 2), 140.0) + [0.0, -80.0]  # (140, 60)

    assert reference.critical_number_from_sampler(everyone, AREA, critical=100, n_draws=3, chunk=10) == 101


def test_sampler_on_the_fire_stand_in_matches_its_design():
    def sample(n, rng):
        return make_fire_evacuation(n, rng)

    found = reference.critical_number_from_sampler(sample, AREA, n_draws=200, seed=0)
    assert found == pytest.approx(reference.binomial_critical_number(0.08 / 3, 100), rel=0.05)


def test_sampler_errors_are_clear():
    with pytest.raises(ValueError, match="Only 0 of 10 draws .* within n_max=5000"):
        reference.critical_number_from_sampler(_uniform, ((2, 3), (2, 3)), n_draws=10, n_max=5000)
    with pytest.raises(ValueError, match="critical number is above n_max"):
        reference.critical_number_from_sampler(_uniform, UNIT_AREA, critical=100, n_draws=10, n_max=1000)
    with pytest.raises(ValueError, match=r"returned shape \(1024, 3\)"):
        reference.critical_number_from_sampler(lambda n, rng: np.ones((n, 3)), UNIT_AREA)
    with pytest.raises(ValueError, match="must be >= 1"):
        reference.critical_number_from_sampler(_uniform, UNIT_AREA, n_draws=0)


# ---------------------------------------------------------------- the plot


def test_plot_evacuation_draws_the_labelled_sensitive_area():
    points = make_fire_evacuation(600, seed=0)
    fig = plotting.plot_evacuation(points, AREA, title="Stand-in", label="generated", critical=100)
    ax = fig.axes[0]
    assert ax.get_title() == "Stand-in" and ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "y (m)"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    inside = int(evacuation.in_area(points, AREA).sum())
    assert texts == ["generated", f"sensitive area: {inside} of 600 inside (critical above 100)"]
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 1
    assert rectangles[0].get_xy() == (130, 50) and rectangles[0].get_width() == rectangles[0].get_height() == 20
    assert ax.get_aspect() == 1.0
    assert len(ax.collections[0].get_offsets()) == 600


def test_plot_evacuation_on_given_axes():
    fig, ax = plt.subplots()
    assert plotting.plot_evacuation(make_fire_evacuation(50), AREA, ax=ax) is fig
    assert_axes(ax, title="Positions during the evacuation", xlabel="x (m)", ylabel="y (m)", collections=1, patches=1,
                legend=["people", "sensitive area: 4 of 50 inside"])


def test_area_sampler_has_its_share_inside_and_the_binomial_answer():
    sampler = evacuation.AreaSampler(0.1, AREA, margin=2.0)
    points = sampler(20_000, np.random.default_rng(0))
    assert points.shape == (20_000, 2)
    assert evacuation.in_area(points, AREA).mean() == pytest.approx(0.1, abs=0.01)
    outside = points[~evacuation.in_area(points, AREA)]
    assert outside[:, 0].min() >= 128.0 and outside[:, 0].max() <= 152.0  # within the margin
    (x0, x1), (y0, y1) = AREA
    gap = np.max([x0 - outside[:, 0], outside[:, 0] - x1, y0 - outside[:, 1], outside[:, 1] - y1], axis=0)
    assert gap.min() > 0 and stats.kstest(gap / 2.0, "uniform").pvalue > 1e-3  # uniform across the band
    found = reference.critical_number_from_sampler(sampler, AREA, critical=20, n_draws=400, seed=1)
    assert found == pytest.approx(reference.binomial_critical_number(0.1, 20), rel=0.05)
    everyone_inside = evacuation.AreaSampler(1.0)(500, np.random.default_rng(2))  # the default area: unit square
    assert everyone_inside.min() >= 0.0 and everyone_inside.max() <= 1.0 and everyone_inside.min() < 0.01
    with pytest.raises(ValueError, match="share"):
        evacuation.AreaSampler(1.5)
    with pytest.raises(ValueError, match="margin"):
        evacuation.AreaSampler(0.5, margin=0.0)
