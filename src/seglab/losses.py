"""Segmentation losses for the two heads: softmax (exclusive classes) and sigmoid (multi-label).

Each loss comes as a function and a :class:`torch.nn.Module` (kornia style):

* :func:`cross_entropy` / :class:`CrossEntropyLoss`: softmax head, ``(N, H, W)`` class
  indices (exclusive classes).
* :func:`binary_cross_entropy` / :class:`BinaryCrossEntropyLoss`: sigmoid head,
  ``(N, K, H, W)`` targets in {0, 1} (several labels can be true at a pixel).
* :func:`dice_loss` / :class:`DiceLoss`: soft Dice for either head (``mode``).
* :func:`ce_dice_loss` / :class:`CEDiceLoss`: CE + Dice (softmax) or BCE + Dice (sigmoid).

Conventions shared by all of them:

* Pixels whose target equals ``ignore_index`` (default 255) count nowhere: not in the loss, not
  in the normaliser. For the multi-label losses this works per (pixel, label) entry.
* A batch in which every pixel is ignored has loss 0 (with zero, finite gradients), never NaN,
  so a fully void crop cannot poison a training run.
* Target values outside ``[0, K)`` that are not ``ignore_index`` raise ``ValueError`` rather
  than a device-side assert or a silently wrong loss.

:func:`get_loss` builds a Module from a CLI name (``ce``, ``bce``, ``dice``, ``ce+dice``,
``bce+dice``, and the IoU surrogates ``lovasz`` and ``ce+lovasz`` of :mod:`seglab.lovasz`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "cross_entropy",
    "binary_cross_entropy",
    "dice_loss",
    "ce_dice_loss",
    "CrossEntropyLoss",
    "BinaryCrossEntropyLoss",
    "DiceLoss",
    "CEDiceLoss",
    "get_loss",
    "LOSS_NAMES",
]

REDUCTIONS = ("mean", "sum", "none")
DICE_MODES = ("softmax", "sigmoid")
LOSS_NAMES = ("ce", "bce", "dice", "ce+dice", "bce+dice", "lovasz", "ce+lovasz")


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _check_choice(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim < 2:
        raise ValueError(f"logits must be (N, K, H, W), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")


def _void_mask(
    target: torch.Tensor, low: float, high: float, ignore_index: int | None, what: str
) -> torch.Tensor | None:
    """Check that ``target`` is in ``[low, high]`` or ``ignore_index``; return where it is valid.

    Returns None when no entry is void, so callers can take torch's plain (fused) path: one
    ``aminmax`` pass and one host sync decide that in the common case.
    """
    if target.numel() == 0:
        return torch.ones_like(target, dtype=torch.bool)
    lowest, highest = torch.stack(torch.aminmax(target)).tolist()
    if lowest >= low and highest <= high:
        return None
    valid = None if ignore_index is None else target != ignore_index
    bad = (target < low) | (target > high)
    if target.is_floating_point():
        bad |= target.isnan()
    if valid is not None:
        bad &= valid
    if bool(bad.any()):
        values = torch.unique(target[bad])[:5].tolist()
        raise ValueError(
            f"{what} has values {values} outside {_range_text(low, high, target)} that are not "
            f"ignore_index={ignore_index}"
        )
    return valid


def _range_text(low: float, high: float, target: torch.Tensor) -> str:
    """``[0, 1]`` for float targets, ``[0, K)`` for class indices."""
    if target.is_floating_point():
        return f"[{low:g}, {high:g}]"
    return f"[{int(low)}, {int(high) + 1})"


def _check_index_target(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> torch.Tensor | None:
    """Target of the softmax head: (N, H, W) integer class indices. Returns the valid mask."""
    _check_logits(logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.is_floating_point() or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}; "
            f"expected {expected} (logits are (N, K, H, W), target (N, H, W))"
        )
    return _void_mask(target, 0, logits.shape[1] - 1, ignore_index, "target")


def _check_multilabel_target(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> torch.Tensor | None:
    """Target of the sigmoid head: (N, K, H, W) in [0, 1] or ignore_index. Returns the valid
    mask."""
    _check_logits(logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}; "
            "multi-label targets are (N, K, H, W), one {0, 1} channel per label"
        )
    if target.dtype == torch.bool:
        return None
    return _void_mask(target, 0, 1, ignore_index, "multi-label target")


def _per_class(
    values: torch.Tensor | Sequence[float] | None,
    num_classes: int,
    name: str,
    reference: torch.Tensor,
) -> torch.Tensor | None:
    """A (K,) tensor on ``reference``'s device and dtype, or None."""
    if values is None:
        return None
    values = torch.as_tensor(values, dtype=reference.dtype, device=reference.device).reshape(-1)
    if values.numel() != num_classes:
        raise ValueError(
            f"{name} must have one value per class ({num_classes}), got {values.numel()}"
        )
    return values


def _channel_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape (K,) to (1, K, 1, ..., 1) so that it broadcasts over (N, K, *spatial)."""
    return values.view(1, -1, *([1] * (ndim - 2)))


def _reduce(loss: torch.Tensor, reduction: str, denominator: torch.Tensor) -> torch.Tensor:
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    # clamp: an all-ignored batch has total 0 and denominator 0; 0 / tiny = 0, not NaN.
    return total / denominator.clamp_min(torch.finfo(total.dtype).tiny)


# --------------------------------------------------------------------------------------------
# Cross-entropy (softmax head)
# --------------------------------------------------------------------------------------------


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = 255,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax cross-entropy for exclusive classes, with ``ignore_index``.

    Same values as :func:`torch.nn.functional.cross_entropy` (``"mean"`` divides by the summed
    weights of the non-ignored pixels), except that an all-ignored batch gives 0 instead of NaN
    and out-of-range targets raise ``ValueError``.

    Args:
        logits: raw scores, one channel per class.
        target: class indices in ``[0, K)``, or ``ignore_index``.
        weight: optional per-class weights, ``(K,)``.
        ignore_index: target value that counts nowhere; ``None`` for none.
        label_smoothing: in [0, 1); mixes the one-hot target with the uniform distribution.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pixel losses, 0 where ignored).

    Returns:
        Scalar loss, or ``(N, H, W)`` with ``reduction="none"``.

    Raises:
        ValueError: for a bad ``reduction``, ``label_smoothing`` or ``weight`` length, mismatched
            shapes, or target values out of range.
        TypeError: for non-tensor inputs, integer logits or a non-integer target.

    Shape:
        - logits: :math:`(N, K, H, W)` (any number of spatial dims works)
        - target: :math:`(N, H, W)`, integer
        - output: scalar, or :math:`(N, H, W)` for ``reduction="none"``

    Example:
        >>> logits = torch.tensor([[[[2.0]], [[0.0]]]])  # (1, 2, 1, 1)
        >>> round(cross_entropy(logits, torch.tensor([[[0]]])).item(), 4)
        0.1269
    """
    _check_choice(reduction, REDUCTIONS, "reduction")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    valid = _check_index_target(logits, target, ignore_index)
    class_weight = _per_class(weight, logits.shape[1], "weight", logits)
    # torch needs an int ignore_index; a value outside [0, K) that never occurs acts as "none".
    torch_ignore = -100 if ignore_index is None else ignore_index
    # torch's own kernel is exact unless every pixel is void (it then divides 0 by 0); one
    # count settles that. With class weights the explicit sum below also survives a zero
    # weight sum.
    if valid is None or reduction != "mean" or (class_weight is None and bool(valid.any())):
        return F.cross_entropy(
            logits,
            target.long(),
            weight=class_weight,
            ignore_index=torch_ignore,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
    loss = F.cross_entropy(
        logits,
        target.long(),
        weight=class_weight,
        ignore_index=torch_ignore,
        label_smoothing=label_smoothing,
        reduction="none",
    )
    if class_weight is None:
        return loss.sum()  # every pixel is void: 0, with zero gradients
    safe_target = torch.where(valid, target.long(), 0)
    denominator = (class_weight[safe_target] * valid).sum()
    return _reduce(loss, "mean", denominator)


class CrossEntropyLoss(nn.Module):
    """Module form of :func:`cross_entropy`; ``weight`` is a buffer, so it follows ``.to()``.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)`, integer
        - output: scalar, or :math:`(N, H, W)` for ``reduction="none"``

    Example:
        >>> criterion = CrossEntropyLoss(ignore_index=255)
        >>> criterion(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long)).shape
        torch.Size([])
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = 255,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _check_choice(reduction, REDUCTIONS, "reduction")
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            logits,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )


# --------------------------------------------------------------------------------------------
# Binary cross-entropy (sigmoid head, multi-label)
# --------------------------------------------------------------------------------------------


def binary_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | Sequence[float] | None = None,
    pos_weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = 255,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sigmoid binary cross-entropy for multi-label targets (several labels true at a pixel).

    Each (pixel, label) entry is an independent yes/no question, as in
    :func:`torch.nn.functional.binary_cross_entropy_with_logits`. Entries whose target equals
    ``ignore_index`` are left out, per entry: a pixel can be ignored for one label only.
    ``"mean"`` divides by the number of non-ignored entries (like torch, weights do not enter the
    normaliser); an all-ignored batch gives 0.

    Args:
        logits: raw scores, one channel per label.
        target: {0, 1} (bool, int or float; soft targets in [0, 1] are allowed) or
            ``ignore_index``.
        weight: optional per-label weights, ``(K,)``.
        pos_weight: optional per-label weights of the positive term, ``(K,)`` (> 1 raises
            recall for rare labels). Unlike torch, a ``(K,)`` vector is applied along the
            channel axis, not the last axis.
        ignore_index: target value that counts nowhere; ``None`` for none.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-entry losses, 0 where ignored).

    Returns:
        Scalar loss, or ``(N, K, H, W)`` with ``reduction="none"``.

    Raises:
        ValueError: for a bad ``reduction``, ``weight``/``pos_weight`` length, mismatched
            shapes, or target values outside [0, 1] that are not ``ignore_index``.
        TypeError: for non-tensor inputs or integer logits.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, K, H, W)`
        - output: scalar, or :math:`(N, K, H, W)` for ``reduction="none"``

    Example:
        >>> logits = torch.zeros(1, 2, 1, 1)
        >>> round(binary_cross_entropy(logits, torch.ones(1, 2, 1, 1)).item(), 4)  # log 2
        0.6931
    """
    _check_choice(reduction, REDUCTIONS, "reduction")
    valid = _check_multilabel_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    label_weight = _per_class(weight, num_classes, "weight", logits)
    positive_weight = _per_class(pos_weight, num_classes, "pos_weight", logits)
    label_weight = None if label_weight is None else _channel_view(label_weight, logits.ndim)
    positive_weight = (
        None if positive_weight is None else _channel_view(positive_weight, logits.ndim)
    )
    if valid is None:
        # No void entry: torch's own kernel is exact.
        return F.binary_cross_entropy_with_logits(
            logits,
            target.to(logits.dtype),
            weight=label_weight,
            pos_weight=positive_weight,
            reduction=reduction,
        )
    clean = torch.where(valid, target, torch.zeros_like(target)).to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(
        logits, clean, weight=label_weight, pos_weight=positive_weight, reduction="none"
    )
    loss = loss * valid
    return _reduce(loss, reduction, valid.sum().to(loss.dtype))


class BinaryCrossEntropyLoss(nn.Module):
    """Module form of :func:`binary_cross_entropy` (BCE-with-logits with ``ignore_index``).

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, K, H, W)`
        - output: scalar, or :math:`(N, K, H, W)` for ``reduction="none"``

    Example:
        >>> BinaryCrossEntropyLoss()(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)).shape
        torch.Size([])
    """

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        pos_weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = 255,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        _check_choice(reduction, REDUCTIONS, "reduction")
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )
        self.register_buffer(
            "pos_weight",
            None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32),
        )
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy(
            logits,
            target,
            weight=self.weight,
            pos_weight=self.pos_weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


# --------------------------------------------------------------------------------------------
# Soft Dice (either head)
# --------------------------------------------------------------------------------------------


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "softmax",
    weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = 255,
    smooth: float = 1.0,
    eps: float = 1e-7,
    reduction: str = "mean",
    classes: Sequence[int] | None = None,
) -> torch.Tensor:
    """Soft Dice loss, ``1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)`` per class.

    The sums run over the whole batch and all pixels at once (dataset-style, as in
    segmentation_models_pytorch), not per image: one image with a tiny object then does not
    dominate the batch.

    * ``mode="softmax"``: probabilities are ``softmax(logits)``; the target is an index mask,
      one-hot encoded inside. Ignored pixels are removed from both sums (all classes).
    * ``mode="sigmoid"``: probabilities are ``sigmoid(logits)`` per label; the target is
      ``(N, K, H, W)`` in {0, 1}, and ignored entries are removed per label.

    Absent classes: a class with no (non-ignored) target pixel in the batch has no Dice to
    score, so it is left out (as in smp, which zeroes it) and the mean runs over the classes
    that are present. In softmax mode, probability put on an absent class is still punished,
    because it is taken away from the present classes; in sigmoid mode nothing in Dice punishes
    it, which is why ``bce+dice`` is the usual multi-label choice. If no class is present (for
    example an all-ignored batch) the loss is 0.

    Args:
        logits: raw scores, one channel per class or label.
        target: ``(N, H, W)`` indices (softmax) or ``(N, K, H, W)`` {0, 1} (sigmoid).
        mode: ``"softmax"`` or ``"sigmoid"``.
        weight: optional per-class weights ``(K,)`` for the mean over classes.
        ignore_index: target value that counts nowhere; ``None`` for none.
        smooth: added to numerator and denominator (>= 0); keeps gradients alive for small
            objects.
        eps: lower bound of the denominator, for ``smooth=0``.
        reduction: ``"mean"`` (weighted mean over present classes), ``"sum"`` (over present
            classes) or ``"none"`` (per-class losses, 0 for absent classes).
        classes: optional class indices to score (others are left out); default all.

    Returns:
        Scalar loss, or ``(len(classes),)`` per-class losses with ``reduction="none"``.

    Raises:
        ValueError: for a bad ``mode``/``reduction``, negative ``smooth``, non-positive
            ``eps``, class indices out of range, a bad ``weight`` length, mismatched shapes,
            or target values out of range.
        TypeError: for non-tensor inputs or integer logits.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)` (softmax) or :math:`(N, K, H, W)` (sigmoid)
        - output: scalar, or :math:`(K,)` for ``reduction="none"``

    Example:
        >>> logits = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])  # (1, 2, 1, 2), confident
        >>> dice_loss(logits, torch.tensor([[[0, 1]]])).item() < 1e-3
        True
    """
    _check_choice(mode, DICE_MODES, "mode")
    _check_choice(reduction, REDUCTIONS, "reduction")
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0, got {smooth}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if mode == "softmax":
        valid = _check_index_target(logits, target, ignore_index)
    else:
        valid = _check_multilabel_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    class_weight = _per_class(weight, num_classes, "weight", logits)
    class_index = None
    if classes is not None:
        class_index = torch.as_tensor(list(classes), dtype=torch.long, device=logits.device)
        if class_index.numel() == 0 or bool(
            ((class_index < 0) | (class_index >= num_classes)).any()
        ):
            raise ValueError(
                f"classes must be non-empty indices in [0, {num_classes}), got {list(classes)}"
            )

    if mode == "softmax":
        probs = logits.softmax(dim=1)
        safe = target.long() if valid is None else torch.where(valid, target.long(), 0)
        # (N, H, W) -> (N, K, H, W) by one broadcast comparison, without an int64 one-hot.
        classes_view = torch.arange(num_classes, device=logits.device).view(
            1, -1, *([1] * (logits.ndim - 2))
        )
        truth = (safe.unsqueeze(1) == classes_view).to(probs.dtype)
        if valid is not None:
            valid = valid.unsqueeze(1).to(probs.dtype)
            truth = truth * valid  # void pixels were mapped to class 0 above
    else:
        probs = logits.sigmoid()
        if valid is None:
            truth = target.to(probs.dtype)
        else:
            truth = torch.where(valid, target, torch.zeros_like(target)).to(probs.dtype)
            valid = valid.to(probs.dtype)
    if valid is not None:
        # Void entries leave both sums.
        probs = probs * valid

    dims = [0, *range(2, logits.ndim)]
    intersection = (probs * truth).sum(dims)
    target_sum = truth.sum(dims)
    cardinality = probs.sum(dims) + target_sum
    score = (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
    present = (target_sum > 0).to(score.dtype)
    per_class = (1.0 - score) * present
    if class_weight is None:
        class_weight = torch.ones_like(per_class)
    if class_index is not None:
        per_class, present, class_weight = (
            per_class[class_index],
            present[class_index],
            class_weight[class_index],
        )
    if reduction == "none":
        return per_class
    if reduction == "sum":
        return (per_class * class_weight).sum()
    return _reduce(per_class * class_weight, "mean", (present * class_weight).sum())


class DiceLoss(nn.Module):
    """Module form of :func:`dice_loss`.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)` (softmax) or :math:`(N, K, H, W)` (sigmoid)
        - output: scalar, or :math:`(K,)` for ``reduction="none"``

    Example:
        >>> DiceLoss(mode="sigmoid")(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)).shape
        torch.Size([])
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        mode: str = "softmax",
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = 255,
        smooth: float = 1.0,
        eps: float = 1e-7,
        reduction: str = "mean",
        classes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        _check_choice(mode, DICE_MODES, "mode")
        _check_choice(reduction, REDUCTIONS, "reduction")
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )
        self.mode = mode
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.eps = eps
        self.reduction = reduction
        self.classes = None if classes is None else list(classes)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_loss(
            logits,
            target,
            mode=self.mode,
            weight=self.weight,
            ignore_index=self.ignore_index,
            smooth=self.smooth,
            eps=self.eps,
            reduction=self.reduction,
            classes=self.classes,
        )


# --------------------------------------------------------------------------------------------
# CE + Dice
# --------------------------------------------------------------------------------------------


def ce_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "softmax",
    ce_weight: float = 1.0,
    dice_weight: float = 1.0,
    weight: torch.Tensor | Sequence[float] | None = None,
    pos_weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = 255,
    label_smoothing: float = 0.0,
    smooth: float = 1.0,
) -> torch.Tensor:
    """``ce_weight * CE + dice_weight * Dice`` (softmax), or BCE + Dice (``mode="sigmoid"``).

    CE drives every pixel towards the right class; Dice works on the overlap and so resists
    class imbalance. Both terms use the same ``ignore_index`` and class ``weight``. The result
    is always a scalar (the two terms have different per-element shapes).

    Args:
        logits: raw scores, one channel per class or label.
        target: ``(N, H, W)`` indices (softmax) or ``(N, K, H, W)`` {0, 1} (sigmoid).
        mode: ``"softmax"`` (CE + Dice) or ``"sigmoid"`` (BCE + Dice).
        ce_weight: factor of the (B)CE term, >= 0.
        dice_weight: factor of the Dice term, >= 0.
        weight: optional per-class weights ``(K,)``, passed to both terms.
        pos_weight: BCE positive weights ``(K,)``; sigmoid mode only.
        ignore_index: target value that counts nowhere; ``None`` for none.
        label_smoothing: CE label smoothing; softmax mode only.
        smooth: Dice smoothing.

    Returns:
        Scalar loss.

    Raises:
        ValueError: for a bad ``mode``, negative term weights, ``pos_weight`` in softmax mode,
            ``label_smoothing`` in sigmoid mode, and every error of the two terms.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)` (softmax) or :math:`(N, K, H, W)` (sigmoid)
        - output: scalar

    Example:
        >>> logits, target = torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
        >>> round(ce_dice_loss(logits, target).item(), 4)  # log 2 + (1 - 5/7); class 1 absent
        0.9789
    """
    _check_choice(mode, DICE_MODES, "mode")
    if ce_weight < 0 or dice_weight < 0:
        raise ValueError(
            f"ce_weight and dice_weight must be >= 0, got {ce_weight} and {dice_weight}"
        )
    if mode == "softmax":
        if pos_weight is not None:
            raise ValueError("pos_weight is for mode='sigmoid' (BCE); softmax CE takes weight")
        ce = cross_entropy(
            logits,
            target,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
        )
    else:
        if label_smoothing:
            raise ValueError("label_smoothing is for mode='softmax' (CE); BCE does not take it")
        ce = binary_cross_entropy(
            logits, target, weight=weight, pos_weight=pos_weight, ignore_index=ignore_index
        )
    dice = dice_loss(
        logits, target, mode=mode, weight=weight, ignore_index=ignore_index, smooth=smooth
    )
    return ce_weight * ce + dice_weight * dice


class CEDiceLoss(nn.Module):
    """Module form of :func:`ce_dice_loss`.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)` (softmax) or :math:`(N, K, H, W)` (sigmoid)
        - output: scalar

    Example:
        >>> criterion = CEDiceLoss(ce_weight=1.0, dice_weight=0.5)
        >>> criterion(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)).ndim
        0
    """

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        *,
        mode: str = "softmax",
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        weight: torch.Tensor | Sequence[float] | None = None,
        pos_weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = 255,
        label_smoothing: float = 0.0,
        smooth: float = 1.0,
    ) -> None:
        super().__init__()
        _check_choice(mode, DICE_MODES, "mode")
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )
        self.register_buffer(
            "pos_weight",
            None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32),
        )
        self.mode = mode
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ce_dice_loss(
            logits,
            target,
            mode=self.mode,
            ce_weight=self.ce_weight,
            dice_weight=self.dice_weight,
            weight=self.weight,
            pos_weight=self.pos_weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            smooth=self.smooth,
        )


# --------------------------------------------------------------------------------------------
# Factory for the CLI
# --------------------------------------------------------------------------------------------


def get_loss(name: str, **kwargs) -> nn.Module:
    """Build a loss Module from its CLI name.

    Names: ``ce`` (:class:`CrossEntropyLoss`), ``bce`` (:class:`BinaryCrossEntropyLoss`),
    ``dice`` (:class:`DiceLoss`), ``ce+dice`` (:class:`CEDiceLoss`, softmax unless ``mode`` is
    given), ``bce+dice`` (:class:`CEDiceLoss` with ``mode="sigmoid"``), ``lovasz``
    (:class:`~seglab.lovasz.LovaszSoftmaxLoss`) and ``ce+lovasz``
    (:class:`~seglab.lovasz.CELovaszLoss`).

    Args:
        name: one of :data:`LOSS_NAMES` (case-insensitive).
        **kwargs: keyword arguments of the Module.

    Raises:
        ValueError: for an unknown name, or ``bce+dice`` with ``mode="softmax"``.
        TypeError: for a keyword the Module does not take.

    Example:
        >>> type(get_loss("ce+dice", ignore_index=255)).__name__
        'CEDiceLoss'
    """
    key = name.lower().replace(" ", "") if isinstance(name, str) else name
    _check_choice(key, LOSS_NAMES, "loss")
    if key == "bce+dice":
        if kwargs.setdefault("mode", "sigmoid") != "sigmoid":
            raise ValueError(f"'bce+dice' is the sigmoid loss; got mode={kwargs['mode']!r}")
    if key in ("lovasz", "ce+lovasz"):
        from seglab.lovasz import CELovaszLoss, LovaszSoftmaxLoss

        return (LovaszSoftmaxLoss if key == "lovasz" else CELovaszLoss)(**kwargs)
    factory = {
        "ce": CrossEntropyLoss,
        "bce": BinaryCrossEntropyLoss,
        "dice": DiceLoss,
        "ce+dice": CEDiceLoss,
        "bce+dice": CEDiceLoss,
    }[key]
    return factory(**kwargs)
