"""The mixture of notebook 06: public parameters (make_gaussian_mixture_parameters) and the reference sampler."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from course_utils.data import make_gaussian_mixture_parameters
from course_utils.instructor.reference.gmm import make_gaussian_mixture, sample_mixture


def test_shapes_and_types():
    g = make_gaussian_mixture(1000)
    assert g.points.shape == (1000, 3) and g.points.dtype == np.float64
    assert g.labels.shape == (1000,) and g.labels.dtype == np.int64
    assert g.means.shape == (4, 3) and g.covariances.shape == (4, 3, 3) and g.weights.shape == (4,)
    assert set(np.unique(g.labels)) == {0, 1, 2, 3}
    assert "make_gaussian_mixture_parameters" in g.source
    g5 = make_gaussian_mixture(200, n_components=5, dim=2, seed=3)
    assert g5.points.shape == (200, 2) and g5.means.shape == (5, 2)


def test_seeded():
    a, b, c = make_gaussian_mixture(500, seed=1), make_gaussian_mixture(500, seed=1), make_gaussian_mixture(500, seed=2)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.allclose(a.means, c.means)


def test_mixture_parameters_are_valid():
    g = make_gaussian_mixture(10, n_components=6, seed=4)
    assert g.weights.sum() == pytest.approx(1.0)
    assert g.weights.min() >= 0.5 / 6 - 1e-12
    assert pdist(g.means).min() >= 2.0
    for covariance in g.covariances:
        np.testing.assert_allclose(covariance, covariance.T, atol=1e-12)
        stds = np.sqrt(np.linalg.eigvalsh(covariance))
        assert stds.min() >= 0.35 - 1e-9 and stds.max() <= 0.9 + 1e-9


def test_labels_are_the_generating_components():
    g = make_gaussian_mixture(40_000, seed=0)
    shares = np.bincount(g.labels) / len(g.labels)
    np.testing.assert_allclose(shares, g.weights, atol=0.01)
    for k in range(4):
        chosen = g.points[g.labels == k]
        np.testing.assert_allclose(chosen.mean(axis=0), g.means[k], atol=0.05)
        np.testing.assert_allclose(np.cov(chosen.T), g.covariances[k], atol=0.05)


def test_components_partly_overlap_by_default():
    """Default mixture: every mean has a neighbour within 3 of its largest standard deviations, but not within 1."""
    g = make_gaussian_mixture(10)
    largest_std = np.sqrt(np.linalg.eigvalsh(g.covariances).max())
    assert pdist(g.means).min() < 6 * largest_std
    assert pdist(g.means).min() > largest_std


def test_failures():
    with pytest.raises(ValueError, match="n_samples"):
        make_gaussian_mixture(-1)
    with pytest.raises(ValueError, match="n_components"):
        make_gaussian_mixture_parameters(n_components=0)
    with pytest.raises(ValueError, match="std_range"):
        make_gaussian_mixture(10, std_range=(1.0, 0.5))
    with pytest.raises(ValueError, match="min_weight"):
        make_gaussian_mixture(10, min_weight=0.5)
    with pytest.raises(ValueError, match="Could not place"):
        make_gaussian_mixture(10, n_components=50, box=1.0, min_distance=3.0)


def test_parameters_alone_are_seeded_and_sampling_follows_the_stated_order():
    a, b = make_gaussian_mixture_parameters(seed=3), make_gaussian_mixture_parameters(seed=3)
    np.testing.assert_array_equal(a.covariances, b.covariances)
    assert not hasattr(a, "points")  # drawing the points is notebook 06's exercise
    points, labels = sample_mixture(a.means, a.covariances, a.weights, 5, seed=2)
    rng = np.random.default_rng(2)
    expected_labels = rng.choice(4, size=5, p=a.weights)
    eps = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(points[0], a.means[labels[0]] + np.linalg.cholesky(a.covariances[labels[0]]) @ eps[0])


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_covariances_are_rotated_by_special_orthogonal_matrices(dim):
    """Each covariance is ``R diag(s^2) R^T`` with ``R`` from ``scipy.stats.special_ortho_group`` (identity in 1-D)."""
    from scipy.stats import special_ortho_group

    from course_utils.data.synthetic import _random_rotation

    rotation = _random_rotation(dim, np.random.default_rng(7))
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(dim), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    if dim > 1:
        np.testing.assert_array_equal(rotation, special_ortho_group.rvs(dim, random_state=np.random.default_rng(7)))
    g = make_gaussian_mixture_parameters(n_components=2, dim=dim, seed=11)
    for covariance in g.covariances:
        stds = np.sqrt(np.linalg.eigvalsh(covariance))
        assert stds.min() >= 0.35 - 1e-9 and stds.max() <= 0.9 + 1e-9
    if dim >= 2:  # tilted: the principal axes are not the coordinate axes
        assert not np.allclose(g.covariances[0], np.diag(np.diag(g.covariances[0])))
