"""Conversions between the two data worlds of seglab, stated once.

Classical code works on NumPy: ``(H, W[, C])`` images and ``(H, W)`` int label maps.
Deep code works on torch: ``(N, C, H, W)`` float images in [0, 1], ``(N, H, W)`` int64 masks.
Every crossing between the two goes through this module.

**Image values: one rule.** An image's dtype says what its numbers mean:

- ``uint8``: 0..255; ``uint16``: 0..65535; ``bool``: {0, 1};
- other integer dtypes (``int8`` ... ``int64``, ``uint32``, ``uint64``; what ``np.array(...,
  dtype=int)`` gives): must hold 0..255, read as 8-bit values;
- floats: must be finite and in [0, 1].

Anything else (a float image holding 0..255, NaN, a 16-bit image stored as ``int32``) is a
``ValueError`` that says what to do, never a silent rescale: a guessed scale would give a
wrong mask without a word.
"""

from __future__ import annotations

import numpy as np
import torch

from seglab._checks import unit_float_image

__all__ = [
    "image_to_unit_float",
    "image_to_tensor",
    "tensor_to_image",
    "labels_to_numpy",
    "labels_to_tensor",
]


def image_to_unit_float(image: np.ndarray) -> np.ndarray:
    """An image's values as float32 in [0, 1], by the module's one rule for dtypes.

    Args:
        image: any-shaped NumPy array of pixel values.

    Returns:
        float32 array of the same shape.

    Raises:
        ValueError: for NaN or infinite values, floats outside [0, 1], integer dtypes other
            than uint8/uint16 with values outside 0..255, or a non-numeric dtype.

    Example:
        >>> image_to_unit_float(np.array([0, 255], np.uint8)).tolist()
        [0.0, 1.0]
    """
    return unit_float_image(image, np.float32)


def image_to_tensor(image: np.ndarray, *, channel_axis: int | None = -1) -> torch.Tensor:
    """Convert a NumPy image to a float tensor in [0, 1].

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array, read by the module's rule
            (:func:`image_to_unit_float`): ``uint8`` is scaled by 1/255, ``uint16`` by
            1/65535, ``bool`` maps to {0, 1}; floats must already be in [0, 1].
        channel_axis: axis of the channels, or ``None`` for a single-channel image.

    Returns:
        ``(C, H, W)`` float32 tensor.

    Raises:
        ValueError: if the array is not 2-D or 3-D, or its values break the dtype rule.

    Example:
        >>> image_to_tensor(np.zeros((4, 5, 3), np.uint8)).shape
        torch.Size([3, 4, 5])
    """
    image = np.asarray(image)
    if channel_axis is None or image.ndim == 2:
        if image.ndim != 2:
            raise ValueError(
                f"expected a (H, W) image when channel_axis is None, got shape {image.shape}"
            )
        image = image[..., None]
    elif image.ndim == 3:
        image = np.moveaxis(image, channel_axis, -1)
    else:
        raise ValueError(f"expected a (H, W) or (H, W, C) image, got shape {image.shape}")
    array = image_to_unit_float(image)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Convert a ``(C, H, W)`` float tensor in [0, 1] to a ``(H, W, C)`` uint8 array.

    Values are clipped to [0, 1] first, so a normalised tensor must be de-normalised before.
    """
    if tensor.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(tensor.shape)}")
    array = tensor.detach().float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
    return np.round(array * 255.0).astype(np.uint8)


def labels_to_numpy(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return int labels as a NumPy array, without copying when they already are one."""
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy()
    return np.asarray(labels)


def labels_to_tensor(labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return int labels as an int64 tensor."""
    if isinstance(labels, torch.Tensor):
        return labels.long()
    return torch.from_numpy(np.asarray(labels).astype(np.int64, copy=False))
