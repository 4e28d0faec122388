"""The one name -> factory table of the losses, and :func:`get_loss`, which builds from it.

Adding a loss means one module in :mod:`seglab.losses` and one entry in :data:`LOSS_FACTORIES`;
the training settings (:data:`seglab.engine.config.LOSSES`, the CLI's ``--loss`` choices)
follow from :data:`TRAINING_LOSS_NAMES`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from seglab._checks import check_choice

if TYPE_CHECKING:
    from torch import nn

__all__ = ["LOSS_FACTORIES", "LOSS_NAMES", "TRAINING_LOSS_NAMES", "get_loss"]

#: Lowercase name -> ``"module:factory"`` that takes the Module's keyword arguments. The
#: factories are imported on first use, so reading the names (the CLI's ``--loss`` choices)
#: costs no torch import. The order is the order error messages and ``--loss`` list.
LOSS_FACTORIES: dict[str, str] = {
    "ce": "seglab.losses.ce:CrossEntropyLoss",
    "bce": "seglab.losses.bce:BinaryCrossEntropyLoss",
    "dice": "seglab.losses.dice:DiceLoss",
    "ce+dice": "seglab.losses.combined:CEDiceLoss",
    "bce+dice": "seglab.losses.combined:bce_dice_loss_module",
    "lovasz": "seglab.losses.lovasz:LovaszSoftmaxLoss",
    "ce+lovasz": "seglab.losses.combined:CELovaszLoss",
}

#: Every name :func:`get_loss` accepts.
LOSS_NAMES = tuple(LOSS_FACTORIES)

#: The names a training run offers (``--loss``). ``bce+dice`` is left out because training
#: picks it itself: ``ce+dice`` on multi-label data means BCE + Dice.
TRAINING_LOSS_NAMES = tuple(name for name in LOSS_FACTORIES if name != "bce+dice")


def get_loss(name: str, **kwargs) -> nn.Module:
    """Build a loss Module from its CLI name.

    Names: ``ce`` (:class:`~seglab.losses.CrossEntropyLoss`), ``bce``
    (:class:`~seglab.losses.BinaryCrossEntropyLoss`), ``dice`` (:class:`~seglab.losses.DiceLoss`),
    ``ce+dice`` (:class:`~seglab.losses.CEDiceLoss`, softmax unless ``mode`` is given),
    ``bce+dice`` (:class:`~seglab.losses.CEDiceLoss` with ``mode="sigmoid"``), ``lovasz``
    (:class:`~seglab.losses.LovaszSoftmaxLoss`) and ``ce+lovasz``
    (:class:`~seglab.losses.CELovaszLoss`).

    Args:
        name: one of :data:`LOSS_NAMES` (case-insensitive; spaces are ignored).
        **kwargs: keyword arguments of the Module.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones), or ``bce+dice``
            with ``mode="softmax"``.
        TypeError: for a keyword the Module does not take.

    Example:
        >>> type(get_loss("ce+dice", ignore_index=255)).__name__
        'CEDiceLoss'
    """
    key = name.lower().replace(" ", "") if isinstance(name, str) else name
    # A tuple, not the dict: an unhashable name is then an unknown name, not a TypeError.
    check_choice("loss", key, tuple(LOSS_FACTORIES))
    module, factory = LOSS_FACTORIES[key].split(":")
    return getattr(importlib.import_module(module), factory)(**kwargs)
