"""Softmax cross-entropy for exclusive classes: the function and the Module.

:func:`cross_entropy` / :class:`CrossEntropyLoss` take ``(N, H, W)`` class indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seglab._checks import IGNORE_INDEX, check_choice
from seglab.losses._common import REDUCTIONS, LossModule, _check_index_target, _per_class, _reduce

__all__ = ["cross_entropy", "CrossEntropyLoss"]


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = IGNORE_INDEX,
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
    check_choice("reduction", reduction, REDUCTIONS)
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


class CrossEntropyLoss(LossModule):
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

    function = staticmethod(cross_entropy)
    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = IGNORE_INDEX,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        check_choice("reduction", reduction, REDUCTIONS)
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
