"""Control signals: exact math on synthetic meshes, and recovered motion on a clip with known transforms."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from synth import load_face, render  # noqa: E402

from vqtalker.errors import VQTalkerError  # noqa: E402
from vqtalker.face.controls import compute_controls, eye_openness, gaze, head_pose, region_boxes  # noqa: E402
from vqtalker.face.landmarks import EAR_LEFT, EAR_RIGHT, RIGID  # noqa: E402
from vqtalker.face.reference import REFERENCE_POINTS  # noqa: E402


def _rot(yaw, pitch, roll):
    """Rotation with the documented sign conventions (image axes x right, y down, z away)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("ZYX", [-roll, -yaw, -pitch], degrees=True).as_matrix()


def _mesh(r, scale=100.0, offset=(200.0, 150.0, 0.0)):
    lm = np.zeros((478, 3))
    lm[RIGID] = scale * np.asarray(REFERENCE_POINTS) @ r.T + np.asarray(offset)
    return lm


@pytest.mark.parametrize("ypr", [(0, 0, 0), (30, 0, 0), (-20, 10, 0), (0, -15, 25), (10, 5, -40)])
def test_pose_recovers_rotation_of_reference(ypr):
    got = head_pose(_mesh(_rot(*ypr))[None])[0]
    np.testing.assert_allclose(got, ypr, atol=1e-6)


def test_pose_signs_are_visible_motion():
    base = _mesh(np.eye(3))
    nose = RIGID.index(1)
    # yaw > 0: the nose tip (closest to camera) moves towards image right
    assert _mesh(_rot(20, 0, 0))[RIGID[nose], 0] > base[RIGID[nose], 0]
    # pitch > 0: face tilts up, nose tip moves up (smaller y)
    assert _mesh(_rot(0, 20, 0))[RIGID[nose], 1] < base[RIGID[nose], 1]
    # roll > 0: counter-clockwise on screen: the forehead (10) moves to image left
    assert _mesh(_rot(0, 0, 20))[10, 0] < base[10, 0]


def test_blink_gaze_and_regions_on_simple_eyes():
    lm = np.zeros((2, 478, 3))
    for outer, t1, t2, inner, b2, b1 in (EAR_LEFT, EAR_RIGHT):  # p2-p6 and p3-p5 face each other
        x_o, x_i = (300.0, 260.0) if outer == 263 else (100.0, 140.0)
        lm[:, outer, :2] = (x_o, 100)
        lm[:, inner, :2] = (x_i, 100)
        for i, (up, lo) in enumerate(((t1, b1), (t2, b2))):
            x = x_o + (x_i - x_o) * (i + 1) / 3
            lm[0, up, :2], lm[0, lo, :2] = (x, 94), (x, 106)  # open: 12 px over 40 px
            lm[1, up, :2], lm[1, lo, :2] = (x, 99), (x, 101)  # closed
    lm[:, 473, :2] = (280.0, 100)  # left iris centred
    lm[:, 468, :2] = (120.0, 100)
    lm[1, 473, 0] += 10  # iris 10 px right = half of half-width 20
    lm[1, 468, 0] += 10
    b = eye_openness(lm)
    np.testing.assert_allclose(b[0], [0.3, 0.3], atol=1e-6)
    np.testing.assert_allclose(b[1], [0.05, 0.05], atol=1e-6)
    g = gaze(lm)
    np.testing.assert_allclose(g[0], [0, 0], atol=1e-6)
    np.testing.assert_allclose(g[1], [0.5, 0.0], atol=1e-6)
    boxes = region_boxes(lm)
    assert boxes.shape == (2, 3, 4)
    assert boxes[0, 0, 0] < 260 and boxes[0, 0, 2] > 300  # left eye box covers its corners
    assert boxes[1, 0, 3] - boxes[1, 0, 1] >= 0.5 * 40  # closed eye keeps a region


def test_bad_shape_is_user_error():
    with pytest.raises(VQTalkerError):
        compute_controls(np.zeros((3, 468, 3)))


@pytest.fixture(scope="module")
def tracker():
    from vqtalker.face.tracker import FaceTracker

    tr = FaceTracker(static=True)
    yield tr
    tr.close()


def test_roll_follows_known_in_plane_rotation(tracker):
    face = load_face()
    angles = [-20, -10, 0, 10, 20]
    rolls = []
    for a in angles:
        lm = tracker.track(render(face, angle=a, shift=(a, -a / 2)))
        assert lm is not None
        rolls.append(compute_controls(lm[None])["pose"][0, 2])
    rolls = np.array(rolls)
    # the fixture face itself has a small roll; the change must follow the applied rotation
    np.testing.assert_allclose(rolls - rolls[2], angles, atol=2.5)


def test_yaw_responds_to_perspective_turn(tracker):
    """A planar perspective warp is a weak stand-in for a 3-D head turn: mediapipe's depth prior makes the
    recovered yaw smaller than the plane's angle, but its sign and ordering must follow the turn."""
    face = load_face()
    yaws = []
    for y in (-30, 0, 30):
        lm = tracker.track(render(face, yaw=y))
        assert lm is not None
        yaws.append(compute_controls(lm[None])["pose"][0, 0])
    assert yaws[0] < yaws[1] - 2 and yaws[2] > yaws[1] + 2


def test_no_face_frames(tracker):
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert tracker.track(blank) is None
    assert tracker.detect(blank) == []


def test_crop_portrait(tmp_path):
    from vqtalker.face.crop import crop_portrait

    face = load_face()
    img = render(face, canvas=(300, 400), shift=(60, 20))
    crop = crop_portrait(img, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # the face sits near the crop centre: the grey canvas dominates the corners only
    centre = crop[40:88, 40:88].astype(float)
    assert np.abs(centre - 128).mean() > 20
    with pytest.raises(VQTalkerError, match="no face found in blank.png"):
        crop_portrait(np.full((200, 200, 3), 128, np.uint8), 128, name="blank.png")
