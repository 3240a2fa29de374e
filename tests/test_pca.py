"""The reference answers of notebook 01 (course_utils.instructor.reference.pca) against scikit-learn's PCA."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from course_utils.instructor.reference import pca


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + np.array([1.0, -2.0, 0.5, 3.0, 0.0])


def test_matches_scikit_learn(data):
    mean, components, s, energies = pca.fit_pca(data)
    ref = PCA().fit(data)
    np.testing.assert_allclose(energies, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(mean, ref.mean_)
    # Directions agree up to sign.
    np.testing.assert_allclose(np.abs(np.sum(components * ref.components_, axis=1)), 1.0, atol=1e-10)
    np.testing.assert_allclose(s, ref.singular_values_, rtol=1e-10)
    for L in range(1, 6):
        ref_L = PCA(n_components=L).fit(data)
        np.testing.assert_allclose(pca.reconstruct(data, L), ref_L.inverse_transform(ref_L.transform(data)),
                                   atol=1e-10)
        assert pca.lost_energy(s, L) == pytest.approx(1 - ref_L.explained_variance_ratio_.sum(), abs=1e-12)


def test_shapes_and_full_reconstruction(data):
    mean, components, s, energies = pca.fit_pca(data)
    assert components.shape == (5, 5) and s.shape == energies.shape == (5,) and mean.shape == (5,)
    np.testing.assert_allclose(pca.reconstruct(data, 5), data, atol=1e-10)
    np.testing.assert_allclose(pca.reconstruct(data, 0), np.tile(mean, (60, 1)))
    assert len(pca.fit_pca(np.random.default_rng(0).normal(size=(4, 10)))[2]) == 4  # min(n, d) components


def test_energy_bookkeeping(data):
    _, _, s, energies = pca.fit_pca(data)
    assert energies.sum() == pytest.approx(1.0) and np.all(np.diff(energies) <= 1e-15)
    assert pca.lost_energy(s, 0) == pytest.approx(1.0) and pca.lost_energy(s, 5) == pytest.approx(0.0, abs=1e-12)
    assert [pca.lost_energy(s, L) for L in range(1, 6)] == pytest.approx(list(1 - np.cumsum(energies)), abs=1e-12)


def test_smallest_rank_below_is_first_strictly_below():
    s = np.array([10.0, 3.0, 1.0, 0.1])  # energies 100, 9, 1, 0.01 over their sum
    total = 100 + 9 + 1 + 0.01
    assert pca.lost_energy(s, 1) == pytest.approx(10.01 / total)
    assert pca.smallest_rank_below(s, 0.05) == 2  # loses 1.01/110.01 < 5 %
    assert pca.smallest_rank_below(s, 1.01 / total) == 3  # strictly below
    with pytest.raises(ValueError, match="loses less than"):
        pca.smallest_rank_below(s, 0.0)


def test_known_line_has_all_energy_in_first_component():
    t = np.linspace(-1, 1, 50)
    _, components, _, energies = pca.fit_pca(np.stack([t, 2 * t + 1], axis=1))
    assert energies[0] == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(components[0]), np.array([1, 2]) / np.sqrt(5))


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), np.array([[1.0, np.nan], [0.0, 1.0]]),
                                 np.array([[np.inf, 1.0], [0.0, 1.0]]), np.zeros((0, 3))])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError, match="PCA"):
        pca.fit_pca(bad)


def test_bad_rank_and_zero_variance(data):
    for L in (-1, 6):
        with pytest.raises(ValueError, match=r"n_components must be in \[0, 5\]"):
            pca.reconstruct(data, L)
    with pytest.raises(ValueError, match="zero variance"):
        pca.fit_pca(np.ones((5, 2)))


@pytest.mark.parametrize("n_components", [-1, 6, 2.5, True])
def test_lost_energy_refuses_a_count_outside_the_components(data, n_components):
    _, _, s, _ = pca.fit_pca(data)
    with pytest.raises(ValueError, match=r"n_components must be a whole number in \[0, 5\] .*got"):
        pca.lost_energy(s, n_components)


def test_lost_energy_is_the_share_of_the_dropped_squares():
    s = np.array([3.0, 2.0, 1.0])  # energies 9, 4, 1 of 14: hand-computed, not from the same formula
    assert pca.lost_energy(s, 1) == pytest.approx(5 / 14) and pca.lost_energy(s, 2) == pytest.approx(1 / 14)
