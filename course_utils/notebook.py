"""Set-up shared by the notebooks: quiet TensorFlow, seeds, and one plotting style."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import matplotlib as mpl
import numpy as np

PROFILE_ENV = "COURSE_KIT_PROFILE"
"""Environment variable choosing the training profile: ``full`` (default) or ``small`` (CI)."""

TF_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
"""Environment that silences TensorFlow's Python-side logging and makes CPU results repeatable."""


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send the process's file descriptor 2 to /dev/null for the duration of the block.

    TensorFlow's C++ start-up messages (CUDA not found, oneDNN) are written before its logging is
    configured, straight to the file descriptor, so only redirecting the descriptor keeps them out of a
    notebook. Python exceptions still propagate normally.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow (with TensorFlow Probability) without its start-up noise; return ``tensorflow``."""
    for key, value in TF_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    with silenced_stderr():
        import tensorflow as tf
        import tensorflow_probability  # noqa: F401  (its import prints too; do it here, silently)
    tf.get_logger().setLevel("ERROR")
    return tf


def setup_notebook(seed: int = 0) -> np.random.Generator:
    """Apply the kit's plotting style and return a seeded NumPy generator for the notebook.

    Figures get a readable size, a grid and a fixed DPI, so stored outputs look the same on every machine.
    """
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.4),
            "figure.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": "medium",
            "image.cmap": "gray",
        }
    )
    return np.random.default_rng(seed)


def training_profile() -> str:
    """The training profile: ``"full"`` (default; the committed outputs) or ``"small"`` (``$COURSE_KIT_PROFILE``).

    The small profile exists for CI only: it shortens training cells (fewer epochs), which must be tagged
    ``nbval-ignore-output``; it must never change what a strictly compared cell prints.
    """
    profile = os.environ.get(PROFILE_ENV, "full")
    if profile not in {"full", "small"}:
        raise ValueError(f"{PROFILE_ENV} must be 'full' or 'small'; got {profile!r}.")
    return profile


def by_profile(full: Any, small: Any) -> Any:
    """``full`` under the full profile, ``small`` under the small (CI) one.

    Each notebook's profile cell names its own settings with this function (three to six lines, specific to
    the notebook) and prints them in one line, so a student sees and changes them where they are used;
    there is deliberately no helper that would hide the settings behind a shared call.
    """
    return small if training_profile() == "small" else full
