"""Installation: where course files are found, the notebooks' install cell, the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from course_utils import environment
from course_utils.data.loaders import COURSE_DIR_ENV, course_dir


def test_course_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(COURSE_DIR_ENV, str(tmp_path / "mine"))
    assert course_dir() == tmp_path / "mine"


def test_course_dir_is_found_from_the_working_directory_not_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv(COURSE_DIR_ENV, raising=False)
    (tmp_path / "data" / "course").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # a notebook runs in notebooks/: ../data/course
    assert course_dir() == tmp_path / "data" / "course"
    monkeypatch.chdir(tmp_path)  # a command runs in the repository root: ./data/course
    assert course_dir() == tmp_path / "data" / "course"
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)  # nothing there: ./data/course, which does not exist (stand-ins are used)
    assert course_dir() == elsewhere / "data" / "course"
    assert Path(__file__).resolve().parents[1] not in course_dir().parents


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import install_cell  # noqa: E402  (tools/install_cell.py)


def _cell_source() -> str:
    return install_cell.cell_text(install_cell.default_source())


def test_every_notebook_has_the_current_install_cell():
    assert install_cell.main(["--check"]) == 0, "run `python tools/install_cell.py`"


def test_install_cell_script_is_idempotent_and_keeps_a_clean_run_numbered(tmp_path):
    path = tmp_path / "01_pca.ipynb"
    original = json.loads((ROOT / "notebooks" / "01_pca.ipynb").read_text(encoding="utf-8"))
    original["cells"] = [c for c in original["cells"] if "install-kit" not in c["metadata"].get("tags", [])]
    code = [c for c in original["cells"] if c["cell_type"] == "code"]
    for number, cell in enumerate(code, start=1):
        cell["execution_count"] = number
    path.write_text(json.dumps(original), encoding="utf-8")
    text = _cell_source()
    assert install_cell.apply(path, text) is True
    once = path.read_text(encoding="utf-8")
    assert install_cell.apply(path, text) is False
    assert path.read_text(encoding="utf-8") == once
    cells = [c for c in json.loads(once)["cells"] if c["cell_type"] == "code"]
    assert "install-kit" in cells[0]["metadata"]["tags"] and "".join(cells[0]["source"]) == text
    assert "".join(cells[0]["outputs"][0]["text"]).endswith("nothing to do.\n")  # what running it printed
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    assert sum("install-kit" in c["metadata"].get("tags", []) for c in cells) == 1
    assert install_cell.apply(path, text.replace("Set-up:", "Set-up (new):")) is True  # updated, not duplicated
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    assert sum("install-kit" in c["metadata"].get("tags", []) for c in cells) == 1


def test_install_cell_says_in_one_line_that_the_installed_kit_is_complete(tmp_path):
    run = subprocess.run([sys.executable, "-c", _cell_source()], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("every dependency is installed; nothing to do.\n") and run.stdout.count("\n") == 1
    assert run.stderr == ""


def test_environment_probe_accepts_this_python_and_explains_a_missing_one():
    version, why = environment.probe([sys.executable])
    assert why == "" and version[:2] == sys.version_info[:2]
    version, why = environment.probe([str(ROOT / "no-such-python")])
    assert version is None and "does not run" in why


def test_command_line_lists_every_make_target_and_refuses_a_wrong_folder(tmp_path):
    run = subprocess.run([sys.executable, "-m", "course_utils", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0
    for target in ("env", "run", "test", "nbval", "refresh", "data", "release", "check-release", "grade",
                   "grade-demo"):
        assert f" {target} " in run.stdout or f"\n    {target}\n" in run.stdout, target
    run = subprocess.run([sys.executable, "-m", "course_utils", "run"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0 and "repository root" in run.stderr
