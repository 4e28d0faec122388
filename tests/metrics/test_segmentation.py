"""Unsupervised segmentation metrics against hand-computed values and brute-force references."""

import math
from itertools import combinations

import numpy as np
import pytest
from skimage.metrics import variation_of_information as skimage_vi

import seglab.metrics.segmentation as segmentation_module
from seglab.metrics.segmentation import (
    adjusted_rand_index,
    probabilistic_rand_index,
    segmentation_covering,
    variation_of_information,
)

SEG = np.array([[0, 0, 1, 1]])
GT = np.array([[0, 0, 0, 1]])


# --- brute-force references: pixel pairs and explicit region sets, no contingency table ---


def brute_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    pairs = list(combinations(range(a.size), 2))
    agree = sum((a[i] == a[j]) == (b[i] == b[j]) for i, j in pairs)
    return agree / len(pairs)


def brute_adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    pairs = list(combinations(range(a.size), 2))
    both = sum(a[i] == a[j] and b[i] == b[j] for i, j in pairs)
    same_a = sum(a[i] == a[j] for i, j in pairs)
    same_b = sum(b[i] == b[j] for i, j in pairs)
    expected = same_a * same_b / len(pairs)
    return (both - expected) / ((same_a + same_b) / 2 - expected)


def entropy(labels: list) -> float:
    values, counts = np.unique(np.array(labels, dtype=object).astype(str), return_counts=True)
    p = counts / counts.sum()
    return float(-sum(p_i * math.log(p_i) for p_i in p))


def brute_vi(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    joint = [f"{x}|{y}" for x, y in zip(a, b, strict=True)]
    # VI = 2 H(A, B) - H(A) - H(B)
    return 2 * entropy(joint) - entropy(list(a)) - entropy(list(b))


def brute_covering(seg: np.ndarray, gt: np.ndarray) -> float:
    total = 0.0
    for region_label in np.unique(gt):
        region = gt == region_label
        best = 0.0
        for segment_label in np.unique(seg):
            segment = seg == segment_label
            best = max(best, np.sum(region & segment) / np.sum(region | segment))
        total += region.sum() * best
    return total / gt.size


def random_map(rng: np.random.Generator, shape, num_labels: int) -> np.ndarray:
    # Arbitrary, non-contiguous label values, negatives included: metrics must not care.
    values = rng.choice(np.arange(-50, 1000), size=num_labels, replace=False)
    return values[rng.integers(0, num_labels, size=shape)]


# --- hand-computed cases ---


def test_hand_computed_four_pixels():
    # seg {0,1}{2,3} against gt {0,1,2}{3}.
    # Covering: region {0,1,2} best IoU 2/3 (with {0,1}), region {3} best 1/2 -> (3*2/3 + 1/2)/4.
    assert segmentation_covering(SEG, GT) == pytest.approx(0.625)
    # Pairs agreeing: (0,1) together in both, (0,3) and (1,3) apart in both -> 3 of 6.
    assert probabilistic_rand_index(SEG, GT) == pytest.approx(0.5)
    # H(S) = ln 2, H(G) = -(3/4 ln 3/4 + 1/4 ln 1/4), H(S,G) = 1.5 ln 2; VI = 2H(S,G)-H(S)-H(G).
    h_gt = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert variation_of_information(SEG, GT) == pytest.approx(2 * math.log(2) - h_gt)
    assert variation_of_information(SEG, GT) == pytest.approx(0.8239592165010822)
    # Together-pairs: both 1, seg 2, gt 3, of 6; expected 2*3/6 = 1, max 2.5 -> ARI 0.
    assert adjusted_rand_index(SEG, GT) == pytest.approx(0.0)


def test_covering_direction_is_ground_truth_by_segmentation():
    # One segment covering everything: each GT region is matched to the whole image.
    seg = np.zeros((1, 4), int)
    gt = np.array([[0, 0, 0, 1]])
    # (3 * 3/4 + 1 * 1/4) / 4 = 2.5 / 4; the other direction would be 1 * 3/4 = 0.75.
    assert segmentation_covering(seg, gt) == pytest.approx(0.625)
    assert segmentation_covering(gt, seg) == pytest.approx(0.75)


def test_mean_over_several_ground_truths():
    gt_same = SEG.copy()
    assert probabilistic_rand_index(SEG, [GT, gt_same]) == pytest.approx((0.5 + 1.0) / 2)
    assert segmentation_covering(SEG, [GT, gt_same]) == pytest.approx((0.625 + 1.0) / 2)
    assert variation_of_information(SEG, [GT, gt_same]) == pytest.approx(0.8239592165010822 / 2)


def test_ground_truths_as_stack_list_or_single_map_agree():
    rng = np.random.default_rng(0)
    seg = random_map(rng, (6, 7), 4)
    gts = [random_map(rng, (6, 7), k) for k in (2, 3, 5)]
    for metric in (segmentation_covering, probabilistic_rand_index, variation_of_information):
        from_list = metric(seg, gts)
        assert metric(seg, np.stack(gts)) == pytest.approx(from_list)
        assert from_list == pytest.approx(np.mean([metric(seg, gt) for gt in gts]))


# --- brute-force references on random maps ---


@pytest.mark.parametrize("case", range(12))
def test_against_brute_force(case):
    rng = np.random.default_rng(case)
    shape = tuple(rng.integers(1, 7, size=2))
    seg = random_map(rng, shape, int(rng.integers(1, 6)))
    gt = random_map(rng, shape, int(rng.integers(1, 6)))
    if seg.size > 1:
        assert probabilistic_rand_index(seg, gt) == pytest.approx(brute_rand_index(seg, gt))
    assert variation_of_information(seg, gt) == pytest.approx(brute_vi(seg, gt), abs=1e-12)
    assert segmentation_covering(seg, gt) == pytest.approx(brute_covering(seg, gt))
    same_a = len(np.unique(seg)) not in (1, seg.size)
    same_b = len(np.unique(gt)) not in (1, gt.size)
    if same_a or same_b:  # ARI is 0/0 only when both are trivial
        assert adjusted_rand_index(seg, gt) == pytest.approx(brute_adjusted_rand(seg, gt))


def test_vi_matches_skimage():
    rng = np.random.default_rng(3)
    seg = rng.integers(0, 6, size=(30, 40))
    gt = rng.integers(0, 4, size=(30, 40))
    under, over = skimage_vi(gt, seg)  # two conditional entropies, in bits
    assert variation_of_information(seg, gt, base=2) == pytest.approx(under + over)
    assert variation_of_information(seg, gt) == pytest.approx((under + over) * math.log(2))


def test_vi_base_two_is_bits():
    rng = np.random.default_rng(4)
    seg, gt = rng.integers(0, 5, size=(9, 9)), rng.integers(0, 3, size=(9, 9))
    nats = variation_of_information(seg, gt)
    assert variation_of_information(seg, gt, base=2) == pytest.approx(nats / math.log(2))


def test_sparse_table_path_and_huge_label_values(monkeypatch):
    rng = np.random.default_rng(5)
    seg = rng.permutation(3000).reshape(50, 60)
    gt = rng.integers(0, 7, size=(50, 60))
    metrics = (
        segmentation_covering,
        probabilistic_rand_index,
        variation_of_information,
        adjusted_rand_index,
    )
    dense = [metric(seg, gt) for metric in metrics]
    # Values 10^12 apart force the np.unique relabelling instead of the lookup table.
    spread = [metric(seg.astype(np.int64) * 10**12, gt) for metric in metrics]
    # A zero limit forces the sparse (np.unique over pair codes) contingency table.
    monkeypatch.setattr(segmentation_module, "_DENSE_TABLE_LIMIT", 0)
    sparse = [metric(seg, gt) for metric in metrics]
    assert spread == pytest.approx(dense)
    assert sparse == pytest.approx(dense)
    # All-singleton segmentation: each GT region is covered by one pixel at best.
    gt_regions = np.bincount(gt.ravel())
    expected = float(np.sum(gt_regions * (1.0 / gt_regions))) / gt.size
    assert dense[0] == pytest.approx(expected)


# --- properties ---


def test_identical_segmentations_are_perfect_and_relabelling_invariant():
    rng = np.random.default_rng(6)
    seg = random_map(rng, (8, 9), 5)
    relabelled = np.unique(seg, return_inverse=True)[1].reshape(seg.shape) * 3 + 11
    assert probabilistic_rand_index(seg, relabelled) == 1.0
    assert variation_of_information(seg, relabelled) == 0.0
    assert segmentation_covering(seg, relabelled) == 1.0
    assert adjusted_rand_index(seg, relabelled) == pytest.approx(1.0)


def test_symmetric_metrics():
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 4, size=(7, 7)), rng.integers(0, 6, size=(7, 7))
    assert probabilistic_rand_index(a, b) == pytest.approx(probabilistic_rand_index(b, a))
    assert variation_of_information(a, b) == pytest.approx(variation_of_information(b, a))
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_index(b, a))


def test_trivial_partitions():
    one = np.zeros((3, 3), int)
    assert adjusted_rand_index(one, one + 4) == 1.0
    singletons = np.arange(9).reshape(3, 3)
    assert adjusted_rand_index(singletons, singletons[::-1]) == 1.0
    single_pixel = np.array([[2]])
    assert probabilistic_rand_index(single_pixel, np.array([[7]])) == 1.0
    assert variation_of_information(single_pixel, np.array([[7]])) == 0.0
    assert segmentation_covering(np.zeros((2, 2), bool), np.ones((2, 2), bool)) == 1.0


def test_values_in_range_on_random_maps():
    rng = np.random.default_rng(8)
    for _ in range(20):
        seg, gt = random_map(rng, (5, 6), 3), random_map(rng, (5, 6), 4)
        assert 0.0 <= probabilistic_rand_index(seg, gt) <= 1.0
        assert 0.0 <= segmentation_covering(seg, gt) <= 1.0
        assert variation_of_information(seg, gt) >= 0.0
        assert -1.0 <= adjusted_rand_index(seg, gt) <= 1.0


# --- errors ---


def test_errors():
    with pytest.raises(TypeError, match="seg must hold integer labels"):
        probabilistic_rand_index(SEG.astype(float), GT)
    with pytest.raises(TypeError, match="each ground truth must hold integer labels"):
        segmentation_covering(SEG, [GT.astype(np.float32)])
    with pytest.raises(ValueError, match="seg is empty"):
        variation_of_information(np.zeros((0, 3), int), np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="gts is empty"):
        segmentation_covering(SEG, [])
    with pytest.raises(ValueError, match="differs from seg shape"):
        probabilistic_rand_index(SEG, [GT, np.zeros((2, 2), int)])
    with pytest.raises(ValueError, match="one label map of shape"):
        probabilistic_rand_index(SEG, np.zeros((1, 1, 1, 4), int))
    with pytest.raises(ValueError, match="base must be > 1"):
        variation_of_information(SEG, GT, base=1.0)
    with pytest.raises(TypeError, match="gt must hold integer labels"):
        adjusted_rand_index(SEG, GT.astype(float))
    with pytest.raises(ValueError, match="gt shape"):
        adjusted_rand_index(SEG, np.zeros((2, 2), int))
