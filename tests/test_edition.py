"""The student edition (course_utils.instructor.edition), the notebooks' set-up cell (course_utils.install) and
what every install path gives a student: no answer in the wheels, the sdist or the edition."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_utils import __version__, install
from course_utils.instructor import edition as E
from course_utils.instructor.release import BEGIN_SOLUTION, ReleaseError, exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
URL = "https://github.com/example-org/ml-course"
SOLUTION_TEXTS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition")
    E.build_edition(out, url=URL)
    return out


def _solution_lines() -> set[str]:
    """The lines that only the solution regions of the instructor notebooks hold (the answers themselves):
    longer than 30 characters, and found nowhere outside a solution region of any notebook (not even quoted)."""
    inside_lines, outside_lines = set(), set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if line.strip() == BEGIN_SOLUTION:
                    inside = True
                elif line.strip() == "### END SOLUTION":
                    inside = False
                else:
                    (inside_lines if inside else outside_lines).add(line.strip())
    outside_text = "\n".join(outside_lines)  # a line the prose quotes (e.g. in backticks) is no secret
    return {line for line in inside_lines if len(line) > 30 and line not in outside_text}


def assert_no_answer(names: list[str], texts: dict[str, str]) -> None:
    """No instructor file among ``names``, no solution marker in any of ``texts``, no solution line in a notebook.

    (The package's own code is kept from reproducing answers by check-release's leak check, which calls it.)
    """
    assert E.answer_files(names) == []
    solutions = _solution_lines()
    assert len(solutions) > 50
    for name, text in texts.items():
        assert not any(marker in text for marker in SOLUTION_TEXTS), name
        found = [line for line in solutions if line in text] if name.endswith(".ipynb") else []
        assert not found, f"{name} holds solution lines: {found[:3]}"


def _first_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


# ----------------------------------------------------------------------------- the edition itself

def test_edition_is_a_complete_repository_without_answers(edition):
    assert E.edition_problems(edition) == []
    names = sorted(str(p.relative_to(edition)) for p in edition.rglob("*") if p.is_file())
    assert {"README.md", "DATA.md", "pyproject.toml", "requirements.txt", ".gitignore"} <= set(names)
    assert [n for n in names if n.endswith(".ipynb")] == [p.name for p in NOTEBOOKS]
    assert not (edition / "course_utils" / "instructor").exists()
    assert not (edition / "course_utils" / "__main__.py").exists()
    assert (edition / "course_utils" / "install.py").exists() and (edition / "course_utils" / "vae.py").exists()
    texts = {n: (edition / n).read_text(encoding="utf-8") for n in names if n.endswith((".py", ".ipynb", ".md"))}
    assert_no_answer(names, texts)


def test_edition_notebooks_install_the_kit_from_the_url_and_keep_their_exercises(edition):
    for path in NOTEBOOKS:
        student = json.loads((edition / path.name).read_text(encoding="utf-8"))
        code = [c for c in student["cells"] if c["cell_type"] == "code"]
        assert "".join(code[0]["source"]) == install.cell_text("git+" + URL)
        assert code[0]["outputs"] == [] and all(c["outputs"] == [] for c in code)
        instructor = json.loads(path.read_text(encoding="utf-8"))
        assert len(student["cells"]) == len(instructor["cells"])
        stubs = sum("raise NotImplementedError()" in "".join(c["source"]) for c in code)
        assert stubs >= len(exercises(instructor)) > 0


def test_edition_pyproject_readme_and_links(edition):
    project = tomllib.loads((edition / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["urls"] == {"Repository": URL}
    assert tomllib.loads((edition / "pyproject.toml").read_text())["tool"]["course-kit"]["source"] == "git+" + URL
    assert project["name"] == ours["name"] and project["version"] == ours["version"]
    assert project["dependencies"] == ours["dependencies"]
    assert set(project["optional-dependencies"]) == {"faces"}
    assert "scripts" not in project
    readme = (edition / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        link = f"https://colab.research.google.com/github/example-org/ml-course/blob/main/{path.name}"
        assert f"[Open in Colab]({link})" in readme
        title = E.notebook_title(json.loads(path.read_text(encoding="utf-8")), "")
        assert title and title in readme
    assert "about 17 min" in readme  # notebook 05: 1029 s, the committed full run
    assert "RaFD" in (edition / "DATA.md").read_text(encoding="utf-8")


def test_edition_requirements_are_a_consistent_subset_of_the_lock(edition):
    lock = E.read_lock(ROOT / "requirements.txt")
    lines = [line for line in (edition / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    pins = {canonicalize_name(Requirement(line).name): line for line in lines}
    assert set(pins.values()) <= set(lock.values())
    assert {"tensorflow", "keras", "mediapipe", "jupyterlab", "pooch", "tensorflow-probability"} <= set(pins)
    assert not {"pytest", "nbval", "ruff", "dask", "distributed", "build", "jinja2-cli"} & set(pins)
    assert len(pins) < len(lock)
    for name in pins:  # closed: what each needs here is pinned too (or is a packaging tool every venv has)
        for line in metadata.requires(name) or []:
            child = Requirement(line)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                assert canonicalize_name(child.name) in pins or canonicalize_name(child.name) in E.UNPINNED, (
                    name, line)


def test_edition_without_url_builds_but_fails_the_check_and_has_no_colab_links(tmp_path):
    E.build_edition(tmp_path / "e", url=None, notebooks=NOTEBOOKS[:1])
    problems = E.edition_problems(tmp_path / "e")
    assert len(problems) == 1 and "--url" in problems[0]
    assert "Open in Colab" not in (tmp_path / "e" / "README.md").read_text(encoding="utf-8")
    assert _first_code(tmp_path / "e" / NOTEBOOKS[0].name) == install.cell_text("")


def test_edition_with_a_local_url_names_it_and_rebuilds_whole(tmp_path):
    out = tmp_path / "e"
    E.build_edition(out, url="git+file:///srv/course", notebooks=NOTEBOOKS[:2])
    (out / "stale.txt").write_text("from an earlier build")
    E.build_edition(out, url="git+file:///srv/course", notebooks=NOTEBOOKS[:1])
    assert not (out / "stale.txt").exists() and not (out / NOTEBOOKS[1].name).exists()
    assert 'KIT = "git+file:///srv/course"' in _first_code(out / NOTEBOOKS[0].name)
    project = tomllib.loads((out / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "urls" not in project  # setuptools takes web addresses only
    tool = tomllib.loads((out / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["course-kit"]
    assert tool == {"source": "git+file:///srv/course"} and E.edition_problems(out) == []
    assert "not a GitHub repository" in (out / "README.md").read_text(encoding="utf-8")


def test_edition_refuses_a_folder_that_is_not_an_edition(tmp_path):
    (tmp_path / "mine.txt").write_text("the instructor's own file")
    with pytest.raises(ReleaseError, match="not empty"):
        E.build_edition(tmp_path, url=URL, notebooks=NOTEBOOKS[:1])
    assert (tmp_path / "mine.txt").exists()


def test_edition_check_finds_planted_answers(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition, copy)
    assert E.edition_problems(copy) == []
    (copy / "course_utils" / "instructor").mkdir()
    (copy / "course_utils" / "instructor" / "reference.py").write_text("x = 1\n")
    (copy / "course_utils" / "extra.py").write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    (copy / "README.md").write_text("nothing\n")
    problems = " | ".join(E.edition_problems(copy))
    assert "course_utils/instructor" in problems and "extra.py: holds a solution" in problems
    assert "README.md does not name 01_pca.ipynb" in problems


def test_answer_files_names_instructor_material():
    names = ["course_utils/vae.py", "course_utils/instructor/reference/pca.py", "pkg-1.0/grading/01_pca.py",
             "tests/test_pca.py", "course_utils/tests_helper.py", "tools"]
    assert E.answer_files(names) == names[1:4]


@pytest.mark.parametrize("url, expected", [
    ("https://github.com/org/course", ("org", "course")), ("https://github.com/org/course.git", ("org", "course")),
    ("git+https://github.com/org/course", ("org", "course")), ("https://gitlab.com/org/course", None),
    ("https://github.com/org", None), ("http://github.com/org/course", None)])
def test_github_repository(url, expected):
    assert E.github_repository(url) == expected


def test_pip_source_and_cell_text(tmp_path):
    assert install.pip_source("https://github.com/o/r") == "git+https://github.com/o/r"
    assert install.pip_source("git+file:///x/y") == "git+file:///x/y"
    assert install.pip_source(str(tmp_path)) == tmp_path.resolve().as_uri()
    for bad in ['x"; import os; "', "a\\b", "a\nb", "{KIT}"]:
        with pytest.raises(ValueError, match="not allowed"):
            install.cell_text(bad)


def test_notebook_seconds_prefers_timing_metadata():
    cell = {"cell_type": "code", "metadata": {"execution": {"iopub.execute_input": "2026-01-01T10:00:00.000Z",
                                                            "shell.execute_reply": "2026-01-01T10:01:30.500Z"}}}
    assert E.notebook_seconds({"cells": [cell, cell]}, "01_pca") == pytest.approx(181.0)
    assert E.notebook_seconds({"cells": []}, "01_pca") == E.MEASURED_SECONDS["01_pca"]
    assert E.notebook_seconds({"cells": []}, "99_new") is None


# ----------------------------------------------------------------------------- the set-up cell's installer

def test_requirements_come_from_the_pyproject_beside_the_package():
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert install.requirements(()) == ours["dependencies"]
    assert install.requirements(("faces",)) == ours["dependencies"] + ours["optional-dependencies"]["faces"]


def test_unmet_keeps_the_host_stack_and_installs_the_rest():
    numpy = metadata.version("numpy")
    to_install, conflicts = install.unmet(["numpy>=1", "numpy>=999", "pooch>=999", "no-such-dist-ck", "scipy"])
    assert to_install == ["pooch>=999", "no-such-dist-ck"]
    assert conflicts == [f"numpy {numpy} (the kit needs numpy>=999)"]
    with pytest.raises(RuntimeError, match="does not replace"):
        install.install_missing(wanted=["numpy>=999"])


def test_complete_says_in_one_line_that_nothing_is_missing(capsys):
    assert install.complete() is None and install.install_missing(quiet=True) == []
    assert capsys.readouterr().out == f"course kit {__version__}: every dependency is installed; nothing to do.\n"


def test_complete_installs_the_missing_with_the_host_pinned(local_index, capsys):
    """A real pip install, from a local index only, of a missing distribution: the constraints pin the host."""
    local_index("ckmissingdemo", "1.0", {"ckmissingdemo/__init__.py": b"VALUE = 42\n",
                                         "ckmissingdemo-1.0.dist-info/RECORD": b""})  # pip writes the real one
    assert install.installed_version("ckmissingdemo") is None
    try:
        assert install.install_missing(wanted=["ckmissingdemo>=1", "numpy"]) == ["ckmissingdemo>=1"]
        line = capsys.readouterr().out
        assert line.count("\n") == 1 and "installing ckmissingdemo" in line and line.endswith("done.\n")
        assert metadata.version("ckmissingdemo") == "1.0"
        assert install.install_missing(wanted=["ckmissingdemo>=1"]) == []  # a second run: nothing to do
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "ckmissingdemo"], check=True)


def test_host_pins_cover_the_stack_and_one_cv2():
    pins = install.host_pins()
    assert pins["numpy"] == metadata.version("numpy") and pins["tensorflow"] == metadata.version("tensorflow")
    assert "pooch" not in pins
    if any(name.startswith("opencv") for name in pins):
        assert "opencv-contrib-python" in pins


def test_the_cell_without_the_kit_or_a_url_says_what_to_do(tmp_path):
    hide = "import sys; sys.modules['course_utils'] = None\n"  # find_spec("course_utils") is now None
    run = subprocess.run([sys.executable, "-c", hide + install.cell_text("")], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode != 0 and "RuntimeError: The course kit is not installed" in run.stderr


# ----------------------------------------------------------------------------- the built distributions

def _checkout_copy(destination: Path) -> Path:
    """The repository's tracked and new files (not ignored ones: no .venv, build/, caches) in ``destination``."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _members(dist: Path) -> dict[str, bytes]:
    if dist.suffix == ".whl":
        with zipfile.ZipFile(dist) as archive:
            return {n: archive.read(n) for n in archive.namelist()}
    with tarfile.open(dist) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


@pytest.mark.network  # the isolated build environment gets setuptools from the package index
def test_wheels_and_sdist_hold_no_answer(tmp_path, edition):
    """The repository's wheel and sdist (the pip and Colab paths) and the edition's wheel: no reference answer,
    no grading module, no solution block."""
    checkout = _checkout_copy(tmp_path / "checkout")
    built = {}
    for name, folder, kinds in [("repository", checkout, ["--sdist", "--wheel"]), ("edition", edition, ["--wheel"])]:
        out = tmp_path / f"dist-{name}"
        run = subprocess.run([sys.executable, "-m", "build", *kinds, "--outdir", str(out), str(folder)],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        built[name] = sorted(out.iterdir())
    assert sorted(p.suffix for p in built["repository"]) == [".gz", ".whl"] and len(built["edition"]) == 1
    for dist in built["repository"] + built["edition"]:
        members = _members(dist)
        texts = {n: b.decode("utf-8", "replace") for n, b in members.items() if n.endswith((".py", ".ipynb"))}
        assert any(n.endswith("course_utils/vae.py") for n in members), dist.name
        assert not any("instructor" in n.split("/") for n in members), dist.name
        assert_no_answer(list(members), texts)
