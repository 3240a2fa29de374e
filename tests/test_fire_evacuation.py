"""The fire-evacuation stand-in generator and its loader (course files, explicit folder, error paths)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import data
from course_utils.data.errors import DataShapeError, DataUnavailableError

AREA = ((130.0, 150.0), (50.0, 70.0))
TRAIN, TEST = "FireEvac_train_set.npy", "FireEvac_test_set.npy"


def _share_inside(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(np.mean((x >= 130) & (x <= 150) & (y >= 50) & (y <= 70)))


# ---------------------------------------------------------------- the generator


def test_generator_shape_dtype_and_bounds():
    for seed in range(3):
        X = data.make_fire_evacuation(20000, seed=seed)
        assert X.shape == (20000, 2) and X.dtype == np.float64 and np.all(np.isfinite(X))
        assert X[:, 0].min() >= 0 and X[:, 0].max() <= 190 and X[:, 1].min() >= 0 and X[:, 1].max() <= 110
    assert data.make_fire_evacuation().shape == (3600, 2)
    assert data.make_fire_evacuation(0).shape == (0, 2)
    with pytest.raises(ValueError, match="n_samples must be >= 0"):
        data.make_fire_evacuation(-1)


def test_generator_is_seeded():
    np.testing.assert_array_equal(data.make_fire_evacuation(500, seed=4), data.make_fire_evacuation(500, seed=4))
    assert not np.array_equal(data.make_fire_evacuation(500, seed=4), data.make_fire_evacuation(500, seed=5))
    from_generator = data.make_fire_evacuation(500, seed=np.random.default_rng(4))
    np.testing.assert_array_equal(from_generator, data.make_fire_evacuation(500, seed=4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_modest_share_is_in_the_sensitive_area(seed):
    assert 0.02 < _share_inside(data.make_fire_evacuation(20000, seed=seed)) < 0.035  # designed: 8 % / 3
    assert 0.015 < _share_inside(data.make_fire_evacuation(3600, seed=seed)) < 0.04


def test_structure_fan_waiting_area_and_thin_corridors():
    X = data.make_fire_evacuation(20000, seed=0)
    # The crowd in front of the entrance: everyone below the south wall (y < 40), about 30 %, fanning wide.
    crowd = X[X[:, 1] < 40]
    assert 0.27 < len(crowd) / len(X) < 0.33
    assert np.ptp(crowd[:, 0]) > 60 and np.ptp(crowd[:, 1]) > 30
    near_door = np.hypot(crowd[:, 0] - 95, crowd[:, 1] - 40) < 19  # inner half of the radius
    assert near_door.mean() > 0.35  # denser near the door than a uniform half-disc (0.25)
    # The waiting area: the densest 5 m x 5 m cell, far denser than any corridor cell.
    counts, xe, ye = np.histogram2d(X[:, 0], X[:, 1], bins=(38, 22), range=((0, 190), (0, 110)))
    i, j = np.unravel_index(counts.argmax(), counts.shape)
    assert 25 <= xe[i] <= 45 and 80 <= ye[j] <= 95
    assert counts.max() > 0.025 * len(X)
    # Corridors: inside the building, away from the waiting area, nearly everyone is within 2.5 m of a
    # corridor's axis, so most of the floor is empty.
    building = X[(X[:, 1] > 42) & (np.hypot(X[:, 0] - 35, X[:, 1] - 88) > 12)]
    near_x = np.abs(building[:, [0]] - np.array([20, 60, 95, 115, 140, 170])).min(axis=1) < 2.5
    near_y = np.abs(building[:, [1]] - np.array([45, 75])).min(axis=1) < 2.5
    assert np.mean(near_x | near_y) > 0.99
    occupied = np.histogram2d(building[:, 0], building[:, 1], bins=(95, 34), range=((0, 190), (42, 110)))[0] > 0
    assert occupied.mean() < 0.35


def test_rows_are_shuffled_so_the_split_is_representative():
    X = data.make_fire_evacuation(3600, seed=0)
    train, test = X[:3000], X[3000:]
    assert abs(np.mean(train[:, 1] < 40) - np.mean(test[:, 1] < 40)) < 0.06


# ---------------------------------------------------------------- the loader


def _save_pair(folder, n_train=30, n_test=6, dtype=np.float64):
    rng = np.random.default_rng(0)
    np.save(folder / TRAIN, rng.uniform(0, 100, (n_train, 2)).astype(dtype))
    np.save(folder / TEST, rng.uniform(0, 100, (n_test, 2)).astype(dtype))


def test_default_is_the_generated_stand_in(isolated_data):
    fire = data.load_fire_evacuation()
    assert fire.source_kind == "generated" and fire.path is None
    assert "make_fire_evacuation(3600, seed=0)" in fire.source and TRAIN in fire.source
    assert fire.data.shape == (3000, 2) and fire.data_test.shape == (600, 2)
    np.testing.assert_array_equal(np.concatenate([fire.data, fire.data_test]), data.make_fire_evacuation(3600, 0))
    assert fire.bounds == ((0, 190), (0, 110)) and fire.sensitive_area == ((130, 150), (50, 70))
    assert fire.critical_count == 100 and fire.description
    assert not np.array_equal(data.load_fire_evacuation(seed=1).data, fire.data)


def test_course_folder_files_win(isolated_data):
    _save_pair(isolated_data["course"])
    fire = data.load_fire_evacuation()
    assert fire.source_kind == "course file" and fire.path == isolated_data["course"]
    assert fire.data.shape == (30, 2) and fire.data_test.shape == (6, 2)
    assert TRAIN in fire.source and TEST in fire.source


def test_explicit_folder_is_read_and_floats_become_float64(tmp_path, isolated_data):
    folder = tmp_path / "mine"
    folder.mkdir()
    _save_pair(folder, 12, 4, dtype=np.float32)
    fire = data.load_fire_evacuation(path=folder)
    assert fire.source_kind == "course file" and fire.path == folder
    assert fire.data.shape == (12, 2) and fire.data.dtype == np.float64


def test_explicit_path_must_be_a_folder_with_the_files(tmp_path, isolated_data):
    _save_pair(tmp_path)
    with pytest.raises(DataUnavailableError, match="is not a folder"):
        data.load_fire_evacuation(path=tmp_path / TRAIN)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError, match="holds neither"):
        data.load_fire_evacuation(path=tmp_path / "empty")


@pytest.mark.parametrize(("present", "missing"), [(TRAIN, TEST), (TEST, TRAIN)])
def test_one_file_alone_is_refused_naming_the_missing_one(isolated_data, present, missing):
    course = isolated_data["course"]
    np.save(course / present, np.ones((5, 2)))
    with pytest.raises(DataUnavailableError, match=f"{missing} is missing") as info:
        data.load_fire_evacuation()
    assert str(course) in str(info.value)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((30, 3)), r"shape \(30, 3\); expected a .npy array of shape \(n, 2\)"),
        (np.ones(30), r"shape \(30,\)"),
        (np.ones((0, 2)), r"shape \(0, 2\)"),
        (np.ones((30, 2), dtype=np.int64), "dtype int64"),
        (np.array([[1.0, 2.0], [np.nan, 3.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "NaN or infinite"),
        (np.array([[1.0, None]], dtype=object), "not a readable .npy file"),
    ],
)
def test_bad_train_file_is_refused_with_its_name(tmp_path, array, message):
    _save_pair(tmp_path)
    np.save(tmp_path / TRAIN, array)
    with pytest.raises(DataShapeError, match=message) as info:
        data.load_fire_evacuation(path=tmp_path)
    assert str(tmp_path / TRAIN) in str(info.value)


@pytest.mark.parametrize("content", [b"not a numpy file", b""])
def test_unreadable_test_file_is_refused_with_its_name(tmp_path, content):
    _save_pair(tmp_path)
    (tmp_path / TEST).write_bytes(content)
    with pytest.raises(DataShapeError, match=r"is not a NumPy \.npy file: (it is empty|it does not start)") as info:
        data.load_fire_evacuation(path=tmp_path)
    assert str(tmp_path / TEST) in str(info.value)


def test_an_npz_archive_under_the_npy_name_is_refused(tmp_path):
    _save_pair(tmp_path)
    with open(tmp_path / TEST, "wb") as file:
        np.savez(file, positions=np.ones((6, 2)))
    with pytest.raises(DataShapeError, match="several arrays"):
        data.load_fire_evacuation(path=tmp_path)
