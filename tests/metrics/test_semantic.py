"""Tests of per-image scores: hand tables, a brute-force loop over images, streaming."""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest
import torch

import seglab.metrics.semantic as semantic_module
from seglab.metrics import (
    ConfusionMatrix,
    PerImageMetrics,
    confusion_matrix,
    per_image_confusion,
    per_image_metrics,
)


def brute_force_per_image(pred, target, num_classes, ignore_index=255):
    """Independent reference: loops over images and classes."""
    ious, dices, accuracies = [], [], []
    for image_pred, image_target in zip(pred, target, strict=True):
        valid = image_target != ignore_index
        iou, dice = [], []
        for k in range(num_classes):
            is_target = (image_target == k) & valid
            is_pred = (image_pred == k) & valid
            tp = int((is_target & is_pred).sum())
            union = int((is_target | is_pred).sum())
            iou.append(tp / union if union else math.nan)
            dice.append(2 * tp / (is_target.sum() + is_pred.sum()) if union else math.nan)
        ious.append(iou)
        dices.append(dice)
        counted = int(valid.sum())
        correct = int(((image_pred == image_target) & valid).sum())
        accuracies.append(correct / counted if counted else math.nan)
    return np.array(ious), np.array(dices), np.array(accuracies)


def test_hand_computed_two_images():
    # Image 0: target [0, 0, 1, 1], pred [0, 1, 1, 1]; image 1: target [2, 2, 2, 255].
    target = np.array([[[0, 0, 1, 1]], [[2, 2, 2, 255]]])
    pred = np.array([[[0, 1, 1, 1]], [[2, 0, 2, 1]]])
    scores = per_image_metrics(pred, target, num_classes=3)
    # Image 0: IoU0 = 1/2, IoU1 = 2/3, class 2 absent (NaN). Image 1: class 0 only predicted
    # (IoU 0), class 1 predicted only at the ignored pixel (absent: NaN), IoU2 = 2/3.
    np.testing.assert_array_equal(scores["iou"], [[0.5, 2 / 3, np.nan], [0.0, np.nan, 2 / 3]])
    np.testing.assert_allclose(scores["image_miou"], [(0.5 + 2 / 3) / 2, 1 / 3])
    np.testing.assert_allclose(scores["image_pixel_accuracy"], [3 / 4, 2 / 3])
    np.testing.assert_array_equal(scores["dice"], [[2 / 3, 0.8, np.nan], [0.0, np.nan, 0.8]])
    assert scores["miou"] == pytest.approx(((0.5 + 2 / 3) / 2 + 1 / 3) / 2)
    assert scores["pixel_accuracy"] == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert scores["mean_dice"] == pytest.approx(((2 / 3 + 0.8) / 2 + 0.4) / 2)
    for key in ("miou", "pixel_accuracy", "mean_dice"):
        assert isinstance(scores[key], float)


def test_per_image_and_dataset_wide_differ_as_documented():
    # A big perfect image and a tiny wrong one: dataset-wide pooling hides the tiny one.
    target = np.zeros((2, 10, 10), np.int64)
    target[:, 5:] = 1
    pred = target.copy()
    pred[1] = 1 - target[1]
    pred[1, :9] = 255  # only the last row of image 1 counts
    target[1, :9] = 255
    per_image = per_image_metrics(pred, target, 2)
    dataset = ConfusionMatrix(2)
    dataset.update(pred, target)
    assert per_image["miou"] == pytest.approx(0.5)  # (1 + 0) / 2
    # Pooled: each class has TP 50 (image 0), FP 5 and FN 5 (image 1), so IoU = 50 / 60.
    assert dataset.compute()["miou"] == pytest.approx(50 / 60)


@pytest.mark.parametrize("seed", range(4))
def test_random_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 7))
    target = rng.integers(0, num_classes, (5, 7, 8))
    pred = np.where(rng.random(target.shape) < 0.5, target, rng.integers(0, num_classes, (5, 7, 8)))
    target[rng.random(target.shape) < 0.1] = 255
    target[2] = 255  # one fully ignored image: NaN, skipped by the means
    scores = per_image_metrics(torch.from_numpy(pred), torch.from_numpy(target), num_classes)
    iou, dice, accuracy = brute_force_per_image(pred, target, num_classes)
    np.testing.assert_allclose(scores["iou"], iou, rtol=1e-12)
    np.testing.assert_allclose(scores["dice"], dice, rtol=1e-12)
    np.testing.assert_allclose(scores["image_pixel_accuracy"], accuracy, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        image_miou = np.nanmean(iou, axis=1)
    np.testing.assert_allclose(scores["image_miou"], image_miou, rtol=1e-12)
    assert math.isnan(scores["image_miou"][2])
    assert scores["miou"] == pytest.approx(np.nanmean(image_miou), rel=1e-12)
    assert scores["pixel_accuracy"] == pytest.approx(np.nanmean(accuracy), rel=1e-12)


def test_per_image_confusion_sums_to_the_dataset_matrix():
    rng = np.random.default_rng(5)
    target = rng.integers(0, 4, (6, 5, 5)).astype(np.uint8)
    pred = rng.integers(0, 4, (6, 5, 5)).astype(np.uint8)
    target[rng.random(target.shape) < 0.2] = 255
    matrices = per_image_confusion(pred, target, 4)
    assert matrices.shape == (6, 4, 4)
    assert matrices.dtype == np.int64
    np.testing.assert_array_equal(matrices.sum(axis=0), confusion_matrix(pred, target, 4))
    for n in range(6):
        np.testing.assert_array_equal(matrices[n], confusion_matrix(pred[n], target[n], 4))


def test_streaming_equals_one_call():
    rng = np.random.default_rng(6)
    target = rng.integers(0, 3, (5, 4, 4))
    pred = rng.integers(0, 3, (5, 4, 4))
    meter = PerImageMetrics(3)
    meter.update(pred[:2], target[:2])
    meter.update(torch.from_numpy(pred[2:]), torch.from_numpy(target[2:]))
    assert len(meter) == 5
    assert "images=5" in repr(meter)
    streamed, whole = meter.compute(), per_image_metrics(pred, target, 3)
    assert streamed.keys() == whole.keys()
    for key in whole:
        np.testing.assert_array_equal(streamed[key], whole[key])
    meter.reset()
    assert len(meter) == 0


def test_no_image_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = PerImageMetrics(3).compute()
    assert scores["iou"].shape == (0, 3)
    assert math.isnan(scores["miou"]) and math.isnan(scores["pixel_accuracy"])


def test_docstring_examples_run():
    assert doctest.testmod(semantic_module).failed == 0


@pytest.mark.parametrize("shape", [(4,), (4, 5)])
def test_missing_batch_axis_raises(shape):
    labels = np.zeros(shape, np.int64)
    with pytest.raises(ValueError, match=r"need a batch axis: expected \(N, H, W\)"):
        per_image_metrics(labels, labels, 2)


def test_bad_labels_raise_as_in_the_confusion_matrix():
    with pytest.raises(ValueError, match=r"target has labels \[7\] outside \[0, 2\)"):
        PerImageMetrics(2).update(np.zeros((1, 2, 2), int), np.full((1, 2, 2), 7))
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        PerImageMetrics(0)


def test_blocks_of_several_images_match_brute_force(monkeypatch):
    import seglab.metrics.confusion as confusion_module

    # 12 pixels per image and blocks of 40: three whole images per block, and a short last one.
    monkeypatch.setattr(confusion_module, "_BLOCK", 40)
    rng = np.random.default_rng(9)
    target = rng.integers(0, 3, (7, 3, 4))
    pred = rng.integers(0, 3, (7, 3, 4))
    target[rng.random(target.shape) < 0.2] = 255
    iou, dice, accuracy = brute_force_per_image(pred, target, 3)
    scores = per_image_metrics(pred, target, 3)
    np.testing.assert_allclose(scores["iou"], iou, rtol=1e-12)
    np.testing.assert_allclose(scores["image_pixel_accuracy"], accuracy, rtol=1e-12)
