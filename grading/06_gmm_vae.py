"""Checks of notebook 06 (GMM VAE): sampling the mixture, the high-quality share, the BIC count, the decoder's
noise and the VAE's sampler on hidden inputs, and the figures of the notebook that depend on them.

The function checks carry most points. The result checks compare figures computed *before* any training
(the graded run uses the small profile, whose trained VAEs mean nothing) with the committed reference run:
they depend on the student's ``sample_mixture``, ``high_quality_fraction`` and ``bic_n_clusters``.
"""

import numpy as np

from course_utils.data import make_gaussian_mixture_parameters
from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference import gmm as ref
from course_utils.probes.gmm import probe_sample_vae

EXERCISE = "06_gmm_vae"


def _mixture(rng: np.random.Generator, k: int, dim: int):
    return make_gaussian_mixture_parameters(n_components=k, dim=dim, seed=int(rng.integers(1_000_000)))


def _sampling_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for k, dim, n in [(1, 2, 50), (3, 3, 400), (5, 3, 1000), (2, 4, 300)]:
        m = _mixture(rng, k, dim)
        cases.append((m.means, m.covariances, m.weights, n, int(rng.integers(1000))))
    return cases


def _quality_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []  # most cases use a threshold other than the default 3, so a function ignoring it loses most points
    for (k, dim), threshold in zip([(1, 2), (3, 3), (5, 3), (2, 4)], [3.0, 1.5, 4.5, 2.0], strict=True):
        m = _mixture(rng, k, dim)
        points = ref.sample_mixture(m.means, m.covariances, m.weights, 300, int(rng.integers(1000)))[0]
        samples = points + rng.normal(scale=1.5, size=points.shape)  # some far from every mode
        cases.append((samples, m.means, m.covariances, threshold))
    cases.append((cases[1][0], cases[1][1], cases[1][2], 3.5))
    cases.append((cases[2][0], cases[2][1], cases[2][2], 2.5))
    return cases


def _bic_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for k, dim, candidates in [(1, 2, [1, 2, 3]), (3, 3, range(1, 6)), (4, 2, [6, 2, 4, 3]), (2, 3, [2, 3])]:
        m = make_gaussian_mixture_parameters(n_components=k, dim=dim, seed=int(rng.integers(1_000_000)),
                                             box=5.0, min_distance=4.0)
        points = ref.sample_mixture(m.means, m.covariances, m.weights, 300, int(rng.integers(1000)))[0]
        cases.append((points, list(candidates), int(rng.integers(100)), 1))
    return cases


def _noise_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, d in [(3, 1), (5, 3), (20, 4)]:
        cases.append((rng.normal(scale=3.0, size=(n, 2 * d)).astype(np.float32), None))  # learned
        cases.append((rng.normal(size=(n, d)).astype(np.float32), float(rng.uniform(0.1, 2.0))))  # fixed
    cases.append((np.full((2, 6), -40.0, np.float32), None))  # the floor 1e-3
    return cases


def _sampler_cases(rng: np.random.Generator) -> list[tuple]:
    # Decoders with fixed "weights" (NumPy functions, named: probes.gmm.DECODERS), fixed decoder noise.
    return [("sin", 2, 50, int(rng.integers(1000)), 0.3), ("tanh", 3, 200, int(rng.integers(1000)), 1.0),
            ("sin", 1, 10, int(rng.integers(1000)), 1e-6), ("cos", 4, 100, int(rng.integers(1000)), 2.0)]


# Kit functions withheld while grading this notebook (course_utils/instructor/withhold.py):
# GaussianLikelihood._loc_scale is decoder_noise (and its distribution and mean call it); generate (function and
# method) draws z ~ N(0, I) and x ~ p(x|z), which is sample_vae. The notebook's own cells use NoiseModel, built on
# the student's decoder_noise, and the student's sample_vae, so neither is needed there. In the calls of the checks
# only, since the notebook's cells use them for its tables and figures: mahalanobis_distances and mode_coverage,
# from which high_quality_fraction is one line.
WITHHELD = [
    "course_utils.vae:GaussianLikelihood._loc_scale",
    "course_utils.vae:generate",
    "course_utils.vae:VAE.generate",
]
WITHHELD_IN_CALLS = [
    "course_utils.modes:mahalanobis_distances",
    "course_utils.modes:mode_coverage",
]

CHECKS = [
    FunctionCheck("sample_mixture", "sample_mixture", _sampling_cases, ref.sample_mixture, points=3, rtol=1e-7,
                  returns=("points", "labels"),
                  atol=1e-9, description="points and components of a Gaussian mixture, in the stated order of draws"),
    FunctionCheck("high_quality_fraction", "high_quality_fraction", _quality_cases, ref.high_quality_fraction,
                  returns=("share",),
                  points=3, description="share of samples within a Mahalanobis threshold of some component"),
    FunctionCheck("bic_n_clusters", "bic_n_clusters", _bic_cases, ref.bic_n_clusters, points=3, rtol=1e-6,
                  returns=("n_clusters", "bics"),
                  atol=1e-6, description="cluster number with the smallest BIC, and every candidate's BIC"),
    FunctionCheck("decoder_noise", "decoder_noise", _noise_cases, ref.decoder_noise, points=3, rtol=1e-5,
                  returns=("loc", "scale"),
                  atol=1e-6, edge=lambda params, scale: scale is not None or params.max() < -30,  # fixed; floor
                  description="mean and standard deviation of the Gaussian decoder, fixed or learned"),
    FunctionCheck("sample_vae", "sample_vae", _sampler_cases, ref.sample_vae, probe=probe_sample_vae,
                  points=3, rtol=1e-5, atol=1e-6,
                  edge=lambda decoder, latent_dim, n, seed, scale: scale < 1e-3,  # noise too small to matter
                  description="z ~ N(0, I) through a decoder with fixed weights, plus the decoder's noise"),
    ResultCheck("true_sample_high_quality_fraction", "true_sample_high_quality_fraction", points=1, rtol=1e-4,
                depends_on=("sample_mixture", "high_quality_fraction"),
                description="your sampler and your high-quality share on the true mixture"),
    ResultCheck("gmm_reference_high_quality_fraction", "gmm_reference_high_quality_fraction", points=1, rtol=1e-4,
                depends_on=("sample_mixture", "high_quality_fraction"),
                description="GaussianMixture fitted to your samples, scored by your high-quality share"),
    ResultCheck("n_clusters_bic_data", "n_clusters_bic_data", points=1, depends_on=("sample_mixture", "bic_n_clusters"),
                description="your BIC count on your samples of the mixture"),
    ResultCheck("ari_data_gmm", "ari_data_gmm", points=1, rtol=1e-4, depends_on=("sample_mixture", "bic_n_clusters"),
                description="clusters labelled with your BIC choice against the true components"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"06-q1": 3}

DEMO_BUGS: dict[str, list[tuple[str, str]]] = {
    "sample_mixture_covariance_not_cholesky": [
        ('np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[labels], eps)',
         'np.einsum("nij,nj->ni", covariances[labels], eps)')],
    "high_quality_fraction_ignores_threshold": [
        ("np.sqrt(squared).min(axis=1) <= threshold", "np.sqrt(squared).min(axis=1) <= 3.0")],
    "bic_n_clusters_argmax": [("candidates[int(np.argmin(bics))]", "candidates[int(np.argmax(bics))]")],
    "decoder_noise_exp_not_softplus": [("return loc, ops.softplus(raw) + 1e-3", "return loc, ops.exp(raw) + 1e-3")],
    "sample_vae_without_noise": [("    return loc + s * rng.standard_normal(loc.shape)", "    return loc")],
    "sample_mixture_ignores_weights": [("labels = rng.choice(len(weights), size=n, p=weights)",
                                        "labels = rng.choice(len(weights), size=n)")],
    "high_quality_fraction_squared_distance": [("np.sqrt(squared).min(axis=1) <= threshold",
                                                "squared.min(axis=1) <= threshold")],
}
