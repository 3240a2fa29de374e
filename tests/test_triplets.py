"""Triplets: generation by the thesis's rules, the satisfied-triplet metric, the triplet loss."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.triplets import RULES, make_triplets, satisfied_triplets, triplet_loss


def _labels(n_people=5):
    expression = np.tile(np.repeat(np.arange(7), [1, 4, 4, 4, 4, 4, 4]), n_people)
    intensity = np.tile(np.concatenate([[0], np.tile([1, 2, 3, 4], 6)]), n_people)
    return expression, intensity


def test_triplets_follow_the_rules_and_cover_every_face():
    expression, intensity = _labels()
    triplets, rules = make_triplets(expression, intensity, seed=0)
    assert triplets.shape == (500, 3) and rules.shape == (500,)
    assert set(np.unique(triplets)) == set(range(125))
    assert set(triplets[:, 0]) == set(range(125))
    assert set(rules) == {0, 1, 2} and RULES == ("class", "intensity", "neutral")
    ref, pos, neg = expression[triplets].T
    assert np.all(triplets[:, 0] != triplets[:, 1])
    assert np.all(triplets[:, 0] != triplets[:, 2])
    c, i, n = rules == 0, rules == 1, rules == 2
    assert np.all(pos[c] == ref[c]) and np.all(neg[c] != ref[c]) and np.all(neg[c] > 0)
    assert np.all(pos[i] == ref[i]) and np.all(neg[i] == ref[i])
    gap_pos = np.abs(intensity[triplets[i, 1]] - intensity[triplets[i, 0]])
    gap_neg = np.abs(intensity[triplets[i, 2]] - intensity[triplets[i, 0]])
    assert np.all(gap_pos < gap_neg)
    assert np.all(pos[n] == 0) and np.all(ref[n] > 0) and np.all((neg[n] > 0) & (neg[n] != ref[n]))


def test_triplets_are_seeded_and_validated():
    expression, intensity = _labels(2)
    np.testing.assert_array_equal(make_triplets(expression, intensity, 100, seed=3)[0],
                                  make_triplets(expression, intensity, 100, seed=3)[0])
    with pytest.raises(ValueError, match="at least one triplet per face"):
        make_triplets(expression, intensity, n_triplets=10)
    with pytest.raises(ValueError, match="two neutral faces"):
        make_triplets(expression[1:25], intensity[1:25])


def test_satisfied_triplets():
    z = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    assert satisfied_triplets(z, np.array([[0, 1, 2]])) == 1.0
    assert satisfied_triplets(z, np.array([[0, 2, 1]])) == 0.0
    assert satisfied_triplets(z, np.array([[0, 1, 2], [0, 2, 1], [0, 3, 2], [0, 2, 3]])) == 0.5
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        satisfied_triplets(z, np.array([[0, 1]]))


def test_triplet_loss_is_zero_for_wide_margins_and_large_for_violations():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 4))
    near, far = ref + 0.01, ref + 100.0
    assert float(triplet_loss(ref, near, far)) < 1e-6
    violated = float(triplet_loss(ref, far, near, topological_variance=0.04))
    assert violated == pytest.approx(200.0 / 0.04, rel=1e-3)  # softplus(x) ~ x for large x


def test_triplet_loss_matches_the_formula_on_a_hand_example():
    ref, pos, neg = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[3.0, 4.0], [1.0, 1.0]]), np.array([[1.0, 0.0]] * 2)
    # d_pos = 5 and 0, d_neg = 1 and 1: softplus(4) and softplus(-1)
    expected = (np.log1p(np.exp(4.0)) + np.log1p(np.exp(-1.0))) / 2 / 0.5
    assert float(triplet_loss(ref, pos, neg, topological_variance=0.5)) == pytest.approx(expected, rel=1e-5)
    weighted = (2 * np.log1p(np.exp(4.0)) + 0 * np.log1p(np.exp(-1.0))) / 2
    assert float(triplet_loss(ref, pos, neg, weights=[2.0, 0.0])) == pytest.approx(weighted, rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        triplet_loss(ref, pos, neg, topological_variance=0.0)


def test_triplet_loss_on_tensors_has_finite_gradients():
    from course_utils.notebook import import_tensorflow

    tf = import_tensorflow()
    z = tf.Variable(np.zeros((3, 2), np.float32))
    with tf.GradientTape() as tape:
        value = triplet_loss(z, z, z + 1.0)
    gradient = tape.gradient(value, z)
    assert value.shape == () and np.all(np.isfinite(gradient.numpy()))
