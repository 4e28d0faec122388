"""Panoptic-DeepLab targets against a brute-force loop, and the loss against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seglab.instance.targets import DEFAULT_LOSS_WEIGHTS, instance_loss, instance_targets


def brute_force_targets(labels: np.ndarray, sigma: float):
    """Pixel-by-pixel loops, written straight from the paper's reference target generator."""
    height, width = labels.shape
    center = np.zeros((height, width))
    offset = np.zeros((2, height, width))
    radius = int(3 * sigma + 1)
    for instance in sorted(set(labels.ravel().tolist()) - {0}):
        pixels = [(y, x) for y in range(height) for x in range(width) if labels[y, x] == instance]
        cy = sum(p[0] for p in pixels) / len(pixels)
        cx = sum(p[1] for p in pixels) / len(pixels)
        for y, x in pixels:
            offset[0, y, x] = cy - y
            offset[1, y, x] = cx - x
        ry, rx = math.floor(cy + 0.5), math.floor(cx + 0.5)
        for y in range(height):
            for x in range(width):
                if abs(y - ry) <= radius and abs(x - rx) <= radius:
                    value = math.exp(-((y - ry) ** 2 + (x - rx) ** 2) / (2 * sigma**2))
                    center[y, x] = max(center[y, x], value)
    return center, offset


def random_instances(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random overlapping rectangles and discs with gapped ids, some cut by the border."""
    labels = np.zeros((height, width), np.int64)
    yy, xx = np.mgrid[:height, :width]
    for k in range(int(rng.integers(1, 7))):
        instance = int(rng.integers(1, 50)) * 3 + k  # non-consecutive ids
        if rng.random() < 0.5:
            cy, cx, r = (
                rng.integers(-3, height + 3),
                rng.integers(-3, width + 3),
                rng.integers(2, 7),
            )
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = instance
        else:
            y0, x0 = rng.integers(0, height), rng.integers(0, width)
            labels[y0 : y0 + rng.integers(1, 9), x0 : x0 + rng.integers(1, 9)] = instance
    return labels


@pytest.mark.parametrize("seed", range(8))
def test_targets_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = random_instances(rng, int(rng.integers(8, 30)), int(rng.integers(8, 30)))
    sigma = float(rng.choice([0.7, 1.0, 2.0, 3.0]))
    targets = instance_targets(labels, sigma=sigma)
    center, offset = brute_force_targets(labels, sigma)
    np.testing.assert_allclose(targets["center"], center, atol=1e-6)
    np.testing.assert_allclose(targets["offset"], offset, atol=1e-5)
    np.testing.assert_array_equal(targets["semantic"], labels > 0)
    assert targets["center"].dtype == np.float32 and targets["semantic"].dtype == np.int64


def test_hand_computed_square():
    labels = np.zeros((6, 7), np.int64)
    labels[1:3, 1:4] = 5  # mass centre (1.5, 2.0): the peak goes to the rounded (2, 2)
    targets = instance_targets(labels, sigma=1.0)
    assert targets["centers"].tolist() == [[1.5, 2.0]]
    assert targets["center"][2, 2] == 1.0
    assert targets["center"][2, 3] == pytest.approx(math.exp(-0.5))
    assert targets["offset"][:, 1, 1].tolist() == [0.5, 1.0]
    assert targets["offset"][:, 2, 3].tolist() == [-0.5, -1.0]
    assert not targets["offset"][:, 0].any() and not targets["offset"][:, :, 5:].any()
    # The window is cut at 3 sigma + 1 = 4 pixels (Chebyshev) from the peak.
    assert targets["center"][2, 6] > 0 and targets["center"][5, 6] > 0


def test_empty_and_semantic_classes():
    empty = instance_targets(np.zeros((4, 5), np.int64))
    assert not empty["center"].any() and not empty["offset"].any()
    assert empty["centers"].shape == (0, 2)
    labels = np.array([[1, 1, 0, 2]])
    assert instance_targets(labels, semantic={1: 3, 2: 7})["semantic"].tolist() == [[3, 3, 0, 7]]
    assert instance_targets(torch.tensor(labels))["semantic"].tolist() == [[1, 1, 0, 1]]


def test_target_errors():
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        instance_targets(np.zeros((2, 2), np.int64), sigma=0)
    with pytest.raises(ValueError, match=r"labels must be an \(H, W\) label map"):
        instance_targets(np.zeros((1, 2, 2), np.int64))
    with pytest.raises(ValueError, match="must be >= 0"):
        instance_targets(np.array([[-1, 0]]))
    with pytest.raises(TypeError, match="integer instance ids"):
        instance_targets(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"semantic has no class for instance id\(s\) \[2\]"):
        instance_targets(np.array([[1, 2]]), semantic={1: 1})


def test_loss_hand_computed():
    semantic = torch.zeros(1, 2, 1, 2)  # logits 0, 0: CE = log 2 at both pixels
    center = torch.tensor([[[[1.0, 0.0]]]])
    offset = torch.tensor([[[[1.0, 5.0]], [[-2.0, 5.0]]]])
    targets = {
        "semantic": torch.tensor([[[1, 0]]]),
        "center": torch.tensor([[[0.5, 0.0]]]),
        "offset": torch.zeros(1, 2, 1, 2),
    }
    outputs = {"semantic": semantic, "center": center, "offset": offset}
    losses = instance_loss(outputs, targets)
    assert losses["semantic"].item() == pytest.approx(math.log(2))
    assert losses["center"].item() == pytest.approx(0.125)  # (0.25 + 0) / 2
    assert losses["offset"].item() == pytest.approx(3.0)  # |1| + |-2| on the one instance pixel
    expected = math.log(2) + 200 * 0.125 + 0.01 * 3.0
    assert losses["loss"].item() == pytest.approx(expected)
    assert DEFAULT_LOSS_WEIGHTS == {"semantic": 1.0, "center": 200.0, "offset": 0.01}
    weighted = instance_loss(outputs, targets, weights={"center": 0.0, "offset": 1.0})
    assert weighted["loss"].item() == pytest.approx(math.log(2) + 3.0)
    # No instance pixel: the offset term is 0, not NaN.
    targets["semantic"] = torch.zeros(1, 1, 2, dtype=torch.int64)
    assert instance_loss(outputs, targets)["offset"].item() == 0.0


def test_loss_errors():
    outputs = {"semantic": torch.zeros(1, 2, 1, 1)}
    with pytest.raises(ValueError, match="unknown loss weight"):
        instance_loss(outputs, outputs, weights={"centre": 1.0})
    with pytest.raises(ValueError, match="must both have a 'center' entry"):
        instance_loss(outputs, {"semantic": torch.zeros(1, 1, 1, dtype=torch.int64)})
