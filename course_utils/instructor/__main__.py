"""Command line of the instructor workflow.

    python -m course_utils.instructor release [--out release] [NOTEBOOK ...]
    python -m course_utils.instructor check-release [--out release] [--solved 01_pca 02_diffusion_maps]
    python -m course_utils.instructor leaks [--out release]
    python -m course_utils.instructor grade EXERCISE SUBMISSIONS [--out grades/EXERCISE] [--workers N] ...

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

from .grade import DEFAULT_CELL_TIMEOUT, DEFAULT_MEMORY, DEFAULT_TIMEOUT, Limits, cpu_count, grade_folder, run_notebook
from .leaks import find_leaks, print_report
from .release import build_release, exercises

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
GRADING = ROOT / "grading"
RELEASE_EXTRA = [ROOT / "course_utils", ROOT / "requirements.txt", ROOT / "pyproject.toml"]
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
    written = build_release(_notebooks(args.notebooks), Path(args.out), extra=RELEASE_EXTRA)
    for path in written:
        print(f"student version: {path}")
    print(f"{len(written)} notebooks, plus course_utils, requirements.txt and pyproject.toml, in {args.out}/")
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
    report = find_leaks(out, GRADING)
    print_report(report)
    return 1 if any(problems) or any(solved_problems) or not report.ok else 0


def leaks(args: argparse.Namespace) -> int:
    report = find_leaks(Path(args.out), GRADING)
    print_report(report)
    return 0 if report.ok else 1


def grade(args: argparse.Namespace) -> int:
    checks = Path(args.exercise) if args.exercise.endswith(".py") else GRADING / f"{args.exercise}.py"
    out = Path(args.out or f"grades/{checks.stem}")
    limits = Limits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory=args.memory)
    start = time.perf_counter()
    grades = grade_folder(Path(args.submissions), checks, out, workers=args.workers, limits=limits,
                          seed=args.seed, profile=args.profile)
    wall = time.perf_counter() - start
    width = max(len(g.student) for g in grades)
    for g in grades:
        print(f"{g.student:<{width}}  {g.points:6g} / {g.max_points:g}  {g.run.seconds:6.1f} s  {g.run.status}")
    busy = sum(g.run.seconds for g in grades)
    print(f"{len(grades)} submissions in {wall:.1f} s with {args.workers or cpu_count()} workers "
          f"({busy / len(grades):.1f} s per submission; parallel speed-up {busy / wall:.2f}x)")
    print(f"grades: {out / 'grades.csv'}, summary: {out / 'summary.csv'}, feedback: {out / 'feedback'}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.instructor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="build the student version of the notebooks")
    p.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    p.add_argument("--out", default="release")
    p.set_defaults(func=release)
    p = sub.add_parser("leaks", help="call every released public function on the checks' inputs (no answer ships)")
    p.add_argument("--out", default="release", help="the release folder")
    p.set_defaults(func=leaks)
    for name, helptext, func in [("check-release", "run each student notebook up to its first exercise", check_release),
                                 ("grade", "grade a folder of submissions for one exercise", grade)]:
        p = sub.add_parser(name, help=helptext)
        if name == "grade":
            p.add_argument("exercise", help="notebook stem (e.g. 01_pca) or a checks file grading/NN_topic.py")
            p.add_argument("submissions", help="folder of submitted .ipynb files, one per student")
            p.add_argument("--seed", type=int, default=0, help="seed of the hidden check inputs")
            p.add_argument("--profile", default="small", help="COURSE_KIT_PROFILE of the runs (small|full)")
            p.add_argument("--out", default=None, help="default: grades/EXERCISE")
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
