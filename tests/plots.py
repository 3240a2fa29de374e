"""Checks shared by the plot tests: the text that says what a panel shows, and how much it draws.

A plot test should fail when a figure loses a label, a legend entry or the artists that carry its data, so
:func:`assert_axes` compares each given property exactly (a title that merely exists is not a check).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes

ARTISTS = ("lines", "collections", "patches", "images", "texts")


def legend_texts(ax: Axes) -> list[str]:
    """The entries of the legend of ``ax``, in order (fails if it has none)."""
    legend = ax.get_legend()
    assert legend is not None, f"the axes {ax.get_title()!r} have no legend"
    return [text.get_text() for text in legend.get_texts()]


def assert_axes(ax: Axes, *, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
                legend: Sequence[str] | set[str] | bool | None = None, **counts: int) -> None:
    """Assert what ``ax`` says and draws.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    title, xlabel, ylabel : str, optional
        The exact text; left out, it is not checked.
    legend : list of str, set of str or bool, optional
        A list: the legend's entries, exactly and in order; a set: entries that must all be in the legend;
        ``True``/``False``: the axes have a legend / none; left out: not checked.
    **counts : int
        The number of artists of each kind in :data:`ARTISTS`, e.g. ``lines=5, patches=2``.
    """
    for name, expected in (("title", title), ("xlabel", xlabel), ("ylabel", ylabel)):
        if expected is not None:
            got = getattr(ax, f"get_{name}")()
            assert got == expected, f"{name}: {got!r}, expected {expected!r}"
    if legend is False:
        assert ax.get_legend() is None, f"unexpected legend {legend_texts(ax)}"
    elif legend is True:
        legend_texts(ax)
    elif isinstance(legend, set):
        assert legend <= set(legend_texts(ax)), f"legend {legend_texts(ax)} lacks {legend - set(legend_texts(ax))}"
    elif legend is not None:
        assert legend_texts(ax) == list(legend), f"legend {legend_texts(ax)}, expected {list(legend)}"
    unknown = set(counts) - set(ARTISTS)
    assert not unknown, f"unknown artist kinds {unknown}; use {ARTISTS}"
    for kind, expected in counts.items():
        got = len(getattr(ax, kind))
        assert got == expected, f"{kind}: {got} on the axes {ax.get_title()!r}, expected {expected}"
