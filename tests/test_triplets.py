"""Triplets: the reference answers of notebook 07 (rules, metric, loss) and the public input checks."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import probes
from course_utils.instructor.reference.landmark_vae import make_triplets, satisfied_triplets, triplet_loss
from course_utils.triplets import RULES, check_triplet_codes, check_triplets


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
    # the grader's probe agrees, and catches a reversed intensity rule
    assert probes.triplets_behaviour(make_triplets, expression, intensity, 300, 1).tolist() == [1.0] * 7

    def reversed_intensity(e, i, n, seed=0):
        t, r = make_triplets(e, i, n, seed=seed)
        t[r == 1] = t[r == 1][:, [0, 2, 1]]
        return t, r

    assert probes.triplets_behaviour(reversed_intensity, expression, intensity, 300, 1)[4] == 0.0


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


def test_bad_triplets_and_codes_get_clear_errors():
    z = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"index out of range: row 1 is \[0, 1, 7\].*4 rows"):
        satisfied_triplets(z, np.array([[0, 1, 2], [0, 1, 7]]))
    with pytest.raises(ValueError, match="out of range"):
        satisfied_triplets(z, np.array([[0, -1, 2]]))
    with pytest.raises(ValueError, match=r"row 0 is \[0, 1, 9\]"):  # the first bad row of several
        satisfied_triplets(z, np.array([[0, 1, 9], [0, 1, 7]]))
    with pytest.raises(ValueError, match="integer row indices"):
        check_triplets(np.array([[0.5, 1, 2]]), 4)
    assert check_triplets(np.array([[0.0, 1.0, 2.0]]), 4).dtype == np.int64
    with pytest.raises(ValueError, match=r"triplets_val must have shape \(T, 3\)"):
        check_triplets(np.zeros((3, 2), int), 4, "triplets_val")
    with pytest.raises(ValueError, match="same shape"):
        triplet_loss(np.zeros((5, 3)), np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"same shape.*got \(5, 3\), \(5, 3\) and \(5, 2\)\."):
        triplet_loss(np.zeros((5, 3)), np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="z_pos must have shape"):
        check_triplet_codes(np.zeros((5, 3)), np.zeros(5), np.zeros((5, 3)))
    check_triplet_codes(np.zeros((5, 3)), np.zeros((5, 3)), np.zeros((5, 3)))
