"""Faces anywhere in the picture: small faces in large photos, several faces, --face N, tiny faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from vqtalker.errors import VQTalkerError


@pytest.fixture(scope="module")
def portrait():
    from vqtalker.cli.demo import DEMO_PORTRAIT

    return np.array(Image.open(DEMO_PORTRAIT).convert("RGB"))


def _canvas(portrait, side, at=(700, 1100)):
    canvas = np.full((1200, 1600, 3), 90, np.uint8)
    small = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    canvas[at[0] : at[0] + side, at[1] : at[1] + side] = small
    return canvas


@pytest.mark.parametrize("side", [200, 90])
def test_small_face_in_a_large_picture_is_found(portrait, side):
    from vqtalker.face.crop import select_face

    c = select_face(_canvas(portrait, side), "canvas")
    x0, y0, s = c.box
    assert c.faces == 1 and c.note("canvas") is None
    # the crop is around the pasted portrait (its centre inside it) and about its size
    assert 1100 <= x0 + s / 2 <= 1100 + side and 700 <= y0 + s / 2 <= 700 + side
    assert 0.7 * side <= s <= 1.6 * side


def test_tiny_face_is_a_clear_error(portrait):
    from vqtalker.face.crop import select_face

    with pytest.raises(VQTalkerError, match=r"face too small in canvas: \d+ px crop, need at least 64 px"):
        select_face(_canvas(portrait, 40), "canvas")


def test_several_faces_largest_first_and_face_index(portrait):
    from vqtalker.face.crop import select_face

    half = cv2.resize(portrait, (portrait.shape[1] // 2, portrait.shape[0] // 2))
    pad = ((0, portrait.shape[0] - half.shape[0]), (0, 0), (0, 0))
    two = np.concatenate([portrait, np.pad(half, pad)], 1)
    big, small = select_face(two, "two.jpg"), select_face(two, "two.jpg", face=1)
    assert big.faces == 2 and "1 other face(s) in two.jpg ignored" in big.note("two.jpg")
    assert big.box[2] > small.box[2] and small.box[0] >= portrait.shape[1] - 0.2 * small.box[2]
    with pytest.raises(VQTalkerError, match="--face 5: only 2 face"):
        select_face(two, "two.jpg", face=5)
