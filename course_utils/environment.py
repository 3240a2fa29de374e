"""Python interpreters and virtual environments for the kit (used by ``make`` and ``python -m course_utils``).

Supported: CPython 3.11, 3.12 and 3.13, any patch level (the pins of requirements.txt accept 3.11.0).
The default interpreter is ``python3`` (``py -3`` on Windows) when it is a supported version, else the
newest supported one found; the newest supported one is searched for on PATH (``python3.13``,
``python3.12``, ``python3.11``), in pyenv's versions folder and through the Windows ``py`` launcher.

Also runs as a plain script, with any Python 3, before an environment exists (the Makefile does this)::

    python3 course_utils/environment.py pick      # print the default interpreter, or exit 1 saying why
    python3 course_utils/environment.py newest    # print the newest supported interpreter, or exit 1
    python3 course_utils/environment.py check PY  # exit 1 with what to install if PY cannot make the venv

so it uses the standard library only and no syntax newer than Python 3.7.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys

SUPPORTED = ((3, 11), (3, 12), (3, 13))
"""Minor versions of CPython the kit is tested on."""

PROBE = ("import os, sys; print('%d.%d.%d' % sys.version_info[:3], os.path.realpath(sys.executable)); "
         "import venv, ensurepip")
"""Run by each candidate interpreter: its version, and whether it can create a virtual environment."""

INSTALL_HINT = (
    "Install Python 3.11, 3.12 or 3.13 with its venv module: Debian/Ubuntu `sudo apt install python3.11 "
    "python3.11-venv` (Debian 12's python3 is 3.11 and needs only python3-venv), macOS `brew install "
    "python@3.12`, Windows the installer from the Python website or `winget install Python.Python.3.12`; "
    "or name one: `make PYTHON=/path/to/python3.12` / `python3.12 -m course_utils env`."
)


def probe(command: list[str]) -> tuple[tuple[int, ...] | None, str]:
    """``(version, "")`` if ``command`` runs a Python that can create a venv, else ``(version or None, why)``."""
    try:
        returncode, stdout, stderr = _run_probe(tuple(command))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{' '.join(command)} does not run ({exc})"
    lines = stdout.split()
    version = tuple(int(x) for x in lines[0].split(".")) if lines and lines[0][:1].isdigit() else None
    if version is None:
        return None, f"{' '.join(command)} does not run Python ({(stderr.strip().splitlines() or ['?'])[-1].strip()})"
    if version[:2] not in SUPPORTED:
        return version, (f"{' '.join(command)} is Python {'.'.join(map(str, version))}; the kit needs 3.11, 3.12 "
                         f"or 3.13")
    if returncode:
        return version, (f"{' '.join(command)} is Python {'.'.join(map(str, version))} without its venv module "
                         f"(ensurepip); on Debian/Ubuntu: sudo apt install python{version[0]}.{version[1]}-venv")
    return version, ""


def candidates() -> list[list[str]]:
    """Interpreter commands to try, the default first: python3, then versioned names, pyenv, the py launcher."""
    found = []
    names = ["python3", "python"] + [f"python{major}.{minor}" for major, minor in reversed(SUPPORTED)]
    for name in names:
        path = shutil.which(name)
        if path:
            found.append([path])
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for major, minor in reversed(SUPPORTED):
        for path in sorted(glob.glob(os.path.join(root, "versions", f"{major}.{minor}.*", "bin", "python3"))):
            found.append([path])
    if sys.platform == "win32" and shutil.which("py"):
        found += [["py", "-3"]] + [["py", f"-{major}.{minor}"] for major, minor in reversed(SUPPORTED)]
    unique, seen = [], set()
    for command in found:
        key = os.path.realpath(command[0]) if len(command) == 1 else " ".join(command)
        if key not in seen:
            seen.add(key)
            unique.append(command)
    return unique


def interpreters(first_only: bool = False) -> tuple[list[tuple[tuple[int, ...], list[str]]], list[str]]:
    """The usable interpreters ``(version, command)`` in candidate order, and why the others were skipped.

    With ``first_only``, stop at the first usable one.
    """
    usable, skipped, seen = [], [], set()
    for command in candidates():
        version, why = probe(command)
        if why:
            skipped.append(why)
            continue
        executable = _executable(command)
        if executable in seen:  # e.g. pyenv's python3 and python3.11 shims: one interpreter
            continue
        seen.add(executable)
        usable.append((version, command))
        if first_only:
            break
    return usable, skipped


def _executable(command: list[str]) -> str:
    """The real path of the interpreter that ``command`` runs."""
    words = _run_probe(tuple(command))[1].split()
    return words[1] if len(words) > 1 else " ".join(command)


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache needs 3.9; this runs on any Python 3)
def _run_probe(command: tuple[str, ...]) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of :data:`PROBE` run by ``command`` (each interpreter is run once)."""
    run = subprocess.run(list(command) + ["-c", PROBE], capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout, run.stderr


def pick(newest: bool = False) -> list[str]:
    """The default interpreter (the first usable candidate, i.e. python3 if supported) or the newest usable one.

    Raises ``SystemExit`` with what to install when there is none.
    """
    usable, skipped = interpreters(first_only=not newest)
    if not usable:
        reasons = "".join(f"\n  - {why}" for why in skipped) or "\n  - no python3 on PATH"
        raise SystemExit(f"No supported Python found:{reasons}\n{INSTALL_HINT}")
    if newest:
        return max(usable, key=lambda item: item[0])[1]
    return usable[0][1]


def venv_python(venv: str) -> str:
    """The interpreter inside the virtual environment ``venv`` (Scripts\\python.exe on Windows)."""
    if sys.platform == "win32":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def create_venv(python: list[str], venv: str, requirements: str = "requirements.txt", quiet: bool = True) -> str:
    """Create ``venv`` with ``python`` and install the locked requirements and the kit (editable); return its python.

    The same steps as the Makefile's environment recipe: venv, pinned pip, requirements.txt, ``pip install
    --no-deps -e .``, ``pip check``. Reuses ``venv`` when its stamp file is newer than the requirements.
    """
    stamp = os.path.join(venv, ".installed")
    inputs = [requirements, "pyproject.toml"]
    if os.path.exists(stamp) and all(os.path.getmtime(stamp) >= os.path.getmtime(p) for p in inputs):
        return venv_python(venv)
    version, why = probe(python)
    if why:
        raise SystemExit(f"{why}\n{INSTALL_HINT}")
    print(f"creating {venv} with Python {'.'.join(map(str, version))} ({' '.join(python)})", flush=True)
    q = ["--quiet"] if quiet else []
    steps = [python + ["-m", "venv", venv]]
    vpy = venv_python(venv)
    steps += [[vpy, "-m", "pip", "install", *q, "pip==26.3"],
              [vpy, "-m", "pip", "install", *q, "-r", requirements],
              [vpy, "-m", "pip", "install", *q, "--no-deps", "-e", "."],
              [vpy, "-m", "pip", "check"]]
    for step in steps:
        if subprocess.run(step).returncode:
            raise SystemExit(f"failed: {' '.join(step)}")
    with open(stamp, "w"):
        pass
    return vpy


def main(argv: list[str] | None = None) -> int:
    """Script entry point (see the module docstring); prints an interpreter or exits 1 saying why."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("pick", "newest", "check", "list"):
        print(__doc__, file=sys.stderr)
        return 2
    if args[0] == "check":
        command = args[1:] or [sys.executable]
        version, why = probe(command)
        if why:
            print(f"{why}\n{INSTALL_HINT}", file=sys.stderr)
            return 1
        print(f"Python {'.'.join(map(str, version))}: {' '.join(command)}")
        return 0
    if args[0] == "list":
        usable, skipped = interpreters()
        for version, command in usable:
            print(f"{'.'.join(map(str, version)):8s} {' '.join(command)}")
        for why in skipped:
            print(f"skipped  {why}")
        return 0
    try:
        print(" ".join(pick(newest=args[0] == "newest")))
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
