"""Mask clean-up: the largest region and hole filling against brute-force references."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from skimage.measure import label as skimage_label

from seglab.engine.postprocess import clean_labels, clean_multilabel, fill_holes, largest_component


def _largest_by_skimage(mask: np.ndarray) -> np.ndarray:
    regions = skimage_label(mask, connectivity=2)
    if regions.max() == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(regions.ravel())[1:]
    return regions == 1 + int(sizes.argmax())


def _holes_filled_by_flood(mask: np.ndarray) -> np.ndarray:
    """Breadth-first search from the border over non-mask pixels (4-neighbours)."""
    height, width = mask.shape
    outside = np.zeros_like(mask, dtype=bool)
    queue = deque(
        (y, x)
        for y in range(height)
        for x in range(width)
        if (y in (0, height - 1) or x in (0, width - 1)) and not mask[y, x]
    )
    for y, x in queue:
        outside[y, x] = True
    while queue:
        y, x = queue.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ny, nx = y + dy, x + dx
            if 0 <= ny < height and 0 <= nx < width and not mask[ny, nx] and not outside[ny, nx]:
                outside[ny, nx] = True
                queue.append((ny, nx))
    return ~outside


@pytest.mark.parametrize("seed", range(6))
def test_largest_component_and_fill_holes_match_references(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((23, 31)) < 0.45  # many regions and holes
    largest = largest_component(mask)
    np.testing.assert_array_equal(largest, _largest_by_skimage(mask))
    assert 0 < largest.sum() < mask.sum()
    filled = fill_holes(mask)
    np.testing.assert_array_equal(filled, _holes_filled_by_flood(mask))
    assert filled.sum() > mask.sum()


def test_corner_neighbours_are_one_region_and_ties_keep_the_first():
    diagonal = np.eye(4, dtype=bool)
    np.testing.assert_array_equal(largest_component(diagonal), diagonal)
    two = np.zeros((3, 7), bool)
    two[1, 1:3] = two[1, 4:6] = True  # two regions of 2 pixels
    expected = np.zeros_like(two)
    expected[1, 1:3] = True
    np.testing.assert_array_equal(largest_component(two), expected)
    assert not largest_component(np.zeros((2, 2), bool)).any()


def test_clean_labels_hand_computed_tables():
    labels = np.array(
        [
            [1, 1, 1, 1, 1, 0, 2],
            [1, 0, 2, 0, 1, 0, 0],
            [1, 0, 2, 0, 1, 0, 0],
            [1, 1, 1, 1, 1, 0, 2],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    # Class 1 keeps its ring (the lone pixel at (5, 1) goes); class 2 keeps its two pixels
    # inside the ring (the single ones at column 6 go). The ring's hole becomes 1, except the
    # class-2 pixels, which are never overwritten.
    expected = np.array(
        [
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 2, 1, 1, 0, 0],
            [1, 1, 2, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=np.uint8,
    )
    cleaned = clean_labels(labels, keep_largest=True, fill=True)
    np.testing.assert_array_equal(cleaned, expected)
    assert cleaned.dtype == np.uint8
    only_largest = clean_labels(labels, keep_largest=True)
    np.testing.assert_array_equal(only_largest, np.where(expected == 2, 2, labels) * (expected > 0))
    only_fill = clean_labels(labels, fill=True)
    assert only_fill[5, 1] == 1 and only_fill[0, 6] == 2 and only_fill[1, 1] == 1
    np.testing.assert_array_equal(clean_labels(labels), labels)

    # A class-2 island smaller than the class-2 region outside is removed first, and then
    # filled as part of the ring's hole.
    labels[1:3, 6] = 2  # now column 6 holds the larger class-2 region
    labels[2, 2] = 0
    cleaned = clean_labels(labels, keep_largest=True, fill=True)
    assert (cleaned[1:3, 1:4] == 1).all() and (cleaned[0:4, 6] == 2).all()
    # Another background index: class 0 is then cleaned like any class, and its small
    # regions (the ring's hole) become the background class 1.
    as_background_1 = clean_labels(labels, keep_largest=True, background=1)
    assert as_background_1[5, 1] == 1 and as_background_1[1, 1] == 1 and as_background_1[4, 0] == 0


def test_clean_multilabel_cleans_each_label_alone():
    rng = np.random.default_rng(7)
    masks = rng.random((3, 15, 17)) < 0.5
    cleaned = clean_multilabel(masks, keep_largest=True, fill=True)
    for index in range(3):
        expected = _holes_filled_by_flood(_largest_by_skimage(masks[index]))
        np.testing.assert_array_equal(cleaned[index], expected)


def test_bad_masks_are_refused():
    with pytest.raises(ValueError, match="2-D integer index mask"):
        clean_labels(np.zeros((2, 3, 4), np.uint8), fill=True)
    with pytest.raises(ValueError, match="2-D integer index mask"):
        clean_labels(np.zeros((2, 3), np.float32), fill=True)
    with pytest.raises(ValueError, match=r"mask must be 2-D \(H, W\)"):
        largest_component(np.zeros(5, bool))
    with pytest.raises(ValueError, match=r"masks must be \(K, H, W\)"):
        clean_multilabel(np.zeros((4, 4), bool), fill=True)
