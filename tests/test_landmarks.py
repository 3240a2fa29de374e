"""MediaPipe wrapper: a real face (scikit-image's astronaut), a blank image, the cache, and the delta features."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from skimage import data

from course_utils.data import REGISTRY, fetch
from course_utils.instructor.reference.rafd import landmark_deltas
from course_utils.landmarks import (
    LEFT_EYE_OUTER,
    N_LANDMARKS,
    RIGHT_EYE_OUTER,
    FaceLandmarker,
    LandmarkTable,
    MissingLandmarksError,
    align_face,
    check_landmark_pairs,
    detect_landmarks,
    extract_landmarks,
    inter_ocular_distance,
    normalized_positions,
)


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker() as lm:
        yield lm


@pytest.mark.network
def test_astronaut_has_one_face_with_478_landmarks_and_blendshapes(landmarker):
    detection = landmarker.detect(data.astronaut())
    assert detection is not None
    assert detection.landmarks.shape == (N_LANDMARKS, 3) and detection.landmarks.dtype == np.float32
    assert np.all((detection.landmarks[:, :2] > 0) & (detection.landmarks[:, :2] < 1))
    assert detection.blendshapes.shape == (52,)
    # she smiles: MediaPipe's mouthSmileLeft / Right (blendshapes 44, 45) are high
    assert detection.blendshapes[44:46].mean() > 0.5
    # the subject's right eye (landmark 33) is on the left of the photograph
    assert detection.landmarks[RIGHT_EYE_OUTER, 0] < detection.landmarks[LEFT_EYE_OUTER, 0]


@pytest.mark.network
def test_blank_image_has_no_face(landmarker):
    assert landmarker.detect(np.zeros((200, 150, 3), np.uint8)) is None


@pytest.mark.network
def test_detect_refuses_wrong_images_and_a_closed_landmarker(landmarker):
    with pytest.raises(ValueError, match="uint8"):
        landmarker.detect(np.zeros((20, 20, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        landmarker.detect(np.zeros((20, 20, 2), np.uint8))
    closed = FaceLandmarker(model=b"unused")
    with pytest.raises(RuntimeError, match="context manager"):
        closed.detect(data.astronaut())


@pytest.mark.network
def test_extraction_records_missing_faces_and_caches(tmp_path, monkeypatch):
    model = fetch(REGISTRY["face_landmarker"])  # the verified model, copied into an empty cache
    (tmp_path / "cache").mkdir()
    shutil.copy(model, tmp_path / "cache" / model.name)
    monkeypatch.setenv("COURSE_KIT_CACHE", str(tmp_path / "cache"))
    face, blank = tmp_path / "face.png", tmp_path / "blank.png"
    Image.fromarray(data.astronaut()).save(face)
    Image.fromarray(np.full((120, 90, 3), 200, np.uint8)).save(blank)
    table = extract_landmarks([face, blank, face], progress=False)
    assert table.found.tolist() == [True, False, True]
    assert table.n_missing == 1 and table.missing_keys == [str(blank)]
    assert table.detection_rate == pytest.approx(2 / 3)
    assert table.points.shape == (2, N_LANDMARKS, 3) and np.all(np.isfinite(table.points))
    assert table.has([face, blank]).tolist() == [True, False]
    assert table.get([face]).shape == (1, N_LANDMARKS, 3)
    with pytest.raises(MissingLandmarksError, match="1 of 2 requested images have no landmarks"):
        table.get([face, blank])
    assert len(list((tmp_path / "cache" / "landmarks").rglob("*.npz"))) == 2  # keyed by content: face once
    again = extract_landmarks([face, blank, face], progress=False)
    assert again.n_cached == 3 and again.found.tolist() == [True, False, True]
    assert np.array_equal(again.points, table.points)
    arrays = extract_landmarks(np.stack([data.astronaut()]), progress=False)
    assert arrays.keys == ["image-0"] and arrays.found.tolist() == [True]
    elsewhere = extract_landmarks([blank], progress=False, data_home=tmp_path / "other")  # detected, not cached
    assert elsewhere.n_cached == 0 and len(list((tmp_path / "other" / "landmarks").rglob("*.npz"))) == 1


def test_detect_landmarks_is_the_detector_the_data_layer_takes():
    photo = data.astronaut()
    points = detect_landmarks(photo)
    assert points.shape == (N_LANDMARKS, 3) and points[RIGHT_EYE_OUTER, 0] < points[LEFT_EYE_OUTER, 0]
    assert detect_landmarks(np.full((120, 90, 3), 200, np.uint8)) is None


def test_deltas_are_scaled_by_the_neutral_inter_ocular_distance():
    rng = np.random.default_rng(0)
    neutral = rng.normal(size=(2, N_LANDMARKS, 3))
    emote = neutral + 0.1 * rng.normal(size=neutral.shape)
    deltas = landmark_deltas(emote, neutral)
    assert deltas.shape == (2, N_LANDMARKS * 3)
    d = inter_ocular_distance(neutral)
    assert np.allclose(deltas[1, :3], (emote[1, 0] - neutral[1, 0]) / d[1], atol=1e-6)
    assert np.allclose(landmark_deltas(3 * emote, 3 * neutral), deltas, atol=1e-6)
    assert landmark_deltas(emote[0], neutral[0]).shape == (N_LANDMARKS * 3,)


def test_zero_displacement_is_zero_not_nan():
    neutral = np.random.default_rng(1).normal(size=(N_LANDMARKS, 3))
    assert np.array_equal(landmark_deltas(neutral, neutral), np.zeros(N_LANDMARKS * 3))


def test_deltas_refuse_degenerate_faces_and_shapes():
    neutral = np.zeros((N_LANDMARKS, 3))
    with pytest.raises(ValueError, match="zero or non-finite distance between landmarks 263 and 33"):
        landmark_deltas(neutral, neutral)
    with pytest.raises(ValueError, match="non-finite"):
        landmark_deltas(np.full((N_LANDMARKS, 3), np.nan), np.full((N_LANDMARKS, 3), np.nan))
    with pytest.raises(ValueError, match="same shape"):
        landmark_deltas(np.ones((2, N_LANDMARKS, 3)), np.ones((N_LANDMARKS, 3)))
    with pytest.raises(ValueError, match="zero or non-finite"):
        normalized_positions(neutral)


@pytest.mark.parametrize("function", [check_landmark_pairs, landmark_deltas])
def test_landmark_pairs_get_clear_errors_naming_the_argument(function):
    rng = np.random.default_rng(3)
    faces83 = rng.normal(size=(4, 83, 3))
    with pytest.raises(ValueError, match=r"left_eye=263 is not a landmark of these faces, which have 83 "
                                         r"landmarks \(indices 0..82\)"):
        function(faces83, faces83)
    with pytest.raises(ValueError, match="right_eye=-1"):
        function(faces83, faces83, 10, -1)
    with pytest.raises(ValueError, match="empty batch"):
        function(np.empty((0, N_LANDMARKS, 3)), np.empty((0, N_LANDMARKS, 3)))
    with pytest.raises(ValueError, match=r"\(n, L, 3\)"):
        function(rng.normal(size=(4, 83, 2)), rng.normal(size=(4, 83, 2)))
    with pytest.raises(ValueError, match="both 5"):
        function(faces83, faces83, 5, 5)
    bad = faces83.copy()
    bad[2, 10] = bad[2, 20]  # face 2's "eyes" (non-default indices 10, 20) coincide
    with pytest.raises(ValueError, match=r"neutral face\(s\) \[2\]"):
        function(faces83, bad, 10, 20)
    result = function(faces83, faces83, 10, 20)  # non-default indices accepted
    assert (result[0].shape == (4, 83, 3)) if function is check_landmark_pairs else (result.shape == (4, 249))


def test_normalized_positions_use_the_given_eyes():
    rng = np.random.default_rng(4)
    faces = rng.normal(size=(3, 20, 3))
    positions = normalized_positions(faces, left_eye=7, right_eye=2).reshape(3, 20, 3)
    assert np.allclose(np.linalg.norm(positions[:, 7] - positions[:, 2], axis=-1), 1, atol=1e-5)
    assert np.allclose(positions[:, 7] + positions[:, 2], 0, atol=1e-5)  # centred on the eyes' midpoint
    with pytest.raises(ValueError, match="left_eye=263"):
        normalized_positions(faces)


def test_pairs_with_faces_refuses_a_folder_without_faces():
    table = LandmarkTable(["a.jpg", "b.jpg", "c.jpg"], np.array([False, True, True]),
                          np.zeros((2, N_LANDMARKS, 3), np.float32), np.zeros((2, 52), np.float32))
    assert table.pairs_with_faces(["a.jpg", "b.jpg"], ["b.jpg", "c.jpg"]).tolist() == [False, True]
    with pytest.raises(MissingLandmarksError, match=r"found a face in 2 of 3 images of the folder /x/rafd"):
        table.pairs_with_faces(["a.jpg"], ["b.jpg"], source="the folder /x/rafd")
    empty = LandmarkTable(["a.jpg", "b.jpg"], np.array([False, False]), np.zeros((0, N_LANDMARKS, 3), np.float32),
                          np.zeros((0, 52), np.float32))
    with pytest.raises(MissingLandmarksError, match="No usable pair.*0 of 2 images"):
        empty.pairs_with_faces(["a.jpg"], ["b.jpg"])
    with pytest.raises(ValueError, match="pair up one to one"):
        table.pairs_with_faces(["a.jpg"], ["b.jpg", "c.jpg"])


@pytest.mark.network
def test_astronaut_deltas_from_the_real_photo(landmarker):
    photo = data.astronaut()
    a = landmarker.detect(photo).landmarks
    b = landmarker.detect(np.ascontiguousarray(photo[:, ::-1])).landmarks  # same face, mirrored
    assert np.array_equal(landmark_deltas(a, a), np.zeros(N_LANDMARKS * 3))
    moved = landmark_deltas(b, a).reshape(N_LANDMARKS, 3)
    assert np.all(np.isfinite(moved)) and np.abs(moved).max() > 0.1  # mirrored: landmarks move a lot
    positions = normalized_positions(a).reshape(N_LANDMARKS, 3)
    assert np.linalg.norm(positions[LEFT_EYE_OUTER] - positions[RIGHT_EYE_OUTER]) == pytest.approx(1, abs=1e-5)


@pytest.mark.network
def test_align_face_puts_the_eyes_where_asked(landmarker):
    photo = data.astronaut()
    crop = align_face(photo, landmarker.detect(photo).landmarks, size=64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    again = landmarker.detect(np.asarray(Image.fromarray(crop).resize((256, 256))))
    assert again is not None
    eyes = again.landmarks[[RIGHT_EYE_OUTER, LEFT_EYE_OUTER], :2]
    assert np.allclose(eyes[:, 1], 0.32, atol=0.04) and np.allclose(eyes[:, 0], [0.275, 0.725], atol=0.05)
