"""Complete the environment a notebook runs in: the kit's dependencies that are missing are installed, nothing
that is installed is replaced. Called by the first cell of every notebook::

    from course_utils.install import complete
    complete()  # prints one line: what it installed, or that nothing was missing

Where the kit sits (a venv made from the README, Colab after the cell's ``pip install --no-deps``, a JupyterHub
checkout that only imports ``course_utils`` from the working folder), the requirements are the ones of the
kit's own ``pyproject.toml`` beside the package if there is one, else of the installed distribution's metadata.

The host's stack is kept: every installed distribution of TensorFlow, Keras, JAX, PyTorch, NumPy, pandas,
SciPy, Matplotlib, protobuf, h5py, ml-dtypes, the Jupyter/IPython kernel stack and OpenCV is pinned to its
installed version with a pip constraints file, so pip adds what is missing (on Colab: mediapipe, pooch,
seaborn ...) and stops with its message instead of replacing Colab's TensorFlow. One ``cv2``: where the host
has an OpenCV distribution (Colab has three), mediapipe's ``opencv-contrib-python`` is pinned to that version.

Standard library only (plus ``packaging``, or pip's copy of it), so it runs before any dependency is there.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

DISTRIBUTION = "course-utils"
KEEP = ("tensorflow", "tf-keras", "keras", "jax", "torch", "numpy", "pandas", "scipy", "matplotlib", "protobuf",
        "h5py", "ml-dtypes", "ipython", "ipykernel", "jupyter", "notebook", "tornado", "pyzmq", "opencv")
"""Prefixes of (normalised) distribution names that are never upgraded or replaced: the host's stack."""


def _packaging():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a bare host without packaging: pip always carries a copy
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: tuple[str, ...] = ("faces",), root: Path | None = None) -> list[str]:
    """The kit's requirement strings with ``extras``: from ``pyproject.toml`` beside the package when there is
    one (a checkout, an editable install), else from the installed distribution's metadata."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if normalise(project.get("name", "")) == DISTRIBUTION:
            optional = project.get("optional-dependencies", {})
            found = list(project.get("dependencies", []))
            for extra in extras:
                found += [r for r in optional.get(extra, []) if not normalise(r).startswith(DISTRIBUTION)]
            return found
    Requirement = _packaging()
    found = []
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # imported from a copy of the package alone: nothing to check against
        return []
    for line in lines:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in ("", *extras)):
            requirement.marker = None
            found.append(str(requirement))
    return found


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def host_pins() -> dict[str, str]:
    """``{name: version}`` of the installed distributions that pip must keep as they are (see ``KEEP``)."""
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name = normalise(dist.metadata["Name"] or "")
        if name.startswith(KEEP):
            pins.setdefault(name, dist.version)
    opencv = [version for name, version in pins.items() if name.startswith("opencv")]
    if opencv:  # one cv2: mediapipe's opencv-contrib-python at the version of the host's cv2
        pins.setdefault("opencv-contrib-python", opencv[0])
    return pins


def unmet(wanted: list[str]) -> tuple[list[str], list[str]]:
    """``(to_install, conflicts)``: the requirements that are missing or too old and may be installed, and those
    a kept host package does not meet (as ``"numpy 1.25.2 (the kit needs numpy>=1.26)"``)."""
    Requirement = _packaging()
    to_install, conflicts = [], []
    for line in wanted:
        requirement = Requirement(line)
        version = installed_version(requirement.name)
        if version is not None and requirement.specifier.contains(version, prereleases=True):
            continue
        if version is not None and normalise(requirement.name).startswith(KEEP):
            conflicts.append(f"{requirement.name} {version} (the kit needs {line})")
        else:
            to_install.append(line)
    return to_install, conflicts


def complete(extras: tuple[str, ...] = ("faces",)) -> None:
    """The notebooks' first cell: :func:`install_missing` with ``extras``, which prints one line. Returns
    nothing, so the cell shows that line and no value."""
    install_missing(extras)


def install_missing(extras: tuple[str, ...] = ("faces",), quiet: bool = False, wanted: list[str] | None = None
                    ) -> list[str]:
    """Install the kit's missing dependencies with pip, keeping the host's stack; return what was installed.

    ``wanted`` replaces the kit's requirements (:func:`requirements` with ``extras``). Prints one line saying
    what it did (``quiet`` drops the line when nothing was missing). Raises ``RuntimeError`` (with pip's
    message, or naming the host package that is too old) when the environment cannot be completed without
    replacing a host package.
    """
    from course_utils import __version__

    to_install, conflicts = unmet(requirements(extras) if wanted is None else wanted)
    if conflicts:
        raise RuntimeError("This environment's " + "; ".join(conflicts) + ". The kit does not replace them: use a "
                           "newer runtime, or a virtual environment made as the README says.")
    if not to_install:
        if not quiet:
            print(f"course kit {__version__}: every dependency is installed; nothing to do.")
        return []
    with tempfile.NamedTemporaryFile("w", suffix="-host.txt", delete=False) as constraints:
        constraints.write("\n".join(f"{name}=={version}" for name, version in host_pins().items()))
    names = ", ".join(_packaging()(line).name for line in to_install)
    print(f"course kit {__version__}: installing {names} (installed packages are kept) ...", end=" ", flush=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", constraints.name, *to_install],
                         capture_output=True, text=True)
    Path(constraints.name).unlink(missing_ok=True)
    if pip.returncode:
        raise RuntimeError(f"pip could not install {names}:\n{pip.stdout[-2000:]}{pip.stderr[-4000:]}")
    importlib.invalidate_caches()
    still, _ = unmet(to_install)
    if still:
        raise RuntimeError(f"pip ran, yet {', '.join(still)} is still not installed; restart the kernel and rerun.")
    print("done.")
    return to_install


CELL = '''\
# Set-up: installs the course kit, and what it needs, where they are missing (Colab, JupyterHub).
import importlib.util
import subprocess
import sys

KIT = "@KIT_SOURCE@"  # where this course publishes its kit (written by the instructor's release)
if importlib.util.find_spec("course_utils") is None:
    if not KIT:
        raise RuntimeError("The course kit is not installed: open this notebook from your course's edition.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"course-utils @ {KIT}"], check=True)
from course_utils.install import complete

complete()  # one line: what it installed, or that nothing was missing
'''
"""The first code cell of every notebook (tag ``install-kit``); ``@KIT_SOURCE@`` becomes :func:`pip_source`."""


def pip_source(url: str) -> str:
    """What pip installs the kit from, for a repository ``url``: ``git+`` before an ``https://``/``http://``
    address, a local folder as a ``file://`` URL, anything else (``git+...``, ``file:...``) as it is."""
    if url.startswith(("http://", "https://")):
        return "git+" + url
    if "://" not in url and not url.startswith("file:"):
        return Path(url).resolve().as_uri()
    return url


def cell_text(source: str) -> str:
    """The first cell with ``source`` (a :func:`pip_source`, or ``""`` for none) as where the kit comes from."""
    if any(c in source for c in "\"'\\\n{}"):
        raise ValueError(f"{source!r}: quotes, braces, backslashes and line breaks are not allowed in the kit's URL.")
    return CELL.replace("@KIT_SOURCE@", source)
