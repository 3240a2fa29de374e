"""Model builders, splits and scores of notebook 05, and its one plotting helper."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import classifiers as C
from course_utils.plotting import plot_classifier_report, plot_contact_sheet


def test_subject_split_keeps_every_person_in_one_part():
    labels = np.tile(np.arange(8), 20)
    groups = np.repeat(np.arange(20), 8)
    split = C.subject_split(labels, groups, seed=0)
    parts = [set(groups[split.train]), set(groups[split.val]), set(groups[split.test])]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(split.sizes().values()) == len(labels)
    assert C.groups_shared(split, groups) == 0
    assert np.bincount(labels[split.test], minlength=8).min() > 0  # stratified: every emotion in the test set
    with pytest.raises(ValueError, match="at least 5 groups"):
        C.subject_split(labels[:16], groups[:16])


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
    fusion = C.build_classifier([C.build_cnn_branch((16, 16, 3), filters=(4, 8)),
                                 C.build_mlp_branch(12, mean, std, hidden=(16,))], name="fusion")
    assert [t.name for t in fusion.inputs] == ["image", "deltas"]
    assert fusion.get_layer("fusion").output.shape[-1] == 128
    mlp = C.build_classifier([C.build_mlp_branch(12, mean, std, hidden=(16,))], name="mlp")
    index = np.arange(n)
    for model in (fusion, mlp):
        history, seconds = C.train_classifier(model, C.take(inputs, index), labels, C.take(inputs, index), labels,
                                              epochs=3, patience=2)
        assert len(history["loss"]) == 3 and seconds > 0
        scores = C.evaluate_classifier(model, inputs, labels)
        assert scores.confusion.shape == (8, 8) and 0 <= scores.accuracy <= 1
    assert C.model_inputs(mlp, inputs) is deltas
    with pytest.raises(KeyError, match="needs inputs"):
        C.model_inputs(fusion, {"image": images})


def test_staged_fusion_freezes_then_unfreezes_and_drops_whole_modalities():
    rng = np.random.default_rng(1)
    n = 32
    labels = np.arange(n) % 8
    deltas = rng.normal(size=(n, 12)).astype("float32")
    deltas[:, 0] += labels
    images = rng.random((n, 16, 16, 3)).astype("float32")
    inputs = {"image": images, "deltas": deltas}
    cnn = C.build_cnn_branch((16, 16, 3), filters=(4,))
    mlp = C.build_mlp_branch(12, deltas.mean(0), deltas.std(0), hidden=(16,))
    cnn_only = C.build_classifier([cnn], name="cnn")
    fusion = C.build_classifier([C.branch_of(cnn_only, "image"), mlp], freeze_branches=True,
                                modality_dropout=0.5, name="fusion")
    assert fusion.get_layer("image_conv1") is cnn_only.get_layer("image_conv1")  # shared, not copied
    with pytest.raises(KeyError, match="no branch 'deltas'"):
        C.branch_of(cnn_only, "deltas")
    copied = C.branch_of(cnn_only, "image", copy=True)
    assert copied.get_layer("image_conv1") is not cnn_only.get_layer("image_conv1")
    assert np.allclose(copied.predict(images, verbose=0), C.branch_of(cnn_only, "image").predict(images, verbose=0))
    frozen_weights = [w.copy() for w in cnn.get_weights()]
    assert {w.path.split("/")[0] for w in fusion.trainable_weights} == {"head_dense", "emotion"}
    assert fusion.get_layer("drop_image_branch").noise_shape == (None, 1)
    C.train_classifier(fusion, inputs, labels, inputs, labels, epochs=2, patience=1)
    assert all(np.array_equal(a, b) for a, b in zip(frozen_weights, cnn.get_weights(), strict=True))  # branch untouched
    # inference: modality dropout is off, predictions are deterministic
    first, second = fusion.predict(inputs, verbose=0), fusion.predict(inputs, verbose=0)
    assert np.array_equal(first, second)
    C.unfreeze(fusion, learning_rate=1e-4)
    assert len(fusion.trainable_weights) > 4
    C.train_classifier(fusion, inputs, labels, inputs, labels, epochs=1, patience=1)
    assert not all(np.array_equal(a, b) for a, b in zip(frozen_weights, cnn.get_weights(), strict=True))  # tuned
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        C.unfreeze(fusion, learning_rate=0)


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
