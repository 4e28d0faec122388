"""Polygon <-> mask: checked against pycocotools, skimage.draw and hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from scipy import ndimage
from skimage import draw

from seglab.annotations.polygons import (
    as_parts,
    count_vertices,
    keyhole_ring,
    mask_to_polygons,
    polygons_to_mask,
    ring_area,
)

# pycocotools' own NumPy-2 deprecation warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def random_star(rng: np.random.Generator, height: int, width: int, r_min: float, r_max: float):
    """A random star-shaped polygon (sorted angles, random radii) anywhere near the image."""
    count = int(rng.integers(3, 30))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(r_min, r_max, count)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def pycocotools_mask(ring: np.ndarray, height: int, width: int) -> np.ndarray:
    rle = coco_mask.frPyObjects([ring.ravel().tolist()], height, width)
    return coco_mask.decode(rle)[..., 0].astype(bool)


def distance_to_ring(points: np.ndarray, ring: np.ndarray) -> np.ndarray:
    start, end = ring, np.roll(ring, -1, axis=0)
    edge = end - start
    t = ((points[:, None] - start[None]) * edge[None]).sum(-1) / (edge**2).sum(-1)[None]
    closest = start[None] + np.clip(t, 0, 1)[..., None] * edge[None]
    return np.sqrt(((points[:, None] - closest) ** 2).sum(-1)).min(axis=1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def test_hand_made_square_uses_pixel_centres():
    # Pixel j covers [j, j + 1]; a square from 1 to 3 covers pixels 1 and 2 exactly.
    square = np.array([[1, 1], [3, 1], [3, 3], [1, 3]])
    expected = np.zeros((4, 5), bool)
    expected[1:3, 1:3] = True
    assert np.array_equal(polygons_to_mask([square], 4, 5), expected)
    # Shifted by 0.4 px the centres 1.5 and 2.5 are still inside and 3.5 is not.
    assert np.array_equal(polygons_to_mask([square + 0.4], 4, 5), expected)
    # Shifted by 0.6 px the centre 1.5 falls out and 3.5 comes in.
    assert np.array_equal(polygons_to_mask([square + 0.6], 4, 5), np.roll(expected, (1, 1), (0, 1)))


def test_matches_skimage_point_in_polygon_exactly():
    # skimage.draw.polygon tests pixel centres at integer (r, c): shift by half a pixel.
    rng = np.random.default_rng(0)
    for _ in range(100):
        ring = random_star(rng, 40, 50, 2, 25)
        reference = np.zeros((40, 50), bool)
        rows, cols = draw.polygon(ring[:, 1] - 0.5, ring[:, 0] - 0.5, shape=(40, 50))
        reference[rows, cols] = True
        assert np.array_equal(polygons_to_mask([ring], 40, 50), reference)


def test_agrees_with_pycocotools_on_random_polygons():
    rng = np.random.default_rng(1)
    ious, worst_distance = [], 0.0
    for _ in range(200):
        ring = random_star(rng, 96, 128, 20, 45)
        ours = polygons_to_mask([ring], 96, 128)
        theirs = pycocotools_mask(ring, 96, 128)
        if theirs.sum() < 200:  # mostly outside the image
            continue
        ious.append(iou(ours, theirs))
        rows, cols = np.nonzero(ours != theirs)
        if rows.size:
            centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
            worst_distance = max(worst_distance, distance_to_ring(centres, ring).max())
    assert len(ious) > 100
    assert np.mean(ious) >= 0.99
    assert np.median(ious) >= 0.99
    # pycocotools rounds vertices and boundary points to 1/5 px: every pixel on which the two
    # disagree has its centre within a quarter pixel of the polygon's boundary.
    assert worst_distance < 0.25


def test_union_of_parts_and_even_odd_holes():
    outer = np.array([[0, 0], [8, 0], [8, 8], [0, 8]])
    hole = np.array([[2, 2], [2, 6], [6, 6], [6, 2]])
    island = np.array([[3, 3], [5, 3], [5, 5], [3, 5]])
    expected = np.ones((8, 8), bool)
    expected[2:6, 2:6] = False
    assert np.array_equal(polygons_to_mask([[outer, hole]], 8, 8), expected)
    # A separate part is unioned, even inside another part's hole (COCO's rule).
    expected[3:5, 3:5] = True
    assert np.array_equal(polygons_to_mask([[outer, hole], island], 8, 8), expected)
    # Two separate parts that overlap are unioned, not cancelled.
    assert polygons_to_mask([outer, outer], 8, 8).all()


def test_clipped_and_degenerate_polygons():
    big = np.array([[-5, -5], [20, -5], [20, 20], [-5, 20]])
    assert polygons_to_mask([big], 3, 4).all()
    assert not polygons_to_mask([np.array([[1, 1], [3, 3]])], 4, 4).any()
    assert not polygons_to_mask([np.array([[10, 10], [12, 10], [12, 12]])], 4, 4).any()
    assert not polygons_to_mask([], 4, 4).any()


def test_mask_round_trip_is_exact():
    rng = np.random.default_rng(2)
    masks = [rng.random((30, 31)) > 0.5 for _ in range(20)]
    masks += [ndimage.gaussian_filter(rng.random((40, 50)), 2) > 0.5 for _ in range(20)]
    for mask in masks:
        assert np.array_equal(polygons_to_mask(mask_to_polygons(mask), *mask.shape), mask)


def test_mask_to_polygons_structure():
    mask = np.zeros((12, 12), bool)
    mask[1:9, 1:9] = True
    mask[3:6, 3:6] = False  # a hole
    mask[10, 10] = True  # a one-pixel second part
    mask[4, 4] = True  # an island inside the hole: its own part
    parts = mask_to_polygons(mask)
    assert [len(part) for part in parts] == [2, 1, 1]  # largest first, with its hole
    assert ring_area(parts[0][0]) > 0 and ring_area(parts[0][1]) < 0
    # Marching squares cuts each convex corner by a quarter... of a half-pixel square.
    assert ring_area(parts[0][0]) == pytest.approx(64 - 4 * 0.125)
    assert ring_area(parts[0][1]) == pytest.approx(-(9 - 4 * 0.125))
    # Diagonal neighbours belong to one part (8-connectivity).
    diagonal = np.eye(4, dtype=bool)
    assert len(mask_to_polygons(diagonal)) == 1
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []
    # Non-boolean masks: nonzero is foreground.
    assert len(mask_to_polygons(np.array([[0, 3], [0, 0]]))) == 1


def test_pycocotools_decodes_traced_polygons_exactly():
    from seglab.annotations.coco import polygons_to_segmentation

    rng = np.random.default_rng(3)
    for _ in range(5):
        mask = ndimage.gaussian_filter(rng.random((50, 60)), 2.5) > 0.5
        mask[20:30, 20:30] = True
        mask[23:27, 23:27] = False  # make sure there is a hole
        segmentation = polygons_to_segmentation(mask_to_polygons(mask))
        rle = coco_mask.merge(coco_mask.frPyObjects(segmentation, 50, 60))
        assert np.array_equal(coco_mask.decode(rle).astype(bool), mask)


def test_keyhole_ring_keeps_the_hole():
    outer = np.array([[0, 0], [9, 0], [9, 9], [0, 9]], float)
    holes = [
        np.array([[1, 1], [1, 3], [3, 3], [3, 1]], float),
        np.array([[5, 5], [5, 8], [8, 8], [8, 5]], float),
    ]
    ring = keyhole_ring([outer, *holes])
    assert len(ring) == 4 + 2 * (4 + 2)  # each hole: its ring, closed, and the way back
    assert np.array_equal(polygons_to_mask([ring], 9, 9), polygons_to_mask([[outer, *holes]], 9, 9))
    assert np.array_equal(keyhole_ring(outer), outer)


def test_count_vertices_and_as_parts():
    parts = as_parts([[[0, 0], [1, 0], [1, 1]], [np.zeros((4, 2)), np.zeros((3, 2))]])
    assert [len(part) for part in parts] == [1, 2]
    assert count_vertices(parts) == 10
    assert ring_area(np.array([[0, 0], [0, 2], [3, 2], [3, 0]])) == -6.0


def test_errors():
    ring = np.array([[0, 0], [2, 0], [2, 2]])
    with pytest.raises(TypeError, match="list of parts, not a single array"):
        polygons_to_mask(ring, 4, 4)
    with pytest.raises(ValueError, match=r"polygons\[0\]: expected an \(M, 2\) ring or a list"):
        polygons_to_mask([[]], 4, 4)
    with pytest.raises(ValueError, match=r"polygons\[0\]: expected an \(M, 2\) ring or a list"):
        polygons_to_mask([5], 4, 4)
    with pytest.raises(
        ValueError, match=r"polygons\[0\]\[1\]: expected an \(M, 2\) array.*shape \(3,\)"
    ):
        polygons_to_mask([[ring, [1, 2, 3]]], 4, 4)
    with pytest.raises(ValueError, match=r"polygons\[0\]\[0\]: expected an \(M, 2\) array of"):
        polygons_to_mask([[ring, [[1, 2], [3]]][::-1]], 4, 4)
    with pytest.raises(ValueError, match="must be finite"):
        polygons_to_mask([ring * np.nan], 4, 4)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        polygons_to_mask([ring], 0, 4)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        polygons_to_mask([ring], 4, 2.5)
    with pytest.raises(ValueError, match=r"mask must be 2-D \(H, W\)"):
        mask_to_polygons(np.zeros((2, 2, 2)))
