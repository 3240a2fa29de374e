"""The data layer's house rules: every module imports alone, the data layer needs no model, one convention."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import course_utils
from course_utils import data
from course_utils.data import Split, split_by_person
from course_utils.data.alignment import align_on_eyes, eye_similarity
from course_utils.data.cache import CACHE_ENV, ContentCache, cache_dir
from course_utils.data.errors import DataUnavailableError
from course_utils.data.face_landmarks import load_face_template
from course_utils.data.faces import STANDIN_PARAMS, ensure_rafd_standin, standin_dir
from course_utils.data.landmark_index import (
    EYE_CORNERS,
    LEFT_EYE_LOWER,
    LEFT_EYE_OUTER,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_OUTER,
)
from tests.conftest import ROOT

MODULES = sorted(m.name for m in pkgutil.walk_packages(course_utils.__path__, "course_utils."))
DATA_MODULES = [m for m in MODULES if m == "course_utils.data" or m.startswith("course_utils.data.")]
MODELS = ("mediapipe", "tensorflow", "keras", "tensorflow_probability")

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
         "OMP_NUM_THREADS": "1"}


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=QUIET,
                          timeout=300)


def _models_imported_by(modules: list[str]) -> list[str]:
    """The model packages (and kit modules that wrap models) in ``sys.modules`` after importing ``modules``."""
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {MODELS!r} "
            "or m in ('course_utils.landmarks', 'course_utils.vae', 'course_utils.classifiers'))))")
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_module_list_covers_the_package():
    assert "course_utils.data.landmark_index" in MODULES and "course_utils.landmarks" in MODULES
    assert any(m.startswith("course_utils.instructor.reference.") for m in MODULES)
    assert len(DATA_MODULES) >= 10


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_alone(module):
    done = _fresh_python(f"import {module}")
    assert done.returncode == 0, f"`import {module}` in a fresh interpreter failed:\n{done.stderr[-3000:]}"


def test_the_data_layer_imports_no_model():
    assert _models_imported_by(DATA_MODULES) == []


def test_the_model_check_sees_a_model_when_there_is_one():
    assert "keras" in _models_imported_by(["course_utils.classifiers"])


# ----------------------------------------------------------------------------- landmark index tables


def test_index_tables_agree_with_the_template():
    t = load_face_template()
    index = list(t.mediapipe_index)
    assert t.mediapipe_index[t.right_eye_lower].tolist() == list(RIGHT_EYE_LOWER)
    assert t.mediapipe_index[t.left_eye_lower].tolist() == list(LEFT_EYE_LOWER)
    # x points to the subject's left: the right eye's outer corner has the smaller x, both at eye height
    right, left = t.data[index.index(RIGHT_EYE_OUTER)], t.data[index.index(LEFT_EYE_OUTER)]
    assert right[0] < -0.5 < 0.5 < left[0] and abs(right[1] - left[1]) < 0.05
    assert EYE_CORNERS[0][0] == RIGHT_EYE_OUTER and EYE_CORNERS[1][0] == LEFT_EYE_OUTER


# ----------------------------------------------------------------------------- the one alignment warp


def test_eye_similarity_puts_the_eyes_where_asked():
    right, left = np.array([10.0, 30.0]), np.array([40.0, 10.0])  # a tilted pair of eyes
    M = eye_similarity(right, left, eye_distance=20.0, eye_centre=(32.0, 16.0))
    moved = np.c_[np.stack([right, left]), np.ones(2)] @ M.T
    np.testing.assert_allclose(moved, [[22.0, 16.0], [42.0, 16.0]], atol=1e-9)


def test_align_on_eyes_moves_the_image_with_the_matrix():
    image = np.zeros((80, 60), np.uint8)
    image[50, 20] = 255  # a dot below the right eye
    right, left = np.array([20.0, 30.0]), np.array([40.0, 30.0])
    aligned, M = align_on_eyes(image, right, left, size=(64, 64), eye_distance=40.0, eye_centre=(32.0, 20.0))
    assert aligned.shape == (64, 64)
    expected = M @ [20.0, 50.0, 1.0]  # the dot, moved by the returned matrix
    y, x = np.unravel_index(aligned.argmax(), aligned.shape)
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1
    np.testing.assert_allclose(expected, [12.0, 60.0], atol=1e-9)  # scale 2 about the eyes' midpoint


# ----------------------------------------------------------------------------- caches and data_home


def test_content_cache_round_trip(tmp_path):
    cache = ContentCache(tmp_path / "results")
    key = "ab" + "0" * 62
    assert cache.get(key) is None and not cache.path(key).exists()
    cache.put(key, {"found": np.array(True), "landmarks": np.arange(6.0).reshape(2, 3)})
    assert cache.path(key) == tmp_path / "results" / "ab" / f"{key}.npz"
    stored = cache.get(key)
    assert bool(stored["found"]) and stored["landmarks"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert [p.name for p in cache.path(key).parent.iterdir()] == [f"{key}.npz"]  # no temporary file left


def test_data_home_overrides_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "from-env"))
    assert cache_dir() == tmp_path / "from-env"
    assert cache_dir(tmp_path / "mine") == tmp_path / "mine"
    assert standin_dir(tmp_path / "mine").parent == tmp_path / "mine"


def test_generating_the_standin_needs_a_detector(tmp_path):
    with pytest.raises(DataUnavailableError, match="needs a face detector"):
        ensure_rafd_standin(data_home=tmp_path)
    assert not standin_dir(tmp_path).exists()


def test_a_complete_standin_needs_no_detector(tmp_path, isolated_data):
    from PIL import Image

    folder = standin_dir(tmp_path)
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(folder / "Rafd090_01_Caucasian_female_happy_frontal.jpg")
    (folder / "standin.json").write_text(json.dumps(STANDIN_PARAMS))
    assert ensure_rafd_standin(data_home=tmp_path) == (folder, 0.0)
    bunch = data.load_rafd(data_home=tmp_path)
    assert bunch.source_kind == "generated" and len(bunch.filenames) == 1 and bunch.folder == folder


# ----------------------------------------------------------------------------- one Bunch convention


@pytest.mark.parametrize("load", [data.load_pca_dataset, data.load_pedestrians, data.load_fire_evacuation,
                                  data.load_face_landmarks])
def test_loaders_share_one_convention(load, isolated_data):
    bunch = load()
    assert {"data", "description", "source", "source_kind", "path"} <= set(bunch)
    assert isinstance(bunch.data, np.ndarray) and bunch.data.dtype == np.float64
    assert not {"image", "x_train", "train", "points", "landmarks", "paths"} & set(bunch)


def test_face_landmarks_have_targets_and_their_names(isolated_data):
    faces = data.load_face_landmarks(seed=0)
    assert faces.data.shape == (2500, 83, 3) and faces.target.shape == (2500,)
    assert faces.target_names[0] == "neutral" and faces.target.max() == len(faces.target_names) - 1


# ----------------------------------------------------------------------------- the one person splitter


def test_split_by_person_keeps_people_apart():
    person = np.repeat(np.arange(100), 25)
    split = split_by_person(person, seed=0)
    assert isinstance(split, Split)
    assert [len(np.unique(person[getattr(split, k)])) for k in ("train", "val", "test")] == [80, 10, 10]
    assert np.array_equal(np.sort(np.concatenate(list(split.parts().values()))), np.arange(2500))
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(person[getattr(split, a)]) & set(person[getattr(split, b)])
    assert all(np.all(np.diff(index) > 0) for index in split.parts().values())
    assert np.array_equal(split_by_person(person, seed=0).test, split.test)
    assert not np.array_equal(split_by_person(person, seed=1).test, split.test)
    assert split_by_person(person, sizes=(60, 25, 15), seed=0).sizes() == {"train": 1500, "val": 625, "test": 375}
    with pytest.raises(ValueError, match="add up"):
        split_by_person(person, sizes=(50, 10, 10))
