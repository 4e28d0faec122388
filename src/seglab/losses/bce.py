"""Sigmoid binary cross-entropy for multi-label targets: the function and the Module.

:func:`binary_cross_entropy` / :class:`BinaryCrossEntropyLoss` take ``(N, K, H, W)`` targets in
{0, 1}; several labels can be true at a pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seglab._checks import IGNORE_INDEX, check_choice
from seglab.losses._common import (
    REDUCTIONS,
    LossModule,
    _check_multilabel_target,
    _per_class,
    _reduce,
)

__all__ = ["binary_cross_entropy", "BinaryCrossEntropyLoss"]


def _channel_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape (K,) to (1, K, 1, ..., 1) so that it broadcasts over (N, K, *spatial)."""
    return values.view(1, -1, *([1] * (ndim - 2)))


def binary_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | Sequence[float] | None = None,
    pos_weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = IGNORE_INDEX,
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
    check_choice("reduction", reduction, REDUCTIONS)
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


class BinaryCrossEntropyLoss(LossModule):
    """Module form of :func:`binary_cross_entropy` (BCE-with-logits with ``ignore_index``).

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, K, H, W)`
        - output: scalar, or :math:`(N, K, H, W)` for ``reduction="none"``

    Example:
        >>> BinaryCrossEntropyLoss()(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)).shape
        torch.Size([])
    """

    function = staticmethod(binary_cross_entropy)
    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        pos_weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = IGNORE_INDEX,
        reduction: str = "mean",
    ) -> None:
        check_choice("reduction", reduction, REDUCTIONS)
        super().__init__(
            weight=weight, pos_weight=pos_weight, ignore_index=ignore_index, reduction=reduction
        )
