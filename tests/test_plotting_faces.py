"""Face plots of notebook 07: titled, labelled, one line per region, grids checked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils.data.face_landmarks import load_face_template
from course_utils.plotting import plot_face, plot_face_grid, plot_latent_usage, plot_validation_curves
from tests.plots import assert_axes


def test_plot_face_draws_each_region():
    t = load_face_template()
    fig = plot_face(t.data, t.region, title="template", label="astronaut")
    ax = fig.axes[0]
    assert len(ax.lines) == len(np.unique(t.region)) and ax.get_title() == "template"
    assert "inter-ocular" in ax.get_xlabel() and ax.get_legend_handles_labels()[1] == ["astronaut"]
    eye = [line for line in ax.lines if len(line.get_xdata()) == 9]  # 8 eye points, closed
    assert len(eye) >= 2
    plt.close(fig)


def test_plot_face_grid_labels_rows_and_columns():
    t = load_face_template()
    faces = np.repeat(t.data[None], 6, axis=0)
    fig = plot_face_grid(faces, t.region, [1.0, -1.0], [-1.0, 0.0, 1.0], "z1", "z0", "traversal", reference=t.data)
    assert len(fig.axes) == 6 and fig._suptitle.get_text() == "traversal"
    assert fig.axes[0].get_ylabel() == "z1 = +1.0" and fig.axes[5].get_xlabel() == "z0 = +1.0"
    with pytest.raises(ValueError, match="2 x 3 grid"):
        plot_face_grid(faces[:5], t.region, [1.0, -1.0], [-1.0, 0.0, 1.0], "a", "b", "t")
    plt.close(fig)


def test_usage_and_validation_plots():
    kl = {"model 1": np.array([1.0, 0.5, 0.001]), "model 2": np.array([2.0, 0.0, 0.3])}
    fig = plot_latent_usage(kl, {k: np.ones(3) for k in kl}, threshold=0.01)
    assert fig.axes[0].get_yscale() == "log"
    assert_axes(fig.axes[0], title="KL divergence per dimension", xlabel="latent dimension, sorted by KL",
                ylabel="mean KL(q(z_k|x) || N(0,1)) (nats)", lines=3,
                legend=["model 1 (2 active)", "model 2 (2 active)", "threshold 0.01 nats"])
    assert_axes(fig.axes[1], title="Decoder weight norm per dimension", xlabel="latent dimension, sorted by KL",
                ylabel="norm of first decoder layer weights", legend=["model 1", "model 2"], lines=2)
    plt.close(fig)
    fig = plot_validation_curves({"model 1": (np.array([5, 10]), np.array([-1.0, -2.0]), 10)})
    assert_axes(fig.axes[0], title="Validation objective during training", xlabel="epoch",
                ylabel="validation objective (nats per face)", legend=["model 1", "restored epoch"], lines=3)
    plt.close(fig)
