"""Pictures of instance segmentations: one distinct colour per object, plus its outline.

Semantic overlays (:mod:`seglab.viz`) colour by class, so touching objects of one class merge
into one blob. Here every instance id gets its own colour: hues are spaced by the golden ratio
(0.618 of a turn from one id to the next, from a start hue set by ``seed``), so ids that are
close, which are often neighbours in a label map, get clearly different hues, and the same id
gets the same colour in every image. Saturation and brightness alternate between two levels to
separate ids whose hues come close again.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.colors import hsv_to_rgb
from skimage.segmentation import find_boundaries

from seglab.io import write_image
from seglab.viz import as_label_map, as_rgb

__all__ = ["instance_colors", "overlay_instances", "save_instances_overlay"]

GOLDEN_RATIO_CONJUGATE = (5**0.5 - 1) / 2


def instance_colors(ids, *, seed: int = 0) -> np.ndarray:
    """The colour of each instance id.

    Args:
        ids: instance ids (any ints).
        seed: picks the start hue, so that another seed gives another set of colours.

    Returns:
        ``(len(ids), 3)`` uint8 RGB colours.

    Example:
        >>> instance_colors([1, 2, 3]).shape
        (3, 3)
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    start = np.random.default_rng(seed).random()
    hue = (start + ids * GOLDEN_RATIO_CONJUGATE) % 1.0
    saturation = np.where(ids % 2 == 0, 0.65, 0.95)
    value = np.where((ids // 2) % 2 == 0, 1.0, 0.8)
    rgb = hsv_to_rgb(np.stack([hue, saturation, value], axis=-1))
    return np.round(rgb * 255.0).astype(np.uint8).reshape(-1, 3)


def overlay_instances(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    alpha: float = 0.5,
    contours: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Blend one colour per instance over an image, and outline every instance.

    A pixel of instance ``i`` becomes ``round((1 - alpha) * image + alpha * colour(i))``;
    background (0) is left as it is. With ``contours``, the inner outline of each instance
    (:func:`skimage.segmentation.find_boundaries`, ``mode="inner"``) is drawn in its colour at
    full strength, so touching instances stay apart even at small ``alpha``.

    Args:
        image: ``(H, W, 3)`` uint8 (or ``(H, W)``, or float in [0, 1]).
        labels: ``(H, W)`` instance label map, 0 = background (NumPy or torch).
        alpha: opacity of the fill, in [0, 1].
        contours: draw outlines.
        seed: colour set (see :func:`instance_colors`).

    Returns:
        ``(H, W, 3)`` uint8, a new array.

    Raises:
        ValueError: for mismatched sizes, negative ids or ``alpha`` outside [0, 1].
        TypeError: for a non-integer label map or an image that is neither uint8 nor float.

    Example:
        >>> image = np.zeros((2, 3, 3), np.uint8)
        >>> out = overlay_instances(image, np.array([[0, 1, 2], [0, 1, 2]]), contours=False)
        >>> out[0, 0].tolist(), bool((out[0, 1] != out[0, 2]).any())
        ([0, 0, 0], True)
    """
    rgb = as_rgb(image)
    labels = as_label_map(labels, rgb, "labels")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0 (0 = background), got min {labels.min()}")
    inside = labels > 0
    if not inside.any():
        return rgb
    ids, inverse = np.unique(labels[inside], return_inverse=True)
    colours = instance_colors(ids, seed=seed).astype(np.float64)
    pixel_colours = colours[inverse.reshape(-1)]
    blended = (1.0 - alpha) * rgb[inside].astype(np.float64) + alpha * pixel_colours
    rgb[inside] = np.round(blended).astype(np.uint8)
    if contours:
        edges = find_boundaries(labels, mode="inner") & inside
        edge_ids = np.searchsorted(ids, labels[edges])
        rgb[edges] = colours[edge_ids].astype(np.uint8)
    return rgb


def save_instances_overlay(
    path: str | os.PathLike, image: np.ndarray, labels: np.ndarray, **kwargs
) -> None:
    """Write :func:`overlay_instances` ``(image, labels, **kwargs)`` as a PNG, atomically."""
    write_image(path, overlay_instances(image, labels, **kwargs))
