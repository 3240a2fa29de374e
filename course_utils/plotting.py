"""Plots used by the notebooks. Each takes an optional matplotlib ``ax`` and returns the figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def _axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_principal_directions(X: np.ndarray, mean: np.ndarray, components: np.ndarray, energies: np.ndarray,
                              ax: Axes | None = None) -> Figure:
    """Scatter 2-D data with its mean and (up to) two principal directions.

    ``mean`` (2,), ``components`` (k, 2) as rows and ``energies`` (k,) come from a PCA of ``X``. Both
    directions are drawn from the mean with the same length (two standard deviations of the data along the
    first one), so the second stays visible; the legend gives each one's share of the energy.
    """
    X, mean, components = np.asarray(X, float), np.asarray(mean, float), np.asarray(components, float)
    fig, ax = _axes(ax)
    ax.scatter(X[:, 0], X[:, 1], s=12, alpha=0.6, label="data")
    ax.scatter(*mean[:2], marker="x", s=80, color="black", label="mean", zorder=3)
    length = 2 * float(np.std((X - mean) @ components[0]))
    directions = zip(components[:2], np.asarray(energies)[:2], ("C3", "C2"), strict=False)
    for i, (direction, share, colour) in enumerate(directions):
        tip = mean + length * direction
        ax.annotate("", xy=tip, xytext=mean, arrowprops={"arrowstyle": "->", "color": colour, "lw": 2})
        ax.plot([], [], color=colour, lw=2, label=f"PC{i + 1} ({100 * share:.2f} % of energy)")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="Data, mean and principal directions")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best")
    return fig


def plot_rank_approximation(X: np.ndarray, approx: np.ndarray, n_components: int = 1,
                            ax: Axes | None = None) -> Figure:
    """2-D data and its rank-``n_components`` reconstruction ``approx``, each point joined to its image.

    The joining segments (the reconstruction errors) are drawn in black, so that they stay visible even
    where they are short.
    """
    X, approx = np.asarray(X, float), np.asarray(approx, float)
    fig, ax = _axes(ax)
    ax.plot(np.stack([X[:, 0], approx[:, 0]]), np.stack([X[:, 1], approx[:, 1]]), color="black", lw=1.0,
            alpha=0.8)
    ax.plot([], [], color="black", lw=1.0, label="error (data to its image)")
    ax.scatter(X[:, 0], X[:, 1], s=12, alpha=0.5, label="data")
    ax.scatter(approx[:, 0], approx[:, 1], s=12, color="C3", label=f"rank-{n_components} reconstruction")
    kept = "PC1" if n_components == 1 else f"the first {n_components} components"
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"Data projected on {kept}")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best")
    return fig


def plot_energy(energies: np.ndarray, ax: Axes | None = None, max_components: int = 10) -> Figure:
    """Bar chart of the energy share of the first ``max_components`` components, in percent."""
    fig, ax = _axes(ax)
    shares = 100 * np.asarray(energies, dtype=float)[:max_components]
    index = np.arange(1, len(shares) + 1)
    bars = ax.bar(index, shares, color="C0")
    ax.bar_label(bars, fmt="%.2f %%")
    ax.set(xlabel="principal component", ylabel="energy (%)", title="Energy of each principal component",
           xticks=index)
    return fig


def plot_energy_loss(lost: np.ndarray, threshold: float = 0.01, marks: Sequence[int] = (), best: int | None = None,
                     ax: Axes | None = None) -> Figure:
    """Energy lost against the number of components kept (log scale), with the threshold and marks.

    ``lost[L - 1]`` is the share of the energy lost with ``L`` components (``L = 1 .. k``); ``best``, if
    given, is marked as the first ``L`` below ``threshold``. Zero losses (``L = k``) are not drawn.
    """
    fig, ax = _axes(ax)
    curve = np.asarray(lost, dtype=float)
    ranks = np.arange(1, len(curve) + 1)
    shown = curve > 0
    ax.semilogy(ranks[shown], curve[shown], label="energy lost")
    ax.axhline(threshold, color="C3", ls="--", label=f"{100 * threshold:g} % threshold")
    if best is not None:
        ax.axvline(best, color="C2", ls=":", label=f"L = {best}: first below {100 * threshold:g} %")
    for L in marks:
        ax.plot(L, curve[L - 1], "o", color="C1")
        ax.annotate(f"L={L}: {100 * curve[L - 1]:.2f} %", (L, curve[L - 1]), textcoords="offset points",
                    xytext=(6, 6))
    ax.set(xlabel="number of components kept, L", ylabel="fraction of energy lost",
           title="Energy lost by a rank-L reconstruction")
    ax.legend(loc="upper right")
    return fig


def show_images(images: Sequence[np.ndarray], titles: Sequence[str], suptitle: str | None = None,
                ncols: int | None = None, cmap: str = "gray") -> Figure:
    """Show images side by side, one titled panel each, without axes ticks."""
    if len(images) != len(titles):
        raise ValueError(f"Got {len(images)} images but {len(titles)} titles.")
    ncols = ncols or len(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        ax.imshow(image, cmap=cmap)
        ax.set_title(title)
        ax.axis("off")
    for ax in axes.flat[len(images):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_trajectories(positions: np.ndarray, pedestrians: Sequence[int] = (0, 1), ax: Axes | None = None,
                      title: str = "Pedestrian trajectories", styles: Sequence[str] = ("-", "-")) -> Figure:
    """Plot the paths of some pedestrians; ``positions`` has shape (T, P, 2) in metres."""
    fig, ax = _axes(ax)
    for k, p in enumerate(pedestrians):
        ax.plot(positions[:, p, 0], positions[:, p, 1], styles[k % len(styles)], lw=0.8,
                label=f"pedestrian {p + 1}")
        ax.plot(*positions[0, p], "ko", ms=4)
    ax.plot([], [], "ko", ms=4, label="start")
    ax.set(xlabel="x (m)", ylabel="y (m)", title=title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best")
    return fig


# ----------------------------------------------------------------------------- generative models


def mosaic(images: np.ndarray, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """Tile images (n, h, w) into one 2-D array, ``ncols`` per row, separated by ``pad`` pixels of 0."""
    images = np.asarray(images)
    n, h, w = images.shape
    nrows = int(np.ceil(n / ncols))
    out = np.zeros((nrows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, ncols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = image
    return out


def plot_image_grid(images: np.ndarray, ncols: int = 8, ax: Axes | None = None, title: str = "") -> Figure:
    """Show images (n, h, w) with values in [0, 1] as one gray mosaic."""
    fig, ax = _axes(ax)
    ax.imshow(mosaic(images, ncols), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return fig


def plot_latent_means(z: np.ndarray, labels: np.ndarray, ax: Axes | None = None,
                      title: str = "Posterior means of the test set") -> Figure:
    """Scatter 2-D latent means coloured by class; the legend of the classes sits outside the axes."""
    fig, ax = _axes(ax)
    classes = np.unique(labels)
    colours = plt.get_cmap("tab10")
    for k, label in enumerate(classes):
        chosen = labels == label
        ax.scatter(z[chosen, 0], z[chosen, 1], s=2, alpha=0.5, color=colours(k % 10), label=str(label),
                   rasterized=True)
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    ax.legend(markerscale=5, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), title="digit",
              frameon=False, borderaxespad=0.0)  # beside the plot: no cluster hides under it
    return fig


def plot_loss_curves(history: dict[str, Sequence[float]], key: str = "loss", ax: Axes | None = None,
                     title: str = "Training curves", ylabel: str = "$-$ELBO (nats per example)") -> Figure:
    """Train and validation values of ``history[key]`` per epoch (a Keras ``History.history`` dict)."""
    fig, ax = _axes(ax)
    epochs = np.arange(1, len(history[key]) + 1)
    ax.plot(epochs, history[key], label="train")
    if f"val_{key}" in history:
        ax.plot(epochs, history[f"val_{key}"], label="test")
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend()
    return fig


TERM_NAMES = {"val_kl": "KL", "val_reconstruction": "reconstruction", "kl": "KL (train)",
              "reconstruction": "reconstruction (train)"}
"""How :func:`plot_term_curves` names a history key when it draws several per model."""


def plot_term_curves(histories: dict[str, dict[str, Sequence[float]]], keys: Sequence[str] = ("val_kl",),
                     ax: Axes | None = None, title: str = "KL term on the test set",
                     ylabel: str = "KL (nats per example)", yscale: str = "linear") -> Figure:
    """Loss terms per epoch of several trained VAEs (Keras ``History.history`` dicts), e.g. the test KL term.

    One line per model and key: solid for the first key, dashed and dotted for the next; with several keys
    the label is ``"{model}, {term}"`` (:data:`TERM_NAMES`). Axis labels, title and scale as given.
    """
    fig, ax = _axes(ax)
    for name, history in histories.items():
        epochs = np.arange(1, len(history[keys[0]]) + 1)
        for key, style in zip(keys, ("-", "--", ":"), strict=False):
            label = name if len(keys) == 1 else f"{name}, {TERM_NAMES.get(key, key)}"
            ax.plot(epochs, history[key], ls=style, label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title, yscale=yscale)
    ax.legend(fontsize="small" if len(keys) > 1 else None)
    return fig


def plot_latent_grid(images: np.ndarray, z_grid: np.ndarray, ax: Axes | None = None,
                     title: str = "Decoded latent grid", n_ticks: int = 5) -> Figure:
    """Decoded images of a square 2-D latent grid (e.g. :func:`course_utils.vae.latent_grid`), with z on the axes.

    ``images`` (n * n, h, w) are the decodings of ``z_grid`` (n * n, 2), row-major with ``z_2`` decreasing
    down the rows, so the mosaic reads like a scatter plot of the latent plane; ``n_ticks`` tiles per axis
    are labelled with their ``z_1`` / ``z_2`` values.
    """
    fig, ax = _axes(ax)
    images, z_grid = np.asarray(images), np.asarray(z_grid)
    n = int(round(np.sqrt(len(z_grid))))
    if n * n != len(z_grid) or len(images) != len(z_grid):
        raise ValueError(f"z_grid must hold n * n points with one image each; got {len(z_grid)} points, "
                         f"{len(images)} images.")
    h, w = images.shape[1:]
    ax.imshow(mosaic(images, ncols=n), cmap="gray_r", vmin=0, vmax=1)
    chosen = np.unique(np.linspace(0, n - 1, min(n_ticks, n)).round().astype(int))
    ax.set_xticks(chosen * (w + 1) + (w - 1) / 2, [f"{v:.2g}" for v in z_grid[chosen, 0]])
    ax.set_yticks(chosen * (h + 1) + (h - 1) / 2, [f"{v:.2g}" for v in z_grid[chosen * n, 1]])
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    ax.grid(False)
    return fig


def plot_vae_snapshot(epoch: int, x_fixed: np.ndarray, reconstructions: np.ndarray, generated: np.ndarray,
                      z_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                      grid_images: np.ndarray | None = None, z_grid: np.ndarray | None = None) -> Figure:
    """One row of panels showing an image VAE after ``epoch``, from arrays the caller computed.

    Panels: (if ``z_test``/``y_test`` are given and 2-D) the test set's posterior means by class;
    ``x_fixed`` (top rows) over their ``reconstructions`` (bottom rows); ``generated`` images; (if
    ``grid_images``/``z_grid``) the decoded latent grid with its z values on the axes.
    """
    show_latent = z_test is not None and y_test is not None and np.shape(z_test)[1] == 2
    show_grid = grid_images is not None and z_grid is not None
    n_panels = 2 + int(show_latent) + int(show_grid)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.4 * n_panels + 0.6 * show_latent, 4.4))
    axes = list(np.atleast_1d(axes))
    if show_latent:
        plot_latent_means(z_test, y_test, ax=axes.pop(0), title="Test set, posterior means")
    pairs = np.concatenate([np.asarray(x_fixed), np.asarray(reconstructions)])
    plot_image_grid(pairs, ncols=8, ax=axes.pop(0), title="Test digits (top) and reconstructions")
    plot_image_grid(np.asarray(generated), ncols=4, ax=axes.pop(0), title="Samples: z ~ N(0, I) decoded")
    if show_grid:
        plot_latent_grid(grid_images, z_grid, ax=axes.pop(0))
    fig.suptitle(f"After epoch {epoch}")
    fig.tight_layout()
    return fig


def plot_evacuation(points: np.ndarray, area: tuple[tuple[float, float], tuple[float, float]],
                    ax: Axes | None = None, title: str = "Positions during the evacuation",
                    label: str = "people", critical: int | None = None,
                    limits: tuple[tuple[float, float], tuple[float, float]] | None = None) -> Figure:
    """Scatter positions (n, 2) in metres with the sensitive ``area`` drawn as a labelled rectangle.

    The rectangle's legend entry gives how many of the points are inside (and the threshold
    ``critical``, if given). Equal aspect, so the floor plan is not distorted; the legend sits below the
    axes, off the plan. ``area`` is ``((x_min, x_max), (y_min, y_max))``. ``limits``, in the same form,
    fixes the axes' ranges: panels drawn with the same limits and size show the area at the same size
    (points outside the limits are not shown; the legend still counts them).
    """
    from matplotlib.patches import Rectangle

    from .evacuation import in_area

    fig, ax = _axes(ax, figsize=(9, 5.5))
    points = np.asarray(points)
    inside = int(in_area(points, area).sum())
    (x_min, x_max), (y_min, y_max) = area
    ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6, label=label)
    text = f"sensitive area: {inside} of {len(points)} inside"
    if critical is not None:
        text += f" (critical above {critical})"
    ax.add_patch(Rectangle((x_min, y_min), x_max - x_min, y_max - y_min, fill=False, edgecolor="C1", lw=2,
                           label=text, zorder=3))
    ax.set(xlabel="x (m)", ylabel="y (m)", title=title)
    if limits is not None:
        ax.set(xlim=limits[0], ylim=limits[1])
    ax.set_aspect("equal", adjustable="box" if limits is not None else "datalim")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, frameon=False)  # off the plan
    return fig


# Diffusion maps (notebook 02) ------------------------------------------------------------------------------


def _axes_3d(ax: Axes | None, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    if ax is None:
        fig = plt.figure(figsize=figsize)
        return fig, fig.add_subplot(projection="3d")
    if getattr(ax, "name", "") != "3d":
        raise ValueError("A 3-D plot needs axes made with projection='3d'.")
    return ax.figure, ax


def plot_eigenfunctions(t: np.ndarray, eigenfunctions: np.ndarray, eigenvalues: np.ndarray | None = None,
                        indices: Sequence[int] = range(5), xlabel: str = "$t_k$",
                        title: str = "Eigenfunctions of the largest eigenvalues", ax: Axes | None = None) -> Figure:
    """Plot eigenfunctions ``phi_l`` (columns of ``eigenfunctions``, shape (N, L + 1)) against ``t``, one line each.

    The legend names each ``phi_l`` with its eigenvalue ``lambda_l`` when ``eigenvalues`` is given.
    """
    fig, ax = _axes(ax)
    order = np.argsort(t)
    for ell in indices:
        label = rf"$\phi_{{{ell}}}$"
        if eigenvalues is not None:
            label += rf", $\lambda_{{{ell}}}$ = {eigenvalues[ell]:.4f}"
        ax.plot(t[order], eigenfunctions[order, ell], lw=1.5, label=label)
    ax.set(xlabel=xlabel, ylabel=r"$\phi_l$", title=title)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_point_cloud_3d(X: np.ndarray, color: np.ndarray | None = None, color_label: str = "",
                        title: str = "Point cloud", labels: Sequence[str] = ("$x$", "$y$", "$z$"),
                        line: bool = False, ax: Axes | None = None) -> Figure:
    """3-D scatter of ``X[:, :3]`` coloured by ``color`` (with a labelled colour bar); ``line`` joins the points.

    ``ax`` must be a 3-D axes (``projection="3d"``); without one a new figure is made.
    """
    fig, ax = _axes_3d(ax, figsize=(6.4, 5.2))
    if line:
        ax.plot(X[:, 0], X[:, 1], X[:, 2], color="0.6", lw=0.5, label="curve in time order")
    points = ax.scatter(X[:, 0], X[:, 1], X[:, 2], c=color, s=4, cmap="viridis", label="samples")
    if color is not None:
        fig.colorbar(points, ax=ax, shrink=0.6, pad=0.1, label=color_label)
    ax.set(xlabel=labels[0], ylabel=labels[1], zlabel=labels[2], title=title)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_embedding_2d(E: np.ndarray, color: np.ndarray | None = None, color_label: str = "",
                      title: str = "Embedding", labels: Sequence[str] = ("first coordinate", "second coordinate"),
                      line: bool = False, ax: Axes | None = None) -> Figure:
    """2-D scatter of ``E[:, :2]`` coloured by ``color`` (labelled colour bar); ``line`` joins the points in order."""
    fig, ax = _axes(ax)
    if line:
        ax.plot(E[:, 0], E[:, 1], color="0.6", lw=0.5, label="curve in time order")
    points = ax.scatter(E[:, 0], E[:, 1], c=color, s=4, cmap="viridis", label="samples")
    if color is not None:
        fig.colorbar(points, ax=ax, label=color_label)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_eigenfunctions_against(eigenfunctions: np.ndarray, against: int = 1, indices: Sequence[int] = range(1, 11),
                                color: np.ndarray | None = None, color_label: str = "",
                                residuals: dict[int, float] | None = None, ncols: int = 5,
                                suptitle: str | None = None, axes: Sequence[Axes] | None = None) -> Figure:
    """One panel per ``phi_l`` (``l`` in ``indices``) plotted against ``phi_against``, coloured by ``color``.

    A panel's title gives ``residuals[l]`` when known (e.g. the local-linear residual of ``phi_l`` given
    ``phi_against``). ``axes`` (one per index) draws into existing axes; by default a grid is made.
    """
    indices = list(indices)
    if axes is None:
        nrows = int(np.ceil(len(indices) / ncols))
        fig, grid = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 2.9 * nrows), squeeze=False)
        axes = list(grid.flat)
        for ax in axes[len(indices):]:
            ax.axis("off")
    else:
        axes = list(axes)
        fig = axes[0].figure
    if len(axes) < len(indices):
        raise ValueError(f"Got {len(axes)} axes for {len(indices)} eigenfunctions.")
    points = None
    for ax, ell in zip(axes, indices, strict=False):
        points = ax.scatter(eigenfunctions[:, against], eigenfunctions[:, ell], c=color, s=2, cmap="viridis")
        title = rf"$\phi_{{{ell}}}$"
        if residuals is not None and ell in residuals:
            title += f" (residual {residuals[ell]:.2f})"
        ax.set(xlabel=rf"$\phi_{{{against}}}$", ylabel=rf"$\phi_{{{ell}}}$", title=title)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if color is not None and points is not None:
        fig.colorbar(points, ax=axes[: len(indices)], shrink=0.8, label=color_label)
    return fig


def plot_residuals(series: dict[str, np.ndarray], indices: Sequence[int], threshold: float = 0.5,
                   chosen: int | None = None, title: str = "Local-linear-regression residuals",
                   ax: Axes | None = None) -> Figure:
    """Grouped bars of residuals per eigenfunction (one colour per series), the threshold and the chosen index.

    ``series`` maps a legend label to residuals aligned with ``indices`` (the ``l`` of each ``phi_l``).
    """
    fig, ax = _axes(ax, figsize=(7.5, 4.2))
    indices = np.asarray(list(indices))
    width = 0.8 / max(len(series), 1)
    for k, (label, values) in enumerate(series.items()):
        ax.bar(indices + (k - (len(series) - 1) / 2) * width, values, width=width, label=label)
    ax.axhline(threshold, color="C3", ls="--", label=f"threshold {threshold:g}")
    if chosen is not None:
        ax.axvline(chosen, color="0.3", ls=":", label=rf"first above: $\phi_{{{chosen}}}$")
    ax.set(xlabel="eigenfunction index $l$", ylabel="normalised residual", title=title, xticks=indices,
           ylim=(0, 1.15))
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_false_neighbors(dimensions: Sequence[int], fractions: dict[str, Sequence[float]],
                         title: str = "False nearest neighbours", ax: Axes | None = None) -> Figure:
    """Fraction of false nearest neighbours against the number of embedding coordinates, one line per method."""
    fig, ax = _axes(ax)
    for k, (label, values) in enumerate(fractions.items()):
        ax.plot(dimensions, 100 * np.asarray(values), "o-", ms=6 - 2 * k, label=label)
    ax.set(xlabel="number of coordinates", ylabel="false nearest neighbours (%)", title=title,
           xticks=list(dimensions))
    ax.legend(loc="best")
    return fig


def plot_vae_2d_snapshot(model, epoch: int, x_test: np.ndarray, to_data, area=None, n_generated: int = 1000,
                         seed: int = 0, units: str = "m",
                         limits: tuple[tuple[float, float], tuple[float, float]] | None = None) -> Figure:
    """Two panels showing a VAE of 2-D data at an epoch: test reconstructions, and generated samples.

    Left: the test points (grey) and their reconstructions (mean of ``p(x|z)`` at the posterior mean).
    Right: the test points (grey) and ``n_generated`` samples ``x ~ p(x|z)``, ``z ~ N(0, I)``.
    ``to_data`` maps the model's (scaled) coordinates back to the data's; ``area`` is drawn if given.
    ``limits`` ``((x_min, x_max), (y_min, y_max))`` fixes both panels' ranges (equal aspect), so that
    snapshots of different epochs show the floor at the same scale.
    """
    from matplotlib.patches import Rectangle

    from .vae import generate, reconstruct

    data = to_data(x_test)
    panels = [(to_data(reconstruct(model, x_test)), "reconstructions of the test set", "C0"),
              (to_data(generate(model, n_generated, seed=seed, sample_likelihood=True)),
               f"{n_generated} generated samples", "C3")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True, sharey=True)
    for ax, (points, label, colour) in zip(axes, panels, strict=True):
        ax.scatter(data[:, 0], data[:, 1], s=4, color="0.75", label="test data")
        ax.scatter(points[:, 0], points[:, 1], s=4, color=colour, alpha=0.7, label=label)
        if area is not None:
            (x0, x1), (y0, y1) = area
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="C1", lw=2,
                                   label="sensitive area", zorder=3))
        ax.set(xlabel=f"x ({units})", ylabel=f"y ({units})", title=label.capitalize())
        if limits is not None:
            ax.set(xlim=limits[0], ylim=limits[1])
            ax.set_aspect("equal", adjustable="box")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, fontsize="small", markerscale=3,
                  frameon=False)  # below the panel, off the floor
    fig.suptitle(f"After epoch {epoch}")
    fig.tight_layout()
    return fig


# Gaussian mixtures and mode coverage (notebook 06) -------------------------------------------------------


def plot_labelled_points_3d(points: np.ndarray, labels: np.ndarray | None = None, means: np.ndarray | None = None,
                            title: str = "Points by component", legend_title: str = "component",
                            max_points: int = 3000, ax: Axes | None = None) -> Figure:
    """3-D scatter of ``points[:, :3]`` coloured by integer ``labels`` (legend), with ``means`` as crosses.

    Without ``labels`` all points share one colour; a negative label is drawn grey as "none (> 3 sd)" (a
    sample near no component). At most ``max_points`` points are drawn (the first
    ones), so figures stay light; ``ax`` must be a 3-D axes (``projection="3d"``) if given.
    """
    fig, ax = _axes_3d(ax, figsize=(6.4, 5.2))
    points = np.asarray(points)[:max_points]
    labels = np.zeros(len(points), int) if labels is None else np.asarray(labels)[:max_points]
    colours = plt.get_cmap("tab10")
    for label in np.unique(labels):
        chosen = labels == label
        colour, name = (colours(int(label) % 10), str(label)) if label >= 0 else ("0.6", "none (> 3 sd)")
        ax.scatter(*points[chosen, :3].T, s=3, alpha=0.5, color=colour, label=name, rasterized=True)
    if means is not None:
        ax.scatter(*np.asarray(means)[:, :3].T, marker="x", s=90, color="black", depthshade=False,
                   label="true means")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", zlabel="$x_3$", title=title)
    legend = ax.legend(loc="upper left", fontsize="small", title=legend_title)
    for handle in legend.legend_handles:  # same readable marker size for the points and the means
        handle.set_sizes([20])
        handle.set_alpha(1)
    return fig


def plot_labelled_points_2d(points: np.ndarray, labels: np.ndarray, title: str = "Embedding",
                            axis_labels: Sequence[str] = ("first coordinate", "second coordinate"),
                            legend_title: str = "component", ax: Axes | None = None) -> Figure:
    """2-D scatter of ``points[:, :2]`` coloured by a categorical ``labels`` (e.g. a t-SNE map by true component)."""
    fig, ax = _axes(ax)
    points, labels = np.asarray(points), np.asarray(labels)
    colours = plt.get_cmap("tab10")
    for label in np.unique(labels):
        chosen = labels == label
        ax.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.6, color=colours(int(label) % 10),
                   label=str(label), rasterized=True)
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    ax.legend(loc="best", fontsize="small", markerscale=4, title=legend_title)
    return fig


def plot_mode_coverage(coverage, title: str = "Mode coverage", ax: Axes | None = None) -> Figure:
    """Bars of each component's share of the high-quality samples next to its true weight.

    ``coverage`` is a :class:`course_utils.modes.ModeCoverage`. Components that are not captured get a red
    "missed" label; the title adds the captured count, the high-quality fraction and the total variation.
    """
    fig, ax = _axes(ax)
    index = np.arange(coverage.modes_total)
    ax.bar(index - 0.2, coverage.weights, width=0.4, color="0.6", label="true weight $w_k$")
    ax.bar(index + 0.2, coverage.shares, width=0.4, color="C0", label="share of high-quality samples")
    for k in index[~coverage.captured]:
        ax.annotate("missed", (k + 0.2, coverage.shares[k]), textcoords="offset points", xytext=(0, 4),
                    ha="center", color="C3")
    ax.set(xlabel="component $k$", ylabel="share", xticks=index,
           title=f"{title}\n{coverage.modes_captured}/{coverage.modes_total} captured, "
                 f"{100 * coverage.high_quality_fraction:.1f} % high quality, "
                 f"TV {coverage.weight_total_variation:.3f}")
    ax.set_ylim(0, 1.2 * max(coverage.weights.max(), coverage.shares.max()))
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_cluster_scores(choices: dict, ax: Axes | None = None,
                        title: str = "Choosing the number of clusters") -> Figure:
    """Score against the number of clusters for several point sets, the chosen number marked.

    ``choices`` maps a legend label to a :class:`course_utils.modes.ClusterChoice`. BIC curves are shown
    per point and relative to their minimum (so sets of different sizes and spaces share one axis; the
    chosen number sits at 0); silhouette curves are shown as they are.
    """
    fig, ax = _axes(ax)
    methods = {choice.method for choice in choices.values()}
    if len(methods) != 1:
        raise ValueError(f"All choices must use the same method; got {sorted(methods)}.")
    method = methods.pop()
    for k, (label, choice) in enumerate(choices.items()):
        scores = choice.scores
        if method == "bic":
            scores = (scores - scores.min()) / len(choice.labels)
        ax.plot(choice.candidates, scores, "o-", color=f"C{k}", ms=4, label=f"{label}: {choice.n_clusters}")
        best = list(choice.candidates).index(choice.n_clusters)
        ax.plot(choice.n_clusters, scores[best], "*", color=f"C{k}", ms=14)
    ylabel = "(BIC - min BIC) per point" if method == "bic" else "mean silhouette"
    ax.set(xlabel="number of clusters", ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize="small", title="chosen (star)")
    return fig


def plot_mahalanobis_histogram(distances: dict[str, np.ndarray], dim: int, threshold: float = 3.0,
                               ax: Axes | None = None,
                               title: str = "Distance to the nearest true component") -> Figure:
    """Histograms of each set's smallest Mahalanobis distance, with the chi density of a true sample.

    ``distances`` maps a legend label to the (n,) smallest Mahalanobis distances of its points; the
    high-quality threshold is drawn as a vertical line, and the density of a chi distribution with ``dim``
    degrees of freedom (the distance of a Gaussian's own samples) as a reference curve.
    """
    from scipy.stats import chi

    fig, ax = _axes(ax)
    top = max(threshold + 2, max(np.quantile(d, 0.99) for d in distances.values()))
    bins = np.linspace(0, top, 60)
    for label, values in distances.items():
        ax.hist(np.clip(values, 0, top), bins=bins, density=True, histtype="step", lw=1.5, label=label)
    grid = np.linspace(0, top, 300)
    ax.plot(grid, chi.pdf(grid, dim), "k--", lw=1, label=f"chi, {dim} degrees of freedom")
    ax.axvline(threshold, color="C3", ls=":", label=f"high quality: <= {threshold:g}")
    ax.set(xlabel="smallest Mahalanobis distance (last bin: at least)", ylabel="density", title=title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


# ----------------------------------------------------------------------------- facial landmarks (notebook 07)

FACE_REGIONS_CLOSED = ("right_eye", "left_eye", "outer_lips", "inner_lips")
"""Regions of the face template drawn as closed curves; the others (brows, nose, jaw) as open lines."""


def plot_face(points: np.ndarray, region: Sequence[str], ax: Axes | None = None, title: str = "",
              color: str = "C0", label: str | None = None, lw: float = 1.2, markersize: float = 2.0) -> Figure:
    """Front view (x, y) of one face's landmarks (L, 3), each region joined in template order.

    ``region`` names each landmark's region (e.g. ``load_face_template().region``); landmarks of a region
    are joined in their stored order, eyes and lips closed.
    """
    fig, ax = _axes(ax)
    points, region = np.asarray(points), np.asarray(region)
    for k, name in enumerate(dict.fromkeys(region)):
        part = points[region == name]
        if name in FACE_REGIONS_CLOSED:
            part = np.concatenate([part, part[:1]])
        ax.plot(part[:, 0], part[:, 1], "-o", color=color, lw=lw, markersize=markersize,
                label=label if k == 0 else None)
    ax.set_aspect("equal", adjustable="box")
    ax.set(title=title, xlabel="x (inter-ocular distances)", ylabel="y (inter-ocular distances)")
    return fig


def plot_face_grid(faces: np.ndarray, region: Sequence[str], row_values: Sequence[float],
                   col_values: Sequence[float], row_label: str, col_label: str, title: str,
                   reference: np.ndarray | None = None) -> Figure:
    """A grid of faces (rows x cols, L, 3), e.g. a latent traversal, each over a grey ``reference`` face.

    Rows are labelled with ``row_label = value`` and columns with ``col_label = value``.
    """
    faces = np.asarray(faces)
    nrows, ncols = len(row_values), len(col_values)
    if len(faces) != nrows * ncols:
        raise ValueError(f"Got {len(faces)} faces for a {nrows} x {ncols} grid.")
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.2 * nrows), squeeze=False,
                             sharex=True, sharey=True)
    for i, (ax, face) in enumerate(zip(axes.flat, faces, strict=True)):
        if reference is not None:
            plot_face(reference, region, ax=ax, color="0.75", lw=0.8, markersize=0,
                      label="neutral input" if i == 0 else None)
        plot_face(face, region, ax=ax, color="C0", lw=1.0, markersize=1.0, label="generated" if i == 0 else None)
        ax.set(xlabel="", ylabel="", xticks=[], yticks=[])
        ax.grid(False)
        if i % ncols == 0:
            ax.set_ylabel(f"{row_label} = {row_values[i // ncols]:+.1f}")
        if i // ncols == nrows - 1:
            ax.set_xlabel(f"{col_label} = {col_values[i % ncols]:+.1f}")
    if reference is not None:
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="upper right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_contact_sheet(images: Sequence[np.ndarray], row_labels: Sequence[str], col_labels: Sequence[str],
                       title: str = "", cell_inches: float = 1.25) -> Figure:
    """Images in a grid (row-major, ``len(row_labels) x len(col_labels)``) with row and column labels."""
    n_rows, n_cols = len(row_labels), len(col_labels)
    if len(images) != n_rows * n_cols:
        raise ValueError(f"Expected {n_rows} x {n_cols} = {n_rows * n_cols} images; got {len(images)}.")
    aspect = images[0].shape[0] / images[0].shape[1]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols, cell_inches * aspect * n_rows + 0.4),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.imshow(images[k])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if k < n_cols:
            ax.set_title(col_labels[k], fontsize="small")
        if k % n_cols == 0:
            ax.set_ylabel(row_labels[k // n_cols], fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_latent_usage(kl: dict[str, np.ndarray], weight_norms: dict[str, np.ndarray], threshold: float = 0.01,
                      title: str = "Latent dimensions in use") -> Figure:
    """Per latent dimension: KL to the prior (log scale, with the activity threshold) and decoder weight norms.

    ``kl`` and ``weight_norms`` map a model's name to an array (latent_dim,) (see
    :func:`course_utils.landmark_vae.kl_per_dimension` and ``decoder_weight_norms``); dimensions are sorted
    by KL, separately for each model, so the curves show how many dimensions each model uses.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, values in kl.items():
        order = np.argsort(values)[::-1]
        rank = np.arange(1, len(values) + 1)
        active = int(np.sum(values > threshold))
        axes[0].plot(rank, np.maximum(values[order], 1e-5), "o-", markersize=3, label=f"{name} ({active} active)")
        axes[1].plot(rank, np.asarray(weight_norms[name])[order], "o-", markersize=3, label=name)
    axes[0].axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold {threshold:g} nats")
    axes[0].set(yscale="log", xlabel="latent dimension, sorted by KL", ylabel="mean KL(q(z_k|x) || N(0,1)) (nats)",
                title="KL divergence per dimension")
    axes[1].set(xlabel="latent dimension, sorted by KL", ylabel="norm of first decoder layer weights",
                title="Decoder weight norm per dimension")
    for ax in axes:
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_validation_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, int]], ax: Axes | None = None,
                           title: str = "Validation objective during training") -> Figure:
    """Validation objective against epoch for several models, the restored (best) epoch marked.

    ``curves`` maps a model's name to ``(epochs, objective, best_epoch)``.
    """
    fig, ax = _axes(ax)
    for k, (name, (epochs, values, best)) in enumerate(curves.items()):
        ax.plot(epochs, values, color=f"C{k}", label=name)
        ax.plot([best], [np.asarray(values)[np.asarray(epochs) == best][0]], "*", color=f"C{k}", markersize=12)
    ax.plot([], [], "*", color="0.3", markersize=10, label="restored epoch")
    ax.set(xlabel="epoch", ylabel="validation objective (nats per face)", title=title)
    ax.legend(fontsize="small")
    return fig


def plot_classifier_report(history: dict[str, Sequence[float]], confusion: np.ndarray, class_names: Sequence[str],
                           title: str, accuracy: float | None = None, macro_auc: float | None = None,
                           stage_starts: dict[str, int] | None = None) -> Figure:
    """One figure per model: learning curves (loss, accuracy; train and validation) and the test set's
    row-normalised confusion matrix as a seaborn heatmap. The same helper serves every model.

    ``stage_starts`` maps a label to the first epoch (1-based) of a training stage, e.g.
    ``{"fine-tuning": 28}`` for a history concatenated from two fits; each is drawn as a dashed line."""
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 1, 1.25]})
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, key, label in ((axes[0], "loss", "cross-entropy"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        for i, (stage, start) in enumerate((stage_starts or {}).items()):
            ax.axvline(start - 0.5, color="0.4", linestyle=("--", ":", "-.")[i % 3], label=f"{stage} starts")
        ax.set(xlabel="epoch", ylabel=label, title=f"{title}: {label} per epoch")
        ax.legend()
    sns.heatmap(confusion, ax=axes[2], annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, cbar=True,
                xticklabels=class_names, yticklabels=class_names, annot_kws={"fontsize": 8}, square=False)
    scores = []
    if accuracy is not None:
        scores.append(f"accuracy {accuracy:.3f}")
    if macro_auc is not None:
        scores.append(f"macro AUC {macro_auc:.3f}")
    axes[2].set(xlabel="predicted emotion", ylabel="true emotion",
                title=f"{title}: test confusion (rows sum to 1)" + (f"\n{', '.join(scores)}" if scores else ""))
    axes[2].tick_params(axis="x", rotation=45)
    axes[2].tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig
