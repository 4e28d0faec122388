"""Mask clean-up after the argmax: keep each class's largest region, fill its holes.

Both encode a shape prior that holds for one-object photos such as the Oxford-IIIT Pet ones (a
pet is one connected region without holes) and that a network trained on small crops does not
always respect: stray blobs in the background, a pale forehead left out. They are opt-in
(``seglab predict|evaluate --keep-largest --fill-holes``), because they are wrong for scenes
with several objects of one class (nuclei, coins).

Conventions:

- Regions of a class are 8-connected (pixels that touch at a corner belong together), as in
  :func:`skimage.measure.label`'s default for 2-D images.
- A hole of class ``c`` is a region of *background* pixels that cannot reach the image border
  without crossing ``c`` (4-connected, :func:`scipy.ndimage.binary_fill_holes`). Pixels of other
  classes are never overwritten, so another object inside a pet stays.
- Removed regions become background. With two largest regions of equal size, the one met
  first in row-major order stays.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["clean_labels", "clean_multilabel", "fill_holes", "largest_component"]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected region of a binary mask.

    Args:
        mask: ``(H, W)`` bool (or 0/1).

    Returns:
        ``(H, W)`` bool: the largest region only; all False if ``mask`` is empty.

    Raises:
        ValueError: if ``mask`` is not 2-D.
    """
    mask = _check_mask(mask)
    regions, count = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if count <= 1:
        return mask.copy()
    sizes = np.bincount(regions.ravel())
    sizes[0] = 0  # background
    return regions == int(sizes.argmax())


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes (regions cut off from the image border) filled.

    Args:
        mask: ``(H, W)`` bool (or 0/1).

    Returns:
        ``(H, W)`` bool.

    Raises:
        ValueError: if ``mask`` is not 2-D.
    """
    return ndimage.binary_fill_holes(_check_mask(mask))


def clean_labels(
    labels: np.ndarray,
    *,
    keep_largest: bool = False,
    fill: bool = False,
    background: int = 0,
) -> np.ndarray:
    """Clean an index mask class by class (see the module docstring for the conventions).

    Args:
        labels: ``(H, W)`` integer class indices.
        keep_largest: keep only the largest region of each non-background class; the other
            regions become ``background``.
        fill: give each non-background class the background pixels of its holes (after
            ``keep_largest`` has run for all classes).
        background: the background class index, left as it is.

    Returns:
        ``(H, W)`` of ``labels``'s dtype; ``labels`` itself is not changed.

    Example:
        >>> labels = np.array([[1, 1, 0, 0, 1], [1, 0, 1, 0, 0], [1, 1, 1, 0, 0]])
        >>> clean_labels(labels, keep_largest=True, fill=True)
        array([[1, 1, 0, 0, 0],
               [1, 1, 1, 0, 0],
               [1, 1, 1, 0, 0]])
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 2-D integer index mask; got shape {labels.shape}, {labels.dtype}"
        )
    out = labels.copy()
    if not (keep_largest or fill):
        return out
    classes = [value for value in np.unique(labels) if value != background]
    if keep_largest:
        for value in classes:
            region = out == value
            out[region & ~largest_component(region)] = background
    # Filling runs after every class has lost its small regions, so that a removed island
    # inside another class's region is filled like any hole.
    if fill:
        for value in classes:
            out[fill_holes(out == value) & (out == background)] = value
    return out


def clean_multilabel(
    masks: np.ndarray, *, keep_largest: bool = False, fill: bool = False
) -> np.ndarray:
    """Clean each label of a multi-label mask on its own.

    Args:
        masks: ``(K, H, W)`` bool, one binary mask per label.
        keep_largest: keep only the largest region of each label.
        fill: fill each label's holes (after ``keep_largest``).

    Returns:
        ``(K, H, W)`` bool.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (K, H, W); got shape {masks.shape}")
    out = masks.astype(bool, copy=True)
    for index in range(len(out)):
        if keep_largest:
            out[index] = largest_component(out[index])
        if fill:
            out[index] = fill_holes(out[index])
    return out


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W); got shape {mask.shape}")
    return mask.astype(bool, copy=False)
