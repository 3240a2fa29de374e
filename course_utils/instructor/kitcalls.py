"""Exercises answered only by calls into the released package ("kit calls"), as a student would write them.

For notebooks 03, 06 and 07, :data:`KIT_CALLS` holds submissions whose exercise functions delegate to the kit:
each variant maps an exercise function (or class) to the source that defines it through the released
``course_utils`` (the reviewer's examples of issue 22 and more). Exercises that no kit function computes are
left as the release's stub. :func:`cut_notebook` turns the instructor notebook into a short submission: the
imports cell and the exercise cells only (a legal submission), the exercise cells as in the student release,
with the variant's definitions appended to the cell that defines each function.

Used by ``tests/test_kit_calls.py`` (each graded submission scores no more than the untouched release) and by
the release check (:mod:`.leaks`: against the full package these delegations are found, against the package with
the exercise's withheld functions removed none is).
"""

from __future__ import annotations

import copy
from typing import Any

from .release import EXERCISE_TAG, cell_source, exercises, student_notebook

_ENCODER = '''
def build_encoder(latent_dim):
    return V.build_encoder((28, 28), latent_dim, (512, 256))
'''
_DECODER = '''
def build_decoder(latent_dim):
    return keras.Sequential([keras.Input((latent_dim,)), V.build_decoder(latent_dim, 28 * 28, 1, (256, 512)),
                             keras.layers.Reshape((28, 28))])
'''
_NEG_ELBO = '''
def neg_elbo(x, logits, z_mean, z_log_var):
    n = tf.shape(logits)[0]
    flat = tf.reshape(tf.cast(x, logits.dtype), (n, -1))
    reconstruction = -V.BernoulliLikelihood().distribution(tf.reshape(logits, (n, -1))).log_prob(flat)
    return reconstruction, tfd.kl_divergence(V.posterior(z_mean, z_log_var), V.prior(z_mean.shape[-1]))
'''
_VAE = '''
class VAE(keras.Model):
    def __init__(self, encoder, decoder, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.beta = keras.Variable(beta, trainable=False, dtype="float32")
        self.likelihood, self.conditional = V.BernoulliLikelihood(), False
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x):
        return self.decoder(self.encoder(x)[0])

    def terms(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = V.posterior(z_mean, z_log_var).sample()
        return neg_elbo(x, self.decoder(z, training=training), z_mean, z_log_var)

    split_inputs, extra_loss = V.VAE.split_inputs, V.VAE.extra_loss
    train_step, test_step, _track = V.VAE.train_step, V.VAE.test_step, V.VAE._track
'''

KIT_CALLS: dict[str, list[dict[str, str]]] = {
    "03_mnist_vae": [
        {"build_encoder": _ENCODER, "build_decoder": _DECODER, "neg_elbo": _NEG_ELBO, "VAE": _VAE,
         "reparameterize": '''
def reparameterize(z_mean, z_log_var):
    return V.posterior(z_mean, z_log_var).sample()
'''},
        {"reparameterize": '''
def reparameterize(z_mean, z_log_var):
    return V.sample_posterior(V.posterior(z_mean, z_log_var), keras.random.SeedGenerator(None))
''', "neg_elbo": '''
def neg_elbo(x, logits, z_mean, z_log_var):
    from course_utils import vae as kit

    n = tf.shape(logits)[0]
    flat = tf.reshape(tf.cast(x, logits.dtype), (n, -1))
    q, p = kit.posterior(z_mean, z_log_var), kit.prior(z_mean.shape[-1])
    return -kit.get_likelihood("bernoulli").distribution(tf.reshape(logits, (n, -1))).log_prob(flat), \\
        tfd.kl_divergence(q, p)
'''},
    ],
    "06_gmm_vae": [
        {"high_quality_fraction": '''
def high_quality_fraction(samples, means, covariances, threshold=3.0):
    return float(np.mean(mahalanobis_distances(samples, means, covariances).min(axis=1) <= threshold))
''', "decoder_noise": '''
def decoder_noise(params, scale=None):
    return V.GaussianLikelihood(scale=scale)._loc_scale(keras.ops.convert_to_tensor(params, dtype="float32"))
'''},
        {"high_quality_fraction": '''
def high_quality_fraction(samples, means, covariances, threshold=3.0):
    uniform = np.full(len(means), 1.0 / len(means))
    return float(mode_coverage(samples, means, covariances, uniform, threshold=threshold).high_quality_fraction)
''', "decoder_noise": '''
def decoder_noise(params, scale=None):
    normal = V.get_likelihood("gaussian" if scale is not None else "gaussian-learned", scale=scale or 1.0) \\
        .distribution(keras.ops.convert_to_tensor(params, dtype="float32")).distribution
    return normal.loc, normal.scale
'''},
    ],
    "07_landmark_vae": [
        {"build_conditional_networks": '''
def build_conditional_networks(data_dim, latent_dim=30, encoder_hidden=(240, 120, 60),
                               decoder_hidden=(300, 400, 300), dropout=0.1):
    from course_utils.vae import build_decoder, build_encoder

    encoder = build_encoder((data_dim,), latent_dim, encoder_hidden, activation="elu", condition_shape=(data_dim,),
                            dropout=dropout)
    decoder = build_decoder(latent_dim, data_dim, 1, decoder_hidden, activation="elu", condition_dim=data_dim,
                            dropout=dropout)
    return encoder, decoder
'''},
    ],
}
"""Per notebook, submission variants: exercise function -> its definition as calls into the released package."""


def imports_cell(notebook: dict[str, Any]) -> int:
    """Index of the notebook's imports cell: the first code cell that is not the install cell."""
    return next(i for i, c in enumerate(notebook["cells"])
                if c.get("cell_type") == "code" and "install-kit" not in c.get("metadata", {}).get("tags", []))


def cut_notebook(instructor: dict[str, Any], definitions: dict[str, str] | None = None,
                 extra: str = "", solved: bool = False) -> dict[str, Any]:
    """The student release of ``instructor`` (``solved``: the instructor's solution) cut to its imports cell and
    exercise cells, with ``definitions`` (function name -> source) appended to the exercise cell that defines
    each function and ``extra`` (e.g. a monkeypatch) appended to the imports cell.

    Raises ``KeyError`` for a definition of a function no exercise cell defines.
    """
    definitions = dict(definitions or {})
    student = copy.deepcopy(instructor) if solved else student_notebook(instructor)
    keep = {imports_cell(instructor)}
    for exercise in exercises(instructor):
        keep.add(exercise.cell_index)
        cell = student["cells"][exercise.cell_index]
        added = [definitions.pop(name) for name in exercise.functions if name in definitions]
        if added:
            cell["source"] = cell_source(cell).rstrip("\n") + "\n\n" + "\n".join(text.strip("\n") + "\n"
                                                                              for text in added)
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if EXERCISE_TAG not in tags:
            tags.append(EXERCISE_TAG)
    if definitions:
        raise KeyError(f"no exercise cell defines {sorted(definitions)}")
    if extra:
        cell = student["cells"][imports_cell(instructor)]
        cell["source"] = cell_source(cell).rstrip("\n") + "\n\n" + extra.strip("\n") + "\n"
    cut = copy.deepcopy(student)
    cut["cells"] = [cell for index, cell in enumerate(student["cells"]) if index in keep]
    return cut
