"""Tests of the streaming confusion matrix: hand tables, a brute-force reference, torchmetrics."""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest
import torch

import seglab.metrics.confusion as confusion_module
from seglab.metrics import ConfusionMatrix, confusion_matrix, scores_from_confusion
from seglab.metrics.confusion import count_pairs

SCALAR_KEYS = ("pixel_accuracy", "mean_pixel_accuracy", "miou", "fwiou", "mean_dice")
ARRAY_KEYS = ("iou", "dice", "accuracy")


def brute_force_scores(pred, target, num_classes, ignore_index=255):
    """Independent reference: explicit loops over classes, plain boolean masks."""
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    total = int(valid.sum())
    iou, dice, accuracy, frequency = [], [], [], []
    correct = 0
    for k in range(num_classes):
        is_target = (target == k) & valid
        is_pred = (pred == k) & valid
        tp = int((is_target & is_pred).sum())
        fp = int((~is_target & is_pred).sum())
        fn = int((is_target & ~is_pred).sum())
        correct += tp
        iou.append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
        dice.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan)
        accuracy.append(tp / (tp + fn) if tp + fn else math.nan)
        frequency.append((tp + fn) / total if total else 0.0)
    fwiou = sum(f * i for f, i in zip(frequency, iou, strict=True) if f > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN is NaN here
        return {
            "pixel_accuracy": correct / total if total else math.nan,
            "mean_pixel_accuracy": float(np.nanmean(accuracy)),
            "iou": np.array(iou),
            "miou": float(np.nanmean(iou)),
            "fwiou": fwiou if total else math.nan,
            "dice": np.array(dice),
            "mean_dice": float(np.nanmean(dice)),
            "accuracy": np.array(accuracy),
        }


def assert_scores_equal(actual, expected):
    for key in SCALAR_KEYS:
        assert isinstance(actual[key], float), key
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-12, err_msg=key)
    for key in ARRAY_KEYS:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-12, err_msg=key)


def random_labels(rng, shape, num_classes, ignored_fraction=0.0, dtype=np.int64):
    target = rng.integers(0, num_classes, shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, num_classes, shape))
    target[rng.random(shape) < ignored_fraction] = 255
    return pred.astype(dtype), target.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Hand-computed tables
# ---------------------------------------------------------------------------------------------


def test_hand_computed_three_classes():
    target = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 255])
    # The last prediction (9) is out of range but its target is ignored: not checked.
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 0, 2, 9])
    meter = ConfusionMatrix(num_classes=3)
    meter.update(pred, target)
    np.testing.assert_array_equal(meter.matrix, [[2, 1, 0], [0, 1, 1], [1, 0, 3]])
    assert meter.matrix.dtype == np.int64
    scores = meter.compute()
    # 9 counted pixels, 6 on the diagonal.
    assert scores["pixel_accuracy"] == pytest.approx(6 / 9)
    np.testing.assert_allclose(scores["accuracy"], [2 / 3, 1 / 2, 3 / 4])
    assert scores["mean_pixel_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4) / 3)
    # IoU = TP / (row + column - TP): 2/4, 1/3, 3/5.
    np.testing.assert_allclose(scores["iou"], [0.5, 1 / 3, 0.6])
    assert scores["miou"] == pytest.approx(0.4777777777777778)
    # Frequencies 3/9, 2/9, 4/9.
    assert scores["fwiou"] == pytest.approx((3 * 0.5 + 2 / 3 + 4 * 0.6) / 9)
    np.testing.assert_allclose(scores["dice"], [4 / 6, 2 / 4, 6 / 8])
    assert scores["mean_dice"] == pytest.approx(0.6388888888888888)


def test_absent_classes_follow_the_nan_rule():
    # Class 2 is predicted but absent from the target; class 3 is absent from both.
    target = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    scores = confusion_module.scores_from_confusion(confusion_matrix(pred, target, 4))
    np.testing.assert_array_equal(scores["iou"], [0.5, 1.0, 0.0, np.nan])
    np.testing.assert_array_equal(scores["dice"], [2 / 3, 1.0, 0.0, np.nan])
    np.testing.assert_array_equal(scores["accuracy"], [0.5, 1.0, np.nan, np.nan])
    assert scores["miou"] == pytest.approx(0.5)  # (0.5 + 1 + 0) / 3: class 3 skipped
    assert scores["mean_dice"] == pytest.approx((2 / 3 + 1) / 3)
    assert scores["mean_pixel_accuracy"] == pytest.approx(0.75)  # classes with target pixels
    assert scores["pixel_accuracy"] == pytest.approx(0.75)
    assert scores["fwiou"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_no_counted_pixel_gives_nan_without_warnings():
    meter = ConfusionMatrix(num_classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = meter.compute()
        meter.update(np.full((2, 2), 255), np.full((2, 2), 255))  # everything ignored
        ignored = meter.compute()
    for scores in (empty, ignored):
        for key in SCALAR_KEYS:
            assert math.isnan(scores[key]), key
        assert np.isnan(scores["iou"]).all()
    assert meter.matrix.sum() == 0


def test_empty_input_counts_nothing():
    meter = ConfusionMatrix(num_classes=2)
    meter.update(np.zeros((0, 4), np.int64), np.zeros((0, 4), np.int64))
    np.testing.assert_array_equal(meter.matrix, np.zeros((2, 2)))


def test_scores_from_confusion_on_a_given_table():
    scores = scores_from_confusion(np.array([[3, 1], [0, 0]]))
    np.testing.assert_allclose(scores["iou"], [0.75, 0.0])
    assert scores["miou"] == 0.375
    assert scores["pixel_accuracy"] == 0.75


# ---------------------------------------------------------------------------------------------
# Random cases against the brute-force reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_random_against_brute_force(seed, dtype):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(1, 9))
    pred, target = random_labels(rng, (3, 11, 13), num_classes, 0.1, dtype)
    meter = ConfusionMatrix(num_classes)
    meter.update(pred, target)
    assert_scores_equal(meter.compute(), brute_force_scores(pred, target, num_classes))


@pytest.mark.parametrize("seed", range(3))
def test_random_with_absent_classes_against_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    # Labels drawn from 0..3 only, scored with K = 7: classes 4..6 never appear.
    pred, target = random_labels(rng, (2, 9, 9), 4, 0.2)
    pred[0, 0, 0] = 5  # class 5 only predicted
    meter = ConfusionMatrix(num_classes=7)
    meter.update(pred, target)
    scores = meter.compute()
    assert_scores_equal(scores, brute_force_scores(pred, target, 7))
    assert np.isnan(scores["iou"][[4, 6]]).all()
    if target[0, 0, 0] != 255:
        assert scores["iou"][5] == 0.0


@pytest.mark.parametrize(
    "ignore_index",
    [None, 0, -1, 1_000_000_000],
    ids=["none", "inside-range", "negative", "huge-fallback-path"],
)
def test_ignore_index_variants_against_brute_force(ignore_index):
    rng = np.random.default_rng(7)
    pred, target = random_labels(rng, (2, 10, 10), 4)
    if ignore_index not in (None, 0):
        target[rng.random(target.shape) < 0.15] = ignore_index
        # Predictions at ignored pixels are not checked, even when out of range.
        pred[target == ignore_index] = 99
    scores = ConfusionMatrix(4, ignore_index=ignore_index)
    scores.update(pred, target)
    assert_scores_equal(scores.compute(), brute_force_scores(pred, target, 4, ignore_index))
    if ignore_index == 0:
        assert scores.matrix[0].sum() == 0  # class 0 pixels were all ignored


def test_bool_labels_are_classes_zero_and_one():
    target = np.array([[True, False], [True, True]])
    pred = np.array([[True, True], [False, True]])
    expected = confusion_matrix(pred.astype(np.int64), target.astype(np.int64), 2)
    np.testing.assert_array_equal(confusion_matrix(pred, target, 2), expected)
    np.testing.assert_array_equal(confusion_matrix(torch.from_numpy(pred), target, 2), expected)
    np.testing.assert_array_equal(expected, [[0, 1], [1, 2]])


# ---------------------------------------------------------------------------------------------
# Equivalences: torch vs NumPy, batched vs unbatched, streaming, device code path
# ---------------------------------------------------------------------------------------------


def test_torch_and_numpy_inputs_agree():
    rng = np.random.default_rng(1)
    pred, target = random_labels(rng, (2, 8, 8), 5, 0.1)
    from_numpy = confusion_matrix(pred, target, 5)
    from_torch = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), 5)
    mixed = confusion_matrix(torch.from_numpy(pred), target, 5)
    np.testing.assert_array_equal(from_numpy, from_torch)
    np.testing.assert_array_equal(from_numpy, mixed)


def test_batched_equals_image_by_image_and_streaming_equals_one_update():
    rng = np.random.default_rng(2)
    pred, target = random_labels(rng, (4, 6, 7), 3, 0.1)
    whole = ConfusionMatrix(3)
    whole.update(pred, target)
    by_image = ConfusionMatrix(3)
    for image_pred, image_target in zip(pred, target, strict=True):
        by_image.update(torch.from_numpy(image_pred), torch.from_numpy(image_target))
    np.testing.assert_array_equal(whole.matrix, by_image.matrix)
    assert_scores_equal(whole.compute(), by_image.compute())


DEVICE_CASES = [
    (dtype, ignore_index)
    for dtype in (torch.int64, torch.int32, torch.uint8)
    for ignore_index in (255, None, -1, 1_000_000_000)
    if dtype != torch.uint8 or ignore_index in (255, None)  # uint8 cannot hold the others
]


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize(("dtype", "ignore_index"), DEVICE_CASES)
def test_device_code_path_matches_numpy_path(per_image, dtype, ignore_index):
    # keep_torch runs the code path of CUDA tensors (torch.bincount, int32 codes) on the CPU.
    rng = np.random.default_rng(3)
    pred, target = random_labels(rng, (3, 5, 6), 4)
    if ignore_index is not None:
        target[rng.random(target.shape) < 0.2] = ignore_index
    pred_t, target_t = torch.from_numpy(pred).to(dtype), torch.from_numpy(target).to(dtype)
    on_torch = count_pairs(pred_t, target_t, 4, ignore_index, per_image=per_image, keep_torch=True)
    on_numpy = count_pairs(pred, target, 4, ignore_index, per_image=per_image)
    np.testing.assert_array_equal(on_torch, on_numpy)
    assert on_torch.dtype == np.int64


def test_device_code_path_raises_on_bad_labels():
    target = torch.tensor([0, 1, 255])
    with pytest.raises(ValueError, match=r"pred has labels \[7\] outside \[0, 2\)"):
        count_pairs(torch.tensor([0, 7, 9]), target, 2, 255, per_image=False, keep_torch=True)
    with pytest.raises(ValueError, match=r"target has labels \[1000000000\]"):
        count_pairs(
            torch.tensor([0, 1, 0]),
            torch.tensor([0, 1_000_000_000, -1]),
            2,
            -1,
            per_image=False,
            keep_torch=True,
        )


# ---------------------------------------------------------------------------------------------
# torchmetrics as an independent reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_matches_torchmetrics_when_every_class_is_present(seed):
    classification = pytest.importorskip("torchmetrics.classification")
    rng = np.random.default_rng(10 + seed)
    num_classes = 5
    pred, target = random_labels(rng, (2, 16, 16), num_classes, 0.1)
    assert set(np.unique(target[target != 255])) == set(range(num_classes))
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
    meter = ConfusionMatrix(num_classes)
    meter.update(pred_t, target_t)
    scores = meter.compute()

    jaccard = classification.MulticlassJaccardIndex(num_classes, average=None, ignore_index=255)
    np.testing.assert_allclose(scores["iou"], jaccard(pred_t, target_t).numpy(), rtol=1e-6)
    matrix = classification.MulticlassConfusionMatrix(num_classes, ignore_index=255)
    np.testing.assert_array_equal(meter.matrix, matrix(pred_t, target_t).numpy())
    f1 = classification.MulticlassF1Score(num_classes, average=None, ignore_index=255)
    np.testing.assert_allclose(scores["dice"], f1(pred_t, target_t).numpy(), rtol=1e-6)
    accuracy = classification.MulticlassAccuracy(num_classes, average="micro", ignore_index=255)
    assert scores["pixel_accuracy"] == pytest.approx(accuracy(pred_t, target_t).item())
    recall = classification.MulticlassRecall(num_classes, average="macro", ignore_index=255)
    assert scores["mean_pixel_accuracy"] == pytest.approx(recall(pred_t, target_t).item())


# ---------------------------------------------------------------------------------------------
# Merging, reset, accessors
# ---------------------------------------------------------------------------------------------


def test_merge_and_iadd_equal_one_meter_over_all_data():
    rng = np.random.default_rng(4)
    pred, target = random_labels(rng, (4, 5, 5), 3, 0.1)
    whole = ConfusionMatrix(3)
    whole.update(pred, target)
    first, second, third = ConfusionMatrix(3), ConfusionMatrix(3), ConfusionMatrix(3)
    first.update(pred[:2], target[:2])
    second.update(pred[2:3], target[2:3])
    third.update(pred[3:], target[3:])
    first += second
    assert first.merge(torch.from_numpy(third.matrix.copy())) is first
    np.testing.assert_array_equal(first.matrix, whole.matrix)
    merged_array = ConfusionMatrix(3).merge(whole.matrix)
    np.testing.assert_array_equal(merged_array.matrix, whole.matrix)


def test_reset_and_read_only_matrix():
    meter = ConfusionMatrix(2, ignore_index=None)
    meter.update(np.array([0, 1, 1]), np.array([0, 0, 1]))
    assert meter.matrix.sum() == 3
    assert "pixels=3" in repr(meter)
    with pytest.raises(ValueError, match="read-only"):
        meter.matrix[0, 0] = 5
    meter.reset()
    assert meter.matrix.sum() == 0


def test_docstring_examples_run():
    assert doctest.testmod(confusion_module).failed == 0


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"pred shape \(2, 3\) does not match target shape"):
        ConfusionMatrix(3).update(np.zeros((2, 3), int), np.zeros((3, 2), int))


@pytest.mark.parametrize("num_classes", [0, -2])
def test_num_classes_below_one_raises(num_classes):
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        ConfusionMatrix(num_classes)


@pytest.mark.parametrize("num_classes", [2.0, True, "3"])
def test_num_classes_not_int_raises(num_classes):
    with pytest.raises(TypeError, match="num_classes must be an int"):
        ConfusionMatrix(num_classes)


def test_ignore_index_not_int_raises():
    with pytest.raises(TypeError, match="ignore_index must be an int or None"):
        ConfusionMatrix(3, ignore_index=255.0)


@pytest.mark.parametrize("which", ["pred", "target"])
def test_float_labels_raise(which):
    labels = {"pred": np.zeros((2, 2), int), "target": np.zeros((2, 2), int)}
    labels[which] = torch.zeros(2, 2)
    with pytest.raises(TypeError, match=f"{which} must hold integer class labels.*argmax"):
        confusion_matrix(labels["pred"], labels["target"], 2)


@pytest.mark.parametrize("ignore_index", [255, 1_000_000_000], ids=["table", "fallback"])
def test_target_out_of_range_raises(ignore_index):
    target = np.array([0, 1, 3, -4, ignore_index])
    message = (
        rf"target has labels \[-4, 3\] outside \[0, 3\) that are not ignore_index={ignore_index}"
    )
    with pytest.raises(ValueError, match=message):
        confusion_matrix(np.zeros(5, int), target, 3, ignore_index=ignore_index)


@pytest.mark.parametrize("ignore_index", [255, 1_000_000_000], ids=["table", "fallback"])
def test_pred_out_of_range_raises(ignore_index):
    target = np.array([0, 1, 2, 0, ignore_index])
    pred = np.array([0, 3, -1, 0, 50])  # 50 sits on an ignored pixel: not reported
    with pytest.raises(ValueError, match=r"pred has labels \[-1, 3\] outside \[0, 3\)"):
        confusion_matrix(pred, target, 3, ignore_index=ignore_index)


def test_target_out_of_range_with_ignore_none_raises():
    with pytest.raises(ValueError, match=r"target has labels \[255\]"):
        confusion_matrix(np.array([0, 1]), np.array([0, 255]), 2, ignore_index=None)


def test_many_bad_labels_are_shortened():
    with pytest.raises(ValueError, match=r"\[2, 3, 4, 5, 6, '\.\.\.'\]"):
        confusion_matrix(np.zeros(8, int), np.arange(8), 2)


def test_merge_with_other_settings_raises():
    with pytest.raises(ValueError, match="different settings.*ignore_index=255 vs"):
        ConfusionMatrix(3).merge(ConfusionMatrix(3, ignore_index=None))
    with pytest.raises(ValueError, match="num_classes=3, ignore_index=255 vs num_classes=4"):
        ConfusionMatrix(3).merge(ConfusionMatrix(4))


@pytest.mark.parametrize(
    "counts", [np.zeros((2, 2), np.int64), np.zeros((3, 3)), [[1, 2, 3]]], ids=str
)
def test_merge_with_a_bad_array_raises(counts):
    with pytest.raises(ValueError, match=r"can only merge a \(3, 3\) integer count array"):
        ConfusionMatrix(3).merge(counts)


def test_merge_with_negative_counts_raises():
    with pytest.raises(ValueError, match="non-negative"):
        ConfusionMatrix(2).merge(np.array([[1, -1], [0, 0]]))


def test_scores_from_a_non_square_matrix_raises():
    with pytest.raises(ValueError, match=r"matrix must be \(K, K\), got shape \(2, 3\)"):
        scores_from_confusion(np.zeros((2, 3), np.int64))


@pytest.mark.parametrize("block", [7, 16, 64], ids=lambda b: f"block{b}")
@pytest.mark.parametrize("per_image", [False, True])
def test_cache_blocks_do_not_change_counts(monkeypatch, block, per_image):
    # Tiny blocks make the NumPy path cut images into pieces (block < 30 pixels per image) and
    # group several images per block (block = 64), as it does with real sizes.
    rng = np.random.default_rng(8)
    pred, target = random_labels(rng, (5, 5, 6), 4, 0.2, np.uint8)
    target[1, 0, 0] = 3  # make sure a block can hold labels the others lack
    expected = count_pairs(pred, target, 4, 255, per_image=per_image)
    monkeypatch.setattr(confusion_module, "_BLOCK", block)
    np.testing.assert_array_equal(count_pairs(pred, target, 4, 255, per_image=per_image), expected)
    on_torch = count_pairs(
        torch.from_numpy(pred),
        torch.from_numpy(target),
        4,
        255,
        per_image=per_image,
        keep_torch=True,
    )
    np.testing.assert_array_equal(on_torch, expected)
    bad = pred.copy()
    bad[4, 4, 5], target[4, 4, 5] = 9, 0  # in the last block only
    with pytest.raises(ValueError, match=r"pred has labels \[9\]"):
        count_pairs(bad, target, 4, 255, per_image=per_image)
