"""Tests for seglab.classical.slic, in the style of scikit-image's SLIC tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import color, data

from seglab.classical import _slic_kernels as kernels
from seglab.classical.slic import slic


def quadrant_image(channels: int = 3, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """20x21 float image with four flat quadrants (as in skimage's test_color_2d) plus noise."""
    rng = np.random.default_rng(seed)
    image = np.zeros((20, 21, channels))
    image[:10, :10, 0] = 1
    image[10:, :10, 1] = 1
    image[10:, 10:, 2 % channels] = 1
    if channels > 3:
        image[:10, 10:, 3] = 1
    image += noise * rng.normal(size=image.shape)
    return np.clip(image, 0, 1)


def quadrant_labels(start: int = 0) -> np.ndarray:
    expected = np.empty((20, 21), np.int64)
    expected[:10, :10], expected[:10, 10:] = 0, 1
    expected[10:, :10], expected[10:, 10:] = 2, 3
    return expected + start


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A small natural RGB image (uint8) with texture, so clusters fragment before the fix-up."""
    return data.astronaut()[::4, ::4].copy()


def assert_strictly_connected(labels: np.ndarray, ignore: int | None = None) -> None:
    for value in np.unique(labels):
        if value == ignore:
            continue
        _, num_parts = ndimage.label(labels == value)  # default structure: 4-connectivity
        assert num_parts == 1, f"label {value} has {num_parts} 4-connected parts"


@pytest.mark.parametrize("enforce_connectivity", [True, False])
def test_color_quadrants_exact(enforce_connectivity):
    labels = slic(quadrant_image(), 4, enforce_connectivity=enforce_connectivity)
    np.testing.assert_array_equal(labels, quadrant_labels())
    assert labels.dtype == np.int64


def test_gray_quadrants_exact():
    rng = np.random.default_rng(1)
    image = np.zeros((20, 21))
    image[:10, 10:] = 0.33
    image[10:, :10] = 0.67
    image[10:, 10:] = 1.0
    image += 0.0033 * rng.normal(size=image.shape)
    labels = slic(image, 4, compactness=1, channel_axis=None)
    np.testing.assert_array_equal(labels, quadrant_labels())


def test_multichannel_without_lab_quadrants_exact():
    labels = slic(quadrant_image(channels=4), 4, compactness=1)
    np.testing.assert_array_equal(labels, quadrant_labels())


def test_rgb_without_lab_conversion():
    image = quadrant_image()
    plain = slic(image, 4, compactness=1, convert2lab=False)
    np.testing.assert_array_equal(plain, quadrant_labels())
    photo = data.astronaut()[::8, ::8]
    assert not np.array_equal(slic(photo, 30, compactness=0.1, convert2lab=False), slic(photo, 30))


def test_channel_axis_first_matches_last():
    image = quadrant_image()
    first = slic(np.moveaxis(image, -1, 0), 4, channel_axis=0)
    np.testing.assert_array_equal(first, slic(image, 4))


def test_start_label_shifts_labels(photo):
    zero = slic(photo, 50)
    one = slic(photo, 50, start_label=1)
    np.testing.assert_array_equal(one, zero + 1)
    assert zero.min() == 0
    np.testing.assert_array_equal(np.unique(zero), np.arange(zero.max() + 1))


def test_float_and_uint8_give_the_same_labels(photo):
    np.testing.assert_array_equal(slic(photo, 60), slic(photo / 255.0, 60))


def test_uint16_matches_uint8_scale():
    image = (quadrant_image() * 65535).astype(np.uint16)
    np.testing.assert_array_equal(slic(image, 4), quadrant_labels())


def test_deterministic(photo):
    np.testing.assert_array_equal(slic(photo, 80), slic(photo.copy(), 80))


@pytest.mark.parametrize("n_segments", [20, 60, 150])
def test_strict_connectivity_and_count_near_request(photo, n_segments):
    labels = slic(photo, n_segments)
    assert_strictly_connected(labels)
    count = labels.max() + 1
    np.testing.assert_array_equal(np.unique(labels), np.arange(count))
    assert abs(count - n_segments) <= 0.1 * n_segments


def test_without_connectivity_labels_can_be_fragmented_but_contiguous(photo):
    labels = slic(photo, 60, enforce_connectivity=False)
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))
    parts = sum(ndimage.label(labels == value)[1] for value in np.unique(labels))
    # The fix-up pass is what makes labels connected: without it, this textured photo fragments.
    assert parts > labels.max() + 1


def test_max_size_cuts_large_regions():
    # 40x40 with 16 seeds on a 4x4 grid: mean size 100, so max_size_factor=1 caps regions at
    # 100 pixels; min_size_factor=0 keeps every piece, so nothing grows back after the cut.
    rng = np.random.default_rng(0)
    image = 0.5 + 0.001 * rng.normal(size=(40, 40))
    capped = slic(image, 16, channel_axis=None, min_size_factor=0, max_size_factor=1)
    assert_strictly_connected(capped)
    assert np.bincount(capped.ravel()).max() <= 100
    free = slic(image, 16, channel_axis=None, min_size_factor=0, max_size_factor=10)
    assert np.bincount(free.ravel()).max() > 100


def test_mask_labels_outside_follow_skimage():
    image = quadrant_image()
    mask = np.zeros((20, 21), bool)
    mask[2:18, 3:19] = True
    for start in (0, 1):
        labels = slic(image, 4, mask=mask, start_label=start)
        assert np.all(labels[~mask] == start - 1)
        inside = labels[mask]
        np.testing.assert_array_equal(np.unique(inside), np.arange(4) + start)
        # The four quadrants, cut to the mask.
        np.testing.assert_array_equal(labels[mask], quadrant_labels(start)[mask])


def test_mask_on_photo_is_connected_and_ignores_nan_outside(photo):
    yy, xx = np.mgrid[: photo.shape[0], : photo.shape[1]]
    mask = (yy - 64) ** 2 + (xx - 64) ** 2 < 50**2
    image = photo / 255.0
    image[~mask] = np.nan  # allowed outside the mask, as in skimage
    labels = slic(image, 40, mask=mask)
    assert np.all(labels[~mask] == -1)
    assert_strictly_connected(labels, ignore=-1)
    assert abs(labels.max() + 1 - 40) <= 6
    np.testing.assert_array_equal(labels, slic(photo, 40, mask=mask))


def test_two_mask_islands_each_get_superpixels():
    image = quadrant_image()
    mask = np.zeros((20, 21), bool)
    mask[1:4, 1:4] = True
    mask[12:19, 12:20] = True
    labels = slic(image, 6, mask=mask)
    assert_strictly_connected(labels, ignore=-1)
    assert set(np.unique(labels[1:4, 1:4])).isdisjoint(np.unique(labels[12:19, 12:20]))


def test_sigma_and_iterations_options(photo):
    smooth = slic(photo, 50, sigma=1.0)
    assert_strictly_connected(smooth)
    assert not np.array_equal(smooth, slic(photo, 50))
    grid_only = slic(photo, 50, max_num_iter=0)
    assert_strictly_connected(grid_only)


def test_more_segments_than_pixels():
    labels = slic(np.random.default_rng(0).random((5, 6)), 1000, channel_axis=None)
    assert labels.shape == (5, 6)
    assert labels.max() + 1 <= 30


def test_lab_matches_skimage_rgb2lab():
    image = data.astronaut()
    ours = np.moveaxis(kernels.scaled_lab(image, 0.0, 1.0, 1.0), 0, -1)
    np.testing.assert_allclose(ours, color.rgb2lab(image), atol=1e-3)
    rgb = np.random.default_rng(0).random((32, 32, 3))
    ours = np.moveaxis(kernels.scaled_lab(rgb, 0.0, 1.0, 1.0), 0, -1)
    np.testing.assert_allclose(ours, color.rgb2lab(rgb), atol=1e-3)


def test_lab_cube_root_matches_numpy():
    # The table + Halley cube root behind the Lab conversion, across the toe, the table range
    # and past it (a float image slightly above 1 after rounding).
    t = np.concatenate([np.linspace(0.0, 1.0, 100_003), [1.0, 1.0000001, 1.5, 8.0]])
    xyz = np.broadcast_to(t.astype(np.float32), (3, 1, t.size)).copy()
    lightness = kernels._lab_from_xyz(xyz, np.float32(1.0), kernels._CUBE_ROOT_TABLE)[0, 0]
    t64 = xyz[0, 0].astype(np.float64)
    f = np.where(t64 <= 0.008856, 7.787 * t64 + 16.0 / 116.0, np.cbrt(t64))
    np.testing.assert_allclose(lightness, 116.0 * f - 16.0, rtol=0, atol=2e-5)


def test_assign_matches_brute_force():
    rng = np.random.default_rng(0)
    features = rng.random((3, 30, 40), dtype=np.float32)
    centres = np.array([[5, 6, 0.2, 0.3, 0.4], [20, 30, 0.6, 0.5, 0.1], [15, 12, 0.9, 0.1, 0.5]])
    centres = centres.astype(np.float32)
    radius, weight = 9, np.float32(0.01)
    labels = np.full((30, 40), -1, np.int32)
    distance = np.full((30, 40), np.float32(3e38))
    kernels.assign(features, centres, radius, weight, labels, distance)
    yy, xx = np.mgrid[:30, :40]
    best = np.full((30, 40), np.inf)
    expected = np.full((30, 40), -1)
    for k, (cy, cx, *colour) in enumerate(centres):
        inside = (np.abs(yy - round(cy)) <= radius) & (np.abs(xx - round(cx)) <= radius)
        d = ((features - np.array(colour)[:, None, None]) ** 2).sum(0)
        d = d + ((yy - cy) ** 2 + (xx - cx) ** 2) * weight
        closer = inside & (d < best)
        best[closer], expected[closer] = d[closer], k
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": np.zeros((2, 3, 4, 3))}, r"expected an \(H, W\) or \(H, W, C\) image"),
        ({"image": np.zeros(5)}, r"expected an \(H, W\) or \(H, W, C\) image"),
        ({"image": np.zeros((0, 5))}, "image is empty"),
        (
            {"image": np.zeros((8, 8, 3)), "channel_axis": None},
            "with channel_axis=None; pass channel_axis",
        ),
        ({"image": np.zeros((8, 8, 3)), "channel_axis": 3}, "channel_axis=3 is out of range"),
        ({"image": np.zeros((8, 8, 3)), "channel_axis": -4}, "channel_axis=-4 is out of range"),
        ({"image": np.zeros((8, 8, 3), complex)}, "expected an integer, bool or float image"),
        ({"n_segments": 0}, "n_segments must be an integer >= 1"),
        ({"n_segments": 2.5}, "n_segments must be an integer >= 1"),
        ({"compactness": 0}, "compactness must be > 0"),
        ({"compactness": -1.0}, "compactness must be > 0"),
        ({"max_num_iter": -1}, "max_num_iter must be an integer >= 0"),
        ({"sigma": -0.5}, "sigma must be >= 0"),
        ({"start_label": 2}, "start_label must be 0 or 1"),
        ({"min_size_factor": 2.0, "max_size_factor": 1.0}, "need 0 <= min_size_factor"),
        ({"min_size_factor": -0.1}, "need 0 <= min_size_factor"),
        ({"image": np.zeros((8, 8, 2)), "convert2lab": True}, "convert2lab=True needs an RGB"),
        ({"mask": np.ones((8, 9), bool)}, r"mask shape \(8, 9\) does not match"),
        ({"mask": np.zeros((8, 8), bool)}, "mask has no True pixel"),
        ({"image": np.full((8, 8, 3), np.nan)}, "NaN or infinite"),
        ({"image": np.full((8, 8, 3), np.inf)}, "NaN or infinite"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    arguments = {"image": np.zeros((8, 8, 3)), "n_segments": 4}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        slic(**arguments)
