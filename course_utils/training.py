"""Guards for training: a clear error instead of a silently NaN loss or an empty history.

:class:`TrainingGuard` is added to every ``fit`` of the kit's training helpers (:func:`course_utils.vae.fit_vae`,
:func:`course_utils.landmark_vae.fit_landmark_vae`, :func:`course_utils.classifiers.train_classifier`); its
checks run once per epoch, on the epoch's logs, so they cost nothing per batch.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss became NaN or infinite."""


class EmptyEpochError(ValueError):
    """An epoch trained on no batch at all."""


NAN_CAUSES = (
    "Likely cause: NaN or infinite values in the training data (check np.isfinite(x).all() and drop or fix "
    "those rows); else a learning rate too high for the model (try 10 times smaller) or a likelihood scale "
    "that collapsed to 0."
)


class TrainingGuard(keras.callbacks.Callback):
    """Stop training with a clear error when an epoch's loss is NaN or infinite, or when an epoch had no batch.

    Keras goes on to the last epoch with a NaN loss, and an empty dataset (e.g. ``batch_size`` larger than
    the data with ``drop_remainder=True``) gives empty logs and an empty history without a word.

    Parameters
    ----------
    label : str
        What is being trained, for the messages (e.g. ``"the VAE"``).

    Raises
    ------
    NonFiniteLossError
        From ``fit``, at the end of the first epoch whose mean loss is not finite.
    EmptyEpochError
        From ``fit``, at the end of an epoch that trained on no batch.
    """

    def __init__(self, label: str = "the model") -> None:
        super().__init__()
        self.label = label

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if "loss" not in logs:
            raise EmptyEpochError(
                f"Training {self.label}: epoch {epoch + 1} ran on no batch at all, so nothing was trained and the "
                "history would be empty. Is the training data empty, or batch_size larger than the number of "
                "examples with drop_remainder=True (which drops them all)? Pass a smaller batch_size or "
                "drop_remainder=False."
            )
        loss = float(np.asarray(logs["loss"]))
        if not math.isfinite(loss):
            self.model.stop_training = True
            raise NonFiniteLossError(f"Training {self.label} stopped at epoch {epoch + 1}: the loss is {loss}. "
                                     f"{NAN_CAUSES}")


def check_finite(x: np.ndarray, name: str) -> None:
    """Refuse an array of training data that holds NaN or infinite values, naming it and the first bad row."""
    values = np.asarray(x)
    if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        raise ValueError(f"{name} holds NaN or infinite values in {int(bad.sum())} of its {len(values)} examples "
                         f"(the first is row {int(np.flatnonzero(bad)[0])}): the loss would be NaN from the first "
                         "epoch, or the model would silently learn nothing. Drop or fix those examples first "
                         "(keep = np.isfinite(x).reshape(len(x), -1).all(axis=1)).")
