"""Probes of notebook 03's checks (MNIST VAE): drive a student's Keras code and return numbers.

They run inside the grading sandbox, on the student's object, and in the grader on the reference's; the
two sets of numbers are compared. They hold no answers: the layer shapes are the ones the exercise sheet
states, and the networks under ``train_step``/``test_step`` are the kit's generic public builders.

* :func:`probe_network`: the student's encoder/decoder builder, checked against the sheet's layer shapes,
  loaded with fixed weights and run on fixed images.
* :func:`probe_reparameterize_raw`: the raw samples of two calls and the gradients ``dz/dmean`` and
  ``dz/dlog_var``; the grader judges them (:func:`reparameterize_summary`, run in the grader on the hidden
  inputs): standardised residuals ``(z - mean) / std`` with mean 0 and std 1, ``dz/dmean = 1``,
  ``dz/dlog_var = (z - mean) / 2``, fresh noise on the second call. Only a correct reparameterisation
  produces such samples of the hidden posteriors, so a stub of the probe gains nothing.
* :func:`probe_neg_elbo` / :func:`probe_neg_elbo_kl`: one of the two per-image terms.
* :func:`probe_train_step` / :func:`probe_test_step`: the student's ``VAE`` class on fixed networks (a small
  MLP built here, not the sheet's architecture and not the kit's builders, which are withheld while grading
  03) whose posterior standard deviation is 1, trained a few SGD steps on a fixed batch. The check replaces
  the student's ``reparameterize`` and ``neg_elbo`` by the reference's (noise fixed by a seed), so every
  number is deterministic and a mistake there is charged by their own checks only.
* :func:`probe_snapshots`: when the student's callback calls ``make_figure`` and what it keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

IMAGE_SHAPE = (28, 28)
HIDDEN = (512, 256)
"""The sheet's MLP: 784-512-256-z for the encoder (two linear heads), z-256-512-784 for the decoder."""


def sheet_shapes(which: str, latent_dim: int) -> list[tuple[int, ...]]:
    """Weight shapes, in order, of the sheet's encoder (``which="encoder"``) or decoder."""
    if which == "encoder":
        return [(784, 512), (512,), (512, 256), (256,), (256, latent_dim), (latent_dim,), (256, latent_dim),
                (latent_dim,)]
    return [(latent_dim, 256), (256,), (256, 512), (512,), (512, 784), (784,)]


def fixed_weights(model: keras.Model, expected: list[tuple[int, ...]], seed: int) -> None:
    """Give ``model`` seeded weights, after checking that its weight shapes are ``expected``, in order."""
    shapes = [tuple(w.shape) for w in model.get_weights()]
    if shapes != expected:
        raise ValueError(f"weight shapes {shapes}, expected {expected} (the layers asked for, in that order)")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=1 / np.sqrt(s[0]) if len(s) == 2 else 0.1, size=s).astype(np.float32)
                       for s in shapes])


def probe_network(builder: Callable[[int], keras.Model], which: str, latent_dim: int, seed: int,
                  inputs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Outputs of ``builder(latent_dim)`` (``which``: "encoder" or "decoder") with seeded weights on ``inputs``."""
    model = builder(latent_dim)
    fixed_weights(model, sheet_shapes(which, latent_dim), seed)
    outputs = model(tf.convert_to_tensor(inputs, tf.float32))
    if which == "encoder":
        if not isinstance(outputs, list | tuple) or len(outputs) != 2:
            raise ValueError("the encoder must return two tensors, [z_mean, z_log_var]")
        return tuple(np.asarray(o) for o in outputs)
    return (np.asarray(outputs).reshape(len(inputs), *IMAGE_SHAPE),)


def probe_reparameterize_raw(function: Callable, z_mean: np.ndarray, z_log_var: np.ndarray
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw observations of ``function(z_mean, z_log_var)``: ``z``, ``z`` of a second call, ``dz/dz_mean`` and
    ``dz/dz_log_var`` (gradients of ``sum(z)``). Judged in the grader by :func:`reparameterize_summary`."""
    mean, log_var = tf.Variable(z_mean, dtype=tf.float32), tf.Variable(z_log_var, dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        z = tf.convert_to_tensor(function(mean, log_var), tf.float32)
        total = tf.reduce_sum(z)
    if tuple(z.shape) != tuple(z_mean.shape):
        raise ValueError(f"z has shape {tuple(z.shape)}, expected {tuple(z_mean.shape)} (that of z_mean)")
    grad_mean, grad_log_var = tape.gradient(total, [mean, log_var])
    if grad_mean is None or grad_log_var is None:
        raise ValueError("no gradient flows from z to z_mean and z_log_var (NumPy, or a stopped gradient?)")
    again = np.asarray(function(mean, log_var), dtype=np.float32)
    return z.numpy(), again, grad_mean.numpy(), grad_log_var.numpy()


def reparameterize_summary(values: Sequence[np.ndarray], z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """The grader's judgement of :func:`probe_reparameterize_raw`'s ``values`` on the hidden posteriors:
    ``[mean, std]`` of ``(z - mean) / std``, the largest gradient errors, and the share of equal draws.

    For a correct reparameterisation: about ``[0, 1, 0, 0, 0]``. Raises ``ValueError`` for values of the wrong
    number or shape (the case then fails with the reason).
    """
    if len(values) != 4:
        raise ValueError(f"expected 4 raw arrays (z, z again, two gradients), got {len(values)}")
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)
    z, again, grad_mean, grad_log_var = (np.asarray(v, np.float64) for v in values)
    if any(a.shape != z_mean.shape for a in (z, again, grad_mean, grad_log_var)):
        raise ValueError(f"raw arrays of shapes {[np.shape(v) for v in values]}, expected {z_mean.shape} each")
    residual = (z - z_mean) / np.exp(0.5 * z_log_var)
    return np.array([residual.mean(), residual.std(), np.abs(grad_mean - 1).max(),
                     np.abs(grad_log_var - 0.5 * (z - z_mean)).max(), np.mean(again == z)])


def probe_reparameterize(function: Callable, z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """:func:`reparameterize_summary` of :func:`probe_reparameterize_raw` in one process (tests; not for grading)."""
    return reparameterize_summary(probe_reparameterize_raw(function, z_mean, z_log_var), z_mean, z_log_var)


def probe_neg_elbo(function: Callable, x: np.ndarray, logits: np.ndarray, z_mean: np.ndarray,
                   z_log_var: np.ndarray, index: int = 0) -> np.ndarray:
    """Term ``index`` (0: reconstruction, 1: KL) of ``function(x, logits, z_mean, z_log_var)``, per image."""
    terms = function(*(tf.convert_to_tensor(a, tf.float32) for a in (x, logits, z_mean, z_log_var)))
    if not isinstance(terms, list | tuple) or len(terms) != 2:
        raise ValueError("neg_elbo must return the pair (reconstruction, kl)")
    return np.asarray(terms[index], dtype=np.float64)


def probe_neg_elbo_kl(function: Callable, x: np.ndarray, logits: np.ndarray, z_mean: np.ndarray,
                      z_log_var: np.ndarray) -> np.ndarray:
    """The KL term of ``function(x, logits, z_mean, z_log_var)``, per image."""
    return probe_neg_elbo(function, x, logits, z_mean, z_log_var, index=1)


POSTERIOR_LOG_VAR = 0.0
"""The probe encoder's log-variance: a posterior standard deviation of 1, so that a step that decodes ``z_mean``
without sampling differs from one that samples. The check gives the class a ``reparameterize`` with fixed noise
(see ``grading/03_mnist_vae.py``), so every number is still deterministic."""


POSTERIOR_MEAN_SHIFT = 1.5
"""The probe encoder's ``z_mean`` bias: means away from 0 give a KL term of about 1.1 nats per latent dimension, so
that a loss without it (or with it reversed or unweighted) differs from the reference beyond the tolerance."""


PROBE_HIDDEN = 32
"""Width of the one ReLU layer of the probe's own networks (deliberately not the sheet's architecture)."""


def _deterministic_networks(latent_dim: int, seed: int) -> tuple[keras.Model, keras.Model]:
    """Small fixed networks (one ReLU layer of :data:`PROBE_HIDDEN` units each; Keras layers, not the kit's
    builders) with seeded weights and a posterior std of 1 everywhere (see :data:`POSTERIOR_LOG_VAR`)."""
    image = keras.Input(IMAGE_SHAPE)
    h = keras.layers.Dense(PROBE_HIDDEN, activation="relu")(keras.layers.Flatten()(image))
    encoder = keras.Model(image, [keras.layers.Dense(latent_dim, name="z_mean")(h),
                                  keras.layers.Dense(latent_dim, name="z_log_var")(h)])
    z = keras.Input((latent_dim,))
    logits = keras.layers.Dense(784)(keras.layers.Dense(PROBE_HIDDEN, activation="relu")(z))
    decoder = keras.Model(z, keras.layers.Reshape(IMAGE_SHAPE)(logits))
    fixed_weights(encoder, [(784, PROBE_HIDDEN), (PROBE_HIDDEN,), (PROBE_HIDDEN, latent_dim), (latent_dim,),
                            (PROBE_HIDDEN, latent_dim), (latent_dim,)], seed)
    fixed_weights(decoder, [(latent_dim, PROBE_HIDDEN), (PROBE_HIDDEN,), (PROBE_HIDDEN, 784), (784,)], seed + 1)
    head = encoder.get_layer("z_log_var")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.full_like(head.get_weights()[1], POSTERIOR_LOG_VAR)])
    mean = encoder.get_layer("z_mean")
    mean.set_weights([mean.get_weights()[0], np.full_like(mean.get_weights()[1], POSTERIOR_MEAN_SHIFT)])
    return encoder, decoder


def _student_vae(cls: type, latent_dim: int, seed: int, beta: float) -> keras.Model:
    from course_utils import vae as kit

    if isinstance(cls, type) and issubclass(cls, kit.VAE):
        raise ValueError("`VAE` is (a subclass of) the kit's course_utils.vae.VAE; write your own train_step")
    encoder, decoder = _deterministic_networks(latent_dim, seed)
    model = cls(encoder, decoder, beta=beta)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), jit_compile=False)
    return model


def probe_train_step(cls: type, latent_dim: int, seed: int, beta: float, x: np.ndarray, steps: int) -> np.ndarray:
    """Per-step ``loss``, ``reconstruction`` and ``kl`` of ``steps`` SGD steps on the batch ``x`` (one per epoch)."""
    model = _student_vae(cls, latent_dim, seed, beta)
    data = tf.data.Dataset.from_tensor_slices(np.asarray(x, np.float32)).batch(len(x))
    history = model.fit(data, epochs=steps, verbose=0, shuffle=False).history
    missing = {"loss", "reconstruction", "kl"} - set(history)
    if missing:
        raise ValueError(f"train_step did not report {sorted(missing)}")
    return np.concatenate([history[k] for k in ("loss", "reconstruction", "kl")]).astype(np.float64)


def probe_test_step(cls: type, latent_dim: int, seed: int, beta: float, x: np.ndarray) -> np.ndarray:
    """``loss``, ``reconstruction`` and ``kl`` that ``evaluate`` reports on ``x`` (no training)."""
    model = _student_vae(cls, latent_dim, seed, beta)
    data = tf.data.Dataset.from_tensor_slices(np.asarray(x, np.float32)).batch(max(1, len(x) // 2))
    logs = model.evaluate(data, verbose=0, return_dict=True)
    missing = {"loss", "reconstruction", "kl"} - set(logs)
    if missing:
        raise ValueError(f"test_step did not report {sorted(missing)}")
    return np.array([logs["loss"], logs["reconstruction"], logs["kl"]], dtype=np.float64)


def probe_snapshots(cls: type, epochs: Sequence[int], n_epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train a tiny seeded model ``n_epochs`` epochs (2 steps each) with ``cls(epochs, make_figure)``.

    Returns the epochs kept in ``callback.figures`` (sorted) and, for each, the optimizer steps done when
    ``make_figure`` drew it (``2 * epoch`` if drawn at the end of that epoch; -1 if the kept object is not
    the figure ``make_figure`` returned), and the sum of the model's weights then: a raw observation of the
    training run that only a callback drawing at those moments produces (not the pattern of the epochs alone).
    """
    import matplotlib.pyplot as plt

    drawn: dict[int, tuple[int, Any]] = {}

    def make_figure(model: keras.Model, epoch: int) -> Any:
        figure = plt.figure()
        weights = float(sum(np.sum(w) for w in model.get_weights()))
        drawn[int(epoch)] = (int(model.optimizer.iterations.numpy()), figure, weights)
        return figure

    callback = cls([int(e) for e in np.ravel(epochs)], make_figure)
    keras.utils.set_random_seed(int(n_epochs))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=n_epochs, verbose=0, shuffle=False, callbacks=[callback])
    plt.close("all")
    kept = sorted(int(k) for k in getattr(callback, "figures", {}))
    steps = [drawn[k][0] if k in drawn and callback.figures[k] is drawn[k][1] else -1 for k in kept]
    sums = [drawn[k][2] if k in drawn else 0.0 for k in kept]
    return np.array(kept, dtype=np.int64), np.array(steps, dtype=np.int64), np.array(sums, dtype=np.float64)
