"""Installation: where course files are found, the notebooks' install cell, the command line."""

from __future__ import annotations

from pathlib import Path

from course_utils.data.loaders import COURSE_DIR_ENV, course_dir


def test_course_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(COURSE_DIR_ENV, str(tmp_path / "mine"))
    assert course_dir() == tmp_path / "mine"


def test_course_dir_is_found_from_the_working_directory_not_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv(COURSE_DIR_ENV, raising=False)
    (tmp_path / "data" / "course").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # a notebook runs in notebooks/: ../data/course
    assert course_dir() == tmp_path / "data" / "course"
    monkeypatch.chdir(tmp_path)  # a command runs in the repository root: ./data/course
    assert course_dir() == tmp_path / "data" / "course"
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)  # nothing there: ./data/course, which does not exist (stand-ins are used)
    assert course_dir() == elsewhere / "data" / "course"
    assert Path(__file__).resolve().parents[1] not in course_dir().parents
