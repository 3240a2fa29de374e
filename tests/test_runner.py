"""tools/run_notebooks.py: the main job writes executed notebooks, HTML and results; failures never show
figures the run did not produce."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.report import RESULTS_METADATA_KEY

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tools" / "run_notebooks.py"


def _write(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[-1].metadata["tags"] = ["results"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _with_stale_outputs(path: Path) -> None:
    """Give every cell of ``path`` outputs from an 'earlier run': a stale figure in the results cell."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"stale output {i}\n")]
    nb.cells[-1].outputs = [nbformat.v4.new_output(
        "display_data", data={"text/plain": "Results of 92_bad\n  landmark_detection_rate  0.999"},
        metadata={RESULTS_METADATA_KEY: {"notebook": "92_bad", "results": {"landmark_detection_rate": 0.999}}})]
    nbformat.write(nb, path)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=600)


def test_main_job_reports_a_failing_notebook_without_stale_figures(tmp_path):
    good, bad = tmp_path / "91_good.ipynb", tmp_path / "92_bad.ipynb"
    _write(good, ["from course_utils.report import Report\nr = Report('91_good')\nr.record('answer', 42)", "r"])
    _write(bad, ["print('before')", "1 / 0", "never = True", "r"])
    _with_stale_outputs(bad)  # the committed copy carries figures of an earlier, successful run
    committed = bad.read_bytes()
    out = tmp_path / "build"
    done = _run("--out", str(out), str(bad), str(good))  # the failing one first: the other still runs

    assert done.returncode == 1
    assert "FAILED 92_bad.ipynb, cell 2 ('1 / 0'): ZeroDivisionError: division by zero" in done.stderr
    assert "1 of 2 notebooks failed" in done.stderr
    # No figure of the failed notebook anywhere: not in results.json, not in the printed summary.
    assert json.loads((out / "results.json").read_text()) == {"91_good": {"answer": 42}}
    assert "0.999" not in done.stdout and "landmark_detection_rate" not in done.stdout
    assert "| 91_good | `answer` | 42 |" in done.stdout
    assert "| 92_bad | **FAILED**, no results | cell 2 ('1 / 0'): ZeroDivisionError: division by zero |" in done.stdout
    assert "92_bad                   FAILED" in done.stdout
    status = json.loads((out / "status.json").read_text())
    assert status["92_bad"] == {"status": "failed", "seconds": status["92_bad"]["seconds"], "cell": 2,
                                "cell_source": "1 / 0", "error": "ZeroDivisionError: division by zero"}
    assert status["91_good"]["status"] == "ok" and status["91_good"]["n_results"] == 1
    for stem in ("91_good", "92_bad"):  # nothing is lost: both executed copies and HTML exist
        assert (out / "notebooks" / f"{stem}.ipynb").exists() and (out / "html" / f"{stem}.html").exists()
    partial = nbformat.read(out / "notebooks" / "92_bad.ipynb", as_version=4)
    assert partial.cells[0].outputs == [nbformat.v4.new_output("stream", name="stdout", text="before\n")]
    assert partial.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert [c.outputs for c in partial.cells[2:]] == [[], []]  # below the error: empty, not stale
    assert [c.execution_count for c in partial.cells[2:]] == [None, None]
    assert "stale output" not in (out / "html" / "92_bad.html").read_text()
    assert "0.999" not in (out / "html" / "92_bad.html").read_text()
    assert bad.read_bytes() == committed  # the committed notebooks are not touched
    assert all(not c.outputs for c in nbformat.read(good, as_version=4).cells)


def test_successful_run_replaces_stale_outputs(tmp_path):
    nb = tmp_path / "93_ok.ipynb"
    _write(nb, ["from course_utils.report import Report\nr = Report('93_ok')\nr.record('x', 1.5)",
                "print('fresh')", "r"])
    _with_stale_outputs(nb)
    out = tmp_path / "build"
    done = _run("--out", str(out), str(nb))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "results.json").read_text()) == {"93_ok": {"x": 1.5}}
    executed = nbformat.read(out / "notebooks" / "93_ok.ipynb", as_version=4)
    assert executed.cells[0].outputs == []  # record() prints nothing: the stale output is gone
    assert executed.cells[1].outputs[0]["text"] == "fresh\n"
    assert "0.999" not in done.stdout


def test_refresh_in_place_never_writes_a_failed_run_over_the_committed_notebook(tmp_path):
    good, bad = tmp_path / "94_good.ipynb", tmp_path / "95_bad.ipynb"
    _write(good, ["from course_utils.report import Report\nr = Report('94_good')\nr.record('y', 7)", "r"])
    _write(bad, ["raise RuntimeError('data folder missing')", "r"])
    _with_stale_outputs(bad)
    committed = bad.read_bytes()
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold table\n<!-- results:end -->\nend\n")
    out = tmp_path / "build"
    done = _run("--in-place", "--readme", str(readme), "--out", str(out), str(good), str(bad))

    assert done.returncode == 1
    assert bad.read_bytes() == committed  # last good outputs kept (nbval compares them)
    assert f"NOT refreshed: {bad} keeps its committed outputs" in done.stderr
    assert "FAILED 95_bad.ipynb, cell 1 (\"raise RuntimeError('data folder missing')\"): " \
           "RuntimeError: data folder missing" in done.stderr
    failed_copy = nbformat.read(out / "notebooks" / "95_bad.ipynb", as_version=4)
    assert failed_copy.cells[0].outputs[0]["ename"] == "RuntimeError" and failed_copy.cells[1].outputs == []
    refreshed = nbformat.read(good, as_version=4)  # the good one is refreshed in place
    assert refreshed.cells[-1].outputs[0]["metadata"][RESULTS_METADATA_KEY]["results"] == {"y": 7}
    assert "| 95_bad | **FAILED**, no results |" in done.stdout and "0.999" not in done.stdout
    text = readme.read_text()  # README's table is rewritten from the repository's committed notebooks
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("end\n")


def test_unreadable_notebook_is_a_failure_and_the_others_run(tmp_path):
    broken, good = tmp_path / "96_broken.ipynb", tmp_path / "97_good.ipynb"
    broken.write_text("{ not json")
    _write(good, ["from course_utils.report import Report\nr = Report('97_good')\nr.record('z', 3)", "r"])
    out = tmp_path / "build"
    done = _run("--out", str(out), str(broken), str(good))
    assert done.returncode == 1
    assert "FAILED 96_broken.ipynb, before its first cell: cannot read the notebook" in done.stderr
    assert json.loads((out / "results.json").read_text()) == {"97_good": {"z": 3}}
    assert json.loads((out / "status.json").read_text())["96_broken"]["status"] == "failed"


# ---------------------------------------------------------------- issue 27: nothing from an earlier run survives


def test_an_unreadable_notebook_removes_the_copies_of_its_earlier_run(tmp_path):
    nb = tmp_path / "98_later_broken.ipynb"
    out = tmp_path / "build"
    for folder, name in (("notebooks", nb.name), ("html", "98_later_broken.html")):
        (out / folder).mkdir(parents=True, exist_ok=True)
        (out / folder / name).write_text("earlier run: figure 0.999")
    (out / "results.json").write_text('{"98_later_broken": {"old": 0.999}, "00_gone": {"x": 1}}')
    nb.write_text("{ not json")
    done = _run("--out", str(out), str(nb))
    assert done.returncode == 1
    assert not (out / "notebooks" / nb.name).exists() and not (out / "html" / "98_later_broken.html").exists()
    assert json.loads((out / "results.json").read_text()) == {}  # replaced whole: no earlier notebook's figures
    assert set(json.loads((out / "status.json").read_text())) == {"98_later_broken"}
    assert not list(out.glob(".*.tmp"))  # the atomic writes leave no temporary file


def test_json_files_are_replaced_atomically(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_notebooks", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_notebooks", runner)  # dataclasses look their module up
    spec.loader.exec_module(runner)
    target = tmp_path / "status.json"
    target.write_text('{"old": 1}')
    replaced = []
    monkeypatch.setattr(runner.os, "replace", lambda src, dst: replaced.append((Path(src), Path(dst))))
    runner.write_json(target, {"new": 2})  # the write goes to a temporary file; only os.replace touches target
    assert target.read_text() == '{"old": 1}'
    (source, destination), = replaced
    assert destination == target and source.parent == target.parent and json.loads(source.read_text()) == {"new": 2}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_is_marked_interrupted_with_its_signal(tmp_path, signum):
    started = tmp_path / "started"
    slow, after = tmp_path / "81_slow.ipynb", tmp_path / "82_after.ipynb"
    _write(slow, ["from course_utils.report import Report\nr = Report('81_slow')\nr.record('a', 1)",
                  f"import pathlib, time\npathlib.Path({str(started)!r}).write_text('x')\ntime.sleep(120)", "r"])
    _write(after, ["from course_utils.report import Report\nr = Report('82_after')\nr.record('b', 2)", "r"])
    out = tmp_path / "build"
    process = subprocess.Popen([sys.executable, str(RUNNER), "--out", str(out), str(slow), str(after)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the notebook never reached its cell"
            time.sleep(0.2)
        status = json.loads((out / "status.json").read_text())  # while it runs
        assert status == {"81_slow": {"status": "running"}, "82_after": {"status": "pending"}}
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr
    status = json.loads((out / "status.json").read_text())
    assert status["81_slow"]["status"] == "interrupted" and status["81_slow"]["signal"] == name
    assert status["81_slow"]["error"] == f"interrupted by {name}" and status["81_slow"]["cell"] == 2
    assert status["82_after"] == {"status": "not run"}
    assert json.loads((out / "results.json").read_text()) == {}
    assert "AssertionError" not in stderr and f"Interrupted by {name}; not run: 82_after." in stderr
    assert "81_slow                  INTERRUPTED" in stdout
