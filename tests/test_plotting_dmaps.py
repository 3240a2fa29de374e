"""The diffusion-map plot helpers draw their data, with the titles, labels, legends or colour bars that explain it."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import plotting
from tests.plots import assert_axes, legend_texts

pytestmark = pytest.mark.usefixtures("close_figures")


@pytest.fixture
def phi():
    t = np.linspace(0, 2 * np.pi, 200)
    columns = [np.ones_like(t)] + [f(m * t) for m in (1, 2, 3) for f in (np.cos, np.sin)]
    return t, np.column_stack(columns)


def test_eigenfunctions_against_t(phi):
    t, eigenfunctions = phi
    eigenvalues = np.linspace(1, 0.5, 7)
    fig = plotting.plot_eigenfunctions(t, eigenfunctions, eigenvalues=eigenvalues, indices=range(5))
    ax = fig.axes[0]
    assert_axes(ax, title="Eigenfunctions of the largest eigenvalues", xlabel="$t_k$", ylabel=r"$\phi_l$", lines=5,
                legend=[rf"$\phi_{{{i}}}$, $\lambda_{{{i}}}$ = {v:.4f}" for i, v in enumerate(eigenvalues[:5])])
    assert legend_texts(ax)[1] == r"$\phi_{1}$, $\lambda_{1}$ = 0.9167"


def test_point_cloud_3d_has_labels_and_colour_bar():
    X = np.random.default_rng(0).normal(size=(50, 3))
    fig = plotting.plot_point_cloud_3d(X, color=X[:, 0], color_label="height", title="cloud", line=True)
    ax = fig.axes[0]
    assert ax.name == "3d" and ax.get_title() == "cloud" and ax.get_zlabel() == "$z$"
    assert_axes(ax, legend={"samples", "curve in time order"})
    assert fig.axes[1].get_ylabel() == "height"  # the colour bar


def test_point_cloud_3d_refuses_2d_axes():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3d"):
        plotting.plot_point_cloud_3d(np.zeros((3, 3)), ax=ax)


def test_embedding_2d_draws_on_given_axes():
    E = np.random.default_rng(0).normal(size=(40, 2))
    fig, ax = plt.subplots()
    assert plotting.plot_embedding_2d(E, color=E[:, 0], color_label="t", title="emb", ax=ax) is fig
    assert_axes(ax, title="emb", xlabel="first coordinate", ylabel="second coordinate", legend=["samples"],
                collections=1)
    assert len(ax.collections[0].get_offsets()) == 40 and fig.axes[1].get_ylabel() == "t"


def test_eigenfunctions_against_phi1_one_panel_each(phi):
    _, eigenfunctions = phi
    fig = plotting.plot_eigenfunctions_against(eigenfunctions, indices=range(1, 7), color=np.arange(200),
                                               color_label="t", residuals={2: 0.123}, ncols=4, suptitle="grid")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 6
    for index, ax in zip(range(1, 7), panels, strict=True):
        assert_axes(ax, xlabel=r"$\phi_{1}$", ylabel=rf"$\phi_{{{index}}}$", legend=False, collections=1)
    assert panels[1].get_title() == r"$\phi_{2}$ (residual 0.12)"
    assert fig._suptitle.get_text() == "grid"


def test_eigenfunctions_against_needs_enough_axes(phi):
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="axes"):
        plotting.plot_eigenfunctions_against(phi[1], indices=range(1, 4), axes=axes)


def test_residual_bars_mark_threshold_and_choice():
    series = {"given phi_1": np.array([0.1, 0.2, 0.9]), "given earlier": np.array([0.1, 0.1, 0.6])}
    fig = plotting.plot_residuals(series, indices=[2, 3, 4], threshold=0.5, chosen=4)
    ax = fig.axes[0]
    assert_axes(ax, title="Local-linear-regression residuals", xlabel="eigenfunction index $l$",
                ylabel="normalised residual", patches=6,
                legend=["threshold 0.5", r"first above: $\phi_{4}$", "given phi_1", "given earlier"])


def test_false_neighbours_in_percent():
    fig = plotting.plot_false_neighbors([1, 2, 3], {"diffusion maps": [0.5, 0.0, 0.0], "PCA": [0.4, 0.1, 0.0]})
    ax = fig.axes[0]
    assert_axes(ax, title="False nearest neighbours", xlabel="number of coordinates",
                ylabel="false nearest neighbours (%)", legend=["diffusion maps", "PCA"], lines=2)
    assert np.allclose(ax.get_lines()[0].get_ydata(), [50, 0, 0])
