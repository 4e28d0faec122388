"""Multi-label segmentation scores: one binary problem per class (sigmoid heads).

With related classes (e.g. "person" and "face"), several labels can be true at a pixel, so
there is no ``K x K`` confusion matrix. Each class ``k`` is scored as its own binary mask:
``TP_k``, ``FP_k`` and ``FN_k`` count the (pixel, class ``k``) entries over the whole batch or
dataset, then

- ``IoU_k = TP_k / (TP_k + FP_k + FN_k)``;
- ``Dice_k = 2 TP_k / (2 TP_k + FP_k + FN_k)``.

A class absent from both target and prediction (``TP + FP + FN = 0``) is NaN and the means skip
it; a class that is only predicted scores 0. This is the rule of
:class:`~seglab.metrics.confusion.ConfusionMatrix`.

Inputs are ``(N, K, *)`` with the classes on axis 1, as the logits of a sigmoid head: bool, or
integers in {0, 1}. Integer targets may also hold ``ignore_index`` (default 255) at entries
that must count nowhere; as in :func:`seglab.losses.binary_cross_entropy` this works per
(pixel, class) entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seglab._checks import IGNORE_INDEX
from seglab.metrics.confusion import (
    Labels,
    as_label_pair,
    check_ignore_index,
    check_num_classes,
    nanmean,
    safe_divide,
)

__all__ = ["multilabel_counts", "multilabel_iou", "multilabel_dice", "MultiLabelConfusion"]


def _check_binary(labels: Labels, name: str, ignore_index: int | None) -> None:
    """Integer labels must be 0 or 1 (or ``ignore_index`` for the target)."""
    if isinstance(labels, torch.Tensor):
        low, high = torch.stack([v.long() for v in torch.aminmax(labels)]).tolist()
    else:
        low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high <= 1:
        return
    bad = (labels != 0) & (labels != 1)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if bool(bad.any()):
        values = sorted({int(v) for v in labels[bad].tolist()})[:5]
        allowed = "0, 1" + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
        raise ValueError(f"multi-label {name} must be bool or hold {allowed}; got values {values}")


def multilabel_counts(
    pred: Labels, target: Labels, ignore_index: int | None = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class true positives, false positives and false negatives of binary masks.

    Args:
        pred: ``(N, K, H, W)`` predicted masks, bool or {0, 1}, torch or NumPy (e.g.
            ``logits > 0``).
        target: ``(N, K, H, W)`` true masks, bool or {0, 1}; integer targets may hold
            ``ignore_index`` at entries that count nowhere.
        ignore_index: target value to skip; ``None`` to allow only 0 and 1. Must not be 0 or 1.

    Returns:
        ``(tp, fp, fn)``, each a ``(K,)`` int64 array.

    Raises:
        ValueError: if shapes differ, the input has fewer than 2 axes, values are not binary,
            or ``ignore_index`` is 0 or 1.
        TypeError: if the masks are floating point (threshold them first).

    Shape:
        - pred: ``(N, K, *)``.
        - target: ``(N, K, *)``, the same shape.
        - output: three ``(K,)`` arrays.

    Example:
        >>> pred = np.array([[[1, 1, 0], [0, 0, 0]]], dtype=bool)
        >>> target = np.array([[[1, 0, 0], [0, 0, 1]]], dtype=bool)
        >>> multilabel_counts(pred, target)
        (array([1, 0]), array([1, 0]), array([0, 1]))
    """
    ignore_index = check_ignore_index(ignore_index)
    if ignore_index in (0, 1):
        raise ValueError(f"ignore_index must not be 0 or 1 for binary masks, got {ignore_index}")
    try:
        pred, target = as_label_pair(pred, target)
    except TypeError as error:
        raise TypeError(f"{error}; threshold multi-label scores first, e.g. logits > 0") from None
    if target.ndim < 2:
        raise ValueError(
            f"multi-label masks must be (N, K, H, W) with the classes on axis 1, got shape "
            f"{tuple(target.shape)}"
        )
    if np.prod(target.shape) > 0:
        _check_binary(pred, "pred", None)
        _check_binary(target, "target", ignore_index)
    return _binary_counts(pred, target)


def _binary_counts(pred: Labels, target: Labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP and FN per class of validated masks (axis 1 = class; ignored target != 0, 1)."""
    is_torch = isinstance(target, torch.Tensor)
    positive = target == 1
    # Ignored entries are neither positive nor negative: drop the prediction there.
    predicted = (pred == 1) & ((target == 0) | positive)
    hit = predicted & positive
    axes = (0, *range(2, target.ndim))
    if is_torch:
        sums = [
            x.sum(dim=axes, dtype=torch.int64).cpu().numpy() for x in (hit, predicted, positive)
        ]
    else:
        sums = [np.count_nonzero(x, axis=axes).astype(np.int64) for x in (hit, predicted, positive)]
    tp, pred_count, target_count = sums
    return tp, pred_count - tp, target_count - tp


def _scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, Any]:
    iou = safe_divide(tp, tp + fp + fn)
    dice = safe_divide(2 * tp, 2 * tp + fp + fn)
    return {
        "iou": iou,
        "dice": dice,
        "miou": float(nanmean(iou)),
        "mean_dice": float(nanmean(dice)),
        "precision": safe_divide(tp, tp + fp),
        "recall": safe_divide(tp, tp + fn),
    }


def multilabel_iou(
    pred: Labels, target: Labels, ignore_index: int | None = IGNORE_INDEX
) -> np.ndarray:
    """Per-class binary IoU of ``(N, K, H, W)`` masks (NaN where a class is absent from both).

    See :func:`multilabel_counts` for the arguments and errors.

    Example:
        >>> pred = np.array([[[1, 1, 0], [0, 0, 0]]], dtype=bool)
        >>> target = np.array([[[1, 0, 0], [0, 0, 0]]], dtype=bool)
        >>> multilabel_iou(pred, target)
        array([0.5, nan])
    """
    return _scores(*multilabel_counts(pred, target, ignore_index))["iou"]


def multilabel_dice(
    pred: Labels, target: Labels, ignore_index: int | None = IGNORE_INDEX
) -> np.ndarray:
    """Per-class binary Dice of ``(N, K, H, W)`` masks (NaN where a class is absent from both).

    See :func:`multilabel_counts` for the arguments and errors.

    Example:
        >>> pred = np.array([[[1, 1, 0], [0, 0, 0]]], dtype=bool)
        >>> target = np.array([[[1, 0, 0], [0, 0, 0]]], dtype=bool)
        >>> multilabel_dice(pred, target).round(4)
        array([0.6667,    nan])
    """
    return _scores(*multilabel_counts(pred, target, ignore_index))["dice"]


class MultiLabelConfusion:
    """Streaming per-class TP / FP / FN of multi-label masks, with dataset-wide scores.

    Args:
        num_classes: K, at least 1; the size of axis 1 of every update.
        ignore_index: integer target value to skip (default 255); must not be 0 or 1.

    Attributes:
        tp, fp, fn: ``(K,)`` int64 counts accumulated so far.

    Raises:
        ValueError: if ``num_classes < 1`` or ``ignore_index`` is 0 or 1.

    Shape:
        - pred: ``(N, K, *)`` bool or {0, 1}, torch or NumPy.
        - target: ``(N, K, *)``, the same shape.

    Example:
        >>> meter = MultiLabelConfusion(num_classes=2)
        >>> meter.update(np.array([[[1, 1], [0, 1]]]), np.array([[[1, 0], [0, 1]]]))
        >>> meter.compute()["iou"]
        array([0.5, 1. ])
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index)
        if self.ignore_index in (0, 1):
            raise ValueError(
                f"ignore_index must not be 0 or 1 for binary masks, got {self.ignore_index}"
            )
        self.reset()

    def reset(self) -> None:
        """Forget every counted entry."""
        self.tp = np.zeros(self.num_classes, dtype=np.int64)
        self.fp = np.zeros(self.num_classes, dtype=np.int64)
        self.fn = np.zeros(self.num_classes, dtype=np.int64)

    def update(self, pred: Labels, target: Labels) -> None:
        """Add one batch of ``(N, K, H, W)`` masks.

        Raises:
            ValueError: if axis 1 is not ``num_classes`` long, or as :func:`multilabel_counts`.
        """
        if len(pred.shape) < 2 or pred.shape[1] != self.num_classes:
            raise ValueError(
                f"expected (N, {self.num_classes}, H, W) masks (classes on axis 1), got shape "
                f"{tuple(pred.shape)}"
            )
        tp, fp, fn = multilabel_counts(pred, target, self.ignore_index)
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def merge(self, other: MultiLabelConfusion) -> MultiLabelConfusion:
        """Add another meter's counts (e.g. from another process). Returns ``self``.

        Raises:
            ValueError: if ``num_classes`` or ``ignore_index`` differ.
        """
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "cannot merge multi-label meters with different settings: "
                f"num_classes={self.num_classes}, ignore_index={self.ignore_index} vs "
                f"num_classes={other.num_classes}, ignore_index={other.ignore_index}"
            )
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    def __iadd__(self, other: MultiLabelConfusion) -> MultiLabelConfusion:
        return self.merge(other)

    def compute(self) -> dict[str, float | np.ndarray]:
        """Dataset-wide scores.

        Returns:
            Per-class ``(K,)`` float64 arrays ``iou``, ``dice``, ``precision`` and ``recall``
            (NaN where undefined), and ``miou`` and ``mean_dice`` as Python floats (NaN
            classes skipped).
        """
        return _scores(self.tp, self.fp, self.fn)

    def __repr__(self) -> str:
        return (
            f"MultiLabelConfusion(num_classes={self.num_classes}, ignore_index={self.ignore_index})"
        )
