"""Diffusion maps: the reference answers of notebook 02 (dense), the sparse fit, theory, and the public helpers."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.special import ive
from sklearn.datasets import make_swiss_roll

from course_utils.dmaps import (
    NORMALIZATIONS,
    eigenfunction_residuals,
    false_neighbor_fraction,
    fix_signs,
    local_linear_residuals,
    normalization_alpha,
    span_correlation,
)
from course_utils.instructor.reference.dmaps import (
    DIAMETER_FRACTION,
    dense_diffusion_map,
    diameter,
    diffusion_map,
    diffusion_normalize,
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


# ---------------------------------------------------------------- argument validation of fit_diffusion_map


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (np.zeros((2, 3)), {}, r"X has 2 sample\(s\): .* needs at least 3 samples"),
        (np.eye(2), {"n_eigenfunctions": 1}, r"X has 2 sample\(s\)"),
        (np.eye(1), {"n_eigenfunctions": 1}, r"X has 1 sample\(s\)"),
        (np.eye(12), {"n_eigenfunctions": 11}, r"n_eigenfunctions must be in \[1, 10\] for 12 samples .*got 11\. "
                                               "Ask for fewer"),
        (np.eye(12), {"n_eigenfunctions": 0}, r"n_eigenfunctions must be in \[1, 10\] for 12 samples .*got 0\.$"),
        (np.eye(12), {"n_eigenfunctions": 2.0}, "n_eigenfunctions must be a whole number >= 1; got 2.0"),
        (np.eye(12), {"n_eigenfunctions": True}, "n_eigenfunctions must be a whole number"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": 0}, r"epsilon must be .*got 0\. Leave it out"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": -0.5}, "epsilon must be a positive, finite .*got -0.5"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": np.nan}, "epsilon must be .*got nan"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": np.inf}, "epsilon must be .*got inf"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": "0.1"}, "epsilon must be .*got '0.1'"),
        (np.eye(12), {"n_eigenfunctions": 2, "cutoff": 0}, r"cutoff must be > 0 .*got 0"),
        (np.eye(12), {"n_eigenfunctions": 2, "cutoff": -np.inf}, "cutoff must be > 0"),
        (np.ones((6, 2)), {"n_eigenfunctions": 2, "epsilon": 1.0}, "All 6 samples of X are the same point"),
        (np.ones((6, 2)), {"n_eigenfunctions": 2}, "All 6 samples of X are the same point"),
        (np.eye(12), {"n_eigenfunctions": 2, "epsilon": 1e-6}, r"epsilon=1e-06 is so small that no sample has a "
                                                              r"neighbour.*radius cutoff \* sqrt\(epsilon\) = 0.004.*"
                                                              r"Increase epsilon \(the default.*is 0.0707\)"),
    ],
)
def test_fit_arguments_are_checked_with_a_clear_message(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_diffusion_map(X, **kwargs)


def test_non_default_arguments_are_used(roll):
    base = fit_diffusion_map(roll, 3)
    assert base.epsilon == pytest.approx(DIAMETER_FRACTION * diameter(roll))
    wide = fit_diffusion_map(roll, 3, epsilon=4 * base.epsilon)
    assert wide.epsilon == 4 * base.epsilon and wide.mean_neighbors > base.mean_neighbors
    np.testing.assert_allclose(wide.kernel_eigenvalues, dense_diffusion_map(roll, 3, epsilon=4 * base.epsilon)
                               .kernel_eigenvalues, rtol=1e-6)
    narrow = fit_diffusion_map(roll, 3, cutoff=2.0)  # fewer kernel entries, same epsilon
    assert narrow.epsilon == base.epsilon and narrow.mean_neighbors < base.mean_neighbors
    assert fit_diffusion_map(roll, 5).eigenfunctions.shape == (400, 6)
    np.testing.assert_allclose(np.abs(fit_diffusion_map(roll, 3, seed=7).eigenfunctions),
                               np.abs(base.eigenfunctions), atol=1e-8)
    assert fit_diffusion_map(np.random.default_rng(0).normal(size=(3, 2)), 1).eigenfunctions.shape == (3, 2)


# ---------------------------------------------------------------- the density normalisation exponent alpha


def test_normalization_alpha_takes_the_named_choices_and_numbers():
    assert NORMALIZATIONS == {"graph laplacian": 0.0, "fokker-planck": 0.5, "laplace-beltrami": 1.0}
    assert normalization_alpha() == 1.0  # the lecture's K = P^-1 W P^-1
    assert [normalization_alpha(n) for n in ("Graph_Laplacian", "fokker planck", "laplace-beltrami")] == [0, 0.5, 1]
    assert normalization_alpha(0.25) == 0.25 and normalization_alpha(np.float32(1)) == 1.0
    for bad in ("diffusion", 1.5, -0.1, True, None):
        with pytest.raises(ValueError, match="normalisation|alpha"):
            normalization_alpha(bad)


@pytest.fixture(scope="module")
def cloud():
    """150 points in a 1 x 0.5 rectangle: one connected component at the lecture's kernel scale."""
    return np.random.default_rng(5).uniform(size=(150, 2)) * [1.0, 0.5]


def _kernel(X):
    D = pdist(X)
    eps = DIAMETER_FRACTION * D.max()
    return np.exp(-squareform(D) ** 2 / eps), eps


def test_graph_laplacian_is_the_plain_row_normalised_kernel(cloud):
    """alpha = 0: phi_l are eigenvectors of W / (row sums of W), with eigenvalues a_l; no density step."""
    X = cloud
    result = dense_diffusion_map(X, 4, alpha="graph laplacian")
    W, _ = _kernel(X)
    markov = W / W.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(markov @ result.eigenfunctions, result.eigenfunctions * result.kernel_eigenvalues,
                               atol=1e-10)
    leading = np.sort(np.linalg.eigvals(markov).real)[::-1][:5]
    np.testing.assert_allclose(result.kernel_eigenvalues, leading, rtol=1e-8)
    assert result.alpha == 0.0


@pytest.mark.parametrize("name", sorted(NORMALIZATIONS))
def test_each_normalisation_gives_the_eigenpairs_of_its_markov_matrix(cloud, name):
    """For every alpha: Q^-1 K phi = a phi with K = P^-alpha W P^-alpha; sparse (all pairs) equals dense."""
    X, alpha = cloud, NORMALIZATIONS[name]
    W, eps = _kernel(X)
    p = W.sum(axis=1) ** alpha
    K = W / np.outer(p, p)
    markov = K / K.sum(axis=1, keepdims=True)
    dense = dense_diffusion_map(X, 4, alpha=name)
    np.testing.assert_allclose(markov @ dense.eigenfunctions, dense.eigenfunctions * dense.kernel_eigenvalues,
                               atol=1e-10)
    assert dense.alpha == alpha and dense.eigenvalues[0] == pytest.approx(1.0)
    sparse = fit_diffusion_map(X, 4, cutoff=1e3, alpha=name)
    np.testing.assert_allclose(sparse.kernel_eigenvalues, dense.kernel_eigenvalues, rtol=1e-10)
    lam, phi = diffusion_map(X, 4, alpha=alpha)  # the exercise's reference takes the same exponent
    np.testing.assert_allclose(lam, dense.eigenvalues, rtol=1e-10)
    _, sqrt_q = diffusion_normalize(W, name)
    np.testing.assert_allclose(sqrt_q**2, K.sum(axis=1), rtol=1e-12)


def test_default_is_the_lectures_alpha_one(cloud):
    X = cloud
    W, _ = _kernel(X)
    p = W.sum(axis=1)
    K = W / np.outer(p, p)
    T, sqrt_q = diffusion_normalize(W)
    np.testing.assert_array_equal(sqrt_q, np.sqrt(K.sum(axis=1)))
    np.testing.assert_array_equal(T, K / np.outer(sqrt_q, sqrt_q))
    default, explicit = dense_diffusion_map(X, 4), dense_diffusion_map(X, 4, alpha=1.0)
    np.testing.assert_array_equal(default.eigenfunctions, explicit.eigenfunctions)
    assert default.alpha == fit_diffusion_map(X, 2).alpha == 1.0


def test_only_laplace_beltrami_is_blind_to_the_sampling_density():
    """On a circle sampled with density 1 + 0.9 cos t, alpha = 1 still gives Fourier modes; alpha = 0 does not."""
    u = (np.arange(400) + 0.5) / 400
    grid = np.linspace(0, 2 * np.pi, 20001)
    t = np.interp(u, (grid + 0.9 * np.sin(grid)) / (2 * np.pi), grid)  # inverse of the CDF
    X = np.column_stack([np.cos(t), np.sin(t)])

    def fourier_fit(alpha):
        phi = dense_diffusion_map(X, 4, alpha=alpha).eigenfunctions
        return [span_correlation(phi[:, ell], np.column_stack([np.cos(m * t), np.sin(m * t)]))
                for ell, m in ((1, 1), (2, 1), (3, 2), (4, 2))]

    fits = {name: fourier_fit(name) for name in NORMALIZATIONS}
    assert min(fits["laplace-beltrami"]) > 0.995
    assert min(fits["graph laplacian"]) < 0.8
    assert fits["graph laplacian"][3] < fits["fokker-planck"][3] < fits["laplace-beltrami"][3]


@pytest.mark.parametrize("epsilon", [-0.5, 0.0, np.nan, np.inf])
def test_dense_diffusion_map_refuses_a_kernel_scale_that_is_not_positive(roll, epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be a positive, finite kernel scale .*got"):
        dense_diffusion_map(roll[:50], 3, epsilon=epsilon)


def test_eigenpairs_refuse_a_kernel_scale_that_is_not_positive(roll):
    from course_utils.instructor.reference.dmaps import diffusion_eigenpairs, kernel_matrix

    W, eps = kernel_matrix(roll[:50])
    T, sqrt_q = diffusion_normalize(W)
    with pytest.raises(ValueError, match="epsilon must be a positive"):
        diffusion_eigenpairs(T, sqrt_q, -eps, 3)
    lam, _ = diffusion_eigenpairs(T, sqrt_q, eps, 3)
    assert lam[0] == pytest.approx(1.0) and np.all(lam <= 1 + 1e-9)


def test_false_neighbor_fraction_refuses_mismatched_or_nan_input():
    X, t = circle(100)
    with pytest.raises(ValueError, match=r"X and embedding must hold the same samples.*100 rows of X and 99"):
        false_neighbor_fraction(X, t[:99])
    bad = X.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"X holds NaN or infinite values in 1 of its 100 samples \(the first is "
                                         r"sample 7\)"):
        false_neighbor_fraction(bad, t)
    with pytest.raises(ValueError, match="embedding holds NaN"):
        false_neighbor_fraction(X, np.where(np.arange(100) == 3, np.inf, t))


@pytest.mark.parametrize("scale", [0, -3.0, np.nan])
def test_local_linear_residuals_refuse_a_scale_that_is_not_positive(scale):
    X, t = circle(100)
    with pytest.raises(ValueError, match=r"scale must be a positive, finite number .*got"):
        local_linear_residuals(t, X[:, 0], scale=scale)


def test_local_linear_residuals_refuse_nan():
    X, t = circle(100)
    with pytest.raises(ValueError, match="targets holds NaN or infinite values in 1 of its 100 samples"):
        local_linear_residuals(t, np.where(np.arange(100) == 4, np.nan, X[:, 0]))


def test_false_neighbor_fraction_counts_by_hand():
    # Four points on a line; the embedding swaps the far pair next to the near one: sample 0's embedded
    # neighbour is sample 3, 30 away in the data where its true neighbour is 1 away.
    X = np.array([[0.0], [1.0], [2.0], [30.0]])
    E = np.array([0.0, 5.0, 9.0, 0.1])
    # sample: 0 -> 3 (30 > 10 * 1: false), 1 -> 2 (1: no), 2 -> 1 (1: no), 3 -> 0 (30 > 10 * 28: no)
    assert false_neighbor_fraction(X, E, ratio=10.0) == pytest.approx(1 / 4)
    assert false_neighbor_fraction(X, E, ratio=40.0) == 0.0
