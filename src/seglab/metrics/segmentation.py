"""Unsupervised segmentation metrics: a label map against one or several human segmentations.

These compare *partitions*, not classes: label values are arbitrary names, so a segmentation and
any relabelling of it score the same. Every metric is computed from the contingency table of the
two label maps (pixel counts of each pair of labels), in O(N) memory and time, never from the
O(N^2) pixel pairs. With several ground truths (BSDS500 has 4 to 9 annotators per image) the
value is the mean over the ground truths, as in the BSDS benchmark code.

Definitions (``S`` = the segmentation, ``G`` = one ground truth, ``N`` pixels,
``n_ij`` = pixels in segment ``i`` and ground-truth region ``j``, ``a_i`` and ``b_j`` the row and
column sums):

- Segmentation covering (Arbelaez et al., "Contour Detection and Hierarchical Image
  Segmentation", TPAMI 2011, Sec. 3.2): ``C(S -> G) = 1/N sum_{R in G} |R| max_{R' in S} O(R, R')``
  with ``O`` the intersection over union of two regions. This is the covering *of the ground
  truth by the segmentation*, the direction the BSDS benchmark reports ("GT covering"). Each
  ground-truth region is matched to its best segment; higher is better, 1 is perfect.
- Probabilistic Rand index (Unnikrishnan, Pantofaru, Hebert, TPAMI 2007): the fraction of pixel
  pairs ``i < j`` on which ``S`` and ``G`` agree (both together or both apart), averaged over the
  ground truths. Averaging the Rand index over ground truths equals the PRI with
  ``p_ij`` = the fraction of annotators that put pixels ``i`` and ``j`` together, because the
  PRI is linear in ``p_ij``. Per ground truth,
  ``RI = 1 - (sum a_i^2 / 2 + sum b_j^2 / 2 - sum n_ij^2) / C(N, 2)``, the same formula as the
  BSDS benchmark code.
- Variation of information (Meila, "Comparing clusterings: an information based distance",
  J. Multivariate Analysis 2007): ``VI = H(S) + H(G) - 2 I(S; G) = H(S | G) + H(G | S)``, in
  **nats** (natural log) by default; lower is better, 0 is perfect. The BSDS benchmark code and
  ``skimage.metrics.variation_of_information`` use ``log2`` (bits): pass ``base=2`` to compare
  with published BSDS tables.
- Adjusted Rand index (Hubert and Arabie, J. Classification 1985): the Rand index corrected for
  chance, 1 for identical partitions and about 0 for independent ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "segmentation_covering",
    "probabilistic_rand_index",
    "variation_of_information",
    "adjusted_rand_index",
]

# Above this many (segment, region) cells a dense bincount table would waste memory; the sparse
# path (np.unique over pair codes) is used instead.
_DENSE_TABLE_LIMIT = 1 << 22


class _Contingency:
    """Sparse contingency table of two label maps of the same shape.

    Attributes:
        rows, cols: label indices (0-based, compact) of the non-empty cells.
        counts: pixel count of each non-empty cell.
        row_sizes, col_sizes: pixel count of each label of the first and second map.
        total: number of pixels.
    """

    def __init__(self, first: np.ndarray, second: np.ndarray) -> None:
        first_inverse, num_first = _compact(first)
        second_inverse, num_second = _compact(second)
        if num_first * num_second <= _DENSE_TABLE_LIMIT:
            codes = first_inverse * num_second + second_inverse
            table = np.bincount(codes, minlength=num_first * num_second)
            cells = np.flatnonzero(table)
            counts = table[cells]
        else:
            codes = first_inverse * np.int64(num_second) + second_inverse
            cells, counts = np.unique(codes, return_counts=True)
        self.rows = cells // num_second
        self.cols = cells % num_second
        self.counts = counts.astype(np.int64)
        self.row_sizes = np.bincount(first_inverse, minlength=num_first).astype(np.int64)
        self.col_sizes = np.bincount(second_inverse, minlength=num_second).astype(np.int64)
        self.total = int(first.size)


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary integer labels to ``0 .. K-1`` (flattened), and return ``K``."""
    flat = labels.ravel()
    low, high = int(flat.min()), int(flat.max())
    if high - low < 4 * flat.size + 1024:
        # A lookup table is O(N), where np.unique would sort.
        present = np.zeros(high - low + 1, dtype=bool)
        present[flat - low] = True
        lookup = np.cumsum(present) - 1
        return lookup[flat - low].astype(np.int64), int(present.sum())
    values, inverse = np.unique(flat, return_inverse=True)
    return inverse.astype(np.int64).ravel(), int(values.size)


def _check_labels(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer labels, got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def _prepare(seg: np.ndarray, gts: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, list]:
    """Validate ``seg`` and turn ``gts`` (one map, a stack or a list of maps) into a list."""
    seg = _check_labels(seg, "seg")
    if isinstance(gts, np.ndarray) and gts.ndim == seg.ndim:
        gts = [gts]
    elif isinstance(gts, np.ndarray) and gts.ndim == seg.ndim + 1:
        gts = list(gts)
    elif isinstance(gts, np.ndarray):
        raise ValueError(
            f"gts must be one label map of shape {seg.shape} or a stack of them, "
            f"got shape {gts.shape}"
        )
    gts = [_check_labels(gt, "each ground truth") for gt in gts]
    if not gts:
        raise ValueError("gts is empty: give at least one ground-truth label map")
    for gt in gts:
        if gt.shape != seg.shape:
            raise ValueError(f"ground truth shape {gt.shape} differs from seg shape {seg.shape}")
    return seg, gts


def segmentation_covering(seg: np.ndarray, gts: np.ndarray | Sequence[np.ndarray]) -> float:
    """Covering of the ground truth by a segmentation, averaged over ground truths (BSDS).

    ``C(S -> G) = 1/N sum_{R in G} |R| max_{R' in S} |R & R'| / |R | R'|`` (Arbelaez et al., TPAMI
    2011). The mean over several ground truths equals the BSDS benchmark's per-image value, which
    pools the regions of all annotators weighted by their area.

    Args:
        seg: ``(H, W)`` integer label map (any label values).
        gts: one ``(H, W)`` ground-truth label map, a ``(K, H, W)`` stack, or a list of maps.

    Returns:
        Covering in [0, 1]; higher is better.

    Raises:
        TypeError: if a label map is not integer (or bool).
        ValueError: if maps are empty, shapes differ, or ``gts`` is empty.

    Example:
        >>> import numpy as np
        >>> seg = np.array([[0, 0, 1, 1]])
        >>> round(segmentation_covering(seg, np.array([[0, 0, 0, 1]])), 4)
        0.625
    """
    seg, gts = _prepare(seg, gts)
    values = []
    for gt in gts:
        table = _Contingency(gt, seg)
        union = table.row_sizes[table.rows] + table.col_sizes[table.cols] - table.counts
        overlap = table.counts / union
        best = np.zeros(table.row_sizes.size)
        np.maximum.at(best, table.rows, overlap)
        values.append(float(np.sum(table.row_sizes * best)) / table.total)
    return float(np.mean(values))


def _rand_index(table: _Contingency) -> float:
    n = table.total
    if n < 2:
        return 1.0  # no pixel pair to disagree on
    # Work in float64: the sums of squares overflow int64 only past ~3e9 pixels, but the
    # products below are cheap either way.
    row_sq = float(np.sum(table.row_sizes.astype(np.float64) ** 2))
    col_sq = float(np.sum(table.col_sizes.astype(np.float64) ** 2))
    cell_sq = float(np.sum(table.counts.astype(np.float64) ** 2))
    pairs = n * (n - 1) / 2.0
    return 1.0 - (row_sq / 2.0 + col_sq / 2.0 - cell_sq) / pairs


def probabilistic_rand_index(seg: np.ndarray, gts: np.ndarray | Sequence[np.ndarray]) -> float:
    """Probabilistic Rand index: the Rand index of ``seg`` averaged over the ground truths.

    Counts agreements over unordered pixel pairs ``i < j`` (Unnikrishnan et al., TPAMI 2007),
    from the contingency table in O(N).

    Args:
        seg: ``(H, W)`` integer label map.
        gts: one ``(H, W)`` ground-truth label map, a ``(K, H, W)`` stack, or a list of maps.

    Returns:
        PRI in [0, 1]; higher is better. A single pixel gives 1.

    Raises:
        TypeError: if a label map is not integer (or bool).
        ValueError: if maps are empty, shapes differ, or ``gts`` is empty.

    Example:
        >>> import numpy as np
        >>> seg = np.array([[0, 0, 1, 1]])
        >>> probabilistic_rand_index(seg, np.array([[0, 0, 0, 1]]))
        0.5
    """
    seg, gts = _prepare(seg, gts)
    return float(np.mean([_rand_index(_Contingency(seg, gt)) for gt in gts]))


def _variation_of_information(table: _Contingency, base: float) -> float:
    n = float(table.total)
    joint = table.counts / n
    p_seg = table.row_sizes[table.rows] / n
    p_gt = table.col_sizes[table.cols] / n
    # H(S|G) + H(G|S) = -sum p_ij [log(p_ij / p_j) + log(p_ij / p_i)], over non-empty cells only.
    nats = -float(np.sum(joint * (np.log(joint / p_gt) + np.log(joint / p_seg))))
    return max(nats, 0.0) / math.log(base)


def variation_of_information(
    seg: np.ndarray, gts: np.ndarray | Sequence[np.ndarray], *, base: float = math.e
) -> float:
    """Variation of information ``H(S|G) + H(G|S)`` averaged over the ground truths.

    Meila (2007). In nats by default; the BSDS benchmark code reports bits (``base=2``).

    Args:
        seg: ``(H, W)`` integer label map.
        gts: one ``(H, W)`` ground-truth label map, a ``(K, H, W)`` stack, or a list of maps.
        base: logarithm base: ``math.e`` (nats, default) or ``2`` (bits, as BSDS).

    Returns:
        VI >= 0; lower is better, 0 for identical partitions.

    Raises:
        TypeError: if a label map is not integer (or bool).
        ValueError: if maps are empty, shapes differ, ``gts`` is empty, or ``base <= 1``.

    Example:
        >>> import numpy as np
        >>> seg = np.array([[0, 0, 1, 1]])
        >>> variation_of_information(seg, np.array([[0, 0, 1, 1]]))
        0.0
    """
    if not base > 1:
        raise ValueError(f"base must be > 1 (e.g. math.e or 2), got {base}")
    seg, gts = _prepare(seg, gts)
    return float(np.mean([_variation_of_information(_Contingency(seg, gt), base) for gt in gts]))


def adjusted_rand_index(seg: np.ndarray, gt: np.ndarray) -> float:
    """Adjusted Rand index between two label maps (Hubert and Arabie, 1985).

    Args:
        seg: integer label map.
        gt: integer label map of the same shape (any partition, not only a ground truth).

    Returns:
        ARI in [-1, 1]: 1 for identical partitions (up to relabelling), about 0 by chance.
        When both maps are a single region, or both put every pixel apart, the partitions are
        identical and the result is 1.

    Raises:
        TypeError: if a label map is not integer (or bool).
        ValueError: if a map is empty or the shapes differ.

    Example:
        >>> import numpy as np
        >>> adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2]))
        1.0
    """
    seg = _check_labels(seg, "seg")
    gt = _check_labels(gt, "gt")
    if gt.shape != seg.shape:
        raise ValueError(f"gt shape {gt.shape} differs from seg shape {seg.shape}")
    table = _Contingency(seg, gt)
    pairs_cells = float(np.sum(table.counts * (table.counts - 1) / 2.0))
    pairs_rows = float(np.sum(table.row_sizes * (table.row_sizes - 1) / 2.0))
    pairs_cols = float(np.sum(table.col_sizes * (table.col_sizes - 1) / 2.0))
    n = table.total
    pairs = n * (n - 1) / 2.0
    expected = pairs_rows * pairs_cols / pairs if pairs > 0 else 0.0
    maximum = (pairs_rows + pairs_cols) / 2.0
    if maximum == expected:
        # Only when both maps are one region, or both are all singletons (or one pixel): the
        # partitions are then identical and the chance correction is 0 / 0.
        return 1.0
    return (pairs_cells - expected) / (maximum - expected)
