"""Face landmarks: the shipped MediaPipe template, the seeded posed generator, the loader, preprocessing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from course_utils.data import DataShapeError, DataUnavailableError
from course_utils.data.face_landmarks import (
    EXPRESSIONS,
    action_unit_fields,
    load_face_landmarks,
    load_face_template,
    make_face_landmarks,
    normalize_faces,
)
from tests.conftest import ROOT


def test_template_has_the_bu3dfe_layout():
    t = load_face_template()
    assert t.data.shape == (83, 3) and len(t.mediapipe_index) == 83 == len(t.region)
    counts = {name: int(np.sum(t.region == name)) for name in np.unique(t.region)}
    assert counts == {"right_eyebrow": 10, "left_eyebrow": 10, "right_eye": 8, "left_eye": 8, "nose_bridge": 7,
                      "nose_base": 5,
                      "outer_lips": 12, "inner_lips": 8, "jaw": 15}
    right, left = (t.data[idx].mean(axis=0) for idx in (t.right_eye_lower, t.left_eye_lower))
    np.testing.assert_allclose((right + left) / 2, 0, atol=1e-4)
    assert np.linalg.norm(left - right) == pytest.approx(1, abs=1e-4)
    assert left[0] > 0 > right[0]  # subject's left eye is on the image's right
    mouth, nose = t.data[t.region == "outer_lips"].mean(0), t.data[t.region == "nose_base"].mean(0)
    assert mouth[1] < nose[1] < 0  # y up: the mouth is below the nose, below the eyes


@pytest.mark.network
def test_template_tool_reproduces_the_shipped_asset():
    """Running MediaPipe on the astronaut photo again gives the shipped template (uses the cached model)."""
    spec = importlib.util.spec_from_file_location("make_face_template", ROOT / "tools" / "make_face_template.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    fresh, shipped = tool.make_template(), np.load(ROOT / "course_utils" / "data" / "face_template.npz")
    np.testing.assert_array_equal(fresh["mediapipe_index"], shipped["mediapipe_index"])
    np.testing.assert_array_equal(fresh["region"], shipped["region"])
    np.testing.assert_allclose(fresh["points"], shipped["points"], atol=1e-3)


def test_action_units_move_the_right_regions():
    t, f = load_face_template(), action_unit_fields()
    brows = np.isin(t.region, ["right_eyebrow", "left_eyebrow"])
    assert f["AU1"][brows, 1].max() > 0.1 and np.abs(f["AU1"][~brows]).max() == 0
    assert f["AU26"][t.region == "jaw", 1].min() < -0.15  # the jaw drops
    corners = np.isin(t.mediapipe_index, [61, 291])
    assert np.all(f["AU12"][corners, 1] > 0.05) and np.all(f["AU15"][corners, 1] < -0.05)


def test_generator_structure_and_seed():
    d = make_face_landmarks(n_people=3, seed=1)
    assert d.data.shape == (75, 83, 3)
    assert np.bincount(d.person).tolist() == [25, 25, 25]
    assert np.bincount(d.target).tolist() == [3] + [12] * 6
    assert set(d.intensity[d.target == 0]) == {0} and set(d.intensity[d.target > 0]) == {1, 2, 3, 4}
    np.testing.assert_array_equal(d.data, make_face_landmarks(n_people=3, seed=1).data)
    assert not np.allclose(d.data, make_face_landmarks(n_people=3, seed=2).data)
    with pytest.raises(ValueError, match="n_people"):
        make_face_landmarks(n_people=0)


def _old_rotation(yaw, pitch, roll):
    """The generator's former hand-written head pose: ``R_roll @ R_pitch @ R_yaw``."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_roll @ r_pitch @ r_yaw


def test_head_pose_rotation_is_scipys_euler_yxz_and_equals_the_old_product():
    from course_utils.data.face_landmarks import _rotation

    rng = np.random.default_rng(0)
    cases = [(0.0, 0.0, 0.0), (0.3, 0.0, 0.0), (0.0, -0.4, 0.0), (0.0, 0.0, 1.1), *rng.uniform(-np.pi, np.pi, (20, 3))]
    for angles in cases:
        np.testing.assert_allclose(_rotation(*angles), _old_rotation(*angles), rtol=1e-6, atol=1e-6)
    # yaw turns the x axis towards -z (right-handed rotation about y)
    np.testing.assert_allclose(_rotation(np.pi / 2, 0, 0) @ [1, 0, 0], [0, 0, -1], atol=1e-12)


def test_generated_faces_match_the_old_rotation(monkeypatch):
    import course_utils.data.face_landmarks as FL

    new = make_face_landmarks(n_people=2, seed=3).data
    monkeypatch.setattr(FL, "_rotation", _old_rotation)
    old = make_face_landmarks(n_people=2, seed=3).data
    np.testing.assert_allclose(new, old, rtol=1e-6, atol=1e-4)  # float32 tolerance on coordinates of about 100


def test_generator_mixes_identity_and_expression():
    """Identity varies as much as an expression moves the face, and intensity scales the movement."""
    d = make_face_landmarks(n_people=20, noise=0.0, head_pose_deg=0.0, seed=0)
    x = normalize_faces(d.data, d.right_eye_lower, d.left_eye_lower)
    neutral = x[d.target == 0]
    identity_rms = np.sqrt(((neutral - neutral.mean(0)) ** 2).sum(-1).mean())
    neutral_of = neutral[d.person]
    moves = [np.sqrt(((x - neutral_of)[d.intensity == k] ** 2).sum(-1).mean()) for k in (1, 2, 3, 4)]
    assert np.all(np.diff(moves) > 0)
    assert 0.5 < identity_rms / moves[-1] < 3


def test_loader_default_is_generated(isolated_data):
    d = load_face_landmarks(seed=0)
    assert d.source_kind == "generated" and "make_face_landmarks(seed=0)" in d.source
    assert d.data.shape == (2500, 83, 3) and d.target_names == list(EXPRESSIONS)
    first = np.flatnonzero(d.person == 7)
    np.testing.assert_array_equal(d.neutral[first], np.repeat(d.data[first[0]][None], 25, axis=0))


def _write(path, **overrides):
    d = make_face_landmarks(n_people=2, seed=0)
    arrays = {"landmarks": d.data, "person": d.person, "expression": d.target, "intensity": d.intensity,
              "right_eye_lower": d.right_eye_lower, "left_eye_lower": d.left_eye_lower, **overrides}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return d


def test_loader_reads_a_real_file(isolated_data):
    d = _write(isolated_data["course"] / "face_landmarks.npz")
    loaded = load_face_landmarks()
    assert loaded.source_kind == "course file" and "face_landmarks.npz" in loaded.source
    np.testing.assert_array_equal(loaded.data, d.data)
    np.testing.assert_array_equal(loaded.neutral[30], d.data[25])


def test_loader_errors_name_the_file(tmp_path, isolated_data):
    path = tmp_path / "bad.npz"
    _write(path, landmarks=np.zeros((50, 83, 2)))
    with pytest.raises(DataShapeError, match=r"bad\.npz.*\(n, L, 3\)"):
        load_face_landmarks(path)
    _write(path, left_eye_lower=None)
    with pytest.raises(DataShapeError, match=r"lacks the arrays \['left_eye_lower'\]"):
        load_face_landmarks(path)
    d = make_face_landmarks(n_people=2, seed=0)
    _write(path, expression=np.where(d.target == 0, 1, d.target), intensity=np.maximum(d.intensity, 1))
    with pytest.raises(DataShapeError, match="person 0 has 0 neutral faces"):
        load_face_landmarks(path)
    _write(path, landmarks=np.full((50, 83, 3), np.nan))
    with pytest.raises(DataShapeError, match="NaN"):
        load_face_landmarks(path)
    with pytest.raises(DataUnavailableError, match="missing.npz"):
        load_face_landmarks(tmp_path / "missing.npz")


def test_normalize_faces_is_invariant_to_position_and_scale():
    d = make_face_landmarks(n_people=1, seed=3)
    x = normalize_faces(d.data, d.right_eye_lower, d.left_eye_lower)
    moved = normalize_faces(3.5 * d.data + np.array([10.0, -4.0, 2.0]), d.right_eye_lower, d.left_eye_lower)
    np.testing.assert_allclose(x, moved, atol=1e-12)
    eyes = x[:, d.left_eye_lower].mean(1) - x[:, d.right_eye_lower].mean(1)
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), 1.0)
    with pytest.raises(ValueError, match="same point"):
        normalize_faces(np.zeros((1, 83, 3)), d.right_eye_lower, d.left_eye_lower)
