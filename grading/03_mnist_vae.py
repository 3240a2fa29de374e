"""Checks of notebook 03 (MNIST VAE): reparameterisation, the KL term, and the ELBO computed with them.

Training numbers depend on the profile (graded runs use the small one), so the figures are checked for
consistency (your ELBO by hand against the model's own estimate) and plausibility, not against the
reference run's values.
"""

import numpy as np

from course_utils.instructor.checks import FunctionCheck, ResultCheck

EXERCISE = "03_mnist_vae"


def _gaussians(rng: np.random.Generator) -> list[tuple]:
    return [tuple(rng.normal(scale=s, size=(3, n, d))) for n, d, s in [(1, 1, 1.0), (7, 2, 0.5), (50, 32, 2.0)]]


def _posteriors(rng: np.random.Generator) -> list[tuple]:
    return [tuple(rng.normal(scale=s, size=(2, n, d))) for n, d, s in [(1, 1, 1.0), (7, 2, 0.5), (50, 32, 2.0)]]


CHECKS = [
    FunctionCheck("reparameterize", "reparameterize", _gaussians,
                  lambda m, lv, e: m + np.exp(0.5 * lv) * e, points=2, rtol=1e-5),
    FunctionCheck("gaussian_kl", "gaussian_kl", _posteriors,
                  lambda m, lv: 0.5 * np.sum(m**2 + np.exp(lv) - 1 - lv, axis=-1), points=3, rtol=1e-5),
    ResultCheck("elbo_by_hand", "mnist_test_neg_elbo_latent2_by_hand", points=2,
                same_as="mnist_test_neg_elbo_latent2", rtol=0.01,
                description="your one-sample -ELBO within 1 % of the model's 10-sample estimate"),
    ResultCheck("kl_plausible", "mnist_test_kl_latent2", points=1, bounds=(0.5, 20.0)),
]
