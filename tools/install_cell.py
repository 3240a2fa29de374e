"""Insert or update the "install the kit if missing" cell: the first code cell of every notebook.

    python tools/install_cell.py [NOTEBOOK ...]          # default: notebooks/[0-9][0-9]_*.ipynb
    python tools/install_cell.py --check [NOTEBOOK ...]  # exit 1 if a notebook lacks the current cell

The cell (tag ``install-kit``, id ``install-kit``) does nothing, and prints nothing, when ``import
course_utils`` works: committed outputs and nbval stay valid. Where the kit is missing (Colab, a fresh
JupyterHub) it runs ONE ``pip install`` of the kit from its repository, with the ``faces`` extra:

- the source is ``$COURSE_KIT_SOURCE`` (a pip requirement target: ``git+https://...``, a folder, a wheel),
  else the checkout the notebook sits in (its working directory or the parent holding ``course_utils/``),
  else the repository URL given here by ``--source`` (default: ``[project.urls] Repository`` of
  pyproject.toml, if set);
- the host's stack is kept: every installed distribution of TensorFlow, Keras, JAX, PyTorch, NumPy, pandas,
  SciPy, Matplotlib, protobuf, h5py, ml-dtypes, the Jupyter/IPython kernel stack and OpenCV is pinned to its
  installed version with a pip constraints file, so pip adds what is missing (e.g. mediapipe, pooch) and
  fails with a message instead of replacing a host package;
- one ``cv2``: if the host already has an OpenCV distribution (Colab has three), mediapipe's
  ``opencv-contrib-python`` is pinned to the host's cv2 version, so no second, different cv2 is unpacked
  over the first.

Idempotent: running it again changes nothing; an outdated cell is replaced in place, never duplicated.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TAG = "install-kit"
SOURCE_PLACEHOLDER = "@KIT_SOURCE@"

CELL_TEMPLATE = '''\
# Installs the course kit if it is missing (e.g. on Colab); silent when it is installed. See README, "Install".
try:
    import course_utils  # noqa: F401
except ImportError as missing:
    import importlib
    import importlib.metadata
    import os
    import pathlib
    import re
    import subprocess
    import sys
    import tempfile

    cwd = pathlib.Path.cwd()
    here = [p.as_uri() for p in (cwd, cwd.parent) if (p / "course_utils" / "__init__.py").is_file()]
    source = os.environ.get("COURSE_KIT_SOURCE") or (here + ["@KIT_SOURCE@"])[0]
    if not source:
        raise RuntimeError("The course kit is missing and this notebook is not in its repository: set "
                           "COURSE_KIT_SOURCE to the kit's repository (git+https://...) or folder, and run this cell "
                           "again.") from missing
    keep = ("tensorflow", "tf-keras", "keras", "jax", "torch", "numpy", "pandas", "scipy", "matplotlib", "protobuf",
            "h5py", "ml-dtypes", "ipython", "ipykernel", "jupyter", "notebook", "tornado", "pyzmq", "opencv")
    pins = {}  # the host's stack stays as it is: pip may add packages, not replace these
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
        if name.startswith(keep):
            pins.setdefault(name, dist.version)
    opencv = [v for n, v in pins.items() if n.startswith("opencv")]
    if opencv:  # one cv2: mediapipe's opencv-contrib-python at the version of the host's cv2
        pins.setdefault("opencv-contrib-python", opencv[0])
    with tempfile.NamedTemporaryFile("w", suffix="-host.txt", delete=False) as constraints:
        constraints.write("\\n".join(f"{n}=={v}" for n, v in pins.items()))
    print(f"Installing the course kit from {source} ...")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", constraints.name,
                          f"course-utils[faces] @ {source}"], capture_output=True, text=True)
    if pip.returncode:
        raise RuntimeError(f"pip could not install the kit:\\n{pip.stdout[-2000:]}{pip.stderr[-4000:]}") from missing
    importlib.invalidate_caches()
    import course_utils  # noqa: F401
'''


def default_source() -> str:
    """``git+<Repository URL>`` from pyproject.toml's ``[project.urls]``, or ``""`` when none is set."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    url = project.get("urls", {}).get("Repository", "")
    return f"git+{url}" if url and not url.startswith(("git+", "file:")) else url


def cell_text(source: str) -> str:
    """The cell's source with ``source`` as the fallback repository."""
    if '"' in source or "\\" in source:
        raise SystemExit(f"--source {source!r}: quotes and backslashes are not allowed in the URL.")
    return CELL_TEMPLATE.replace(SOURCE_PLACEHOLDER, source)


def renumber(notebook: nbformat.NotebookNode) -> None:
    """Number the code cells 1..N as a clean top-to-bottom run does, if the others were such a run.

    The install cell prints nothing where the kit is installed, so a re-run would give exactly these numbers;
    a notebook whose other cells are not numbered 1..N-1 (never executed, cleared) is left unnumbered.
    """
    code = [c for c in notebook.cells if c.cell_type == "code"]
    others = [c.execution_count for c in code if TAG not in c.metadata.get("tags", [])]
    if others != list(range(1, len(others) + 1)) and others != list(range(2, len(others) + 2)):
        return
    for number, cell in enumerate(code, start=1):
        cell.execution_count = number
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = number


def apply(path: Path, text: str, check: bool = False) -> bool:
    """Insert or update the install cell of the notebook ``path``; return True if it changed (or would)."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:  # a broken notebook file: say which one
        raise SystemExit(f"{path}: not a readable notebook ({exc}).") from exc
    cells = notebook.cells
    tagged = [i for i, c in enumerate(cells) if TAG in c.get("metadata", {}).get("tags", [])]
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    if tagged == [first_code] and cells[first_code].source == text:
        return False
    if check:
        return True
    for i in reversed(tagged):  # an outdated or misplaced copy: remove it, then insert the current one
        del cells[i]
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cell = nbformat.v4.new_code_cell(text, metadata={"tags": [TAG]})
    cell.id = TAG
    cells.insert(first_code, cell)
    renumber(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell is missing or outdated")
    parser.add_argument("--source", default=None, help="repository the cell installs from when no checkout is found "
                        "(default: [project.urls] Repository of pyproject.toml)")
    args = parser.parse_args(argv)
    text = cell_text(default_source() if args.source is None else args.source)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    changed = [p for p in paths if apply(p, text, check=args.check)]
    for path in changed:
        print(f"{'outdated or missing install cell' if args.check else 'install cell written'}: {path}")
    if args.check and changed:
        print("Run `python tools/install_cell.py` to update them.", file=sys.stderr)
        return 1
    if not changed:
        print(f"{len(paths)} notebooks: install cell up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
