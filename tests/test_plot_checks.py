"""tests/plots.py, the plot tests' shared check: it passes on a matching figure and names each mismatch."""

import re

import matplotlib.pyplot as plt
import pytest

from tests.plots import assert_axes, legend_texts


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    ax.bar([0, 1], [1, 2])
    ax.set(title="T", xlabel="x", ylabel="y")
    ax.legend()
    yield ax
    plt.close(fig)


def test_a_matching_figure_passes(ax):
    assert legend_texts(ax) == ["a", "b"]
    assert_axes(ax, title="T", xlabel="x", ylabel="y", legend=["a", "b"], lines=2, patches=2, images=0)
    assert_axes(ax, legend={"b"})
    assert_axes(ax, legend=True)
    assert_axes(ax)  # nothing asked, nothing checked


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"title": "other"}, "title: 'T', expected 'other'"),
    ({"xlabel": ""}, "xlabel"),
    ({"legend": ["b", "a"]}, "legend"),
    ({"legend": {"c"}}, "lacks {'c'}"),
    ({"legend": False}, "unexpected legend"),
    ({"lines": 3}, "lines: 2"),
    ({"collections": 1}, "collections: 0"),
    ({"artists": 1}, "unknown artist kinds"),
])
def test_each_mismatch_fails_with_its_name(ax, kwargs, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        assert_axes(ax, **kwargs)


def test_a_missing_legend_fails():
    fig, ax = plt.subplots()
    with pytest.raises(AssertionError, match="no legend"):
        assert_axes(ax, legend=["a"])
    plt.close(fig)
