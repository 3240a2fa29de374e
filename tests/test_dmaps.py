"""Diffusion maps: the reference answers of notebook 02 (dense), the sparse fit, theory, and the public helpers."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.special import ive
from sklearn.datasets import make_swiss_roll

from course_utils.dmaps import (
    eigenfunction_residuals,
    false_neighbor_fraction,
    fix_signs,
    local_linear_residuals,
    span_correlation,
)
from course_utils.instructor.reference.dmaps import (
    DIAMETER_FRACTION,
    dense_diffusion_map,
    diameter,
    diffusion_map,
    fit_diffusion_map,
    sparse_kernel,
)


def circle(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's periodic data: x_k = (cos t_k, sin t_k), t_k = 2 pi k / (n + 1), k = 1 .. n."""
    t = 2 * np.pi * np.arange(1, n + 1) / (n + 1)
    return np.column_stack([np.cos(t), np.sin(t)]), t


@pytest.fixture(scope="module")
def roll():
    return make_swiss_roll(400, noise=0.2, random_state=0)[0]


def _align(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other`` with each column's sign chosen to match ``reference`` (eigenvectors up to sign)."""
    return other * np.sign(np.sum(reference * other, axis=0))


@pytest.mark.parametrize("cutoff", [np.inf, 4.0])
def test_sparse_equals_dense(roll, cutoff):
    cutoff = 1e3 if np.isinf(cutoff) else cutoff  # 1e3 sqrt(eps) exceeds the diameter: every pair is kept
    dense = dense_diffusion_map(roll, 6)
    sparse = fit_diffusion_map(roll, 6, cutoff=cutoff)
    exact = cutoff > 100
    assert sparse.epsilon == pytest.approx(dense.epsilon, rel=1e-12)
    assert sparse.eigenvalues == pytest.approx(dense.eigenvalues, rel=1e-10 if exact else 1e-6)
    assert sparse.kernel_eigenvalues == pytest.approx(dense.kernel_eigenvalues, rel=1e-10 if exact else 1e-6)
    scale = np.abs(dense.eigenfunctions).max(axis=0)
    error = np.abs(_align(dense.eigenfunctions, sparse.eigenfunctions) - dense.eigenfunctions).max(axis=0)
    assert np.all(error / scale < (1e-7 if exact else 5e-3))
    assert (sparse.mean_neighbors == len(roll)) == exact


def test_sparse_kernel_is_sparse_and_symmetric():
    X = make_swiss_roll(2000, random_state=0)[0]
    result = fit_diffusion_map(X, 3)
    assert result.mean_neighbors < 0.1 * len(X)
    W = sparse_kernel(X, result.epsilon, 4 * np.sqrt(result.epsilon))
    assert abs(W - W.T).max() == 0 and np.allclose(W.diagonal(), 1.0)


def test_phi0_is_constant_and_eigenvalues_are_ordered(roll):
    result = fit_diffusion_map(roll, 8)
    phi0 = result.eigenfunctions[:, 0]
    assert np.ptp(phi0) < 1e-8 * np.abs(phi0).mean()
    assert result.eigenvalues[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(result.eigenvalues) <= 0) and np.all(result.eigenvalues > 0)
    assert result.eigenfunctions.shape == (len(roll), 9) and result.n_eigenfunctions == 8
    assert result.embedding(2).shape == (len(roll), 2)


def test_default_epsilon_is_five_percent_of_the_diameter(roll):
    assert DIAMETER_FRACTION == 0.05
    assert fit_diffusion_map(roll, 2).epsilon == pytest.approx(0.05 * pdist(roll).max(), rel=1e-12)
    assert diameter(roll, chunk_size=37) == pytest.approx(pdist(roll).max(), rel=1e-12)
    assert fit_diffusion_map(roll, 2, epsilon=3.0).epsilon == 3.0


def test_circle_eigenfunctions_are_fourier_modes():
    X, t = circle()
    result = fit_diffusion_map(X, 4)
    for ell, m in [(1, 1), (2, 1), (3, 2), (4, 2)]:
        basis = np.column_stack([np.cos(m * t), np.sin(m * t)])
        assert span_correlation(result.eigenfunctions[:, ell], basis) > 0.999, ell
    # phi_1, phi_2 are cos and sin in some phase: together they span the frequency-1 plane
    assert span_correlation(np.cos(t), result.eigenfunctions[:, 1:3]) > 0.999


def test_circle_eigenvalues_match_the_continuum_theory():
    """On the uniform unit circle a_m = I_m(2/eps) / I_0(2/eps) (modified Bessel functions), twice each.

    The missing point at t = 0 splits each pair slightly; the mean of a pair is the continuum value.
    """
    X, _ = circle(1000)
    result = fit_diffusion_map(X, 4)
    a = ive([1, 2], 2 / result.epsilon) / ive(0, 2 / result.epsilon)
    theory = a ** (1 / (2 * result.epsilon))
    pairs = result.eigenvalues[1:].reshape(2, 2)
    assert pairs.mean(axis=1) == pytest.approx(theory, rel=1e-4)
    assert pairs.ravel() == pytest.approx(np.repeat(theory, 2), rel=2e-3)


def test_fit_is_deterministic(roll):
    first, second = fit_diffusion_map(roll, 5, seed=3), fit_diffusion_map(roll, 5, seed=3)
    assert np.array_equal(first.eigenfunctions, second.eigenfunctions)
    other = fit_diffusion_map(roll, 5, seed=4)  # another start vector: the same result up to rounding
    assert np.allclose(other.eigenfunctions, first.eigenfunctions, atol=1e-8 * np.abs(first.eigenfunctions).max())


def test_fix_signs():
    V = np.array([[1.0, -3.0, 2.0], [-2.0, 1.0, -2.0]])
    fixed = fix_signs(V)
    assert np.array_equal(fixed, np.array([[-1.0, 3.0, 2.0], [2.0, -1.0, -2.0]]))  # ties: the first row wins
    assert np.array_equal(fix_signs(-V), fixed)


def test_local_linear_residuals_tell_functions_from_new_directions():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 600)
    other = rng.uniform(-1, 1, 600)
    residuals = local_linear_residuals(x, np.column_stack([np.cos(3 * x), x**2, other]))
    assert residuals.shape == (3,)
    assert residuals[0] < 0.1 and residuals[1] < 0.1 and residuals[2] > 0.9
    # a product rectangle: phi_2 ~ cos(2 pi x) is a harmonic of phi_1 ~ cos(pi x); cos(pi y) is new
    y = rng.uniform(0, 1, 600)
    u = (x + 1) / 2
    phi = np.column_stack([np.ones(600), np.cos(np.pi * u), np.cos(2 * np.pi * u), np.cos(np.pi * y)])
    r = eigenfunction_residuals(phi)
    assert r[0] == 1.0 and r[1] < 0.1 and r[2] > 0.9


def test_local_linear_residuals_refuse_constant_targets():
    with pytest.raises(ValueError, match="constant"):
        local_linear_residuals(np.arange(10.0), np.ones(10))


def test_false_neighbors_detect_a_fold():
    X, t = circle(500)
    assert false_neighbor_fraction(X, X) == 0.0
    assert false_neighbor_fraction(X, np.column_stack([np.cos(t), np.sin(t)])) == 0.0
    assert false_neighbor_fraction(X, X[:, 0]) > 0.4  # projecting on x folds the circle in two


@pytest.mark.parametrize("bad", [np.zeros((1, 2)), np.full((5, 2), np.nan), np.zeros(5)])
def test_bad_data_is_refused(bad):
    with pytest.raises(ValueError):
        fit_diffusion_map(bad, 1)


def test_too_many_eigenfunctions_are_refused(roll):
    with pytest.raises(ValueError, match="n_eigenfunctions"):
        fit_diffusion_map(roll[:10], 9)
    with pytest.raises(ValueError, match="n_components"):
        fit_diffusion_map(roll, 3).embedding(4)


def test_exercise_reference_equals_the_dense_algorithm(roll):
    """The four exercise pieces composed (``diffusion_map``) give the dense reference's eigenpairs."""
    lam, phi = diffusion_map(roll, 6)
    dense = dense_diffusion_map(roll, 6)
    np.testing.assert_allclose(lam, dense.eigenvalues, rtol=1e-10)
    np.testing.assert_allclose(phi, dense.eigenfunctions, atol=1e-8)
