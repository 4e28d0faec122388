"""Per-image semantic segmentation scores: the mean over images of per-image scores.

Two averages are in common use, and they can differ by several points, so say which one a
number is:

- **Dataset-wide** (:class:`~seglab.metrics.confusion.ConfusionMatrix`): the pixels of all
  images are pooled in one confusion matrix, then IoU is computed once per class. Large images
  and large objects weigh more. This is the PASCAL VOC / Cityscapes / ADE20K protocol.
- **Per-image** (this module): each image gets its own IoU per class and its own mIoU (mean
  over the classes present in that image's target or prediction); the reported mIoU is the
  mean of those over images, every image weighing the same. Small objects and images with few
  pixels count as much as large ones, and one bad image cannot hide in a big dataset.

The absent-class rule is the one of the dataset-wide matrix, applied image by image: a class
absent from both the target and the prediction of an image is NaN for that image and skipped by
its mean; a class predicted in an image but absent from its target scores IoU = Dice = 0. An
image whose pixels are all ignored has NaN scores and is skipped by the means over images.

Counting is vectorised over the batch: each image gets its own range of ``bincount`` bins, so
many small images share one ``bincount`` call. On a device the whole batch is one call; on the
CPU the only Python loop runs over cache-sized blocks of about ``2**17`` pixels (see
:mod:`seglab.metrics.confusion`), never over classes or image by image for small images.
"""

from __future__ import annotations

import numpy as np

from seglab._checks import IGNORE_INDEX
from seglab.metrics.confusion import (
    Labels,
    check_ignore_index,
    check_num_classes,
    class_scores,
    count_pairs,
    nanmean,
)

__all__ = ["per_image_confusion", "per_image_metrics", "PerImageMetrics"]


def per_image_confusion(
    pred: Labels, target: Labels, num_classes: int, ignore_index: int | None = IGNORE_INDEX
) -> np.ndarray:
    """One confusion matrix per image (rows = target, columns = prediction).

    Args:
        pred: ``(N, H, W)`` predicted labels (more trailing axes are fine), torch or NumPy.
        target: ``(N, H, W)`` true labels, same shape as ``pred``.
        num_classes: K.
        ignore_index: target value whose pixels count nowhere; ``None`` counts every pixel.

    Returns:
        ``(N, K, K)`` int64 array.

    Raises:
        ValueError: if shapes differ, there is no batch axis, ``num_classes < 1``, or labels
            are out of range (see :func:`~seglab.metrics.confusion.confusion_matrix`).
        TypeError: if labels are not integer.

    Shape:
        - pred: ``(N, H, W, *)``.
        - target: ``(N, H, W, *)``, the same shape.
        - output: ``(N, K, K)``.

    Example:
        >>> per_image_confusion(np.array([[[0, 1]], [[1, 1]]]), np.array([[[0, 0]], [[1, 1]]]), 2)
        array([[[1, 1],
                [0, 0]],
        <BLANKLINE>
               [[0, 0],
                [0, 2]]])
    """
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    return count_pairs(pred, target, num_classes, ignore_index, per_image=True)


def _image_scores(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image arrays from ``(N, K, K)`` matrices."""
    scores = class_scores(matrices)
    return {
        "iou": scores["iou"],
        "dice": scores["dice"],
        "image_pixel_accuracy": scores["pixel_accuracy"],
        "image_miou": nanmean(scores["iou"]),
        "image_mean_dice": nanmean(scores["dice"]),
    }


def _with_means(per_image: dict[str, np.ndarray]) -> dict[str, float | np.ndarray]:
    """Add the means over images (images with NaN scores are skipped)."""
    return {
        **per_image,
        "pixel_accuracy": float(nanmean(per_image["image_pixel_accuracy"], axis=0)),
        "miou": float(nanmean(per_image["image_miou"], axis=0)),
        "mean_dice": float(nanmean(per_image["image_mean_dice"], axis=0)),
    }


def per_image_metrics(
    pred: Labels, target: Labels, num_classes: int, ignore_index: int | None = IGNORE_INDEX
) -> dict[str, float | np.ndarray]:
    """Scores of every image, and their means over images (every image weighs the same).

    Args:
        pred: ``(N, H, W)`` predicted labels, torch or NumPy.
        target: ``(N, H, W)`` true labels.
        num_classes: K.
        ignore_index: target value whose pixels count nowhere; ``None`` counts every pixel.

    Returns:
        Per-image arrays: ``iou`` and ``dice`` ``(N, K)`` (NaN for a class absent from both the
        target and the prediction of that image), ``image_pixel_accuracy``, ``image_miou`` and
        ``image_mean_dice`` ``(N,)``. Means over images as Python floats: ``pixel_accuracy``,
        ``miou`` (the per-image mIoU) and ``mean_dice``; images with no counted pixel are
        skipped, and a mean over no image is NaN.

    Raises:
        ValueError: if shapes differ, there is no batch axis, ``num_classes < 1``, or labels
            are out of range.
        TypeError: if labels are not integer.

    Shape:
        - pred: ``(N, H, W, *)``.
        - target: ``(N, H, W, *)``, the same shape.

    Example:
        >>> pred = np.array([[[0, 1]], [[1, 1]]])
        >>> target = np.array([[[0, 0]], [[1, 1]]])
        >>> scores = per_image_metrics(pred, target, num_classes=2)
        >>> scores["image_miou"], scores["miou"]
        (array([0.25, 1.  ]), 0.625)
    """
    return _with_means(_image_scores(per_image_confusion(pred, target, num_classes, ignore_index)))


class PerImageMetrics:
    """Streaming per-image scores: :meth:`update` with batches, :meth:`compute` at the end.

    Keeps two ``(K,)`` rows and three numbers per image (not the ``K x K`` matrices), so memory
    stays small on large datasets.

    Args:
        num_classes: K, at least 1.
        ignore_index: target value to skip (default 255); ``None`` counts every pixel.

    Raises:
        ValueError: if ``num_classes < 1``.

    Shape:
        - pred: ``(N, H, W, *)`` integer labels, torch or NumPy.
        - target: ``(N, H, W, *)``, the same shape.

    Example:
        >>> meter = PerImageMetrics(num_classes=2)
        >>> meter.update(np.array([[[0, 1]]]), np.array([[[0, 0]]]))
        >>> meter.update(np.array([[[1, 1]]]), np.array([[[1, 1]]]))
        >>> meter.compute()["miou"]
        0.625
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index)
        self._batches: list[dict[str, np.ndarray]] = []

    def update(self, pred: Labels, target: Labels) -> None:
        """Score one batch of images and keep their per-image scores."""
        matrices = count_pairs(pred, target, self.num_classes, self.ignore_index, per_image=True)
        self._batches.append(_image_scores(matrices))

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._batches.clear()

    def compute(self) -> dict[str, float | np.ndarray]:
        """The same dictionary as :func:`per_image_metrics` over every image seen so far."""
        k = self.num_classes
        if not self._batches:
            empty = _image_scores(np.zeros((0, k, k), dtype=np.int64))
            return _with_means(empty)
        joined = {key: np.concatenate([b[key] for b in self._batches]) for key in self._batches[0]}
        return _with_means(joined)

    def __len__(self) -> int:
        """Number of images seen so far."""
        return sum(len(batch["image_miou"]) for batch in self._batches)

    def __repr__(self) -> str:
        return (
            f"PerImageMetrics(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"images={len(self)})"
        )
