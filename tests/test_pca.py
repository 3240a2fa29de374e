"""course_utils.pca against scikit-learn's PCA and against the algebra it rests on."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from course_utils import pca


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5)) + np.array([1.0, -2.0, 0.5, 3.0, 0.0])


def test_matches_scikit_learn(data):
    ours = pca.fit_pca(data)
    ref = PCA().fit(data)
    np.testing.assert_allclose(pca.energy(ours), ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(ours.mean, ref.mean_)
    # Directions agree up to sign.
    np.testing.assert_allclose(np.abs(np.sum(ours.components * ref.components_, axis=1)), 1.0, atol=1e-10)
    np.testing.assert_allclose(np.abs(ours.scores), np.abs(ref.transform(data)), atol=1e-10)
    for L in range(1, 6):
        ref_L = PCA(n_components=L).fit(data)
        np.testing.assert_allclose(pca.reconstruct(ours, L), ref_L.inverse_transform(ref_L.transform(data)),
                                   atol=1e-10)
        assert pca.energy_lost(ours, L) == pytest.approx(1 - ref_L.explained_variance_ratio_.sum(), abs=1e-12)


def test_shapes_and_full_reconstruction(data):
    result = pca.fit_pca(data)
    assert result.n_components == 5
    assert result.components.shape == (5, 5) and result.scores.shape == (60, 5)
    assert pca.project(result, 2).shape == (60, 2)
    np.testing.assert_allclose(pca.reconstruct(result, 5), data, atol=1e-10)
    np.testing.assert_allclose(pca.reconstruct(result, 0), np.tile(result.mean, (60, 1)))


def test_wide_data_has_min_n_d_components():
    X = np.random.default_rng(0).normal(size=(4, 10))
    assert pca.fit_pca(X).n_components == 4


def test_energy_bookkeeping(data):
    result = pca.fit_pca(data)
    shares = pca.energy(result)
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(np.diff(shares) <= 1e-15)
    curve = pca.energy_lost_curve(result)
    assert np.all(np.diff(curve) <= 1e-15) and curve[-1] == pytest.approx(0.0, abs=1e-12)
    assert pca.energy_lost(result, 0) == pytest.approx(1.0)
    assert [pca.energy_lost(result, L) for L in range(1, 6)] == pytest.approx(list(curve))


def test_smallest_rank_below_is_first_strictly_below():
    X = np.diag([10.0, 3.0, 1.0, 0.1])  # uncentred: energies are 100, 9, 1, 0.01 over their sum
    result = pca.fit_pca(X, center=False)
    total = 100 + 9 + 1 + 0.01
    assert pca.energy_lost(result, 1) == pytest.approx(10.01 / total)
    assert pca.smallest_rank_below(result, 0.05) == 2  # loses 1.01/110.01 < 5 %
    assert pca.smallest_rank_below(result, 1.01 / total) == 3  # strictly below
    with pytest.raises(ValueError, match="loses less than"):
        pca.smallest_rank_below(result, 0.0)


def test_known_line_has_all_energy_in_first_component():
    t = np.linspace(-1, 1, 50)
    result = pca.fit_pca(np.stack([t, 2 * t + 1], axis=1))
    assert pca.energy(result)[0] == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(result.components[0]), np.array([1, 2]) / np.sqrt(5))


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), np.array([[1.0, np.nan], [0.0, 1.0]]),
                                 np.array([[np.inf, 1.0], [0.0, 1.0]]), np.zeros((0, 3))])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError, match="PCA"):
        pca.fit_pca(bad)


def test_bad_rank_and_zero_variance(data):
    result = pca.fit_pca(data)
    for L in (-1, 6):
        with pytest.raises(ValueError, match=r"n_components must be in \[0, 5\]"):
            pca.reconstruct(result, L)
    with pytest.raises(ValueError, match="zero variance"):
        pca.energy(pca.fit_pca(np.ones((5, 2))))
