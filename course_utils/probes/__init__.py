"""Probes of function checks: exercise a student's object on behaviour and return numbers to compare.

A :class:`~course_utils.instructor.checks.FunctionCheck` with ``probe=`` calls ``probe(obj, *case)`` with the
student's object (and, for the expected values, the reference's) inside the sandbox. Probes live here, in the
released package, because the grader names them in the sandbox's JSON inputs (``module:function``) and the child
imports them (neither ``grading/`` nor ``course_utils/instructor/`` is visible there). They hold no answers:
they only exercise an object and report numbers.
Each probe returns plain numbers, so a difference shows as a failed case with its reason. Probes run in the
student's own process, where the submission could replace them: what a check compares must be a raw observation
that only a correct solution produces on the hidden inputs (outputs with hidden weights, the triplets drawn),
and facts about it (rules obeyed, a loss that fell) are computed by the check's ``judge`` in the grader, from the
true hidden case (``*_facts`` functions below: they run in the grader's process, whose copy of this package the
submission cannot touch). The ``*_behaviour`` functions compose both in one process, for the kit's own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- notebook 07


class _AnnealedModel:
    """The two variables a KL-annealing callback may set, standing in for a model."""

    def __init__(self) -> None:
        import keras

        self.beta = keras.Variable(-1.0, trainable=False, dtype="float32", name="beta")
        self.topology_scale = keras.Variable(1.0, trainable=False, dtype="float32", name="topology_scale")


def kl_annealing_schedule(callback_class: Callable[..., Any], warmup: int, start: float, end: float,
                          whole_prior: bool, n_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """``beta`` and ``topology_scale`` the callback sets before each of ``n_epochs`` epochs (inside ``fit``)."""
    callback = callback_class(warmup, start=start, end=end, whole_prior=whole_prior)
    model = _AnnealedModel()
    callback.set_model(model)
    betas, scales = [], []
    for epoch in range(n_epochs):
        callback.on_epoch_begin(epoch, {})
        betas.append(float(np.asarray(model.beta)))
        scales.append(float(np.asarray(model.topology_scale)))
    return np.array(betas), np.array(scales)


def conditional_networks_behaviour(build: Callable[..., Any], data_dim: int, latent_dim: int,
                                   encoder_hidden: Sequence[int], decoder_hidden: Sequence[int],
                                   seed: int) -> np.ndarray:
    """What model 2's networks do, as numbers (1 = as required):

    inputs (2 each), output shapes, the encoder's and decoder's outputs change with the neutral face ``y``,
    the decoder's with ``z``, the decoder's ``hidden_1`` takes ``z`` first (its kernel has latent_dim +
    data_dim rows), and model 2 built from them lowers its loss over a few training epochs.
    """
    import keras

    from course_utils.landmark_vae import build_landmark_vae

    # The sizes arrive from the sandbox's .npz as NumPy integers, which Keras layers refuse: plain ints.
    data_dim, latent_dim, seed = int(data_dim), int(latent_dim), int(seed)
    encoder_hidden = tuple(int(h) for h in np.ravel(encoder_hidden))
    decoder_hidden = tuple(int(h) for h in np.ravel(decoder_hidden))
    keras.utils.set_random_seed(seed)
    encoder, decoder = build(data_dim, latent_dim, encoder_hidden, decoder_hidden, 0.0)
    rng = np.random.default_rng(seed)
    x, y, y2 = (rng.normal(size=(8, data_dim)).astype(np.float32) for _ in range(3))
    z, z2 = (rng.normal(size=(8, latent_dim)).astype(np.float32) for _ in range(2))
    enc = [np.asarray(a) for a in encoder([x, y], training=False)]
    enc2 = [np.asarray(a) for a in encoder([x, y2], training=False)]
    dec, dec_y, dec_z = (np.asarray(decoder(pair, training=False)) for pair in ([z, y], [z, y2], [z2, y]))
    try:
        kernel_rows = int(np.asarray(decoder.get_layer("hidden_1").kernel).shape[0])
    except ValueError:
        kernel_rows = -1
    data = rng.normal(size=(64, data_dim)).astype(np.float32)
    neutral = data + rng.normal(scale=0.1, size=data.shape).astype(np.float32)
    keras.utils.set_random_seed(seed)  # the weights (build_landmark_vae leaves the global generators alone)
    model = build_landmark_vae(data_dim, model=2, latent_dim=latent_dim, encoder_hidden=encoder_hidden,
                               decoder_hidden=decoder_hidden, dropout=0.0, seed=seed, reconstruction_variance=0.1,
                               networks=build)
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((data, neutral)).batch(64).map(lambda a, b: ((a, b),))
    history = model.fit(dataset, epochs=15, verbose=0, shuffle=False).history["loss"]
    return np.array([
        len(encoder.inputs) == 2, len(decoder.inputs) == 2,
        len(enc) == 2 and all(a.shape == (8, latent_dim) for a in enc), dec.shape == (8, data_dim),
        not all(np.allclose(a, b) for a, b in zip(enc, enc2, strict=False)), not np.allclose(dec, dec_y),
        not np.allclose(dec, dec_z), kernel_rows == latent_dim + data_dim,
        bool(history[-1] < history[0]),
    ], dtype=float)


def _seeded(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    scale = 1 / np.sqrt(shape[0]) if len(shape) == 2 else 0.1
    return rng.normal(scale=scale, size=shape).astype(np.float32)


def conditional_network_weights(encoder: Any, decoder: Any, data_dim: int, latent_dim: int,
                                encoder_hidden: Sequence[int], decoder_hidden: Sequence[int], seed: int) -> None:
    """Give model 2's networks hidden seeded weights, after checking the sheet's weight shapes.

    The encoder's first kernel repeats its rows for ``x`` and ``y`` and both heads share their weights, so the
    outputs do not depend on the order in which a solution concatenates ``[x, y]`` or creates the two heads.
    """
    rng = np.random.default_rng(seed + 7919)
    sizes = [2 * data_dim, *encoder_hidden]
    want = [s for a, b in zip(sizes, sizes[1:], strict=False) for s in ((a, b), (b,))]
    want += [(sizes[-1], latent_dim), (latent_dim,)] * 2
    got = [tuple(w.shape) for w in encoder.get_weights()]
    if got != want:
        raise ValueError(f"encoder weight shapes {got}, expected {want} (Dense layers of the given sizes on x and "
                         "y concatenated, then the z_mean and z_log_var heads)")
    first = _seeded((data_dim, sizes[1]), rng)
    weights = [np.vstack([first, first])] + [_seeded(s, rng) for s in want[1:-4]]
    head = [_seeded(want[-2], rng), _seeded(want[-1], rng)]
    encoder.set_weights(weights + head + head)
    sizes = [latent_dim + data_dim, *decoder_hidden, data_dim]
    want = [s for a, b in zip(sizes, sizes[1:], strict=False) for s in ((a, b), (b,))]
    got = [tuple(w.shape) for w in decoder.get_weights()]
    if got != want:
        raise ValueError(f"decoder weight shapes {got}, expected {want} (Dense layers of the given sizes on z and "
                         "y concatenated, z first, then one output of data_dim numbers)")
    decoder.set_weights([_seeded(s, rng) for s in want])


def conditional_networks_raw(build: Callable[..., Any], data_dim: int, latent_dim: int, encoder_hidden: Sequence[int],
                             decoder_hidden: Sequence[int], seed: int) -> tuple[np.ndarray, ...]:
    """Raw outputs of model 2's networks from ``build`` with hidden weights (:func:`conditional_network_weights`)
    on hidden inputs: encoder ``[x, y]`` and ``[x, y2]`` (both heads), decoder ``[z, y]``, ``[z, y2]``, ``[z2, y]``,
    and the per-epoch losses of model 2 trained from those weights. Judged by :func:`conditional_networks_facts`.
    """
    import keras
    import tensorflow as tf

    from course_utils.landmark_vae import build_landmark_vae

    data_dim, latent_dim, seed = int(data_dim), int(latent_dim), int(seed)
    encoder_hidden = tuple(int(h) for h in np.ravel(encoder_hidden))
    decoder_hidden = tuple(int(h) for h in np.ravel(decoder_hidden))
    keras.utils.set_random_seed(seed)
    encoder, decoder = build(data_dim, latent_dim, encoder_hidden, decoder_hidden, 0.0)
    if len(encoder.inputs) != 2 or len(decoder.inputs) != 2:
        raise ValueError("the encoder must take [x, y] and the decoder [z, y] (two inputs each)")
    conditional_network_weights(encoder, decoder, data_dim, latent_dim, encoder_hidden, decoder_hidden, seed)
    rng = np.random.default_rng(seed)
    x, y, y2 = (rng.normal(size=(8, data_dim)).astype(np.float32) for _ in range(3))
    z, z2 = (rng.normal(size=(8, latent_dim)).astype(np.float32) for _ in range(2))
    enc = [np.asarray(a) for pair in ([x, y], [x, y2]) for a in encoder(pair, training=False)]
    dec = [np.asarray(decoder(pair, training=False)) for pair in ([z, y], [z, y2], [z2, y])]
    data = rng.normal(size=(64, data_dim)).astype(np.float32)
    neutral = data + rng.normal(scale=0.1, size=data.shape).astype(np.float32)
    model = build_landmark_vae(data_dim, model=2, latent_dim=latent_dim, encoder_hidden=encoder_hidden,
                               decoder_hidden=decoder_hidden, dropout=0.0, seed=seed, reconstruction_variance=0.1,
                               networks=lambda *args: (encoder, decoder))
    dataset = tf.data.Dataset.from_tensor_slices((data, neutral)).batch(64).map(lambda a, b: ((a, b),))
    history = model.fit(dataset, epochs=15, verbose=0, shuffle=False).history["loss"]
    return (*enc, *dec, np.asarray(history, np.float64))


def conditional_networks_facts(values: Sequence[np.ndarray], data_dim: int, latent_dim: int,
                               encoder_hidden: Sequence[int], decoder_hidden: Sequence[int], seed: int
                               ) -> list[np.ndarray]:
    """The grader's judgement of :func:`conditional_networks_raw`: the seven outputs (compared with the
    reference's outputs under the same hidden weights) and whether training lowered the loss."""
    if len(values) != 8:
        raise ValueError(f"expected 8 raw arrays (4 encoder outputs, 3 decoder outputs, losses), got {len(values)}")
    latent, data = (8, int(latent_dim)), (8, int(data_dim))
    outputs = [np.asarray(v, np.float64) for v in values[:7]]
    for value, shape in zip(outputs, [latent] * 4 + [data] * 3, strict=True):
        if value.shape != shape:
            raise ValueError(f"an output of shape {value.shape}, expected {shape}")
    history = np.ravel(np.asarray(values[7], np.float64))
    trained = history.size >= 2 and bool(np.all(np.isfinite(history)) and history[-1] < history[0])
    return [*outputs, np.array([float(trained)])]


def triplets_raw(make: Callable[..., Any], expression: np.ndarray, intensity: np.ndarray, n_triplets: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``(triplets, rules)`` of ``make(expression, intensity, n_triplets, seed=seed)``; judged in the
    grader by :func:`triplet_facts` against the hidden labels."""
    triplets, rules = make(np.asarray(expression), np.asarray(intensity), int(n_triplets), seed=int(seed))
    return np.asarray(triplets), np.asarray(rules)


def triplet_facts(values: Sequence[np.ndarray], expression: np.ndarray, intensity: np.ndarray, n_triplets: int,
                  seed: int) -> np.ndarray:
    """The grader's judgement of :func:`triplets_raw` (the seven facts of :func:`triplets_behaviour`)."""
    if len(values) != 2:
        raise ValueError(f"expected (triplets, rules), got {len(values)} arrays")
    return _triplet_facts(np.asarray(values[0]), np.asarray(values[1]), np.asarray(expression),
                          np.asarray(intensity), int(n_triplets))


def triplets_behaviour(make: Callable[..., Any], expression: np.ndarray, intensity: np.ndarray, n_triplets: int,
                       seed: int) -> np.ndarray:
    """Whether ``make(expression, intensity, n_triplets, seed) -> (triplets, rules)`` follows the thesis's rules.

    Returns 1/0 for: shapes and dtypes, indices in range, three different faces per triplet, every face a
    reference, and then the share of triplets that obey their rule, and whether each rule is used.
    """
    expression, intensity = np.asarray(expression), np.asarray(intensity)
    triplets, rules = make(expression, intensity, n_triplets, seed=seed)
    return _triplet_facts(np.asarray(triplets), np.asarray(rules), expression, intensity, n_triplets)


def _triplet_facts(triplets: np.ndarray, rules: np.ndarray, expression: np.ndarray, intensity: np.ndarray,
                   n_triplets: int) -> np.ndarray:
    n = len(expression)
    shapes = triplets.shape == (n_triplets, 3) and rules.shape == (n_triplets,)
    if not shapes or not np.issubdtype(triplets.dtype, np.integer):
        return np.zeros(7)
    in_range = bool(np.all((triplets >= 0) & (triplets < n)))
    if not in_range:
        return np.array([1, 0, 0, 0, 0, 0, 0], dtype=float)
    ref, pos, neg = triplets.T
    distinct = bool(np.all((ref != pos) & (ref != neg) & (pos != neg)))
    covered = len(np.unique(ref)) == n
    e_ref, e_pos, e_neg = expression[ref], expression[pos], expression[neg]
    i_ref, i_pos, i_neg = intensity[ref], intensity[pos], intensity[neg]
    class_rule = np.where(e_ref == 0, (e_pos == 0) & (e_neg != 0),
                          (e_pos == e_ref) & (e_neg != e_ref) & (e_neg != 0))
    intensity_rule = ((e_ref != 0) & (e_pos == e_ref) & (e_neg == e_ref)
                      & (np.abs(i_pos - i_ref) < np.abs(i_neg - i_ref)))
    neutral_rule = (e_ref != 0) & (e_pos == 0) & (e_neg != 0) & (e_neg != e_ref)
    valid = np.select([rules == 0, rules == 1, rules == 2], [class_rule, intensity_rule, neutral_rule], False)
    used = all(np.any(rules == k) for k in range(3))
    return np.array([shapes, in_range, distinct, covered, float(np.mean(valid)) >= 0.999, used,
                     bool(np.all(np.isin(rules, [0, 1, 2])))], dtype=float)
