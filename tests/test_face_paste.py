"""Paste-back of animated crops into the whole picture (synthetic images only, no files, no mediapipe)."""

import numpy as np
import pytest

from vqtalker.face.crop import crop_square, round_box
from vqtalker.face.paste import Paster, feather_mask


def smooth_image(h: int, w: int) -> np.ndarray:
    """A smooth RGB test picture ``uint8 [h, w, 3]`` with values in about [50, 200] (white is far above)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [
            125 + 45 * np.sin(xx / 37) + 25 * np.cos(yy / 23),
            125 + 60 * np.cos(xx / 29 + yy / 41),
            125 + 50 * np.sin((xx + yy) / 31),
        ],
        axis=-1,
    )
    return np.clip(img, 0, 255).astype(np.uint8)


def outside(a: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean [H, W]: True outside the ``(y0, y1, x0, x1)`` rectangle."""
    y0, y1, x0, x1 = region
    keep = np.ones(a.shape[:2], bool)
    keep[y0:y1, x0:x1] = False
    return keep


# -- (a) the feather mask


@pytest.mark.parametrize("size,margin,rounded", [(64, 0.12, True), (257, 0.2, True), (100, 0.12, False)])
def test_feather_mask_shape_range_and_monotone(size, margin, rounded):
    m = feather_mask(size, margin, rounded=rounded)
    assert m.shape == (size, size) and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 1.0
    c = size // 2
    assert m[c, c] == 1.0
    # exactly 0 on the whole border
    assert not m[0].any() and not m[-1].any() and not m[:, 0].any() and not m[:, -1].any()
    # 1 everywhere further than the ramp width from every edge
    r = int(np.ceil(margin * size))
    assert np.all(m[r : size - r, r : size - r] == 1.0)
    # non-decreasing from the border inward along rows and columns (both halves), strictly rising somewhere
    for line in (m[c], m[:, c], m[r // 2], m[:, r // 2]):
        half = line[: c + 1]
        assert np.all(np.diff(half) >= 0) and np.all(np.diff(line[c:]) <= 0)
    assert np.any(np.diff(m[c, : c + 1]) > 0)
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(m, m[::-1, ::-1])
    np.testing.assert_array_equal(m, feather_mask(size, margin, rounded=rounded))  # deterministic


def test_feather_mask_rounded_corners_and_power():
    size, margin = 100, 0.2
    sq, rd = feather_mask(size, margin, rounded=False), feather_mask(size, margin)
    k = 10  # half-way into the ramp: same value along an edge, lower near the corner when rounded
    assert rd[k, size // 2] == pytest.approx(sq[k, size // 2])
    assert rd[k, k] < sq[k, k]
    steep = feather_mask(size, margin, power=2.0)
    np.testing.assert_allclose(steep, rd**2, atol=1e-6)
    with pytest.raises(ValueError):
        feather_mask(size, margin=0.0)


# -- (b) the round trip


@pytest.mark.parametrize(
    "box,size",
    [
        ((120.4, 70.6, 300.2), 256),  # box larger than the crop: INTER_AREA forward, bicubic back
        ((150, 90, 180), 256),  # box smaller than the crop: bilinear forward, INTER_AREA back
        ((200, 100, 256), 256),  # same size
    ],
)
def test_round_trip_unchanged_crop(box, size):
    img = smooth_image(400, 600)
    p = Paster(img, box, size)
    out = p.paste(crop_square(img, box, size))
    assert out.shape == img.shape == p.output_shape and out.dtype == np.uint8
    x0, y0, side = (int(v) for v in round_box(box))
    assert p.region == (y0, y0 + side, x0, x0 + side)
    off = outside(img, p.region)
    np.testing.assert_array_equal(out[off], img[off])
    err = np.abs(out.astype(int) - img.astype(int))
    assert err.mean() < 0.5 and err[~off].mean() < 1.0 and err.max() <= 12


@pytest.mark.parametrize(
    "box,size,max_side",
    [((40, 30, 200), 100, None), ((40.4, 29.6, 128), 256, None), ((37, 61, 300), 150, 333)],
)
def test_crop_pixels_land_where_the_crop_transform_says(box, size, max_side):
    """A bright square at crop pixels ``[a, b)`` lands at source ``x0 + [a, b) · side / S`` (then scaled)."""
    img = np.zeros((500, 700, 3), np.uint8)
    p = Paster(img, box, size, max_side=max_side)
    crop = np.zeros((size, size, 3), np.uint8)
    a, b = int(0.4 * size), int(0.6 * size)
    crop[a:b, a + 4 : b + 4] = 255
    out = p.paste(crop)[..., 0].astype(np.float64)
    x0, y0, side = (float(v) for v in round_box(box))
    fy, fx = p.output_shape[0] / 500, p.output_shape[1] / 700
    yy, xx = np.mgrid[0 : out.shape[0], 0 : out.shape[1]] + 0.5  # pixel centres, edge coordinates
    cy, cx = (out * yy).sum() / out.sum(), (out * xx).sum() / out.sum()
    assert cy == pytest.approx((y0 + (a + b) / 2 * side / size) * fy, abs=0.2)
    assert cx == pytest.approx((x0 + (a + b + 8) / 2 * side / size) * fx, abs=0.2)
    assert out.sum() / 255 == pytest.approx((b - a) ** 2 * (side / size) ** 2 * fx * fy, rel=0.03)


def test_shrinking_averages_fine_detail():
    """Box smaller than the crop: a 1-pixel checkerboard crop becomes mid-grey (area filter, no aliasing)."""
    img = smooth_image(200, 200)
    p = Paster(img, (50, 50, 80), 256)  # 3.2 crop pixels per picture pixel
    crop = np.zeros((256, 256, 3), np.uint8)
    crop[::2, ::2] = crop[1::2, 1::2] = 255
    inner = p.paste(crop)[62:118, 62:118].astype(int)
    assert np.abs(inner - 127.5).max() <= 16  # a box filter at 3.2:1 leaves a faint beat


def test_full_resolution_mask_is_the_feather_mask_of_the_box():
    img = smooth_image(300, 400)
    p = Paster(img, (50, 40, 200), 128, margin=0.15)
    np.testing.assert_array_equal(p.mask, feather_mask(200, 0.15))


# -- (c) an entirely different crop


def test_white_crop_changes_only_the_box_interior():
    img = smooth_image(400, 600)
    box = (150.3, 60.8, 251.1)
    p = Paster(img, box, 256)
    out = p.paste(np.full((256, 256, 3), 255, np.uint8))
    x0, y0, side = (int(v) for v in round_box(box))
    x1, y1 = x0 + side, y0 + side
    off = outside(img, (y0, y1, x0, x1))
    np.testing.assert_array_equal(out[off], img[off])
    # the box's outermost rows and columns: mask 0, the original
    for sl in (np.s_[y0, x0:x1], np.s_[y1 - 1, x0:x1], np.s_[y0:y1, x0], np.s_[y0:y1, x1 - 1]):
        np.testing.assert_array_equal(out[sl], img[sl])
    # the interior (beyond the ramp): the new value
    r = int(np.ceil(0.12 * side)) + 1
    assert np.all(out[y0 + r : y1 - r, x0 + r : x1 - r] == 255)
    # in between: between the two, never below the original (white is brighter everywhere)
    assert np.all(out >= img)
    # no jump: from the border inward, neighbouring pixels along the middle row differ by a bounded step
    row = out[(y0 + y1) // 2, x0 : x0 + r + 1].astype(int)
    assert np.abs(np.diff(row)).max() < 40


# -- (d) box partly outside the image


@pytest.mark.parametrize(
    "box,max_side",
    [
        ((-60.2, 50.0, 300.0), None),  # left edge outside
        ((450.0, -40.0, 260.0), None),  # right and top outside
        ((-30.0, 250.0, 220.0), None),  # left and bottom outside
        ((-60.0, 300.0, 300.0), 300),  # outside, pasted at a reduced output size
    ],
)
def test_box_partly_outside_never_pastes_the_black_padding(box, max_side):
    img = smooth_image(400, 600)
    size = 128
    p = Paster(img, box, size, max_side=max_side)
    bg = p.background.astype(int)
    if max_side is None:
        assert p.output_shape == img.shape
    # the unchanged crop contains black where the box leaves the image: the round trip stays close
    same = p.paste(crop_square(img, box, size))
    assert same.shape == p.output_shape
    assert np.abs(same.astype(int) - bg).max() <= 12
    # an animated crop: white face, black padding as crop_square leaves it; nothing may get darker
    x0, y0, side = (int(v) for v in round_box(box))
    pad = crop_square(np.full_like(img, 255), box, size) < 128  # where (and how far) the padding bleeds
    crop = np.full((size, size, 3), 255, np.uint8)
    crop[pad] = 0
    out = p.paste(crop).astype(int)
    assert np.all(out >= bg - 1)
    assert out.max() == 255  # the white interior did get pasted
    np.testing.assert_array_equal(out[outside(out, p.region)], bg[outside(out, p.region)])


def test_box_entirely_outside_returns_the_original():
    img = smooth_image(100, 120)
    p = Paster(img, (500, -300, 80), 64)
    np.testing.assert_array_equal(p.paste(np.zeros((64, 64, 3), np.uint8)), img)


# -- (e) the output size cap


@pytest.mark.parametrize(
    "h,w,max_side", [(481, 641, 320), (481, 641, 1000), (641, 481, 257), (400, 600, 600)]
)
def test_max_side_cap_gives_even_sizes(h, w, max_side):
    img = smooth_image(h, w)
    box = (w * 0.25, h * 0.2, min(h, w) * 0.5)
    p = Paster(img, box, 128, max_side=max_side)
    hh, ww, ch = p.output_shape
    assert ch == 3 and max(hh, ww) <= max_side and hh % 2 == 0 and ww % 2 == 0
    assert max(hh, ww) >= min(max_side, max(h, w)) - 2  # not smaller than needed
    out = p.paste(crop_square(img, box, 128))
    assert out.shape == p.output_shape and out.dtype == np.uint8
    off = outside(out, p.region)
    np.testing.assert_array_equal(out[off], p.background[off])
    assert np.abs(out.astype(int) - p.background.astype(int)).mean() < 1.0


def test_no_cap_keeps_odd_sizes():
    img = smooth_image(481, 641)
    assert Paster(img, (100, 100, 200), 64).output_shape == (481, 641, 3)


# -- (f) many frames, and argument checks


def test_paste_many_yields_one_frame_per_crop_lazily():
    img = smooth_image(200, 300)
    p = Paster(img, (80, 30, 150), 64, max_side=240)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(5)]
    taken = []

    def source():
        for c in crops:
            taken.append(1)
            yield c

    gen = p.paste_many(source())
    assert not taken  # nothing consumed before the first frame is asked for
    first = next(gen)
    assert len(taken) == 1
    frames = [first, *gen]
    assert len(frames) == len(crops)
    for f, c in zip(frames, crops):
        assert f.shape == p.output_shape
        np.testing.assert_array_equal(f, p.paste(c))
    assert list(p.paste_many([])) == []


def test_bad_arguments():
    img = smooth_image(100, 100)
    p = Paster(img, (10, 10, 50), 64)
    with pytest.raises(ValueError):
        p.paste(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ValueError):
        p.paste(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        Paster(img[..., 0], (10, 10, 50), 64)
    with pytest.raises(ValueError):
        Paster(img, (10, 10, 50), 64, max_side=1)
