"""The kit's command line: what each ``make`` target does, without make (Windows, macOS without Xcode tools).

Run it from the repository root with the environment's Python (``.venv/bin/python``; on Windows
``.venv\\Scripts\\python``), or with any supported Python for ``env``, which creates that environment::

    python -m course_utils env [--python PY] [--venv .venv]   # make env: venv with the locked requirements
    python -m course_utils run                                 # make run: every notebook into build/
    python -m course_utils test [--no-newest]                  # make test: ruff, pytest, nbval; the edition
    python -m course_utils test --quick                        # unit tests + notebooks 01-02 (small profile)
    python -m course_utils nbval                               # make nbval
    python -m course_utils refresh                             # make refresh (maintainer)
    python -m course_utils data download-all|list              # make data
    python -m course_utils release [--out release] --url URL   # make release URL=... (instructor)
    python -m course_utils check-release [--out release]       # make check-release (after release)
    python -m course_utils points --check|--write              # nbgrader points and totals from grading/
    python -m course_utils grade EXERCISE SUBMISSIONS [...]    # make grade
    python -m course_utils grade-demo [...]                    # make grade-demo
    python -m course_utils pythons                             # the supported interpreters found
    python -m course_utils mutation [MODULE ...] [--sample N]  # make mutation (maintainer; tools/mutation.md)

``python -m course_utils.instructor`` and ``python -m course_utils.data`` keep working; ``grade``,
``release``, ``check-release``, ``points`` and ``data`` pass their arguments on to them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import environment

NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
         "--nbval-cell-timeout", "1800"]
QUICK_NOTEBOOKS = ["notebooks/01_pca.ipynb", "notebooks/02_diffusion_maps.ipynb"]
"""What ``test --quick`` runs: the unit tests plus these notebooks, small profile."""

NOTEBOOK_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def repository() -> Path:
    """The repository root: the working directory, which must hold notebooks/, tools/ and pyproject.toml."""
    root = Path.cwd()
    missing = [name for name in ("notebooks", "tools", "pyproject.toml") if not (root / name).exists()]
    if missing:
        raise SystemExit(f"Run this from the course-kit repository root: {root} has no {', '.join(missing)}.")
    return root


def call(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command`` in the repository root with ``env`` added to the environment; return its exit status."""
    print("+ " + " ".join(command), flush=True)
    full = {**os.environ, **NOTEBOOK_ENV, **(env or {})}
    # Graded and released notebooks run in temporary folders: name the course folder for them.
    from .data.loaders import COURSE_DIR_ENV, course_dir

    full.setdefault(COURSE_DIR_ENV, str(course_dir().resolve()))
    full.pop("MPLBACKEND", None)  # a backend forced from outside (e.g. Agg) would hide every executed figure
    return subprocess.run(command, cwd=repository(), env=full).returncode


def run_all(commands: list[list[str]], env: dict[str, str] | None = None) -> int:
    """Run ``commands`` in order, stopping at the first that fails; return its status."""
    for command in commands:
        status = call(command, env)
        if status:
            return status
    return 0


def cmd_env(args: argparse.Namespace, rest: list[str]) -> int:
    repository()
    python = args.python.split() if args.python else [sys.executable]
    vpy = environment.create_venv(python, args.venv)
    print(f"environment ready: {vpy}")
    return 0


def cmd_run(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "tools/run_notebooks.py", "--out", "build", *rest])


def cmd_refresh(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "tools/run_notebooks.py", "--in-place", *rest])


def cmd_nbval(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "-m", "pytest", "notebooks", *NBVAL, *rest], {"COURSE_KIT_PROFILE": "small"})


def newest_python_run() -> int:
    """The student edition on every install path, in a fresh venv of the newest supported Python with Colab's
    versions: built, opened from a link, on a bare JupyterHub, each notebook up to its first exercise, and nbval
    of the seven notebooks (``tools/edition_check.py``)."""
    command = environment.pick(newest=True)
    version, why = environment.probe(command)
    if why:
        raise SystemExit(why)
    print(f"newest supported Python: {'.'.join(map(str, version))} ({' '.join(command)}); the student edition "
          "on Colab's versions in .venv-colab", flush=True)
    return call([sys.executable, "tools/edition_check.py", "--python", " ".join(command)])


WORKERS_ENV = "COURSE_KIT_TEST_WORKERS"


def parallel_args(dist: str = "load") -> list[str]:
    """pytest-xdist options: one worker per CPU core, at most 4 (``$COURSE_KIT_TEST_WORKERS`` overrides; 1 = none).

    ``dist="load"`` spreads test functions one by one; notebooks need ``dist="loadfile"``, which keeps each
    notebook's cells on one worker, in order (nbval runs them in one kernel). The two kinds run as two pytest
    calls: mixing them in one ``--dist loadgroup`` run sent some cells of a notebook to another worker, whose
    kernel had never run the notebook's first cell (xdist 3.8, nbval 0.11).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    value = os.environ.get(WORKERS_ENV, str(min(cores, 4)))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{WORKERS_ENV}={value!r}: give a whole number of test workers, 1 or more.")
    try:
        import xdist  # noqa: F401
    except ImportError:
        return []
    return ["-n", value, "--dist", dist] if int(value) > 1 else []


def cmd_test(args: argparse.Namespace, rest: list[str]) -> int:
    small = {"COURSE_KIT_PROFILE": "small"}
    pytest = [sys.executable, "-m", "pytest"]
    tests = [*pytest, *parallel_args("load"), "tests", *rest]
    notebooks = [*pytest, *parallel_args("loadfile"), *NBVAL, *rest]
    if args.quick:
        return call(tests, small) or call([*notebooks, *QUICK_NOTEBOOKS], small)
    status = call([sys.executable, "-m", "ruff", "check", "."])
    if not status:  # both halves run, so one report shows every failure
        status = max(call(tests, small), call([*notebooks, "notebooks"], small))
    if status or not args.newest:
        return status
    return newest_python_run()


def cmd_release(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "-m", "course_utils.instructor", "release", *(rest or ["--out", "release"])])


def cmd_check_release(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "-m", "course_utils.instructor", "check-release", *(rest or ["--out", "release"])])


def cmd_points(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "-m", "course_utils.instructor", "points", *(rest or ["--check"])])


def cmd_grade(args: argparse.Namespace, rest: list[str]) -> int:
    if len(rest) < 2:
        raise SystemExit("usage: python -m course_utils grade EXERCISE SUBMISSIONS [--out ...] (e.g. 01_pca inbox/01)")
    exercise, submissions, *more = rest
    out = [] if "--out" in more else ["--out", f"grades/{exercise}"]
    return call([sys.executable, "-m", "course_utils.instructor", "grade", exercise, submissions, *out, *more])


def cmd_grade_demo(args: argparse.Namespace, rest: list[str]) -> int:
    return call([sys.executable, "tools/grade_demo.py", *rest])


def cmd_mutation(args: argparse.Namespace, rest: list[str]) -> int:
    """Mutation testing of the numerical modules and the grader's scoring (``tools/mutation.py``)."""
    return call([sys.executable, "tools/mutation.py", *rest])


def cmd_data(args: argparse.Namespace, rest: list[str]) -> int:
    from .data.__main__ import main as data_main

    return data_main(rest or ["download-all"])


def cmd_pythons(args: argparse.Namespace, rest: list[str]) -> int:
    return environment.main(["list"])


COMMANDS = {
    "env": (cmd_env, "create the virtual environment (locked requirements, editable kit)"),
    "run": (cmd_run, "execute every notebook into build/ (arguments go to tools/run_notebooks.py)"),
    "test": (cmd_test, "ruff, unit tests and nbval (small profile), then the student edition on the newest Python"),
    "nbval": (cmd_nbval, "nbval of every committed notebook (small profile)"),
    "refresh": (cmd_refresh, "maintainer: re-execute the committed notebooks in place"),
    "data": (cmd_data, "download-all | list (python -m course_utils.data)"),
    "release": (cmd_release, "instructor: student notebooks into release/"),
    "check-release": (cmd_check_release, "instructor: run each student notebook of release/ to its first exercise"),
    "points": (cmd_points, "instructor: --check|--write the notebooks' nbgrader points and totals from grading/"),
    "grade": (cmd_grade, "instructor: grade EXERCISE SUBMISSIONS (python -m course_utils.instructor grade)"),
    "grade-demo": (cmd_grade_demo, "instructor: grade the kit's demo submissions (tools/grade_demo.py)"),
    "mutation": (cmd_mutation, "maintainer: mutation score of the maths and the grader (tools/mutation.py)"),
    "pythons": (cmd_pythons, "list the supported Python interpreters found on this machine"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__.splitlines()[0],
                                     epilog="Arguments after the command that it does not know are passed on.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (func, helptext) in COMMANDS.items():
        p = sub.add_parser(name, help=helptext, add_help=name not in ("data", "grade", "points", "mutation"))
        p.set_defaults(func=func)
        if name == "env":
            p.add_argument("--python", default=None, help="interpreter to build it with (default: this one)")
            p.add_argument("--venv", default=".venv", help="folder of the environment (default: .venv)")
        if name == "test":
            p.add_argument("--quick", action="store_true", help="unit tests and notebooks 01-02 only")
            p.add_argument("--no-newest", dest="newest", action="store_false",
                           help="skip the student edition's check on the newest supported Python")
    args, rest = parser.parse_known_args(argv)
    return args.func(args, rest)


if __name__ == "__main__":
    sys.exit(main())
