"""Insert or update the set-up cell: the first code cell of every notebook (the text is
``course_utils.install.CELL``).

    python tools/install_cell.py [NOTEBOOK ...]          # default: notebooks/[0-9][0-9]_*.ipynb
    python tools/install_cell.py --check [NOTEBOOK ...]  # exit 1 if a notebook lacks the current cell

The cell (tag ``install-kit``, id ``install-kit``) installs the kit with ``pip install --no-deps`` from the URL
written into it when ``course_utils`` cannot be imported (a notebook opened in Colab from the student edition's
link), then calls ``course_utils.install.complete()``, which installs the kit's missing dependencies without
replacing the host's stack and prints one line. The repository's own notebooks get ``[project.urls]
Repository`` of pyproject.toml (none: the cell then says the kit is missing); the student edition's get
``release --url``.

When this script writes a cell, it runs the cell's text once in ``notebooks/`` with this interpreter and stores
what it printed as the cell's output (the line a complete environment prints), so committed outputs come
from a run. Idempotent: running it again changes nothing; an outdated cell is replaced in place.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TAG = "install-kit"
sys.path.insert(0, str(ROOT))
from course_utils import install  # noqa: E402  (the checkout's package, also before an install)


def cell_output(text: str) -> list:
    """The stream output of running the cell ``text`` in ``notebooks/`` with this interpreter."""
    run = subprocess.run([sys.executable, "-c", text], cwd=ROOT / "notebooks", capture_output=True, text=True,
                         timeout=600)
    if run.returncode:
        raise SystemExit(f"the set-up cell failed here:\n{run.stderr[-3000:]}")
    return [nbformat.v4.new_output("stream", name="stdout", text=run.stdout)] if run.stdout else []


def default_source() -> str:
    """``git+<Repository URL>`` from pyproject.toml's ``[project.urls]``, or ``""`` when none is set."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    url = project.get("urls", {}).get("Repository", "")
    return f"git+{url}" if url and not url.startswith(("git+", "file:")) else url


def cell_text(source: str) -> str:
    """The cell's source with ``source`` as where the kit comes from (see ``course_utils.install``)."""
    try:
        return install.cell_text(source)
    except ValueError as exc:
        raise SystemExit(f"--source: {exc}") from exc


def renumber(notebook: nbformat.NotebookNode) -> None:
    """Number the code cells 1..N as a clean top-to-bottom run does, if the others were such a run.

    A clean run numbers the set-up cell 1 and the others from 2, which is what this gives;
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
    cell.outputs = cell_output(text)
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
