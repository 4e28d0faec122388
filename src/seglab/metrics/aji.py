"""Nuclei-benchmark instance metrics on label maps: AJI and the DSB 2018 score.

Both compare two ``(H, W)`` instance label maps (0 = background, each positive id one object)
through one sparse contingency table of (GT id, predicted id) overlaps, built with a single
``np.unique`` over the image; no Python loop runs over pixels or instances.

- **Aggregated Jaccard Index** (Kumar et al., "A dataset and a technique for generalized nuclear
  segmentation for computational pathology", IEEE TMI 2017): for each GT object, the predicted
  object of highest IoU is chosen (ties go to the lowest predicted id); its intersection is
  added to C and its union to U. A GT object that overlaps no prediction adds its own area to
  U. Finally the areas of predicted objects chosen by no GT object are added to U, and
  AJI = C / U. A prediction may be chosen by several GT objects and then counts in each union.
  This is the common ``get_fast_aji`` variant of the nuclei benchmarks (HoVer-Net, MoNuSeg);
  Kumar's original pairs a non-overlapping GT object with an arbitrary prediction.
- **DSB 2018 score** (Kaggle Data Science Bowl 2018): at each IoU threshold t in
  0.50:0.05:0.95, a GT and a predicted object match when IoU > t (unique for t >= 0.5);
  score(t) = TP / (TP + FP + FN); the image score is the mean over thresholds. The competition
  averaged image scores over images.

Both are NaN when both maps are empty (the ratio is 0 / 0).

Example:
    >>> target = np.array([[1, 1, 0, 2, 2]])
    >>> pred = np.array([[1, 1, 1, 0, 0]])
    >>> aggregated_jaccard_index(pred, target)  # C = 2, U = 3 + 2 (GT 2 unmatched)
    0.4
"""

from __future__ import annotations

import numpy as np

from seglab.annotations.instances import check_label_map

__all__ = ["aggregated_jaccard_index", "dsb_score", "instance_match_counts", "DSB_IOU_THRESHOLDS"]

DSB_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _overlaps(pred, target) -> tuple[np.ndarray, ...]:
    """Areas and the sparse overlap table of two label maps.

    Returns:
        ``gt_area (G,)``, ``pred_area (P,)``, and for every overlapping pair of objects
        ``g``, ``p`` (0-based indices in increasing id order) and ``intersection``.
    """
    pred = check_label_map(pred, "pred")
    target = check_label_map(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} differs from target shape {target.shape}")
    gt_index, gt_area = _compact(target.reshape(-1))
    pred_index, pred_area = _compact(pred.reshape(-1))
    num_pred = len(pred_area)
    keys = gt_index * (num_pred + 1) + pred_index
    num_keys = (len(gt_area) + 1) * (num_pred + 1)
    if num_keys <= 4 * keys.size:
        counts = np.bincount(keys, minlength=num_keys)
        pairs = np.flatnonzero(counts)
        counts = counts[pairs]
    else:  # too many objects for a dense table: sort instead
        pairs, counts = np.unique(keys, return_counts=True)
    g, p = np.divmod(pairs, num_pred + 1)
    both = (g > 0) & (p > 0)
    return gt_area, pred_area, g[both] - 1, p[both] - 1, counts[both]


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber ids to 0 (background), 1..N in increasing id order; return them and the areas.

    A ``bincount`` is O(pixels + max id), much faster than sorting the pixels with
    ``np.unique``; huge ids fall back to sorting.
    """
    top = int(labels.max()) if labels.size else 0
    if top <= 4 * labels.size:
        areas = np.bincount(labels, minlength=top + 1)
        present = areas > 0
        present[0] = True
        new_index = np.cumsum(present) - 1
        return new_index[labels], areas[1:][present[1:]]
    ids, inverse, areas = np.unique(labels, return_inverse=True, return_counts=True)
    shift = int(ids[0] != 0)
    inverse = inverse.reshape(-1) + shift
    return inverse, areas[ids > 0]


def aggregated_jaccard_index(pred: np.ndarray, target: np.ndarray) -> float:
    """Aggregated Jaccard Index of two instance label maps (see the module docstring).

    Args:
        pred: ``(H, W)`` predicted instance ids, 0 = background.
        target: ``(H, W)`` GT instance ids, 0 = background.

    Returns:
        AJI in [0, 1]; NaN when both maps are empty.

    Raises:
        ValueError: if the shapes differ or a map is not 2-D or has negative ids.
        TypeError: if a map is not integer.
    """
    gt_area, pred_area, g, p, intersection = _overlaps(pred, target)
    union = gt_area[g] + pred_area[p] - intersection
    iou = intersection / union
    # Best prediction per GT object: sort by GT, then IoU descending, then lowest pred index.
    order = np.lexsort((p, -iou, g))
    first = np.ones(len(order), bool)
    first[1:] = g[order][1:] != g[order][:-1]
    best = order[first]
    chosen_pred = np.zeros(len(pred_area), bool)
    chosen_pred[p[best]] = True
    paired_gt = np.zeros(len(gt_area), bool)
    paired_gt[g[best]] = True
    total_intersection = intersection[best].sum()
    total_union = union[best].sum() + gt_area[~paired_gt].sum() + pred_area[~chosen_pred].sum()
    if total_union == 0:
        return float("nan")
    return float(total_intersection / total_union)


def dsb_score(
    pred: np.ndarray, target: np.ndarray, *, thresholds: np.ndarray = DSB_IOU_THRESHOLDS
) -> float:
    """Kaggle DSB 2018 score of one image: mean over thresholds of TP / (TP + FP + FN).

    Args:
        pred: ``(H, W)`` predicted instance ids, 0 = background.
        target: ``(H, W)`` GT instance ids, 0 = background.
        thresholds: IoU thresholds; a match needs IoU > t. Values below 0.5 could match one
            object twice, so they are refused.

    Returns:
        The image score in [0, 1]; NaN when both maps are empty.

    Raises:
        ValueError: if a threshold is outside [0.5, 1), or for bad maps (see
            :func:`aggregated_jaccard_index`).

    Example:
        >>> dsb_score(np.array([[1, 1, 0, 2]]), np.array([[1, 1, 0, 0]]))  # 1 TP, 1 FP
        0.5
    """
    true_pos, num_target, num_pred = instance_match_counts(pred, target, thresholds=thresholds)
    if not num_target and not num_pred:
        return float("nan")
    scores = true_pos / (num_target + num_pred - true_pos)
    return float(scores.mean())


def instance_match_counts(
    pred: np.ndarray, target: np.ndarray, *, thresholds: np.ndarray = DSB_IOU_THRESHOLDS
) -> tuple[np.ndarray, int, int]:
    """Matched objects of two instance maps at each IoU threshold (a match needs IoU > t).

    Returns:
        ``true_pos (T,)`` int, the number of target objects and of predicted objects; the
        false negatives at threshold ``t`` are ``num_target - true_pos[t]``.

    Raises:
        ValueError: if a threshold is outside [0.5, 1) (below 0.5 one object could match
            twice), or for bad maps (see :func:`aggregated_jaccard_index`).

    Example:
        >>> instance_match_counts(np.array([[1, 1, 0, 2]]), np.array([[1, 1, 0, 0]]),
        ...                       thresholds=[0.5])
        (array([1]), 1, 2)
    """
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if not len(thresholds) or thresholds.min() < 0.5 or thresholds.max() >= 1.0:
        raise ValueError(
            f"thresholds must be in [0.5, 1) so that matches are unique, got {thresholds}"
        )
    gt_area, pred_area, g, p, intersection = _overlaps(pred, target)
    iou = intersection / (gt_area[g] + pred_area[p] - intersection)
    true_pos = (iou[None, :] > thresholds[:, None]).sum(axis=1)
    return true_pos, len(gt_area), len(pred_area)
