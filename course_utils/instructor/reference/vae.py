"""Reference solutions of notebook 03 (MNIST VAE), and the probes the grader runs on a student's code.

The solutions are the ones in the instructor notebook's exercise cells (``### BEGIN SOLUTION``); the
grader compares a student's code with them on hidden inputs. Keras code does not map arrays to arrays,
so each check goes through a *probe* (``FunctionCheck(probe=...)``): a function run in the sandbox that
drives the student's builder, function, class or callback and returns numbers.

* :func:`probe_network`: the student's encoder/decoder builder, with the reference's layer shapes,
  loaded with fixed weights and run on fixed images (outputs compared with the reference's).
* :func:`probe_reparameterize`: standardised residuals ``(z - mean) / std`` of many samples (mean 0,
  std 1), the gradients ``dz/dmean = 1`` and ``dz/dlog_var = (z - mean) / 2``, and whether two calls
  differ (fresh noise).
* :func:`probe_neg_elbo`: one of the two per-image terms.
* :func:`probe_train_step` / :func:`probe_test_step`: the student's ``VAE`` class on the *reference*
  encoder and decoder with fixed weights whose posterior standard deviation is ``exp(-10)`` (so the
  sample is the mean and every number is deterministic), trained a few SGD steps on a fixed batch; the
  reference ``reparameterize`` and ``neg_elbo`` stand in for the student's while it runs, so a mistake
  there is charged by its own check only.
* :func:`probe_snapshots`: when the student's callback calls ``make_figure`` and what it keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_utils.notebook import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

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


# ----------------------------------------------------------------------------- probes (run in the sandbox)


def fixed_weights(model: keras.Model, reference: keras.Model, seed: int) -> None:
    """Give ``model`` seeded weights, after checking that its weight shapes are the reference's, in order."""
    shapes = [tuple(w.shape) for w in model.get_weights()]
    expected = [tuple(w.shape) for w in reference.get_weights()]
    if shapes != expected:
        raise ValueError(f"weight shapes {shapes}, expected {expected} (the layers asked for, in that order)")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=1 / np.sqrt(s[0]) if len(s) == 2 else 0.1, size=s).astype(np.float32)
                       for s in shapes])


def probe_network(builder: Callable[[int], keras.Model], which: str, latent_dim: int, seed: int,
                  inputs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Outputs of ``builder(latent_dim)`` (``which``: "encoder" or "decoder") with seeded weights on ``inputs``."""
    model = builder(latent_dim)
    reference = (build_encoder if which == "encoder" else build_decoder)(latent_dim)
    fixed_weights(model, reference, seed)
    outputs = model(tf.convert_to_tensor(inputs, tf.float32))
    if which == "encoder":
        if not isinstance(outputs, list | tuple) or len(outputs) != 2:
            raise ValueError("the encoder must return two tensors, [z_mean, z_log_var]")
        return tuple(np.asarray(o) for o in outputs)
    return (np.asarray(outputs).reshape(len(inputs), *IMAGE_SHAPE),)


def probe_reparameterize(function: Callable, z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """``[mean, std]`` of ``(z - mean) / std``, the largest gradient errors, and the share of equal draws.

    For a correct reparameterisation: about ``[0, 1, 0, 0, 0]``.
    """
    mean, log_var = tf.Variable(z_mean, dtype=tf.float32), tf.Variable(z_log_var, dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        z = tf.convert_to_tensor(function(mean, log_var), tf.float32)
        total = tf.reduce_sum(z)
    if tuple(z.shape) != tuple(z_mean.shape):
        raise ValueError(f"z has shape {tuple(z.shape)}, expected {tuple(z_mean.shape)} (that of z_mean)")
    grad_mean, grad_log_var = tape.gradient(total, [mean, log_var])
    if grad_mean is None or grad_log_var is None:
        raise ValueError("no gradient flows from z to z_mean and z_log_var (NumPy, or a stopped gradient?)")
    z = z.numpy()
    residual = (z - z_mean) / np.exp(0.5 * z_log_var)
    again = np.asarray(function(mean, log_var))
    return np.array([residual.mean(), residual.std(), np.abs(grad_mean.numpy() - 1).max(),
                     np.abs(grad_log_var.numpy() - 0.5 * (z - z_mean)).max(), np.mean(again == z)])


def probe_neg_elbo(function: Callable, x: np.ndarray, logits: np.ndarray, z_mean: np.ndarray,
                   z_log_var: np.ndarray, index: int = 0) -> np.ndarray:
    """Term ``index`` (0: reconstruction, 1: KL) of ``function(x, logits, z_mean, z_log_var)``, per image."""
    terms = function(*(tf.convert_to_tensor(a, tf.float32) for a in (x, logits, z_mean, z_log_var)))
    if not isinstance(terms, list | tuple) or len(terms) != 2:
        raise ValueError("neg_elbo must return the pair (reconstruction, kl)")
    return np.asarray(terms[index], dtype=np.float64)


def _deterministic_networks(latent_dim: int, seed: int) -> tuple[keras.Model, keras.Model]:
    """Reference networks with seeded weights and a posterior standard deviation of exp(-10) everywhere."""
    encoder, decoder = build_encoder(latent_dim), build_decoder(latent_dim)
    fixed_weights(encoder, encoder, seed)
    fixed_weights(decoder, decoder, seed + 1)
    head = encoder.get_layer("z_log_var")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.full_like(head.get_weights()[1], -20.0)])
    return encoder, decoder


class _ReferencePieces:
    """While active, the names ``reparameterize`` and ``neg_elbo`` seen by ``cls.train_step`` are the reference's."""

    def __init__(self, cls: type) -> None:
        self.namespace = getattr(getattr(cls, "train_step", None), "__globals__", {})
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name, value in (("reparameterize", reparameterize), ("neg_elbo", neg_elbo)):
            if name in self.namespace:
                self.saved[name] = self.namespace[name]
                self.namespace[name] = value

    def __exit__(self, *exc: Any) -> None:
        self.namespace.update(self.saved)


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
    with _ReferencePieces(cls):
        model = _student_vae(cls, latent_dim, seed, beta)
        data = tf.data.Dataset.from_tensor_slices(np.asarray(x, np.float32)).batch(len(x))
        history = model.fit(data, epochs=steps, verbose=0, shuffle=False).history
    missing = {"loss", "reconstruction", "kl"} - set(history)
    if missing:
        raise ValueError(f"train_step did not report {sorted(missing)}")
    return np.concatenate([history[k] for k in ("loss", "reconstruction", "kl")]).astype(np.float64)


def probe_test_step(cls: type, latent_dim: int, seed: int, beta: float, x: np.ndarray) -> np.ndarray:
    """``loss``, ``reconstruction`` and ``kl`` that ``evaluate`` reports on ``x`` (no training)."""
    with _ReferencePieces(cls):
        model = _student_vae(cls, latent_dim, seed, beta)
        data = tf.data.Dataset.from_tensor_slices(np.asarray(x, np.float32)).batch(max(1, len(x) // 2))
        logs = model.evaluate(data, verbose=0, return_dict=True)
    missing = {"loss", "reconstruction", "kl"} - set(logs)
    if missing:
        raise ValueError(f"test_step did not report {sorted(missing)}")
    return np.array([logs["loss"], logs["reconstruction"], logs["kl"]], dtype=np.float64)


def probe_snapshots(cls: type, epochs: Sequence[int], n_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Train a tiny model ``n_epochs`` epochs (2 steps each) with ``cls(epochs, make_figure)``.

    Returns the epochs kept in ``callback.figures`` (sorted) and, for each, the optimizer steps done when
    ``make_figure`` drew it (``2 * epoch`` if drawn at the end of that epoch; -1 if the kept object is not
    the figure ``make_figure`` returned).
    """
    import matplotlib.pyplot as plt

    drawn: dict[int, tuple[int, Any]] = {}

    def make_figure(model: keras.Model, epoch: int) -> Any:
        figure = plt.figure()
        drawn[int(epoch)] = (int(model.optimizer.iterations.numpy()), figure)
        return figure

    callback = cls(list(epochs), make_figure)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=n_epochs, verbose=0, shuffle=False, callbacks=[callback])
    plt.close("all")
    kept = sorted(int(k) for k in getattr(callback, "figures", {}))
    steps = [drawn[k][0] if k in drawn and callback.figures[k] is drawn[k][1] else -1 for k in kept]
    return np.array(kept, dtype=np.int64), np.array(steps, dtype=np.int64)
