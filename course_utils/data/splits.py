"""Subject-independent splits: the :class:`Split` type every splitter of the kit returns, and the person split.

NumPy and scikit-learn only (no Keras), so the data layer and the classifiers share one return type:
:func:`split_by_person` here, :func:`course_utils.classifiers.random_split`, and notebook 05's
``subject_split`` exercise all return a :class:`Split`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupShuffleSplit


@dataclass
class Split:
    """Indices of the training, validation and test rows.

    Attributes
    ----------
    train, val, test : np.ndarray
        Sorted row indices of each part.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Rows in each part."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def parts(self) -> dict[str, np.ndarray]:
        """``{"train": ..., "val": ..., "test": ...}``, in that order."""
        return {"train": self.train, "val": self.val, "test": self.test}


def split_by_person(person: np.ndarray, sizes: tuple[int, int, int] | None = None, seed: int = 0) -> Split:
    """Split samples person-wise into train, validation and test (no person in two parts).

    Two draws of scikit-learn's ``GroupShuffleSplit``: the test people from everyone, then the validation
    people from the rest.

    Parameters
    ----------
    person : (n,) int array
        The person (group) of each sample.
    sizes : (int, int, int), optional
        Number of people in each part; default 80 %, 10 %, 10 % (the thesis's 80 / 10 / 10 of 100 people).
    seed : int
        Seed of both draws.

    Returns
    -------
    Split
        Sorted sample indices of each part.
    """
    person = np.asarray(person)
    people = np.unique(person)
    if sizes is None:
        n_val = max(1, round(0.1 * len(people)))
        sizes = (len(people) - 2 * n_val, n_val, n_val)
    if sum(sizes) != len(people) or min(sizes) < 1:
        raise ValueError(f"sizes {sizes} must be positive and add up to the {len(people)} people.")
    _, n_val, n_test = sizes
    rows = np.zeros((len(person), 1))
    rest, test = next(GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=seed).split(rows, groups=person))
    train, val = next(GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
                      .split(rows[rest], groups=person[rest]))
    return Split(train=np.sort(rest[train]), val=np.sort(rest[val]), test=np.sort(test))
