"""Tiled instance inference: a nucleus on a tile seam is one instance, and the result is the
whole-image one when the network is per-pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.instance.grouping import predict_instances


class PixelwiseModel(torch.nn.Module):
    """Outputs from each pixel alone: red = nucleus, green = centre heat, no offsets."""

    def forward(self, image):
        red, green = image[:, :1], image[:, 1:2]
        return {
            "semantic": torch.cat([-4 * red, 4 * red], dim=1),
            "center": torch.sigmoid(2 * green - 6),  # one peak per nucleus
            "offset": torch.zeros_like(image[:, :2]),
        }


def nuclei_image(size: int, centres: list[tuple[int, int]], radius: int = 9) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = dy**2 + dx**2 <= radius**2
    cone = (255 * np.clip(1 - np.hypot(dy, dx) / 3, 0, 1)).astype(np.uint8)  # peak at the centre
    for cy, cx in centres:
        window = image[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
        window[disc, 0] = 255
        window[..., 1] = np.maximum(window[..., 1], cone)
    return image


def test_a_nucleus_on_a_seam_is_one_instance_and_tiles_match_the_whole_image():
    # Tiles of 64 with overlap 16 start at 0, 48, 96, ...: nuclei sit across those seams.
    centres = [(56, 56), (56, 150), (150, 100), (20, 20), (190, 190)]
    image = nuclei_image(210, centres)
    model = PixelwiseModel()
    whole = predict_instances(model, image, nms_kernel=7)
    tiled = predict_instances(model, image, tile=64, overlap=16, nms_kernel=7)
    assert len(whole) == len(tiled) == len(centres)
    # The same partition (ids follow the centre heat, whose ties float rounding may reorder).
    pairs = np.unique(
        np.stack([whole.labels.numpy().ravel(), tiled.labels.numpy().ravel()]), axis=1
    )
    assert pairs.shape[1] == len(centres) + 1 and len(set(pairs[0])) == len(set(pairs[1])) == 6
    for cy, cx in centres:  # each disc is one id throughout
        ids = np.unique(tiled.labels.numpy()[cy - 8 : cy + 9, cx - 8 : cx + 9])
        assert len(ids[ids > 0]) == 1


def test_tiled_inference_on_empty_and_tiny_images():
    model = PixelwiseModel()
    assert len(predict_instances(model, np.zeros((300, 200, 3), np.uint8), tile=64)) == 0
    tiny = predict_instances(model, np.zeros((1, 1, 3), np.uint8), tile=64)
    assert tiny.labels.shape == (1, 1) and len(tiny) == 0


def test_many_nuclei_are_all_kept_on_a_large_image():
    # 40 x 40 = 1,600 nuclei: more than the 1,000 centres a 512 x 512 image may keep.
    step = 24
    centres = [(12 + step * i, 12 + step * j) for i in range(40) for j in range(40)]
    image = nuclei_image(960, centres, radius=6)
    result = predict_instances(PixelwiseModel(), image, tile=256, nms_kernel=7)
    assert len(result) == 1600


def test_bad_tiling_is_refused():
    with pytest.raises(ValueError, match="tile must be >= 16 pixels"):
        predict_instances(PixelwiseModel(), np.zeros((40, 40, 3), np.uint8), tile=4)


class TwoClassModel(torch.nn.Module):
    """Red pixels are class 1, blue pixels class 2; green is the centre heat."""

    def forward(self, image):
        red, green, blue = image[:, :1], image[:, 1:2], image[:, 2:3]
        return {
            "semantic": torch.cat([-4 * (red + blue), 4 * red, 4 * blue], dim=1),
            "center": torch.sigmoid(2 * green - 6),
            "offset": torch.zeros_like(image[:, :2]),
        }


def test_several_classes_give_each_instance_its_class():
    image = nuclei_image(96, [(20, 20), (60, 70)])
    image[40:96, 40:96, 2], image[40:96, 40:96, 0] = image[40:96, 40:96, 0], 0  # 2nd: blue
    result = predict_instances(TwoClassModel(), image, nms_kernel=7)
    assert len(result) == 2
    by_centre = {
        tuple(c.tolist()): int(k) for c, k in zip(result.centers, result.classes, strict=True)
    }
    assert by_centre == {(20, 20): 1, (60, 70): 2}
    assert ((result.scores > 0) & (result.scores <= 1)).all()
