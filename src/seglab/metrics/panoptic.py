"""Panoptic quality (PQ, SQ, RQ), following Kirillov et al. 2019 and the COCO panoptic API.

A panoptic segmentation is an ``(H, W)`` map of segment ids (0 = void) plus one record per
segment ``{"id", "category_id", "iscrowd"}`` (the ``segments_info`` of the COCO panoptic
format, see :mod:`seglab.annotations.panoptic_format`). Per image and category:

- A predicted and a ground-truth (GT) segment **match** when they have the same category and
  IoU > 0.5; such matches are unique by construction. Predicted pixels on GT void (id 0) are
  removed from the prediction before the IoU: ``union = |p| + |g| - |p & g| - |p & void|``.
- **TP** = matched pairs, **FN** = unmatched non-crowd GT segments, **FP** = unmatched
  predicted segments, except those with more than half of their area on GT void or on crowd GT
  regions of the same category, which are not counted. Crowd GT (``iscrowd=1``) is never
  matched and is never a false negative.
- Sums of TP, FP, FN and matched IoU are accumulated over all images (streaming, like the
  official ``pq_compute``), then per category ``PQ = sum IoU / (TP + FP/2 + FN/2)``,
  ``SQ = sum IoU / TP`` (0 without TP) and ``RQ = TP / (TP + FP/2 + FN/2)``; PQ = SQ x RQ.
- The overall, things and stuff figures are plain means over the categories that occur
  (TP + FP + FN > 0). Categories that never occur are NaN here (the official code gives them 0
  and leaves them out of the means too). A mean over no category is NaN (the official code
  divides by zero).

Differences from ``panopticapi`` that do not change results on valid COCO data: segment areas
are counted from the maps (the API reads the GT ``area`` field, which equals the count), and
several crowd regions of one category in an image are united (COCO has at most one).

Example:
    >>> target = np.array([[1, 1, 2, 2]])
    >>> pred = np.array([[1, 1, 1, 2]])
    >>> result = panoptic_quality(
    ...     pred, target,
    ...     pred_segments=[{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}],
    ...     target_segments=[{"id": 1, "category_id": 1}, {"id": 2, "category_id": 2}],
    ...     categories={1: True, 2: False},
    ... )
    >>> round(result["PQ"], 4), result["per_class"][2]["TP"]  # class 1: IoU 2/3; class 2: 1/2
    (0.3333, 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from seglab.convert import labels_to_numpy

__all__ = ["PanopticQuality", "panoptic_quality"]

VOID = 0


def _category_table(categories) -> dict[int, bool]:
    """``{category_id: isthing}`` from a mapping or a list of COCO category dicts."""
    if isinstance(categories, Mapping):
        table = {int(k): bool(v) for k, v in categories.items()}
    else:
        table = {}
        for k, category in enumerate(categories):
            if not isinstance(category, Mapping) or "id" not in category:
                raise ValueError(f"categories[{k}] must be a dict with 'id' and 'isthing'")
            table[int(category["id"])] = bool(category.get("isthing", 0))
    if not table:
        raise ValueError("categories is empty; give {category_id: isthing} for every class")
    return table


def _id_map(values, name: str) -> np.ndarray:
    values = labels_to_numpy(values)
    if values.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) segment-id map, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold integer segment ids, got dtype {values.dtype}")
    return values.astype(np.int64, copy=False)


def _segment_table(
    segments: Sequence[Mapping], id_map: np.ndarray, name: str, categories: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check records against the map; return the per-pixel segment index (0 = void, k + 1 =
    ``segments[k]``), and per segment its category, crowd flag and area."""
    ids = np.array([int(s["id"]) for s in segments], np.int64)
    category_ids = np.array([int(s["category_id"]) for s in segments], np.int64)
    crowd = np.array([int(s.get("iscrowd", 0)) == 1 for s in segments], bool)
    if len(set(ids.tolist())) != len(ids) or (ids == VOID).any():
        raise ValueError(f"{name} ids must be unique and non-zero (0 is void), got {ids.tolist()}")
    unknown = sorted(set(category_ids.tolist()) - set(categories))
    if unknown:
        raise ValueError(
            f"{name} use categories {unknown[:10]} that are not in categories "
            f"{sorted(categories)[:20]}"
        )
    present, inverse = np.unique(id_map, return_inverse=True)
    index_of_present = np.zeros(len(present), np.int64)  # 0 = void or unlisted
    if len(ids):
        order = np.argsort(ids)
        position = np.minimum(np.searchsorted(ids[order], present), len(ids) - 1)
        known = ids[order][position] == present
        index_of_present[known] = order[position[known]] + 1
    else:
        known = np.zeros(len(present), bool)
    unlisted = present[~known & (present != VOID)]
    if len(unlisted):
        raise ValueError(f"{name}: ids {unlisted[:10].tolist()} are in the map but not listed")
    missing = sorted(set(ids.tolist()) - set(present.tolist()))
    if missing:
        raise ValueError(f"{name}: listed ids {missing[:10]} have no pixels in the map")
    pixel_index = index_of_present[inverse.reshape(-1)]
    areas = np.bincount(pixel_index, minlength=len(ids) + 1)[1:]
    return pixel_index, category_ids, crowd, areas


class PanopticQuality:
    """Streaming PQ: call :meth:`update` once per image, then :meth:`compute`.

    Args:
        categories: ``{category_id: isthing}`` or a list of COCO category dicts with ``id``
            and ``isthing``.

    Raises:
        ValueError: if ``categories`` is empty or malformed.

    Example:
        >>> metric = PanopticQuality({1: True})
        >>> ids = np.array([[1, 1], [0, 0]])
        >>> metric.update(ids, ids, [{"id": 1, "category_id": 1}], [{"id": 1, "category_id": 1}])
        >>> metric.compute()["PQ"]
        1.0
    """

    def __init__(self, categories) -> None:
        self.categories = _category_table(categories)
        self._category_ids = np.array(sorted(self.categories), np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        size = len(self._category_ids)
        self.tp = np.zeros(size, np.int64)
        self.fp = np.zeros(size, np.int64)
        self.fn = np.zeros(size, np.int64)
        self.iou_sum = np.zeros(size, np.float64)
        self.num_images = 0

    def update(
        self,
        pred: np.ndarray,
        target: np.ndarray,
        pred_segments: Sequence[Mapping],
        target_segments: Sequence[Mapping],
    ) -> None:
        """Add one image.

        Args:
            pred: ``(H, W)`` predicted segment ids, 0 = unlabelled.
            target: ``(H, W)`` GT segment ids, 0 = void.
            pred_segments: ``[{"id", "category_id"}, ...]`` for every id in ``pred``.
            target_segments: ``[{"id", "category_id", "iscrowd"}, ...]`` for every id in
                ``target`` (``iscrowd`` defaults to 0).

        Raises:
            ValueError: if the shapes differ, an id in a map has no record, a record has no
                pixels, ids repeat, or a category is unknown.
            TypeError: if a map is not integer.
        """
        pred = _id_map(pred, "pred")
        target = _id_map(target, "target")
        if pred.shape != target.shape:
            raise ValueError(f"pred shape {pred.shape} differs from target shape {target.shape}")
        pred_index, pred_category, _, pred_area = _segment_table(
            pred_segments, pred, "pred_segments", self.categories
        )
        gt_index, gt_category, gt_crowd, gt_area = _segment_table(
            target_segments, target, "target_segments", self.categories
        )
        num_pred = len(pred_area)
        # Sparse contingency table: one count per (GT segment, predicted segment) pair present.
        pairs, counts = np.unique(gt_index * (num_pred + 1) + pred_index, return_counts=True)
        gt_of, pred_of = np.divmod(pairs, num_pred + 1)
        on_void = np.zeros(num_pred + 1, np.int64)
        is_void = gt_of == 0
        on_void[pred_of[is_void]] = counts[is_void]
        both = (gt_of > 0) & (pred_of > 0)
        g, p, intersection = gt_of[both] - 1, pred_of[both] - 1, counts[both]
        same_class = gt_category[g] == pred_category[p]
        union = pred_area[p] + gt_area[g] - intersection - on_void[p + 1]
        iou = intersection / union
        is_match = same_class & ~gt_crowd[g] & (iou > 0.5)

        gt_class = np.searchsorted(self._category_ids, gt_category)
        pred_class = np.searchsorted(self._category_ids, pred_category)
        size = len(self._category_ids)
        self.tp += np.bincount(gt_class[g[is_match]], minlength=size)
        self.iou_sum += np.bincount(gt_class[g[is_match]], weights=iou[is_match], minlength=size)
        gt_matched = np.zeros(len(gt_area), bool)
        gt_matched[g[is_match]] = True
        unmatched_gt = ~gt_matched & ~gt_crowd
        self.fn += np.bincount(gt_class[unmatched_gt], minlength=size)

        pred_matched = np.zeros(num_pred, bool)
        pred_matched[p[is_match]] = True
        # Pixels that do not count against an unmatched prediction: GT void, plus crowd GT of
        # the prediction's own class.
        excused = on_void[1:].astype(np.float64)
        on_crowd = same_class & gt_crowd[g]
        np.add.at(excused, p[on_crowd], intersection[on_crowd])
        counted = ~pred_matched & (excused / np.maximum(pred_area, 1) <= 0.5)
        self.fp += np.bincount(pred_class[counted], minlength=size)
        self.num_images += 1

    def compute(self) -> dict:
        """PQ, SQ and RQ overall, for things and for stuff, and per category.

        Returns:
            A dict with floats ``PQ``, ``SQ``, ``RQ`` and ints ``N`` (categories averaged),
            the same with suffix ``_th`` (things) and ``_st`` (stuff), and ``per_class``:
            ``{category_id: {"PQ", "SQ", "RQ", "TP", "FP", "FN"}}`` (NaN scores for a category
            that never occurred).
        """
        denominator = self.tp + 0.5 * self.fp + 0.5 * self.fn
        occurred = denominator > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            pq = np.where(occurred, self.iou_sum / denominator, np.nan)
            rq = np.where(occurred, self.tp / denominator, np.nan)
            sq = np.where(self.tp > 0, self.iou_sum / np.maximum(self.tp, 1), 0.0)
        sq = np.where(occurred, sq, np.nan)
        isthing = np.array([self.categories[int(c)] for c in self._category_ids], bool)
        result: dict = {}
        for suffix, selected in (("", np.ones_like(isthing)), ("_th", isthing), ("_st", ~isthing)):
            chosen = selected & occurred
            count = int(chosen.sum())
            for name, values in (("PQ", pq), ("SQ", sq), ("RQ", rq)):
                result[name + suffix] = float(values[chosen].mean()) if count else float("nan")
            result["N" + suffix] = count
        result["per_class"] = {
            int(c): {
                "PQ": float(pq[k]),
                "SQ": float(sq[k]),
                "RQ": float(rq[k]),
                "TP": int(self.tp[k]),
                "FP": int(self.fp[k]),
                "FN": int(self.fn[k]),
            }
            for k, c in enumerate(self._category_ids)
        }
        return result


def panoptic_quality(
    pred,
    target,
    *,
    pred_segments: Sequence,
    target_segments: Sequence,
    categories,
) -> dict:
    """PQ, SQ and RQ of one image or a list of images (see the module docstring).

    Args:
        pred: one ``(H, W)`` predicted id map, or a sequence of them.
        target: GT id map(s), matching ``pred``.
        pred_segments: the records of ``pred`` (a list of dicts, or one list per image).
        target_segments: the records of ``target``, likewise.
        categories: ``{category_id: isthing}`` or COCO category dicts.

    Returns:
        The dict of :meth:`PanopticQuality.compute`.

    Raises:
        ValueError: if the numbers of maps and record lists differ, or for bad input (see
            :meth:`PanopticQuality.update`).
    """
    metric = PanopticQuality(categories)
    if not isinstance(pred, (list, tuple)) and labels_to_numpy(pred).ndim == 2:
        metric.update(pred, target, pred_segments, target_segments)
        return metric.compute()
    lengths = {len(pred), len(target), len(pred_segments), len(target_segments)}
    if len(lengths) != 1:
        raise ValueError(
            f"got {len(pred)} pred maps, {len(target)} target maps, {len(pred_segments)} "
            f"pred segment lists and {len(target_segments)} target segment lists; give one "
            "of each per image"
        )
    for image in zip(pred, target, pred_segments, target_segments, strict=True):
        metric.update(*image)
    return metric.compute()
