"""Reference solutions of notebook 07 (landmark VAE), used by the tests, ``tools/`` and ``grading/07_landmark_vae.py``.

- :func:`build_conditional_networks`: model 2's encoder ``[x, y] -> (z_mean, z_log_var)`` and decoder
  ``[z, y] -> mean of p(x|y, z)``, the neutral face ``y`` concatenated to the inputs;
- :class:`KLAnnealing`: ``beta`` from ``start`` to ``end`` linearly over ``warmup`` epochs, optionally the
  whole prior (KL and topological term);
- :func:`make_triplets`, :func:`satisfied_triplets`, :func:`triplet_loss`: the thesis's triplets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from course_utils.triplets import check_triplet_codes, check_triplets


def build_conditional_networks(data_dim: int, latent_dim: int = 30, encoder_hidden: Sequence[int] = (240, 120, 60),
                               decoder_hidden: Sequence[int] = (300, 400, 300),
                               dropout: float = 0.1) -> tuple[keras.Model, keras.Model]:
    """Model 2's networks: both also take the neutral face ``y`` (data_dim numbers), concatenated to their input.

    Encoder ``[x, y] -> [z_mean, z_log_var]``; decoder ``[z, y] -> mean`` (data_dim numbers, linear). Hidden
    layers are Dense with ELU, named ``hidden_1``, ``hidden_2``, ..., each followed by dropout; the decoder
    concatenates ``z`` first, so ``hidden_1.kernel[:latent_dim]`` are the latent dimensions' weights.
    """
    def hidden(h: Any, sizes: Sequence[int]) -> Any:
        for i, units in enumerate(sizes):
            h = keras.layers.Dense(units, activation="elu", name=f"hidden_{i + 1}")(h)
            h = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(h)
        return h

    x = keras.Input(shape=(data_dim,), name="x")
    y = keras.Input(shape=(data_dim,), name="condition")
    h = hidden(keras.layers.Concatenate(name="x_and_condition")([x, y]), encoder_hidden)
    encoder = keras.Model([x, y], [keras.layers.Dense(latent_dim, name="z_mean")(h),
                                   keras.layers.Dense(latent_dim, name="z_log_var")(h)], name="encoder")
    z = keras.Input(shape=(latent_dim,), name="z")
    y2 = keras.Input(shape=(data_dim,), name="condition")
    h = hidden(keras.layers.Concatenate(name="z_and_condition")([z, y2]), decoder_hidden)
    decoder = keras.Model([z, y2], keras.layers.Dense(data_dim, name="likelihood_params")(h), name="decoder")
    return encoder, decoder


class KLAnnealing(keras.callbacks.Callback):
    """Before each epoch set ``model.beta`` to ``start + (end - start) * min(1, epoch / warmup)``.

    With ``warmup <= 0`` (no annealing) beta is ``end`` from the first epoch.

    With ``whole_prior=True`` the same factor also multiplies the topological term (``model.topology_scale``,
    model 3): the thesis's "anneal the whole prior" against "anneal only the KL divergence".
    """

    def __init__(self, warmup: int, start: float = 0.0, end: float = 1.0, whole_prior: bool = False) -> None:
        super().__init__()
        self.warmup, self.start, self.end, self.whole_prior = int(warmup), float(start), float(end), bool(whole_prior)

    def value(self, epoch: int) -> float:
        """The factor of epoch ``epoch`` (0-based)."""
        if self.warmup <= 0:
            return self.end
        return self.start + (self.end - self.start) * min(1.0, epoch / self.warmup)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        factor = self.value(epoch)
        self.model.beta.assign(factor)
        if self.whole_prior:
            self.model.topology_scale.assign(factor)


def make_triplets(expression: np.ndarray, intensity: np.ndarray, n_triplets: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Artificial triplets from expression and intensity labels, by the thesis's three rules.

    - ``class`` (code 0): a face of the reference's class (the positive) is closer than a face of another,
      non-neutral class (the negative); for a neutral reference the positive is another neutral face;
    - ``intensity`` (code 1): within the reference's (non-neutral) class, the face whose intensity is closer to
      the reference's is closer: ``|i_ref - i_pos| < |i_ref - i_neg|``;
    - ``neutral`` (code 2): a neutral face is closer to an expressive reference than a face of another class.

    Every face is the reference of at least one triplet (the first ``n`` triplets take the faces in a random
    order as references, the rest random references); each triplet's rule is drawn uniformly among those that
    apply to its reference; no face appears twice in a triplet.

    Returns
    -------
    triplets : (n_triplets, 3) int64, rows ``(ref, pos, neg)``
    rules : (n_triplets,) int64, codes into :data:`course_utils.triplets.RULES`
    """
    expression = np.asarray(expression, dtype=np.int64)
    intensity = np.asarray(intensity, dtype=np.int64)
    n = len(expression)
    if intensity.shape != (n,):
        raise ValueError(f"expression and intensity must have the same length; got {n} and {len(intensity)}.")
    n_triplets = 4 * n if n_triplets is None else int(n_triplets)
    if n_triplets < n:
        raise ValueError(f"Need at least one triplet per face ({n}); got n_triplets={n_triplets}.")
    classes = np.unique(expression[expression > 0])
    neutral = np.flatnonzero(expression == 0)
    if len(classes) < 2 or len(neutral) < 2:
        raise ValueError("Triplets need at least two expressive classes and two neutral faces.")
    by_class = {int(e): np.flatnonzero(expression == e) for e in classes}
    rng = np.random.default_rng(seed)
    refs = np.concatenate([rng.permutation(n), rng.integers(0, n, n_triplets - n)])
    triplets = np.empty((n_triplets, 3), dtype=np.int64)
    rules = np.empty(n_triplets, dtype=np.int64)

    def other(pool: np.ndarray, exclude: int) -> int:
        while True:
            pick = int(pool[rng.integers(len(pool))])
            if pick != exclude:
                return pick

    def another_class(e: int) -> int:
        return int(rng.choice(classes[classes != e]))

    for t, ref in enumerate(refs):
        e, i = int(expression[ref]), int(intensity[ref])
        if e == 0:
            rule = 0
            pos, neg = other(neutral, ref), other(by_class[int(rng.choice(classes))], ref)
        else:
            same = by_class[e]
            levels = np.unique(intensity[same])
            can_intensity = len(levels) > 1 and np.ptp(np.abs(levels - i)) > 0
            rule = int(rng.choice([0, 1, 2] if can_intensity else [0, 2]))
            if rule == 0:
                pos, neg = other(same, ref), other(by_class[another_class(e)], ref)
            elif rule == 2:
                pos, neg = other(neutral, ref), other(by_class[another_class(e)], ref)
            else:
                gap = np.abs(intensity - i)
                while True:
                    pos, neg = other(same, ref), other(same, ref)
                    if gap[pos] != gap[neg]:
                        break
                if gap[pos] > gap[neg]:
                    pos, neg = neg, pos
        triplets[t] = ref, pos, neg
        rules[t] = rule
    return triplets, rules


def satisfied_triplets(z: np.ndarray, triplets: np.ndarray) -> float:
    """Share of triplets with ``||z_ref - z_pos|| <= ||z_ref - z_neg||`` (Euclidean), in [0, 1].

    ``z`` (n, ...) is flattened per row; ``triplets`` (T, 3) indexes its rows (a bad index is a ValueError).
    """
    z = np.asarray(z, dtype=np.float64)
    z = z.reshape(len(z), -1)
    triplets = check_triplets(triplets, len(z))
    ref, pos, neg = (z[triplets[:, k]] for k in range(3))
    return float(np.mean(np.linalg.norm(ref - pos, axis=1) <= np.linalg.norm(ref - neg, axis=1)))


def triplet_loss(z_ref: Any, z_pos: Any, z_neg: Any, topological_variance: float = 1.0) -> Any:
    """Mean over triplets of ``softplus(d(z_ref, z_pos) - d(z_ref, z_neg)) / topological_variance`` (keras.ops)."""
    check_triplet_codes(z_ref, z_pos, z_neg)
    if not topological_variance > 0:
        raise ValueError(f"topological_variance must be positive; got {topological_variance}.")
    ops = keras.ops
    z_ref, z_pos, z_neg = (ops.convert_to_tensor(z, dtype="float32") for z in (z_ref, z_pos, z_neg))
    # A tiny constant under the square root keeps the gradient finite when two codes coincide.
    d_pos = ops.sqrt(ops.sum(ops.square(z_ref - z_pos), axis=-1) + 1e-12)
    d_neg = ops.sqrt(ops.sum(ops.square(z_ref - z_neg), axis=-1) + 1e-12)
    return ops.mean(ops.softplus(d_pos - d_neg)) / topological_variance
