"""course_utils.report: recording, display and reading results back from executed notebooks."""

import json
import math
import re

import numpy as np
import pytest

from course_utils.report import RESULTS_TAG, Report, markdown_table, model_table, results_from_notebook


def test_record_cleans_and_rounds():
    report = Report("99_demo", digits=4)
    assert report.record("loss", np.float64(0.123456789)) is None
    report.record("count", np.int64(77))
    report.record("flag", True)
    report.record("loss", 0.5)  # re-running a cell overwrites
    assert report.values == {"loss": 0.5, "count": 77, "flag": True}
    assert type(report.values["count"]) is int
    report.record("tiny", 0.000123456789)
    assert report.values["tiny"] == 0.0001235


@pytest.mark.parametrize("bad", [math.nan, np.inf, -np.inf])
def test_non_finite_results_are_refused(bad):
    with pytest.raises(ValueError, match="non-finite"):
        Report("x").record("k", bad)


def test_bad_keys_and_types():
    with pytest.raises(ValueError, match="identifiers"):
        Report("x").record("not a key", 1)
    with pytest.raises(TypeError, match="list"):
        Report("x").record("k", [1, 2])


def test_display_carries_table_and_json():
    report = Report("01_pca")
    report.record("raccoon_L_below_1pct", 77, "smallest L")
    report.record("raccoon_loss_L10", 0.17604383113, "loss at 10")
    text, html_table = repr(report), report._repr_html_()
    assert "raccoon_loss_L10" in text and "0.176044" in text and "smallest L" in text
    assert "<table>" in html_table and "0.176044" in html_table
    data, metadata = report._repr_mimebundle_()
    assert data == {"text/plain": text, "text/html": html_table}
    assert metadata == {"course-kit/results": {"notebook": "01_pca", "results": {"raccoon_L_below_1pct": 77,
                                                                                 "raccoon_loss_L10": 0.176044}}}


def test_html_view_escapes_descriptions():
    report = Report("01_pca")
    report.record("loss", 1.0, "<script>alert(1)</script> & more")
    html_table = report._repr_html_()
    assert "<script>" not in html_table and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html_table


def _notebook(outputs, tags=(RESULTS_TAG,)):
    return {"cells": [{"cell_type": "code", "metadata": {"tags": list(tags)}, "outputs": outputs}]}


def test_results_from_notebook(tmp_path):
    payload = {"notebook": "01_pca", "results": {"a": 1.5}}
    output = {"output_type": "execute_result", "data": {"text/plain": "..."},
              "metadata": {"course-kit/results": payload}}
    assert results_from_notebook(_notebook([output])) == {"a": 1.5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(_notebook([output])))
    assert results_from_notebook(path) == {"a": 1.5}
    assert results_from_notebook(_notebook([output], tags=())) is None  # untagged cell
    assert results_from_notebook(_notebook([])) is None  # results cell not executed


def test_seconds_are_sanitized_for_nbval():
    """Run times (keys ending in _seconds) are blanked in the compared table; other values are not."""
    from pathlib import Path

    from nbval.plugin import get_sanitize_patterns

    cfg = Path(__file__).with_name("nbval_sanitize.cfg").read_text()
    patterns = get_sanitize_patterns(cfg)

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    fast, slow = Report("x"), Report("x")
    for report, seconds in ((fast, 1.234), (slow, 98.7654)):
        report.record("fit_seconds", seconds, "time of one fit")
        report.record("loss", 0.25)
    assert sanitize(repr(fast)) == sanitize(repr(slow))
    assert sanitize(fast._repr_html_()) == sanitize(slow._repr_html_())
    changed = Report("x")
    changed.record("fit_seconds", 1.0, "time of one fit")
    changed.record("loss", 0.26)
    assert sanitize(repr(changed)) != sanitize(repr(fast))


def test_markdown_table():
    table = markdown_table({"01_pca": {"k": 0.1234567, "n": 3}, "02_x": {}})
    assert "| 01_pca | `k` | 0.123457 |" in table and "| 02_x | (no results cell) | |" in table


def test_markdown_table_marks_failed_notebooks_without_figures():
    table = markdown_table({"01_pca": {"k": 1}}, failed={"05_rafd": "cell 4 ('x | y'): ValueError: bad\nmore"})
    assert table.splitlines()[-1] == "| 05_rafd | **FAILED**, no results | cell 4 ('x \\| y'): ValueError: bad more |"
    assert markdown_table({"01_pca": {"k": 1}}) == markdown_table({"01_pca": {"k": 1}}, failed={})


def test_model_table():
    import keras

    x = keras.Input((8, 8), name="x")
    h = keras.layers.Dense(32, name="hidden_1")(keras.layers.Flatten(name="flatten")(x))
    model = keras.Model(x, [keras.layers.Dense(3, name="z_mean")(h), keras.layers.Dense(3, name="z_log_var")(h)])
    table = model_table(model)
    assert list(table.columns) == ["layer", "output shape", "parameters"]
    assert table["layer"].tolist() == ["x", "flatten", "hidden_1", "z_mean", "z_log_var"]
    assert table["parameters"].tolist() == [0, 0, 64 * 32 + 32, 32 * 3 + 3, 32 * 3 + 3]
    assert table.attrs["total"] == model.count_params()
    assert table.loc[table.layer == "z_mean", "output shape"].item() == "(None, 3)"
    assert model_table(model, batch="batch").loc[2, "output shape"] == "(batch, 32)"
