"""Execute the course notebooks top to bottom and collect their headline results.

Main job (``make run``): execute every ``notebooks/NN_*.ipynb`` into ``build/notebooks/``, export an HTML
copy of each into ``build/html/``, gather the numbers each notebook records into ``build/results.json``
and print a summary. The committed notebooks are not modified.

Maintainer refresh (``make refresh``, i.e. ``--in-place``): execute the committed notebooks in place, so
their stored outputs (which nbval compares) are current, and rewrite the results table in README.md.

A notebook that fails still has its partly executed copy and HTML written (with the error in it); the
others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from course_utils.notebook import TF_QUIET_ENV  # noqa: E402
from course_utils.report import markdown_table, results_from_notebook  # noqa: E402

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, str | None, float]:
    """Execute one notebook in its own folder; return it, the error (or None) and the seconds taken."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1]
    return notebook, error, time.perf_counter() - start


def update_readme(readme: Path, results: dict) -> None:
    """Replace the results block of README.md with a table of ``results``."""
    text = readme.read_text(encoding="utf-8")
    block = f"{README_START}\n{markdown_table(results)}\n{README_END}"
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} block to update.")
    readme.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--in-place", action="store_true", help="maintainer refresh of committed notebooks")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for key, value in TF_QUIET_ENV.items():
        os.environ.setdefault(key, value)

    results: dict[str, dict] = {}
    rows, failed = [], []
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        notebook, error, seconds = execute(path, args.timeout)
        if args.in_place:
            nbformat.write(notebook, path)
        else:
            (args.out / "notebooks").mkdir(parents=True, exist_ok=True)
            (args.out / "html").mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, args.out / "notebooks" / path.name)
            html, _ = HTMLExporter().from_notebook_node(notebook)
            (args.out / "html" / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
        results[path.stem] = results_from_notebook(notebook) or {}
        rows.append((path.stem, "FAILED" if error else "ok", seconds, len(results[path.stem])))
        if error:
            failed.append(f"{path.name}: {error}")

    if args.in_place:  # the README table covers every committed notebook, not only those just run
        committed = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        update_readme(ROOT / "README.md", {p.stem: results_from_notebook(p) or {} for p in committed})
    else:
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    print("\nnotebook                 status   seconds  results")
    for stem, status, seconds, count in rows:
        print(f"{stem:24s} {status:8s} {seconds:7.1f}  {count}")
    print("\n" + markdown_table(results))
    where = "notebooks/ and README.md" if args.in_place else f"{args.out}/ (results.json, notebooks/, html/)"
    print(f"\nwritten to {where}")
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
