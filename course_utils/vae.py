"""Variational autoencoder building blocks (Keras 3 on TensorFlow, TensorFlow Probability distributions).

The model is the textbook one. An encoder maps ``x`` to the mean and log-variance of a diagonal Gaussian
posterior ``q(z|x)`` (:func:`posterior`); ``z`` is drawn from it with TensorFlow Probability's
reparameterised ``sample`` (:func:`sample_posterior`); a decoder maps ``z`` to the parameters of the
likelihood ``p(x|z)``. Training minimises ``-ELBO(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))`` per
example, in nats, with one sample of ``z`` per example and the KL term in closed form (``tfd.kl_divergence``).
:func:`bounds` gives the ELBO next to the tighter importance-weighted bound (IWAE).

This is the kit's *generic* VAE (notebooks 04, 06, 07 use it). Notebook 03 asks students to write an
MNIST encoder and decoder, the reparameterisation, the ``-ELBO`` and a ``train_step`` themselves, so
nothing here has those exercises' signatures: the builders take every layer size explicitly, sampling
goes through ``tfd.MultivariateNormalDiag.sample`` rather than a hand-written reparameterisation, and
the loss is a method of the model. The answers live in the instructor-only
``course_utils.instructor.reference.vae``; the grader refuses a student ``VAE`` that is this class.

:class:`VAE` is the Keras model (as keras-io's VAE: a ``train_step`` updating ``keras.metrics.Mean``
trackers); what a notebook does with a trained one are functions: :func:`encode`, :func:`decode`,
:func:`reconstruct`, :func:`generate`, :func:`neg_elbo`, :func:`bounds`.

Likelihoods (:func:`get_likelihood`): ``"bernoulli"`` on logits (images), ``"gaussian"`` with a fixed
standard deviation, or ``"gaussian-learned"`` whose decoder also outputs a per-dimension scale.

Two general hooks serve extensions (e.g. :mod:`course_utils.landmark_vae`): a *conditional* VAE, whose
encoder and decoder both take a second input ``c`` (built with ``condition_shape`` / ``condition_dim``;
then the model's input is the pair ``(x, c)``), and :meth:`VAE.extra_loss`, a term added to the loss
from the second element of each training batch (``(inputs, aux)``), e.g. a prior over triplets.

Importing this module imports TensorFlow and has no other effect; a notebook calls
:func:`course_utils.notebook.import_tensorflow` first, which keeps TensorFlow's start-up messages out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.utils import Bunch

from .training import TrainingGuard, check_finite

tfd = tfp.distributions

PACKAGE = "course_utils"


# ----------------------------------------------------------------------------- likelihoods


@keras.saving.register_keras_serializable(package=PACKAGE)
class BernoulliLikelihood:
    """``p(x|z) = prod_i Bernoulli(x_i; sigmoid(logit_i))``; the decoder outputs one logit per dimension.

    Targets may be binary or, as a common relaxation, grey levels in [0, 1] (then the term is the binary
    cross-entropy, no longer a normalised log-likelihood).
    """

    n_params = 1

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The likelihood as a distribution over flattened data, batch shape (batch,)."""
        return tfd.Independent(tfd.Bernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=1)

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """Pixel probabilities."""
        return tf.sigmoid(params)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BernoulliLikelihood:
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class GaussianLikelihood:
    """``p(x|z) = prod_i Normal(x_i; mu_i, sigma_i)``.

    Parameters
    ----------
    scale : float or None
        A fixed standard deviation for every dimension, or ``None`` to let the decoder output one per
        dimension (softplus of a second head, plus ``min_scale``).
    min_scale : float
        Floor of a learned standard deviation, which keeps the density bounded.
    """

    def __init__(self, scale: float | None = None, min_scale: float = 1e-3) -> None:
        if scale is not None and scale <= 0:
            raise ValueError(f"The Gaussian likelihood needs a positive scale; got {scale}.")
        self.scale = scale
        self.min_scale = min_scale
        self.n_params = 1 if scale is not None else 2

    def _loc_scale(self, params: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if self.scale is not None:
            return params, tf.fill(tf.shape(params), tf.constant(self.scale, params.dtype))
        loc, raw = tf.split(params, 2, axis=-1)
        return loc, tf.nn.softplus(raw) + self.min_scale

    def distribution(self, params: tf.Tensor) -> tfd.Distribution:
        """The likelihood as a distribution over flattened data, batch shape (batch,)."""
        loc, scale = self._loc_scale(params)
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)

    def mean(self, params: tf.Tensor) -> tf.Tensor:
        """The mean ``mu``."""
        return self._loc_scale(params)[0]

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "min_scale": self.min_scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GaussianLikelihood:
        return cls(**config)


def get_likelihood(name: str | BernoulliLikelihood | GaussianLikelihood, scale: float = 0.1):
    """Return a likelihood object: ``"bernoulli"``, ``"gaussian"`` (fixed ``scale``) or ``"gaussian-learned"``."""
    if not isinstance(name, str):
        return name
    if name == "bernoulli":
        return BernoulliLikelihood()
    if name == "gaussian":
        return GaussianLikelihood(scale=scale)
    if name == "gaussian-learned":
        return GaussianLikelihood(scale=None)
    raise ValueError(f"Unknown likelihood {name!r}; use 'bernoulli', 'gaussian' or 'gaussian-learned'.")


# ----------------------------------------------------------------------------- layers and networks


def _hidden_layers(x: Any, hidden: Sequence[int], activation: str, dropout: float) -> Any:
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden_{i + 1}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(x)
    return x


def check_latent_dim(latent_dim: int) -> int:
    """``latent_dim`` as an int, refusing anything but a whole number >= 1 with a message naming it."""
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int | np.integer) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a whole number >= 1 (the dimension of the code z); got {latent_dim!r}.")
    return int(latent_dim)


def conditional_encoder_input(x_input: Any, flat_x: Any, condition_shape: Sequence[int]) -> tuple[list, Any]:
    """A conditional encoder's inputs ``[x, c]`` and ``concat(flat x, flat c)`` (withheld while grading 07)."""
    c = keras.Input(shape=tuple(condition_shape), name="condition")
    return [x_input, c], keras.layers.Concatenate(name="x_and_condition")(
        [flat_x, keras.layers.Flatten(name="flatten_condition")(c)])


def conditional_decoder_input(z_input: Any, condition_dim: int) -> tuple[list, Any]:
    """A conditional decoder's inputs ``[z, c]`` and ``concat(z, c)``, ``z`` first (withheld while grading 07)."""
    c = keras.Input(shape=(condition_dim,), name="condition")
    return [z_input, c], keras.layers.Concatenate(name="z_and_condition")([z_input, c])


def build_encoder(input_shape: Sequence[int], latent_dim: int, hidden: Sequence[int],
                  activation: str = "relu", name: str = "encoder", condition_shape: Sequence[int] | None = None,
                  dropout: float = 0.0) -> keras.Model:
    """MLP encoder ``x -> (z_mean, z_log_var)``, both of shape (batch, latent_dim), linear outputs.

    Both heads are linear: a mean can be any real number, and predicting the *log*-variance lets a linear
    output cover every positive variance. With ``condition_shape`` the encoder is conditional,
    ``[x, c] -> (z_mean, z_log_var)``: ``c`` is flattened and concatenated to ``x``. ``dropout`` > 0 adds a
    dropout layer after each hidden layer.
    """
    check_latent_dim(latent_dim)
    x = keras.Input(shape=tuple(input_shape), name="x")
    inputs = x
    x = keras.layers.Flatten(name="flatten")(x)
    if condition_shape is not None:
        inputs, x = conditional_encoder_input(inputs, x, condition_shape)
    x = _hidden_layers(x, hidden, activation, dropout)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name=name)


def build_decoder(latent_dim: int, output_dim: int, n_params: int, hidden: Sequence[int],
                  activation: str = "relu", name: str = "decoder", condition_dim: int | None = None,
                  dropout: float = 0.0) -> keras.Model:
    """MLP decoder ``z -> likelihood parameters``, shape (batch, n_params * output_dim), linear output.

    The output is linear because it holds logits (Bernoulli) or a mean and a pre-softplus scale
    (Gaussian); the likelihood applies the link functions. With ``condition_dim`` the decoder is
    conditional, ``[z, c] -> parameters``, ``c`` a flat vector concatenated to ``z`` (``z`` comes first, so
    the first layer's weights ``kernel[:latent_dim]`` are those of the latent dimensions).
    """
    x = inputs = keras.Input(shape=(latent_dim,), name="z")
    if condition_dim is not None:
        inputs, x = conditional_decoder_input(inputs, condition_dim)
    x = _hidden_layers(x, hidden, activation, dropout)
    params = keras.layers.Dense(n_params * output_dim, name="likelihood_params")(x)
    return keras.Model(inputs, params, name=name)


# ----------------------------------------------------------------------------- distributions and sampling


def prior(latent_dim: int) -> tfd.Distribution:
    """The prior ``p(z) = N(0, I)`` over a ``latent_dim``-dimensional latent space."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros(latent_dim), scale_diag=tf.ones(latent_dim))


def posterior(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tfd.Distribution:
    """The approximate posterior ``q(z|x) = N(z_mean, diag(exp(z_log_var)))``, batch shape (batch,)."""
    return tfd.MultivariateNormalDiag(loc=z_mean, scale_diag=tf.exp(0.5 * z_log_var))


def sample_posterior(q: tfd.Distribution, seed: keras.random.SeedGenerator, n: int | tuple = ()) -> tf.Tensor:
    """``n`` draws of ``z`` from ``q`` (shape ``(*n, batch, latent_dim)``), reparameterised by TFP's ``sample``.

    Gradients flow to ``q``'s mean and scale; every call advances ``seed``, so each draw is new.
    """
    return q.sample(n, seed=tf.cast(seed.next(), tf.int32))


def _call(network: keras.Model, a: Any, condition: Any = None, training: bool = False) -> Any:
    """``network(a)``, or ``network([a, condition])`` for a conditional VAE's encoder or decoder."""
    return network(a if condition is None else [a, condition], training=training)


# ----------------------------------------------------------------------------- the model


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """A variational autoencoder whose ``fit`` reports loss, reconstruction and KL for train and validation.

    Parameters
    ----------
    encoder : keras.Model
        ``x -> [z_mean, z_log_var]``.
    decoder : keras.Model
        ``z -> likelihood parameters`` (flat, ``n_params * prod(data shape)``).
    likelihood : str or likelihood object
        See :func:`get_likelihood`.
    beta : float
        Weight of the KL term (``1`` gives the ELBO); a non-trainable variable, so a callback may anneal it.
    seed : int, optional
        Seed of the posterior samples drawn in training (a ``keras.random.SeedGenerator``, no global state).

    A conditional VAE (encoder ``[x, c] -> ...``, decoder ``[z, c] -> ...``) takes the pair ``(x, c)``
    wherever a plain one takes ``x``; the NumPy functions of this module take ``condition=c``.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, likelihood: Any = "bernoulli",
                 beta: float = 1.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.likelihood = get_likelihood(likelihood)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.conditional = len(encoder.inputs) > 1
        if self.conditional != (len(decoder.inputs) > 1):
            raise ValueError("Either both the encoder and the decoder take a condition input, or neither does.")
        self.data_shape = tuple(encoder.inputs[0].shape[1:])
        self.latent_dim = int(encoder.output_shape[0][-1])
        expected = self.likelihood.n_params * int(np.prod(self.data_shape))
        if decoder.output_shape[-1] != expected:
            raise ValueError(f"The decoder outputs {decoder.output_shape[-1]} numbers, but this likelihood needs "
                             f"{expected} ({self.likelihood.n_params} per data dimension).")
        self.beta = keras.Variable(beta, trainable=False, dtype="float32", name="beta")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def split_inputs(self, inputs: Any) -> tuple[Any, Any]:
        """``(x, c)`` from a model input: ``(x, None)`` for a plain VAE, the pair for a conditional one."""
        if not self.conditional:
            return inputs, None
        if not isinstance(inputs, list | tuple) or len(inputs) != 2:
            raise ValueError("A conditional VAE takes the pair (x, condition) as its input.")
        return inputs[0], inputs[1]

    def extra_loss(self, aux: Any, training: bool = False) -> tf.Tensor | None:
        """A term added to the batch loss from the auxiliary part of a batch ``(inputs, aux)``; ``None`` here."""
        return None

    def terms(self, inputs: Any, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-example ``-log p(x|z)`` (one ``z`` drawn from ``q(z|x)``) and ``KL(q(z|x) || p(z))``, in nats."""
        x, condition = self.split_inputs(inputs)
        q = posterior(*_call(self.encoder, x, condition, training))
        params = _call(self.decoder, sample_posterior(q, self.seed_generator), condition, training)
        flat = tf.reshape(tf.cast(x, params.dtype), (tf.shape(x)[0], -1))
        return -self.likelihood.distribution(params).log_prob(flat), tfd.kl_divergence(q, prior(self.latent_dim))

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, aux, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.terms(x, training=True)
            loss = tf.reduce_mean(reconstruction + self.beta * kl)
            extra = self.extra_loss(aux, training=True)
            if extra is not None:
                loss = loss + extra
        self.optimizer.apply(tape.gradient(loss, self.trainable_variables), self.trainable_variables)
        return self._track(reconstruction, kl, extra)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, aux, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._track(*self.terms(x, training=False), self.extra_loss(aux, training=False))

    def _track(self, reconstruction: tf.Tensor, kl: tf.Tensor, extra: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        loss = reconstruction + self.beta * kl
        self.loss_tracker.update_state(loss if extra is None else loss + extra)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        """Mean of ``p(x|z)`` at ``z`` = the posterior mean, in the data's shape."""
        x, condition = self.split_inputs(inputs)
        z_mean, _ = _call(self.encoder, x, condition, training)
        return _mean(self, _call(self.decoder, z_mean, condition, training))

    # Notebook 04's exercise sheet (people_sampler and its tests) calls these two as methods.
    def decode(self, z: np.ndarray, batch_size: int = 8192, condition: np.ndarray | None = None) -> np.ndarray:
        """:func:`decode` as a method."""
        return decode(self, z, batch_size=batch_size, condition=condition)

    def generate(self, n: int, seed: int | np.random.Generator = 0, sample_likelihood: bool = False,
                 z_sampler: Callable[[int, np.random.Generator], np.ndarray] | None = None,
                 condition: np.ndarray | None = None) -> np.ndarray:
        """:func:`generate` as a method."""
        return generate(self, n, seed=seed, sample_likelihood=sample_likelihood, z_sampler=z_sampler,
                        condition=condition)

    def get_config(self) -> dict[str, Any]:
        return {"encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "likelihood": keras.saving.serialize_keras_object(self.likelihood),
                "beta": float(self.beta.numpy()), "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        for key in ("encoder", "decoder", "likelihood"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def build(self, input_shape: Any = None) -> None:
        """Encoder and decoder are built on construction; nothing else has weights."""
        self.built = True


def build_vae(data_shape: Sequence[int], latent_dim: int, likelihood: Any,
              encoder_hidden: Sequence[int], decoder_hidden: Sequence[int], activation: str = "relu",
              beta: float = 1.0, seed: int | None = None, learning_rate: float = 1e-3,
              jit_compile: bool | str = "auto") -> VAE:
    """Build and compile an MLP VAE with Adam; the usual entry point.

    Parameters
    ----------
    data_shape : sequence of int
        Shape of one example, e.g. ``(28, 28)`` or ``(2,)``.
    latent_dim : int
        Dimension of ``z``.
    likelihood : str or likelihood object
        See :func:`get_likelihood`.
    encoder_hidden, decoder_hidden : sequence of int
        Units of the hidden layers (no default: there is no canonical architecture).
    seed : int, optional
        Seeds the posterior samples drawn in training. The initial weights come from Keras's global
        generator, which this function leaves alone: for repeatable weights call
        ``keras.utils.set_random_seed(seed)`` right before it (as the notebooks and :func:`fit_vae` do).
    """
    likelihood = get_likelihood(likelihood)
    encoder = build_encoder(data_shape, latent_dim, encoder_hidden, activation)
    decoder = build_decoder(latent_dim, int(np.prod(data_shape)), likelihood.n_params, decoder_hidden, activation)
    vae = VAE(encoder, decoder, likelihood=likelihood, beta=beta, seed=seed, name="vae")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    return vae


# ----------------------------------------------------------------------------- NumPy functions of a trained VAE


def _check_condition(model: VAE, condition: np.ndarray | None, n: int) -> np.ndarray | None:
    if model.conditional != (condition is not None):
        raise ValueError("Pass condition=... to a conditional VAE, and only to one."
                         if model.conditional else "This VAE is not conditional; do not pass a condition.")
    if condition is None:
        return None
    condition = np.asarray(condition, np.float32)
    if len(condition) != n:
        raise ValueError(f"Got {len(condition)} conditions for {n} examples.")
    return condition


def _batches(a: np.ndarray, c: np.ndarray | None, batch_size: int):
    """``(a[i:i + batch_size], c[...] or None)`` for every batch (one empty batch for an empty ``a``)."""
    for i in range(0, max(len(a), 1), batch_size):
        yield a[i:i + batch_size], None if c is None else c[i:i + batch_size]


def _mean(model: VAE, params: tf.Tensor) -> tf.Tensor:
    """The likelihood's mean for decoder outputs ``params``, in the data's shape."""
    return tf.reshape(model.likelihood.mean(params), (-1, *model.data_shape))


def _decoder_params(model: VAE, z: np.ndarray, batch_size: int, condition: np.ndarray | None) -> tf.Tensor:
    """Decoder outputs for ``z``, in batches of direct calls (cheaper than ``predict`` per call)."""
    z = np.asarray(z, np.float32)
    c = _check_condition(model, condition, len(z))
    return tf.concat([_call(model.decoder, a, b) for a, b in _batches(z, c, batch_size)], axis=0)


def encode(model: VAE, x: np.ndarray, batch_size: int = 8192,
           condition: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of ``x`` (given ``condition`` if conditional), each (n, latent_dim)."""
    x = np.asarray(x, np.float32)
    c = _check_condition(model, condition, len(x))
    parts = [_call(model.encoder, a, b) for a, b in _batches(x, c, batch_size)]
    return tuple(np.concatenate([np.asarray(p[k]) for p in parts]) for k in (0, 1))


def decode(model: VAE, z: np.ndarray, batch_size: int = 8192, condition: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``p(x|z)`` (or ``p(x|z, c)``) for latent points ``z`` (n, latent_dim); (n, *data shape)."""
    return np.asarray(_mean(model, _decoder_params(model, z, batch_size, condition)))


def reconstruct(model: VAE, x: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
    """Decode the posterior means of ``x``; (n, *data shape)."""
    return decode(model, encode(model, x, condition=condition)[0], condition=condition)


def generate(model: VAE, n: int, seed: int | np.random.Generator = 0, sample_likelihood: bool = False,
             z_sampler: Callable[[int, np.random.Generator], np.ndarray] | None = None,
             condition: np.ndarray | None = None) -> np.ndarray:
    """``n`` samples: ``z`` decoded to the likelihood's mean, or sampled from ``p(x|z)`` if asked.

    ``z`` comes from the prior ``N(0, I)``, or from ``z_sampler(n, rng)`` (e.g. :func:`latent_gmm_sampler`).
    ``seed`` may be a NumPy generator; every draw follows it (two generators in the same state give the
    same samples). A conditional VAE needs ``condition`` (n, ...), one per sample.
    """
    rng = np.random.default_rng(seed)
    if z_sampler is None:
        z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
    else:
        z = np.asarray(z_sampler(n, rng), np.float32)
    if not sample_likelihood:
        return decode(model, z, condition=condition)
    params = _decoder_params(model, z, 8192, condition)
    seed = tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)  # stateless: the same rng, the same draw
    samples = model.likelihood.distribution(params).sample(seed=seed)
    return np.asarray(samples).reshape(n, *model.data_shape)


def neg_elbo(model: VAE, x: np.ndarray, n_samples: int = 10, batch_size: int = 1000, seed: int = 0,
             condition: np.ndarray | None = None) -> float:
    """Monte-Carlo estimate of ``-ELBO`` in nats per example (``beta`` ignored: this is the true ELBO).

    Each example's reconstruction term is averaged over ``n_samples`` draws of ``z``; the KL term is exact.
    """
    generator = keras.random.SeedGenerator(seed)
    p = prior(model.latent_dim)
    c_all = _check_condition(model, condition, len(x))
    totals = []
    for batch, c in _batches(np.asarray(x, np.float32), c_all, batch_size):
        batch, c = tf.convert_to_tensor(batch), None if c is None else tf.convert_to_tensor(c)
        flat = tf.reshape(batch, (tf.shape(batch)[0], -1))
        q = posterior(*_call(model.encoder, batch, c))
        kl = tfd.kl_divergence(q, p)
        reconstruction = tf.zeros_like(kl)
        for _ in range(n_samples):
            params = _call(model.decoder, sample_posterior(q, generator), c)
            reconstruction -= model.likelihood.distribution(params).log_prob(flat) / n_samples
        totals.append((reconstruction + kl).numpy())
    return float(np.concatenate(totals).mean())


def bounds(model: VAE, x: np.ndarray, k: int = 50, seed: int = 0, batch_size: int = 500,
           condition: np.ndarray | None = None) -> Bunch:
    """The ELBO and the importance-weighted bound (IWAE) on ``log p(x)``, in nats per example.

    With ``k`` draws ``z_1..z_k ~ q(z|x)`` and weights ``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)``:
    ``ELBO = mean_i log w_i`` and ``IWAE = logsumexp_i log w_i - log k`` (Burda et al., 2016), both from the
    same draws. ``ELBO <= IWAE <= log p(x)`` in expectation; they are equal at ``k = 1``, and the IWAE
    tightens as ``k`` grows. Here the KL term is a Monte-Carlo estimate too (unlike :func:`neg_elbo`).

    Returns
    -------
    Bunch
        ``elbo`` and ``iwae`` (floats, the means over ``x``), ``k``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}.")
    generator = keras.random.SeedGenerator(seed)
    p = prior(model.latent_dim)
    c_all = _check_condition(model, condition, len(x))
    elbo, iwae = [], []
    for batch, c in _batches(np.asarray(x, np.float32), c_all, batch_size):
        batch, c = tf.convert_to_tensor(batch), None if c is None else tf.convert_to_tensor(c)
        flat = tf.reshape(batch, (tf.shape(batch)[0], -1))
        q = posterior(*_call(model.encoder, batch, c))
        z = sample_posterior(q, generator, k)  # (k, batch, latent_dim)
        repeated = None if c is None else tf.concat([c] * k, axis=0)  # row i * batch + j: condition j
        params = _call(model.decoder, tf.reshape(z, (-1, model.latent_dim)), repeated)
        log_likelihood = tf.reshape(model.likelihood.distribution(params).log_prob(tf.concat([flat] * k, 0)), (k, -1))
        log_w = log_likelihood + p.log_prob(z) - q.log_prob(z)
        elbo.append(tf.reduce_mean(log_w, axis=0).numpy())
        iwae.append((tf.reduce_logsumexp(log_w, axis=0) - np.log(k)).numpy())
    return Bunch(elbo=float(np.concatenate(elbo).mean()), iwae=float(np.concatenate(iwae).mean()), k=int(k))


def fit_vae(model: VAE, data: Any, epochs: int, validation_data: Any = None, checkpoints: Sequence[int] = (),
            at_checkpoint: Callable[[VAE, int], Any] | None = None,
            callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 0) -> Bunch:
    """``model.fit`` for ``epochs`` epochs, pausing after each epoch in ``checkpoints`` (1-based) for a look.

    Training continues where it paused (``initial_epoch``), so the run is the one a single ``fit`` gives;
    at each checkpoint ``at_checkpoint(model, epoch)`` is called (e.g. to draw a snapshot figure).

    Returns
    -------
    Bunch
        ``history`` (dict of per-epoch lists over the whole run), ``seconds`` (wall-clock seconds of each
        epoch) and ``checkpoints`` (``{epoch: at_checkpoint(model, epoch)}``).

    Raises
    ------
    course_utils.training.NonFiniteLossError
        At the end of the first epoch whose loss is NaN or infinite (:class:`~course_utils.training.TrainingGuard`).
    course_utils.training.EmptyEpochError
        If an epoch ran on no batch (an empty dataset, or ``batch_size`` larger than the data with
        ``drop_remainder=True``).
    """
    timer, guard, history, looks, done = EpochTimer(), TrainingGuard("the VAE"), {}, {}, 0
    for stop in sorted({int(e) for e in checkpoints if 0 < int(e) < epochs} | {int(epochs)}):
        part = model.fit(data, validation_data=validation_data, initial_epoch=done, epochs=stop, verbose=verbose,
                         shuffle=False, callbacks=[guard, *callbacks, timer])
        for key, values in part.history.items():
            history.setdefault(key, []).extend(values)
        done = stop
        if at_checkpoint is not None and stop in {int(e) for e in checkpoints}:
            looks[stop] = at_checkpoint(model, stop)
    return Bunch(history=history, seconds=timer.seconds, checkpoints=looks)


def train_vae(data: Any, epochs: int, seed: int = 0, validation_data: Any = None, checkpoints: Sequence[int] = (),
              at_checkpoint: Callable[[VAE, int], Any] | None = None,
              callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 0, **architecture: Any) -> Bunch:
    """Seed, build and train a VAE: the notebooks' one call per model.

    Calls ``keras.utils.set_random_seed(seed)`` (this *resets Python's, NumPy's and Keras's global
    generators*: the initial weights depend on it), then ``build_vae(**architecture, seed=seed)`` and
    :func:`fit_vae`. ``architecture`` holds :func:`build_vae`'s arguments (``data_shape``, ``latent_dim``,
    ``likelihood``, ``encoder_hidden``, ``decoder_hidden``, ``beta``, ...).

    Returns
    -------
    Bunch
        :func:`fit_vae`'s, plus ``model``.
    """
    keras.utils.set_random_seed(seed)
    model = build_vae(**architecture, seed=seed)
    run = fit_vae(model, data, epochs, validation_data=validation_data, checkpoints=checkpoints,
                  at_checkpoint=at_checkpoint, callbacks=callbacks, verbose=verbose)
    run.model = model
    return run


def latent_gmm_sampler(model: VAE, x: np.ndarray, n_components: int = 30,
                       seed: int = 0) -> Callable[[int, np.random.Generator], np.ndarray]:
    """Ex-post latent density (the "two-stage" VAE): a Gaussian mixture fitted to the codes of ``x``.

    A VAE trained with ``beta < 1`` keeps its codes apart but no longer matches the prior ``N(0, I)``, so
    prior samples land where the decoder was never trained. Fitting
    ``sklearn.mixture.GaussianMixture`` to the posterior means of the training data and sampling ``z``
    from it puts samples where the data's codes are (Ghosh et al., 2020; Dai & Wipf, 2019).

    Returns
    -------
    callable ``(n, rng) -> z`` of shape (n, latent_dim), for :func:`generate`'s ``z_sampler``.
    """
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed).fit(encode(model, x)[0])
    cholesky = np.linalg.cholesky(gmm.covariances_)

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        component = rng.choice(n_components, size=n, p=gmm.weights_)
        noise = rng.standard_normal((n, gmm.means_.shape[1]))
        return gmm.means_[component] + np.einsum("nij,nj->ni", cholesky[component], noise)

    sample.mixture = gmm
    return sample


def make_dataset(x: np.ndarray, batch_size: int = 128, shuffle: bool = True, seed: int = 0,
                 binarize: bool = False, drop_remainder: bool = False, threads: int | None = 1) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of float32 batches: shuffled each epoch, optionally re-binarised, prefetched.

    ``binarize=True`` draws each pixel as Bernoulli(grey level) anew every epoch ("dynamic binarisation"),
    the standard protocol for a Bernoulli likelihood on MNIST. ``drop_remainder=True`` drops the last,
    smaller batch, so every batch has one shape: an XLA-compiled ``train_step`` then compiles once, not
    once more for the odd batch (with shuffling, the dropped examples differ every epoch).

    ``threads``: the pipeline's own thread pool (``None``: TensorFlow's shared pool, autotuned). On a
    2-core machine the autotuned pipeline competes with the training step's threads: epochs of the MNIST
    VAE alternated between 3.2 and 5.2 s; with one private thread they take 3.2-3.4 s
    (``tools/bench_vae.py``). Preparing a batch takes far less time than training on it, so one is enough.

    Raises ``ValueError`` for NaN or infinite values in ``x``, grey levels outside [0, 1] with ``binarize=True``,
    and ``drop_remainder=True`` with ``batch_size`` larger than ``len(x)`` (every example would be dropped).
    """
    check_finite(x, "x")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if drop_remainder and batch_size > len(x):
        raise ValueError(f"batch_size={batch_size} is larger than the {len(x)} examples of x, and drop_remainder=True "
                         "drops the one smaller batch: every example would be dropped and nothing trained. Pass "
                         f"batch_size <= {len(x)} or drop_remainder=False.")
    if binarize:
        check_grey_levels(x, "x")
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(x, np.float32))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if binarize:
        dataset = dataset.map(
            lambda b: tf.cast(tf.random.uniform(tf.shape(b), seed=seed) < b, tf.float32),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    if threads is not None:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
        options.autotune.enabled = False
        dataset = dataset.with_options(options)
    return dataset


def check_grey_levels(x: np.ndarray, name: str = "x") -> None:
    """Refuse grey levels outside [0, 1] (e.g. pixels 0..255), which a Bernoulli draw would turn all to 1."""
    values = np.asarray(x)
    low, high = float(np.min(values)), float(np.max(values))
    if low < 0 or high > 1 or not np.isfinite(low + high):
        hint = " Pixels 0..255? Divide by 255 first." if high > 1 and low >= 0 else ""
        raise ValueError(f"{name} must hold grey levels in [0, 1] (the probability of a pixel being 1); got values in "
                         f"[{low:g}, {high:g}]: every pixel above 1 would become 1.{hint}")


def binarize(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """One fixed stochastic binarisation of grey levels in [0, 1]: pixel ~ Bernoulli(grey level).

    Raises ``ValueError`` for values outside [0, 1] (e.g. pixels 0..255, which would all become 1).
    """
    check_grey_levels(x, "x")
    return (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)


# ----------------------------------------------------------------------------- callbacks


class EpochTimer(keras.callbacks.Callback):
    """Record the wall-clock seconds of every epoch in ``self.seconds``."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class BestWeights(keras.callbacks.Callback):
    """Score the model after every epoch, keep the weights of the best epoch, restore them when training ends.

    Parameters
    ----------
    score : callable
        ``score(model) -> float``, lower is better (e.g. the validation ``-ELBO`` from :func:`neg_elbo`).
    every : int
        Score after every ``every``-th epoch (and after the last), like a checkpoint every k iterations.

    ``self.epochs`` and ``self.scores`` hold the scored epochs (1-based) and their scores,
    ``self.best_epoch`` the epoch restored.
    """

    def __init__(self, score: Callable[[keras.Model], float], every: int = 1) -> None:
        super().__init__()
        self.score = score
        self.every = max(1, int(every))
        self.epochs: list[int] = []
        self.scores: list[float] = []
        self.best_epoch = 0
        self._best: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and epoch + 1 != last:
            return
        value = float(self.score(self.model))
        if not np.isfinite(value):
            raise ValueError(f"The validation score is {value} after epoch {epoch + 1}; training diverged.")
        self.epochs.append(epoch + 1)
        self.scores.append(value)
        if self._best is None or value < min(self.scores[:-1]):
            self._best = [np.array(w) for w in self.model.get_weights()]
            self.best_epoch = epoch + 1

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._best is not None:
            self.model.set_weights(self._best)


def latent_grid(n: int = 15, quantile: float = 0.95) -> np.ndarray:
    """An ``n x n`` grid of 2-D latent points at evenly spaced quantiles of N(0, 1); shape (n * n, 2).

    Row-major, with the second coordinate decreasing down the rows, so a mosaic matches the axes of a
    latent scatter plot.
    """
    from scipy.stats import norm

    values = norm.ppf(np.linspace(1 - quantile, quantile, n))
    grid_x, grid_y = np.meshgrid(values, values[::-1])
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
