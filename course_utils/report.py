"""Headline results: each notebook records its figures here and shows them in its last cell.

A notebook makes one :class:`Report`, calls :meth:`Report.record` where a headline number is computed,
and ends with a cell tagged ``results`` whose output is the report. That output is a table (text and
HTML, which nbval compares) and carries the numbers as JSON in the output's metadata under
``course-kit/results``, so tools read them from the executed notebook (see :func:`results_from_notebook`)
without the notebook writing files anywhere.

Figures that cannot repeat exactly (run times) must have keys ending in ``_seconds``: the nbval
sanitize file blanks their values in the table, and nbval never compares output metadata.

:func:`model_table` is the deterministic layer table a notebook shows instead of ``summary()``; it needs
no Keras import of its own.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

RESULTS_TAG = "results"
"""Tag of the notebook cell whose output is the report."""

RESULTS_METADATA_KEY = "course-kit/results"
"""Key of the JSON payload in the results cell's output metadata."""

Value = float | int | str | bool


def _clean(value: Any, digits: int) -> Value:
    """A JSON-ready value: numpy scalars to Python, floats rounded to ``digits`` significant digits."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalar or 0-d array
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Refusing to record a non-finite result ({value}); fix the computation.")
        return float(f"{value:.{digits}g}")
    raise TypeError(f"Results must be numbers, booleans or strings; got {type(value).__name__}.")


class Report:
    """The headline figures of one notebook.

    Parameters
    ----------
    notebook : str
        The notebook's stem, e.g. ``"01_pca"``.
    digits : int
        Significant digits kept for floats, so that last-digit float noise across machines does not
        change the stored notebook output.
    """

    def __init__(self, notebook: str, digits: int = 6) -> None:
        self.notebook = notebook
        self.digits = digits
        self.values: dict[str, Value] = {}
        self.descriptions: dict[str, str] = {}

    def record(self, key: str, value: Any, description: str = "") -> None:
        """Record ``value`` under ``key``; re-running a cell overwrites it.

        Returns nothing, so a notebook cell ending in ``record(...)`` does not echo the value.
        """
        if not key.isidentifier():
            raise ValueError(f"Result keys must be identifiers like 'raccoon_loss_L10'; got {key!r}.")
        self.values[key] = _clean(value, self.digits)
        self.descriptions[key] = description

    def as_dict(self) -> dict[str, Any]:
        """``{"notebook": ..., "results": {...}}``, the JSON payload of the results cell."""
        return {"notebook": self.notebook, "results": dict(self.values)}

    def _rows(self) -> Iterable[tuple[str, str, str]]:
        for key, value in self.values.items():
            shown = f"{value:.{self.digits}g}" if isinstance(value, float) else str(value)
            yield key, shown, self.descriptions[key]

    def __repr__(self) -> str:
        rows = list(self._rows())
        width = max([len(key) for key, _, _ in rows] + [3])
        lines = [f"Results of {self.notebook}"]
        lines += [f"  {key:<{width}}  {shown:>10}  {text}".rstrip() for key, shown, text in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Jupyter's view: a key / value / meaning table, every value escaped with ``html.escape``.

        Three escaped cells need no template engine; the student package does not depend on Jinja2 (the
        instructor's feedback page, a full document, is a template: ``instructor/templates``).
        """
        body = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td><td>{html.escape(d)}</td></tr>"
            for k, v, d in self._rows()
        )
        return (
            f"<table><caption>Results of {html.escape(self.notebook)}</caption>"
            f"<tr><th>key</th><th>value</th><th>meaning</th></tr>{body}</table>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        data = {"text/plain": repr(self), "text/html": self._repr_html_()}
        return data, {RESULTS_METADATA_KEY: self.as_dict()}


def results_from_notebook(notebook: Mapping[str, Any] | str | Path) -> dict[str, Value] | None:
    """Read the results recorded by an executed notebook (a path or a parsed notebook).

    Returns ``None`` when the notebook has no executed cell tagged ``results`` carrying a report.
    """
    if isinstance(notebook, str | Path):
        notebook = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if RESULTS_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            payload = output.get("metadata", {}).get(RESULTS_METADATA_KEY)
            if isinstance(payload, dict) and "results" in payload:
                return dict(payload["results"])
    return None


def markdown_table(results: Mapping[str, Mapping[str, Value]], failed: Mapping[str, str] | None = None) -> str:
    """A markdown table ``notebook | key | value`` of collected results.

    ``failed`` maps notebooks that did not run to the end to where and why they failed; each gets one row
    saying so and no figures (a failed run's figures are never shown as results).
    """
    lines = ["| notebook | key | value |", "|---|---|---|"]
    for notebook, values in results.items():
        if not values:
            lines.append(f"| {notebook} | (no results cell) | |")
        for key, value in (values or {}).items():
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            lines.append(f"| {notebook} | `{key}` | {shown} |")
    for notebook, reason in (failed or {}).items():
        reason = reason.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {notebook} | **FAILED**, no results | {reason} |")
    return "\n".join(lines)


def model_table(model: Any, batch: str = "None"):
    """A table (pandas DataFrame) of a Keras model's layers: name, output shape, number of parameters.

    Deterministic text, unlike ``summary()``, whose layout depends on the console. The batch dimension is
    written as ``batch`` (``"None"``, as Keras prints it, by default); an output shape Keras cannot give is
    ``"?"``. ``table.attrs["total"]`` holds the number of parameters. Takes any Keras model and imports
    no Keras itself, so a notebook can show a table without loading more than pandas.
    """
    import pandas as pd

    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape)).replace("None", batch)
        except (AttributeError, ValueError):
            shape = "?"
        rows.append({"layer": layer.name, "output shape": shape, "parameters": int(layer.count_params())})
    table = pd.DataFrame(rows)
    table.attrs["total"] = int(table["parameters"].sum()) if rows else 0
    return table
