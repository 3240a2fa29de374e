"""Triplets "the reference is closer to the positive than to the negative": the rules and input checks.

A triplet ``(ref, pos, neg)`` states ``d(ref, pos) <= d(ref, neg)``. The thesis of notebook 07 (seed 004)
generates "artificial" triplets from expression labels by three rules (:data:`RULES`), scores a
representation by the share of triplets it satisfies and turns them into a topological prior. Writing those
three functions is notebook 07's exercise; this module only holds what they share: the rule names and the
checks of their inputs, which turn bad input into an error that says what is wrong and what to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RULES = ("class", "intensity", "neutral")
"""Triplet rules, in the order of the rule codes of notebook 07's ``make_triplets``."""


def check_triplets(triplets: Any, n_items: int, name: str = "triplets") -> np.ndarray:
    """``triplets`` as an int64 array of shape (T, 3), T >= 1, every index in ``[0, n_items)``; else ValueError.

    Parameters
    ----------
    triplets : array-like
        Row indices ``(ref, pos, neg)``.
    n_items : int
        Number of rows of the representation the indices point into.
    name : str
        The argument's name, used in the error message.
    """
    array = np.asarray(triplets)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise ValueError(f"{name} must have shape (T, 3) with T >= 1, one row (ref, pos, neg) per triplet; "
                         f"got shape {array.shape}.")
    whole = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.all(array == np.round(array)))
    if not whole:
        raise ValueError(f"{name} must hold integer row indices; got dtype {array.dtype}.")
    array = array.astype(np.int64)
    bad = (array < 0) | (array >= n_items)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"{name} index out of range: row {row} is {array[row].tolist()}, but the representation "
                         f"has {n_items} rows (valid indices 0..{n_items - 1}). Index the triplets into the same "
                         "array (e.g. the test faces' codes for the test triplets).")
    return array


def check_triplet_codes(z_ref: Any, z_pos: Any, z_neg: Any) -> None:
    """Raise ValueError unless the three code arrays have one and the same shape (T, d).

    Works on NumPy arrays and tensors with static shapes (inside a training step the batch size may be
    unknown, ``None``; such a dimension is not compared).
    """
    shapes = [tuple(getattr(z, "shape", np.shape(z))) for z in (z_ref, z_pos, z_neg)]
    for name, shape in zip(("z_ref", "z_pos", "z_neg"), shapes, strict=True):
        if len(shape) != 2:
            raise ValueError(f"{name} must have shape (T, d), one code per triplet; got shape {shape}.")

    def same(a: Any, b: Any) -> bool:
        return a is None or b is None or int(a) == int(b)

    if not all(same(a, b) for shape in shapes[1:] for a, b in zip(shapes[0], shape, strict=True)):
        raise ValueError(f"z_ref, z_pos and z_neg must have the same shape (T, d): one row per triplet, the same "
                         f"latent dimension; got {shapes[0]}, {shapes[1]} and {shapes[2]}.")
