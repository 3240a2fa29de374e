"""Triplets "the reference is closer to the positive than to the negative": generation, scoring, loss.

A triplet ``(ref, pos, neg)`` states ``d(ref, pos) <= d(ref, neg)``. The thesis of notebook 07 (seed 004)
generates "artificial" triplets from expression labels (:func:`make_triplets`), scores a representation by
the share of triplets it satisfies (:func:`satisfied_triplets`) and turns them into a topological prior
whose negative log density is :func:`triplet_loss` (up to a constant).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RULES = ("class", "intensity", "neutral")
"""Triplet rules, in the order of the codes returned by :func:`make_triplets`."""


def make_triplets(expression: np.ndarray, intensity: np.ndarray, n_triplets: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Artificial triplets from expression and intensity labels, by the thesis's three rules.

    - ``class``: a face of the reference's class (the positive) is closer than a face of another,
      non-neutral class (the negative); for a neutral reference the positive is another neutral face;
    - ``intensity``: within the reference's (non-neutral) class, the face whose intensity is closer to the
      reference's is closer: ``|i_ref - i_pos| < |i_ref - i_neg|``;
    - ``neutral``: a neutral face is closer to an expressive reference than a face of another non-neutral
      class.

    A neutral face is never the negative of the ``class`` rule: by the ``neutral`` rule it is closer than
    another class, and it counts as intensity 0 of every class. Faces may come from different people.
    Every face is the reference of at least one triplet: the first ``n`` triplets take the faces in a random
    order as references, the rest take random references; each triplet's rule is drawn uniformly among
    those that apply to its reference.

    Parameters
    ----------
    expression : (n,) int array
        0 = neutral, 1.. = expressions.
    intensity : (n,) int array
        0 for neutral faces, 1.. otherwise.
    n_triplets : int, optional
        Number of triplets, at least ``n``; default ``4 n`` (the thesis: 8000 for 2000 faces).
    seed : int

    Returns
    -------
    triplets : (n_triplets, 3) int64
        Row indices ``(ref, pos, neg)`` into the given arrays.
    rules : (n_triplets,) int64
        Index into :data:`RULES` of the rule behind each triplet.
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
                gap = np.abs(intensity[same] - i)
                while True:
                    pos, neg = other(same, ref), other(same, ref)
                    if gap[same == pos][0] != gap[same == neg][0]:
                        break
                if gap[same == pos][0] > gap[same == neg][0]:
                    pos, neg = neg, pos
        triplets[t] = ref, pos, neg
        rules[t] = rule
    return triplets, rules


def satisfied_triplets(z: np.ndarray, triplets: np.ndarray) -> float:
    """Share of triplets with ``||z_ref - z_pos|| <= ||z_ref - z_neg||`` (Euclidean), in [0, 1].

    Parameters
    ----------
    z : (n, d) array
        The representation of every face (any dimension: raw landmarks, PCA scores, latent means).
    triplets : (T, 3) int array
        Row indices ``(ref, pos, neg)`` into ``z``.
    """
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    triplets = np.asarray(triplets)
    if triplets.ndim != 2 or triplets.shape[1] != 3 or len(triplets) == 0:
        raise ValueError(f"triplets must have shape (T, 3) with T >= 1; got {triplets.shape}.")
    ref, pos, neg = (z[triplets[:, k]] for k in range(3))
    return float(np.mean(np.linalg.norm(ref - pos, axis=1) <= np.linalg.norm(ref - neg, axis=1)))


def triplet_loss(z_ref: Any, z_pos: Any, z_neg: Any, topological_variance: float = 1.0,
                 weights: Any = None) -> Any:
    """Negative log of the thesis's topological prior per triplet (up to a constant), averaged.

    ``mean_t w_t softplus(d(z_ref_t, z_pos_t) - d(z_ref_t, z_neg_t)) / topological_variance`` with the
    Euclidean distance ``d`` (eq. 4.9-4.10 of the thesis: the prior is ``exp(-Phi / sigma)``, ``Phi`` the
    weighted sum of softplus terms, ``sigma`` the topological variance). Written with ``keras.ops``: it
    takes NumPy arrays or tensors of shape (T, d) and returns a scalar. About zero when every triplet is
    satisfied by a wide margin, about ``margin / sigma`` per triplet violated by ``margin``.

    Parameters
    ----------
    z_ref, z_pos, z_neg : (T, d) arrays or tensors
    topological_variance : float
        ``sigma`` > 0; the smaller, the larger the penalty for a violated triplet.
    weights : (T,) array, optional
        A weight per triplet (e.g. its reliability); default 1.
    """
    import keras

    ops = keras.ops
    if topological_variance <= 0:
        raise ValueError(f"topological_variance must be positive; got {topological_variance}.")
    z_ref, z_pos, z_neg = (ops.convert_to_tensor(z, dtype="float32") for z in (z_ref, z_pos, z_neg))
    # A tiny constant under the square root keeps the gradient finite when two codes coincide.
    d_pos = ops.sqrt(ops.sum(ops.square(z_ref - z_pos), axis=-1) + 1e-12)
    d_neg = ops.sqrt(ops.sum(ops.square(z_ref - z_neg), axis=-1) + 1e-12)
    penalty = ops.softplus(d_pos - d_neg) / topological_variance
    if weights is not None:
        penalty = penalty * ops.convert_to_tensor(weights, dtype="float32")
    return ops.mean(penalty)
