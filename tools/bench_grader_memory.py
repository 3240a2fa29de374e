"""The grader's peak memory on the largest hostile output it accepts, and on the largest notebook.

    .venv/bin/python tools/bench_grader_memory.py

Writes, in a temporary folder, what a hostile child could leave in its output folder at every cap at once
(``run.json`` of almost :data:`~course_utils.instructor.output.MAX_RUN_JSON` with the most JSON values
allowed, ``calls.npz`` whose arrays expand to just under the per-array and total caps, the most figures
and bytes of figures kept), then reads it as the grader does (``output._collect``), scores it, makes its
grade record and writes the reports. Then loads a notebook of almost ``MAX_NOTEBOOK`` bytes with the most
JSON values allowed. Prints the process's peak resident memory (``ru_maxrss``) after each step, against
the baseline after imports. No sandbox is needed (the output is written here, as a child would).
"""

from __future__ import annotations

import io
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from course_utils.instructor.execute import MAX_NOTEBOOK, load_submission
from course_utils.instructor.output import (
    MAX_ARRAY,
    MAX_ARRAYS,
    MAX_FIGURE,
    MAX_FIGURES_TOTAL,
    MAX_RUN_JSON,
    _collect,
)
from course_utils.instructor.records import Grade, grade_from_record, grade_record
from course_utils.instructor.reports import write_reports
from course_utils.instructor.scoring import score
from course_utils.instructor.text import MAX_JSON_VALUES

CHECKS = '''
from course_utils.instructor.checks import FunctionCheck, ResultCheck
EXERCISE = "tiny"
CHECKS = [FunctionCheck("double", "double", lambda rng: [(1.0,), (2.5,)], lambda x: 2 * x, points=2),
          ResultCheck("answer", "answer", expected=42)]
'''


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hostile_output(out: Path) -> None:
    """Every file of a child's output folder at (just under) its cap."""
    cells = [{"cell": i, "status": "error", "first_line": "\u202e" * 120, "error": "\x1b" * 600,
              "error_type": "E" * 80, "output": "=" * 2000, "seconds": 1.0, "retried": False} for i in range(2000)]
    summary = {"cells": cells, "results": {f"k{i}": "x" * 500 for i in range(2000)},
               "calls": {"double": {"cases": [{"n_values": 4}, {"n_values": 4}]}},
               "figures": [f"figures/cell000_{i:02d}.png" for i in range(24)]}
    text = json.dumps(summary)
    room = MAX_RUN_JSON - len(text) - 64
    values = min(MAX_JSON_VALUES - text.count(",") - text.count(":") - 16, room // 3)  # "0, " each
    summary["padding"] = [0] * values  # the most values the check lets through
    (out / "run.json").write_text(json.dumps(summary))
    per_array = min(MAX_ARRAY, MAX_ARRAYS // 8) // 8 - 16  # float64 elements: 8 arrays just under both caps
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"double__{case}__{value}": np.zeros(per_array)
                                   for case in range(2) for value in range(4)})
    (out / "calls.npz").write_bytes(buffer.getvalue())
    figures = out / "figures"
    figures.mkdir()
    png = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(MAX_FIGURE - 8)
    for i in range(24):
        (figures / f"cell000_{i:02d}.png").write_bytes(png)
    print(f"hostile output: run.json {len((out / 'run.json').read_bytes()) / 2**20:.1f} MiB, calls.npz "
          f"{len(buffer.getvalue()) / 2**20:.2f} MiB expanding to {8 * per_array * 8 / 2**20:.1f} MiB, "
          f"24 figures of {MAX_FIGURE / 2**20:.0f} MiB (at most {MAX_FIGURES_TOTAL / 2**20:.0f} MiB kept)")


def wide_notebook(path: Path) -> int:
    """A notebook of almost ``MAX_NOTEBOOK`` bytes with the most JSON values allowed, each a string."""
    items = MAX_JSON_VALUES - 64
    length = (MAX_NOTEBOOK - 4096) // items - 3  # '"' + text + '",'
    path.write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {"w": [' + ",".join(
        ['"' + "x" * length + '"'] * items) + ']}, "cells": [{"cell_type": "code", "source": "x = 1", '
        '"metadata": {}, "outputs": []}]}')
    return items


def main() -> None:
    import subprocess
    import sys

    if sys.argv[1:2] == ["--write"]:  # in a child process, so that writing costs this process nothing
        folder = Path(sys.argv[2])
        (folder / "out").mkdir()
        hostile_output(folder / "out")
        print(f"notebook: {wide_notebook(folder / 'wide.ipynb')} values")
        return
    from course_utils.instructor.checks import load_checks

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tiny.py").write_text(CHECKS)
        suite = load_checks(folder / "tiny.py")
        out = folder / "out"
        subprocess.run([sys.executable, __file__, "--write", tmp], check=True)
        baseline = peak_mib()
        print(f"baseline after imports: {baseline:.0f} MiB")
        start = time.perf_counter()
        inputs = {"double": {"function": "double", "cases": [(1.0,), (2.5,)]}}
        run = _collect(out, "ok", "", 1.0, inputs)
        print(f"read: status {run.status} ({run.message[:100]}), {len(run.arrays)} arrays, {len(run.figures)} "
              f"figures; peak {peak_mib():.0f} MiB")
        results = score(suite, run, {"double": [[2.0], [5.0]]}, {"answer": 42})
        record = json.loads(json.dumps(grade_record(Grade("mallory", results, run, "mallory.ipynb"))))
        grade = grade_from_record(record)
        reports = folder / "reports"
        reports.mkdir()
        write_reports([grade], suite, reports)
        print(f"scored, record {len(json.dumps(record)) / 2**20:.1f} MiB, reports written "
              f"(feedback {(reports / 'feedback' / 'mallory.html').stat().st_size / 2**20:.1f} MiB); "
              f"peak {peak_mib():.0f} MiB; {time.perf_counter() - start:.1f} s")
        notebook = folder / "wide.ipynb"
        items = MAX_JSON_VALUES - 64
        before = peak_mib()
        data, problem = load_submission(notebook)
        print(f"notebook of {notebook.stat().st_size / 2**20:.1f} MiB with {items} values: "
              f"{'loaded' if data else 'refused: ' + problem[:80]}; peak {peak_mib():.0f} MiB (before {before:.0f})")
    print(f"grader's peak resident memory: {peak_mib():.0f} MiB ({peak_mib() - baseline:+.0f} MiB over the baseline)")


if __name__ == "__main__":
    main()
