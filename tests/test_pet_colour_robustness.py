"""benchmarks/pet_colour_robustness.py: the colour changes and the pooled IoU it reports."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks import pet_colour_robustness as robustness


def test_gray_is_the_luma_in_every_channel():
    image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    gray = robustness.to_gray(image)
    # 0.299 R + 0.587 G + 0.114 B, rounded: 76, 150, 29 and 3 + 11.74 + 3.42 = 18.16.
    expected = np.array([76, 150, 29, 18], dtype=np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(gray[0, :, channel], expected)


def test_hue_turns_keep_greys_and_a_half_turn_mirrors_a_colour():
    grey = np.full((2, 2, 3), 120, dtype=np.uint8)
    np.testing.assert_array_equal(robustness.turn_hue(grey, 0.25), grey)
    # (0.6, 0.2, 0.2) turns to (1, 7, 7) / 15 (see the ColorJitter test): 153,51,51 -> 17,119,119.
    red = np.array([[[153, 51, 51]]], dtype=np.uint8)
    np.testing.assert_array_equal(robustness.turn_hue(red, 0.5)[0, 0], [17, 119, 119])
    # A full turn is the identity.
    photo = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    assert np.abs(robustness.turn_hue(photo, 1.0).astype(int) - photo).max() <= 1


class _LeftHalfPredictor:
    """Says "class 1" on the left half of every image."""

    def predict_batch(self, images):
        masks = []
        for image in images:
            mask = np.zeros(image.shape[:2], dtype=np.uint8)
            mask[:, : image.shape[1] // 2] = 1
            masks.append(mask)
        return masks


def test_pooled_iou_sums_over_images_before_dividing():
    small = np.zeros((2, 4, 3), dtype=np.uint8)
    first = np.zeros((2, 4), dtype=bool)
    first[:, :1] = True  # truth: the first column; predicted: the left half; I 2, U 4
    everything = np.ones((2, 4), dtype=bool)  # I 4, U 8
    assert robustness.pooled_iou(
        _LeftHalfPredictor(), [(small, first), (small, everything)], batch=1
    ) == pytest.approx(6 / 12)
    large = np.zeros((4, 8, 3), dtype=np.uint8)
    left = np.zeros((4, 8), dtype=bool)
    left[:, :4] = True  # I 16, U 16
    # Pooled (2 + 16) / (4 + 16) = 0.9; the mean of the per-image IoUs would be 0.75.
    pairs = [(small, first), (large, left)]
    assert robustness.pooled_iou(_LeftHalfPredictor(), pairs) == pytest.approx(0.9)
    seen = []
    robustness.pooled_iou(_LeftHalfPredictor(), pairs, change=lambda im: seen.append(1) or im)
    assert len(seen) == 2


def test_horse_masks_are_resized_to_the_rgb_images(tmp_path):
    (tmp_path / "rgb").mkdir()
    (tmp_path / "figure_ground").mkdir()
    Image.fromarray(np.zeros((6, 8, 3), dtype=np.uint8)).save(tmp_path / "rgb" / "horse001.jpg")
    mask = np.zeros((3, 4), dtype=np.uint8)
    mask[:, 2:] = 255  # the right half, at half the rgb image's size
    Image.fromarray(mask).save(tmp_path / "figure_ground" / "horse001.jpg", quality=100)
    [(image, truth)] = robustness.horse_pairs(tmp_path)
    assert image.shape == (6, 8, 3) and truth.shape == (6, 8)
    assert truth[:, 4:].all() and not truth[:, :4].any()
