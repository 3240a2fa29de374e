"""Command line of the instructor workflow.

    python -m course_utils.instructor release [--out release] [--url URL [--branch main]] [NOTEBOOK ...]
    python -m course_utils.instructor check-release [--out release] [--solved 01_pca 02_diffusion_maps]
    python -m course_utils.instructor leaks [--out release]
    python -m course_utils.instructor points --check|--write [NOTEBOOK ...]
    python -m course_utils.instructor grade EXERCISE SUBMISSIONS [--out grades/EXERCISE] [--workers N] ...
        [--cluster local|slurm [--cluster-workers N] [--slurm-cores ...] | --scheduler ADDRESS] [--resume]

``EXERCISE`` is a notebook stem (``01_pca``) whose checks are ``grading/01_pca.py``, or a checks file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .datasets import warm_cache
from .edition import build_edition, edition_problems
from .grade import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    Limits,
    cpu_count,
    grade_folder,
    run_notebook,
    sandbox_problem,
)
from .isolation import SandboxUnavailable
from .leaks import LeakReport, find_delegations, find_leaks, print_report
from .release import exercises

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
GRADING = ROOT / "grading"
SOLVED_DEFAULT = ("01_pca", "02_diffusion_maps")
"""Instructor notebooks that check-release runs through against the released package (CI time: the
training notebooks are left out; pass ``--solved`` to add them)."""
SOLVED_RUNNER = r"""
import os, sys
import nbformat
from nbclient import NotebookClient
path, release, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
notebook = nbformat.read(path, as_version=4)
guard = ("import os, course_utils\n"
         f"assert os.path.realpath(course_utils.__file__).startswith({os.path.realpath(release)!r} + os.sep), "
         "course_utils.__file__")
notebook.cells.insert(0, nbformat.v4.new_code_cell(guard))
NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=False).execute()
"""


def _notebooks(names: list[str]) -> list[Path]:
    return [Path(n) for n in names] if names else sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def release(args: argparse.Namespace) -> int:
    written = build_edition(Path(args.out), url=args.url, branch=args.branch,
                            notebooks=_notebooks(args.notebooks) if args.notebooks else None)
    for path in written:
        print(f"student version: {path}")
    print(f"student edition in {args.out}/: {len(written)} notebooks, course_utils (no instructor side), "
          "pyproject.toml, requirements.txt, README.md, DATA.md")
    if not args.url:
        print("WARNING: built without --url: the notebooks cannot install the kit from a link (Colab) and the "
              "README has no 'Open in Colab' links; check-release fails until you give the address the course "
              "publishes this folder at, e.g. --url https://github.com/ORG/COURSE", file=sys.stderr)
    return 0


def check_release_notebook(student: Path, instructor: Path, limits: Limits) -> str:
    """Empty if ``student`` runs cleanly up to its first exercise and fails exactly there, else why not."""
    notebook = json.loads(instructor.read_text(encoding="utf-8"))
    first = exercises(notebook)[0].cell_index
    code = [i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"]
    expected_cell = next(i for i in code if i > first)
    run = run_notebook(student, [GRADING], limits, stop_on_error=True)
    failures = run.errors
    if run.status != "ok":
        return f"{student.name}: {run.status}: {run.message}"
    if not failures:
        return f"{student.name}: ran to the end without the expected NotImplementedError"
    failure = failures[0]
    if failure["cell"] != expected_cell or failure["error_type"] != "NotImplementedError":
        return (f"{student.name}: first error in cell {failure['cell']} ({failure['error']}); expected "
                f"NotImplementedError in cell {expected_cell}, the tests of the first exercise")
    return ""


def check_solved_notebook(instructor: Path, release_dir: Path, timeout: float = 1800.0,
                          profile: str = "small") -> str:
    """Empty if the instructor notebook (the student notebook with every solution spliced back in) runs top to
    bottom without error against the *released* package (``PYTHONPATH`` = the release folder), else why not.

    The kernel starts in a scratch folder with ``course_utils`` imported from ``release_dir`` (a first cell
    asserts it), so a notebook that needs anything the release lacks fails here.
    """
    release_dir = Path(release_dir).resolve()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PYTHONPATH": str(release_dir), "COURSE_KIT_PROFILE": profile, "MPLBACKEND": "Agg"})
    with tempfile.TemporaryDirectory(prefix="course-kit-solved-") as scratch:
        command = [sys.executable, "-c", SOLVED_RUNNER, str(Path(instructor).resolve()), str(release_dir),
                   str(timeout)]
        try:
            done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"{instructor.name} (solved): did not finish within {timeout:.0f} s"
    if done.returncode:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return f"{instructor.name} (solved): " + " | ".join(lines[-3:])
    return ""


def check_release(args: argparse.Namespace) -> int:
    out = Path(args.out)
    students = sorted(out.glob("[0-9][0-9]_*.ipynb"))
    if not students:
        print(f"No student notebooks in {out}; run the release command first.", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory=args.memory)
    warm_cache()  # the sandbox's cache is read-only: fetch and generate the data before the notebooks run
    if sandbox_problem(limits):  # the kit's own student notebooks: trusted, so no sandbox is acceptable here
        limits.unsafe_no_sandbox = True
    with ThreadPoolExecutor(max_workers=args.workers or cpu_count()) as pool:
        problems = list(pool.map(lambda s: check_release_notebook(s, NOTEBOOKS / s.name, limits), students))
    for student, problem in zip(students, problems, strict=True):
        print(f"{'FAIL' if problem else 'ok  '} {student.name}{': ' + problem if problem else ''}")
    solved = [NOTEBOOKS / f"{stem}.ipynb" for stem in args.solved if (out / f"{stem}.ipynb").exists()]
    with ThreadPoolExecutor(max_workers=args.workers or cpu_count()) as pool:
        solved_problems = list(pool.map(lambda n: check_solved_notebook(n, out, args.timeout), solved))
    for notebook, problem in zip(solved, solved_problems, strict=True):
        print(f"{'FAIL' if problem else 'ok  '} {notebook.name} with its solutions runs through on the release"
              f"{': ' + problem if problem else ''}")
    edition = edition_problems(out)
    for problem in edition:
        print(f"FAIL edition: {problem}")
    if not edition:
        print("ok   edition: no instructor material or solution marker; pyproject.toml (with its URL), "
              "requirements.txt, README.md (every notebook) and DATA.md present")
    report = release_leaks(out)
    print_report(report)
    return 1 if any(problems) or any(solved_problems) or edition or not report.ok else 0


def release_leaks(out: Path) -> LeakReport:
    """Every released public function on every function check's inputs (arguments in any order or by keyword),
    and the kit-call catalogue graded through the probes against each exercise's view with its withheld
    functions removed (what a submission's sandbox sees): both must find nothing."""
    report = find_leaks(out, GRADING)
    delegations = find_delegations(out, GRADING, NOTEBOOKS, withheld=True)
    report.leaks += delegations.leaks
    report.failed_modules += delegations.failed_modules
    report.checks += delegations.checks
    report.calls += delegations.calls
    return report


def points(args: argparse.Namespace) -> int:
    """Check or write the notebooks' nbgrader points and stated totals from grading/ (``points.py``)."""
    from .points import main as points_main

    return points_main(_notebooks(args.notebooks), GRADING, write=args.write)


def leaks(args: argparse.Namespace) -> int:
    report = release_leaks(Path(args.out))
    print_report(report)
    return 0 if report.ok else 1


def _backend(args: argparse.Namespace, limits: Limits):
    """The Dask backend the flags ask for, or ``None`` (the local pool)."""
    if args.scheduler is None and args.cluster is None:
        return None
    try:
        from .distributed import SlurmOptions, dask_backend
    except ImportError as exc:
        raise SystemExit(f"--scheduler/--cluster need the Dask packages ({exc}); pip install -e '.[cluster]'") from exc
    slurm = SlurmOptions(cores=args.slurm_cores, memory=args.slurm_memory, walltime=args.slurm_walltime,
                         queue=args.slurm_queue, account=args.slurm_account, extra=tuple(args.slurm_extra or ()))
    return dask_backend(limits, scheduler=args.scheduler, cluster=args.cluster, workers=args.cluster_workers,
                        threads=args.cluster_threads, retries=args.retries, slurm=slurm)


def grade(args: argparse.Namespace) -> int:
    checks = Path(args.exercise) if args.exercise.endswith(".py") else GRADING / f"{args.exercise}.py"
    out = Path(args.out or f"grades/{checks.stem}")
    limits = Limits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory=args.memory,
                    unsafe_no_sandbox=args.unsafe_no_sandbox)
    if args.scheduler is not None and args.cluster is not None:
        print("Give either --scheduler ADDRESS (a running cluster) or --cluster local|slurm, not both.",
              file=sys.stderr)
        return 2
    transfer = args.transfer or ("bytes" if args.scheduler else "path")
    warm_cache()  # the sandbox's cache is read-only: fetch and generate the data before any submission runs
    start = time.perf_counter()
    backend = None
    try:
        backend = _backend(args, limits)
        grades = grade_folder(Path(args.submissions), checks, out, workers=args.workers, limits=limits,
                              seed=args.seed, profile=args.profile, executor=backend, resume=args.resume,
                              transfer=transfer, progress=not args.no_progress,
                              withhold_expected=args.withhold_expected,
                              roster=Path(args.roster) if args.roster else None)
        slots = backend.slots if backend is not None else args.workers or cpu_count()
        where = backend.description if backend is not None else "the local pool"
    except SandboxUnavailable as exc:
        print(f"Refusing to grade: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as exc:  # a roster or an inbox that cannot be used
        print(f"Cannot grade: {exc}", file=sys.stderr)
        return 2
    finally:
        if backend is not None:
            backend.close()
    wall = time.perf_counter() - start
    width = max((len(g.student) for g in grades), default=7)
    for g in grades:
        print(f"{g.student:<{width}}  {g.points:6g} / {g.max_points:g}  {g.run.seconds:6.1f} s  {g.run.status}"
              f"{'  (resumed)' if g.resumed else ''}")
    graded = [g for g in grades if not g.resumed]
    busy = sum(g.run.seconds for g in graded)
    print(f"{len(graded)} submissions graded ({len(grades) - len(graded)} resumed) in {wall:.1f} s on {where} "
          f"({slots} at once; {busy / max(1, len(graded)):.1f} s per submission; speed-up {busy / wall:.2f}x)")
    sandboxes = sorted({g.run.sandbox for g in grades if g.run.sandbox})
    print(f"sandbox: {', '.join(sandboxes) or 'none needed (no submission ran)'}")
    if args.unsafe_no_sandbox:
        print("WARNING: graded WITHOUT an OS sandbox (--unsafe-no-sandbox): a hostile submission could read "
              "the checks and change files the grader can write; trust these grades only for trusted submissions.")
    print(f"grades: {out / 'grades.csv'}, summary: {out / 'summary.csv'}, feedback: {out / 'feedback'}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.instructor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="build the student edition (a repository to publish as it is)")
    p.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    p.add_argument("--out", default="release")
    p.add_argument("--url", default=None, help="where the course publishes the edition, e.g. "
                   "https://github.com/ORG/COURSE (git+... and local folders work too)")
    p.add_argument("--branch", default="main", help="the branch the Colab links open (default: main)")
    p.set_defaults(func=release)
    p = sub.add_parser("leaks", help="call every released public function on the checks' inputs (no answer ships)")
    p.add_argument("--out", default="release", help="the release folder")
    p.set_defaults(func=leaks)
    p = sub.add_parser("points", help="the notebooks' nbgrader points and stated totals from grading/ (one source)")
    p.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write them into the notebooks (metadata and text)")
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 where a notebook disagrees")
    p.set_defaults(func=points)
    for name, helptext, func in [("check-release", "run each student notebook up to its first exercise", check_release),
                                 ("grade", "grade a folder of submissions for one exercise", grade)]:
        p = sub.add_parser(name, help=helptext)
        if name == "grade":
            p.add_argument("exercise", help="notebook stem (e.g. 01_pca) or a checks file grading/NN_topic.py")
            p.add_argument("submissions", help="folder of submitted .ipynb files, one per student")
            p.add_argument("--seed", type=int, default=0, help="seed of the hidden check inputs")
            p.add_argument("--profile", default="small", help="COURSE_KIT_PROFILE of the runs (small|full)")
            p.add_argument("--out", default=None, help="default: grades/EXERCISE")
            p.add_argument("--unsafe-no-sandbox", action="store_true",
                           help="grade even without bubblewrap (submissions then run with your own rights)")
            p.add_argument("--resume", action="store_true",
                           help="skip submissions already graded into --out (same file, checks, limits, seed)")
            p.add_argument("--no-progress", action="store_true", help="no progress bar")
            p.add_argument("--withhold-expected", action="store_true",
                           help="feedback pages without the expected figures (release later: --resume without it)")
            p.add_argument("--roster", default=None, metavar="CSV",
                           help="student ids (column student, optional column file): files are matched to them; "
                                "unmatched files are listed in OUT/inbox.csv and not graded")
            d = p.add_argument_group("Dask cluster (pip install -e '.[cluster]'; see README)")
            d.add_argument("--scheduler", metavar="ADDRESS", default=None,
                           help="grade on a running Dask scheduler, e.g. tcp://host:8786")
            d.add_argument("--cluster", choices=["local", "slurm"], default=None,
                           help="start a Dask LocalCluster or a Slurm cluster (dask-jobqueue) for this batch")
            d.add_argument("--cluster-workers", type=int, default=2,
                           help="LocalCluster worker processes, or Slurm jobs (default 2)")
            d.add_argument("--cluster-threads", type=int, default=1,
                           help="submissions at once per LocalCluster worker (Slurm: --slurm-cores)")
            d.add_argument("--retries", type=int, default=2,
                           help="re-runs of a submission whose worker was lost or whose task failed")
            d.add_argument("--transfer", choices=["path", "bytes"], default=None,
                           help="submissions reach workers by path (shared file system; default for --cluster) "
                                "or by bytes (default for --scheduler)")
            d.add_argument("--slurm-cores", type=int, default=4, help="cores per Slurm job = submissions at once")
            d.add_argument("--slurm-memory", default="32GiB", help="memory per Slurm job (>= cores x --memory)")
            d.add_argument("--slurm-walltime", default="02:00:00", help="walltime per Slurm job")
            d.add_argument("--slurm-queue", default=None, help="Slurm partition")
            d.add_argument("--slurm-account", default=None, help="Slurm account")
            d.add_argument("--slurm-extra", action="append", metavar="DIRECTIVE",
                           help="an extra #SBATCH directive, e.g. --slurm-extra=--gres=gpu:1 (repeatable)")
        else:
            p.add_argument("--out", default="release")
            p.add_argument("--solved", nargs="*", default=list(SOLVED_DEFAULT),
                           help="instructor notebooks (stems) that must run through on the release")
        p.add_argument("--workers", type=int, default=None, help="parallel submissions (default: all cores)")
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per submission")
        p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell")
        p.add_argument("--memory", type=float, default=DEFAULT_MEMORY / 1024**3, help="GiB per submission")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    if hasattr(args, "memory"):
        args.memory = int(args.memory * 1024**3)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
