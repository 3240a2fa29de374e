"""Multimodal emotion classifiers (Keras 3): a CNN for images, an MLP for landmark features, their fusion.

Each branch maps its input to an embedding; a classifier puts a softmax head on one branch (CNN only, MLP
only) or on the concatenation of several (fusion). Also here: subject-independent and random splits, one
training routine, and the scores every model is judged by (accuracy, macro one-vs-rest ROC AUC,
row-normalised confusion matrix).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

IMAGE_SHAPE = (64, 64, 3)
"""(height, width, channels) of the CNN input: an aligned face crop (``course_utils.landmarks.align_face``)."""


def build_cnn_branch(input_shape: Sequence[int] = IMAGE_SHAPE, filters: Sequence[int] = (16, 32, 64),
                     embedding: int = 64, dropout: float = 0.4, name: str = "image") -> keras.Model:
    """Image in [0, 1] -> embedding.

    For each entry of ``filters`` a 3x3 convolution, batch norm, ReLU and 2x2 max pooling; the last maps
    (8 x 8 for a 64 x 64 input) are flattened, not averaged, because *where* a change happens (brows or
    mouth) is what tells emotions apart; dropout, then a dense ReLU layer of ``embedding`` units.
    """
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = layers.Dense(embedding, activation="relu", name=f"{name}_embedding")(x)
    return keras.Model(inputs, x, name=f"{name}_branch")


def build_mlp_branch(n_features: int, mean: np.ndarray | None = None, std: np.ndarray | None = None,
                     hidden: Sequence[int] = (256,), embedding: int = 64, dropout: float = 0.3,
                     name: str = "deltas") -> keras.Model:
    """Feature vector -> embedding: standardisation (``(x - mean) / std``, fitted on the training set),
    dropout on the inputs, dense ReLU layers ``hidden``, then a dense ReLU layer of ``embedding`` units.

    Standardising matters: landmark displacements are a few hundredths of an inter-ocular distance, and an
    unscaled input with a large learning rate is how the seed's MLP ended up predicting one class.
    """
    inputs = keras.Input(shape=(n_features,), name=name)
    x = inputs
    if mean is not None and std is not None:
        x = layers.Normalization(mean=np.asarray(mean, "float32"), variance=np.asarray(std, "float32") ** 2,
                                 name=f"{name}_standardise")(x)
    x = layers.Dropout(dropout, name=f"{name}_input_dropout")(x)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"{name}_dense{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"{name}_dropout{i + 1}")(x)
    x = layers.Dense(embedding, activation="relu", name=f"{name}_embedding")(x)
    return keras.Model(inputs, x, name=f"{name}_branch")


def build_classifier(branches: Sequence[keras.Model], n_classes: int = 8, learning_rate: float = 1e-3,
                     hidden: int = 64, dropout: float = 0.3, freeze_branches: bool = False,
                     modality_dropout: float = 0.0, name: str = "classifier") -> keras.Model:
    """Softmax classifier on one branch's embedding, or on the concatenated embeddings of several (fusion).

    The model takes a dict of inputs keyed by the branches' input names (or one array for one branch) and
    is compiled with Adam(``learning_rate``), categorical cross-entropy and accuracy. The branches' layers
    are shared, not copied: with ``freeze_branches`` (branches already trained, e.g. inside single-modality
    classifiers) only the new head is trained, and batch norm runs in inference mode; :func:`unfreeze`
    then fine-tunes the whole model.

    ``modality_dropout`` (fusion only) drops each branch's *whole* embedding for a random share of the
    training examples (dropout with one mask value per example and branch), so the head cannot lean on
    one modality alone.
    """
    for branch in branches:
        branch.trainable = not freeze_branches
    inputs = [branch.input for branch in branches]
    embeddings = [branch.output for branch in branches]
    if len(embeddings) > 1 and modality_dropout > 0:
        # one mask value per example and branch: the whole embedding is dropped, never a part of it
        embeddings = [layers.Dropout(modality_dropout, noise_shape=(None, 1), name=f"drop_{branch.name}")(e)
                      for branch, e in zip(branches, embeddings, strict=True)]
    x = embeddings[0] if len(embeddings) == 1 else layers.Concatenate(name="fusion")(embeddings)
    x = layers.Dense(hidden, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="emotion")(x)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)
    _compile(model, learning_rate)
    return model


def branch_of(classifier: keras.Model, input_name: str, copy: bool = False) -> keras.Model:
    """The branch of a (trained) classifier that starts at input ``input_name`` and ends at its embedding
    layer ``f"{input_name}_embedding"``: a model sharing the classifier's layers, or with ``copy`` a copy
    with the same weights (then fine-tuning a fusion built on it leaves the classifier as it was).

    This is how a fusion reuses trained single-modality models:
    ``build_classifier([branch_of(cnn, "image"), branch_of(mlp, "deltas")], freeze_branches=True)``.

    Raises
    ------
    KeyError
        The classifier has no such input, or no layer ``f"{input_name}_embedding"``.
    """
    tensors = {tensor.name: tensor for tensor in classifier.inputs}
    layer_names = {layer.name for layer in classifier.layers}
    if input_name not in tensors or f"{input_name}_embedding" not in layer_names:
        raise KeyError(f"Classifier {classifier.name} has no branch {input_name!r} (inputs {sorted(tensors)}; "
                       f"a branch needs an input and a layer '{input_name}_embedding').")
    embedding = classifier.get_layer(f"{input_name}_embedding").output
    branch = keras.Model(tensors[input_name], embedding, name=f"{input_name}_branch")
    if copy:
        weights = branch.get_weights()
        branch = keras.models.clone_model(branch)
        branch.set_weights(weights)
    return branch


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])


def unfreeze(model: keras.Model, learning_rate: float = 1e-4) -> keras.Model:
    """Make every layer of ``model`` trainable and recompile it with Adam(``learning_rate``), for fine-tuning.

    The second stage of a staged fusion: first train only the head on frozen, already trained branches
    (``build_classifier(..., freeze_branches=True)``), then fine-tune everything with a learning rate small
    enough not to wreck what the branches learnt. Returns the same model, recompiled.

    Raises
    ------
    ValueError
        A learning rate that is not positive.
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive; got {learning_rate}.")
    model.trainable = True
    for layer in model.layers:
        layer.trainable = True
    _compile(model, learning_rate)
    return model


@dataclass
class Split:
    """Indices of the training, validation and test rows."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def subject_split(labels: np.ndarray, groups: np.ndarray, n_folds: int = 5, seed: int = 0) -> Split:
    """Subject-independent split: every group (person) lands in exactly one of train / validation / test.

    ``StratifiedGroupKFold`` with ``n_folds`` folds keeps the label proportions close to the whole's where
    the groups allow: one fold is the test set, one of the remaining folds the validation set, the rest
    (``(n_folds - 2) / n_folds`` of the groups, 60 % by default) the training set.

    Raises
    ------
    ValueError
        Fewer than ``n_folds`` distinct groups.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if len(np.unique(groups)) < n_folds:
        raise ValueError(f"A subject split into {n_folds} folds needs at least {n_folds} groups; "
                         f"got {len(np.unique(groups))}.")
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(labels), dtype=int)
    for k, (_, index) in enumerate(folds.split(np.zeros(len(labels)), labels, groups)):
        fold_of[index] = k
    return Split(train=np.flatnonzero(fold_of >= 2), val=np.flatnonzero(fold_of == 1),
                 test=np.flatnonzero(fold_of == 0))


def random_split(labels: np.ndarray, test_size: float = 0.2, val_size: float = 0.2, seed: int = 0) -> Split:
    """The seed's image-level split (stratified by label), for comparison: a person can be in every part."""
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=test_size, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=val_size / (1 - test_size), stratify=np.asarray(labels)[rest],
                                  random_state=seed)
    return Split(np.sort(train), np.sort(val), np.sort(test))


def groups_shared(split: Split, groups: np.ndarray) -> int:
    """How many groups (people) appear both in the training and in the test set."""
    groups = np.asarray(groups)
    return len(set(groups[split.train]) & set(groups[split.test]))


def take(inputs: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``index`` of every array in a dict of model inputs."""
    return {name: array[index] for name, array in inputs.items()}


def model_inputs(model: keras.Model, inputs: Mapping[str, np.ndarray] | np.ndarray):
    """The arrays of a dict of inputs that ``model`` takes: one array for a one-input model, else a dict.

    Raises
    ------
    KeyError
        The model needs an input that the dict does not have.
    """
    if not isinstance(inputs, Mapping):
        return inputs
    names = [tensor.name for tensor in model.inputs]
    missing = [name for name in names if name not in inputs]
    if missing:
        raise KeyError(f"Model {model.name} needs inputs {names}; {missing} not among {sorted(inputs)}.")
    return inputs[names[0]] if len(names) == 1 else {name: inputs[name] for name in names}


def train_classifier(model: keras.Model, x_train, y_train: np.ndarray, x_val, y_val: np.ndarray,
                     epochs: int = 30, batch_size: int = 32, patience: int = 8, seed: int = 0
                     ) -> tuple[dict[str, list[float]], float]:
    """Fit with early stopping on the validation loss (best weights restored); returns (history, seconds).

    ``x_*`` are arrays or dicts of named inputs (only those the model takes are used); ``y_*`` are integer
    class labels, one-hot encoded here. Early stopping watches only after ``patience`` epochs, so a
    lucky first epoch cannot end training.
    """
    n_classes = model.output_shape[-1]
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True,
                                         start_from_epoch=patience)
    x_train, x_val = model_inputs(model, x_train), model_inputs(model, x_val)
    start = time.perf_counter()
    history = model.fit(x_train, keras.utils.to_categorical(y_train, n_classes), batch_size=batch_size,
                        epochs=epochs, validation_data=(x_val, keras.utils.to_categorical(y_val, n_classes)),
                        callbacks=[stop], verbose=0, shuffle=True)
    return dict(history.history), time.perf_counter() - start


@dataclass
class ClassifierScores:
    """How well a classifier does on one set.

    Attributes
    ----------
    accuracy : float
        Fraction of correct predictions (arg max of the probabilities).
    macro_auc : float
        One-vs-rest ROC AUC per class, averaged over classes.
    confusion : np.ndarray
        (n_classes, n_classes) confusion matrix normalised per row (true class): row i gives where the
        examples of class i went.
    predictions : np.ndarray
        Predicted class per example.
    """

    accuracy: float
    macro_auc: float
    confusion: np.ndarray
    predictions: np.ndarray


def score_classifier(y_true: np.ndarray, probabilities: np.ndarray) -> ClassifierScores:
    """Accuracy, macro one-vs-rest ROC AUC and the row-normalised confusion matrix of predicted probabilities.

    Raises
    ------
    ValueError
        Probabilities that are not finite, or shapes that do not match.
    """
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(y_true):
        raise ValueError(f"probabilities must be (n, n_classes) with n = {len(y_true)}; got {probabilities.shape}.")
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("probabilities contain NaN or infinite values; the model diverged.")
    n_classes = probabilities.shape[1]
    predictions = probabilities.argmax(axis=1)
    labels = np.arange(n_classes)
    auc = roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro", labels=labels)
    confusion = confusion_matrix(y_true, predictions, labels=labels, normalize="true")
    return ClassifierScores(float(accuracy_score(y_true, predictions)), float(auc), confusion, predictions)


def evaluate_classifier(model: keras.Model, x, y_true: np.ndarray, batch_size: int = 256) -> ClassifierScores:
    """Scores of ``model`` on inputs ``x`` with integer labels ``y_true`` (see :func:`score_classifier`)."""
    return score_classifier(y_true, model.predict(model_inputs(model, x), batch_size=batch_size, verbose=0))
