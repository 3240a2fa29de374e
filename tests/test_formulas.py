"""Formulas against independent computations, so that a one-line change of the maths fails a test.

Each test recomputes a quantity another way (TFP's analytic KL, a hand-written log-mean-exp with the same
draws, a degenerate model whose bound is known exactly, the weight and the sampling of the triplet term, the
leak check's sign rule and the graders' tolerances) instead of checking a property that a wrong formula
shares (KL >= 0, IWAE >= ELBO, ...).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils import vae as V
from course_utils.instructor.checks import FunctionCheck, ResultCheck, as_arrays, compare, written_answer_results
from course_utils.instructor.leaks import _same, _substantive, find_leaks, judge, released_modules
from course_utils.instructor.reference.landmark_vae import build_conditional_networks
from course_utils.landmark_vae import build_landmark_vae, kl_per_dimension

keras, tf, tfd = V.keras, V.tf, V.tfd


def _vae(latent=3, shape=(6,), likelihood="gaussian", seed=0):
    keras.utils.set_random_seed(seed)
    return V.build_vae(shape, latent, likelihood=likelihood, encoder_hidden=(8,), decoder_hidden=(8,), seed=seed,
                       jit_compile=False)


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32) * 2.0  # codes far from N(0, I)


def _kl_tfp(z_mean, z_log_var):
    """KL(N(mu, sigma^2) || N(0, 1)) per example and dimension, by TFP (not the closed form under test)."""
    q = tfd.Normal(z_mean, tf.exp(0.5 * z_log_var))
    return tfd.kl_divergence(q, tfd.Normal(0.0, 1.0)).numpy()


def test_kl_per_dimension_is_tfps_kl(points):
    model = _vae()
    z_mean, z_log_var = V.encode(model, points)
    assert np.ptp(z_log_var) > 0.05  # a non-trivial posterior: log sigma^2 != 0, so sign errors show
    np.testing.assert_allclose(kl_per_dimension(model, points), _kl_tfp(z_mean, z_log_var).mean(axis=0),
                               rtol=1e-5, atol=1e-6)


def test_vae_kl_term_is_tfps_kl_summed_over_dimensions(points):
    model = _vae()
    z_mean, z_log_var = V.encode(model, points)
    _, kl = model.terms(points)
    np.testing.assert_allclose(kl.numpy(), _kl_tfp(z_mean, z_log_var).sum(axis=1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_a_training_step_descends_reconstruction_plus_beta_times_kl(points, beta):
    """One SGD step against a twin model (same seed, so the same draw of z): the step follows the gradient of
    mean(reconstruction + beta * KL) taken by hand, and the logged terms are those means."""
    model, twin, rate = _vae(), _vae(), 0.05
    for m in (model, twin):
        m.beta.assign(beta)
    with tf.GradientTape() as tape:
        reconstruction, kl = twin.terms(points, training=True)
        loss = tf.reduce_mean(reconstruction + beta * kl)
    gradients = tape.gradient(loss, twin.trainable_variables)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=rate))
    logs = model.train_on_batch(points, return_dict=True)
    assert logs["reconstruction"] == pytest.approx(float(tf.reduce_mean(reconstruction)), rel=1e-5)
    assert logs["kl"] == pytest.approx(float(tf.reduce_mean(kl)), rel=1e-5)
    assert logs["loss"] == pytest.approx(float(loss), rel=1e-5)
    for after, before, gradient in zip(model.trainable_variables, twin.trainable_variables, gradients, strict=True):
        np.testing.assert_allclose(after.numpy(), before.numpy() - rate * gradient.numpy(), rtol=1e-4, atol=1e-6)


def _log_mean_exp(a, axis=0):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis=axis) + np.log(np.mean(np.exp(a - top), axis=axis))


def test_iwae_is_the_log_mean_exp_of_the_same_weights(points):
    model, k, seed = _vae(), 7, 3
    got = V.bounds(model, points, k=k, seed=seed, batch_size=len(points))
    generator = keras.random.SeedGenerator(seed)  # the same draws as bounds' single batch
    q = V.posterior(*model.encoder(points))
    z = V.sample_posterior(q, generator, k).numpy()  # (k, n, latent)
    params = model.decoder(z.reshape(-1, model.latent_dim))
    log_px = model.likelihood.distribution(params).log_prob(np.concatenate([points] * k)).numpy().reshape(k, -1)
    log_pz = tfd.Normal(0.0, 1.0).log_prob(z).numpy().sum(axis=-1)
    mean, std = (t.numpy() for t in (q.mean(), q.stddev()))
    log_qz = tfd.Normal(mean, std).log_prob(z).numpy().sum(axis=-1)
    log_w = log_px + log_pz - log_qz
    assert got.iwae == pytest.approx(float(_log_mean_exp(log_w).mean()), rel=1e-5)
    assert got.elbo == pytest.approx(float(log_w.mean()), rel=1e-5)


def test_iwae_of_constant_weights_is_that_constant_whatever_k(points):
    """Posterior = prior and a decoder that ignores z: every log-weight is log p(x | b), so ELBO = IWAE exactly
    (without its -log k, the IWAE would be log k too high)."""
    model = _vae()
    for network in (model.encoder, model.decoder):
        network.set_weights([np.zeros_like(w) for w in network.get_weights()])
    scale = model.likelihood.scale  # the Gaussian likelihood's fixed standard deviation; its mean is 0 here
    expected = float(tfd.Normal(0.0, scale).log_prob(points).numpy().sum(axis=1).mean())
    for k in (1, 5, 40):
        got = V.bounds(model, points, k=k, seed=0)
        assert got.iwae == pytest.approx(expected, rel=1e-5) and got.elbo == pytest.approx(expected, rel=1e-5)


def _model3(weight, samples=10, loss=None):
    keras.utils.set_random_seed(0)
    return build_landmark_vae(6, model=3, latent_dim=2, encoder_hidden=(8,), decoder_hidden=(8,), dropout=0.0,
                              networks=build_conditional_networks, triplet_weight=weight,
                              n_triplet_samples=samples, triplet_loss=loss or _mean_gap)


def _mean_gap(z_ref, z_pos, z_neg, variance):
    """A simple stand-in triplet loss: mean of |z_ref - z_pos|^2 - |z_ref - z_neg|^2, divided by the variance."""
    gap = tf.reduce_sum((z_ref - z_pos) ** 2, axis=-1) - tf.reduce_sum((z_ref - z_neg) ** 2, axis=-1)
    return tf.reduce_mean(gap) / variance


def _aux(points):
    x, c = tf.constant(points[:10]), tf.constant(points[10:20])
    return (x, c, tf.constant(points[20:30]), c, tf.constant(points[30:40]), c)


def test_triplet_term_is_weighted_and_zero_at_weight_zero(points):
    faces, neutral = points[:40], points[::-1].copy()
    triplets = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 30], [8, 20, 9]])
    plain = _model3(1.0)
    z = V.encode(plain, faces, condition=neutral)[0]
    by_hand = float(_mean_gap(z[triplets[:, 0]], z[triplets[:, 1]], z[triplets[:, 2]], plain.topological_variance))
    assert plain.triplet_term(faces, triplets, condition=neutral) == pytest.approx(by_hand, rel=1e-5)
    assert _model3(2.5).triplet_term(faces, triplets, condition=neutral) == pytest.approx(2.5 * by_hand, rel=1e-5)
    assert _model3(0.0).triplet_term(faces, triplets, condition=neutral) == 0.0
    assert float(_model3(0.0).extra_loss(_aux(points))) == 0.0
    one, three = float(_model3(1.0).extra_loss(_aux(points))), float(_model3(3.0).extra_loss(_aux(points)))
    assert one != 0.0 and three == pytest.approx(3.0 * one, rel=1e-5)  # same seed, same draws


def test_triplet_term_in_training_is_the_loss_of_the_reference_positive_and_negative_codes(points):
    """extra_loss of a triplet batch (x_ref, c_ref, x_pos, c_pos, x_neg, c_neg) against a twin model (same seeds):
    the codes of the three faces, each with its own condition, in that order, through the triplet loss."""
    model, twin = _model3(2.0), _model3(2.0)
    rng = np.random.default_rng(5)
    aux = tuple(tf.constant(rng.normal(size=(10, 6)).astype(np.float32)) for _ in range(6))  # six different arrays
    codes = [twin._sample_codes(aux[2 * k], aux[2 * k + 1], training=False) for k in range(3)]
    by_hand = float(twin.topology_scale) * 2.0 * float(_mean_gap(*codes, twin.topological_variance))
    assert float(model.extra_loss(aux)) == pytest.approx(by_hand, rel=1e-5)


def test_triplet_codes_are_sampled_from_the_posterior(points):
    model = _model3(1.0, samples=4000)
    x, c = tf.constant(points[:3]), tf.constant(points[3:6])
    z_mean, z_log_var = (t.numpy() for t in model.encoder([x, c]))
    codes = model._sample_codes(x, c, training=False).numpy().reshape(4000, 3, 2)
    np.testing.assert_allclose(codes.mean(axis=0), z_mean, atol=0.06 * np.exp(0.5 * z_log_var).max())
    np.testing.assert_allclose(codes.std(axis=0), np.exp(0.5 * z_log_var), rtol=0.06)


def test_leak_match_allows_column_signs_only_for_matrices():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 3))
    flipped = vectors * np.array([1.0, -1.0, 1.0])
    assert _same(vectors, flipped, 1e-6, 0.0)  # eigenvectors are defined up to sign, column by column
    assert _same(vectors, vectors + 1e-9, 1e-6, 1e-9)
    assert not _same(vectors, vectors + 1e-3, 1e-6, 1e-9)
    values = rng.normal(size=20)
    assert not _same(values, -values, 1e-6, 0.0)  # a vector of numbers is not up to sign
    assert not _same(vectors, -vectors[::-1], 1e-6, 0.0)
    assert _substantive(values, [vectors]) and not _substantive(values, [values]) and not _substantive(np.ones(5), [])


@pytest.mark.parametrize("relative", [3e-6, 1e-4])
def test_graders_default_tolerance_is_one_in_a_million(relative):
    want = [np.array([1.0, 2.0, 3.0])]
    assert compare(want, [want[0] * (1 + 5e-7)], FunctionCheck.rtol, FunctionCheck.atol) == ""
    assert "max abs difference" in compare(want, [want[0] * (1 + relative)], FunctionCheck.rtol, FunctionCheck.atol)
    check = FunctionCheck("f", "f", lambda rng: [(1,)], lambda x: 2.0 * x)
    assert (check.rtol, check.atol) == (1e-6, 1e-9)
    assert not check.score([2.0], [{"value": as_arrays(2.0 * (1 + relative))}]).passed
    assert check.score([2.0], [{"value": as_arrays(2.0 * (1 + 5e-7))}]).passed
    result = ResultCheck("r", "a")
    assert not result.score({"a": 0.5}, {"a": 0.5 * (1 + relative)}).passed
    assert result.score({"a": 0.5}, {"a": 0.5 * (1 + 5e-7)}).passed


# The grader's scoring and the leak check, case by case (survivors of `make mutation`, see tools/mutation.md).


def test_partial_credit_is_the_weighted_share_of_the_right_cases():
    """By default edge cases share 20 % of the points and substantive ones 80 % (computed here by hand); a partial
    score keeps four decimals."""
    check = FunctionCheck("f", "f", lambda rng: [], lambda x: 2.0 * x, points=2.0, edge=lambda x: x == 0)
    cases = [(0,), (0,), (1,), (2,), (3,)]
    np.testing.assert_allclose(check.weights(cases), [0.2, 0.2, 1.6 / 3, 1.6 / 3, 1.6 / 3], rtol=1e-12)
    np.testing.assert_allclose(check.weights([(0,), (5,)]), [0.4, 1.6], rtol=1e-12)  # one case of each kind
    np.testing.assert_allclose(check.weights([(1,), (2,)]), [1.0, 1.0], rtol=1e-12)  # one kind: equal shares
    answers = [{"value": as_arrays(2.0 * x)} for (x,) in cases]
    assert check.score(check.expected(cases), answers).points == 2.0
    one_wrong = [*answers[:4], {"value": as_arrays(-1.0)}]
    result = check.score(check.expected(cases), one_wrong)
    assert result.points == 1.4667 and not result.passed  # 2 - 1.6 / 3 = 1.46667, to four decimals


def test_a_figure_without_a_target_earns_nothing():
    """No value to compare with (``same_as`` a figure that was not recorded, or no reference value): 0 points."""
    for check, reference in [(ResultCheck("r", "a", points=2.0, same_as="b"), {}), (ResultCheck("r", "a"), {})]:
        result = check.score(reference, {"a": 1.0})
        assert result.points == 0.0 and result.max_points == check.points and "cannot compare" in result.reason


def test_a_long_written_answer_is_quoted_to_its_first_300_characters(tmp_path):
    text = " ".join(f"word{i}" for i in range(80))  # 469 characters
    cell = {"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": "q1"}}, "source": text}
    submission = tmp_path / "s.ipynb"
    submission.write_text(json.dumps({"cells": [cell]}))
    (result,) = written_answer_results([("q1", 2.0)], submission)
    assert result.reason == f"pending manual grading; answer: {text[:300]} ..."
    (whole,) = written_answer_results([("q1", 2.0)], submission, shown=len(text))
    assert whole.reason == f"pending manual grading; answer: {text}"


def test_leak_judge_names_the_whole_answer_a_protected_part_or_nothing():
    """judge() on hand-made answers: the whole answer, one part of it, a part left out of ``leak_parts``, an
    input handed back, a constant answer and a near miss."""
    x = np.random.default_rng(1).normal(size=6)
    check = FunctionCheck("k", "f", lambda r: [(x,)], lambda v: (v**2, v.sum()))
    answer = (x**2, x.sum())
    assert judge(check, (x,), answer, [x**2, np.array(x.sum())]) == "the whole answer"
    assert judge(check, (x,), answer, [x**2]) == "value 1 of the answer"
    assert judge(check, (x,), answer, [np.array(x.sum())]) == "value 2 of the answer"
    assert judge(check, (x,), answer, [x**2 * (1 + 1e-3)]) == ""  # outside the check's tolerance
    assert judge(check, (x,), answer, [x]) == ""  # not the answer
    parts = FunctionCheck("k", "f", lambda r: [(x,)], lambda v: (v**2, v.sum()), leak_parts=(1,))
    assert judge(parts, (x,), answer, [x**2]) == ""  # value 1 is not protected on its own
    assert judge(parts, (x,), answer, [np.array(x.sum())]) == "value 2 of the answer"
    echo = FunctionCheck("k", "f", lambda r: [(x,)], lambda v: (v, v.sum()))
    assert judge(echo, (x,), (x, x.sum()), [x]) == ""  # handing back an input reproduces no answer
    constant = FunctionCheck("k", "f", lambda r: [(x,)], lambda v: np.ones(3))
    assert judge(constant, (x,), np.ones(3), [np.ones(3)]) == ""  # a constant answer is nothing to protect


def test_leak_substantive_parts_are_non_constant_and_not_inputs():
    x = np.arange(5.0)
    assert _substantive(np.array(2.5), []) and _substantive(x, [])
    assert not any(_substantive(np.array(v), []) for v in (0.0, 1.0, -1.0))
    assert not _substantive(np.full(4, 3.0), []) and not _substantive(np.array([1.0, np.nan]), [])
    assert not _substantive(x, [x]) and _substantive(x, [x + 1e-6])


def test_leak_check_probes_every_released_module_but_the_main_ones(tmp_path):
    for name in ["__init__", "__main__", "a", "sub/__init__", "sub/__main__", "sub/b", "z"]:
        path = tmp_path / "course_utils" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    assert released_modules(tmp_path) == ["course_utils", "course_utils.a", "course_utils.sub", "course_utils.sub.b",
                                          "course_utils.z"]


def test_leak_check_reports_the_last_line_of_a_module_that_fails_to_import(tmp_path):
    grading = tmp_path / "grading"
    grading.mkdir()
    (grading / "09_tiny.py").write_text("from course_utils.instructor.checks import FunctionCheck\n"
                                        "EXERCISE = '09_tiny'\nCHECKS = [FunctionCheck('double', 'double', "
                                        "lambda rng: [(2.0,)], lambda x: 2.0 * x)]\n")
    package = tmp_path / "release" / "course_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text("import sys\nprint('first line', file=sys.stderr)\nraise ValueError('boom')\n")
    report = find_leaks(tmp_path / "release", grading, call_timeout=5, module_timeout=60)
    assert report.failed_modules == ["course_utils.bad: ValueError: boom"] and not report.ok


def test_leak_check_tries_a_function_that_kills_the_probe_once_more_then_skips_it(tmp_path):
    """A released function that ends the probe's process is called a second time on its own (it may have been a
    fluke), then skipped and reported; the module's other functions are still checked."""
    grading = tmp_path / "grading"
    grading.mkdir()
    (grading / "09_tiny.py").write_text("from course_utils.instructor.checks import FunctionCheck\n"
                                        "EXERCISE = '09_tiny'\nCHECKS = [FunctionCheck('double', 'double', "
                                        "lambda rng: [(2.5,)], lambda x: 2.0 * x)]\n")
    package = tmp_path / "release" / "course_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    calls = tmp_path / "calls.txt"
    (package / "helpers.py").write_text(f"import os\n\ndef crash(x):\n    with open({str(calls)!r}, 'a') as f:\n"
                                        "        f.write('call\\n')\n    os._exit(3)\n\n"
                                        "def leaky(x):\n    return 2.0 * x\n")
    report = find_leaks(tmp_path / "release", grading, call_timeout=5, module_timeout=60)
    assert calls.read_text().splitlines() == ["call", "call"]
    assert len(report.skipped) == 1 and report.skipped[0].startswith("course_utils.helpers.crash: still running")
    assert [str(leak) for leak in report.leaks] == [
        "course_utils.helpers.leaky reproduces the whole answer of 09_tiny:double (case 1)"]
