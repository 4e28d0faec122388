"""Vertex-budget (Visvalingam-Whyatt) and distance (Douglas-Peucker) simplification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from seglab.annotations.polygons import count_vertices, mask_to_polygons, polygons_to_mask
from seglab.annotations.simplify import simplify_polygons, simplify_to_budgets


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def brute_force_vw(ring: np.ndarray, budget: int) -> np.ndarray:
    """Plain Visvalingam-Whyatt on one ring, recomputing every triangle after each removal."""
    ring = [tuple(p) for p in ring]
    floor = 0.0
    while len(ring) > budget:
        areas = []
        for i in range(len(ring)):
            (ax, ay), (bx, by), (cx, cy) = ring[i - 1], ring[i], ring[(i + 1) % len(ring)]
            areas.append(0.5 * abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)))
        i = int(np.argmin(areas))
        floor = max(floor, areas[i])
        del ring[i]
    return np.array(ring)


def test_hand_example_removes_the_flattest_vertex():
    ring = np.array([[0, 0], [2, 0.1], [4, 0], [4, 4], [0, 4]])
    (part,) = simplify_polygons([ring], max_vertices=4)
    assert part[0].tolist() == [[0, 0], [4, 0], [4, 4], [0, 4]]
    # A budget at or above the count leaves the polygon as it is.
    assert np.array_equal(simplify_polygons([ring], max_vertices=5)[0][0], ring)


def test_single_convex_ring_matches_brute_force():
    # On a convex ring no removal makes a neighbour's triangle smaller than the one removed,
    # so the effective-area correction never triggers and plain VW is the reference.
    angles = np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 40))
    ring = np.stack([50 + 30 * np.cos(angles), 50 + 20 * np.sin(angles)], axis=1)
    for budget in (30, 12, 5, 3):
        (part,) = simplify_polygons([ring], max_vertices=budget)
        assert np.array_equal(part[0], brute_force_vw(ring, budget))


def test_budget_is_met_and_iou_grows_with_it():
    rng = np.random.default_rng(1)
    mask = ndimage.gaussian_filter(rng.random((80, 90)), 3) > 0.5
    parts = mask_to_polygons(mask)
    assert len(parts) > 1
    budgets = [3, 4, 8, 16, 32, 64, 128, 100000]
    results = simplify_to_budgets(parts, budgets)
    scores = []
    for budget, result in zip(budgets, results, strict=True):
        assert 3 <= count_vertices(result) <= budget
        # The same answer as simplifying to that one budget.
        single = simplify_polygons(parts, max_vertices=budget)
        assert all(
            np.array_equal(a, b)
            for pa, pb in zip(result, single, strict=True)
            for a, b in zip(pa, pb, strict=True)
        )
        scores.append(iou(polygons_to_mask(result, *mask.shape), mask))
    assert scores[-1] == 1.0
    assert scores[-2] > 0.9
    # Not strictly monotonic in general, but clearly increasing over this range.
    assert scores[0] < scores[3] < scores[5] <= scores[-1]


def test_small_parts_and_holes_go_first_and_the_largest_part_stays():
    mask = np.zeros((40, 40), bool)
    mask[2:30, 2:30] = True
    mask[10:14, 10:14] = False  # a small hole
    mask[35:37, 35:37] = True  # a small speck
    parts = mask_to_polygons(mask)
    assert [len(part) for part in parts] == [2, 1]
    (part,) = simplify_polygons(parts, max_vertices=4)  # the speck and the hole are gone
    assert len(part) == 1 and len(part[0]) == 4
    (part,) = simplify_polygons(parts, max_vertices=3)
    assert len(part[0]) == 3


def test_removing_an_outer_ring_takes_its_holes():
    big = np.array([[0, 0], [40, 0], [40, 40], [0, 40]], float)
    tiny_outer = np.array([[50, 0], [51, 0], [50, 1]], float)
    # A "hole" listed under the tiny outer ring: without its outer ring it would be filled
    # (even-odd), so it must go when the outer ring goes.
    its_hole = np.array([[60, 0], [60, 20], [80, 20], [80, 0]], float)
    result = simplify_polygons([[big], [tiny_outer, its_hole]], max_vertices=8)
    assert len(result) == 1 and np.array_equal(result[0][0], big)


def test_tolerance_is_douglas_peucker():
    rng = np.random.default_rng(2)
    mask = ndimage.gaussian_filter(rng.random((60, 60)), 4) > 0.5
    parts = mask_to_polygons(mask)
    for tolerance in (0.0, 0.7, 2.0):
        result = simplify_polygons(parts, tolerance=tolerance)
        kept = [ring for part in result for ring in part]
        expected = [
            cv2.approxPolyDP(ring.astype(np.float32)[:, None], tolerance, True)[:, 0]
            for part in parts
            for ring in part
        ]
        expected = [ring for ring in expected if len(ring) >= 3]
        assert len(kept) == len(expected)
        assert all(np.array_equal(a, b) for a, b in zip(kept, expected, strict=True))
    # Tolerance first, then the budget.
    both = simplify_polygons(parts, tolerance=1.0, max_vertices=10)
    assert count_vertices(both) <= 10
    # A huge tolerance collapses every ring: nothing is left.
    assert simplify_polygons(parts, tolerance=1e6) == []


def test_mask_to_polygons_forwards_the_options():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True
    mask[3:5, 10:12] = True
    assert count_vertices(mask_to_polygons(mask, max_vertices=6)) <= 6
    assert count_vertices(mask_to_polygons(mask, tolerance=1.0)) < count_vertices(
        mask_to_polygons(mask)
    )


def test_errors():
    ring = np.array([[0, 0], [4, 0], [4, 4], [0, 4]])
    for bad in (2, 0, 3.5, True, "8"):
        with pytest.raises(ValueError, match="max_vertices must be an integer >= 3"):
            simplify_polygons([ring], max_vertices=bad)
    with pytest.raises(ValueError, match="max_vertices must be an integer >= 3"):
        simplify_to_budgets([ring], [8, 2])
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tolerance must be a finite number >= 0"):
            simplify_polygons([ring], tolerance=bad)
