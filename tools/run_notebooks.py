"""Execute the course notebooks top to bottom and collect their headline results.

Main job (``make run``): execute every ``notebooks/NN_*.ipynb`` into ``build/notebooks/``, export an HTML
copy of each into ``build/html/``, gather the numbers each notebook records into ``build/results.json``,
write each notebook's status into ``build/status.json`` and print a summary. The committed notebooks are
not modified.

Maintainer refresh (``make refresh``, i.e. ``--in-place``): execute the committed notebooks in place, so
their stored outputs (which nbval compares) are current, and rewrite the results table in README.md.

Every notebook is executed from a copy with all outputs cleared, so nothing in an executed copy or in the
results comes from an earlier run. A notebook that fails is reported as failed, with the cell and the
error; its results are left out of ``results.json`` and of the summary (no figure it did not produce is
shown); its partly executed copy (cells after the error stay empty) and HTML are still written; the other
notebooks still run; the exit status is 1. With ``--in-place`` a failed notebook is *not* written over the
committed one (which keeps its last good outputs, matching README's table): its failed copy goes to
``<out>/notebooks/`` for inspection instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
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


@dataclass
class Run:
    """The outcome of executing one notebook."""

    notebook: nbformat.NotebookNode | None
    seconds: float
    error: str | None = None
    cell: int | None = None  # 1-based position of the failing cell in the notebook
    cell_source: str = ""  # its first line, to find it
    results: dict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def failure(self) -> str:
        """One line: where the notebook failed and why."""
        where = f"cell {self.cell} ({self.cell_source!r})" if self.cell is not None else "before its first cell"
        return f"{where}: {self.error}"


def clear_outputs(notebook: nbformat.NotebookNode) -> None:
    """Remove every output and execution count, so that no cell keeps what an earlier run left there."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)


def execute(path: Path, timeout: int) -> Run:
    """Execute one notebook (outputs cleared first) in its own folder; never raises for a failing notebook."""
    start = time.perf_counter()
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 (unreadable notebook: report it, run the others)
        return Run(None, time.perf_counter() - start, error=f"cannot read the notebook: {type(exc).__name__}: {exc}")
    clear_outputs(notebook)
    current: dict[str, int] = {}

    def on_cell_start(cell: nbformat.NotebookNode, cell_index: int) -> None:
        current["index"] = cell_index

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_start=on_cell_start)
    run = Run(notebook, 0.0)
    try:
        client.execute()
    except CellExecutionError as exc:
        run.error = f"{exc.ename}: {exc.evalue}" if exc.ename else str(exc).strip().splitlines()[-1]
    except Exception as exc:  # noqa: BLE001 (timeout, dead kernel, kernel that does not start)
        run.error = f"{type(exc).__name__}: {str(exc).strip() or 'no message'}".splitlines()[0]
    run.seconds = time.perf_counter() - start
    if run.failed:
        if "index" in current:
            run.cell = current["index"] + 1
            lines = notebook.cells[current["index"]].source.strip().splitlines() or [""]
            run.cell_source = lines[0][:60] + (" ..." if len(lines) > 1 or len(lines[0]) > 60 else "")
    else:
        run.results = results_from_notebook(notebook) or {}
    return run


def update_readme(readme: Path, results: dict) -> None:
    """Replace the results block of README.md with a table of ``results``."""
    text = readme.read_text(encoding="utf-8")
    block = f"{README_START}\n{markdown_table(results)}\n{README_END}"
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} block to update.")
    readme.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


def write_copy(notebook: nbformat.NotebookNode, out: Path, name: str, html: bool = True) -> None:
    """Write an executed notebook to ``out/notebooks/`` and its HTML to ``out/html/``."""
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / "notebooks" / name)
    if html:
        (out / "html").mkdir(parents=True, exist_ok=True)
        body, _ = HTMLExporter().from_notebook_node(notebook)
        (out / "html" / Path(name).with_suffix(".html").name).write_text(body, encoding="utf-8")


def status_of(run: Run) -> dict:
    """The JSON record of one run for ``status.json``."""
    record = {"status": "failed" if run.failed else "ok", "seconds": round(run.seconds, 1)}
    if run.failed:
        record.update(cell=run.cell, cell_source=run.cell_source, error=run.error)
    else:
        record["n_results"] = len(run.results)
    return record


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--in-place", action="store_true", help="maintainer refresh of committed notebooks")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md",
                        help="README whose results table --in-place rewrites (default: the repository's)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for key, value in TF_QUIET_ENV.items():
        os.environ.setdefault(key, value)

    runs: dict[str, Run] = {}
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        run = runs[path.stem] = execute(path, args.timeout)
        if run.notebook is not None:
            if args.in_place and not run.failed:
                nbformat.write(run.notebook, path)
            elif args.in_place:  # keep the committed notebook; keep the failed copy for inspection
                write_copy(run.notebook, args.out, path.name, html=False)
            else:
                write_copy(run.notebook, args.out, path.name)
        if run.failed:
            print(f"  FAILED, {run.failure()}", flush=True)

    failed = {stem: run for stem, run in runs.items() if run.failed}
    results = {stem: run.results for stem, run in runs.items() if not run.failed}
    if args.in_place:  # the README table covers every committed notebook, not only those just run
        committed = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        update_readme(args.readme, {p.stem: results_from_notebook(p) or {} for p in committed})
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        status = {stem: status_of(run) for stem, run in runs.items()}
        (args.out / "status.json").write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")

    print("\nnotebook                 status   seconds  results")
    for stem, run in runs.items():
        count = "-" if run.failed else str(len(run.results))
        print(f"{stem:24s} {'FAILED' if run.failed else 'ok':8s} {run.seconds:7.1f}  {count}")
    print("\n" + markdown_table(results, failed={stem: run.failure() for stem, run in failed.items()}))
    if args.in_place:
        print(f"\nwritten to the notebooks run and {args.readme}")
        for path in (path for path in paths if path.stem in failed):
            print(f"NOT refreshed: {path} keeps its committed outputs (and the README table its figures); "
                  f"the failed run is in {args.out / 'notebooks' / path.name}", file=sys.stderr)
    else:
        print(f"\nwritten to {args.out}/ (results.json, status.json, notebooks/, html/)")
    for stem, run in failed.items():
        print(f"FAILED {stem}.ipynb, {run.failure()}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(runs)} notebooks failed; their results are not reported.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
