"""Every plot helper draws its data, with the title, axis labels and legend entries that explain it."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import plotting
from course_utils.data import make_pca_dataset, make_pedestrian_trajectories
from course_utils.instructor.reference.pca import fit_pca, lost_energy, reconstruct, smallest_rank_below
from tests.plots import assert_axes

pytestmark = pytest.mark.usefixtures("close_figures")


@pytest.fixture
def points():
    X = make_pca_dataset()
    return X, fit_pca(X)


def test_principal_directions(points):
    X, (mean, components, _, energies) = points
    fig = plotting.plot_principal_directions(X, mean, components, energies)
    ax = fig.axes[0]
    assert_axes(ax, title="Data, mean and principal directions", xlabel="$x_1$", ylabel="$x_2$",
                legend=["data", "mean", "PC1 (99.29 % of energy)", "PC2 (0.71 % of energy)"], collections=2)
    assert len([c for c in ax.get_children() if type(c).__name__ == "Annotation"]) == 2


def test_rank_approximation_draws_on_given_axes(points):
    X, _ = points
    fig, ax = plt.subplots()
    assert plotting.plot_rank_approximation(X, reconstruct(X, 1), 1, ax=ax) is fig
    assert_axes(ax, title="Data projected on PC1", xlabel="$x_1$", ylabel="$x_2$",
                legend=["error (data to its image)", "data", "rank-1 reconstruction"], collections=2)
    assert len(ax.lines) == len(X) + 1  # one error segment per point, and the legend's line
    projected = ax.collections[-1].get_offsets()
    assert np.linalg.matrix_rank(projected - projected.mean(axis=0), tol=1e-8) == 1


def test_energy_bars(points):
    fig = plotting.plot_energy(points[1][3])
    assert_axes(fig.axes[0], title="Energy of each principal component", xlabel="principal component",
                ylabel="energy (%)", legend=False, patches=2)


def test_energy_loss_curve_marks_the_threshold():
    X = np.random.default_rng(0).normal(size=(50, 20)) * np.linspace(3, 0.1, 20)
    s = fit_pca(X)[2]
    lost = [lost_energy(s, L) for L in range(1, len(s) + 1)]
    fig = plotting.plot_energy_loss(lost, threshold=0.01, marks=[2, 5], best=smallest_rank_below(s, 0.01))
    ax = fig.axes[0]
    assert_axes(ax, title="Energy lost by a rank-L reconstruction", xlabel="number of components kept, L",
                ylabel="fraction of energy lost", legend=["energy lost", "1 % threshold", "L = 15: first below 1 %"])
    assert ax.get_yscale() == "log"


def test_show_images_titles_every_panel():
    images = [np.zeros((4, 3)), np.ones((4, 3)), np.eye(4, 3)]
    fig = plotting.show_images(images, ["a", "b", "c"], suptitle="demo", ncols=2)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert fig._suptitle.get_text() == "demo" and len(fig.axes) == 4


def test_trajectories():
    positions = make_pedestrian_trajectories(n_steps=50, n_pedestrians=3).reshape(50, 3, 2)
    fig = plotting.plot_trajectories(positions, (0, 2))
    ax = fig.axes[0]
    assert_axes(ax, title="Pedestrian trajectories", xlabel="x (m)", ylabel="y (m)",
                legend=["pedestrian 1", "pedestrian 3", "start"], lines=5)  # 2 paths, 2 starts, the legend's marker
