"""Tests for seglab.metrics.superpixel: hand-computed tables and a brute-force reference."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from seglab.metrics.superpixel import (
    achievable_segmentation_accuracy,
    boundary_mask,
    boundary_recall,
    mean_over_ground_truths,
    undersegmentation_error,
)

# Hand-computed case. GT ids are arbitrary (7 and 3) on purpose.
#   labels          gt (a=7, b=3)
#   0 0 0 1         a a b b
#   0 0 0 1         a a b b
#   2 2 2 2         a a b b
#   2 2 2 2         a a a a
# Overlaps |s ∩ g|: s0 = 6 px: a 4, b 2;  s1 = 2 px: b 2;  s2 = 8 px: a 6, b 2.  N = 16.
# ASA = (4 + 2 + 6) / 16 = 0.75
# UE  = [min(4, 2) + min(2, 4)] + [min(2, 0)] + [min(6, 2) + min(2, 6)] = 8 -> 8 / 16 = 0.5
# GT boundary (right or bottom differs): (0,1) (1,1) (2,1) (2,2) (2,3)            -> 5 pixels
# Superpixel boundary: (0,2) and all of row 1                                    -> 5 pixels
# BR, tolerance 0: only (1,1) is shared -> 1/5; tolerance 1: all five are covered -> 1.
LABELS = np.array([[0, 0, 0, 1], [0, 0, 0, 1], [2, 2, 2, 2], [2, 2, 2, 2]])
GT = np.array([[7, 7, 3, 3], [7, 7, 3, 3], [7, 7, 3, 3], [7, 7, 7, 7]])


def test_boundary_mask_hand_computed():
    expected_gt = np.zeros((4, 4), bool)
    expected_gt[[0, 1, 2, 2, 2], [1, 1, 1, 2, 3]] = True
    np.testing.assert_array_equal(boundary_mask(GT), expected_gt)
    expected_labels = np.zeros((4, 4), bool)
    expected_labels[0, 2] = True
    expected_labels[1, :] = True
    np.testing.assert_array_equal(boundary_mask(LABELS), expected_labels)


def test_region_metrics_hand_computed():
    assert achievable_segmentation_accuracy(LABELS, GT) == pytest.approx(0.75)
    assert undersegmentation_error(LABELS, GT) == pytest.approx(0.5)


@pytest.mark.parametrize(("tolerance", "expected"), [(0, 0.2), (1, 1.0), (2, 1.0)])
def test_boundary_recall_hand_computed(tolerance, expected):
    assert boundary_recall(LABELS, GT, tolerance=tolerance) == pytest.approx(expected)


def test_boundary_recall_uses_a_square_not_a_disc():
    # The only GT boundary pixel is (0, 0); the nearest superpixel boundary pixels are (1, 2) and
    # (2, 1): Chebyshev distance 2, Euclidean distance sqrt(5) > 2.
    gt = np.zeros((5, 5), int)
    gt[0, 0] = 1
    labels = np.zeros((5, 5), int)
    labels[2, 2] = 1
    assert boundary_recall(labels, gt, tolerance=1) == 0.0
    assert boundary_recall(labels, gt, tolerance=2) == 1.0


def test_boundary_recall_shifted_line():
    gt = np.zeros((3, 8), int)
    gt[:, 3:] = 1  # GT boundary: column 2
    labels = np.zeros((3, 8), int)
    labels[:, 5:] = 1  # superpixel boundary: column 4, two pixels away
    assert boundary_recall(labels, gt, tolerance=1) == 0.0
    assert boundary_recall(labels, gt, tolerance=2) == 1.0


def test_perfect_and_trivial_segmentations():
    assert achievable_segmentation_accuracy(GT, GT) == 1.0
    assert undersegmentation_error(GT, GT) == 0.0
    assert boundary_recall(GT, GT, tolerance=0) == 1.0
    single = np.zeros_like(GT)
    assert boundary_recall(single, GT) == 0.0
    # One superpixel over GT a = 10 px, b = 6 px: ASA = 10/16, UE = min(10, 6) + min(6, 10) = 12.
    assert achievable_segmentation_accuracy(single, GT) == pytest.approx(10 / 16)
    assert undersegmentation_error(single, GT) == pytest.approx(12 / 16)
    # A GT with a single segment has no boundary: nothing to recall.
    assert boundary_recall(LABELS, np.ones_like(GT)) == 1.0


def brute_force_metrics(labels: np.ndarray, gt: np.ndarray, tolerance: int) -> tuple:
    """Explicit loops over pixels and segments; shares no code with the module."""
    height, width = labels.shape
    overlap = Counter(zip(labels.ravel().tolist(), gt.ravel().tolist(), strict=True))
    size = Counter(labels.ravel().tolist())
    ue = sum(min(count, size[s] - count) for (s, _), count in overlap.items())
    best = {}
    for (s, _), count in overlap.items():
        best[s] = max(best.get(s, 0), count)
    asa = sum(best.values())

    def edges(m):
        out = np.zeros((height, width), bool)
        for y in range(height):
            for x in range(width):
                right = x + 1 < width and m[y, x] != m[y, x + 1]
                down = y + 1 < height and m[y, x] != m[y + 1, x]
                out[y, x] = right or down
        return out

    gt_edges, sp_edges = edges(gt), edges(labels)
    hits = total = 0
    for y in range(height):
        for x in range(width):
            if not gt_edges[y, x]:
                continue
            total += 1
            found = False
            for dy in range(-tolerance, tolerance + 1):
                for dx in range(-tolerance, tolerance + 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < height and 0 <= xx < width and sp_edges[yy, xx]:
                        found = True
            hits += found
    br = hits / total if total else 1.0
    return br, ue / labels.size, asa / labels.size


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_maps(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(3, 12)), int(rng.integers(3, 12)))
    # Blocky random maps (upsampled noise) look more like segmentations than pure noise.
    labels = np.kron(rng.integers(-1, 6, size=(shape[0], shape[1])), np.ones((2, 1), int))
    gt = np.kron(rng.integers(0, 4, size=(shape[0], shape[1])), np.ones((2, 1), int)) * 10
    tolerance = int(rng.integers(0, 3))
    br, ue, asa = brute_force_metrics(labels, gt, tolerance)
    assert boundary_recall(labels, gt, tolerance=tolerance) == pytest.approx(br)
    assert undersegmentation_error(labels, gt) == pytest.approx(ue)
    assert achievable_segmentation_accuracy(labels, gt) == pytest.approx(asa)


def test_many_ids_and_huge_ids_match_brute_force():
    # ~1500 x ~1500 distinct ids: too many pairs for a dense table (the sorted path), and ids
    # spread over 1e12 (the np.unique remap path).
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 48 * 48, size=(48, 48)) * 10**9
    gt = rng.integers(0, 48 * 48, size=(48, 48)) - 5
    br, ue, asa = brute_force_metrics(labels, gt, 1)
    assert undersegmentation_error(labels, gt) == pytest.approx(ue)
    assert achievable_segmentation_accuracy(labels, gt) == pytest.approx(asa)
    assert boundary_recall(labels, gt, tolerance=1) == pytest.approx(br)


def test_bool_maps_are_accepted():
    gt = np.zeros((4, 4), bool)
    gt[:, 2:] = True
    assert achievable_segmentation_accuracy(gt, gt) == 1.0


def test_mean_over_ground_truths():
    other = np.zeros_like(GT)
    other[:, 2:] = 1
    gts = [GT, other]
    expected = np.mean([boundary_recall(LABELS, g, tolerance=0) for g in gts])
    assert mean_over_ground_truths(boundary_recall, LABELS, gts, tolerance=0) == pytest.approx(
        expected
    )
    # other: s0 = 6 px splits 4/2 over the halves, s1 sits right, s2 splits 4/4 -> (4+2+4)/16.
    assert mean_over_ground_truths(achievable_segmentation_accuracy, LABELS, gts) == pytest.approx(
        (0.75 + 10 / 16) / 2
    )


@pytest.mark.parametrize(
    ("labels", "gt", "message"),
    [
        (np.zeros((2, 2, 2), int), np.zeros((2, 2), int), r"labels must be a \(H, W\) label map"),
        (np.zeros((2, 2), int), np.zeros(4, int), r"gt must be a \(H, W\) label map"),
        (np.zeros((0, 3), int), np.zeros((0, 3), int), "labels is empty"),
        (np.zeros((2, 2)), np.zeros((2, 2), int), "labels must hold integer ids"),
        (np.zeros((2, 2), int), np.zeros((2, 3), int), r"labels shape \(2, 2\) does not match"),
    ],
)
@pytest.mark.parametrize(
    "metric", [boundary_recall, undersegmentation_error, achievable_segmentation_accuracy]
)
def test_invalid_inputs_raise(metric, labels, gt, message):
    with pytest.raises(ValueError, match=message):
        metric(labels, gt)


def test_boundary_mask_rejects_bad_input():
    with pytest.raises(ValueError, match=r"labels must be a \(H, W\) label map"):
        boundary_mask(np.zeros(3, int))


@pytest.mark.parametrize("tolerance", [-1, 1.5])
def test_bad_tolerance_raises(tolerance):
    with pytest.raises(ValueError, match="tolerance must be an integer >= 0"):
        boundary_recall(LABELS, GT, tolerance=tolerance)


def test_mean_over_no_ground_truth_raises():
    with pytest.raises(ValueError, match="ground_truths is empty"):
        mean_over_ground_truths(boundary_recall, LABELS, [])
