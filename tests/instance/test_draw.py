"""Tests of instance overlays: blending, distinct colours, outlines, PNG output."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from skimage.color import rgb2hsv
from skimage.segmentation import find_boundaries

from seglab.instance.draw import instance_colors, overlay_instances, save_instances_overlay


def test_fill_is_the_alpha_blend_of_the_instance_colour():
    image = np.full((6, 6, 3), 100, np.uint8)
    labels = np.zeros((6, 6), int)
    labels[1:5, 1:5] = 7
    out = overlay_instances(image, labels, alpha=0.25, contours=False)
    colour = instance_colors([7])[0].astype(float)
    np.testing.assert_array_equal(out[2, 2], np.round(0.75 * 100 + 0.25 * colour))
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])  # background untouched
    assert image[2, 2].tolist() == [100, 100, 100]  # the input is not modified


def test_contours_are_drawn_at_full_strength_on_inner_boundaries():
    image = np.zeros((8, 8, 3), np.uint8)
    labels = np.zeros((8, 8), int)
    labels[1:7, 1:4] = 1
    labels[1:7, 4:7] = 2  # touching instance
    out = overlay_instances(image, labels, alpha=0.3)
    edges = find_boundaries(labels, mode="inner") & (labels > 0)
    colours = instance_colors([1, 2])
    first = edges & (labels == 1)
    assert first.sum() == 14  # 18 pixels minus the 4 inside (column 2, rows 2 to 5)
    np.testing.assert_array_equal(out[first], np.repeat(colours[:1], 14, 0))
    assert (out[3, 2] != colours[0]).any()  # interior pixels are only blended
    # The shared border is drawn on both sides, in each instance's own colour.
    assert (out[3, 3] == colours[0]).all() and (out[3, 4] == colours[1]).all()


def test_neighbouring_ids_get_clearly_different_hues():
    hues = rgb2hsv(instance_colors(np.arange(1, 51))[None].astype(float) / 255)[0, :, 0]
    gaps = np.abs(np.diff(hues))
    assert np.minimum(gaps, 1 - gaps).min() > 0.2  # consecutive ids: > 70 degrees apart
    assert not np.array_equal(instance_colors([1, 2], seed=0), instance_colors([1, 2], seed=1))
    np.testing.assert_array_equal(instance_colors([5]), instance_colors([1, 3, 5])[2:])


def test_grey_float_torch_inputs_and_empty_labels(tmp_path):
    image = skimage.data.coins()[:40, :50]
    labels = torch.zeros((40, 50), dtype=torch.int64)
    labels[5:20, 5:20] = 3
    out = overlay_instances(image, labels)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    as_float = overlay_instances(image / 255.0, labels)
    assert np.abs(as_float.astype(int) - out.astype(int)).max() <= 1
    np.testing.assert_array_equal(
        overlay_instances(image, np.zeros((40, 50), int)), np.repeat(image[..., None], 3, 2)
    )
    save_instances_overlay(tmp_path / "o.png", image, labels.numpy(), alpha=0.4)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "o.png")), overlay_instances(image, labels, alpha=0.4)
    )


def test_errors():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        overlay_instances(image, np.zeros((4, 4), int), alpha=1.5)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        overlay_instances(image, np.full((4, 4), -1))
    with pytest.raises(ValueError, match="does not match image size"):
        overlay_instances(image, np.zeros((3, 4), int))


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.instance.draw"))
    assert results.attempted > 0 and results.failed == 0
