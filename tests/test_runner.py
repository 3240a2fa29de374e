"""tools/run_notebooks.py: the main job writes executed notebooks, HTML and results; failures are kept."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[-1].metadata["tags"] = ["results"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_main_job_on_two_small_notebooks(tmp_path):
    good, bad = tmp_path / "91_good.ipynb", tmp_path / "92_bad.ipynb"
    _write(good, ["from course_utils.report import Report\nr = Report('91_good')\nr.record('answer', 42)", "r"])
    _write(bad, ["print('before')", "1 / 0", "never = True"])
    out = tmp_path / "build"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(out),
                           str(good), str(bad)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1  # one notebook failed ...
    assert "FAILED 92_bad.ipynb" in done.stderr and "ZeroDivisionError" in done.stderr
    assert json.loads((out / "results.json").read_text()) == {"91_good": {"answer": 42}, "92_bad": {}}
    assert "| 91_good | `answer` | 42 |" in done.stdout
    for stem in ("91_good", "92_bad"):  # ... but nothing is lost: both executed copies and HTML exist
        assert (out / "notebooks" / f"{stem}.ipynb").exists() and (out / "html" / f"{stem}.html").exists()
    partial = nbformat.read(out / "notebooks" / "92_bad.ipynb", as_version=4)
    assert partial.cells[0].outputs[0]["text"] == "before\n"
    assert partial.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert all(not c.outputs for c in nbformat.read(good, as_version=4).cells)  # inputs left unexecuted
