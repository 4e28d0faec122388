"""Overlays and boundary drawings: exact pixel values, PNG output, skimage agreement, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.segmentation import find_boundaries, mark_boundaries

from seglab.io import read_image, voc_palette
from seglab.viz import draw_boundaries, overlay_mask, save_overlay


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A 9x9 image of value 100 with a 5x5 square of class 1 and a 3-pixel void strip."""
    image = np.full((9, 9, 3), 100, np.uint8)
    image[..., 1] = 60
    mask = np.zeros((9, 9), np.int64)
    mask[2:7, 2:7] = 1
    mask[8, :3] = 255
    return image, mask


def test_overlay_blends_class_pixels_exactly(scene):
    image, mask = scene
    out = overlay_mask(image, mask, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == (9, 9, 3)
    # Interior pixel of class 1 (VOC colour (128, 0, 0)): 0.5 * (100, 60, 100) + 0.5 * colour.
    assert out[4, 4].tolist() == [114, 30, 50]
    # Background and void pixels are untouched.
    assert out[0, 0].tolist() == [100, 60, 100]
    assert out[8, 0].tolist() == [100, 60, 100]
    # The inner outline of the square is drawn in the full class colour.
    assert out[2, 2].tolist() == [128, 0, 0] and out[6, 4].tolist() == [128, 0, 0]
    assert out[1, 4].tolist() == [100, 60, 100]  # just outside the square
    # The input is not modified.
    assert image[4, 4].tolist() == [100, 60, 100]


def test_overlay_matches_a_brute_force_blend():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    mask = rng.integers(0, 4, size=(12, 10))
    alpha = 0.3
    palette = voc_palette().astype(np.float64)
    out = overlay_mask(image, mask, alpha=alpha, draw_boundaries=False)
    for y in range(12):
        for x in range(10):
            if mask[y, x] == 0:
                expected = image[y, x]
            else:
                expected = np.round((1 - alpha) * image[y, x] + alpha * palette[mask[y, x]])
            np.testing.assert_array_equal(out[y, x], expected)


def test_overlay_options(scene):
    image, mask = scene
    # background_index=None colours class 0 too (VOC class 0 is black: the value halves).
    out = overlay_mask(image, mask, background_index=None, draw_boundaries=False)
    assert out[0, 0].tolist() == [50, 30, 50]
    assert out[8, 0].tolist() == [100, 60, 100]  # void stays untouched
    # ignore_index=None colours 255 with the VOC void colour (224, 224, 192).
    out = overlay_mask(image, mask, ignore_index=None, draw_boundaries=False)
    assert out[8, 0].tolist() == [162, 142, 146]
    # A custom palette, alpha 1 and a torch mask.
    palette = np.array([[0, 0, 0], [10, 20, 30]], np.uint8)
    out = overlay_mask(image, torch.from_numpy(mask), alpha=1.0, palette=palette)
    assert out[4, 4].tolist() == [10, 20, 30]
    # alpha 0 without outlines is the image itself.
    np.testing.assert_array_equal(
        overlay_mask(image, mask, alpha=0.0, draw_boundaries=False), image
    )
    # Nothing to colour: the image comes back unchanged.
    np.testing.assert_array_equal(overlay_mask(image, np.zeros((9, 9), np.uint8)), image)


def test_overlay_accepts_gray_and_float_images(scene):
    _, mask = scene
    gray = np.full((9, 9), 100, np.uint8)
    out = overlay_mask(gray, mask, draw_boundaries=False)
    assert out[4, 4].tolist() == [114, 50, 50]
    floats = np.full((9, 9, 3), 100 / 255, np.float32)
    np.testing.assert_array_equal(
        overlay_mask(floats, mask), overlay_mask(np.stack([gray] * 3, -1), mask)
    )


def test_overlay_errors(scene):
    image, mask = scene
    with pytest.raises(ValueError, match=r"mask size \(8, 9\) does not match image size \(9, 9\)"):
        overlay_mask(image, mask[:8])
    with pytest.raises(ValueError, match=r"mask must be \(H, W\)"):
        overlay_mask(image, mask[None])
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        overlay_mask(image, mask, alpha=1.5)
    with pytest.raises(ValueError, match=r"palette must be \(P, 3\)"):
        overlay_mask(image, mask, palette=np.zeros((4, 4)))
    with pytest.raises(
        ValueError, match=r"mask values must be in \[0, 1\) to have a palette colour"
    ):
        overlay_mask(image, mask, palette=np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"got \[-2, 1\]"):
        bad = mask.copy()
        bad[0, 0] = -2
        overlay_mask(image, bad)
    with pytest.raises(TypeError, match="mask must hold integer labels"):
        overlay_mask(image, mask.astype(float))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, 3\)"):
        overlay_mask(np.zeros((9, 9, 4), np.uint8), mask)
    with pytest.raises(TypeError, match="image must be uint8, or float"):
        overlay_mask(image.astype(np.int32), mask)


def test_save_overlay_writes_a_readable_png(tmp_path, scene):
    image, mask = scene
    path = tmp_path / "deep" / "overlay.png"
    save_overlay(path, image, mask, alpha=0.4)
    with Image.open(path) as written:
        assert written.format == "PNG"
    np.testing.assert_array_equal(read_image(path), overlay_mask(image, mask, alpha=0.4))
    assert [p.name for p in path.parent.iterdir()] == ["overlay.png"]  # no temporary left over
    with pytest.raises(ValueError, match="alpha must be in"):
        save_overlay(tmp_path / "bad.png", image, mask, alpha=-1)
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize("mode", ["thick", "inner", "outer"])
def test_draw_boundaries_matches_skimage(mode):
    from skimage.data import coffee
    from skimage.segmentation import slic

    image = coffee()[::8, ::8]
    labels = slic(image, n_segments=30, start_label=0)
    got = draw_boundaries(image, labels, color=(255, 255, 0), mode=mode)
    reference = mark_boundaries(image, labels, color=(1, 1, 0), mode=mode)
    np.testing.assert_array_equal(got, np.round(reference * 255).astype(np.uint8))
    edges = find_boundaries(labels, mode=mode)
    assert edges.any() and (got[edges] == [255, 255, 0]).all()
    np.testing.assert_array_equal(got[~edges], image[~edges])


def test_draw_boundaries_hand_values():
    labels = torch.tensor([[0, 0, 1, 1]])
    out = draw_boundaries(np.zeros((1, 4), np.uint8), labels, color=(1, 2, 3))
    assert out[0].tolist() == [[0, 0, 0], [1, 2, 3], [1, 2, 3], [0, 0, 0]]


def test_draw_boundaries_errors():
    image = np.zeros((4, 4, 3), np.uint8)
    labels = np.zeros((4, 4), np.int64)
    with pytest.raises(
        ValueError, match="unknown mode 'subpixel'; choose one of thick, inner, outer"
    ):
        draw_boundaries(image, labels, mode="subpixel")
    with pytest.raises(ValueError, match=r"color must be 3 values in \[0, 255\]"):
        draw_boundaries(image, labels, color=(255, 0))
    with pytest.raises(ValueError, match=r"color must be 3 values in \[0, 255\]"):
        draw_boundaries(image, labels, color=(256, 0, 0))
    with pytest.raises(ValueError, match=r"labels size \(3, 4\) does not match"):
        draw_boundaries(image, labels[:3])
