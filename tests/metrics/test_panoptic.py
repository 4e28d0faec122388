"""Tests of panoptic quality: hand-computed cases and a brute-force per-segment reference."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

from seglab.metrics import PanopticQuality, panoptic_quality


def segs(*items) -> list[dict]:
    """``segs((id, category), (id, category, iscrowd), ...)``."""
    return [
        {"id": item[0], "category_id": item[1], "iscrowd": item[2] if len(item) > 2 else 0}
        for item in items
    ]


def brute_force_pq(images, categories):
    """Independent reference: boolean masks per segment, plain loops, the paper's rules."""
    stats = {c: [0, 0, 0, 0.0] for c in categories}  # tp, fp, fn, iou sum
    for pred, target, pred_segments, target_segments in images:
        void = target == 0
        matched_pred, matched_gt = set(), set()
        for g in target_segments:
            if g["iscrowd"]:
                continue
            gmask = target == g["id"]
            for p in pred_segments:
                if p["category_id"] != g["category_id"]:
                    continue
                pmask = (pred == p["id"]) & ~void  # void pixels leave the prediction
                union = np.logical_or(pmask, gmask).sum()
                iou = np.logical_and(pmask, gmask).sum() / union if union else 0.0
                if iou > 0.5:
                    stats[g["category_id"]][0] += 1
                    stats[g["category_id"]][3] += iou
                    matched_pred.add(p["id"])
                    matched_gt.add(g["id"])
        for g in target_segments:
            if not g["iscrowd"] and g["id"] not in matched_gt:
                stats[g["category_id"]][2] += 1
        for p in pred_segments:
            if p["id"] in matched_pred:
                continue
            pmask = pred == p["id"]
            crowd = np.zeros_like(void)
            for g in target_segments:
                if g["iscrowd"] and g["category_id"] == p["category_id"]:
                    crowd |= target == g["id"]
            if (pmask & (void | crowd)).sum() / pmask.sum() > 0.5:
                continue
            stats[p["category_id"]][1] += 1
    per_class = {}
    for c, (tp, fp, fn, iou) in stats.items():
        if tp + fp + fn == 0:
            continue
        per_class[c] = (
            iou / (tp + fp / 2 + fn / 2),
            iou / tp if tp else 0.0,
            tp / (tp + fp / 2 + fn / 2),
        )
    return per_class, stats


def random_panoptic(rng, size=(12, 14), categories=(1, 2, 3, 4)):
    """A random id map from a few random boxes; returns (map, segments)."""
    height, width = size
    ids = np.zeros(size, np.int64)
    count = int(rng.integers(0, 6))
    for k in range(1, count + 1):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        y1, x1 = y0 + rng.integers(1, height), x0 + rng.integers(1, width)
        ids[y0:y1, x0:x1] = k * 7  # non-consecutive ids
    present = sorted(set(np.unique(ids).tolist()) - {0})
    segments = [
        {
            "id": i,
            "category_id": int(rng.choice(categories)),
            "iscrowd": int(rng.random() < 0.2),
        }
        for i in present
    ]
    return ids, segments


def test_perfect_prediction_is_one():
    target = np.array([[1, 1, 2], [3, 3, 2]])
    segments = segs((1, 1), (2, 2), (3, 1))
    result = panoptic_quality(
        target, target, pred_segments=segments, target_segments=segments, categories={1: 1, 2: 0}
    )
    assert result["PQ"] == result["SQ"] == result["RQ"] == 1.0
    assert result["N"] == 2 and result["N_th"] == 1 and result["N_st"] == 1
    assert result["per_class"][1]["TP"] == 2


def test_hand_computed_case():
    # GT: thing A (class 1, 4 px), thing B (class 1, 4 px), stuff S (class 2, 8 px).
    target = np.array(
        [
            [1, 1, 2, 2],
            [1, 1, 2, 2],
            [3, 3, 3, 3],
            [3, 3, 3, 3],
        ]
    )
    # Prediction: A' covers A plus 2 px of S (IoU 4/6); B is split in two halves of 2 px
    # (IoU 2/4 = 0.5, not > 0.5: no match); S' covers the 6 remaining S px (IoU 6/8).
    pred = np.array(
        [
            [10, 10, 20, 21],
            [10, 10, 20, 21],
            [10, 10, 30, 30],
            [30, 30, 30, 30],
        ]
    )
    result = panoptic_quality(
        pred,
        target,
        pred_segments=segs((10, 1), (20, 1), (21, 1), (30, 2)),
        target_segments=segs((1, 1), (2, 1), (3, 2)),
        categories=[{"id": 1, "isthing": 1}, {"id": 2, "isthing": 0}],
    )
    # Class 1: TP 1 (IoU 2/3), FP 2 (the halves), FN 1 (B): PQ = (2/3) / (1 + 1 + 0.5).
    things = result["per_class"][1]
    assert (things["TP"], things["FP"], things["FN"]) == (1, 2, 1)
    assert things["PQ"] == pytest.approx((2 / 3) / 2.5)
    assert things["SQ"] == pytest.approx(2 / 3)
    assert things["RQ"] == pytest.approx(1 / 2.5)
    # Class 2: TP 1 with IoU 6/8.
    assert result["per_class"][2]["PQ"] == pytest.approx(0.75)
    assert result["PQ"] == pytest.approx(((2 / 3) / 2.5 + 0.75) / 2)
    assert result["PQ_th"] == pytest.approx((2 / 3) / 2.5)
    assert result["PQ_st"] == pytest.approx(0.75)


def test_void_pixels_leave_the_prediction_before_iou():
    # GT object of 2 px next to 2 void px; the prediction covers all 4. Without the void rule
    # IoU would be 2/4 (no match); with it, 2/2.
    target = np.array([[1, 1, 0, 0]])
    pred = np.array([[5, 5, 5, 5]])
    result = panoptic_quality(
        pred, target, pred_segments=segs((5, 1)), target_segments=segs((1, 1)), categories={1: 1}
    )
    assert result["PQ"] == 1.0


def test_unmatched_prediction_mostly_on_void_or_crowd_is_not_a_false_positive():
    target = np.array([[0, 0, 0, 9, 9, 9, 1, 1]])  # void, crowd (class 1), object (class 1)
    categories = {1: 1, 2: 1}
    target_segments = segs((9, 1, 1), (1, 1))
    # 3 of 4 px on void: ignored. 3 of 4 px on a same-class crowd: ignored. A class-2
    # prediction on the crowd is counted (the crowd is class 1).
    on_void = np.array([[4, 4, 4, 4, 0, 0, 1, 1]])
    on_crowd = np.array([[0, 0, 0, 4, 4, 4, 4, 0]])
    for pred, category, fp in ((on_void, 1, 0), (on_crowd, 1, 0), (on_crowd, 2, 1)):
        pred_segments = segs((4, category))
        if (pred == 1).any():
            pred_segments += segs((1, 1))
        result = panoptic_quality(
            pred,
            target,
            pred_segments=pred_segments,
            target_segments=target_segments,
            categories=categories,
        )
        assert result["per_class"][category]["FP"] == fp
    # Crowd GT is never a false negative.
    assert result["per_class"][1]["FN"] == 1  # the class-1 object, missed by that prediction


def test_absent_classes_are_nan_and_means_over_nothing_are_nan():
    ids = np.array([[1, 1]])
    result = panoptic_quality(
        ids, ids, pred_segments=segs((1, 1)), target_segments=segs((1, 1)), categories={1: 1, 2: 0}
    )
    assert math.isnan(result["per_class"][2]["PQ"])
    assert math.isnan(result["PQ_st"]) and result["N_st"] == 0
    assert result["PQ"] == 1.0


def test_against_brute_force_on_random_images():
    rng = np.random.default_rng(0)
    categories = {1: 1, 2: 1, 3: 0, 4: 0}
    totals = np.zeros(3, int)
    for _ in range(30):
        images = []
        for _ in range(int(rng.integers(1, 4))):
            target, target_segments = random_panoptic(rng)
            if rng.random() < 0.6:  # a perturbed copy of the GT: mostly matches
                pred = np.roll(target, int(rng.integers(-1, 2)), axis=1) * 3
                pred_segments = [
                    {
                        "id": g["id"] * 3,
                        "category_id": g["category_id"] if rng.random() < 0.8 else 3,
                    }
                    for g in target_segments
                    if (pred == g["id"] * 3).any()
                ]
            else:
                pred, pred_segments = random_panoptic(rng)
            for segment in pred_segments:
                segment["iscrowd"] = 0  # crowd is a GT notion
            images.append((pred, target, pred_segments, target_segments))
        expected, stats = brute_force_pq(images, categories)
        metric = PanopticQuality(categories)
        for image in images:
            metric.update(*image)
        result = metric.compute()
        for c in categories:
            tp, fp, fn, _ = stats[c]
            got = result["per_class"][c]
            assert (got["TP"], got["FP"], got["FN"]) == (tp, fp, fn)
            totals += (tp, fp, fn)
            if c in expected:
                np.testing.assert_allclose([got["PQ"], got["SQ"], got["RQ"]], expected[c])
            else:
                assert math.isnan(got["PQ"])
        if expected:
            assert result["PQ"] == pytest.approx(np.mean([v[0] for v in expected.values()]))
        # The list form of panoptic_quality gives the same figures.
        batched = panoptic_quality(
            [i[0] for i in images],
            [i[1] for i in images],
            pred_segments=[i[2] for i in images],
            target_segments=[i[3] for i in images],
            categories=categories,
        )
        np.testing.assert_equal(batched["PQ"], result["PQ"])
    assert (totals > 10).all()  # the random cases exercise matches, misses and false alarms


def test_streaming_reset():
    metric = PanopticQuality({1: 1})
    ids = np.array([[1]])
    metric.update(ids, ids, segs((1, 1)), segs((1, 1)))
    metric.reset()
    assert metric.num_images == 0 and math.isnan(metric.compute()["PQ"])


# ---------------------------------------------------------------- errors


def test_bad_categories():
    with pytest.raises(ValueError, match="categories is empty"):
        PanopticQuality({})
    with pytest.raises(ValueError, match=r"categories\[0\] must be a dict"):
        PanopticQuality([1, 2])


def test_bad_maps():
    metric = PanopticQuality({1: 1})
    with pytest.raises(ValueError, match=r"pred must be an \(H, W\)"):
        metric.update(np.zeros(3, int), np.zeros((1, 3), int), [], [])
    with pytest.raises(TypeError, match="integer segment ids"):
        metric.update(np.zeros((1, 3)), np.zeros((1, 3), int), [], [])
    with pytest.raises(ValueError, match="differs from target shape"):
        metric.update(np.zeros((1, 3), int), np.zeros((1, 4), int), [], [])


def test_bad_segments():
    metric = PanopticQuality({1: 1})
    ids = np.array([[1, 2]])
    with pytest.raises(ValueError, match="must be unique and non-zero"):
        metric.update(ids, ids, segs((1, 1), (1, 1)), segs((1, 1), (2, 1)))
    with pytest.raises(ValueError, match=r"use categories \[7\]"):
        metric.update(ids, ids, segs((1, 1), (2, 7)), segs((1, 1), (2, 1)))
    with pytest.raises(ValueError, match=r"ids \[2\] are in the map but not listed"):
        metric.update(ids, ids, segs((1, 1)), segs((1, 1), (2, 1)))
    with pytest.raises(ValueError, match=r"listed ids \[3\] have no pixels"):
        metric.update(ids, ids, segs((1, 1), (2, 1), (3, 1)), segs((1, 1), (2, 1)))


def test_list_lengths_must_agree():
    ids = np.array([[1]])
    with pytest.raises(ValueError, match="give one of each per image"):
        panoptic_quality(
            [ids, ids], [ids], pred_segments=[[]], target_segments=[[]], categories={1: 1}
        )


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.metrics.panoptic"))
    assert results.attempted > 0 and results.failed == 0
