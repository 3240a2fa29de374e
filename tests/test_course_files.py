"""Course files that parse but are wrong: every loader checks what the documented format implies and refuses
a file that does not fit, naming the file, what is wrong and what is expected. Files of each kind are
written to tmp_path; several variants per category, not one example."""

from __future__ import annotations

import bz2
import re

import numpy as np
import pytest

from course_utils import data
from course_utils.data import DataShapeError
from course_utils.data.face_landmarks import load_face_landmarks, make_face_landmarks
from course_utils.evacuation import empirical_critical_number

TRAIN, TEST = "FireEvac_train_set.npy", "FireEvac_test_set.npy"


def _refused(loader, file_named, match, **kwargs):
    """Call ``loader`` and check that it refuses with a message naming ``file_named`` and matching ``match``."""
    with pytest.raises(DataShapeError, match=match) as info:
        loader(**kwargs)
    assert isinstance(info.value, ValueError)
    assert str(file_named) in str(info.value)
    return str(info.value)


# ---------------------------------------------------------------- pca_dataset.txt


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (data.make_pca_dataset().T, r"shape \(2, 100\); expected n >= 3 rows x 2 columns"),  # transposed
        (data.make_pca_dataset()[:2], r"only 2 row\(s\); expected n >= 3 rows"),
        (np.c_[np.arange(10.0), np.full(10, 4.0)], "column x2 has the same value in every row \\(4\\)"),
        (np.ones((10, 2)), "column x1 has the same value"),
        (np.c_[np.arange(10.0), np.arange(10.0), np.arange(10.0)], r"shape \(10, 3\)"),  # an index column
    ],
)
def test_pca_file_of_the_wrong_layout_is_refused(tmp_path, table, match):
    file = tmp_path / "pca_dataset.txt"
    np.savetxt(file, table)
    _refused(data.load_pca_dataset, file, match, path=file)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1 2\n3 4\nnan 5\n6 7\n", r"NaN or infinite values \(in 1 rows, the first at line 3\)"),
        ("1,2\n3,4\n5,6\n", "not a numeric table.*space separated"),
        ("x1 x2\n1 2\n3 4\n5 6\n", "not a numeric table"),
    ],
)
def test_pca_file_with_bad_values_is_refused(tmp_path, text, match):
    file = tmp_path / "pca_dataset.txt"
    file.write_text(text)
    _refused(data.load_pca_dataset, file, match, path=file)


# ---------------------------------------------------------------- data_DMAP_PCA_vadere.txt


@pytest.mark.parametrize("seed", range(5))
def test_pedestrian_files_in_time_order_pass_the_orientation_check(tmp_path, seed):
    walk = data.make_pedestrian_trajectories(seed=seed)
    for i, table in enumerate([walk, walk[::-1], walk[:40, :6], walk * 1000.0, walk + 500.0]):
        file = tmp_path / f"walk{i}.txt"  # any order in time, few steps, other units or origins are fine
        np.savetxt(file, table)
        np.testing.assert_allclose(data.load_pedestrians(path=file).data, table, rtol=1e-12)


def test_a_random_walk_passes_too(tmp_path):
    steps = np.random.default_rng(0).normal(0, 0.3, (500, 8))
    file = tmp_path / "walk.txt"
    np.savetxt(file, np.cumsum(steps, axis=0))
    assert data.load_pedestrians(path=file).n_pedestrians == 4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda w: w.T, r"not consecutive time steps.*transposed \(1000 time steps x 15 pedestrians\?\)"),
        (lambda w: w[:400, :20].T, r"not consecutive time steps.*transposed \(400 time steps x 10 pedestrians\?\)"),
        (lambda w: w[np.random.default_rng(1).permutation(len(w))], "not consecutive time steps.*shuffled"),
        (lambda w: np.c_[np.arange(len(w)), w], r"column\(s\) 1 of its 31 count up or down"),  # an index column
        (lambda w: np.c_[np.sin(np.arange(len(w))), w], r"shape \(1000, 31\) \(an odd number of columns\)"),
        (lambda w: w[:5], r"shape \(5, 30\) \(too few rows\); expected T >= 10 rows"),
        (lambda w: np.ones((50, 4)), "every column is constant"),
    ],
)
def test_pedestrian_file_of_the_wrong_orientation_is_refused(tmp_path, make, match):
    file = tmp_path / "data_DMAP_PCA_vadere.txt"
    np.savetxt(file, make(data.make_pedestrian_trajectories(seed=0)))
    _refused(data.load_pedestrians, file, match, path=file)


def test_pedestrian_file_with_nan_rows_is_refused(tmp_path):
    walk = data.make_pedestrian_trajectories(seed=0)
    walk[[10, 20], 3] = np.nan
    file = tmp_path / "data_DMAP_PCA_vadere.txt"
    np.savetxt(file, walk)
    _refused(data.load_pedestrians, file, r"NaN or infinite values \(in 2 rows, the first at line 11\)", path=file)


def test_pedestrian_stand_in_seed_is_used(isolated_data):
    assert "seed=3" in data.load_pedestrians(seed=3).source
    np.testing.assert_array_equal(data.load_pedestrians(seed=3).data, data.make_pedestrian_trajectories(seed=3))


# ---------------------------------------------------------------- FireEvac_*_set.npy


def _fire_pair(folder, train=None, test=None):
    positions = data.make_fire_evacuation(3600, seed=0)
    np.save(folder / TRAIN, positions[:3000] if train is None else train)
    np.save(folder / TEST, positions[3000:] if test is None else test)
    return positions


def test_fire_files_of_the_course_layout_are_read(tmp_path, isolated_data):
    positions = _fire_pair(tmp_path)
    fire = data.load_fire_evacuation(path=tmp_path)
    np.testing.assert_array_equal(fire.data, positions[:3000])
    np.testing.assert_array_equal(fire.data_test, positions[3000:])


def test_swapped_fire_files_are_refused(tmp_path, isolated_data):
    positions = data.make_fire_evacuation(3600, seed=0)
    _fire_pair(tmp_path, train=positions[3000:], test=positions[:3000])
    _refused(data.load_fire_evacuation, tmp_path / TRAIN,
             "has 600 positions and .*FireEvac_test_set.npy 3000: the training set must be the larger one.*swapped",
             path=tmp_path)


def test_the_same_fire_file_twice_is_refused(tmp_path, isolated_data):
    positions = data.make_fire_evacuation(600, seed=0)
    _fire_pair(tmp_path, train=positions, test=positions)
    _refused(data.load_fire_evacuation, tmp_path / TRAIN, "hold the same positions", path=tmp_path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda p: p[:, ::-1], r"y ranges over \[.*\], outside the building.*columns swapped"),  # (y, x)
        (lambda p: p * 100, r"x ranges over .*outside the building.*units not metres"),  # centimetres
        (lambda p: p - 100, "x ranges over .*outside the building"),  # another origin
        (lambda p: np.r_[p, [[np.nan, 1.0], [2.0, np.inf]]], r"NaN or infinite values in 2 of its 3002 rows"),
    ],
)
def test_fire_positions_outside_the_building_or_not_finite_are_refused(tmp_path, isolated_data, change, match):
    positions = data.make_fire_evacuation(3600, seed=0)
    _fire_pair(tmp_path, train=change(positions[:3000]))
    _refused(data.load_fire_evacuation, tmp_path / TRAIN, match, path=tmp_path)


def test_empirical_critical_number_refuses_nan_rows():
    points = np.array([[140.0, 60.0]] * 5 + [[np.nan, np.nan]] * 5)
    with pytest.raises(ValueError, match=r"points has 5 of 10 rows with NaN or infinite values"):
        empirical_critical_number(points, ((130, 150), (50, 70)), critical=2)
    clean = empirical_critical_number(points[:5], ((130, 150), (50, 70)), critical=2, confidence=0.9)
    assert clean.n_points == 5 and clean.share == 1.0 and clean.confidence == 0.9 and clean.critical == 2


# ---------------------------------------------------------------- mnist.npz


@pytest.fixture(scope="module")
def mnist_arrays():
    """Arrays of the keras.datasets.mnist layout: a bright square on black, every digit present."""
    def images(n):
        x = np.zeros((n, 28, 28), np.uint8)
        x[:, 8:20, 10:18] = 255
        x[:, 14, 14] = np.arange(n) % 256
        return x
    return {"x_train": images(60000), "y_train": (np.arange(60000) % 10).astype(np.uint8),
            "x_test": images(10000), "y_test": (np.arange(10000) % 10).astype(np.uint8)}


def _mnist_file(tmp_path, arrays, **overrides):
    file = tmp_path / "mnist.npz"
    np.savez(file, **{**arrays, **overrides})
    return file


@pytest.mark.parametrize(
    "convert",
    [lambda x: x.astype(np.float32), lambda x: x.astype(np.int64), lambda x: x.astype(np.float64)],
)
def test_mnist_pixels_of_another_dtype_with_whole_values_are_converted_exactly(tmp_path, mnist_arrays, convert):
    file = _mnist_file(tmp_path, mnist_arrays, x_train=convert(mnist_arrays["x_train"]),
                       y_test=mnist_arrays["y_test"].astype(np.float64))
    mnist = data.load_mnist(path=file)
    assert mnist.data.dtype == np.uint8 and mnist.target_test.dtype == np.uint8 and mnist.source_kind == "course file"
    np.testing.assert_array_equal(mnist.data, mnist_arrays["x_train"])
    np.testing.assert_array_equal(mnist.target_test, mnist_arrays["y_test"])


@pytest.mark.parametrize(
    ("key", "change", "match"),
    [
        ("x_train", lambda x: x / 255.0, r"float64 values in \[0, 1\]: pixels scaled to \[0, 1\].*every image black"),
        ("x_test", lambda x: (x / 255.0).astype(np.float32), r"'x_test' holds float32 values in \[0, 1\]"),
        ("x_train", lambda x: x.astype(np.float64) + 0.5, r"values in \[0.5, 255.5\], not all whole numbers"),
        ("x_train", lambda x: x.astype(np.uint16) * 257, r"uint16 values in \[0, 65535\]; expected uint8"),
        ("x_train", lambda x: x.astype(np.int16) - 128, r"int16 values in \[-128, 127\]"),
        ("x_train", lambda x: (x > 0).astype(np.uint8), "only the pixel values 0 and 1 \\(binarised"),
        ("x_train", lambda x: 255 - x, "mean pixel of 2\\d\\d: dark digits on a light background"),
        ("x_train", lambda x: x.astype(bool), "dtype bool"),
        ("x_test", lambda x: np.where(x == 255, np.nan, x.astype(float)), "NaN or infinite"),
        ("x_train", lambda x: x.reshape(60000, 784), r"shape \(60000, 784\).*flattened"),
        ("x_train", lambda x: x[:10000], r"shape \(10000, 28, 28\).*swapped"),
        ("x_test", lambda x: x[..., None], r"'x_test' has shape \(10000, 28, 28, 1\)"),
        ("y_train", lambda y: y + 1, r"'y_train' holds 6000 labels that are not whole numbers in 0..9, e.g. 10"),
        ("y_test", lambda y: y - 1.0, r"'y_test' holds 1000 labels .* e.g. -1.0"),
        ("y_test", lambda y: y + 0.25, "not whole numbers in 0..9"),
        ("y_train", lambda y: np.where(y == 7, 1, y), r"no image of the digits \[7\]"),
        ("y_test", lambda y: y.astype(str), "dtype <U"),
        ("y_train", lambda y: np.eye(10, dtype=np.uint8)[y], r"'y_train' has shape \(60000, 10\)"),  # one-hot
    ],
)
def test_wrong_mnist_course_file_is_refused(tmp_path, isolated_data, mnist_arrays, key, change, match):
    file = _mnist_file(tmp_path, mnist_arrays, **{key: change(mnist_arrays[key])})
    _refused(data.load_mnist, file, match, path=file)


def test_mnist_file_without_an_array_is_refused(tmp_path, isolated_data, mnist_arrays):
    file = tmp_path / "mnist.npz"
    np.savez(file, **{k: v for k, v in mnist_arrays.items() if k != "y_test"})
    _refused(data.load_mnist, file, r"array 'y_test' has shape missing", path=file)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[: len(b) // 2], r"not a readable .npz archive \(BadZipFile: File is not a zip file\)"),
        (lambda b: b[:100], r"not a readable .npz archive"),
        (lambda b: b[:2000] + bytes([b[2000] ^ 0xFF]) + b[2001:], r"BadZipFile: Bad CRC-32 for file"),
        (lambda b: b"", r"not a readable .npz archive \(EOFError"),
        (lambda b: b"hello, not an archive", r"not a readable .npz archive"),
    ],
)
def test_truncated_or_corrupt_mnist_file_names_the_path(tmp_path, isolated_data, mnist_arrays, damage, match):
    file = _mnist_file(tmp_path, mnist_arrays)
    file.write_bytes(damage(file.read_bytes()))
    message = _refused(data.load_mnist, file, match, path=file)
    assert "Copy the file again" in message and "keras.datasets.mnist format" in message


def test_single_npy_or_pickled_arrays_under_the_npz_name_are_refused(tmp_path, isolated_data):
    file = tmp_path / "mnist.npz"
    with open(file, "wb") as handle:
        np.save(handle, np.zeros((3, 28, 28)))
    _refused(data.load_mnist, file, "is a single .npy array, not an .npz archive", path=file)
    np.savez(file, x_train=np.array([None, 1], dtype=object))
    _refused(data.load_mnist, file, "not a readable .npz archive \\(ValueError: Object arrays", path=file)


# ---------------------------------------------------------------- face.dat (raccoon)


def _face_dat(tmp_path, raw: bytes):
    file = tmp_path / "face.dat"
    file.write_bytes(bz2.compress(raw))
    return file


def test_a_face_dat_of_the_right_format_is_read_in_colour_and_gray(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    file = _face_dat(tmp_path, rgb.tobytes())
    colour = data.load_raccoon(gray=False, path=file)
    np.testing.assert_array_equal(colour.data, rgb)
    gray = data.load_raccoon(path=file).data
    assert gray.shape == (768, 1024) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, (0.21 * rgb[..., 0] + 0.71 * rgb[..., 1] + 0.07 * rgb[..., 2]).astype(np.uint8))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda f: f.write_bytes(bz2.compress(bytes(768 * 1024))), r"decompresses to 786432 bytes"),  # gray only
        (lambda f: f.write_bytes(bz2.compress(bytes(10 * 768 * 1024 * 3))), r"decompresses to more than 2359296"),
        (lambda f: f.write_bytes(bz2.compress(np.random.default_rng(0).bytes(2359296))[:5000]),
         r"truncated or longer"),
        (lambda f: f.write_bytes(bytes(range(256)) * 9216), "Invalid data stream"),  # raw, not compressed
        (lambda f: f.write_bytes(bz2.compress(bytes(768 * 1024 * 3))), "an image of one single value \\(0\\)"),
        (lambda f: f.write_bytes(b""), r"decompresses to 0 bytes"),
    ],
)
def test_wrong_face_dat_is_refused(tmp_path, make, match):
    file = tmp_path / "face.dat"
    make(file)
    message = _refused(data.load_raccoon, file, match, path=file)
    assert "expected SciPy's face.dat: bz2-compressed raw RGB bytes of a 768 x 1024 x 3 image" in message


# ---------------------------------------------------------------- face_landmarks.npz


def _landmark_file(path, **overrides):
    d = make_face_landmarks(n_people=2, seed=0)
    arrays = {"landmarks": d.data, "person": d.person, "expression": d.target, "intensity": d.intensity,
              "right_eye_lower": d.right_eye_lower, "left_eye_lower": d.left_eye_lower}
    np.savez(path, **{**arrays, **overrides})
    return d


def test_landmark_labels_stored_as_whole_floats_are_read(tmp_path):
    file = tmp_path / "faces.npz"
    d = _landmark_file(file, expression=make_face_landmarks(n_people=2, seed=0).target.astype(np.float32))
    loaded = load_face_landmarks(path=file)
    assert loaded.target.dtype == np.int64
    np.testing.assert_array_equal(loaded.target, d.target)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (lambda d: {"expression": d.target + 0.5}, r"expression holds 50 values that are not whole numbers"),
        (lambda d: {"person": d.person.astype(str)}, r"person has dtype <U\d+; expected integers"),
        (lambda d: {"expression": d.target + 1}, r"expression labels must lie in 0..6; 8 do not, e.g. 7"),
        (lambda d: {"intensity": d.intensity * 2}, r"intensity labels must lie in 0..4; 24 do not, e.g. 6"),
        (lambda d: {"intensity": np.where(d.target == 0, 2, d.intensity)},
         "face 0 has expression 0 and intensity 2 .*expected intensity 0 for the neutral expression"),
        (lambda d: {"intensity": np.where(d.target == 3, 0, d.intensity)},
         "has expression 3 and intensity 0 \\(8 faces like it\\)"),
        (lambda d: {"left_eye_lower": d.right_eye_lower}, "the two eyes .* are at the same point in 50 faces"),
        (lambda d: {"right_eye_lower": np.array([0, 99])}, r"right_eye_lower must hold landmark indices in 0..82"),
        (lambda d: {"left_eye_lower": np.array([1.5])}, "left_eye_lower holds 1 values that are not whole"),
        (lambda d: {"landmarks": d.data.transpose(0, 2, 1)}, r"landmarks has shape \(50, 3, 83\)"),
        (lambda d: {"landmarks": d.data.astype(complex)}, "landmarks has dtype complex128"),
        (lambda d: {"person": d.person[:-1]}, r"person has shape \(49,\); expected \(50,\)"),
    ],
)
def test_wrong_landmark_file_is_refused(tmp_path, overrides, match):
    file = tmp_path / "faces.npz"
    _landmark_file(file, **overrides(make_face_landmarks(n_people=2, seed=0)))
    _refused(load_face_landmarks, file, match, path=file)


def test_corrupt_landmark_file_is_refused(tmp_path):
    file = tmp_path / "faces.npz"
    _landmark_file(file)
    file.write_bytes(file.read_bytes()[:3000])
    _refused(load_face_landmarks, file, re.escape("is not a readable .npz archive (BadZipFile"), path=file)


def test_loader_seeds_reach_the_stand_ins(isolated_data):
    np.testing.assert_array_equal(data.load_pca_dataset(seed=5).data, data.make_pca_dataset(seed=5))
    assert "seed=5" in data.load_pca_dataset(seed=5).source
    assert not np.array_equal(data.load_pca_dataset(seed=5).data, data.load_pca_dataset().data)
    faces = load_face_landmarks(seed=2)
    np.testing.assert_array_equal(faces.data, make_face_landmarks(seed=2).data)


# ---------------------------------------------------------------- issue 27: the last silent cases


@pytest.mark.parametrize(
    ("extra", "columns", "pedestrians"),
    [
        (lambda n: np.c_[np.arange(n), np.arange(n) * 0.4], "1, 2", "they would add 1 pedestrian)"),  # step, time
        (lambda n: np.c_[np.arange(n) + 1.0], "1", "not pedestrian coordinates. Expected"),  # 1-based row numbers
    ],
)
def test_pedestrian_file_with_index_columns_is_refused(tmp_path, extra, columns, pedestrians):
    walk = data.make_pedestrian_trajectories(seed=0)
    file = tmp_path / "walk.txt"
    np.savetxt(file, np.c_[extra(len(walk)), walk])
    message = _refused(data.load_pedestrians, file, rf"column\(s\) {columns} of its .* count up or down", path=file)
    assert pedestrians in message and "index or time columns" in message and "np.delete" in message


def test_pedestrian_file_with_an_index_column_at_the_end_is_refused(tmp_path):
    walk = data.make_pedestrian_trajectories(seed=1)[:200]
    file = tmp_path / "walk.txt"
    np.savetxt(file, np.c_[walk, np.arange(200.0), np.arange(200.0)[::-1]])
    _refused(data.load_pedestrians, file, r"column\(s\) 31, 32 of its 32", path=file)


@pytest.mark.parametrize("scale", [1 / 1000, 1 / 190, 1 / 110], ids=["kilometres", "0..1 in x", "0..1 in y"])
def test_fire_positions_in_small_units_are_refused(tmp_path, isolated_data, scale):
    positions = data.make_fire_evacuation(3600, seed=0) * scale
    _fire_pair(tmp_path, train=positions[:3000], test=positions[3000:])
    message = _refused(data.load_fire_evacuation, tmp_path / TRAIN, "every position lies in the corner x <= ",
                       path=tmp_path)
    assert "none beyond x = 47.5 or y = 27.5" in message and "in other units (kilometres, or scaled" in message


def test_fire_positions_in_metres_of_a_part_of_the_building_are_read(tmp_path, isolated_data):
    positions = data.make_fire_evacuation(3600, seed=0)
    keep = positions[:, 0] > 60  # a part of the building, still wider than a quarter of it
    _fire_pair(tmp_path, train=positions[:3000][keep[:3000]], test=positions[3000:][keep[3000:]])
    assert data.load_fire_evacuation(path=tmp_path).source_kind == "course file"


def test_no_point_inside_the_area_names_the_points_extent_and_units():
    points = data.make_fire_evacuation(3000, seed=0) / 1000  # kilometres: nothing is in [130, 150] x [50, 70]
    with pytest.raises(ValueError, match=r"None of the 3000 points lies inside the area .*cover x in \[0\.01.*"
                                         r"are they in the area's units \(metres"):
        empirical_critical_number(points, ((130, 150), (50, 70)))


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_course_dir_variable_naming_no_folder_is_an_error(tmp_path, monkeypatch, kind):
    target = tmp_path / "no-such-folder"
    if kind == "file":
        target.write_text("not a folder")
    monkeypatch.setenv(data.COURSE_DIR_ENV, str(target))
    state = "does not exist" if kind == "missing" else "is a file, not a folder"
    for load in (data.load_pca_dataset, data.load_pedestrians, data.load_fire_evacuation):
        with pytest.raises(data.DataUnavailableError,
                           match=rf"COURSE_KIT_COURSE_DIR is set to '.*no-such-folder', which {state}\. "
                                 r"Set COURSE_KIT_COURSE_DIR to the folder"):
            load()


@pytest.mark.parametrize(("content", "kind"), [(b"140.0 60.0\n141.0 61.0\n", "a text file"),
                                               (b"\x00\x01\x02\xff\xfe\xfd", "another format")])
def test_fire_file_that_is_not_npy_says_so_instead_of_pickled_data(tmp_path, isolated_data, content, kind):
    _fire_pair(tmp_path)
    (tmp_path / TRAIN).write_bytes(content)
    message = _refused(data.load_fire_evacuation, tmp_path / TRAIN,
                       rf"is not a NumPy \.npy file: it does not start with NumPy's header \(it looks like {kind}\)",
                       path=tmp_path)
    assert "pickle" not in message
