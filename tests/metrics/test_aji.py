"""Tests of AJI and the DSB 2018 score: hand-computed cases and brute-force loops."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

from seglab.metrics import aggregated_jaccard_index, dsb_score


def brute_force_aji(pred, target):
    """Kumar et al.'s loop, with HoVer-Net's rule for a GT object that overlaps nothing."""
    total_intersection = total_union = 0
    used = set()
    pred_ids = [i for i in np.unique(pred) if i]
    for g in [i for i in np.unique(target) if i]:
        gmask = target == g
        best, best_iou = None, 0.0
        for p in pred_ids:  # increasing ids: the first of equal IoUs wins
            pmask = pred == p
            iou = (gmask & pmask).sum() / (gmask | pmask).sum()
            if iou > best_iou:
                best, best_iou = p, iou
        if best is None:
            total_union += gmask.sum()
            continue
        pmask = pred == best
        total_intersection += (gmask & pmask).sum()
        total_union += (gmask | pmask).sum()
        used.add(best)
    for p in pred_ids:
        if p not in used:
            total_union += (pred == p).sum()
    return total_intersection / total_union if total_union else math.nan


def brute_force_dsb(pred, target):
    gt_ids = [i for i in np.unique(target) if i]
    pred_ids = [i for i in np.unique(pred) if i]
    scores = []
    for t in np.linspace(0.5, 0.95, 10):
        tp = 0
        for g in gt_ids:
            for p in pred_ids:
                a, b = target == g, pred == p
                if (a & b).sum() / (a | b).sum() > t:
                    tp += 1
        fp, fn = len(pred_ids) - tp, len(gt_ids) - tp
        scores.append(tp / (tp + fp + fn))
    return float(np.mean(scores))


def random_labels(rng, shape=(16, 18), count=6):
    labels = np.zeros(shape, np.int64)
    for k in range(1, count + 1):
        y, x = rng.integers(0, shape[0] - 2), rng.integers(0, shape[1] - 2)
        h, w = rng.integers(2, 8, size=2)
        labels[y : y + h, x : x + w] = k * int(rng.integers(1, 4))  # non-consecutive ids
    return labels


def test_hand_computed_aji():
    target = np.array([[1, 1, 1, 0, 2, 2]])
    # Pred 5 covers GT 1 and spills one pixel (IoU 3/4); pred 6 covers half of GT 2.
    pred = np.array([[5, 5, 5, 5, 6, 0]])
    pred_extra = pred.copy()
    pred_extra[0, 5] = 7
    # GT 1 with pred 5: intersection 3, union 4. GT 2 (pixels 4, 5) with pred 6 (pixel 4):
    # intersection 1, union 2.
    assert aggregated_jaccard_index(pred, target) == pytest.approx((3 + 1) / (4 + 2))
    # With pred 7 on pixel 5, GT 2 ties pred 6 and pred 7 (IoU 1/2 each): the lower id (6)
    # wins, and the unused pred 7 adds its area to the union.
    assert aggregated_jaccard_index(pred_extra, target) == pytest.approx((3 + 1) / (4 + 2 + 1))


def test_missed_and_empty_cases():
    target = np.array([[1, 1, 0, 2]])
    assert aggregated_jaccard_index(np.zeros_like(target), target) == 0.0
    assert aggregated_jaccard_index(target, np.zeros_like(target)) == 0.0
    assert math.isnan(aggregated_jaccard_index(np.zeros((2, 2), int), np.zeros((2, 2), int)))
    assert aggregated_jaccard_index(target, target) == 1.0
    assert math.isnan(dsb_score(np.zeros((2, 2), int), np.zeros((2, 2), int)))
    assert dsb_score(target, target) == 1.0


def test_hand_computed_dsb_score():
    target = np.array([[1, 1, 1, 1, 0, 2, 2]])
    # Pred 1 covers 3 of GT 1's 4 pixels: IoU 0.75 (a hit for t < 0.75: 5 thresholds);
    # GT 2 is missed and pred 3 is a false alarm.
    pred = np.array([[1, 1, 1, 0, 3, 0, 0]])
    # Thresholds 0.5 .. 0.7: TP 1, FP 1, FN 1 -> 1/3; 0.75 .. 0.95: TP 0, FP 2, FN 2 -> 0.
    assert dsb_score(pred, target) == pytest.approx(5 * (1 / 3) / 10)


def test_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(40):
        target = random_labels(rng)
        pred = random_labels(rng) if rng.random() < 0.5 else np.roll(target, 1, axis=1) * 2
        assert aggregated_jaccard_index(pred, target) == pytest.approx(
            brute_force_aji(pred, target), nan_ok=True
        )
        assert dsb_score(pred, target) == pytest.approx(brute_force_dsb(pred, target))


def test_huge_ids_use_the_sorting_path():
    target = np.array([[0, 10**9, 10**9, 5]])
    pred = np.array([[0, 3, 3, 5]])
    assert aggregated_jaccard_index(pred, target) == 1.0
    assert aggregated_jaccard_index(target, pred) == 1.0


def test_errors():
    with pytest.raises(ValueError, match="differs from target shape"):
        aggregated_jaccard_index(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="thresholds must be in"):
        dsb_score(np.zeros((2, 2), int), np.zeros((2, 2), int), thresholds=[0.3])
    with pytest.raises(TypeError, match="integer instance ids"):
        aggregated_jaccard_index(np.zeros((2, 2)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match=">= 0"):
        dsb_score(np.full((2, 2), -1), np.zeros((2, 2), int))


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.metrics.aji"))
    assert results.attempted > 0 and results.failed == 0
