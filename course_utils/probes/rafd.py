"""Probes of notebook 05's function checks: RaFD parsing, the subject split and the Keras builders.

Each probe calls the student's (or the reference's) function and returns plain numbers (facts as 0/1), which
:class:`~course_utils.instructor.checks.FunctionCheck` compares with the reference's. They run inside the
grading sandbox, so they live in an importable module (``grading/`` is not readable there). Keras pieces are
checked on behaviour — names, shapes, what the output depends on, whether training lowers the loss and
which weights it moves — not on one architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_utils.data.rafd import RAFD_CAMERAS, RAFD_EMOTIONS, RAFD_GAZES, RAFD_GROUPS, RAFD_SEXES

FIELDS = (("camera", RAFD_CAMERAS), ("group", RAFD_GROUPS), ("sex", RAFD_SEXES), ("emotion", RAFD_EMOTIONS),
          ("gaze", RAFD_GAZES))


def parsed_fields(parse: Callable[[str], Any], name: str) -> np.ndarray:
    """``parse(name)`` as 7 numbers: [returned None, model, camera, group, sex, emotion, gaze indices]
    (-1 for a value outside RaFD's lists, -2 for a missing key); all -1 after the first when None."""
    fields = parse(name)
    if fields is None:
        return np.array([1, -1, -1, -1, -1, -1, -1], dtype=float)
    if not isinstance(fields, dict):
        return np.full(7, -3.0)
    try:
        model = float(fields["model"]) if isinstance(fields["model"], int | np.integer) else -1.0
    except KeyError:
        model = -2.0
    out = [0.0, model]
    for key, values in FIELDS:
        value = fields.get(key, None)
        out.append(-2.0 if value is None else float(values.index(value)) if value in values else -1.0)
    return np.array(out)


def split_raw(split: Callable[..., Any], labels: np.ndarray, groups: np.ndarray, n_folds: int,
              seed: int) -> tuple[np.ndarray, ...]:
    """The raw parts of ``split(labels, groups, n_folds=..., seed=...)``: train, val, test, and the test part
    for ``seed + 1``. Judged in the grader by :func:`split_facts` against the hidden labels and groups."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    result = split(labels, groups, n_folds=int(n_folds), seed=int(seed))
    other = split(labels, groups, n_folds=int(n_folds), seed=int(seed) + 1)
    return (*(np.asarray(getattr(result, name)).ravel() for name in ("train", "val", "test")),
            np.asarray(other.test).ravel())


def split_facts(values: Sequence[np.ndarray], labels: np.ndarray, groups: np.ndarray, n_folds: int,
                seed: int) -> np.ndarray:
    """The grader's judgement of :func:`split_raw` (the five facts of :func:`split_behaviour`)."""
    if len(values) != 4:
        raise ValueError(f"expected 4 index arrays (train, val, test, test of another seed), got {len(values)}")
    return _split_facts([np.asarray(v).ravel() for v in values[:3]], np.asarray(values[3]).ravel(),
                        np.asarray(labels), np.asarray(groups), int(n_folds))


def split_behaviour(split: Callable[..., Any], labels: np.ndarray, groups: np.ndarray, n_folds: int,
                    seed: int) -> np.ndarray:
    """Facts (1 = as required) about ``split(labels, groups, n_folds=..., seed=...)``: every row in exactly
    one part; no group in two parts; test and validation each hold n_groups / n_folds groups (within one);
    every part holds every label; the seed changes the split (for another seed)."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    result = split(labels, groups, n_folds=n_folds, seed=seed)
    parts = [np.asarray(getattr(result, name)).ravel() for name in ("train", "val", "test")]
    other = np.asarray(split(labels, groups, n_folds=n_folds, seed=seed + 1).test).ravel()
    return _split_facts(parts, other, labels, groups, n_folds)


def _split_facts(parts: list[np.ndarray], other_test: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                 n_folds: int) -> np.ndarray:
    if not all(np.issubdtype(p.dtype, np.integer) or p.size == 0 for p in parts):
        return np.zeros(5)
    everything = np.concatenate(parts)
    once = len(everything) == len(labels) and np.array_equal(np.sort(everything), np.arange(len(labels)))
    if not np.all((everything >= 0) & (everything < len(labels))):
        return np.array([0, 0, 0, 0, 0], dtype=float)
    sets = [set(groups[p].tolist()) for p in parts]
    disjoint = not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    share = len(set(groups.tolist())) / n_folds
    sizes = all(abs(len(s) - share) <= 1 for s in sets[1:])
    every_label = all(len(set(labels[p].tolist())) == len(set(labels.tolist())) for p in parts)
    varies = not np.array_equal(np.sort(other_test), np.sort(parts[2]))
    return np.array([once, disjoint, sizes, every_label, varies], dtype=float)


def _trains(model: Any, x: Any, y: np.ndarray, epochs: int = 15) -> bool:
    history = model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, shuffle=False).history["loss"]
    return bool(np.isfinite(history[-1]) and history[-1] < 0.9 * history[0])


def branch_behaviour(build: Callable[..., Any], kind: str, shape: tuple[int, ...], name: str,
                     seed: int) -> np.ndarray:
    """Facts about a branch builder: ``build(shape, name=name)`` for kind "cnn", ``build(n, mean, std,
    name=name)`` for kind "mlp".

    1 = as required: input named ``name`` with the given shape; output (batch, 64); a layer
    ``f"{name}_embedding"`` that is the output; the output depends on the input; a softmax layer on the
    branch learns a toy problem in a few epochs; (mlp) the branch standardises with ``mean`` and ``std``
    (same initial weights: the output for ``mean + std * z`` equals a (0, 1)-branch's output for ``z``).
    """
    import keras

    rng = np.random.default_rng(seed)
    n = 64
    mean = rng.normal(size=shape[0]).astype("float32") if kind == "mlp" else None
    std = rng.uniform(0.5, 3.0, size=shape[0]).astype("float32") if kind == "mlp" else None

    def make(m=mean, s=std):
        keras.utils.set_random_seed(seed)
        return build(tuple(shape), name=name) if kind == "cnn" else build(shape[0], m, s, name=name)

    branch = make()
    facts = [branch.inputs[0].name == name, tuple(branch.inputs[0].shape[1:]) == tuple(shape),
             tuple(branch.output.shape) == (None, 64)]
    try:
        facts.append(branch.get_layer(f"{name}_embedding").output is branch.outputs[0])
    except ValueError:
        facts.append(False)
    x = rng.normal(size=(n, *shape)).astype("float32")
    if kind == "cnn":
        x = rng.uniform(size=(n, *shape)).astype("float32")
    y = np.zeros(n, dtype=int)
    if kind == "cnn":  # class 1: bright left half
        y[n // 2:] = 1
        x[n // 2:, :, : shape[1] // 2] += 0.8
    else:
        y = (x[:, 0] > 0).astype(int)
        x = mean + std * x
    out1 = np.asarray(branch(x[:8], training=False))
    out2 = np.asarray(branch(x[8:16], training=False))
    facts.append(out1.shape == (8, 64) and not np.allclose(out1, out2))
    if kind == "mlp":
        z = (x[:8] - mean) / std
        plain = np.asarray(make(np.zeros_like(mean), np.ones_like(std))(z, training=False))
        facts.append(bool(np.allclose(out1, plain, atol=1e-4)))
    else:
        facts.append(True)
    keras.utils.set_random_seed(seed)
    head = keras.layers.Dense(2, activation="softmax")(branch.output)
    model = keras.Model(branch.input, head)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    facts.append(_trains(model, x, y))
    return np.array(facts, dtype=float)


def _toy_branches(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    image_in = keras.Input((8, 8, 1), name="image")
    image = keras.Model(image_in, keras.layers.Dense(6, activation="relu", name="image_embedding")(
        keras.layers.Flatten()(image_in)), name="image_branch")
    vec_in = keras.Input((5,), name="vec")
    vec = keras.Model(vec_in, keras.layers.Dense(6, activation="relu", name="vec_embedding")(vec_in),
                      name="vec_branch")
    return image, vec


def classifier_behaviour(build_classifier: Callable[..., Any], n_classes: int, seed: int) -> np.ndarray:
    """Facts about ``build_classifier(branches, n_classes, learning_rate, freeze_branches, name)``.

    1 = as required: one branch gives probabilities (n, n_classes) summing to 1; two branches take a dict of
    inputs and the output depends on both; the model is compiled with the given learning rate and
    categorical cross-entropy (its loss on one-hot labels equals the mean of -log p(true class)); training
    lowers the loss; ``freeze_branches=True`` trains the head only; ``False`` trains the branches too.
    """
    import keras

    rng = np.random.default_rng(seed)
    n = 48
    images = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    vectors = rng.normal(size=(n, 5)).astype("float32")
    y = (vectors[:, 0] > 0).astype(int) + 2 * (images[:, :4].mean(axis=(1, 2, 3)) > 0).astype(int)
    y = y % n_classes
    onehot = keras.utils.to_categorical(y, n_classes)
    facts = []
    image, _ = _toy_branches(seed)
    keras.utils.set_random_seed(seed)
    one = build_classifier([image], n_classes=n_classes, learning_rate=2e-3, freeze_branches=False, name="one")
    p = np.asarray(one.predict(images, verbose=0))
    facts.append(p.shape == (n, n_classes) and bool(np.all(p >= 0)) and bool(np.allclose(p.sum(axis=1), 1, atol=1e-4)))
    image, vec = _toy_branches(seed)
    keras.utils.set_random_seed(seed)
    two = build_classifier([image, vec], n_classes=n_classes, learning_rate=2e-3, freeze_branches=False, name="two")
    both = {"image": images, "vec": vectors}
    p2 = np.asarray(two.predict(both, verbose=0))
    p_img = np.asarray(two.predict({"image": images[::-1].copy(), "vec": vectors}, verbose=0))
    p_vec = np.asarray(two.predict({"image": images, "vec": vectors[::-1].copy()}, verbose=0))
    facts.append(p2.shape == (n, n_classes) and not np.allclose(p2, p_img) and not np.allclose(p2, p_vec))
    try:
        rate = float(np.asarray(two.optimizer.learning_rate))
        facts.append(bool(np.isclose(rate, 2e-3)))
        loss = float(np.ravel(two.evaluate(both, onehot, verbose=0))[0])
        expected = float(-np.mean(np.log(np.clip(p2[np.arange(n), y], 1e-7, 1))))
        facts.append(bool(np.isclose(loss, expected, rtol=1e-3, atol=1e-4)))
    except (AttributeError, TypeError, ValueError):
        facts.extend([False, False])
    before = _layer_weights(two, "image_embedding")
    facts.append(_trains(two, both, onehot, epochs=25))
    facts.append(not all(np.allclose(a, b) for a, b in zip(before, _layer_weights(two, "image_embedding"),
                                                            strict=True)))
    image, vec = _toy_branches(seed)
    keras.utils.set_random_seed(seed)
    frozen = build_classifier([image, vec], n_classes=n_classes, learning_rate=2e-3, freeze_branches=True,
                              name="frozen")
    branch_before = _layer_weights(frozen, "image_embedding") + _layer_weights(frozen, "vec_embedding")
    head_before = [np.array(w) for w in frozen.get_weights()]
    frozen.fit(both, onehot, epochs=3, batch_size=16, verbose=0)
    branch_after = _layer_weights(frozen, "image_embedding") + _layer_weights(frozen, "vec_embedding")
    facts.append(all(np.allclose(a, b) for a, b in zip(branch_before, branch_after, strict=True)))
    facts.append(not all(np.allclose(a, b) for a, b in zip(head_before, frozen.get_weights(), strict=True)))
    return np.array(facts, dtype=float)


def _layer_weights(model: Any, name: str) -> list[np.ndarray]:
    """Weights of the layer ``name`` of ``model`` or of a model nested in it (copies; ``[]`` when absent)."""
    stack = [model]
    while stack:
        layer = stack.pop()
        for inner in getattr(layer, "layers", []):
            if inner.name == name:
                return [np.array(w) for w in inner.get_weights()]
            stack.append(inner)
    return []


MAX_CONFIG = 4 * 1024**2
"""Largest model description (JSON bytes) a Keras-builder probe may send back."""
MAX_PARAMS = 5_000_000
"""Most weights a model rebuilt from a submission's description may hold (the grader builds it)."""


def model_description(model: Any) -> np.ndarray:
    """A Keras model as data: its serialized config (layers, their settings, compile settings) as JSON bytes."""
    import json

    import keras

    return np.frombuffer(json.dumps(keras.saving.serialize_keras_object(model)).encode(), dtype=np.uint8)


def model_from_description(description: np.ndarray) -> Any:
    """The model a :func:`model_description` describes, built anew (fresh weights) in the calling process.

    Run by the grader on what a submission sent back: Keras's ``safe_mode`` (no lambda or code deserialized),
    no custom classes, a size cap on the text and on the weights.
    """
    import json

    import keras

    data = np.asarray(description)
    if data.dtype != np.uint8 or data.ndim != 1 or data.size > MAX_CONFIG:
        raise ValueError("the model description is not JSON bytes of at most 4 MiB")
    model = keras.saving.deserialize_keras_object(json.loads(data.tobytes().decode()), safe_mode=True)
    if not isinstance(model, keras.Model) or model.count_params() > MAX_PARAMS:
        raise ValueError("the description is not a Keras model of at most 5 million weights")
    return model


def _replay(values: Sequence[np.ndarray]) -> Callable[..., Any]:
    """A builder that returns, call by call, the models described in ``values`` (rebuilt in this process)."""
    models = iter(list(values))

    def build(*args: Any, **kwargs: Any) -> Any:
        description = next(models, None)
        if description is None or np.asarray(description).size == 0:
            raise ValueError("fewer model descriptions than the checks need")
        return model_from_description(description)

    return build


def branch_descriptions(build: Callable[..., Any], kind: str, shape: tuple[int, ...], name: str,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw models of a branch builder, as data (:func:`model_description`): ``build`` on the hidden ``shape``
    and ``name`` (for kind "mlp" with the hidden ``mean`` and ``std``, and with 0 and 1). Judged in the grader by
    :func:`branch_facts`, which rebuilds them and runs :func:`branch_behaviour` there."""
    import keras

    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in np.ravel(shape))
    keras.utils.set_random_seed(int(seed))
    if kind == "cnn":
        return model_description(build(shape, name=str(name))), np.zeros(0, np.uint8)
    mean = rng.normal(size=shape[0]).astype("float32")
    std = rng.uniform(0.5, 3.0, size=shape[0]).astype("float32")
    return (model_description(build(shape[0], mean, std, name=str(name))),
            model_description(build(shape[0], np.zeros_like(mean), np.ones_like(std), name=str(name))))


def branch_facts(values: Sequence[np.ndarray], kind: str, shape: tuple[int, ...], name: str,
                 seed: int) -> np.ndarray:
    """The grader's judgement of :func:`branch_descriptions`: :func:`branch_behaviour` on the rebuilt models."""
    return branch_behaviour(_replay(values), str(kind), tuple(int(s) for s in np.ravel(shape)), str(name), int(seed))


def classifier_descriptions(build_classifier: Callable[..., Any], n_classes: int, seed: int) -> tuple[np.ndarray, ...]:
    """The raw models ``build_classifier`` makes of the probe's toy branches, as data, in the order
    :func:`classifier_behaviour` asks for them (one branch; two; two frozen). Judged by :func:`classifier_facts`."""
    import keras

    n_classes, seed = int(n_classes), int(seed)
    models = []
    for branches, freeze, name in ((1, False, "one"), (2, False, "two"), (2, True, "frozen")):
        image, vec = _toy_branches(seed)
        keras.utils.set_random_seed(seed)
        models.append(model_description(build_classifier([image, vec][:branches], n_classes=n_classes,
                                                         learning_rate=2e-3, freeze_branches=freeze, name=name)))
    return tuple(models)


def classifier_facts(values: Sequence[np.ndarray], n_classes: int, seed: int) -> np.ndarray:
    """The grader's judgement of :func:`classifier_descriptions`: :func:`classifier_behaviour` on the rebuilt
    models (compiled as described)."""
    return classifier_behaviour(_replay(values), int(n_classes), int(seed))


def partner_positions(function: Callable, model: np.ndarray, camera: np.ndarray, gaze: np.ndarray,
                      emotion: np.ndarray, index: np.ndarray, match) -> np.ndarray:
    """``function(frame, match)`` on a RaFD table rebuilt from its columns (a DataFrame cannot travel as JSON).

    The frame's index labels are ``index`` (not positions), so a partner given as a label shows as wrong.
    """
    import pandas as pd

    frame = pd.DataFrame({"model": np.asarray(model, dtype=int), "camera": np.asarray(camera, dtype=str),
                          "gaze": np.asarray(gaze, dtype=str), "emotion": np.asarray(emotion, dtype=str)})
    frame["path"] = [f"{m}_{c}_{g}_{e}" for m, c, g, e in frame.itertuples(index=False)]
    frame.index = np.asarray(index, dtype=int)
    return np.asarray(function(frame, tuple(str(m) for m in np.asarray(match, dtype=str).ravel())))
