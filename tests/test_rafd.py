"""RaFD: the reference parser and pairing (notebook 05's exercises), the public table and pairing bookkeeping,
camera selection, and every 'RaFD is not there / not complete' path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from course_utils.data import (
    RAFD_DIR_ENV,
    RAFD_EMOTIONS,
    DataShapeError,
    DataUnavailableError,
    attach_neutral,
    list_images,
    load_rafd,
    rafd_table,
    select_cameras,
)
from course_utils.data.rafd import COLUMNS, read_images
from course_utils.instructor.reference.rafd import neutral_partner, parse_rafd_name


def scan_rafd(folder, strict=False):
    """The notebook's table: every image of the folder, names read by the reference parser."""
    return rafd_table(list_images(folder), parse_rafd_name, folder=folder, strict=strict,
                      require_emotions=())


def pair_with_neutral(frame, match=("camera", "gaze")):
    return attach_neutral(frame, neutral_partner(frame, match))


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
    assert fields == {"camera": "045", "model": 7, "group": "Moroccan", "sex": "male",
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
    with pytest.raises(DataShapeError, match="holds no image files"):
        scan_rafd(tmp_path / "empty")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "empty" / "holiday.jpg")
    with pytest.raises(DataShapeError, match="No file name in .*empty parses as RaFD"), pytest.warns(UserWarning):
        scan_rafd(tmp_path / "empty")


def test_a_folder_without_some_emotions_is_refused_naming_folder_and_emotions(tmp_path):
    write_fake_rafd(tmp_path / "rafd", emotions=("angry", "neutral", "happy"))
    with pytest.raises(DataShapeError) as info:
        rafd_table(list_images(tmp_path / "rafd"), parse_rafd_name, folder=tmp_path / "rafd")
    message = str(info.value)
    assert str(tmp_path / "rafd") in message and "no contemptuous" in message and "no surprised" in message
    assert "angry" in message and "copy the missing images" in message
    full = tmp_path / "full"
    write_fake_rafd(full, models=(1,), cameras=("090",), emotions=RAFD_EMOTIONS)
    assert len(rafd_table(list_images(full), parse_rafd_name, folder=full)) == 8  # all eight: accepted


def test_rafd_table_refuses_a_parser_that_returns_something_else(tmp_path):
    write_fake_rafd(tmp_path / "rafd", models=(1,), cameras=("090",))
    paths = list_images(tmp_path / "rafd")
    with pytest.raises(DataShapeError, match="expected a dict with the fields"):
        rafd_table(paths, lambda name: name.split("_"), require_emotions=())
    with pytest.raises(DataShapeError, match="emotion values"):
        rafd_table(paths, lambda name: {**parse_rafd_name(name), "emotion": "ANGRY"}, require_emotions=())
    # a non-default folder name appears in the messages
    with pytest.raises(DataShapeError, match="somewhere-else"), pytest.warns(UserWarning, match="somewhere-else"):
        rafd_table(paths, lambda name: None, folder="somewhere-else")


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
        pair_with_neutral(frame[frame["emotion"] != "neutral"].reset_index(drop=True))


def test_attach_neutral_refuses_bad_partner_arrays(tmp_path):
    write_fake_rafd(tmp_path / "rafd", models=(1,), cameras=("090",))
    frame = scan_rafd(tmp_path / "rafd")  # angry, happy, neutral of one model
    neutral = int(np.flatnonzero(frame["emotion"] == "neutral")[0])
    good = np.full(len(frame), neutral)
    assert attach_neutral(frame, good)["neutral_path"].nunique() == 1
    with pytest.raises(ValueError, match="one integer row position per row"):
        attach_neutral(frame, good[:-1])
    with pytest.raises(ValueError, match="one integer row position per row"):
        attach_neutral(frame, good.astype(float))
    with pytest.raises(ValueError, match="outside 0..2"):
        attach_neutral(frame, np.array([neutral, 7, -1]))
    with pytest.raises(ValueError, match="not a neutral one"):
        attach_neutral(frame, np.zeros(len(frame), dtype=int) + int(np.flatnonzero(frame["emotion"] == "angry")[0]))


def test_reference_partner_uses_row_positions_not_index_labels(tmp_path):
    write_fake_rafd(tmp_path / "rafd", models=(1, 2), cameras=("090",))
    frame = scan_rafd(tmp_path / "rafd")
    shuffled = frame.sample(frac=1.0, random_state=0)  # index labels no longer equal positions
    partner = neutral_partner(shuffled)
    emotions = shuffled["emotion"].astype(str).to_numpy()
    assert np.all(emotions[partner] == "neutral")
    assert np.array_equal(shuffled["model"].to_numpy()[partner], shuffled["model"].to_numpy())


def test_load_rafd_reads_a_real_folder_given_by_the_environment(tmp_path, monkeypatch, isolated_data):
    write_fake_rafd(tmp_path / "rafd")
    monkeypatch.setenv(RAFD_DIR_ENV, str(tmp_path / "rafd"))
    bunch = load_rafd()
    assert bunch.source_kind == "course file" and len(bunch.filenames) == 18
    assert isinstance(scan_rafd(bunch.folder), pd.DataFrame)


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
    assert bunch.source_kind == "course file" and set(scan_rafd(bunch.folder)["model"]) == {3}


def test_read_images_resizes_and_names_unreadable_files(tmp_path):
    names = write_fake_rafd(tmp_path / "rafd", models=(1,), cameras=("090",), emotions=("happy",))
    images = read_images([tmp_path / "rafd" / names[0]], size=(16, 11))
    assert images.shape == (1, 16, 11, 3) and images.dtype == np.uint8
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        read_images([tmp_path / "broken.jpg"])
