"""Reference solutions of notebook 05's models: the subject split and the Keras builders.

Instructor only: the student writes these in the notebook; tests and ``grading/05_rafd_multimodal.py``
import them from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers
from sklearn.model_selection import StratifiedGroupKFold

from course_utils.classifiers import IMAGE_SHAPE, Split


def subject_split(labels: np.ndarray, groups: np.ndarray, n_folds: int = 5, seed: int = 0) -> Split:
    """Every group in exactly one part: ``StratifiedGroupKFold``, fold 0 test, fold 1 validation, rest train."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(labels), dtype=int)
    for k, (_, index) in enumerate(folds.split(np.zeros(len(labels)), labels, groups)):
        fold_of[index] = k
    return Split(train=np.flatnonzero(fold_of >= 2), val=np.flatnonzero(fold_of == 1),
                 test=np.flatnonzero(fold_of == 0))


def build_cnn_branch(input_shape: Sequence[int] = IMAGE_SHAPE, name: str = "image") -> keras.Model:
    """Image -> 64-number embedding: 3 blocks (3x3 conv, batch norm with momentum 0.9, ReLU, 2x2 max pool;
    16/32/64 filters), flatten, dropout 0.4, dense ReLU ``f"{name}_embedding"``."""
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    x = inputs
    for i, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dropout(0.4, name=f"{name}_dropout")(x)
    x = layers.Dense(64, activation="relu", name=f"{name}_embedding")(x)
    return keras.Model(inputs, x, name=f"{name}_branch")


def build_mlp_branch(n_features: int, mean: np.ndarray, std: np.ndarray, name: str = "deltas") -> keras.Model:
    """Features -> 64-number embedding: standardise with (mean, std), dropout 0.3, 256 ReLU units, dropout,
    dense ReLU ``f"{name}_embedding"``."""
    inputs = keras.Input(shape=(n_features,), name=name)
    x = layers.Normalization(mean=np.asarray(mean, "float32"), variance=np.asarray(std, "float32") ** 2,
                             name=f"{name}_standardise")(inputs)
    x = layers.Dropout(0.3, name=f"{name}_input_dropout")(x)
    x = layers.Dense(256, activation="relu", name=f"{name}_dense1")(x)
    x = layers.Dropout(0.3, name=f"{name}_dropout1")(x)
    x = layers.Dense(64, activation="relu", name=f"{name}_embedding")(x)
    return keras.Model(inputs, x, name=f"{name}_branch")


def build_classifier(branches: Sequence[keras.Model], n_classes: int = 8, learning_rate: float = 1e-3,
                     freeze_branches: bool = False, name: str = "classifier") -> keras.Model:
    """Softmax head (64 ReLU, dropout 0.3) on one branch's embedding or the concatenation of several;
    branches frozen with ``freeze_branches``; compiled with Adam, categorical cross-entropy, accuracy."""
    for branch in branches:
        branch.trainable = not freeze_branches
    inputs = [branch.input for branch in branches]
    embeddings = [branch.output for branch in branches]
    x = embeddings[0] if len(embeddings) == 1 else layers.Concatenate(name="fusion")(embeddings)
    x = layers.Dense(64, activation="relu", name="head_dense")(x)
    x = layers.Dropout(0.3, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="emotion")(x)
    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model
