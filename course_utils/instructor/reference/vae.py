"""Reference solutions of notebook 03 (MNIST VAE), as in the instructor notebook's exercise cells.

The grader compares a student's code with them through the probes of :mod:`course_utils.probes.vae`
(Keras code does not map arrays to arrays), which run in the sandbox; nothing here enters it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

IMAGE_SHAPE = (28, 28)


# ----------------------------------------------------------------------------- the exercise's answers


def build_encoder(latent_dim: int) -> keras.Model:
    """``x (batch, 28, 28) -> [z_mean, z_log_var]``, each (batch, latent_dim).

    Dense 512, Dense 256 (ReLU), two linear heads named ``z_mean`` and ``z_log_var``.
    """
    x = keras.Input(shape=IMAGE_SHAPE, name="image")
    h = keras.layers.Flatten()(x)
    h = keras.layers.Dense(512, activation="relu")(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(x, [z_mean, z_log_var], name="encoder")


def build_decoder(latent_dim: int) -> keras.Model:
    """``z (batch, latent_dim) -> logits (batch, 28, 28)``: Dense 256, Dense 512 (ReLU), linear Dense 784, reshaped."""
    z = keras.Input(shape=(latent_dim,), name="z")
    h = keras.layers.Dense(256, activation="relu")(z)
    h = keras.layers.Dense(512, activation="relu")(h)
    logits = keras.layers.Reshape(IMAGE_SHAPE)(keras.layers.Dense(28 * 28)(h))
    return keras.Model(z, logits, name="decoder")


def reparameterize(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    """One sample ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)`` drawn afresh; shape of ``z_mean``."""
    epsilon = tf.random.normal(tf.shape(z_mean))
    return z_mean + tf.exp(0.5 * z_log_var) * epsilon


def neg_elbo(x: tf.Tensor, logits: tf.Tensor, z_mean: tf.Tensor,
             z_log_var: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-image terms of ``-ELBO``: ``(-log p(x|z), KL(q(z|x) || N(0, I)))``, each of shape (batch,), in nats."""
    likelihood = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), reinterpreted_batch_ndims=2)
    reconstruction = -likelihood.log_prob(tf.cast(x, logits.dtype))
    posterior = tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))
    prior = tfd.MultivariateNormalDiag(loc=tf.zeros_like(z_mean), scale_diag=tf.ones_like(z_mean))
    return reconstruction, tfd.kl_divergence(posterior, prior)


class VAE(keras.Model):
    """The notebook's VAE: encoder, decoder, ``beta`` (weight of the KL term); metrics loss, reconstruction, kl."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.beta = encoder, decoder, beta
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.decoder(self.encoder(x)[0])

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(x, training=True)
            logits = self.decoder(reparameterize(z_mean, z_log_var), training=True)
            reconstruction, kl = neg_elbo(x, logits, z_mean, z_log_var)
            loss = tf.reduce_mean(reconstruction + self.beta * kl)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self._track(reconstruction, kl)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        z_mean, z_log_var = self.encoder(x, training=False)
        logits = self.decoder(reparameterize(z_mean, z_log_var), training=False)
        return self._track(*neg_elbo(x, logits, z_mean, z_log_var))

    def _track(self, reconstruction: tf.Tensor, kl: tf.Tensor) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(reconstruction + self.beta * kl)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}


class Snapshots(keras.callbacks.Callback):
    """After each epoch in ``epochs`` (1-based), ``figures[epoch] = make_figure(self.model, epoch)``."""

    def __init__(self, epochs: Sequence[int], make_figure: Callable[[keras.Model, int], Any]) -> None:
        super().__init__()
        self.epochs = set(epochs)
        self.make_figure = make_figure
        self.figures: dict[int, Any] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 in self.epochs:
            import matplotlib.pyplot as plt

            figure = self.make_figure(self.model, epoch + 1)
            plt.close(figure)  # shown when the notebook displays it, not at the end of the cell
            self.figures[epoch + 1] = figure
