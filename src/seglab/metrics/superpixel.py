"""Superpixel metrics: boundary recall, undersegmentation error, achievable segmentation accuracy.

All three compare a superpixel label map ``labels`` with one human segmentation ``gt``, both
``(H, W)`` integer arrays whose values are arbitrary ids (negative ids are fine: ``-1`` outside a
``slic`` mask is just one more id). Every pixel counts. On BSDS500, which has several human
segmentations per image, average over them with :func:`mean_over_ground_truths`.

The region metrics come from the contingency table ``n[s, g] = |s ∩ g|``, built with one
``np.bincount``, so no Python loop runs over segments. References: Neubert & Protzel, "Superpixel
benchmark and comparison", 2012 (UE); Liu et al., "Entropy rate superpixel segmentation", CVPR
2011 (ASA); Stutz, Hermans & Leibe, "Superpixels: an evaluation of the state-of-the-art", CVIU
2018 (BR with a square tolerance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "boundary_mask",
    "boundary_recall",
    "undersegmentation_error",
    "achievable_segmentation_accuracy",
    "mean_over_ground_truths",
]


def _check_label_map(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (H, W) label map, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty, shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ValueError(f"{name} must hold integer ids, got dtype {array.dtype}")
    return array


def _check_pair(labels: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = _check_label_map(labels, "labels")
    gt = _check_label_map(gt, "gt")
    if labels.shape != gt.shape:
        raise ValueError(f"labels shape {labels.shape} does not match gt shape {gt.shape}")
    return labels, gt


def _dense_ids(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary integer ids to ``0..n-1`` (in increasing id order); return them and ``n``."""
    flat = array.ravel().astype(np.int64, copy=False)
    low, high = int(flat.min()), int(flat.max())
    if high - low < 4 * flat.size:
        # Ids in a compact range (the usual case): a presence table is O(N), no sort.
        shifted = flat - low
        present = np.bincount(shifted, minlength=high - low + 1) > 0
        remap = np.cumsum(present) - 1
        return remap[shifted], int(present.sum())
    unique, inverse = np.unique(flat, return_inverse=True)
    return inverse.ravel(), len(unique)


def _overlaps(labels: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero cells of the contingency table ``n[s, g] = |s ∩ g|``, sorted by superpixel.

    Returns:
        ``(s, counts, sizes)``: the superpixel index of each non-zero cell, the cell counts, and
        the size of every superpixel.
    """
    s_ids, num_s = _dense_ids(labels)
    g_ids, num_g = _dense_ids(gt)
    keys = s_ids * num_g + g_ids
    if num_s * num_g <= max(4 * keys.size, 1 << 20):
        table = np.bincount(keys, minlength=num_s * num_g)
        cells = np.flatnonzero(table)
        counts = table[cells]
    else:
        # Too many id pairs for a dense table (e.g. two over-segmentations): sort instead.
        cells, counts = np.unique(keys, return_counts=True)
    return cells // num_g, counts, np.bincount(s_ids, minlength=num_s)


def boundary_mask(labels: np.ndarray) -> np.ndarray:
    """Boundary pixels of a label map.

    A pixel is a boundary pixel when its right or its bottom neighbour has a different id. The
    boundary is thus one pixel thick and sits on the top/left side of each edge; the same rule
    is used for superpixels and ground truth.

    Args:
        labels: ``(H, W)`` integer label map.

    Returns:
        ``(H, W)`` bool array.

    Raises:
        ValueError: if ``labels`` is not a non-empty 2-D integer array.

    Example:
        >>> boundary_mask(np.array([[0, 0, 1], [0, 0, 1]])).astype(int)
        array([[0, 1, 0],
               [0, 1, 0]])
    """
    labels = _check_label_map(labels, "labels")
    edges = np.zeros(labels.shape, bool)
    edges[:, :-1] = labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edges


def boundary_recall(labels: np.ndarray, gt: np.ndarray, tolerance: int = 2) -> float:
    """Fraction of ground-truth boundary pixels that lie near a superpixel boundary.

    "Near" means within a ``(2 * tolerance + 1)²`` square (Chebyshev distance <= ``tolerance``),
    as in the superpixel benchmark of Stutz et al. (2018). Boundaries follow
    :func:`boundary_mask`. Higher is better.

    Args:
        labels: ``(H, W)`` superpixel ids.
        gt: ``(H, W)`` ground-truth segment ids.
        tolerance: allowed offset in pixels (an integer >= 0).

    Returns:
        Recall in [0, 1]; ``1.0`` when ``gt`` has a single segment (no boundary to recall).

    Raises:
        ValueError: on bad shapes or dtypes, or a negative or non-integer ``tolerance``.

    Example:
        >>> gt = np.repeat([[0, 0, 0, 1, 1, 1]], 4, axis=0)
        >>> boundary_recall(np.repeat([[0, 0, 0, 0, 1, 1]], 4, axis=0), gt, tolerance=1)
        1.0
        >>> boundary_recall(np.zeros((4, 6), int), gt, tolerance=1)
        0.0
    """
    labels, gt = _check_pair(labels, gt)
    if int(tolerance) != tolerance or tolerance < 0:
        raise ValueError(f"tolerance must be an integer >= 0, got {tolerance}")
    gt_edges = boundary_mask(gt)
    num_gt_edges = int(np.count_nonzero(gt_edges))
    if num_gt_edges == 0:
        return 1.0
    # A square maximum filter is separable, so this costs two 1-D passes whatever the tolerance.
    near = ndimage.maximum_filter(
        boundary_mask(labels).view(np.uint8), size=2 * int(tolerance) + 1, mode="constant"
    )
    return float(np.count_nonzero(gt_edges & (near > 0))) / num_gt_edges


def undersegmentation_error(labels: np.ndarray, gt: np.ndarray) -> float:
    """Undersegmentation error in the formulation of Neubert & Protzel (2012).

    ``UE = (1/N) * sum_g sum_{s ∩ g ≠ ∅} min(|s ∩ g|, |s \\ g|)``: each superpixel that straddles
    a ground-truth segment is charged its smaller side. Lower is better.

    Args:
        labels: ``(H, W)`` superpixel ids.
        gt: ``(H, W)`` ground-truth segment ids.

    Returns:
        UE in [0, 1] (a superpixel is charged at most its own size).

    Raises:
        ValueError: on bad shapes or dtypes.

    Example:
        >>> gt = np.array([[0, 0, 1, 1]])
        >>> # Superpixel 0 = 3 pixels straddles both segments: charged min(2, 1) + min(1, 2).
        >>> undersegmentation_error(np.array([[0, 0, 0, 1]]), gt)
        0.5
    """
    labels, gt = _check_pair(labels, gt)
    superpixel, inside, sizes = _overlaps(labels, gt)
    outside = sizes[superpixel] - inside
    return float(np.minimum(inside, outside).sum()) / labels.size


def achievable_segmentation_accuracy(labels: np.ndarray, gt: np.ndarray) -> float:
    """Achievable segmentation accuracy (Liu et al., 2011).

    The pixel accuracy of the best segmentation that can be built from the superpixels: each
    superpixel is given the ground-truth segment it overlaps most, ``ASA = sum_s max_g |s ∩ g|
    / N``. Higher is better.

    Args:
        labels: ``(H, W)`` superpixel ids.
        gt: ``(H, W)`` ground-truth segment ids.

    Returns:
        ASA in [0, 1].

    Raises:
        ValueError: on bad shapes or dtypes.

    Example:
        >>> achievable_segmentation_accuracy(np.array([[0, 0, 0, 1]]), np.array([[0, 0, 1, 1]]))
        0.75
    """
    labels, gt = _check_pair(labels, gt)
    superpixel, counts, _ = _overlaps(labels, gt)
    # Cells are sorted by superpixel and every superpixel has one, so reduceat takes row maxima.
    starts = np.flatnonzero(np.diff(superpixel, prepend=-1))
    return float(np.maximum.reduceat(counts, starts).sum()) / labels.size


def mean_over_ground_truths(
    metric: Callable[..., float],
    labels: np.ndarray,
    ground_truths: Sequence[np.ndarray],
    **kwargs,
) -> float:
    """Average ``metric(labels, gt, **kwargs)`` over several human segmentations of one image.

    This is how BSDS500 scores are reported: average over the image's annotators, then over
    images.

    Args:
        metric: one of the metrics of this module (or any ``(labels, gt) -> float``).
        labels: ``(H, W)`` superpixel ids.
        ground_truths: non-empty sequence of ``(H, W)`` ground-truth maps.
        **kwargs: passed to ``metric`` (e.g. ``tolerance``).

    Returns:
        The mean score.

    Raises:
        ValueError: if ``ground_truths`` is empty.

    Example:
        >>> gts = [np.array([[0, 0, 1, 1]]), np.array([[0, 0, 0, 1]])]
        >>> mean_over_ground_truths(achievable_segmentation_accuracy, np.array([[0, 0, 0, 1]]), gts)
        0.875
    """
    if len(ground_truths) == 0:
        raise ValueError("ground_truths is empty: need at least one ground-truth segmentation")
    return float(np.mean([metric(labels, gt, **kwargs) for gt in ground_truths]))
