"""The student edition on each install path, in a fresh virtual environment with Colab's versions.

    python tools/edition_check.py [--python python3.13] [--venv .venv-colab] [--no-nbval]

`make test` runs it last, with the newest supported Python (Colab's runtime is 3.12/3.13). Steps, each timed:

1. build the edition into a temporary folder and make it a git repository; its notebooks' first cell installs
   the kit from ``git+file://`` that folder (as ``release --url`` bakes a GitHub address);
2. the "host": a fresh venv (made anew each run) with ``constraints/colab.txt`` (Colab's TensorFlow, Keras,
   NumPy, pandas, three OpenCV distributions, no mediapipe) and the test harness (ipykernel, nbclient, nbval);
3. **opened from a link**: one notebook alone in an empty folder, no environment variable of the kit set: its
   first two cells run; the first installs the kit from the URL and the missing packages, and every package
   the host had keeps its version; ``pip check`` is clean;
4. **a bare JupyterHub**: the kit and pooch uninstalled, the first cell runs in the edition's folder, finds
   ``course_utils`` there and installs pooch;
5. **every student notebook up to its first exercise**: runs cleanly and stops with ``NotImplementedError``
   exactly in the first exercise's test cell;
6. **nbval of the seven committed notebooks** (small profile) on this stack, the checkout's package first on
   the path (their hidden tests import the reference answers): their outputs do not depend on Colab's versions.

Exit status 0 when every step passes; the last line is ``N passed, N failed``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.environment import venv_python  # noqa: E402
from course_utils.install import cell_text  # noqa: E402
from course_utils.instructor.edition import build_edition  # noqa: E402
from course_utils.instructor.release import exercises  # noqa: E402

HARNESS = ["ipykernel", "nbclient", "nbformat", "pytest", "pytest-xdist", "nbval"]
RUNNER = r"""
import json, sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
notebook = nbformat.read(path, as_version=4)
if count:
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"][:count]
    notebook.cells = [c for i, c in enumerate(notebook.cells) if i <= code[-1]]
client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=False)
error = None
try:
    client.execute()
except CellExecutionError as exc:
    error = exc.ename
failed = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
texts = ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
         for c in notebook.cells if c.cell_type == "code"]
print(json.dumps({"error": error, "cell": failed, "texts": texts}))
"""


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``, printing it; raise with its output when it fails."""
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                           f"{done.stderr[-3000:]}")
    return done


def freeze(python: str) -> dict[str, str]:
    """``{name: version}`` of the distributions installed in the environment of ``python``."""
    listed = json.loads(run([python, "-m", "pip", "list", "--format", "json"]).stdout)
    return {d["name"].lower().replace("_", "-"): d["version"] for d in listed}


def execute(python: str, notebook: Path, cwd: Path, env: dict[str, str], cells: int = 0,
            timeout: float = 1200) -> dict:
    """Run ``notebook`` (its first ``cells`` code cells; 0: all, up to the first error) in ``cwd``."""
    done = run([python, "-c", RUNNER, str(notebook), str(cells), str(timeout)], cwd=cwd, env=env,
               timeout=timeout * 2)
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_host(python: list[str], venv: Path, constraints: Path) -> str:
    """A fresh venv with Colab's versions and the harness (made anew on every run: the steps change it)."""
    vpy = venv_python(str(venv))
    shutil.rmtree(venv, ignore_errors=True)
    run([*python, "-m", "venv", str(venv)])
    run([vpy, "-m", "pip", "install", "--quiet", "-r", str(constraints), *HARNESS], timeout=3600)
    return vpy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter of the host venv")
    parser.add_argument("--venv", default=str(ROOT / ".venv-colab"), help="folder of the host venv")
    parser.add_argument("--constraints", default=str(ROOT / "constraints" / "colab.txt"))
    parser.add_argument("--no-nbval", dest="nbval", action="store_false", help="skip step 6")
    args = parser.parse_args(argv)
    results: list[tuple[str, str]] = []

    def step(name: str, function) -> None:
        start = time.perf_counter()
        try:
            note = function() or ""
            results.append((name, ""))
            print(f"ok   {name} ({time.perf_counter() - start:.0f} s){': ' + note if note else ''}", flush=True)
        except Exception as exc:  # every step reports; the summary counts them
            results.append((name, str(exc)))
            print(f"FAIL {name} ({time.perf_counter() - start:.0f} s): {exc}", flush=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_KIT_SOURCE", "PYTHONPATH"))}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "COURSE_KIT_PROFILE": "small"})
    env.pop("MPLBACKEND", None)
    with tempfile.TemporaryDirectory(prefix="course-kit-edition-") as scratch:
        scratch = Path(scratch)
        edition = scratch / "edition"
        url = f"git+file://{edition}"
        state: dict = {}

        def build() -> str:
            notebooks = build_edition(edition, url=url)
            for command in (["init", "-q", "-b", "main"], ["add", "-A"],
                            ["-c", "user.name=course-kit", "-c", "user.email=ci@localhost", "commit", "-qm",
                             "edition"]):
                run(["git", *command], cwd=edition)
            state["notebooks"] = notebooks
            return f"{len(notebooks)} notebooks, url {url}"

        def host() -> str:
            state["python"] = make_host(args.python.split(), Path(args.venv), Path(args.constraints))
            state["before"] = freeze(state["python"])
            version = run([state["python"], "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()
            return f"Python {version}, {len(state['before'])} distributions"

        def link() -> str:
            python = state["python"]
            alone = scratch / "link"
            alone.mkdir()
            notebook = shutil.copy2(edition / "01_pca.ipynb", alone / "01_pca.ipynb")
            start = time.perf_counter()
            result = execute(python, Path(notebook), alone, env, cells=2)
            seconds = time.perf_counter() - start
            if result["error"]:
                raise RuntimeError(f"cell {result['cell']} failed: {result['error']}; {str(result['texts'])[-1500:]}")
            line = result["texts"][0].strip()
            if "installing" not in line or not line.endswith("done."):
                raise RuntimeError(f"the first cell printed {line!r}")
            after = freeze(python)
            changed = [f"{n} {v} -> {after.get(n)}" for n, v in state["before"].items() if after.get(n) != v]
            if changed:
                raise RuntimeError(f"host packages changed: {changed}")
            run([python, "-m", "pip", "check"])
            added = sorted(set(after) - set(state["before"]))
            return f"{seconds:.0f} s; added {len(added)} distributions, changed none; {line}"

        def hub() -> str:
            python = state["python"]
            run([python, "-m", "pip", "uninstall", "-y", "-q", "course-utils", "pooch"])
            probe = scratch / "hub.ipynb"
            source = cell_text(url) + "\nimport course_utils\nprint(course_utils.__file__)\n"
            probe.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": source,
                                                    "outputs": [], "execution_count": None}],
                                         "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
            result = execute(python, probe, edition, env)
            if result["error"]:
                raise RuntimeError(f"{result['error']}: {str(result['texts'])[-1500:]}")
            text = result["texts"][0]
            if "installing pooch" not in text or str(edition / "course_utils") not in text:
                raise RuntimeError(f"the first cell printed {text!r}")
            run([python, "-m", "pip", "install", "-q", "--no-deps", f"course-utils @ {url}"])  # as from a link
            return text.strip().splitlines()[0]

        def first_exercises() -> str:
            python = state["python"]
            problems = []
            for student in state["notebooks"]:
                instructor = json.loads((ROOT / "notebooks" / student.name).read_text(encoding="utf-8"))
                first = exercises(instructor)[0].cell_index
                expected = next(i for i, c in enumerate(instructor["cells"]) if i > first and c["cell_type"] == "code")
                result = execute(python, student, edition, env)
                if (result["cell"], result["error"]) != (expected, "NotImplementedError"):
                    problems.append(f"{student.name}: {result['error']} in cell {result['cell']} (expected "
                                    f"NotImplementedError in cell {expected})")
            if problems:
                raise RuntimeError("; ".join(problems))
            return f"{len(state['notebooks'])} notebooks stop exactly at their first exercise"

        def nbval() -> str:
            # One kernel at a time: two kernels started at once by two xdist workers once lost one at start-up
            # ("Kernel died before replying to kernel_info") on a loaded machine.
            command = [state["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                       "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
                       "--nbval-cell-timeout", "1800", "--nbval-kernel-startup-timeout", "600", "notebooks"]
            # The committed notebooks hold hidden tests that import the reference answers: the checkout's package
            # (with its instructor side) goes first on the path; everything else is the host's Colab stack.
            done = subprocess.run(command, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                  text=True)
            tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
            if done.returncode:
                raise RuntimeError(f"{tail}\n{done.stdout[-6000:]}")
            return tail

        steps = [("1. edition built as a git repository", build), ("2. host venv with Colab's versions", host),
                 ("3. opened from a link: the first two cells", link),
                 ("4. bare JupyterHub: the first cell completes the environment", hub),
                 ("5. every student notebook up to its first exercise", first_exercises)]
        if args.nbval:
            steps.append(("6. nbval of the seven notebooks on Colab's versions", nbval))
        for name, function in steps:
            if any(problem for _, problem in results) and name[0] in "3456" and "python" not in state:
                results.append((name, "skipped: no host venv"))
                print(f"FAIL {name}: skipped, no host venv")
                continue
            step(name, function)
    failed = sum(1 for _, problem in results if problem)
    print(f"edition check: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
