"""Pictures of segmentations: colour overlays of index masks and boundary drawings.

Everything here takes NumPy ``(H, W, 3)`` uint8 images (grayscale ``(H, W)`` and float images
in [0, 1] are accepted too) and returns a new ``(H, W, 3)`` uint8 image; the input is never
modified. Masks may be NumPy arrays or torch tensors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from skimage.segmentation import find_boundaries

from seglab._checks import IGNORE_INDEX
from seglab.convert import labels_to_numpy
from seglab.io import voc_palette, write_image

__all__ = ["overlay_mask", "save_overlay", "draw_boundaries", "BOUNDARY_MODES"]

BOUNDARY_MODES = ("thick", "inner", "outer")


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3)``, uint8 or float in [0, 1] -> ``(H, W, 3)`` uint8 copy."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.copy()
    if np.issubdtype(image.dtype, np.floating) or image.dtype == np.bool_:
        return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise TypeError(f"image must be uint8, or float in [0, 1], got dtype {image.dtype}")


def as_label_map(labels: np.ndarray, image: np.ndarray, name: str) -> np.ndarray:
    labels = labels_to_numpy(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name} must be (H, W), got shape {labels.shape}")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"{name} size {labels.shape} does not match image size {image.shape[:2]}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _check_color(color: Sequence[int]) -> np.ndarray:
    values = np.asarray(color)
    if values.shape != (3,) or not np.all((values >= 0) & (values <= 255)):
        raise ValueError(f"color must be 3 values in [0, 255], got {color!r}")
    return values.astype(np.uint8)


def overlay_mask(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    background_index: int | None = 0,
    draw_boundaries: bool = True,
) -> np.ndarray:
    """Blend a colour per class over ``image``, and outline each class region.

    A coloured pixel becomes ``round((1 - alpha) * image + alpha * palette[class])``. Pixels
    of ``background_index`` and ``ignore_index`` are left as they are, so the photo shows
    through where nothing was found. With ``draw_boundaries``, the inner outline of every
    coloured region (:func:`skimage.segmentation.find_boundaries`, ``mode="inner"``) is drawn
    in the class colour at full strength, so thin or pale regions stay visible.

    Args:
        image: ``(H, W, 3)`` uint8 (or ``(H, W)``, or float in [0, 1]).
        mask: ``(H, W)`` integer class indices (NumPy or torch).
        alpha: opacity of the colour, in [0, 1].
        palette: ``(P, 3)`` uint8 colours indexed by class; default the Pascal VOC colour map.
        ignore_index: void value, left uncoloured; ``None`` for none.
        background_index: class left uncoloured; ``None`` colours every class.
        draw_boundaries: outline the coloured regions.

    Returns:
        ``(H, W, 3)`` uint8, a new array.

    Raises:
        ValueError: for mismatched sizes, ``alpha`` outside [0, 1], a bad palette, or mask
            values that are negative or have no palette colour.
        TypeError: for a non-integer mask or an image that is neither uint8 nor float.

    Example:
        >>> image = np.full((4, 4, 3), 100, np.uint8)
        >>> mask = np.zeros((4, 4), np.int64); mask[1:3, 1:3] = 1
        >>> overlay_mask(image, mask, draw_boundaries=False)[1, 1].tolist()  # VOC 1 = (128, 0, 0)
        [114, 50, 50]
    """
    rgb = as_rgb(image)
    labels = as_label_map(mask, rgb, "mask")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colours = voc_palette() if palette is None else np.asarray(palette)
    if colours.ndim != 2 or colours.shape[1] != 3 or len(colours) == 0:
        raise ValueError(f"palette must be (P, 3), got shape {colours.shape}")
    colours = np.clip(colours, 0, 255).astype(np.float64)

    coloured = np.ones(labels.shape, dtype=bool)
    for skipped in (ignore_index, background_index):
        if skipped is not None:
            coloured &= labels != skipped
    if not coloured.any():
        return rgb
    used = labels[coloured]
    if used.min() < 0 or used.max() >= len(colours):
        raise ValueError(
            f"mask values must be in [0, {len(colours)}) to have a palette colour, "
            f"got [{used.min()}, {used.max()}]"
        )
    class_colour = colours[used]
    blended = (1.0 - alpha) * rgb[coloured].astype(np.float64) + alpha * class_colour
    rgb[coloured] = np.round(blended).astype(np.uint8)
    if draw_boundaries:
        # "inner" keeps the outline on the object's own pixels, so it does not cover the photo.
        edges = find_boundaries(labels, mode="inner") & coloured
        rgb[edges] = colours[labels[edges]].astype(np.uint8)
    return rgb


def save_overlay(
    path: str | os.PathLike,
    image: np.ndarray,
    mask: np.ndarray,
    *,
    compress_level: int = 6,
    **kwargs,
) -> None:
    """Write :func:`overlay_mask` ``(image, mask, **kwargs)`` as a PNG, atomically.

    Parent folders are created; an interrupted write never leaves a half-written file.
    ``compress_level`` (zlib 0-9) trades file size for speed, see :func:`seglab.io.write_image`.

    Raises:
        ValueError, TypeError: as :func:`overlay_mask`.

    Example:
        >>> save_overlay("overlay.png", image, mask, alpha=0.4)  # doctest: +SKIP
    """
    write_image(path, overlay_mask(image, mask, **kwargs), compress_level=compress_level)


def draw_boundaries(
    image: np.ndarray,
    labels: np.ndarray,
    color: Sequence[int] = (255, 255, 0),
    *,
    mode: str = "thick",
) -> np.ndarray:
    """Paint the borders between regions of a label map (superpixels, segments) on an image.

    Same pixels as :func:`skimage.segmentation.mark_boundaries` with ``outline_color=None``,
    but the result stays uint8.

    Args:
        image: ``(H, W, 3)`` uint8 (or ``(H, W)``, or float in [0, 1]).
        labels: ``(H, W)`` integer label map (NumPy or torch).
        color: RGB of the boundary pixels, each in [0, 255].
        mode: :func:`skimage.segmentation.find_boundaries` mode: ``"thick"`` (both sides of
            each border), ``"inner"`` or ``"outer"``.

    Returns:
        ``(H, W, 3)`` uint8, a new array.

    Raises:
        ValueError: for mismatched sizes, a bad ``color`` or an unknown ``mode``.
        TypeError: for a non-integer label map or an image that is neither uint8 nor float.

    Example:
        >>> labels = np.array([[0, 0, 1, 1]])
        >>> draw_boundaries(np.zeros((1, 4, 3), np.uint8), labels)[0, :, 0].tolist()
        [0, 255, 255, 0]
    """
    if mode not in BOUNDARY_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(BOUNDARY_MODES)}")
    rgb = as_rgb(image)
    label_map = as_label_map(labels, rgb, "labels")
    rgb[find_boundaries(label_map, mode=mode)] = _check_color(color)
    return rgb
