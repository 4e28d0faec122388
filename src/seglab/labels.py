"""Label formats: index masks, one-hot stacks, multi-label masks, and decoding the two heads.

* **Index mask** ``(H, W)`` / ``(N, H, W)``: one class per pixel, ``ignore_index`` (255) = void.
  This is what the softmax head and cross-entropy use (exclusive classes).
* **One-hot** ``(K, H, W)`` / ``(N, K, H, W)``: "pixel by pixel, one channel per class", exactly
  one channel is 1 at a labelled pixel and all are 0 at a void pixel.
* **Multi-label** ``(K, H, W)`` bool: any number of labels can be true at a pixel (an Oxford
  pet pixel can be both "pet" and "head"). This is what the sigmoid head and BCE use.

Functions accept NumPy arrays or torch tensors and return the same kind, except
:func:`stack_labels` (NumPy, for data pipelines) and :func:`probabilities_to_labels` (torch,
for model outputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seglab._checks import IGNORE_INDEX

__all__ = [
    "one_hot",
    "from_one_hot",
    "stack_labels",
    "multilabel_to_index",
    "probabilities_to_labels",
]

HEAD_MODES = ("softmax", "sigmoid")

Array = np.ndarray | torch.Tensor


def _is_integer(array: Array) -> bool:
    if isinstance(array, torch.Tensor):
        return not (array.is_floating_point() or array.is_complex() or array.dtype == torch.bool)
    return np.issubdtype(array.dtype, np.integer)


def _check_array(value: object, name: str) -> Array:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{name} must be a NumPy array or a torch.Tensor, got {type(value).__name__}")


def one_hot(
    mask: Array,
    num_classes: int,
    *,
    ignore_index: int | None = IGNORE_INDEX,
    dtype: torch.dtype | np.dtype | type | None = None,
) -> Array:
    """Index mask to one-hot: one channel per class, all channels 0 at ignored pixels.

    Args:
        mask: integer class indices in ``[0, num_classes)`` or ``ignore_index``.
        num_classes: K, the number of channels.
        ignore_index: void value whose pixels get no channel; ``None`` for none.
        dtype: output dtype (a torch dtype for tensors, a NumPy dtype for arrays); default
            float32, ready for losses.

    Returns:
        ``(K, H, W)`` or ``(N, K, H, W)``, the same kind (NumPy or torch) as ``mask``.

    Raises:
        TypeError: if ``mask`` is not an integer array or tensor.
        ValueError: if ``num_classes < 1``, ``mask`` is not 2-D or 3-D, or a value is outside
            ``[0, num_classes)`` and not ``ignore_index``.

    Shape:
        - mask: :math:`(H, W)` or :math:`(N, H, W)`
        - output: :math:`(K, H, W)` or :math:`(N, K, H, W)`

    Example:
        >>> one_hot(np.array([[0, 2, 255]]), 3)[:, 0].astype(int).tolist()
        [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    """
    mask = _check_array(mask, "mask")
    if not _is_integer(mask):
        raise TypeError(f"mask must hold integer class indices, got dtype {mask.dtype}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must be (H, W) or (N, H, W), got shape {tuple(mask.shape)}")
    bad = (mask < 0) | (mask >= num_classes)
    if ignore_index is not None:
        bad = bad & (mask != ignore_index)
    if bad.any():
        values = np.unique(np.asarray(mask[bad].tolist()))[:5].tolist()
        raise ValueError(
            f"mask has values {values} outside [0, {num_classes}) that are not "
            f"ignore_index={ignore_index}"
        )
    channel_axis = mask.ndim - 2  # 0 for (H, W), 1 for (N, H, W)
    if isinstance(mask, torch.Tensor):
        classes = torch.arange(num_classes, device=mask.device).view(-1, 1, 1)
        encoded = mask.unsqueeze(channel_axis) == classes
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            # An in-range ignore_index would otherwise light its own channel.
            encoded &= (mask != ignore_index).unsqueeze(channel_axis)
        return encoded.to(torch.float32 if dtype is None else dtype)
    classes = np.arange(num_classes).reshape(-1, 1, 1)
    encoded = np.expand_dims(mask, channel_axis) == classes
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        encoded &= np.expand_dims(mask != ignore_index, channel_axis)
    return encoded.astype(np.float32 if dtype is None else dtype)


def from_one_hot(onehot: Array, *, ignore_index: int | None = IGNORE_INDEX) -> Array:
    """One-hot (or per-class scores) back to an index mask by argmax over the class axis.

    Pixels where every channel is 0 (void in :func:`one_hot`) become ``ignore_index``. Where
    several channels tie (a multi-label pixel), the lowest class index wins; use
    :func:`multilabel_to_index` to choose by priority instead.

    Args:
        onehot: ``(K, H, W)`` or ``(N, K, H, W)``, any numeric or bool dtype.
        ignore_index: value for all-zero pixels; ``None`` leaves them to the argmax (class 0).

    Returns:
        int64 ``(H, W)`` or ``(N, H, W)``, the same kind (NumPy or torch) as ``onehot``.

    Raises:
        ValueError: if ``onehot`` is not 3-D or 4-D.

    Shape:
        - onehot: :math:`(K, H, W)` or :math:`(N, K, H, W)`
        - output: :math:`(H, W)` or :math:`(N, H, W)`

    Example:
        >>> from_one_hot(one_hot(np.array([[0, 2, 255]]), 3)).tolist()
        [[0, 2, 255]]
    """
    onehot = _check_array(onehot, "onehot")
    if onehot.ndim not in (3, 4):
        raise ValueError(
            f"onehot must be (K, H, W) or (N, K, H, W), got shape {tuple(onehot.shape)}"
        )
    channel_axis = onehot.ndim - 3
    if isinstance(onehot, torch.Tensor):
        values = onehot.to(torch.uint8) if onehot.dtype == torch.bool else onehot
        index = values.argmax(dim=channel_axis)
        if ignore_index is not None:
            index = torch.where((onehot != 0).any(dim=channel_axis), index, ignore_index)
        return index.long()
    index = np.argmax(onehot, axis=channel_axis).astype(np.int64)
    if ignore_index is not None:
        index[~np.any(onehot != 0, axis=channel_axis)] = ignore_index
    return index


def stack_labels(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Stack K binary masks of the same size into a multi-label ``(K, H, W)`` bool array.

    The masks may overlap: that is the point of multi-label targets (e.g. ``[pet, head]``,
    where every head pixel is also a pet pixel).

    Args:
        masks: K ``(H, W)`` masks, bool or numbers in {0, 1}.

    Returns:
        ``(K, H, W)`` bool.

    Raises:
        ValueError: if ``masks`` is empty, a mask is not 2-D, sizes differ, or a mask has
            values other than 0 and 1 (for 0/255 masks pass ``mask > 0``).

    Example:
        >>> pet = np.array([[1, 1, 0]])
        >>> head = np.array([[0, 1, 0]])
        >>> stack_labels([pet, head]).astype(int).tolist()
        [[[1, 1, 0]], [[0, 1, 0]]]
    """
    masks = [np.asarray(mask) for mask in masks]
    if not masks:
        raise ValueError("stack_labels needs at least one mask")
    for index, mask in enumerate(masks):
        if mask.ndim != 2:
            raise ValueError(f"mask {index} must be (H, W), got shape {mask.shape}")
        if mask.shape != masks[0].shape:
            raise ValueError(f"mask {index} has shape {mask.shape}, mask 0 has {masks[0].shape}")
        if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
            values = np.unique(mask[~np.isin(mask, (0, 1))])[:5].tolist()
            raise ValueError(
                f"mask {index} is not binary: values {values}; pass mask > 0 for 0/255 masks"
            )
    return np.stack([mask.astype(bool) for mask in masks])


def multilabel_to_index(labels: Array, *, priority: Sequence[int] | None = None) -> Array:
    """Multi-label masks to one index mask: label ``k`` becomes class ``k + 1``, none is 0.

    Where several labels are true, the one with the highest priority wins. By default later
    labels win, which suits nested labels listed from outer to inner (``[pet, head]``: a head
    pixel becomes 2, the rest of the pet 1, the background 0).

    Args:
        labels: ``(K, H, W)`` or ``(N, K, H, W)``, bool or numbers in {0, 1}.
        priority: label indices from most to least important, a permutation of ``range(K)``;
            default ``(K - 1, ..., 1, 0)``.

    Returns:
        int64 ``(H, W)`` or ``(N, H, W)`` in ``[0, K]``, same kind (NumPy or torch) as input.

    Raises:
        ValueError: if ``labels`` is not 3-D or 4-D, is not binary, or ``priority`` is not a
            permutation of ``range(K)``.

    Shape:
        - labels: :math:`(K, H, W)` or :math:`(N, K, H, W)`
        - output: :math:`(H, W)` or :math:`(N, H, W)`

    Example:
        >>> labels = np.array([[[1, 1, 0]], [[0, 1, 0]]], dtype=bool)  # pet, head
        >>> multilabel_to_index(labels).tolist()
        [[1, 2, 0]]
        >>> multilabel_to_index(labels, priority=[0, 1]).tolist()  # pet above head
        [[1, 1, 0]]
    """
    labels = _check_array(labels, "labels")
    if labels.ndim not in (3, 4):
        raise ValueError(
            f"labels must be (K, H, W) or (N, K, H, W), got shape {tuple(labels.shape)}"
        )
    channel_axis = labels.ndim - 3
    num_labels = labels.shape[channel_axis]
    order = list(range(num_labels - 1, -1, -1)) if priority is None else [int(p) for p in priority]
    if sorted(order) != list(range(num_labels)):
        raise ValueError(
            f"priority must be a permutation of range({num_labels}) (most important first), "
            f"got {list(priority)}"
        )
    if isinstance(labels, torch.Tensor):
        if labels.dtype != torch.bool and not bool(((labels == 0) | (labels == 1)).all()):
            raise ValueError("labels must be binary (bool or values in {0, 1})")
        binary = labels != 0
        index = torch.zeros(
            binary.select(channel_axis, 0).shape, dtype=torch.long, device=labels.device
        )
        # Paint from least to most important, so the most important true label ends on top.
        for label in reversed(order):
            index[binary.select(channel_axis, label)] = label + 1
        return index
    if labels.dtype != np.bool_ and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be binary (bool or values in {0, 1})")
    binary = labels != 0
    index = np.zeros(np.take(binary, 0, axis=channel_axis).shape, dtype=np.int64)
    for label in reversed(order):
        index[np.take(binary, label, axis=channel_axis)] = label + 1
    return index


def probabilities_to_labels(
    logits: torch.Tensor, mode: str = "softmax", threshold: float = 0.5
) -> torch.Tensor:
    """Decode a head's raw output: argmax for softmax, per-label threshold for sigmoid.

    Args:
        logits: raw scores (before softmax/sigmoid), class/label axis at ``-3``.
        mode: ``"softmax"`` (exclusive classes) or ``"sigmoid"`` (multi-label).
        threshold: probability above which a label is true (sigmoid mode), in (0, 1).
            Applied as ``logits > log(t / (1 - t))``, which equals ``sigmoid(logits) > t``
            without computing the sigmoid.

    Returns:
        softmax: int64 class indices ``(N, H, W)``; sigmoid: bool ``(N, K, H, W)``.

    Raises:
        TypeError: if ``logits`` is not a torch tensor.
        ValueError: for a bad ``mode``, a ``threshold`` outside (0, 1), or fewer than 3 dims.

    Shape:
        - logits: :math:`(N, K, H, W)` or :math:`(K, H, W)`
        - output: :math:`(N, H, W)` / :math:`(H, W)` (softmax) or the input shape (sigmoid)

    Example:
        >>> logits = torch.tensor([[[[2.0, -1.0]], [[0.5, 3.0]]]])  # (1, 2, 1, 2)
        >>> probabilities_to_labels(logits).tolist()
        [[[0, 1]]]
        >>> probabilities_to_labels(logits, "sigmoid").tolist()
        [[[[True, False]], [[True, True]]]]
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if mode not in HEAD_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(HEAD_MODES)}")
    if logits.ndim < 3:
        raise ValueError(
            f"logits must be (N, K, H, W) or (K, H, W), got shape {tuple(logits.shape)}"
        )
    if mode == "softmax":
        return logits.argmax(dim=-3)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return logits > float(np.log(threshold / (1.0 - threshold)))
