"""Two terms in one loss: (B)CE + Dice and CE + Lovász.

The pixel-wise term drives every pixel towards the right class; the overlap term (Dice or the
Lovász IoU surrogate) resists class imbalance and optimises the score that is reported. Both
terms share ``ignore_index`` and the class ``weight``.

* :func:`ce_dice_loss` / :class:`CEDiceLoss`: CE + Dice (softmax) or BCE + Dice (sigmoid).
* :func:`ce_lovasz_loss` / :class:`CELovaszLoss`: CE + Lovász-Softmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seglab._checks import IGNORE_INDEX, check_choice
from seglab.losses._common import LossModule
from seglab.losses.bce import binary_cross_entropy
from seglab.losses.ce import cross_entropy
from seglab.losses.dice import DICE_MODES, dice_loss
from seglab.losses.lovasz import lovasz_softmax

__all__ = ["ce_dice_loss", "CEDiceLoss", "bce_dice_loss_module", "ce_lovasz_loss", "CELovaszLoss"]


def ce_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    mode: str = "softmax",
    ce_weight: float = 1.0,
    dice_weight: float = 1.0,
    weight: torch.Tensor | Sequence[float] | None = None,
    pos_weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = IGNORE_INDEX,
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
    check_choice("mode", mode, DICE_MODES)
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


class CEDiceLoss(LossModule):
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

    function = staticmethod(ce_dice_loss)
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
        ignore_index: int | None = IGNORE_INDEX,
        label_smoothing: float = 0.0,
        smooth: float = 1.0,
    ) -> None:
        check_choice("mode", mode, DICE_MODES)
        terms = {"mode": mode, "ce_weight": ce_weight, "dice_weight": dice_weight}
        tensors = {"weight": weight, "pos_weight": pos_weight}
        super().__init__(
            **terms,
            **tensors,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            smooth=smooth,
        )


def bce_dice_loss_module(**kwargs) -> CEDiceLoss:
    """:class:`CEDiceLoss` in sigmoid mode (BCE + Dice), the loss ``get_loss("bce+dice")`` builds.

    Raises:
        ValueError: for ``mode="softmax"``: this name is the sigmoid loss.

    Example:
        >>> bce_dice_loss_module().mode
        'sigmoid'
    """
    if kwargs.setdefault("mode", "sigmoid") != "sigmoid":
        raise ValueError(f"'bce+dice' is the sigmoid loss; got mode={kwargs['mode']!r}")
    return CEDiceLoss(**kwargs)


def _check_term_weights(ce_weight: float, lovasz_weight: float) -> None:
    if ce_weight < 0 or lovasz_weight < 0:
        raise ValueError(
            f"ce_weight and lovasz_weight must be >= 0, got {ce_weight} and {lovasz_weight}"
        )


def ce_lovasz_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ce_weight: float = 1.0,
    lovasz_weight: float = 1.0,
    weight: torch.Tensor | Sequence[float] | None = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> torch.Tensor:
    """``ce_weight * CE + lovasz_weight * Lovász-Softmax``, both with the same void pixels.

    Raises:
        ValueError: for negative term weights and every error of the two terms.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)`
        - output: scalar

    Example:
        >>> logits, target = torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
        >>> round(ce_lovasz_loss(logits, target).item(), 4)  # log 2 + mean error 0.5
        1.1931
    """
    _check_term_weights(ce_weight, lovasz_weight)
    ce = cross_entropy(logits, target, weight=weight, ignore_index=ignore_index)
    lovasz = lovasz_softmax(logits, target, ignore_index=ignore_index, weight=weight)
    return ce_weight * ce + lovasz_weight * lovasz


class CELovaszLoss(LossModule):
    """Module form of :func:`ce_lovasz_loss`.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)`
        - output: scalar

    Example:
        >>> criterion = CELovaszLoss(ce_weight=1.0, lovasz_weight=0.5)
        >>> criterion(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)).ndim
        0
    """

    function = staticmethod(ce_lovasz_loss)
    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        ce_weight: float = 1.0,
        lovasz_weight: float = 1.0,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int | None = IGNORE_INDEX,
    ) -> None:
        _check_term_weights(ce_weight, lovasz_weight)
        terms = {"ce_weight": ce_weight, "lovasz_weight": lovasz_weight}
        super().__init__(**terms, weight=weight, ignore_index=ignore_index)
