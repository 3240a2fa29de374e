"""The diffusion-map plot helpers draw something, with titles, axis labels, legends or colour bars."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import plotting


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def phi():
    t = np.linspace(0, 2 * np.pi, 200)
    columns = [np.ones_like(t)] + [f(m * t) for m in (1, 2, 3) for f in (np.cos, np.sin)]
    return t, np.column_stack(columns)


def _labelled(ax, legend=True):
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_legend() is not None or not legend


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_eigenfunctions_against_t(phi):
    t, eigenfunctions = phi
    fig = plotting.plot_eigenfunctions(t, eigenfunctions, eigenvalues=np.linspace(1, 0.5, 7), indices=range(5))
    ax = fig.axes[0]
    _labelled(ax)
    assert len(ax.get_lines()) == 5
    assert _legend(ax)[1] == r"$\phi_{1}$, $\lambda_{1}$ = 0.9167"


def test_point_cloud_3d_has_labels_and_colour_bar():
    X = np.random.default_rng(0).normal(size=(50, 3))
    fig = plotting.plot_point_cloud_3d(X, color=X[:, 0], color_label="height", title="cloud", line=True)
    ax = fig.axes[0]
    assert ax.name == "3d" and ax.get_title() == "cloud" and ax.get_zlabel() == "$z$"
    assert {"samples", "curve in time order"} <= set(_legend(ax))
    assert fig.axes[1].get_ylabel() == "height"  # the colour bar


def test_point_cloud_3d_refuses_2d_axes():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3d"):
        plotting.plot_point_cloud_3d(np.zeros((3, 3)), ax=ax)


def test_embedding_2d_draws_on_given_axes():
    E = np.random.default_rng(0).normal(size=(40, 2))
    fig, ax = plt.subplots()
    assert plotting.plot_embedding_2d(E, color=E[:, 0], color_label="t", title="emb", ax=ax) is fig
    _labelled(ax)
    assert len(ax.collections[0].get_offsets()) == 40 and fig.axes[1].get_ylabel() == "t"


def test_eigenfunctions_against_phi1_one_panel_each(phi):
    _, eigenfunctions = phi
    fig = plotting.plot_eigenfunctions_against(eigenfunctions, indices=range(1, 7), color=np.arange(200),
                                               color_label="t", residuals={2: 0.123}, ncols=4, suptitle="grid")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 6
    for ax in panels:
        _labelled(ax, legend=False)
        assert ax.get_xlabel() == r"$\phi_{1}$"
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
    _labelled(ax)
    assert len(ax.patches) == 6
    assert {"given phi_1", "given earlier", "threshold 0.5", r"first above: $\phi_{4}$"} == set(_legend(ax))


def test_false_neighbours_in_percent():
    fig = plotting.plot_false_neighbors([1, 2, 3], {"diffusion maps": [0.5, 0.0, 0.0], "PCA": [0.4, 0.1, 0.0]})
    ax = fig.axes[0]
    _labelled(ax)
    assert np.allclose(ax.get_lines()[0].get_ydata(), [50, 0, 0])
