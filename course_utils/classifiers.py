"""Training, scoring and comparing multimodal emotion classifiers (Keras 3).

Notebook 05's students build the models themselves (a CNN branch for images, an MLP branch for landmark
features, a softmax head on one branch or on several: the fusion) and write the subject-independent split;
this module holds what is not an exercise: the seed's random split for comparison, reusing a trained
classifier's branch (:func:`branch_of`) and fine-tuning (:func:`unfreeze`), one training routine with a
line of progress per epoch, the scores every model is judged by (accuracy, macro one-vs-rest ROC AUC,
row-normalised confusion matrix), a paired comparison of two classifiers on the same test set (McNemar's
exact test, bootstrap interval of the accuracy difference), a layer table, and the linear-SVM probe of a
representation (:func:`linear_svm_accuracy`, notebook 07's measure of latent codes).

:func:`train_classifier` calls ``keras.utils.set_random_seed(seed)`` before fitting (it resets the global
generators; its docstring says so): notebook 05's committed numbers depend on it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils import Bunch

from .data.splits import Split
from .report import model_table
from .training import TrainingGuard, check_finite

IMAGE_SHAPE = (64, 64, 3)
"""(height, width, channels) of the CNN input: an aligned face crop (``course_utils.landmarks.align_face``)."""


def branch_of(classifier: keras.Model, input_name: str, copy: bool = False) -> keras.Model:
    """The branch of a (trained) classifier that starts at input ``input_name`` and ends at its embedding
    layer ``f"{input_name}_embedding"``: a model sharing the classifier's layers, or with ``copy`` a copy
    with the same weights (then fine-tuning a fusion built on it leaves the classifier as it was).

    This is how a fusion reuses trained single-modality models (``build_classifier`` as in notebook 05):
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


class EpochLine(keras.callbacks.Callback):
    """Print one line per epoch: ``label epoch k/n: loss ..., val_loss ..., val_accuracy ...``."""

    def __init__(self, label: str = "", epochs: int | None = None) -> None:
        super().__init__()
        self.label, self.epochs = label, epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        shown = ", ".join(f"{key} {value:.3f}" for key, value in logs.items()
                          if key in ("loss", "accuracy", "val_loss", "val_accuracy"))
        total = f"/{self.epochs}" if self.epochs else ""
        print(f"{self.label} epoch {epoch + 1}{total}: {shown}".strip(), flush=True)


def train_classifier(model: keras.Model, x_train, y_train: np.ndarray, x_val, y_val: np.ndarray,
                     epochs: int = 30, batch_size: int = 32, patience: int = 8, seed: int = 0,
                     progress: str | None = None) -> tuple[dict[str, list[float]], float]:
    """Fit with early stopping on the validation loss (best weights restored); returns (history, seconds).

    ``x_*`` are arrays or dicts of named inputs (only those the model takes are used); ``y_*`` are integer
    class labels, one-hot encoded here. Early stopping watches only after ``patience`` epochs, so a
    lucky first epoch cannot end training. With ``progress`` (a label), one line per epoch is printed.
    It first calls ``keras.utils.set_random_seed(seed)``, which resets Python's, NumPy's and Keras's global
    generators (the shuffling and dropout of the fit depend on them).
    The history has ``stopped_early`` (1.0 if early stopping ended training before ``epochs``, else 0.0)
    and ``best_epoch`` (1-based epoch whose weights were kept) as one-element lists.

    Raises
    ------
    ValueError
        ``epochs`` or ``patience`` not positive, labels outside the model's classes, or NaN or infinite
        values in ``x_train`` or ``x_val`` (with which a ReLU network silently learns nothing).
    course_utils.training.NonFiniteLossError
        At the end of the first epoch whose loss is NaN or infinite.
    """
    if epochs < 1 or patience < 1:
        raise ValueError(f"epochs and patience must be at least 1; got epochs={epochs}, patience={patience}.")
    n_classes = model.output_shape[-1]
    for name, y in (("y_train", y_train), ("y_val", y_val)):
        y = np.asarray(y)
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1} (the model has {n_classes} outputs).")
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True,
                                         start_from_epoch=patience)
    callbacks = [TrainingGuard("the classifier"), stop]
    if progress is not None:
        callbacks.append(EpochLine(progress, epochs))
    x_train, x_val = model_inputs(model, x_train), model_inputs(model, x_val)
    for name, given in (("x_train", x_train), ("x_val", x_val)):
        for key, values in (given.items() if isinstance(given, Mapping) else [("", given)]):
            check_finite(values, f"{name}[{key!r}]" if key else name)
    start = time.perf_counter()
    history = model.fit(x_train, keras.utils.to_categorical(y_train, n_classes), batch_size=batch_size,
                        epochs=epochs, validation_data=(x_val, keras.utils.to_categorical(y_val, n_classes)),
                        callbacks=callbacks, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    history = dict(history.history)
    ran = len(history["loss"])
    history["stopped_early"] = [float(ran < epochs)]
    history["best_epoch"] = [float(int(np.argmin(history["val_loss"])) + 1)]
    return history, seconds


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



def fit_and_score(model: keras.Model, inputs: Mapping[str, np.ndarray], labels: np.ndarray, split: Split,
                  epochs: int = 30, patience: int = 8, seed: int = 0, progress: str | None = None) -> dict:
    """Train ``model`` on ``split.train`` (early stopping on ``split.val``, :func:`train_classifier`) and score it.

    Parameters
    ----------
    model : keras.Model
        A compiled classifier; it takes the arrays of ``inputs`` named after its inputs.
    inputs : mapping of str to np.ndarray
        Every named input, one row per sample (``{"image": ..., "deltas": ...}``).
    labels : (n,) int array
        Class of every sample.
    split : Split
        Row indices of the three parts; the test part is used only for the returned scores.
    epochs, patience, seed, progress
        As in :func:`train_classifier`.

    Returns
    -------
    dict
        ``model``, ``history``, ``seconds`` (training time) and the :class:`ClassifierScores` on ``val``
        and ``test``.
    """
    history, seconds = train_classifier(model, take(inputs, split.train), labels[split.train],
                                        take(inputs, split.val), labels[split.val], epochs=epochs,
                                        patience=patience, seed=seed, progress=progress)
    return {"model": model, "history": history, "seconds": seconds,
            "val": evaluate_classifier(model, take(inputs, split.val), labels[split.val]),
            "test": evaluate_classifier(model, take(inputs, split.test), labels[split.test])}


def fusion_of(build_classifier, trained: Mapping[str, keras.Model], names: Sequence[str], n_classes: int,
              name: str = "fusion") -> keras.Model:
    """Stage 2 of a staged late fusion: a new head on frozen copies of trained classifiers' branches.

    Parameters
    ----------
    build_classifier : callable
        ``build_classifier(branches, n_classes=..., freeze_branches=True, name=...)`` (notebook 05's
        exercise) -> a compiled classifier.
    trained : mapping of str to keras.Model
        Trained single-modality classifiers, by input name.
    names : sequence of str
        The inputs whose branches are fused, e.g. ``["image", "deltas"]``.
    n_classes : int
        Number of classes of the new head.
    name : str
        Name of the fusion model.

    Returns
    -------
    keras.Model
        The compiled fusion; only its head is trainable, and training it leaves ``trained`` as they were.
        The head's initial weights come from Keras's global generators: seed them first
        (``keras.utils.set_random_seed``) for a reproducible run.
    """
    branches = [branch_of(trained[input_name], input_name, copy=True) for input_name in names]
    return build_classifier(branches, n_classes=n_classes, freeze_branches=True, name=name)

@dataclass
class PairedComparison:
    """Two classifiers on the same test examples.

    Attributes
    ----------
    accuracy_a, accuracy_b : float
        Test accuracies.
    only_a, only_b : int
        Examples that only A (only B) gets right: McNemar's discordant pairs.
    p_value : float
        McNemar's exact test (two-sided): ``scipy.stats.binomtest(only_a, only_a + only_b, 0.5)``; 1.0 when
        the two never disagree.
    difference : float
        ``accuracy_a - accuracy_b``.
    low, high : float
        Bootstrap confidence interval of the difference (``scipy.stats.bootstrap``, paired: the same
        resampled examples for both, percentile method).
    """

    accuracy_a: float
    accuracy_b: float
    only_a: int
    only_b: int
    p_value: float
    difference: float
    low: float
    high: float


def compare_paired(y_true: np.ndarray, predictions_a: np.ndarray, predictions_b: np.ndarray,
                   confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> PairedComparison:
    """McNemar's exact test and a paired bootstrap interval for two classifiers' predictions on one test set.

    Raises
    ------
    ValueError
        Arrays of different lengths, an empty test set, or a confidence level outside (0, 1).
    """
    y_true, a, b = (np.asarray(v).ravel() for v in (y_true, predictions_a, predictions_b))
    if not len(y_true) == len(a) == len(b):
        raise ValueError(f"y_true, predictions_a and predictions_b must have one entry per test example; got "
                         f"lengths {len(y_true)}, {len(a)}, {len(b)}.")
    if len(y_true) == 0:
        raise ValueError("The test set is empty: there is nothing to compare.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    right_a, right_b = (a == y_true).astype(float), (b == y_true).astype(float)
    only_a, only_b = int(np.sum((right_a == 1) & (right_b == 0))), int(np.sum((right_a == 0) & (right_b == 1)))
    p_value = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    difference = float(right_a.mean() - right_b.mean())
    if np.all(right_a == right_b) or len(y_true) < 2:
        low = high = difference
    else:
        result = stats.bootstrap((right_a, right_b), lambda x, y: np.mean(x) - np.mean(y), paired=True,
                                 vectorized=False, confidence_level=confidence, n_resamples=n_resamples,
                                 method="percentile", random_state=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return PairedComparison(float(right_a.mean()), float(right_b.mean()), only_a, only_b, p_value, difference,
                            low, high)


def linear_svm_accuracy(features: np.ndarray, labels: np.ndarray, split: Split,
                        cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0)) -> Bunch:
    """Test accuracy of a linear SVM (scikit-learn) on standardised features, ``C`` chosen on validation.

    Parameters
    ----------
    features : (n, d) array
    labels : (n,) array
    split : Split
        Row indices of the three parts (e.g. :func:`course_utils.data.split_by_person`).
    cs : sequence of float
        Candidate regularisation constants; the one with the best validation accuracy is kept (ties:
        the smallest).

    Returns
    -------
    Bunch
        ``test`` and ``val`` accuracy, ``train`` accuracy, the chosen ``C``.
    """
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    best = None
    for c in cs:
        clf = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=20_000, random_state=0))
        clf.fit(features[split.train], labels[split.train])
        val = clf.score(features[split.val], labels[split.val])
        if best is None or val > best[0]:
            best = (val, c, clf)
    val, c, clf = best
    return Bunch(test=float(clf.score(features[split.test], labels[split.test])), val=float(val),
                 train=float(clf.score(features[split.train], labels[split.train])), C=c)


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer of ``model``: name, output shape (batch dimension ``batch``), number of parameters.

    :func:`course_utils.report.model_table` with the batch dimension spelt out (a plain table, no printing).
    """
    return model_table(model, batch="batch")
