"""Tests of multi-label (per-class binary) scores."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

import seglab.metrics.multilabel as multilabel_module
from seglab.metrics import (
    MultiLabelConfusion,
    multilabel_counts,
    multilabel_dice,
    multilabel_iou,
)


def brute_force_counts(pred, target, ignore_index=255):
    """Independent reference: a loop over classes, on flattened per-class masks."""
    tps, fps, fns = [], [], []
    for k in range(target.shape[1]):
        p = np.asarray(pred[:, k]).astype(int).ravel()
        t = np.asarray(target[:, k]).astype(int).ravel()
        counted = t != ignore_index
        tps.append(int(((p == 1) & (t == 1) & counted).sum()))
        fps.append(int(((p == 1) & (t == 0) & counted).sum()))
        fns.append(int(((p == 0) & (t == 1) & counted).sum()))
    return np.array(tps), np.array(fps), np.array(fns)


def random_masks(rng, shape, ignored_fraction=0.0):
    target = (rng.random(shape) < 0.3).astype(np.int64)
    pred = np.where(rng.random(shape) < 0.7, target, 1 - target)
    target[rng.random(shape) < ignored_fraction] = 255
    return pred, target


def test_hand_computed_table():
    # Two classes on one 2 x 3 image; a pixel can be in both classes.
    pred = np.array([[[[1, 1, 0], [0, 1, 0]], [[1, 0, 0], [0, 0, 0]]]], dtype=bool)
    target = np.array([[[[1, 0, 0], [0, 1, 1]], [[0, 0, 0], [0, 0, 0]]]], dtype=bool)
    tp, fp, fn = multilabel_counts(pred, target)
    np.testing.assert_array_equal(tp, [2, 0])
    np.testing.assert_array_equal(fp, [1, 1])
    np.testing.assert_array_equal(fn, [1, 0])
    # Class 0: IoU 2/4, Dice 4/6. Class 1: only predicted, so 0 (not NaN).
    np.testing.assert_allclose(multilabel_iou(pred, target), [0.5, 0.0])
    np.testing.assert_allclose(multilabel_dice(pred, target), [2 / 3, 0.0])


def test_class_absent_from_both_is_nan_and_skipped():
    pred = np.zeros((1, 3, 2, 2), bool)
    target = np.zeros((1, 3, 2, 2), bool)
    pred[0, 0, 0, 0] = target[0, 0, 0, 0] = True
    target[0, 1, 1, 1] = True
    meter = MultiLabelConfusion(3)
    meter.update(pred, target)
    scores = meter.compute()
    np.testing.assert_array_equal(scores["iou"], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(scores["dice"], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(scores["precision"], [1.0, np.nan, np.nan])
    np.testing.assert_array_equal(scores["recall"], [1.0, 0.0, np.nan])
    assert scores["miou"] == 0.5
    assert scores["mean_dice"] == 0.5
    assert isinstance(scores["miou"], float)


@pytest.mark.parametrize("seed", range(3))
def test_random_against_brute_force_with_ignored_entries(seed):
    rng = np.random.default_rng(seed)
    pred, target = random_masks(rng, (2, 4, 6, 5), ignored_fraction=0.15)
    expected = brute_force_counts(pred, target)
    for actual in (
        multilabel_counts(pred, target),
        multilabel_counts(torch.from_numpy(pred), torch.from_numpy(target)),
        multilabel_counts(pred.astype(np.uint8), target.astype(np.uint8)),
    ):
        for got, want in zip(actual, expected, strict=True):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64


def test_torch_bool_and_numpy_bool_agree():
    rng = np.random.default_rng(3)
    pred, target = random_masks(rng, (2, 3, 4, 4))
    from_numpy = multilabel_iou(pred.astype(bool), target.astype(bool))
    from_torch = multilabel_iou(torch.from_numpy(pred) > 0, torch.from_numpy(target) > 0)
    np.testing.assert_array_equal(from_numpy, from_torch)


def test_streaming_and_merge_equal_one_update():
    rng = np.random.default_rng(4)
    pred, target = random_masks(rng, (4, 3, 5, 5), ignored_fraction=0.1)
    whole = MultiLabelConfusion(3)
    whole.update(pred, target)
    streamed = MultiLabelConfusion(3)
    streamed.update(pred[:1], target[:1])
    streamed.update(torch.from_numpy(pred[1:2]), torch.from_numpy(target[1:2]))
    other = MultiLabelConfusion(3)
    other.update(pred[2:], target[2:])
    streamed += other
    for name in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name))
    assert "num_classes=3" in repr(streamed)
    streamed.reset()
    assert streamed.tp.sum() == streamed.fp.sum() == streamed.fn.sum() == 0


def test_matches_torchmetrics_multilabel_jaccard():
    classification = pytest.importorskip("torchmetrics.classification")
    rng = np.random.default_rng(5)
    pred, target = random_masks(rng, (3, 4, 8, 8))
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
    jaccard = classification.MultilabelJaccardIndex(num_labels=4, average=None)
    np.testing.assert_allclose(multilabel_iou(pred_t, target_t), jaccard(pred_t, target_t), 1e-6)
    f1 = classification.MultilabelF1Score(num_labels=4, average=None, multidim_average="global")
    np.testing.assert_allclose(multilabel_dice(pred_t, target_t), f1(pred_t, target_t), 1e-6)


def test_empty_batch_counts_nothing():
    tp, fp, fn = multilabel_counts(np.zeros((0, 2, 3, 3), bool), np.zeros((0, 2, 3, 3), bool))
    np.testing.assert_array_equal(tp + fp + fn, [0, 0])
    assert math.isnan(MultiLabelConfusion(2).compute()["miou"])


def test_docstring_examples_run():
    assert doctest.testmod(multilabel_module).failed == 0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ignore_index", [0, 1])
def test_ignore_index_zero_or_one_raises(ignore_index):
    masks = np.zeros((1, 2, 2, 2), bool)
    with pytest.raises(ValueError, match="ignore_index must not be 0 or 1"):
        multilabel_counts(masks, masks, ignore_index=ignore_index)
    with pytest.raises(ValueError, match="ignore_index must not be 0 or 1"):
        MultiLabelConfusion(2, ignore_index=ignore_index)


def test_float_masks_raise():
    with pytest.raises(TypeError, match="pred must hold integer.*threshold multi-label scores"):
        multilabel_iou(torch.rand(1, 2, 3, 3), torch.zeros(1, 2, 3, 3, dtype=torch.bool))


def test_non_binary_values_raise():
    masks = np.zeros((1, 2, 2, 2), np.int64)
    bad = masks.copy()
    bad[0, 0, 0, 0] = 2
    with pytest.raises(
        ValueError, match=r"multi-label pred must be bool or hold 0, 1; got values \[2\]"
    ):
        multilabel_counts(bad, masks)
    with pytest.raises(
        ValueError, match=r"target must be .* or ignore_index=255; got values \[2\]"
    ):
        multilabel_counts(masks, torch.from_numpy(bad))
    ignored = masks.copy()
    ignored[0, 1, 1, 1] = 255
    with pytest.raises(ValueError, match=r"pred must be bool or hold 0, 1; got values \[255\]"):
        multilabel_counts(ignored, masks)  # ignore_index is for the target only


def test_missing_class_axis_raises():
    with pytest.raises(ValueError, match=r"must be \(N, K, H, W\) with the classes on axis 1"):
        multilabel_counts(np.zeros(4, bool), np.zeros(4, bool))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="does not match target shape"):
        multilabel_counts(np.zeros((1, 2, 3, 3), bool), np.zeros((1, 2, 3, 4), bool))


def test_wrong_number_of_classes_raises():
    masks = np.zeros((1, 3, 2, 2), bool)
    with pytest.raises(ValueError, match=r"expected \(N, 2, H, W\) masks"):
        MultiLabelConfusion(2).update(masks, masks)


def test_merge_with_other_settings_raises():
    with pytest.raises(ValueError, match="different settings"):
        MultiLabelConfusion(2).merge(MultiLabelConfusion(3))
