"""RaFD file table: naming, camera selection, neutral pairing, and every 'RaFD is not there' path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from course_utils.data import (
    RAFD_DIR_ENV,
    DataShapeError,
    DataUnavailableError,
    load_rafd,
    pair_with_neutral,
    parse_rafd_name,
    scan_rafd,
    select_cameras,
)
from course_utils.data.rafd import COLUMNS, read_images


def write_fake_rafd(folder, models=(1, 2), cameras=("045", "090", "135"), emotions=("angry", "neutral", "happy"),
                    gazes=("frontal",), size=(40, 27)):
    """Small generated JPEGs with real RaFD file names (the files are noise, the names are RaFD's)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for m in models:
        group, sex = ("Moroccan", "male") if m % 2 else ("Caucasian", "female")
        for c in cameras:
            for e in emotions:
                for g in gazes:
                    name = f"Rafd{c}_{m:02d}_{group}_{sex}_{e}_{g}.jpg"
                    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
                    names.append(name)
    return names


def test_parse_rafd_name_reads_every_field():
    fields = parse_rafd_name("Rafd045_07_Moroccan_male_contemptuous_left.jpg")
    assert fields == {"camera": "045", "model": "07", "group": "Moroccan", "sex": "male",
                      "emotion": "contemptuous", "gaze": "left"}
    assert parse_rafd_name("/some/dir/Rafd090_61_Kid_female_happy_frontal.JPG")["group"] == "Kid"


@pytest.mark.parametrize("name", ["Rafd090_01_Caucasian_female_bored_frontal.jpg",   # unknown emotion
                                  "Rafd091_01_Caucasian_female_angry_frontal.jpg",   # unknown camera
                                  "Rafd090_1_Caucasian_female_angry_frontal.jpg",    # model not two digits
                                  "Rafd090_01_Caucasian_female_angry_up.jpg",        # unknown gaze
                                  "IMG_0001.jpg", "Rafd090_01_Caucasian_female_angry.jpg"])
def test_parse_rafd_name_refuses_other_names(name):
    assert parse_rafd_name(name) is None


def test_scan_builds_the_table_and_warns_about_unparseable_names(tmp_path):
    names = write_fake_rafd(tmp_path / "rafd")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rafd" / "holiday.jpg")
    (tmp_path / "rafd" / "README.txt").write_text("not an image: ignored without a warning")
    with pytest.warns(UserWarning, match=r"1 image file\(s\).*holiday.jpg"):
        frame = scan_rafd(tmp_path / "rafd")
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(names) == 2 * 3 * 3
    assert frame["model"].tolist() == sorted(frame["model"].tolist())
    assert set(frame["emotion"].astype(str)) == {"angry", "neutral", "happy"}
    with pytest.raises(DataShapeError, match="holiday.jpg"):
        scan_rafd(tmp_path / "rafd", strict=True)


def test_scan_of_a_missing_folder_says_what_rafd_is_and_where_to_put_it(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        scan_rafd(tmp_path / "nowhere")
    message = str(info.value)
    assert "nowhere" in message and "Radboud Faces Database" in message and "licensed" in message
    assert RAFD_DIR_ENV in message and "stand-in" in message


def test_scan_of_a_folder_without_rafd_images_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataShapeError, match="holds no RaFD images"):
        scan_rafd(tmp_path / "empty")


def test_select_cameras_keeps_the_default_three(tmp_path):
    write_fake_rafd(tmp_path / "rafd", cameras=("000", "045", "090", "135", "180"))
    frame = scan_rafd(tmp_path / "rafd")
    selected = select_cameras(frame)
    assert sorted(selected["camera"].astype(str).unique()) == ["045", "090", "135"]
    assert len(selected) == len(frame) * 3 // 5
    assert set(select_cameras(frame, [90])["camera"].astype(str)) == {"090"}
    with pytest.raises(ValueError, match="Unknown camera"):
        select_cameras(frame, ["060"])
    with pytest.raises(ValueError, match="No image from cameras"):
        select_cameras(frame[frame["camera"] == "090"], ["045"])


def test_pairing_uses_the_same_model_camera_and_gaze(tmp_path):
    write_fake_rafd(tmp_path / "rafd", gazes=("frontal", "left"))
    paired = pair_with_neutral(scan_rafd(tmp_path / "rafd"))
    assert len(paired) == 2 * 3 * 3 * 2
    for row in paired.itertuples():
        neutral = parse_rafd_name(row.neutral_path)
        assert neutral["emotion"] == "neutral"
        assert (int(neutral["model"]), neutral["camera"], neutral["gaze"]) == (row.model, row.camera, row.gaze)
    neutral_rows = paired[paired["emotion"] == "neutral"]
    assert (neutral_rows["path"] == neutral_rows["neutral_path"]).all()  # paired with itself: zero delta


def test_pairing_like_the_seed_uses_one_neutral_per_model(tmp_path):
    write_fake_rafd(tmp_path / "rafd", gazes=("frontal", "left"))
    frame = scan_rafd(tmp_path / "rafd")
    seed_like = frame[(frame["emotion"] != "neutral") | ((frame["camera"] == "090") & (frame["gaze"] == "frontal"))]
    paired = pair_with_neutral(seed_like, match=())
    assert paired.groupby("model")["neutral_path"].nunique().eq(1).all()


def test_pairing_drops_images_without_a_neutral_with_a_warning(tmp_path):
    write_fake_rafd(tmp_path / "rafd")
    frame = scan_rafd(tmp_path / "rafd")
    lonely = (frame["model"] == 2) & (frame["camera"] == "135") & (frame["emotion"] == "neutral")
    with pytest.warns(UserWarning, match="2 image"):
        paired = pair_with_neutral(frame[~lonely])
    assert len(paired) == len(frame) - 3
    with pytest.raises(ValueError, match="No image has a neutral"):
        pair_with_neutral(frame[frame["emotion"] != "neutral"])
    with pytest.raises(ValueError, match="other than 'emotion'"):
        pair_with_neutral(frame, match=("emotion",))


def test_load_rafd_reads_a_real_folder_given_by_the_environment(tmp_path, monkeypatch, isolated_data):
    write_fake_rafd(tmp_path / "rafd")
    monkeypatch.setenv(RAFD_DIR_ENV, str(tmp_path / "rafd"))
    bunch = load_rafd()
    assert bunch.source_kind == "course file" and len(bunch.frame) == 18
    assert isinstance(bunch.frame, pd.DataFrame)


def test_load_rafd_never_falls_back_when_the_real_folder_was_asked_for(tmp_path, monkeypatch, isolated_data):
    monkeypatch.setenv(RAFD_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(DataUnavailableError, match="Radboud"):
        load_rafd()
    monkeypatch.delenv(RAFD_DIR_ENV)
    with pytest.raises(DataUnavailableError, match="Radboud"):
        load_rafd(path=tmp_path / "also-missing")
    with pytest.raises(DataUnavailableError, match="Radboud"):
        load_rafd(standin=False)  # default folder <course dir>/rafd does not exist


def test_load_rafd_uses_the_default_course_folder(isolated_data):
    write_fake_rafd(isolated_data["course"] / "rafd", models=(3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = load_rafd()
    assert bunch.source_kind == "course file" and set(bunch.frame["model"]) == {3}


def test_read_images_resizes_and_names_unreadable_files(tmp_path):
    names = write_fake_rafd(tmp_path / "rafd", models=(1,), cameras=("090",), emotions=("happy",))
    images = read_images([tmp_path / "rafd" / names[0]], size=(16, 11))
    assert images.shape == (1, 16, 11, 3) and images.dtype == np.uint8
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        read_images([tmp_path / "broken.jpg"])
