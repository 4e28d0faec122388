"""Tests of the watershed instance pipeline on synthetic blobs and skimage sample images."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import skimage.data

from seglab.classical import foreground_mask, watershed_instances
from seglab.metrics import aggregated_jaccard_index


def discs(centres, radius, shape=(64, 96)) -> tuple[np.ndarray, np.ndarray]:
    """A label map of discs (later discs on top) and its foreground."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = k
    return labels, labels > 0


def test_touching_discs_are_split_along_the_neck():
    truth, foreground = discs([(32, 30), (32, 52), (32, 74)], radius=12)
    labels = watershed_instances(None, foreground=foreground, min_distance=6)
    assert labels.dtype == np.int32 and labels.max() == 3
    assert aggregated_jaccard_index(labels, truth) > 0.95
    np.testing.assert_array_equal(labels > 0, foreground)


def test_bright_and_dark_objects_are_found_in_grey_images():
    truth, foreground = discs([(20, 20), (40, 70)], radius=9)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.03, truth.shape)
    bright = np.clip(0.1 + 0.7 * foreground + noise, 0, 1)  # fluorescence
    dark = np.clip(0.9 - 0.6 * foreground + noise, 0, 1)  # bright field: median is high
    for image in (bright, dark, (dark * 255).astype(np.uint8), (bright * 65535).astype(np.uint16)):
        labels = watershed_instances(image, channel_axis=None)
        assert labels.max() == 2
        assert aggregated_jaccard_index(labels, truth) > 0.85
    # Forcing the wrong polarity takes the background instead.
    wrong = foreground_mask(dark, invert=False, channel_axis=None)
    assert wrong.mean() > 0.8


def test_hematoxylin_channel_for_stained_colour_images():
    # Purple nuclei on pink tissue with white glass: the grey levels have three populations.
    truth, foreground = discs([(20, 20), (40, 70)], radius=9)
    image = np.zeros((*truth.shape, 3))
    image[:] = (0.95, 0.95, 0.95)  # glass
    image[:, 30:] = (0.9, 0.6, 0.8)  # eosin-pink tissue
    image[foreground] = (0.35, 0.2, 0.55)  # hematoxylin-purple nuclei
    assert aggregated_jaccard_index(watershed_instances(image, stain="hematoxylin"), truth) > 0.9
    np.testing.assert_array_equal(
        watershed_instances(image), watershed_instances(image, stain="hematoxylin")
    )
    # RGBA and a channel-first image give the same result.
    rgba = np.concatenate([image, np.ones((*truth.shape, 1))], axis=2)
    np.testing.assert_array_equal(watershed_instances(rgba), watershed_instances(image))
    np.testing.assert_array_equal(
        watershed_instances(np.moveaxis(image, -1, 0), channel_axis=0), watershed_instances(image)
    )


def test_coins_sample_image():
    # skimage's coins: 24 bright coins on a darker background.
    image = skimage.data.coins()[:150, :]
    labels = watershed_instances(
        image, threshold="li", min_distance=15, min_size=200, channel_axis=None
    )
    assert 10 <= labels.max() <= 30
    np.testing.assert_array_equal(np.unique(labels), np.arange(labels.max() + 1))


def test_options_min_size_h_maxima_and_probabilities():
    truth, foreground = discs([(20, 20), (40, 70)], radius=9)
    foreground[2:4, 90:92] = True  # a 4-pixel speck
    kept = watershed_instances(None, foreground=foreground, min_size=0)
    assert kept.max() == 3
    assert watershed_instances(None, foreground=foreground, min_size=5).max() == 2
    by_height = watershed_instances(None, foreground=foreground, markers="h_maxima", h=2.0)
    assert by_height.max() == 2  # the speck is too low for a marker and is removed by size
    probabilities = np.where(foreground, 0.8, 0.2)
    np.testing.assert_array_equal(
        watershed_instances(None, foreground=probabilities, min_size=5),
        watershed_instances(None, foreground=foreground, min_size=5),
    )
    assert watershed_instances(np.zeros((8, 8)), channel_axis=None).max() == 0
    assert not foreground_mask(np.zeros((8, 8)), threshold="li", channel_axis=None).any()
    assert foreground_mask(np.eye(4), threshold=0.5, sigma=0, channel_axis=None).sum() == 4


def test_errors():
    image = np.zeros((8, 8))
    with pytest.raises(ValueError, match="markers must be one of peaks, h_maxima"):
        watershed_instances(image, markers="random", channel_axis=None)
    with pytest.raises(ValueError, match="min_distance must be an integer >= 1"):
        watershed_instances(image, min_distance=0, channel_axis=None)
    with pytest.raises(ValueError, match="min_size must be >= 0"):
        watershed_instances(image, min_size=-1, channel_axis=None)
    with pytest.raises(ValueError, match="give an image, a foreground mask, or both"):
        watershed_instances(None)
    with pytest.raises(ValueError, match=r"foreground must be \(H, W\)"):
        watershed_instances(None, foreground=np.zeros(4, bool))
    with pytest.raises(ValueError, match="differs from image shape"):
        watershed_instances(image, foreground=np.zeros((4, 4), bool), channel_axis=None)
    with pytest.raises(ValueError, match="threshold must be one of otsu, li or a number"):
        foreground_mask(image, threshold="triangle", channel_axis=None)
    with pytest.raises(ValueError, match="threshold must be one of otsu, li or a number"):
        foreground_mask(image, threshold=None, channel_axis=None)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        foreground_mask(image, sigma=-1, channel_axis=None)
    with pytest.raises(ValueError, match="stain must be one of auto, grey, hematoxylin"):
        foreground_mask(image, stain="eosin", channel_axis=None)
    with pytest.raises(ValueError, match="needs an RGB image"):
        foreground_mask(image, stain="hematoxylin", channel_axis=None)
    with pytest.raises(ValueError, match="3-D image of shape \\(4, 4, 3\\) with channel_axis=None"):
        foreground_mask(np.zeros((4, 4, 3)), channel_axis=None)


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.classical.watershed"))
    assert results.attempted > 0 and results.failed == 0
