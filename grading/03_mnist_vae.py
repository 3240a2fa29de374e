"""Checks of notebook 03 (MNIST VAE): the student's networks, sampling, -ELBO, train/test step and callback.

Keras code is checked on behaviour, through the probes of ``course_utils.probes.vae``
(run in the sandbox on the student's objects): the networks' outputs with fixed weights on hidden
images; the statistics and gradients of many reparameterised samples; both -ELBO terms on hidden
inputs (one case with logits far from 0); a few SGD steps of the student's ``VAE`` class on fixed
networks (loss, reconstruction and KL after each step) and one evaluation; when the callback draws.
Graded runs use the small profile (2 epochs on 6000 images), so the ELBO figures are only checked against
loose bounds.
"""


import numpy as np
import tensorflow as tf

from course_utils.instructor.checks import FunctionCheck, ResultCheck
from course_utils.instructor.reference import vae as R
from course_utils.probes import vae as P

EXERCISE = "03_mnist_vae"


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.random((n, 28, 28)) < rng.uniform(0.1, 0.4)).astype(np.float32)


def _encoder_cases(rng: np.random.Generator) -> list[tuple]:
    return [("encoder", d, int(rng.integers(1000)), _images(rng, 6)) for d in (2, 5, 32)]


def _decoder_cases(rng: np.random.Generator) -> list[tuple]:
    return [("decoder", d, int(rng.integers(1000)), rng.normal(scale=2.0, size=(6, d)).astype(np.float32))
            for d in (2, 5, 32)]


def _posteriors(rng: np.random.Generator) -> list[tuple]:
    shapes = [(20000, 1), (5000, 4), (1000, 32)]
    return [(rng.normal(scale=2.0, size=s).astype(np.float32), rng.uniform(-3, 2, size=s).astype(np.float32))
            for s in shapes]


def _elbo_inputs(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, d, scale in [(1, 2, 1.0), (7, 5, 3.0), (32, 32, 2.0), (5, 2, 40.0)]:  # the last: logits far from 0
        cases.append((_images(rng, n), rng.normal(scale=scale, size=(n, 28, 28)).astype(np.float32),
                      rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32)))
    return cases


def _train_cases(rng: np.random.Generator) -> list[tuple]:
    return [(2, int(rng.integers(1000)), 1.0, _images(rng, 64), 3),
            (32, int(rng.integers(1000)), 0.5, _images(rng, 48), 3)]


def _test_cases(rng: np.random.Generator) -> list[tuple]:
    return [(2, int(rng.integers(1000)), 1.0, _images(rng, 40)),
            (32, int(rng.integers(1000)), 0.3, _images(rng, 50))]


def _snapshot_cases(rng: np.random.Generator) -> list[tuple]:
    return [([1, 3], 4), ([2], 2), ([1, 2, 5], 5)]


# Kit functions withheld while grading this notebook (course_utils/instructor/withhold.py): each computes what an
# exercise asks for. build_encoder((28, 28), d, (512, 256)) is the sheet's encoder, build_decoder(d, 784, 1,
# (256, 512)) plus a Reshape its decoder; posterior(...).sample() or sample_posterior, and _sample_codes, draw
# the reparameterised z; BernoulliLikelihood.distribution, prior and posterior give both -ELBO terms (and the
# model-level neg_elbo and bounds estimate them); VAE.terms, train_step, test_step and _track are train_step and
# test_step. None is called by the notebook's own cells (they use the student's functions and V.make_dataset,
# binarize, latent_grid, EpochTimer).
WITHHELD = [
    "course_utils.vae:build_encoder",
    "course_utils.vae:build_decoder",
    "course_utils.vae:prior",
    "course_utils.vae:posterior",
    "course_utils.vae:sample_posterior",
    "course_utils.vae:BernoulliLikelihood.distribution",
    "course_utils.vae:VAE.terms",
    "course_utils.vae:VAE.train_step",
    "course_utils.vae:VAE.test_step",
    "course_utils.vae:VAE._track",
    "course_utils.vae:neg_elbo",
    "course_utils.vae:bounds",
    "course_utils.landmark_vae:TopologicalVAE._sample_codes",
]

def fixed_noise_reparameterize(z_mean, z_log_var):
    """The reference's reparameterisation with its noise fixed by a seed, so that a training step is deterministic."""
    epsilon = tf.random.stateless_normal(tf.shape(z_mean), seed=[2024, 3], dtype=z_mean.dtype)
    return z_mean + tf.exp(0.5 * z_log_var) * epsilon


# One bug costs its own points: train_step and test_step run with the reference's neg_elbo and a reparameterize
# with fixed noise (the sheet asks the class to call both), on probe networks whose posterior standard deviation
# is 1: a step that decodes z_mean without sampling, or sums where it should average, differs from the reference,
# while a wrong neg_elbo or reparameterize is charged by its own checks only.
STEP_HELPERS = {"reparameterize": fixed_noise_reparameterize, "neg_elbo": R.neg_elbo}
PIPELINE = ("build_encoder", "build_decoder", "reparameterize", "neg_elbo_reconstruction", "neg_elbo_kl",
            "train_step", "test_step")
STEP_PREAMBLE = "import tensorflow as tf\nimport tensorflow_probability as tfp\n\ntfd = tfp.distributions\n"

CHECKS = [
    FunctionCheck("build_encoder", "build_encoder", _encoder_cases, R.build_encoder,
                  probe=P.probe_network, points=2, rtol=1e-4, atol=1e-4,
                  description="encoder outputs [z_mean, z_log_var] with fixed weights on hidden images"),
    FunctionCheck("build_decoder", "build_decoder", _decoder_cases, R.build_decoder,
                  probe=P.probe_network, points=2, rtol=1e-4, atol=1e-4,
                  description="decoder logits with fixed weights on hidden latent points"),
    FunctionCheck("reparameterize", "reparameterize", _posteriors, R.reparameterize,
                  probe=P.probe_reparameterize_raw, judge=P.reparameterize_summary, points=2, rtol=0, atol=0.05,
                  description="(z - mean) / std has mean 0 and std 1; dz/dmean = 1, dz/dlog_var = (z - mean) / 2; "
                              "fresh noise on every call"),
    FunctionCheck("neg_elbo_reconstruction", "neg_elbo", _elbo_inputs, R.neg_elbo,
                  probe=P.probe_neg_elbo, points=3, rtol=1e-4, atol=1e-3,
                  description="-log p(x|z) per image, Bernoulli on logits"),
    FunctionCheck("neg_elbo_kl", "neg_elbo", _elbo_inputs, R.neg_elbo,
                  probe=P.probe_neg_elbo_kl, points=3, rtol=1e-4, atol=1e-3,
                  description="KL(q(z|x) || N(0, I)) per image"),
    FunctionCheck("train_step", "VAE", _train_cases, R.VAE,
                  probe=P.probe_train_step, points=4, rtol=1e-3, atol=1e-2, substitutes=STEP_HELPERS,
                  substitutes_preamble=STEP_PREAMBLE, returns=("loss, reconstruction and kl per step",),
                  description="loss, reconstruction and kl after each of 3 SGD steps on fixed networks and a hidden "
                              "batch (with the reference reparameterize, noise fixed, and neg_elbo)"),
    FunctionCheck("test_step", "VAE", _test_cases, R.VAE,
                  probe=P.probe_test_step, points=2, rtol=1e-3, atol=1e-2, substitutes=STEP_HELPERS,
                  substitutes_preamble=STEP_PREAMBLE, returns=("loss, reconstruction and kl",),
                  description="loss, reconstruction and kl reported by evaluate (with the reference reparameterize, "
                              "noise fixed, and neg_elbo)"),
    FunctionCheck("snapshots", "Snapshots", _snapshot_cases, R.Snapshots,
                  probe=P.probe_snapshots, points=2, rtol=0, atol=1e-5,
                  description="figures drawn after the chosen 1-based epochs, and kept"),
    ResultCheck("neg_elbo_latent2", "mnist_test_neg_elbo_latent2", points=1, bounds=(100.0, 230.0), depends_on=PIPELINE,
                description="test -ELBO of your latent-2 model after the small profile (2 epochs, 6000 images; "
                            "the reference run: about 193 nats)"),
    ResultCheck("neg_elbo_latent32", "mnist_test_neg_elbo_latent32", points=1, bounds=(70.0, 230.0),
                depends_on=PIPELINE,
                description="test -ELBO of your latent-32 model after the small profile (about 192 nats)"),
]

# Written answers graded by hand: grade_id of the notebook's `written-answer` cell -> points. With CHECKS the
# one source of the sheet's points (`python -m course_utils points --write` puts them into the notebook).
WRITTEN = {"03-q1": 2, "03-q2": 3, "03-q3": 2, "03-q4": 2, "03-q5": 3}

# Deliberate bugs for tools/grade_demo.py: each replaces one exact piece of the instructor notebook.
DEMO_BUGS = {
    "encoder_without_second_relu": [('h = keras.layers.Dense(256, activation="relu")(h)',
                                     "h = keras.layers.Dense(256)(h)")],
    "decoder_outputs_probabilities": [("keras.layers.Dense(28 * 28)(h)",
                                       'keras.layers.Dense(28 * 28, activation="sigmoid")(h)')],
    "reparameterize_uses_variance": [("return z_mean + tf.exp(0.5 * z_log_var) * epsilon",
                                      "return z_mean + tf.exp(z_log_var) * epsilon")],
    "kl_reversed": [("return reconstruction, tfd.kl_divergence(posterior, prior)",
                     "return reconstruction, tfd.kl_divergence(prior, posterior)")],
    "train_step_sums_over_the_batch": [("loss = tf.reduce_mean(reconstruction + self.beta * kl)",
                                        "loss = tf.reduce_sum(reconstruction + self.beta * kl)")],
    "test_step_loss_without_kl": [(
        "reconstruction, kl = neg_elbo(x, logits, z_mean, z_log_var)\n"
        "        self.loss_tracker.update_state(reconstruction + self.beta * kl)",
        "reconstruction, kl = neg_elbo(x, logits, z_mean, z_log_var)\n"
        "        self.loss_tracker.update_state(reconstruction)")],
    "snapshots_zero_based": [("if epoch + 1 in self.epochs:", "if epoch in self.epochs:")],
    "train_step_decodes_the_mean": [("logits = self.decoder(reparameterize(z_mean, z_log_var), training=True)",
                                     "logits = self.decoder(z_mean, training=True)")],
    "reparameterize_log_var_as_std": [("return z_mean + tf.exp(0.5 * z_log_var) * epsilon",
                                       "return z_mean + z_log_var * epsilon")],
}
