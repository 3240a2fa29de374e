"""VAEs of facial landmarks (the thesis of notebook 07, seed 004): models 1, 2 and 3, training, evaluation.

- Model 1: the standard VAE of :mod:`course_utils.vae` on flattened landmarks ``x``.
- Model 2: the same VAE *conditioned* on the person's neutral face ``y``: ``q(z|x, y)`` and ``p(x|y, z)``,
  so ``z`` need not encode the person. Its two networks are notebook 07's exercise: pass them as
  ``networks=(encoder, decoder)`` to :func:`build_landmark_vae`.
- Model 3: model 2 with a topological prior over triplets: :class:`TopologicalVAE` adds
  ``triplet_weight * mean_t softplus(d(z_ref, z_pos) - d(z_ref, z_neg)) / sigma`` to the loss
  (:meth:`~course_utils.vae.VAE.extra_loss`), with ``z`` sampled from the posteriors of the triplets' faces.

All use ELU layers and a Gaussian likelihood with a fixed variance; :func:`fit_landmark_vae` trains with the
caller's callbacks (e.g. a KL-annealing schedule, another exercise) and keeps the epoch with the best
validation objective. The triplet loss too comes from the caller (the exercise of notebook 07).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils import Bunch

from .data.splits import Split
from .training import TrainingGuard, check_finite
from .triplets import check_triplets
from .vae import VAE, BestWeights, GaussianLikelihood, build_decoder, build_encoder, encode, neg_elbo

TripletLoss = Callable[..., Any]
"""``(z_ref, z_pos, z_neg, topological_variance) -> scalar`` (keras.ops), the exercise of notebook 07."""


class TopologicalVAE(VAE):
    """A (conditional) VAE with the thesis's topological prior over triplets of faces (model 3).

    Each training batch is ``(inputs, aux)``; ``aux`` holds a batch of V triplets as six tensors
    ``(x_ref, c_ref, x_pos, c_pos, x_neg, c_neg)`` (faces and their conditions). :meth:`extra_loss` encodes
    them, draws ``n_triplet_samples`` codes from each posterior and returns
    ``topology_scale * triplet_weight * triplet_loss(z_ref, z_pos, z_neg, topological_variance)``.
    ``topology_scale`` is a non-trainable variable (1 by default) that a callback may anneal with ``beta``
    (the thesis's "anneal the whole prior").

    Parameters
    ----------
    topological_variance : float
        ``sigma`` of the prior ``exp(-Phi / sigma)``; the thesis's best model used 0.04.
    triplet_weight : float
        Number of triplets per training face, ``T / N``: the prior is a sum over all T triplets and the
        ELBO a sum over all N faces, and the loss is per face.
    n_triplet_samples : int
        Codes drawn per triplet (the thesis's M = 10).
    triplet_loss : callable
        The loss of a batch of triplets (required).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, likelihood: Any = "gaussian",
                 beta: float = 1.0, seed: int | None = None, topological_variance: float = 0.04,
                 triplet_weight: float = 4.0, n_triplet_samples: int = 10, triplet_loss: TripletLoss | None = None,
                 **kwargs: Any) -> None:
        super().__init__(encoder, decoder, likelihood=likelihood, beta=beta, seed=seed, **kwargs)
        if topological_variance <= 0 or triplet_weight < 0 or n_triplet_samples < 1:
            raise ValueError("Need topological_variance > 0, triplet_weight >= 0 and n_triplet_samples >= 1.")
        self.topological_variance = float(topological_variance)
        self.triplet_weight = float(triplet_weight)
        self.n_triplet_samples = int(n_triplet_samples)
        if not callable(triplet_loss):
            raise ValueError("Model 3 needs triplet_loss=..., a function (z_ref, z_pos, z_neg, topological_variance).")
        self.triplet_loss = triplet_loss
        self.topology_scale = keras.Variable(1.0, trainable=False, dtype="float32", name="topology_scale")
        self.triplet_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.triplet_tracker = keras.metrics.Mean(name="triplet")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [*super().metrics, self.triplet_tracker]

    def _sample_codes(self, x: tf.Tensor, condition: tf.Tensor | None, training: bool) -> tf.Tensor:
        """``n_triplet_samples`` codes per face, stacked: (n_triplet_samples * V, latent_dim)."""
        z_mean, z_log_var = self.encoder(x if condition is None else [x, condition], training=training)
        shape = (self.n_triplet_samples, tf.shape(z_mean)[0], self.latent_dim)
        # Not vae.sample_posterior: TFP's sample draws another noise stream, which would change model 3's
        # trained numbers (notebook 07's committed outputs); this line predates it.
        z = z_mean + tf.exp(0.5 * z_log_var) * keras.random.normal(shape, seed=self.triplet_seed)
        return tf.reshape(z, (-1, self.latent_dim))

    def extra_loss(self, aux: Any, training: bool = False) -> tf.Tensor | None:
        if aux is None:
            return None
        if len(aux) != 6:
            raise ValueError("A triplet batch is (x_ref, c_ref, x_pos, c_pos, x_neg, c_neg).")
        codes = [self._sample_codes(aux[2 * k], aux[2 * k + 1] if self.conditional else None, training)
                 for k in range(3)]
        value = self.triplet_weight * self.triplet_loss(*codes, self.topological_variance)
        value = tf.cast(tf.reshape(value, ()), tf.float32)
        self.triplet_tracker.update_state(value)
        return self.topology_scale * value

    def triplet_term(self, x: np.ndarray, triplets: np.ndarray, condition: np.ndarray | None = None) -> float:
        """``triplet_weight * triplet_loss`` at the posterior means of ``x`` (deterministic), for validation."""
        z = encode(self, x, condition=condition)[0]
        value = self.triplet_loss(z[triplets[:, 0]], z[triplets[:, 1]], z[triplets[:, 2]], self.topological_variance)
        return self.triplet_weight * float(np.asarray(value))


def build_landmark_vae(data_dim: int, model: int = 1, latent_dim: int = 30,
                       encoder_hidden: Sequence[int] = (240, 120, 60), decoder_hidden: Sequence[int] = (300, 400, 300),
                       reconstruction_variance: float = 1e-3, dropout: float = 0.1, learning_rate: float = 1e-3,
                       seed: int = 0, topological_variance: float = 0.04, triplet_weight: float = 4.0,
                       n_triplet_samples: int = 10, triplet_loss: TripletLoss | None = None,
                       networks: Callable[..., tuple[keras.Model, keras.Model]] | None = None) -> VAE:
    """Build and compile model 1, 2 or 3 of the thesis for flattened landmarks of ``data_dim`` numbers.

    Parameters
    ----------
    data_dim : int
        Numbers per face (3 L).
    model : {1, 2, 3}
        1: standard VAE; 2: encoder and decoder also take the neutral face; 3: model 2 plus the
        topological prior (:class:`TopologicalVAE`).
    latent_dim : int
        Dimension of ``z`` (the thesis: 30).
    encoder_hidden, decoder_hidden : sequence of int
        Hidden ELU layers (the thesis's model 2/3: 240-120-60 and 300-400-300); the same for every model.
    reconstruction_variance : float
        Fixed variance of the Gaussian likelihood ``p(x|z)`` per coordinate (the thesis: 1e-3, in squared
        inter-ocular distances).
    dropout : float
        Dropout rate after each hidden layer (the thesis kept 90 % of the units).
    topological_variance, triplet_weight, n_triplet_samples, triplet_loss
        Model 3 only; see :class:`TopologicalVAE`.
    networks : callable
        Models 2 and 3 only (required there): ``networks(data_dim, latent_dim, encoder_hidden, decoder_hidden,
        dropout) -> (encoder [x, y] -> [z_mean, z_log_var], decoder [z, y] -> mean)``.
    seed : int
        Seeds the posterior samples drawn in training (and model 3's triplet codes). The initial weights
        come from Keras's global generator, which this function leaves alone: call
        ``keras.utils.set_random_seed(seed)`` right before it for repeatable weights (notebook 07 does).
    """
    if model not in (1, 2, 3):
        raise ValueError(f"model must be 1, 2 or 3; got {model!r}.")
    if model == 1:
        encoder = build_encoder((data_dim,), latent_dim, encoder_hidden, activation="elu", dropout=dropout)
        decoder = build_decoder(latent_dim, data_dim, 1, decoder_hidden, activation="elu", dropout=dropout)
    else:
        if networks is None:
            raise ValueError(f"Model {model} needs networks=..., the function that builds the conditional encoder "
                             "and decoder (notebook 07's exercise).")
        encoder, decoder = networks(data_dim, latent_dim, encoder_hidden, decoder_hidden, dropout)
        if len(encoder.inputs) != 2 or len(decoder.inputs) != 2:
            raise ValueError("networks must return an encoder [x, y] -> ... and a decoder [z, y] -> ..., "
                             "each with two inputs.")
    likelihood = GaussianLikelihood(scale=float(np.sqrt(reconstruction_variance)))
    if model == 3:
        vae = TopologicalVAE(encoder, decoder, likelihood=likelihood, seed=seed, name="model_3",
                             topological_variance=topological_variance, triplet_weight=triplet_weight,
                             n_triplet_samples=n_triplet_samples, triplet_loss=triplet_loss)
    else:
        vae = VAE(encoder, decoder, likelihood=likelihood, seed=seed, name=f"model_{model}")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False)
    return vae


def _triplet_dataset(x: np.ndarray, condition: np.ndarray, triplets: np.ndarray, batch_size: int,
                     seed: int) -> tf.data.Dataset:
    """Endless batches of triplets as ``(x_ref, c_ref, x_pos, c_pos, x_neg, c_neg)``, drawn at random."""
    faces, neutral = tf.constant(x, tf.float32), tf.constant(condition, tf.float32)

    def gather(batch: tf.Tensor) -> tuple[tf.Tensor, ...]:
        return tuple(t for k in range(3) for t in (tf.gather(faces, batch[:, k]), tf.gather(neutral, batch[:, k])))

    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(triplets, np.int32))
    dataset = dataset.shuffle(len(triplets), seed=seed, reshuffle_each_iteration=True)
    return dataset.repeat().batch(batch_size).map(gather)


def fit_landmark_vae(model: VAE, x: np.ndarray, x_val: np.ndarray, condition: np.ndarray | None = None,
                     condition_val: np.ndarray | None = None, triplets: np.ndarray | None = None,
                     triplets_val: np.ndarray | None = None, epochs: int = 300,
                     batch_size: int = 200, triplet_batch_size: int = 100, eval_every: int = 5, seed: int = 0,
                     callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int = 0) -> Bunch:
    """Train with the given ``callbacks`` (e.g. KL annealing) and keep the epoch with the best validation objective.

    Every ``eval_every`` epochs the validation objective is computed: ``-ELBO`` of ``x_val`` (10 samples
    of ``z``, ``beta`` = 1) plus, for model 3, the topological term of ``triplets_val`` at the posterior
    means; the weights of the best epoch are restored at the end.

    Each step of model 3 takes ``batch_size`` faces and ``triplet_batch_size`` triplets. The thesis took 10
    triplets per step over 100 000 steps (each triplet drawn about 125 times); a short CPU run has a few
    thousand steps, so the default draws 100 triplets per step: the same objective, less noisy gradients.

    Returns
    -------
    Bunch
        ``history`` (the Keras history dict), ``val_epochs`` and ``val_objective`` (the scored epochs and
        their objective), ``best_epoch``, ``seconds``.
    """
    check_finite(x, "x")
    check_finite(x_val, "x_val")
    x = np.asarray(x, np.float32)
    conditional = getattr(model, "conditional", False)
    inputs = tf.data.Dataset.from_tensor_slices((x, np.asarray(condition, np.float32)) if conditional else x)
    dataset = inputs.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    topological = isinstance(model, TopologicalVAE)
    if topological:  # batches (inputs, triplet batch): the triplets are the auxiliary part
        if triplets is None or triplets_val is None:
            raise ValueError("Model 3 needs training and validation triplets.")
        triplets = check_triplets(triplets, len(x), "triplets")
        triplets_val = check_triplets(triplets_val, len(x_val), "triplets_val")
        aux = _triplet_dataset(x, x if condition is None else condition, triplets, triplet_batch_size, seed)
        dataset = tf.data.Dataset.zip((dataset, aux))
    elif conditional:  # one input, the pair (x, c): Keras would read a bare pair as (inputs, targets)
        dataset = dataset.map(lambda faces, neutral: ((faces, neutral),))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)

    def objective(m: VAE) -> float:
        value = neg_elbo(m, x_val, n_samples=10, seed=seed, condition=condition_val if conditional else None)
        if topological:
            value += m.triplet_term(x_val, triplets_val, condition=condition_val if conditional else None)
        return value

    best = BestWeights(objective, every=eval_every)
    start = time.perf_counter()
    history = model.fit(dataset, epochs=epochs, verbose=verbose, shuffle=False,
                        callbacks=[TrainingGuard("the landmark VAE"), *callbacks, best])
    return Bunch(history=history.history, val_epochs=np.array(best.epochs), val_objective=np.array(best.scores),
                 best_epoch=best.best_epoch,
                 seconds=time.perf_counter() - start)


def fit_on_split(model: VAE, x: np.ndarray, split: Split, triplets: dict[str, np.ndarray] | None = None,
                 condition: np.ndarray | None = None, **kwargs: Any) -> Bunch:
    """:func:`fit_landmark_vae` on ``split.train``, validated on ``split.val``.

    ``x`` (and ``condition``, for models 2 and 3) hold every face; ``split`` holds the row indices of the
    parts (:func:`course_utils.data.split_by_person`); ``triplets`` maps ``"train"`` and ``"val"`` to the
    triplets of each part (used by model 3 only). Other keyword arguments go to :func:`fit_landmark_vae`
    (``epochs``, ``seed``, ``callbacks``, ``verbose``, ...).
    """
    def part(a: np.ndarray | None, name: str) -> np.ndarray | None:
        return None if a is None else a[getattr(split, name)]

    pairs = (None, None) if triplets is None else (triplets["train"], triplets["val"])
    return fit_landmark_vae(model, x[split.train], x[split.val], part(condition, "train"), part(condition, "val"),
                            *pairs, **kwargs)


def fit_summary(model: VAE, result: Bunch) -> str:
    """One line on a finished :func:`fit_landmark_vae` run: time, restored epoch, best objective, last epoch."""
    last = {key: round(float(values[-1]), 1) for key, values in result.history.items()}
    return (f"{model.name}: took {result.seconds:.0f} s, restored epoch {result.best_epoch} "
            f"(validation objective {result.val_objective.min():.1f} nats per face); last epoch: {last}")


# ----------------------------------------------------------------------------- evaluation


def kl_per_dimension(model: VAE, x: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
    """Mean over ``x`` of ``KL(q(z_k|x) || N(0, 1))`` for each latent dimension k, in nats; (latent_dim,).

    The posterior and the prior factorise over dimensions, so the KL term splits exactly:
    ``0.5 (mu_k^2 + sigma_k^2 - 1 - log sigma_k^2)``. A dimension with KL near 0 is unused (inactive).
    """
    z_mean, z_log_var = encode(model, x, condition=condition)
    return np.mean(0.5 * (z_mean**2 + np.exp(z_log_var) - 1 - z_log_var), axis=0)


def decoder_weight_norms(model: VAE) -> np.ndarray:
    """Norm of each latent dimension's outgoing weights in the decoder's first layer; (latent_dim,).

    A dimension the decoder ignores has weights near 0 (the thesis's second usage monitor).
    """
    kernel = np.asarray(model.decoder.get_layer("hidden_1").kernel)
    return np.linalg.norm(kernel[:model.latent_dim], axis=1)
