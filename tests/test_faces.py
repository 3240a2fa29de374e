"""The synthetic RaFD stand-in: naming, determinism, MediaPipe finds its faces, emotions move the landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.data import attach_neutral, list_images, rafd_table
from course_utils.data.faces import EMOTIONS, base_faces, make_identity, make_rafd_standin, render, warp_image
from course_utils.instructor.reference.rafd import landmark_deltas, neutral_partner, parse_rafd_name
from course_utils.landmarks import detect_landmarks, extract_landmarks


def scan_rafd(folder):
    return rafd_table(list_images(folder), parse_rafd_name, folder=folder, strict=True)


def pair_with_neutral(frame):
    return attach_neutral(frame, neutral_partner(frame))


@pytest.fixture(scope="module")
def small_standin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standin")
    return make_rafd_standin(folder, detect_landmarks, n_models=2, n_gaze_models=1, seed=3, progress=False)


def test_standin_files_follow_rafd_naming(small_standin):
    frame = scan_rafd(small_standin)  # strict: would raise on any name that does not parse
    assert len(frame) == 2 * 8 * 3 + 1 * 8 * 3 * 2
    assert set(frame["camera"].astype(str)) == {"045", "090", "135"}
    assert set(frame["gaze"].astype(str)) == {"frontal", "left", "right"}
    assert len(pair_with_neutral(frame)) == len(frame)


@pytest.mark.network
def test_mediapipe_finds_at_least_95_percent_of_standin_faces(small_standin):
    frame = scan_rafd(small_standin)
    table = extract_landmarks(list(frame["path"]), progress=False, cache=False)
    assert table.detection_rate >= 0.95


@pytest.mark.network
def test_emotions_move_the_landmarks_and_neutral_does_not(small_standin):
    frame = pair_with_neutral(scan_rafd(small_standin))
    frame = frame[(frame["camera"] == "090") & (frame["gaze"] == "frontal") & (frame["model"] == 1)]
    table = extract_landmarks(list(frame["path"]), progress=False, cache=False)
    ok = table.has(frame["path"]) & table.has(frame["neutral_path"])
    frame = frame[ok]
    deltas = landmark_deltas(table.get(frame["path"]), table.get(frame["neutral_path"]))
    size = np.abs(deltas).mean(axis=1)
    by_emotion = dict(zip(frame["emotion"].astype(str), size, strict=True))
    assert by_emotion["neutral"] == 0
    assert by_emotion["surprised"] > 0.02 and min(v for k, v in by_emotion.items() if k != "neutral") > 0.003


def test_generation_is_seeded():
    bases = base_faces(detect_landmarks)
    a = make_identity(bases, np.random.default_rng(1))
    b = make_identity(bases, np.random.default_rng(1))
    assert np.array_equal(a.image, b.image)
    one = render(a, "happy", "045", "left", np.random.default_rng(2))
    assert np.array_equal(one, render(b, "happy", "045", "left", np.random.default_rng(2)))
    assert one.shape == (256, 170, 3) and set(a.intensities) == set(EMOTIONS)


def test_warp_moves_a_point_where_asked():
    image = np.zeros((60, 40, 3), np.uint8)
    image[20, 20] = 255
    frame = np.array([[0, 0], [39, 0], [0, 59], [39, 59]], float)
    out = warp_image(image, np.r_[[[20, 20]], frame], np.r_[[[20, 26]], frame])
    y, x = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    assert abs(y - 26) <= 1 and abs(x - 20) <= 1
