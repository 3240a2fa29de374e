"""The student edition: a folder that is a complete repository a course can publish as it is.

``python -m course_utils release --out release --url https://github.com/ORG/COURSE`` writes

* the student notebooks (:func:`~course_utils.instructor.release.student_notebook`: solutions stubbed, hidden
  tests removed, model answers blanked, outputs cleared), each with its first cell installing the kit from
  ``--url`` where it is missing (see :mod:`course_utils.install`);
* ``course_utils/`` without ``instructor/`` (grader, reference answers) and the maintainer's command line;
* ``pyproject.toml`` of its own: the kit's name and version, ``[project.urls] Repository`` from an
  ``https://`` ``--url`` (setuptools takes no other), ``[tool.course-kit] source`` (what the notebooks install
  from), the student's dependencies and the ``faces`` extra, no instructor or development extra;
* ``requirements.txt``: the pins of the repository's lock that a student's environment needs (the kit's
  dependencies with the ``faces`` extra, and JupyterLab), found by following the installed distributions'
  requirements, so it is a consistent subset of the tested lock;
* ``README.md`` for students (each notebook, its run time, an "Open in Colab" link built from ``--url`` when
  it is a GitHub repository, JupyterHub, a local venv) and ``DATA.md``, the data's sources and licences.

Nothing of ``course_utils/instructor``, ``grading/``, ``tests/`` or ``tools/`` is copied, and no solution or
hidden-test marker survives: :func:`edition_problems` checks both (``check-release`` runs it).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..install import cell_text, pip_source
from .release import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    FORBIDDEN,
    ReleaseError,
    cell_source,
    exercises,
    student_notebook,
)

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TAG = "install-kit"
EDITION_MARK = ".course-kit-edition"
"""A file in every edition folder: only such a folder (or an empty one) is overwritten by a new build."""
PACKAGE_LEAVE_OUT = shutil.ignore_patterns("__pycache__", "*.pyc", "instructor", "__main__.py", "environment.py")
"""What the edition leaves out of ``course_utils``: the instructor side and the maintainer's command line."""
STUDENT_EXTRAS = ("faces",)
STUDENT_TOOLS = ("jupyterlab",)
"""Beyond the kit's own dependencies, what a student's local environment needs to open the notebooks."""
UNPINNED = frozenset({"pip", "setuptools", "wheel"})
"""Packaging tools that a lock leaves to the environment (pip freeze omits them; every venv has pip)."""
MEASURED_SECONDS = {"01_pca": 9, "02_diffusion_maps": 26, "03_mnist_vae": 685, "04_fire_evacuation": 245,
                    "05_rafd_multimodal": 1029, "06_gmm_vae": 123, "07_landmark_vae": 288}
"""Seconds of the committed full runs on 2 shared cores (``tools/run_notebooks.py --in-place``, README), used
where a notebook carries no nbclient timing metadata of its own."""


@dataclass(frozen=True)
class NotebookInfo:
    """What the student README says of one notebook."""

    name: str
    title: str
    minutes: int
    colab: str | None


def github_repository(url: str) -> tuple[str, str] | None:
    """``(owner, name)`` of a ``https://github.com/OWNER/NAME`` URL (with or without ``.git``), else ``None``."""
    parsed = urlparse(url.removeprefix("git+"))
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.scheme != "https" or parsed.netloc.lower() != "github.com" or len(parts) != 2:
        return None
    return parts[0], parts[1].removesuffix(".git")


def repository_url(url: str) -> str:
    """``url`` as ``[project.urls]`` takes it (a plain URL): without pip's ``git+``, a local folder as
    ``file://``."""
    url = url.removeprefix("git+")
    return url if "://" in url or url.startswith("file:") else Path(url).resolve().as_uri()


def colab_link(url: str, branch: str, notebook: str) -> str | None:
    """The "Open in Colab" address of ``notebook`` in the GitHub repository ``url``, or ``None`` elsewhere."""
    repository = github_repository(url)
    if repository is None:
        return None
    owner, name = repository
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{notebook}"


def notebook_seconds(notebook: dict, stem: str) -> float | None:
    """Run time of a committed notebook: the sum of its cells' nbclient timing metadata, else the measured
    figure of :data:`MEASURED_SECONDS`, else ``None``."""
    from datetime import datetime

    total, timed = 0.0, False
    for cell in notebook.get("cells", []):
        execution = cell.get("metadata", {}).get("execution", {})
        start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
        if start and end:
            total += (datetime.fromisoformat(end.replace("Z", "+00:00"))
                      - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            timed = True
    return total if timed else MEASURED_SECONDS.get(stem)


def notebook_title(notebook: dict, fallback: str) -> str:
    """The first Markdown heading of a notebook, without its ``#`` marks."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in cell_source(cell).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def with_install_cell(notebook: dict, source: str, name: str) -> dict:
    """The notebook with its ``install-kit`` cell's source set to the cell that installs from ``source``."""
    cells = [c for c in notebook.get("cells", []) if INSTALL_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ReleaseError(f"{name}: expected one cell tagged {INSTALL_TAG!r}, found {len(cells)}; run "
                           "`python tools/install_cell.py`.")
    text = cell_text(source)
    parts = text.split("\n")
    cells[0]["source"] = [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return notebook


def read_lock(path: Path) -> dict[str, str]:
    """``{canonical name: "name==version"}`` of a requirements lock (comments and blank lines skipped)."""
    pins = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if len(requirement.specifier) != 1 or next(iter(requirement.specifier)).operator != "==":
            raise ReleaseError(f"{path}, line {number}: {raw!r} is not an exact pin (name==version).")
        pins[canonicalize_name(requirement.name)] = line
    return pins


def closure(roots: list[str], lock: dict[str, str]) -> dict[str, str]:
    """The lock's pins for ``roots`` and everything they need, following the installed distributions'
    requirements (with the extras asked for). A requirement behind an environment marker counts where the
    marker holds here or the lock has that package (so the subset serves the lock's platforms, not only this
    one). Raises :class:`ReleaseError` for a needed package that the lock lacks."""
    found: dict[str, str] = {}
    queue = [(Requirement(r), None) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, parent = queue.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen or name in UNPINNED:
            continue
        seen.add(key)
        if name not in lock:
            raise ReleaseError(f"{name} (needed by {parent or 'the edition'}) is not in the lock; add it to "
                               "requirements.txt.")
        found[name] = lock[name]
        for line in metadata.requires(name) or []:
            child = Requirement(line)
            marker = child.marker
            if marker is not None:
                text = str(marker)
                if "extra" in text:
                    if not any(marker.evaluate({"extra": e}) for e in requirement.extras):
                        continue
                elif not marker.evaluate() and canonicalize_name(child.name) not in lock:
                    continue
            queue.append((child, name))
    return found


def _toml_list(items: list[str]) -> str:
    return "[\n" + "".join(f"    {json.dumps(i)},\n" for i in items) + "]"


def edition_pyproject(project: dict, url: str | None) -> str:
    """The edition's ``pyproject.toml``: the kit's metadata, dependencies and ``faces`` extra, and ``url``."""
    extras = project.get("optional-dependencies", {})
    lines = ['[build-system]', 'requires = ["setuptools>=64"]', 'build-backend = "setuptools.build_meta"', '',
             '[project]', f'name = {json.dumps(project["name"])}', f'version = {json.dumps(project["version"])}',
             f'description = {json.dumps(project.get("description", ""))}',
             f'requires-python = {json.dumps(project.get("requires-python", ">=3.11"))}', 'readme = "README.md"',
             f'dependencies = {_toml_list(project.get("dependencies", []))}', '',
             '[project.optional-dependencies]']
    lines += [f'{extra} = {_toml_list(extras.get(extra, []))}' for extra in STUDENT_EXTRAS]
    if url and repository_url(url).startswith(("https://", "http://")):  # setuptools takes web addresses only
        lines += ['', '[project.urls]', f'Repository = {json.dumps(repository_url(url))}']
    if url:
        lines += ['', '[tool.course-kit]', '# What the notebooks\' first cell installs the kit from (release --url).',
                  f'source = {json.dumps(pip_source(url))}']
    lines += ['', '[tool.setuptools.package-data]', 'course_utils = ["data/*.npz"]', '',
              '[tool.setuptools.packages.find]', 'include = ["course_utils*"]', '']
    text = "\n".join(lines)
    tomllib.loads(text)  # a URL or description that would break the file fails here, not in pip
    return text


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / EDITION_MARK).exists():
            raise ReleaseError(f"{out} is not empty and holds no earlier edition; build the edition into an empty "
                               "or new folder.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / EDITION_MARK).write_text("built by `python -m course_utils release`; rebuilt whole each time\n",
                                    encoding="utf-8")


def build_edition(out: Path, url: str | None = None, branch: str = "main", notebooks: list[Path] | None = None,
                  root: Path = ROOT) -> list[Path]:
    """Write the student edition into ``out`` (see the module docstring); return the student notebooks' paths.

    ``out`` must be empty, new, or an earlier edition (rebuilt whole). ``url`` is where the course publishes
    the edition: an ``https://`` repository (``git+`` is added for pip), a ``git+...`` URL or a local folder.

    Raises
    ------
    ReleaseError
        A notebook without exercise or install cell, broken markers, a lock that lacks a needed package, or a
        non-empty ``out`` that is not an edition.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    out = Path(out)
    notebooks = notebooks or sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    source = pip_source(url) if url else ""
    _prepare(out)
    written, infos = [], []
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if not exercises(notebook):
            raise ReleaseError(f"{path}: no exercise cell (a code cell with {BEGIN_SOLUTION!r}); nothing to release.")
        student = with_install_cell(student_notebook(notebook, path.name), source, path.name)
        target = out / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
        seconds = notebook_seconds(notebook, path.stem)
        infos.append(NotebookInfo(path.name, notebook_title(notebook, path.stem),
                                  max(1, round((seconds or 60) / 60)), colab_link(url, branch, path.name) if url
                                  else None))
    shutil.copytree(root / "course_utils", out / "course_utils", ignore=PACKAGE_LEAVE_OUT)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (out / "pyproject.toml").write_text(edition_pyproject(project, url), encoding="utf-8")
    roots = list(project.get("dependencies", []))
    for extra in STUDENT_EXTRAS:
        roots += project.get("optional-dependencies", {}).get(extra, [])
    pins = closure([*roots, *STUDENT_TOOLS], read_lock(root / "requirements.txt"))
    (out / "requirements.txt").write_text(
        "# The student environment: the pins of the course's tested lock that the kit's dependencies (with the\n"
        "# faces extra) and JupyterLab need. Install with: pip install -r requirements.txt -e .\n"
        + "".join(f"{pins[name]}\n" for name in sorted(pins)), encoding="utf-8")
    templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=False,
                            undefined=StrictUndefined, keep_trailing_newline=True)
    context = {"project": project, "url": url, "source": source, "branch": branch, "notebooks": infos,
               "packages": len(pins), "colab": any(i.colab for i in infos)}
    (out / "README.md").write_text(templates.get_template("edition_README.md.j2").render(context), encoding="utf-8")
    shutil.copy2(root / "docs" / "data-licences.md", out / "DATA.md")
    (out / "data" / "course").mkdir(parents=True)
    (out / "data" / "course" / "README.md").write_text(
        "Put the course's own data files here (see DATA.md); the notebooks use them instead of the stand-ins.\n",
        encoding="utf-8")
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\ndata/course/*\n"
                                    "!data/course/README.md\n", encoding="utf-8")
    problems = edition_problems(out, require_url=False)
    if problems:
        raise ReleaseError(f"{out}: " + "; ".join(problems))
    return written


_MARKERS = re.compile("|".join(re.escape(m) for m in (BEGIN_SOLUTION, BEGIN_HIDDEN, "### END SOLUTION",
                                                      "### END HIDDEN TESTS")))


def answer_files(names: list[str]) -> list[str]:
    """Those of ``names`` (archive members or relative paths, ``/``-separated) that are instructor material:
    the instructor package (its reference answers and grader), ``grading/``, ``tests/`` or ``tools/``."""
    bad = []
    for name in names:
        parts = name.replace("\\", "/").split("/")
        for i in range(len(parts)):
            if "/".join(parts[i:i + 2]) == "course_utils/instructor" or (parts[i] in ("grading", "tests", "tools")
                                                                         and i + 1 < len(parts)):
                bad.append(name)
                break
    return bad


def edition_problems(out: Path, require_url: bool = True) -> list[str]:
    """What is wrong with the edition in ``out`` (empty when it is complete and holds no answer); with
    ``require_url``, an edition built without ``--url`` (its notebooks cannot install the kit from a link) too."""
    out = Path(out)
    problems = [f"{p.relative_to(out)} must not be in an edition" for p in (out / f for f in FORBIDDEN) if p.exists()]
    files = [p for p in out.rglob("*") if p.is_file()]
    problems += [f"{f}: instructor material" for f in answer_files([str(p.relative_to(out)) for p in files])]
    for path in files:
        if path.suffix in (".py", ".ipynb", ".md", ".toml", ".txt") and _MARKERS.search(
                path.read_text(encoding="utf-8", errors="replace")):
            problems.append(f"{path.relative_to(out)}: holds a solution or hidden-test marker")
    for name in ("pyproject.toml", "requirements.txt", "README.md", "DATA.md"):
        if not (out / name).is_file():
            problems.append(f"{name} is missing")
    if (out / "pyproject.toml").is_file():
        project = tomllib.loads((out / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
        source = tomllib.loads((out / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get(
            "course-kit", {}).get("source")
        if require_url and not source:
            problems.append("pyproject.toml names no source of the kit ([tool.course-kit] source): build with --url, "
                            "or the notebooks' first cell cannot install the kit from a link")
        if set(project.get("optional-dependencies", {})) - set(STUDENT_EXTRAS):
            problems.append("pyproject.toml offers extras beyond " + ", ".join(STUDENT_EXTRAS))
    notebooks = sorted(out.glob("[0-9][0-9]_*.ipynb"))
    readme = (out / "README.md").read_text(encoding="utf-8") if (out / "README.md").is_file() else ""
    problems += [f"README.md does not name {nb.name}" for nb in notebooks if nb.name not in readme]
    if not notebooks:
        problems.append("no student notebook")
    return problems
