"""course_utils.modes: mode coverage against the definitions, cluster-number choice and their plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.metrics import adjusted_rand_score

from course_utils import modes as M
from course_utils import plotting
from course_utils.instructor.reference.gmm import bic_n_clusters, make_gaussian_mixture
from tests.plots import assert_axes


@pytest.fixture(scope="module")
def mixture():
    """A well separated 4-component mixture in 3-D and 8000 of its points."""
    return make_gaussian_mixture(8000, seed=1, box=4.0, min_distance=5.0)


def test_mahalanobis_matches_scipy(mixture):
    d = M.mahalanobis_distances(mixture.points[:5], mixture.means, mixture.covariances)
    assert d.shape == (5, 4)
    expected = mahalanobis(mixture.points[2], mixture.means[1], np.linalg.inv(mixture.covariances[1]))
    assert d[2, 1] == pytest.approx(expected)


def test_samples_of_the_true_mixture_capture_everything(mixture):
    coverage = M.mode_coverage(mixture.points, mixture.means, mixture.covariances, mixture.weights)
    assert coverage.modes_total == 4 and coverage.modes_captured == 4
    # In 3-D, P(chi2_3 <= 9) = 0.971: the ceiling of a perfect sampler of separated components.
    assert M.high_quality_ceiling(3) == pytest.approx(0.9707, abs=1e-4)
    assert M.high_quality_ceiling(2) == pytest.approx(0.9889, abs=1e-4)
    assert coverage.high_quality_fraction == pytest.approx(0.971, abs=0.01)
    assert coverage.weight_total_variation < 0.02
    assert (coverage.nearest == mixture.labels).mean() > 0.999  # separated: nearest = true component
    assert coverage.as_dict()["modes_captured"] == 4


def test_samples_of_two_components_capture_two(mixture):
    two = mixture.points[mixture.labels < 2]
    coverage = M.mode_coverage(two, mixture.means, mixture.covariances, mixture.weights)
    assert coverage.modes_captured == 2
    assert list(coverage.captured) == [True, True, False, False]
    assert coverage.high_quality_fraction > 0.95
    # All high-quality mass on two components: TV = weight of the two missing ones.
    assert coverage.weight_total_variation == pytest.approx(mixture.weights[2:].sum(), abs=0.02)


def test_exact_shares_give_zero_total_variation():
    means = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    covariances = np.stack([np.eye(3)] * 2)
    samples = np.array([[0.1, 0, 0]] * 3 + [[10.2, 0, 0]] * 1)
    coverage = M.mode_coverage(samples, means, covariances, np.array([0.75, 0.25]))
    assert coverage.weight_total_variation == 0.0
    assert coverage.high_quality_fraction == 1.0
    assert M.total_variation([0.5, 0.5], [1.0, 0.0]) == 0.5
    shown = repr(coverage)  # a notebook prints the result: per-component figures, not one entry per sample
    assert "shares=" in shown and "nearest=" not in shown and "high_quality=" not in shown


def test_far_samples_are_low_quality_and_threshold_is_relative():
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    covariances = np.stack([np.eye(2)] * 2)
    samples = np.array([[0.0, 0.0]] * 95 + [[10.0, 0.0]] * 4 + [[5.0, 0.0]])  # midpoint is 5 sd from both
    coverage = M.mode_coverage(samples, means, covariances, np.array([0.5, 0.5]))
    assert coverage.high_quality_fraction == pytest.approx(0.99)
    assert list(coverage.counts) == [95, 4]
    assert list(coverage.min_count) == [5, 5]  # a tenth of the 50 expected
    assert coverage.modes_captured == 1  # 4 stray samples do not capture the second mode
    assert M.mode_coverage(samples, means, covariances, np.array([0.5, 0.5]), min_expected_fraction=0.05
                           ).modes_captured == 2


def test_non_default_threshold_is_used():
    """A mode_coverage that ignored its threshold (always 3) would fail here: 5 sd is high quality at 6."""
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    covariances = np.stack([np.eye(2)] * 2)
    samples = np.array([[0.0, 0.0]] * 6 + [[0.0, 2.0]] * 2 + [[5.0, 0.0]] * 2)  # 0, 2 and 5 sd away
    weights = np.array([0.5, 0.5])
    assert M.mode_coverage(samples, means, covariances, weights).high_quality_fraction == pytest.approx(0.8)
    wide = M.mode_coverage(samples, means, covariances, weights, threshold=6.0)
    assert wide.threshold == 6.0 and wide.high_quality_fraction == pytest.approx(1.0)
    narrow = M.mode_coverage(samples, means, covariances, weights, threshold=1.5)
    assert narrow.high_quality_fraction == pytest.approx(0.6) and list(narrow.counts) == [6, 0]
    assert M.high_quality_ceiling(3, threshold=2.0) == pytest.approx(0.7385, abs=1e-4)


def test_failure_paths():
    means, covariances, weights = np.zeros((2, 3)), np.stack([np.eye(3)] * 2), np.array([0.5, 0.5])
    with pytest.raises(ValueError, match="covariances must have shape"):
        M.mode_coverage(np.zeros((4, 3)), means, np.eye(3), weights)
    with pytest.raises(ValueError, match="weights must be"):
        M.mode_coverage(np.zeros((4, 3)), means, covariances, np.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="x must have shape"):
        M.mode_coverage(np.zeros((4, 2)), means, covariances, weights)
    with pytest.raises(ValueError, match="n >= 1"):
        M.mode_coverage(np.zeros((0, 3)), means, covariances, weights)
    with pytest.raises(ValueError, match="NaN"):
        M.mode_coverage(np.full((2, 3), np.nan), means, covariances, weights)
    with pytest.raises(ValueError, match="positive definite"):
        M.mode_coverage(np.zeros((2, 3)), means, np.zeros((2, 3, 3)), weights)
    with pytest.raises(ValueError, match="threshold"):
        M.mode_coverage(np.zeros((2, 3)), means, covariances, weights, threshold=0)
    with pytest.raises(ValueError, match="same length"):
        M.total_variation([1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        M.total_variation([0.2, 0.2], [0.5, 0.5])


def test_choose_n_clusters_finds_the_components(mixture):
    bic = M.choose_n_clusters(mixture.points[:3000], candidates=range(1, 7), method="bic", bic=bic_n_clusters,
                              n_init=1)
    assert bic.method == "bic" and bic.n_clusters == 4
    assert list(bic.candidates) == [1, 2, 3, 4, 5, 6] and bic.scores.argmin() == 3
    assert adjusted_rand_score(mixture.labels[:3000], bic.labels) > 0.95
    silhouette = M.choose_n_clusters(mixture.points[:3000], candidates=range(1, 7), method="silhouette", n_init=1)
    assert silhouette.n_clusters == 4 and list(silhouette.candidates) == [2, 3, 4, 5, 6]
    one_blob = np.random.default_rng(0).normal(size=(1000, 3))
    assert M.choose_n_clusters(one_blob, range(1, 5), "bic", n_init=1, bic=bic_n_clusters).n_clusters == 1


def test_choose_n_clusters_failures():
    with pytest.raises(ValueError, match="Unknown method"):
        M.choose_n_clusters(np.zeros((10, 2)), method="elbow")
    with pytest.raises(ValueError, match="needs bic="):
        M.choose_n_clusters(np.zeros((10, 2)), method="bic")
    with pytest.raises(ValueError, match="one of the candidates"):
        M.choose_n_clusters(np.random.default_rng(0).normal(size=(30, 2)), [1, 2], "bic",
                            bic=lambda x, c, seed, n_init: (7, np.zeros(2)))
    with pytest.raises(ValueError, match="candidate"):
        M.choose_n_clusters(np.zeros((10, 2)), candidates=[20])
    with pytest.raises(ValueError, match="finite"):
        M.choose_n_clusters(np.full((10, 2), np.inf))


def test_choose_n_clusters_with_one_candidate_is_that_candidates_silhouette():
    """A single candidate is a valid choice; its score is scikit-learn's silhouette of the same seeded k-means."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = np.random.default_rng(2).normal(size=(60, 2))
    choice = M.choose_n_clusters(x, candidates=[3], n_init=1, seed=4)
    labels = KMeans(3, n_init=1, random_state=4).fit(x).labels_
    assert choice.n_clusters == 3 and list(choice.candidates) == [3]
    np.testing.assert_allclose(choice.scores, [silhouette_score(x, labels)], rtol=1e-12)
    np.testing.assert_array_equal(choice.labels, labels)
    assert "scores=" in repr(choice) and "model=" not in repr(choice)  # the fitted model stays out of the repr


def test_choose_n_clusters_allows_as_many_clusters_as_points_for_bic():
    """Candidates may go up to the number of points (BIC's own function decides); one more is refused."""
    x = np.random.default_rng(3).normal(size=(6, 2))
    seen = []

    def bic(points, candidates, seed, n_init):
        seen.append(list(candidates))
        return 2, np.zeros(len(candidates))

    assert M.choose_n_clusters(x, range(1, 7), "bic", n_init=1, bic=bic).n_clusters == 2
    assert seen == [[1, 2, 3, 4, 5, 6]]
    with pytest.raises(ValueError, match="between 1 and 6"):
        M.choose_n_clusters(x, range(1, 8), "bic", n_init=1, bic=bic)


def test_histogram_peaks_count_peaks_of_flattened_values():
    """The seed project's method counts peaks of one histogram of all values (two separated values: 2)."""
    assert M.histogram_peaks_1d(np.r_[np.zeros(50), np.ones(50)], bins=10) == 2
    with pytest.raises(ValueError, match="at least one"):
        M.histogram_peaks_1d(np.array([]))


def test_plots_are_titled_and_labelled(mixture):
    coverage = M.mode_coverage(mixture.points[mixture.labels < 3], mixture.means, mixture.covariances,
                               mixture.weights)
    fig = plotting.plot_mode_coverage(coverage, title="Test")
    ax = fig.axes[0]
    assert "2/4" not in ax.get_title() and "3/4 captured" in ax.get_title()
    assert_axes(ax, xlabel="component $k$", ylabel="share", patches=8, texts=1,  # 2 bars per component; "missed"
                legend=["true weight $w_k$", "share of high-quality samples"])
    assert any(t.get_text() == "missed" for t in ax.texts)
    choice = M.choose_n_clusters(mixture.points[:500], range(1, 5), "bic", n_init=1, bic=bic_n_clusters)
    fig2 = plotting.plot_cluster_scores({"data": choice})
    assert fig2.axes[0].get_ylabel() == "(BIC - min BIC) per point"
    fig3 = plotting.plot_labelled_points_3d(mixture.points, mixture.labels, mixture.means, title="Mixture")
    assert fig3.axes[0].get_title() == "Mixture" and fig3.axes[0].get_zlabel() == "$x_3$"
    low_quality = np.where(coverage.high_quality, coverage.nearest, -1)
    legend = plotting.plot_labelled_points_3d(mixture.points[mixture.labels < 3], low_quality).axes[0].get_legend()
    assert "none (> 3 sd)" in [t.get_text() for t in legend.get_texts()]
    fig4 = plotting.plot_labelled_points_2d(mixture.points[:, :2], mixture.labels, title="t-SNE")
    assert len(fig4.axes[0].get_legend().get_texts()) == 4
    distances = M.mahalanobis_distances(mixture.points, mixture.means, mixture.covariances).min(axis=1)
    fig5 = plotting.plot_mahalanobis_histogram({"data": distances}, dim=3)
    assert_axes(fig5.axes[0], title="Distance to the nearest true component", ylabel="density", lines=2, patches=1,
                xlabel="smallest Mahalanobis distance (last bin: at least)",
                legend=["data", "chi, 3 degrees of freedom", "high quality: <= 3"])
    with pytest.raises(ValueError, match="same method"):
        silhouette = M.choose_n_clusters(mixture.points[:300], candidates=[2, 3], method="silhouette", n_init=1)
        plotting.plot_cluster_scores({"a": choice, "b": silhouette})
    plt.close("all")
