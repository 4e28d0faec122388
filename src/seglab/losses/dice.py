"""Soft Dice for either head (softmax or sigmoid): :func:`dice_loss` / :class:`DiceLoss`."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seglab._checks import IGNORE_INDEX, check_choice
from seglab.losses._common import (
    REDUCTIONS,
    LossModule,
    _check_index_target,
    _check_multilabel_target,
    _per_class,
    _reduce,
)

__all__ = ["dice_loss", "DiceLoss"]

DICE_MODES = ("softmax", "sigmoid")


def _dice_sums(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None, mode: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class sums of Dice over the batch and all pixels; void entries leave every sum.

    Args:
        logits: raw scores, ``(N, K, H, W)``.
        target: checked target, ``(N, H, W)`` (softmax) or ``(N, K, H, W)`` (sigmoid).
        valid: where the target is not void, as the target checks return it (None: no entry
            is void).
        mode: ``"softmax"`` or ``"sigmoid"``.

    Returns:
        ``(K,)`` tensors ``sum(p * t)``, ``sum(p) + sum(t)`` and ``sum(t)``.
    """
    if mode == "softmax":
        probs = logits.softmax(dim=1)
        safe = target.long() if valid is None else torch.where(valid, target.long(), 0)
        # (N, H, W) -> (N, K, H, W) by one broadcast comparison, without an int64 one-hot.
        classes_view = torch.arange(logits.shape[1], device=logits.device).view(
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
    return intersection, cardinality, target_sum


def dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "softmax",
    weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = IGNORE_INDEX,
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
    check_choice("mode", mode, DICE_MODES)
    check_choice("reduction", reduction, REDUCTIONS)
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

    intersection, cardinality, target_sum = _dice_sums(logits, target, valid, mode)
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


class DiceLoss(LossModule):
    """Module form of :func:`dice_loss`.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)` (softmax) or :math:`(N, K, H, W)` (sigmoid)
        - output: scalar, or :math:`(K,)` for ``reduction="none"``

    Example:
        >>> DiceLoss(mode="sigmoid")(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)).shape
        torch.Size([])
    """

    function = staticmethod(dice_loss)
    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        mode: str = "softmax",
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = IGNORE_INDEX,
        smooth: float = 1.0,
        eps: float = 1e-7,
        reduction: str = "mean",
        classes: Sequence[int] | None = None,
    ) -> None:
        check_choice("mode", mode, DICE_MODES)
        check_choice("reduction", reduction, REDUCTIONS)
        classes = None if classes is None else list(classes)
        options = {"mode": mode, "weight": weight, "ignore_index": ignore_index, "smooth": smooth}
        super().__init__(**options, eps=eps, reduction=reduction, classes=classes)
