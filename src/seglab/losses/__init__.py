"""Segmentation losses for the two heads: softmax (exclusive classes) and sigmoid (multi-label).

Each loss comes as a function and a :class:`torch.nn.Module` (kornia style), one family per
module:

* :mod:`~seglab.losses.ce`: :func:`cross_entropy` / :class:`CrossEntropyLoss`, softmax head,
  ``(N, H, W)`` class indices (exclusive classes).
* :mod:`~seglab.losses.bce`: :func:`binary_cross_entropy` / :class:`BinaryCrossEntropyLoss`,
  sigmoid head, ``(N, K, H, W)`` targets in {0, 1} (several labels can be true at a pixel).
* :mod:`~seglab.losses.dice`: :func:`dice_loss` / :class:`DiceLoss`, soft Dice for either head
  (``mode``).
* :mod:`~seglab.losses.lovasz`: :func:`lovasz_softmax` / :class:`LovaszSoftmaxLoss`, the
  Lovász-Softmax surrogate of 1 - IoU.
* :mod:`~seglab.losses.combined`: :func:`ce_dice_loss` / :class:`CEDiceLoss` (CE + Dice, or
  BCE + Dice) and :func:`ce_lovasz_loss` / :class:`CELovaszLoss` (CE + Lovász).
* :mod:`~seglab.losses.registry`: the one name -> factory table :data:`LOSS_FACTORIES` and
  :func:`get_loss`, which builds a Module from a CLI name (``ce``, ``bce``, ``dice``,
  ``ce+dice``, ``bce+dice``, ``lovasz``, ``ce+lovasz``).

Conventions shared by all of them (the checks live in ``seglab.losses._common``):

* Pixels whose target equals ``ignore_index`` (default :data:`seglab.IGNORE_INDEX`, 255) count
  nowhere: not in the loss, not in the normaliser. For the multi-label losses this works per
  (pixel, label) entry.
* A batch in which every pixel is ignored has loss 0 (with zero, finite gradients), never NaN,
  so a fully void crop cannot poison a training run.
* Target values outside ``[0, K)`` that are not ``ignore_index`` raise ``ValueError`` rather
  than a device-side assert or a silently wrong loss.
"""

import importlib

# Public name -> the module that defines it. The modules are imported on first use (PEP 562),
# so that the loss names (seglab.losses.registry) can be read without importing torch: the
# CLI builds its --loss choices from them at start-up.
_HOMES = {
    "cross_entropy": "ce",
    "CrossEntropyLoss": "ce",
    "binary_cross_entropy": "bce",
    "BinaryCrossEntropyLoss": "bce",
    "dice_loss": "dice",
    "DiceLoss": "dice",
    "ce_dice_loss": "combined",
    "CEDiceLoss": "combined",
    "ce_lovasz_loss": "combined",
    "CELovaszLoss": "combined",
    "lovasz_softmax": "lovasz",
    "LovaszSoftmaxLoss": "lovasz",
    "get_loss": "registry",
    "LOSS_FACTORIES": "registry",
    "LOSS_NAMES": "registry",
    "TRAINING_LOSS_NAMES": "registry",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'seglab.losses' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"seglab.losses.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
