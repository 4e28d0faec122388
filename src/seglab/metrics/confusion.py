"""Streaming confusion matrix for semantic segmentation: PA, MPA, IoU, mIoU, FWIoU and Dice.

The matrix is ``K x K`` int64 with **rows = target (ground truth), columns = prediction**:
``matrix[i, j]`` counts the pixels of true class ``i`` predicted as class ``j``. Every score is
read from it (``TP_k = matrix[k, k]``, ``FN_k`` = rest of row ``k``, ``FP_k`` = rest of column
``k``):

- pixel accuracy ``PA = sum_k TP_k / N`` (``N`` = counted pixels);
- per-class accuracy ``TP_k / (TP_k + FN_k)`` (the recall of class ``k``) and its mean ``MPA``;
- ``IoU_k = TP_k / (TP_k + FP_k + FN_k)`` and its mean ``mIoU``;
- frequency-weighted IoU ``FWIoU = sum_k freq_k * IoU_k`` with ``freq_k = (TP_k + FN_k) / N``,
  over the classes with ``freq_k > 0``;
- ``Dice_k = 2 TP_k / (2 TP_k + FP_k + FN_k)`` and its mean.

Absent classes (the rule, stated once):

- A class absent from **both** target and prediction has no pixels to score: its IoU, Dice and
  accuracy are ``NaN`` and every mean skips it (``nanmean``). A score of 1 would reward a
  model for a class it never saw, 0 would punish it for nothing; torchmetrics' ``-1`` pulls the
  mean down unless users filter it by hand.
- A class **predicted but absent from the target** has ``IoU = Dice = 0``: all its pixels are
  false positives, and hallucinated classes must cost something (as in mmsegmentation and the
  Cityscapes scripts). Its per-class accuracy is ``NaN``: accuracy is a recall, ``TP / (TP +
  FN)``, and with no target pixels it is ``0 / 0``; the wrong pixels already lower the accuracy
  of the classes they truly belong to. So MPA averages over the classes present in the target.
- With no counted pixel at all (nothing updated, or everything ignored) every score is NaN.

These are **dataset-wide** scores: pixels of all images are pooled in one matrix, so large
images and large objects weigh more. :mod:`seglab.metrics.semantic` gives the per-image
alternative (the mean of per-image scores); papers report either, so say which.

Speed: pairs are counted with ``bincount`` over ``target * K + pred``, with no Python loop over
pixels or classes. CUDA tensors are counted on their device in one pass (only the ``K x K``
table crosses to the host). CPU tensors are read through a zero-copy NumPy view, because the
same steps in torch took 18-130 ms on CPU where NumPy took a steady 11-15 ms (torch was 1.3x
faster only on a fully idle machine). The NumPy path runs in blocks of ``2**17`` pixels (many
small images, or a piece of a large one) so that the temporary codes stay in cache, which is
about 1.7x faster than whole-batch passes (see ``docs/bench/confusion.md``). Ignored pixels need no boolean mask: the pairs are
counted in a table wide enough for every label present (e.g. 256 rows when ``ignore_index=255``),
whose ignore row is then dropped and whose out-of-range rows and columns double as the range
check. Labels too spread out for such a table (e.g. ``ignore_index=10**9``) take a masked path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from seglab._checks import IGNORE_INDEX

__all__ = ["ConfusionMatrix", "confusion_matrix", "scores_from_confusion"]

Labels = np.ndarray | torch.Tensor

# Largest pair table (in cells) counted directly; past it (labels with huge values) the
# non-ignored pixels are selected with a boolean mask first.
_TABLE_LIMIT = 1 << 22
# Pixels per NumPy block: the intp codes (1 MiB) stay in the L2 cache between passes.
_BLOCK = 1 << 17


# --------------------------------------------------------------------------------------------
# Label pairs -> count table
# --------------------------------------------------------------------------------------------


def check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return int(num_classes)


def check_ignore_index(ignore_index: int | None) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int | np.integer):
        raise TypeError(f"ignore_index must be an int or None, got {type(ignore_index).__name__}")
    return int(ignore_index)


def _check_integer_dtype(labels: Labels, name: str) -> None:
    if isinstance(labels, torch.Tensor):
        is_integer = not (labels.is_floating_point() or labels.is_complex())
    else:
        is_integer = labels.dtype == bool or np.issubdtype(labels.dtype, np.integer)
    if not is_integer:
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {labels.dtype}; "
            "for logits or probabilities pass logits.argmax(1)"
        )


def as_label_pair(pred: Any, target: Any, *, keep_torch: bool = False) -> tuple[Labels, Labels]:
    """Return ``pred`` and ``target`` both as NumPy arrays or both as tensors on one device.

    CPU tensors become zero-copy NumPy views (NumPy's kernels are the faster ones on CPU);
    a tensor on another device pulls the other argument there. ``keep_torch`` keeps CPU
    tensors in torch, so that tests and benchmarks can run the device code path on a CPU.
    """
    on_device = [
        x
        for x in (pred, target)
        if isinstance(x, torch.Tensor) and (keep_torch or x.device.type != "cpu")
    ]
    if on_device:
        device = on_device[0].device
        pred, target = (torch.as_tensor(x, device=device).detach() for x in (pred, target))
    else:
        pred, target = (
            x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            for x in (pred, target)
        )
    for labels, name in ((pred, "pred"), (target, "target")):
        _check_integer_dtype(labels, name)
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"pred shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}; "
            "both must hold one class label per pixel"
        )
    return _bool_as_uint8(pred), _bool_as_uint8(target)


def _bool_as_uint8(labels: Labels) -> Labels:
    """Booleans count as labels 0 and 1; a same-size integer view avoids a copy."""
    if isinstance(labels, torch.Tensor):
        return labels.view(torch.uint8) if labels.dtype == torch.bool else labels
    return labels.view(np.uint8) if labels.dtype == np.bool_ else labels


def _extrema(target: Labels, pred: Labels) -> tuple[int, int, int, int]:
    """``(target.min(), target.max(), pred.min(), pred.max())`` with one host sync for torch."""
    if isinstance(target, torch.Tensor):
        values = [v.long() for x in (target, pred) for v in torch.aminmax(x)]
        return tuple(torch.stack(values).tolist())
    return int(target.min()), int(target.max()), int(pred.min()), int(pred.max())


def _raise_out_of_range(name: str, values: Any, num_classes: int, ignore_index: int | None):
    values = sorted({int(v) for v in values})
    shown = values[:5] + (["..."] if len(values) > 5 else [])
    where = f"that are not ignore_index={ignore_index}" if name == "target" else "at counted pixels"
    raise ValueError(
        f"{name} has labels {shown} outside [0, {num_classes}) {where}"
        + ("" if name == "target" else " (pixels whose target is ignore_index are not checked)")
    )


def _image_index(num_images: int, like: Labels) -> Labels:
    """``(N, 1)`` image numbers ``0 .. N-1``, in ``like``'s library and device."""
    if isinstance(like, torch.Tensor):
        return torch.arange(num_images, device=like.device).view(-1, 1)
    return np.arange(num_images, dtype=np.intp).reshape(-1, 1)


def _bincount(codes: Labels, length: int) -> np.ndarray:
    if isinstance(codes, torch.Tensor):
        return torch.bincount(codes.reshape(-1), minlength=length).cpu().numpy()
    return np.bincount(codes.reshape(-1), minlength=length)


def _pair_codes(
    target: Labels, pred: Labels, width: int, offset: Any, size: int, buffer: np.ndarray | None
) -> Labels:
    """``target * width + pred + offset`` (all codes in ``[0, size)``) with few passes."""
    if isinstance(target, torch.Tensor):
        small = target.element_size() <= 4 and pred.element_size() <= 4
        # int32 halves the memory traffic on the device when every code fits.
        dtype = torch.int32 if small and size < 2**31 else torch.int64
        codes = target.to(dtype) * width
        codes += pred
        if isinstance(offset, torch.Tensor):
            offset = offset.to(dtype)
    else:
        # np.bincount wants intp: writing intp codes into a reused buffer avoids both a cast
        # copy and the page faults of a fresh array.
        codes = buffer[: target.size].reshape(target.shape)
        np.multiply(target, width, out=codes, dtype=np.intp, casting="unsafe")
        np.add(codes, pred, out=codes, casting="unsafe")
    if not isinstance(offset, int) or offset != 0:
        codes += offset
    return codes


def _blocks(num_images: int, pixels: int) -> Iterator[tuple[slice, slice]]:
    """Cut ``(N, M)`` labels into blocks of about ``_BLOCK`` pixels: whole groups of small
    images, or pieces of one large image."""
    if pixels >= _BLOCK:
        for image in range(num_images):
            for start in range(0, pixels, _BLOCK):
                yield slice(image, image + 1), slice(start, start + _BLOCK)
    else:
        group = _BLOCK // pixels
        for start in range(0, num_images, group):
            yield slice(start, start + group), slice(None)


def count_pairs(
    pred: Any,
    target: Any,
    num_classes: int,
    ignore_index: int | None,
    *,
    per_image: bool,
    keep_torch: bool = False,
) -> np.ndarray:
    """Count (target, pred) label pairs: ``(K, K)``, or ``(N, K, K)`` with ``per_image``."""
    pred, target = as_label_pair(pred, target, keep_torch=keep_torch)
    if per_image and target.ndim < 3:
        # A lone (H, W) mask would otherwise be read as H one-row images.
        raise ValueError(
            f"per-image metrics need a batch axis: expected (N, H, W), got shape "
            f"{tuple(target.shape)}; add one with mask[None]"
        )
    num_images = int(target.shape[0]) if per_image else 1
    target, pred = target.reshape(num_images, -1), pred.reshape(num_images, -1)
    k = num_classes
    if target.shape[1] == 0:
        table = np.zeros((num_images, k, k), dtype=np.int64)
    elif isinstance(target, torch.Tensor):
        # On a device, one pass over the whole batch: few kernel launches, one host sync.
        table = np.ascontiguousarray(_count_block(pred, target, k, ignore_index, None), np.int64)
    else:
        # On the CPU, blocks that fit in cache run about twice as fast as whole-batch passes,
        # which stream every temporary through main memory.
        table = np.zeros((num_images, k, k), dtype=np.int64)
        buffer = np.empty(min(_BLOCK, target.size) + target.shape[1], dtype=np.intp)
        for images, pixels in _blocks(num_images, target.shape[1]):
            table[images] += _count_block(
                pred[images, pixels], target[images, pixels], k, ignore_index, buffer
            )
    return table if per_image else table[0]


def _count_block(
    pred: Labels,
    target: Labels,
    num_classes: int,
    ignore_index: int | None,
    buffer: np.ndarray | None,
) -> np.ndarray:
    """``(N, K, K)`` counts of ``(N, M)`` labels, checked against ``[0, K)``."""
    k = num_classes
    num_images = target.shape[0]
    t_min, t_max, p_min, p_max = _extrema(target, pred)
    # The table spans every label present and always covers [0, K), so its [0, K) block is the
    # confusion matrix and its other rows and columns are the range check.
    row0, col0 = min(t_min, 0), min(p_min, 0)
    rows = max(t_max, k - 1) - row0 + 1
    cols = max(p_max, k - 1) - col0 + 1
    size = num_images * rows * cols
    if size > _TABLE_LIMIT:
        return _count_valid_pairs(pred, target, k, ignore_index)
    base = -(row0 * cols + col0)
    offset = _image_index(num_images, target) * (rows * cols) + base if num_images > 1 else base
    codes = _pair_codes(target, pred, cols, offset, size, buffer)
    counts = _bincount(codes, size).reshape(num_images, rows, cols)
    return _check_table(counts, row0, col0, k, ignore_index)


def _check_table(
    counts: np.ndarray, row0: int, col0: int, num_classes: int, ignore_index: int | None
) -> np.ndarray:
    """Drop the ignore row, reject out-of-range labels, return the ``(N, K, K)`` block."""
    k = num_classes
    if row0 == col0 == 0:
        # Common case (no negative label): the matrix is the leading corner, and a few cheap
        # checks on the rest of the table suffice unless a label is out of range.
        if ignore_index is not None and 0 <= ignore_index < counts.shape[1]:
            counts[:, ignore_index] = 0
        if not (counts[:, k:].any() or counts[:, :, k:].any()):
            return counts[:, :k, :k]
    row_labels = np.arange(row0, row0 + counts.shape[1])
    col_labels = np.arange(col0, col0 + counts.shape[2])
    if ignore_index is not None:
        counts = counts[:, row_labels != ignore_index]
        row_labels = row_labels[row_labels != ignore_index]
    used_rows = counts.any(axis=(0, 2))
    bad_rows = used_rows & ((row_labels < 0) | (row_labels >= k))
    if bad_rows.any():
        _raise_out_of_range("target", row_labels[bad_rows], k, ignore_index)
    bad_cols = counts.any(axis=(0, 1)) & ((col_labels < 0) | (col_labels >= k))
    if bad_cols.any():
        _raise_out_of_range("pred", col_labels[bad_cols], k, ignore_index)
    table = np.zeros((counts.shape[0], k, k), dtype=np.int64)
    keep_rows = (row_labels >= 0) & (row_labels < k)
    table[:, row_labels[keep_rows]] = counts[:, keep_rows, -col0 : -col0 + k]
    return table


def _count_valid_pairs(
    pred: Labels, target: Labels, num_classes: int, ignore_index: int | None
) -> np.ndarray:
    """Slow path for labels too spread out for a table: mask, check, then count."""
    k = num_classes
    num_images = target.shape[0]
    is_torch = isinstance(target, torch.Tensor)
    image = _image_index(num_images, target)
    image = image.expand_as(target) if is_torch else np.broadcast_to(image, target.shape)
    if ignore_index is not None:
        valid = target != ignore_index
        target, pred, image = target[valid], pred[valid], image[valid]
    for name, labels in (("target", target), ("pred", pred)):
        bad = (labels < 0) | (labels >= k)
        if bool(bad.any()):
            values = labels[bad]
            _raise_out_of_range(name, values.tolist() if is_torch else values, k, ignore_index)
    if is_torch:
        codes = image.long() * (k * k) + target.long() * k + pred.long()
    else:
        codes = image.astype(np.intp) * (k * k) + target.astype(np.intp) * k + pred
    return _bincount(codes, num_images * k * k).reshape(num_images, k, k).astype(np.int64)


def confusion_matrix(
    pred: Labels, target: Labels, num_classes: int, ignore_index: int | None = IGNORE_INDEX
) -> np.ndarray:
    """Count ``(target, pred)`` label pairs into a ``K x K`` confusion matrix.

    Args:
        pred: predicted class labels, any shape, torch or NumPy, integer or bool.
        target: true class labels, same shape as ``pred``.
        num_classes: K.
        ignore_index: target value whose pixels count nowhere (their predictions are not
            range-checked either); ``None`` counts every pixel.

    Returns:
        ``(K, K)`` int64 array, rows = target, columns = prediction.

    Raises:
        ValueError: if shapes differ, ``num_classes < 1``, a target label is outside
            ``[0, K)`` and not ``ignore_index``, or a counted prediction is outside ``[0, K)``.
        TypeError: if labels are not integer (e.g. logits), or an argument has the wrong type.

    Shape:
        - pred: ``(*)``, e.g. ``(N, H, W)`` or ``(H, W)``.
        - target: ``(*)``, the same shape.
        - output: ``(K, K)``.

    Example:
        >>> confusion_matrix(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 255]), num_classes=2)
        array([[1, 1],
               [0, 1]])
    """
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    return count_pairs(pred, target, num_classes, ignore_index, per_image=False)


# --------------------------------------------------------------------------------------------
# Count table -> scores
# --------------------------------------------------------------------------------------------


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as float64, NaN where the denominator is 0 (no warning)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over non-NaN entries; NaN (without numpy's warning) where all are NaN."""
    present = ~np.isnan(values)
    return safe_divide(np.where(present, values, 0.0).sum(axis=axis), present.sum(axis=axis))


def class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """All scores of ``(..., K, K)`` matrices, vectorised over the leading axes."""
    matrix = np.asarray(matrix, dtype=np.int64)
    true_positive = np.diagonal(matrix, axis1=-2, axis2=-1)
    target_count = matrix.sum(axis=-1)  # rows are the target
    pred_count = matrix.sum(axis=-2)
    total = target_count.sum(axis=-1)
    iou = safe_divide(true_positive, target_count + pred_count - true_positive)
    frequency = safe_divide(target_count, total[..., None])
    return {
        "pixel_accuracy": safe_divide(true_positive.sum(axis=-1), total),
        "accuracy": safe_divide(true_positive, target_count),
        "iou": iou,
        "dice": safe_divide(2 * true_positive, target_count + pred_count),
        # Classes with freq 0 are left out, so that the NaN IoU of absent classes drops out.
        "fwiou": np.where(
            total > 0, np.where(target_count > 0, frequency * iou, 0.0).sum(-1), np.nan
        ),
    }


def scores_from_confusion(matrix: np.ndarray) -> dict[str, float | np.ndarray]:
    """Scores of a confusion matrix (rows = target, columns = prediction).

    The absent-class rule is in the module docstring: NaN for a class absent from both target
    and prediction (means skip it); IoU = Dice = 0 and accuracy NaN for a class only predicted.

    Args:
        matrix: ``(K, K)`` non-negative counts.

    Returns:
        ``pixel_accuracy``, ``mean_pixel_accuracy``, ``miou``, ``fwiou``, ``mean_dice`` as
        Python floats, and per-class ``(K,)`` float64 arrays ``iou``, ``dice`` and ``accuracy``.

    Raises:
        ValueError: if ``matrix`` is not square 2-D.

    Example:
        >>> scores = scores_from_confusion(np.array([[3, 1], [0, 0]]))
        >>> scores["iou"], scores["miou"]
        (array([0.75, 0.  ]), 0.375)
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be (K, K), got shape {matrix.shape}")
    scores = class_scores(matrix)
    return {
        "pixel_accuracy": float(scores["pixel_accuracy"]),
        "mean_pixel_accuracy": float(nanmean(scores["accuracy"])),
        "iou": scores["iou"],
        "miou": float(nanmean(scores["iou"])),
        "fwiou": float(scores["fwiou"]),
        "dice": scores["dice"],
        "mean_dice": float(nanmean(scores["dice"])),
        "accuracy": scores["accuracy"],
    }


# --------------------------------------------------------------------------------------------
# Streaming meter
# --------------------------------------------------------------------------------------------


class ConfusionMatrix:
    """Streaming ``K x K`` confusion matrix: feed batches with :meth:`update`, then
    :meth:`compute` the dataset-wide scores.

    Rows are the target, columns the prediction. Pixels whose target is ``ignore_index`` count
    nowhere, and their predictions are not range-checked. Classes absent from both target and
    prediction score NaN and are skipped by the means; a class that is only predicted has
    IoU = Dice = 0 and per-class accuracy NaN (full rule in :mod:`seglab.metrics.confusion`).

    Args:
        num_classes: K, at least 1.
        ignore_index: target value to skip (default 255); ``None`` counts every pixel.

    Raises:
        ValueError: if ``num_classes < 1``.
        TypeError: if ``num_classes`` or ``ignore_index`` is not an int.

    Shape:
        - pred: ``(*)`` integer labels, torch or NumPy (``(N, H, W)``, ``(H, W)``, ...).
        - target: ``(*)``, the same shape as ``pred``.
        - matrix: ``(K, K)`` int64.

    Example:
        >>> meter = ConfusionMatrix(num_classes=2)
        >>> meter.update(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 255]]))
        >>> meter.matrix
        array([[1, 1],
               [0, 1]])
        >>> meter.compute()["miou"]
        0.5
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index)
        self._matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    @property
    def matrix(self) -> np.ndarray:
        """The accumulated ``(K, K)`` int64 counts (a read-only view; copy it to modify)."""
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    def update(self, pred: Labels, target: Labels) -> None:
        """Add one batch (or one image) of predicted and true labels.

        Raises:
            ValueError: if shapes differ or labels are out of range (see
                :func:`confusion_matrix`).
            TypeError: if labels are not integer.
        """
        self._matrix += count_pairs(
            pred, target, self.num_classes, self.ignore_index, per_image=False
        )

    def reset(self) -> None:
        """Forget every counted pixel."""
        self._matrix[...] = 0

    def merge(self, other: ConfusionMatrix | np.ndarray | torch.Tensor) -> ConfusionMatrix:
        """Add another meter's counts (or a ``(K, K)`` count array) into this one.

        Useful after a distributed run: all-reduce the matrices (``torch.from_numpy(m.matrix)``
        with ``dist.all_reduce``), or gather the meters and merge them.

        Returns:
            ``self``, so that ``meter += other`` works.

        Raises:
            ValueError: if ``num_classes`` or ``ignore_index`` differ, or the array is not a
                ``(K, K)`` table of non-negative integer counts.
        """
        if isinstance(other, ConfusionMatrix):
            if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
                raise ValueError(
                    "cannot merge confusion matrices with different settings: "
                    f"num_classes={self.num_classes}, ignore_index={self.ignore_index} vs "
                    f"num_classes={other.num_classes}, ignore_index={other.ignore_index}"
                )
            counts = other._matrix
        else:
            counts = (
                other.detach().cpu().numpy()
                if isinstance(other, torch.Tensor)
                else np.asarray(other)
            )
            k = self.num_classes
            if counts.shape != (k, k) or not np.issubdtype(counts.dtype, np.integer):
                raise ValueError(
                    f"can only merge a ({k}, {k}) integer count array, got shape "
                    f"{counts.shape} and dtype {counts.dtype}"
                )
            if (counts < 0).any():
                raise ValueError("can only merge non-negative counts")
        self._matrix += counts
        return self

    def __iadd__(self, other: ConfusionMatrix | np.ndarray | torch.Tensor) -> ConfusionMatrix:
        return self.merge(other)

    def compute(self) -> dict[str, float | np.ndarray]:
        """Dataset-wide scores of everything counted so far.

        Returns:
            ``pixel_accuracy``, ``mean_pixel_accuracy``, ``miou``, ``fwiou`` and ``mean_dice``
            as Python floats; per-class ``(K,)`` float64 arrays ``iou``, ``dice`` and
            ``accuracy``. NaN where undefined (see the class docstring).
        """
        return scores_from_confusion(self._matrix)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={int(self._matrix.sum())})"
        )
