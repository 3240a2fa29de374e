"""Notebook 05's models: the reference builders and split (the exercises), the public training, scoring,
paired comparison and branch reuse, the grading probes, and the one plotting helper."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import classifiers as C
from course_utils.instructor.reference import classifiers as R
from course_utils.instructor.reference.rafd import parse_rafd_name
from course_utils.plotting import plot_classifier_report, plot_contact_sheet
from course_utils.probes import rafd as P


def test_subject_split_keeps_every_person_in_one_part():
    labels = np.tile(np.arange(8), 20)
    groups = np.repeat(np.arange(20), 8)
    split = R.subject_split(labels, groups, seed=0)
    parts = [set(groups[split.train]), set(groups[split.val]), set(groups[split.test])]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(split.sizes().values()) == len(labels)
    assert C.groups_shared(split, groups) == 0
    assert np.bincount(labels[split.test], minlength=8).min() > 0  # stratified: every emotion in the test set
    assert np.all(P.split_behaviour(R.subject_split, labels, groups, 5, 0) == 1)
    assert np.all(P.split_behaviour(R.subject_split, labels, groups, 4, 3) == 1)  # non-default folds and seed


def test_split_probe_catches_a_random_split():
    labels = np.tile(np.arange(8), 20)
    groups = np.repeat(np.arange(20), 8)

    def image_split(labels, groups, n_folds=5, seed=0):
        return C.random_split(labels, seed=seed)

    facts = P.split_behaviour(image_split, labels, groups, 5, 0)
    assert facts[0] == 1 and facts[1] == 0  # covers every row, but people are in several parts


def test_random_split_mixes_people():
    labels = np.tile(np.arange(8), 20)
    groups = np.repeat(np.arange(20), 8)
    split = C.random_split(labels, seed=0)
    assert sum(split.sizes().values()) == len(labels)
    assert C.groups_shared(split, groups) > 10


def test_scores_of_perfect_and_chance_predictions():
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = C.score_classifier(y, np.eye(3)[y])
    assert perfect.accuracy == 1 and perfect.macro_auc == 1
    assert np.allclose(perfect.confusion, np.eye(3))
    flat = C.score_classifier(y, np.full((6, 3), 1 / 3))
    assert flat.macro_auc == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        C.score_classifier(y, np.full((6, 3), np.nan))
    with pytest.raises(ValueError, match="probabilities must be"):
        C.score_classifier(y, np.ones((5, 3)))


def test_builders_train_and_fuse():
    rng = np.random.default_rng(0)
    n = 48
    labels = np.arange(n) % 8
    deltas = rng.normal(size=(n, 12)).astype("float32")
    deltas[:, 0] += labels  # learnable
    images = rng.random((n, 16, 16, 3)).astype("float32")
    inputs = {"image": images, "deltas": deltas}
    mean, std = deltas.mean(0), deltas.std(0)
    fusion = R.build_classifier([R.build_cnn_branch((16, 16, 3)), R.build_mlp_branch(12, mean, std)], name="fusion")
    assert [t.name for t in fusion.inputs] == ["image", "deltas"]
    assert fusion.get_layer("fusion").output.shape[-1] == 128
    mlp = R.build_classifier([R.build_mlp_branch(12, mean, std)], name="mlp")
    index = np.arange(n)
    for model in (fusion, mlp):
        history, seconds = C.train_classifier(model, C.take(inputs, index), labels, C.take(inputs, index), labels,
                                              epochs=3, patience=2)
        assert len(history["loss"]) == 3 and seconds > 0
        assert history["stopped_early"] == [0.0] and 1 <= history["best_epoch"][0] <= 3
        scores = C.evaluate_classifier(model, inputs, labels)
        assert scores.confusion.shape == (8, 8) and 0 <= scores.accuracy <= 1
    assert C.model_inputs(mlp, inputs) is deltas
    with pytest.raises(KeyError, match="needs inputs"):
        C.model_inputs(fusion, {"image": images})


def test_staged_fusion_freezes_then_unfreezes():
    rng = np.random.default_rng(1)
    n = 32
    labels = np.arange(n) % 8
    deltas = rng.normal(size=(n, 12)).astype("float32")
    deltas[:, 0] += labels
    images = rng.random((n, 16, 16, 3)).astype("float32")
    inputs = {"image": images, "deltas": deltas}
    cnn = R.build_cnn_branch((16, 16, 3))
    mlp = R.build_mlp_branch(12, deltas.mean(0), deltas.std(0))
    cnn_only = R.build_classifier([cnn], name="cnn")
    fusion = R.build_classifier([C.branch_of(cnn_only, "image"), mlp], freeze_branches=True, name="fusion")
    assert fusion.get_layer("image_conv1") is cnn_only.get_layer("image_conv1")  # shared, not copied
    with pytest.raises(KeyError, match="no branch 'deltas'"):
        C.branch_of(cnn_only, "deltas")
    copied = C.branch_of(cnn_only, "image", copy=True)
    assert copied.get_layer("image_conv1") is not cnn_only.get_layer("image_conv1")
    assert np.allclose(copied.predict(images, verbose=0), C.branch_of(cnn_only, "image").predict(images, verbose=0))
    frozen_weights = [w.copy() for w in cnn.get_weights()]
    assert {w.path.split("/")[0] for w in fusion.trainable_weights} == {"head_dense", "emotion"}
    C.train_classifier(fusion, inputs, labels, inputs, labels, epochs=2, patience=1)
    assert all(np.array_equal(a, b) for a, b in zip(frozen_weights, cnn.get_weights(), strict=True))  # branch untouched
    C.unfreeze(fusion, learning_rate=1e-4)
    assert len(fusion.trainable_weights) > 4
    C.train_classifier(fusion, inputs, labels, inputs, labels, epochs=1, patience=1)
    assert not all(np.array_equal(a, b) for a, b in zip(frozen_weights, cnn.get_weights(), strict=True))  # tuned
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        C.unfreeze(fusion, learning_rate=0)


def test_train_classifier_prints_one_line_per_epoch_and_checks_its_arguments(capsys):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(24, 6)).astype("float32"), np.arange(24) % 3
    model = R.build_classifier([R.build_mlp_branch(6, np.zeros(6), np.ones(6))], n_classes=3)
    history, _ = C.train_classifier(model, x, y, x, y, epochs=4, patience=1, progress="toy")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("toy epoch")]
    assert len(lines) == len(history["loss"]) and "val_loss" in lines[0] and lines[0].startswith("toy epoch 1/4:")
    with pytest.raises(ValueError, match="labels outside 0..2"):
        C.train_classifier(model, x, y + 1, x, y, epochs=1)
    with pytest.raises(ValueError, match="epochs and patience must be at least 1"):
        C.train_classifier(model, x, y, x, y, epochs=0)


def test_compare_paired_matches_mcnemar_and_bootstraps_the_difference():
    from scipy import stats

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    a = np.where(rng.random(300) < 0.8, y, (y + 1) % 4)
    b = np.where(rng.random(300) < 0.6, y, (y + 2) % 4)
    cmp = C.compare_paired(y, a, b, seed=1)
    only_a = int(np.sum((a == y) & (b != y)))
    only_b = int(np.sum((a != y) & (b == y)))
    assert (cmp.only_a, cmp.only_b) == (only_a, only_b)
    assert cmp.p_value == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert cmp.p_value < 1e-3 and cmp.difference == pytest.approx(np.mean(a == y) - np.mean(b == y))
    assert cmp.low < cmp.difference < cmp.high and cmp.low > 0
    narrow = C.compare_paired(y, a, b, confidence=0.5, seed=1)  # a non-default level gives a narrower interval
    assert narrow.high - narrow.low < cmp.high - cmp.low
    same = C.compare_paired(y, a, a)
    assert same.p_value == 1.0 and same.low == same.high == 0.0
    with pytest.raises(ValueError, match="one entry per test example"):
        C.compare_paired(y, a[:-1], b)
    with pytest.raises(ValueError, match="empty"):
        C.compare_paired([], [], [])
    with pytest.raises(ValueError, match="confidence"):
        C.compare_paired(y, a, b, confidence=1.5)


def test_linear_svm_accuracy_separable_and_chance():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    separable = np.eye(3)[labels] * 5 + rng.normal(0, 0.1, (120, 3))
    split = C.Split(train=np.arange(0, 120, 3), val=np.arange(1, 120, 3), test=np.arange(2, 120, 3))
    result = C.linear_svm_accuracy(separable, labels, split)
    assert result.test == 1.0 and result.C in (0.01, 0.1, 1.0, 10.0)
    noise = rng.normal(size=(120, 3))
    assert C.linear_svm_accuracy(noise, labels, split).test < 0.7


def test_layer_table_lists_every_layer():
    model = R.build_classifier([R.build_mlp_branch(5, np.zeros(5), np.ones(5))], n_classes=3)
    table = C.layer_table(model)
    assert list(table.columns) == ["layer", "output shape", "parameters"]
    assert table["parameters"].sum() == model.count_params() and table["layer"].iloc[-1] == "emotion"
    assert table["output shape"].iloc[-1] == "(batch, 3)" and table.attrs["total"] == model.count_params()


def test_probes_accept_the_reference_and_catch_broken_builders():
    import keras

    assert np.all(P.branch_behaviour(R.build_cnn_branch, "cnn", (16, 16, 3), "pix", 0) == 1)
    assert np.all(P.branch_behaviour(R.build_mlp_branch, "mlp", (7,), "feat", 1) == 1)
    assert np.all(P.classifier_behaviour(R.build_classifier, 3, 0) == 1)

    def no_standardise(n, mean, std, name="deltas"):
        return R.build_mlp_branch(n, np.zeros_like(mean), np.ones_like(std), name=name)

    facts = P.branch_behaviour(no_standardise, "mlp", (7,), "feat", 1)
    assert facts[5] == 0 and facts[:5].sum() == 5

    def never_frozen(branches, n_classes=8, learning_rate=1e-3, freeze_branches=False, name="classifier"):
        return R.build_classifier(branches, n_classes, learning_rate, False, name)

    facts = P.classifier_behaviour(never_frozen, 3, 0)
    assert facts[-2] == 0 and facts[:-2].sum() == len(facts) - 2

    def wrong_loss(branches, n_classes=8, learning_rate=1e-3, freeze_branches=False, name="classifier"):
        model = R.build_classifier(branches, n_classes, learning_rate, freeze_branches, name)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        return model

    assert P.classifier_behaviour(wrong_loss, 3, 0)[3] == 0


def test_parse_probe_turns_fields_into_numbers():
    assert P.parsed_fields(parse_rafd_name, "Rafd045_07_Moroccan_male_contemptuous_left.jpg").tolist() == \
        [0, 7, 1, 1, 1, 1, 1]
    assert P.parsed_fields(parse_rafd_name, "IMG_1.jpg")[0] == 1
    assert P.parsed_fields(lambda name: {"model": "07"}, "x")[1] == -1  # a string model number is wrong


def test_classifier_report_has_curves_and_a_labelled_heatmap():
    names = ["a", "b", "c"]
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.4, 0.8], "val_accuracy": [0.3, 0.6]}
    fig = plot_classifier_report(history, np.eye(3), names, title="toy", accuracy=0.9, macro_auc=0.95)
    loss_ax, acc_ax, heat_ax = fig.axes[:3]
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["train", "validation"]
    assert acc_ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in heat_ax.get_xticklabels()] == names
    assert "accuracy 0.900" in heat_ax.get_title() and heat_ax.get_ylabel() == "true emotion"
    plt.close(fig)
    fig = plot_classifier_report(history, np.eye(3), names, title="staged", stage_starts={"fine-tuning": 2})
    assert "fine-tuning starts" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)


def test_contact_sheet_checks_the_grid():
    images = [np.zeros((6, 4, 3), np.uint8)] * 4
    fig = plot_contact_sheet(images, ["r1", "r2"], ["c1", "c2"], title="sheet")
    assert fig.axes[0].get_title() == "c1" and fig.axes[2].get_ylabel() == "r2"
    plt.close(fig)
    with pytest.raises(ValueError, match="Expected 2 x 3"):
        plot_contact_sheet(images, ["r1", "r2"], ["c1", "c2", "c3"])


def test_fit_and_score_and_fusion_of_leave_the_trained_branches_alone():
    rng = np.random.default_rng(3)
    n = 48
    labels = np.arange(n) % 4
    deltas = rng.normal(size=(n, 6)).astype("float32")
    deltas[:, 0] += 3 * labels  # learnable
    images = rng.random((n, 16, 16, 3)).astype("float32")
    inputs = {"image": images, "deltas": deltas}
    split = C.Split(train=np.arange(0, 32), val=np.arange(32, 40), test=np.arange(40, 48))
    mlp = R.build_classifier([R.build_mlp_branch(6, deltas.mean(0), deltas.std(0))], n_classes=4, name="mlp")
    cnn = R.build_classifier([R.build_cnn_branch((16, 16, 3))], n_classes=4, name="cnn")
    runs = {name: C.fit_and_score(model, inputs, labels, split, epochs=3, patience=1, seed=0)
            for name, model in (("deltas", mlp), ("image", cnn))}
    r = runs["deltas"]
    assert r["model"] is mlp and len(r["history"]["loss"]) <= 3 and r["seconds"] > 0
    assert len(r["test"].predictions) == 8 and len(r["val"].predictions) == 8  # scored on the right parts
    assert r["test"].accuracy == C.evaluate_classifier(mlp, inputs["deltas"][40:], labels[40:]).accuracy
    before = [w.copy() for w in mlp.get_weights()]
    fusion = C.fusion_of(R.build_classifier, {"deltas": mlp, "image": cnn}, ["image", "deltas"], n_classes=4)
    assert [t.name for t in fusion.inputs] == ["image", "deltas"] and fusion.name == "fusion"
    assert {w.path.split("/")[0] for w in fusion.trainable_weights} == {"head_dense", "emotion"}
    C.fit_and_score(fusion, inputs, labels, split, epochs=2, patience=1)
    assert all(np.array_equal(a, b) for a, b in zip(before, mlp.get_weights(), strict=True))


def test_train_classifier_refuses_nan_inputs_and_stops_on_a_nan_loss():
    from course_utils.training import NonFiniteLossError

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(24, 6)).astype("float32"), np.arange(24) % 3
    bad = x.copy()
    bad[5, 2] = np.nan  # a ReLU network would silently predict 1/3 everywhere (loss log 3), not NaN
    model = R.build_classifier([R.build_mlp_branch(6, np.zeros(6), np.ones(6))], n_classes=3)
    with pytest.raises(ValueError, match=r"x_train holds NaN or infinite values in 1 of its 24 examples "
                                         r"\(the first is row 5\)"):
        C.train_classifier(model, bad, y, x, y, epochs=2, patience=1)
    with pytest.raises(ValueError, match=r"x_val holds NaN"):
        C.train_classifier(model, x, y, bad, y, epochs=2, patience=1)
    with pytest.raises(NonFiniteLossError, match=r"Training the classifier stopped at epoch \d+: the loss is "
                                                 r"(nan|inf)\. Likely cause: NaN or infinite values in the training"):
        C.train_classifier(model, x * 1e38, y, x, y, epochs=5, patience=1)  # overflows to inf in float32


def _paired_bootstrap(right_a, right_b, confidence, n_resamples, seed):
    """A hand-written paired percentile bootstrap of mean(right_a) - mean(right_b)."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(right_a), (n_resamples, len(right_a)))  # the same examples for both
    differences = right_a[index].mean(axis=1) - right_b[index].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return np.percentile(differences, [tail, 100 - tail])


def test_compare_paired_interval_is_the_paired_bootstrap():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 400)
    a = np.where(rng.random(400) < 0.75, y, (y + 1) % 3)
    b = a.copy()
    flip = rng.choice(400, 30, replace=False)  # B differs from A on 30 examples only: strongly paired
    b[flip] = np.where(a[flip] == y[flip], (y[flip] + 1) % 3, y[flip])
    cmp = C.compare_paired(y, a, b, n_resamples=4000, seed=0)
    right_a, right_b = (a == y).astype(float), (b == y).astype(float)
    low, high = _paired_bootstrap(right_a, right_b, 0.95, 20000, seed=5)
    assert cmp.low == pytest.approx(low, abs=0.006) and cmp.high == pytest.approx(high, abs=0.006)
    unpaired = np.sqrt(right_a.var() / 400 + right_b.var() / 400) * 2 * 1.96  # width if the pairs were ignored
    assert cmp.high - cmp.low < 0.6 * unpaired


def test_compare_paired_defaults_are_scipys_paired_percentile_bootstrap():
    """The interval with the documented defaults (95 %, 2000 resamples, seed 0) is exactly what
    ``scipy.stats.bootstrap(paired=True, method="percentile")`` gives on the per-example right/wrong vectors."""
    from scipy import stats

    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 120)
    a = np.where(rng.random(120) < 0.7, y, (y + 1) % 3)
    b = np.where(rng.random(120) < 0.6, y, (y + 2) % 3)
    right_a, right_b = (a == y).astype(float), (b == y).astype(float)
    want = stats.bootstrap((right_a, right_b), lambda u, v: np.mean(u) - np.mean(v), paired=True, vectorized=False,
                           confidence_level=0.95, n_resamples=2000, method="percentile",
                           random_state=np.random.default_rng(0)).confidence_interval
    got = C.compare_paired(y, a, b)
    assert (got.low, got.high) == (want.low, want.high)


def test_compare_paired_on_one_example_is_that_example():
    """One test example: the difference is +1, 0 or -1 and the interval is that point (no bootstrap of one)."""
    for a, b, difference in [(0, 1, 1.0), (1, 0, -1.0), (0, 0, 0.0)]:
        got = C.compare_paired([0], [a], [b])
        assert got.difference == got.low == got.high == difference
        assert got.p_value == 1.0  # one discordant pair: binomtest(1, 1) is 1 as well


def test_random_split_is_sklearns_stratified_split_with_seed_0():
    """The default split, recomputed with scikit-learn: 20 % test, then 20 % of the whole for validation."""
    from sklearn.model_selection import train_test_split

    labels = np.tile(np.arange(4), 25)
    rest, test = train_test_split(np.arange(100), test_size=0.2, stratify=labels, random_state=0)
    train, val = train_test_split(rest, test_size=0.25, stratify=labels[rest], random_state=0)
    split = C.random_split(labels)
    for got, want in [(split.train, train), (split.val, val), (split.test, test)]:
        np.testing.assert_array_equal(got, np.sort(want))
