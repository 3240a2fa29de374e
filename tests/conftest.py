"""Shared fixtures: an isolated data cache and course folder, a local 'package index' for pip, closed figures;
the tiny grading exercise of the sandbox and Dask tests."""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
LINUX_ONLY = {"test_sandbox.py", "test_grade_executor.py", "test_distributed.py", "test_instructor.py",
              "test_feedback.py", "test_kit_calls.py", "test_probe_patching.py"}
"""Test modules that grade submissions: the grader's sandbox needs Linux (bubblewrap, rlimits, cgroups)."""


def pytest_collection_modifyitems(config, items):
    """Elsewhere (Windows, macOS) the grading tests are skipped with the reason, not failed at import."""
    if sys.platform.startswith("linux"):
        return
    skip = pytest.mark.skip(reason="grading runs in a Linux sandbox (bubblewrap, rlimits); see README, Platforms")
    for item in items:
        if item.path.name in LINUX_ONLY:
            item.add_marker(skip)

TINY_CHECKS = '''
from course_utils.instructor.checks import FunctionCheck, ResultCheck
EXERCISE = "tiny"
CHECKS = [FunctionCheck("double", "double", lambda rng: [(1.0,), (2.5,)], lambda x: 2 * x, points=2),
          ResultCheck("answer", "answer", expected=42)]
'''
"""``grading/tiny.py`` of a one-function exercise: ``double`` (2 points) and the recorded ``answer`` 42."""
GOOD = ("from course_utils.report import Report\nreport = Report('tiny')",
        "def double(x):\n    return 2 * x",
        "report.record('answer', 42)")
"""The cells of a full-marks submission of :data:`TINY_CHECKS`."""


@pytest.fixture
def close_figures():
    """Close every matplotlib figure after the test (use with ``pytest.mark.usefixtures``)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Point the cache, the course folder and Keras's home at empty temporary folders."""
    dirs = {name: tmp_path / name for name in ("cache", "course", "keras")}
    for folder in dirs.values():
        folder.mkdir()
    monkeypatch.setenv("COURSE_KIT_CACHE", str(dirs["cache"]))
    monkeypatch.setenv("COURSE_KIT_COURSE_DIR", str(dirs["course"]))
    monkeypatch.setenv("KERAS_HOME", str(dirs["keras"]))
    return dirs


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """Make pip see only a local folder of wheels (no network), and return a function adding wheels to it.

    ``add_wheel(name, version, members)`` writes ``name-version-py3-none-any.whl`` holding ``members``
    (a dict of path -> bytes) and returns the sha256 of each member.
    """
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")

    def add_wheel(name: str, version: str, members: dict[str, bytes]) -> dict[str, str]:
        with zipfile.ZipFile(wheels / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
            for member, data in members.items():
                wheel.writestr(member, data)
            wheel.writestr(f"{name}-{version}.dist-info/METADATA",
                           f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
            wheel.writestr(f"{name}-{version}.dist-info/WHEEL",
                           "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        return {member: hashlib.sha256(data).hexdigest() for member, data in members.items()}

    return add_wheel

