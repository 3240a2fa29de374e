"""Execute the course notebooks top to bottom and collect their headline results.

Main job (``make run``): execute every ``notebooks/NN_*.ipynb`` into ``build/notebooks/``, export an HTML
copy of each into ``build/html/``, gather the numbers each notebook records into ``build/results.json``,
write each notebook's status into ``build/status.json`` and print a summary. The committed notebooks are
not modified.

Maintainer refresh (``make refresh``, i.e. ``--in-place``): execute the committed notebooks in place, so
their stored outputs (which nbval compares) are current, and rewrite the results table in README.md.

Every notebook is executed from a copy with all outputs cleared, and its executed copy and HTML from an
earlier run are deleted when its run starts, so nothing in ``build/`` comes from an earlier run: ``results.json``
and ``status.json`` are written at the start (every notebook ``pending``) and after each notebook, each time
replaced whole and atomically (a temporary file, then ``os.replace``), so a hard kill leaves the figures of the
notebooks this run finished and the status of every one (``running`` for the one it killed). Ctrl-C or SIGTERM
interrupts the running notebook's kernel, marks that notebook ``interrupted`` (with the signal) and the ones
after it ``not run``, and exits with 128 + the signal number (a second signal kills the kernel).

A notebook that fails is reported as failed, with the cell and the
error; its results are left out of ``results.json`` and of the summary (no figure it did not produce is
shown); its partly executed copy (cells after the error stay empty) and HTML are still written; the other
notebooks still run; the exit status is 1. With ``--in-place`` a failed notebook is *not* written over the
committed one (which keeps its last good outputs, matching README's table): its failed copy goes to
``<out>/notebooks/`` for inspection instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
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
    interrupted: str | None = None  # the signal's name (SIGINT, SIGTERM) if the run was interrupted

    @property
    def failed(self) -> bool:
        return self.error is not None

    def failure(self) -> str:
        """One line: where the notebook failed and why."""
        where = f"cell {self.cell} ({self.cell_source!r})" if self.cell is not None else "before its first cell"
        return f"{where}: {self.error}"


_SIGNALS: list[int] = []  # the signals received, in order
_KERNEL: dict[str, int] = {}  # "pid": the process id of the kernel running now


def _record_signal(signum: int) -> None:
    """Note the signal; interrupt the running kernel (a second signal kills it), so that its cell stops."""
    _SIGNALS.append(signum)
    pid = _KERNEL.get("pid")
    if pid is not None:
        try:  # the kernel runs in its own session: a terminal's Ctrl-C does not reach it
            os.kill(pid, signal.SIGINT if len(_SIGNALS) == 1 else signal.SIGKILL)
        except OSError:
            pass


def _on_signal(signum: int, frame: object) -> None:
    """Between notebooks: note the first signal (no notebook starts after it); a second one stops at once."""
    if _SIGNALS:
        raise SystemExit(128 + signum)
    _record_signal(signum)


def install_signal_handlers() -> None:
    """Turn Ctrl-C (SIGINT) and SIGTERM into an orderly ``interrupted`` end of the run.

    While a notebook runs, nbclient replaces these with its own (which shut the kernel down under the running
    cell, reported as "AssertionError: no message") and resets them afterwards; :func:`execute` puts its own
    in their place once the kernel has started and calls this again when the notebook is done.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)


def write_json(path: Path, data: dict) -> None:
    """Replace ``path`` whole and atomically: write a temporary file next to it, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def remove_copies(out: Path, name: str) -> None:
    """Delete the executed copy and the HTML an earlier run left in ``out`` for the notebook ``name``."""
    for stale in (out / "notebooks" / name, out / "html" / Path(name).with_suffix(".html").name):
        stale.unlink(missing_ok=True)


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

    def on_notebook_start(notebook: nbformat.NotebookNode) -> None:
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if pid is not None:
            _KERNEL["pid"] = pid
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # in place of nbclient's handlers
            loop.add_signal_handler(signum, _record_signal, signum)

    def on_cell_start(cell: nbformat.NotebookNode, cell_index: int) -> None:
        current["index"] = cell_index
        if _SIGNALS:  # the signal came while the kernel started: run no cell
            raise RuntimeError("interrupted before this cell")

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_start=on_cell_start,
                            on_notebook_start=on_notebook_start)
    run = Run(notebook, 0.0)
    signals_before = len(_SIGNALS)
    try:
        client.execute()
    except CellExecutionError as exc:
        run.error = f"{exc.ename}: {exc.evalue}" if exc.ename else str(exc).strip().splitlines()[-1]
    except Exception as exc:  # noqa: BLE001 (timeout, dead kernel, kernel that does not start)
        run.error = f"{type(exc).__name__}: {str(exc).strip() or 'no message'}".splitlines()[0]
    finally:
        _KERNEL.pop("pid", None)
        install_signal_handlers()  # nbclient reset them to the defaults
    if len(_SIGNALS) > signals_before:
        run.interrupted = signal.Signals(_SIGNALS[signals_before]).name
        run.error = f"interrupted by {run.interrupted}"
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
    state = "interrupted" if run.interrupted else "failed" if run.failed else "ok"
    record = {"status": state, "seconds": round(run.seconds, 1)}
    if run.interrupted:
        record["signal"] = run.interrupted
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

    install_signal_handlers()
    runs: dict[str, Run] = {}
    status = {path.stem: {"status": "pending"} for path in paths}

    def record() -> None:  # results.json and status.json as they stand, each replaced whole
        if not args.in_place:
            write_json(args.out / "results.json",
                       {stem: run.results for stem, run in runs.items() if not run.failed})
            write_json(args.out / "status.json", status)

    record()
    for path in paths:
        if _SIGNALS:
            break
        print(f"executing {path.name} ...", flush=True)
        remove_copies(args.out, path.name)
        status[path.stem] = {"status": "running"}
        record()
        run = runs[path.stem] = execute(path, args.timeout)
        status[path.stem] = status_of(run)
        if run.notebook is not None:
            if args.in_place and not run.failed:
                nbformat.write(run.notebook, path)
            elif args.in_place:  # keep the committed notebook; keep the failed copy for inspection
                write_copy(run.notebook, args.out, path.name, html=False)
            else:
                write_copy(run.notebook, args.out, path.name)
        if run.failed:
            print(f"  {'INTERRUPTED' if run.interrupted else 'FAILED'}, {run.failure()}", flush=True)
        record()
    for state in status.values():
        if state["status"] == "pending":
            state["status"] = "not run"
    record()

    failed = {stem: run for stem, run in runs.items() if run.failed}
    results = {stem: run.results for stem, run in runs.items() if not run.failed}
    if args.in_place:  # the README table covers every committed notebook, not only those just run
        committed = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        update_readme(args.readme, {p.stem: results_from_notebook(p) or {} for p in committed})

    print("\nnotebook                 status   seconds  results")
    for stem, run in runs.items():
        count = "-" if run.failed else str(len(run.results))
        state = "INTERRUPTED" if run.interrupted else "FAILED" if run.failed else "ok"
        print(f"{stem:24s} {state:8s} {run.seconds:7.1f}  {count}")
    print("\n" + markdown_table(results, failed={stem: run.failure() for stem, run in failed.items()}))
    if args.in_place:
        print(f"\nwritten to the notebooks run and {args.readme}")
        for path in (path for path in paths if path.stem in failed):
            print(f"NOT refreshed: {path} keeps its committed outputs (and the README table its figures); "
                  f"the failed run is in {args.out / 'notebooks' / path.name}", file=sys.stderr)
    else:
        print(f"\nwritten to {args.out}/ (results.json, status.json, notebooks/, html/)")
    for stem, run in failed.items():
        print(f"{'INTERRUPTED' if run.interrupted else 'FAILED'} {stem}.ipynb, {run.failure()}", file=sys.stderr)
    if any(not run.interrupted for run in failed.values()):
        broken = sum(not run.interrupted for run in failed.values())
        print(f"{broken} of {len(runs)} notebooks failed; their results are not reported.", file=sys.stderr)
    if _SIGNALS:
        skipped = [stem for stem, state in status.items() if state["status"] == "not run"]
        print(f"Interrupted by {signal.Signals(_SIGNALS[0]).name}"
              f"{'; not run: ' + ', '.join(skipped) if skipped else ''}.", file=sys.stderr)
        return 128 + _SIGNALS[0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
