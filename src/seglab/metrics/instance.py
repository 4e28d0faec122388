"""Instance-segmentation mask AP, following the COCO protocol exactly.

The numbers equal those of ``pycocotools.cocoeval.COCOeval(iouType="segm")`` (checked to 1e-6
on random cases in the tests), but the matching and accumulation here are an independent NumPy
implementation; only the mask IoUs come from :func:`pycocotools.mask.iou` (on RLE).

The protocol, as COCOeval implements it:

- **IoU thresholds** 0.50:0.05:0.95 (10), **recall points** 0:0.01:1 (101), **max detections**
  per image and class (1, 10, 100 by default; AP uses the last), **area ranges** all, small
  (area < 32²), medium (32² to 96²) and large (> 96²), bounds inclusive.
- Per image and class, detections are sorted by descending score with a stable sort (equal
  scores keep their input order) and cut to the largest max-detections value. Each detection,
  best first, is matched greedily to the unmatched ground truth (GT) of highest IoU >= the
  threshold (on equal IoU the later GT wins); regular GT is preferred to ignored GT.
- **Crowd GT** (``iscrowd=1``) is ignored: a detection matched to it is neither a true nor a
  false positive. Its IoU is intersection / area(detection), and any number of detections can
  match it.
- **Area ranges** use the GT record's ``area`` field (defaulting to its mask area) to decide
  which GT is ignored, and the detection's mask area for unmatched detections (an unmatched
  detection outside the range is ignored, a matched one takes the ignore flag of its GT).
- Per class, the detections of all images are pooled and sorted by score (stable; ties keep
  image order, then per-image order), precision is made monotone from the right and read at
  the 101 recall points (0 beyond the highest recall reached).
- **"AP" in COCO is already a mean over classes**: it averages precision over thresholds,
  recall points and every class that has at least one non-ignored GT. A class without GT has
  no AP (COCO stores -1; here it is NaN and left out). So this module reports ``per_class_AP``
  (the AP of one class at 0.50:0.95) and ``mAP`` = the mean of ``per_class_AP`` over classes
  with GT, which equals COCO's "AP".

Inputs are given per image, in a fixed image order (which decides ties across images): either
:class:`~seglab.annotations.instances.Instances` or lists of records ``{"segmentation": RLE or "mask":
(H, W) bool, "category_id", "score"}`` for predictions and ``{..., "iscrowd": 0/1, "area"}``
for ground truth. :func:`mask_ap_coco` takes a COCO GT dict and a COCO results list instead.

Example:
    >>> from seglab.annotations.instances import Instances
    >>> gt = Instances(np.pad(np.ones((1, 4, 4), bool), ((0, 0), (0, 4), (0, 4))))
    >>> result = mask_ap([gt], [gt])
    >>> [round(result[key], 6) for key in ("AP", "AP50", "APs", "APm")]  # no medium objects
    [1.0, 1.0, 1.0, nan]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as coco_mask

from seglab.annotations.instances import Instances

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_THRESHOLDS",
    "COCO_AREA_RANGES",
    "MaskAP",
    "mask_ap",
    "mask_ap_coco",
]

# The same float values as COCOeval's Params, so that IoU == threshold ties agree.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(
    0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True
)
COCO_AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
_AREA_BOUNDS = np.array(list(COCO_AREA_RANGES.values()))  # (A, 2)
_SHORT_AREA = {"small": "s", "medium": "m", "large": "l"}


@dataclass
class _Objects:
    """The instances of one image in evaluation form (RLEs, not pixel masks)."""

    rles: list
    category_ids: np.ndarray
    scores: np.ndarray
    iscrowd: np.ndarray
    areas: np.ndarray  # GT: the record's "area" field; detections: the mask area
    size: tuple[int, int] | None


@dataclass
class _PairEvaluation:
    """The matches of one (image, class) pair, for every area range and IoU threshold."""

    scores: np.ndarray  # (D,) sorted descending, D <= largest max_dets
    matched: np.ndarray  # (A, T, D) bool
    ignored: np.ndarray  # (A, T, D) bool
    num_regular_gt: np.ndarray  # (A,) GT that count (not crowd, inside the area range)


def _as_rle(record: Mapping, where: str) -> dict:
    if "segmentation" in record:
        segmentation = record["segmentation"]
        if not isinstance(segmentation, Mapping) or "counts" not in segmentation:
            raise ValueError(
                f"{where}: segmentation must be an RLE dict {{size, counts}}; convert polygons "
                "first (or use mask_ap_coco, which knows the image sizes)"
            )
        counts = segmentation["counts"]
        height, width = (int(v) for v in segmentation["size"])
        if isinstance(counts, list):
            return coco_mask.frPyObjects(dict(segmentation), height, width)
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        return {"size": [height, width], "counts": counts}
    if "mask" in record:
        mask = np.asarray(record["mask"])
        if mask.ndim != 2:
            raise ValueError(f"{where}: mask must be (H, W), got shape {mask.shape}")
        return coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    raise ValueError(f"{where}: a record needs a 'segmentation' (RLE) or a 'mask'")


def _objects(items, *, is_target: bool, where: str) -> _Objects:
    """Parse one image's Instances or list of records."""
    if isinstance(items, Instances):
        masks = items.masks.transpose(1, 2, 0).astype(np.uint8)
        rles = coco_mask.encode(np.asfortranarray(masks)) if len(items) else []
        areas = items.areas.astype(np.float64)
        return _Objects(
            list(rles),
            items.category_ids.astype(np.int64),
            items.scores.astype(np.float64),
            np.zeros(len(items), bool),
            areas,
            items.image_size,
        )
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes, Mapping)):
        raise TypeError(
            f"{where}: expected Instances or a list of records, got {type(items).__name__}"
        )
    rles, category_ids, scores, iscrowd, areas = [], [], [], [], []
    for k, record in enumerate(items):
        item = f"{where}[{k}]"
        if not isinstance(record, Mapping):
            raise TypeError(f"{item}: expected a dict record, got {type(record).__name__}")
        if "category_id" not in record:
            raise ValueError(f"{item}: missing 'category_id'")
        rle = _as_rle(record, item)
        rles.append(rle)
        category_ids.append(int(record["category_id"]))
        if is_target:
            crowd = record.get("iscrowd", 0)
            if crowd not in (0, 1):
                raise ValueError(f"{item}: iscrowd must be 0 or 1, got {crowd!r}")
            iscrowd.append(bool(crowd))
            area = record.get("area")
            areas.append(float(coco_mask.area(rle)) if area is None else float(area))
            scores.append(1.0)
        else:
            if "score" not in record:
                raise ValueError(f"{item}: a prediction needs a 'score'")
            scores.append(float(record["score"]))
            iscrowd.append(False)
            areas.append(float(coco_mask.area(rle)))
    sizes = {tuple(int(v) for v in rle["size"]) for rle in rles}
    if len(sizes) > 1:
        raise ValueError(f"{where}: masks of one image have different sizes {sorted(sizes)}")
    return _Objects(
        rles,
        np.asarray(category_ids, np.int64),
        np.asarray(scores, np.float64),
        np.asarray(iscrowd, bool),
        np.asarray(areas, np.float64),
        sizes.pop() if sizes else None,
    )


def _outside(areas: np.ndarray) -> np.ndarray:
    """``(A, n)``: is each area outside each COCO area range (bounds inclusive)?"""
    return (areas[None, :] < _AREA_BOUNDS[:, :1]) | (areas[None, :] > _AREA_BOUNDS[:, 1:])


def _match(
    ious: np.ndarray, gt_ignored: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of score-sorted detections, for all area ranges and thresholds.

    Args:
        ious: ``(D, G)`` IoU of each detection (best first) with each GT.
        gt_ignored: ``(A, G)`` GT ignored in each area range (crowd or outside the range).
        gt_crowd: ``(G,)`` crowd GT, which may be matched any number of times.
        thresholds: ``(T,)`` IoU thresholds.

    Returns:
        ``matched`` and ``matched_ignored_gt``, both ``(A, T, D)`` bool.
    """
    num_dets, num_gt = ious.shape
    num_areas = len(gt_ignored)
    matched = np.zeros((num_areas, len(thresholds), num_dets), bool)
    on_ignored = np.zeros_like(matched)
    if not num_dets or not num_gt:
        return matched, on_ignored
    # COCOeval compares against min(t, 1 - 1e-10) so that a perfect IoU of 1 still matches.
    limits = np.minimum(thresholds, 1 - 1e-10)
    taken = np.zeros((num_areas, len(thresholds), num_gt), bool)
    regular = ~gt_ignored[:, None, :]  # (A, 1, G)
    best_iou = ious.max(axis=1)
    # Reversed GT order makes argmax pick the *last* GT on equal IoU, as COCOeval does.
    reversed_ious = ious[:, ::-1]
    for d in np.nonzero(best_iou >= limits.min())[0]:
        row = reversed_ious[d]
        free = (row[None, :] >= limits[:, None])[None] & (~taken[..., ::-1] | gt_crowd[::-1])
        prefer = free & regular[..., ::-1]
        # Regular GT first; only when none is free does an ignored GT get the detection.
        candidates = np.where(prefer.any(axis=-1, keepdims=True), prefer, free)
        found = candidates.any(axis=-1)  # (A, T)
        if not found.any():
            continue
        pick = num_gt - 1 - np.argmax(np.where(candidates, row, -1.0), axis=-1)  # (A, T)
        area_index, threshold_index = np.nonzero(found)
        gt_index = pick[area_index, threshold_index]
        taken[area_index, threshold_index, gt_index] = True
        matched[area_index, threshold_index, d] = True
        on_ignored[area_index, threshold_index, d] = gt_ignored[area_index, gt_index]
    return matched, on_ignored


class MaskAP:
    """Streaming COCO mask AP: call :meth:`update` once per image, then :meth:`compute`.

    Only the matches of each image are kept, not its masks, so memory stays small.

    Args:
        max_dets: three increasing maximum numbers of detections per image and class; AP uses
            the last one, AR is reported for each. COCO uses ``(1, 10, 100)``; images with more
            objects (e.g. nuclei) need a larger last value.
        category_ids: classes to evaluate; detections and GT of other classes are dropped.
            Default: every class seen in the GT or the predictions.

    Raises:
        ValueError: if ``max_dets`` is not three increasing positive integers.

    Example:
        >>> from seglab.annotations.instances import Instances
        >>> metric = MaskAP()
        >>> square = np.zeros((1, 8, 8), bool)
        >>> square[0, 2:6, 2:6] = True
        >>> metric.update(Instances(square, scores=[0.8]), Instances(square))
        >>> round(metric.compute()["AP"], 6)
        1.0
    """

    def __init__(
        self,
        *,
        max_dets: Sequence[int] = (1, 10, 100),
        category_ids: Iterable[int] | None = None,
    ) -> None:
        max_dets = tuple(max_dets)
        if (
            len(max_dets) != 3
            or not all(isinstance(m, (int, np.integer)) and m > 0 for m in max_dets)
            or not max_dets[0] < max_dets[1] < max_dets[2]
        ):
            raise ValueError(
                f"max_dets must be three increasing positive integers, got {max_dets!r}"
            )
        self.max_dets = tuple(int(m) for m in max_dets)
        self.category_ids = None if category_ids is None else {int(c) for c in category_ids}
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._pairs: dict[int, list[_PairEvaluation]] = {}
        self.num_images = 0

    def update(self, pred, target) -> None:
        """Match one image's predictions to its ground truth.

        Args:
            pred: :class:`~seglab.annotations.instances.Instances` or a list of records with
                ``segmentation`` (RLE) or ``mask``, ``category_id`` and ``score``.
            target: :class:`~seglab.annotations.instances.Instances` or a list of records with
                ``segmentation`` or ``mask``, ``category_id``, optional ``iscrowd`` (0) and
                ``area`` (the mask area).

        Raises:
            ValueError: for a malformed record or masks of different sizes.
            TypeError: if an argument is neither Instances nor a list of dicts.
        """
        where = f"image {self.num_images}"
        dets = _objects(pred, is_target=False, where=f"{where} pred")
        gts = _objects(target, is_target=True, where=f"{where} target")
        if dets.size and gts.size and dets.size != gts.size:
            raise ValueError(
                f"{where}: prediction size {dets.size} differs from target size {gts.size}"
            )
        self.num_images += 1
        classes = set(dets.category_ids.tolist()) | set(gts.category_ids.tolist())
        if self.category_ids is not None:
            classes &= self.category_ids
        for category_id in sorted(classes):
            self._pairs.setdefault(category_id, []).append(
                self._evaluate_pair(dets, gts, category_id)
            )

    def _evaluate_pair(self, dets: _Objects, gts: _Objects, category_id: int) -> _PairEvaluation:
        det_index = np.nonzero(dets.category_ids == category_id)[0]
        gt_index = np.nonzero(gts.category_ids == category_id)[0]
        order = np.argsort(-dets.scores[det_index], kind="stable")
        det_index = det_index[order][: self.max_dets[-1]]
        crowd = gts.iscrowd[gt_index]
        if len(det_index) and len(gt_index):
            ious = np.asarray(
                coco_mask.iou(
                    [dets.rles[i] for i in det_index],
                    [gts.rles[j] for j in gt_index],
                    crowd.astype(np.uint8).tolist(),
                ),
                dtype=np.float64,
            ).reshape(len(det_index), len(gt_index))
        else:
            ious = np.zeros((len(det_index), len(gt_index)))
        gt_ignored = crowd[None, :] | _outside(gts.areas[gt_index])  # (A, G)
        matched, ignored = _match(ious, gt_ignored, crowd, COCO_IOU_THRESHOLDS)
        # An unmatched detection outside the area range does not count as a false positive.
        ignored |= ~matched & _outside(dets.areas[det_index])[:, None, :]
        return _PairEvaluation(dets.scores[det_index], matched, ignored, (~gt_ignored).sum(axis=1))

    def compute(self) -> dict:
        """The COCO summary, per-class AP and the raw precision/recall tables.

        Returns:
            A dict with floats ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``,
            ``AR{m}`` for each ``m`` in ``max_dets``, ``ARs``, ``ARm``, ``ARl`` and ``mAP``
            (NaN where undefined, e.g. ``APl`` without large GT); ``per_class_AP`` and
            ``per_class_AP50`` (``{category_id: float}``, NaN for a class without GT);
            ``stats``, the 12 values of ``COCOeval.stats`` in its order, with its -1 for
            undefined; ``precision`` ``(T, R, K, A, M)`` and ``recall`` ``(T, K, A, M)`` as in
            ``COCOeval.eval`` (-1 where undefined); ``category_ids``, the K classes in order.
        """
        categories = sorted(self._pairs if self.category_ids is None else self.category_ids)
        num_t, num_r = len(COCO_IOU_THRESHOLDS), len(COCO_RECALL_THRESHOLDS)
        num_a, num_m = len(COCO_AREA_RANGES), len(self.max_dets)
        precision = -np.ones((num_t, num_r, len(categories), num_a, num_m))
        recall = -np.ones((num_t, len(categories), num_a, num_m))
        for k, category_id in enumerate(categories):
            pairs = self._pairs.get(category_id, [])
            if pairs:
                self._accumulate(pairs, precision[:, :, k], recall[:, k])
        return _summarize(precision, recall, categories, self.max_dets)

    def _accumulate(
        self, pairs: list[_PairEvaluation], precision: np.ndarray, recall: np.ndarray
    ) -> None:
        """Fill ``precision[T, R, A, M]`` and ``recall[T, A, M]`` of one class in place."""
        scores = np.concatenate([p.scores for p in pairs])
        ranks = np.concatenate([np.arange(len(p.scores)) for p in pairs])
        matched = np.concatenate([p.matched for p in pairs], axis=-1)
        ignored = np.concatenate([p.ignored for p in pairs], axis=-1)
        num_regular = np.sum([p.num_regular_gt for p in pairs], axis=0)
        # One stable sort serves every max_dets: the kept subset keeps its relative order.
        order = np.argsort(-scores, kind="stable")
        for m, max_det in enumerate(self.max_dets):
            keep = order[ranks[order] < max_det]
            true_pos = matched[..., keep] & ~ignored[..., keep]  # (A, T, N)
            false_pos = ~matched[..., keep] & ~ignored[..., keep]
            tp_sum = np.cumsum(true_pos, axis=-1, dtype=np.float64)
            fp_sum = np.cumsum(false_pos, axis=-1, dtype=np.float64)
            num_dets = len(keep)
            for a in range(len(num_regular)):
                if num_regular[a] == 0:
                    continue
                rc = tp_sum[a] / num_regular[a]  # (T, N)
                pr = tp_sum[a] / (fp_sum[a] + tp_sum[a] + np.spacing(1))
                recall[:, a, m] = rc[:, -1] if num_dets else 0.0
                # Precision envelope: the best precision at any recall at least this high.
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                table = np.zeros((len(rc), len(COCO_RECALL_THRESHOLDS)))
                for t in range(len(rc)):
                    at = np.searchsorted(rc[t], COCO_RECALL_THRESHOLDS, side="left")
                    reached = at < num_dets
                    table[t, reached] = pr[t, at[reached]]
                precision[:, :, a, m] = table


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def _summarize(
    precision: np.ndarray, recall: np.ndarray, categories: list[int], max_dets: tuple
) -> dict:
    t50 = np.nonzero(COCO_IOU_THRESHOLDS == 0.5)[0]
    t75 = np.nonzero(COCO_IOU_THRESHOLDS == 0.75)[0]
    last = len(max_dets) - 1
    stats = [_mean_valid(precision[:, :, :, 0, last])]
    stats.append(_mean_valid(precision[t50][:, :, :, 0, last]))
    stats.append(_mean_valid(precision[t75][:, :, :, 0, last]))
    stats += [_mean_valid(precision[:, :, :, a, last]) for a in (1, 2, 3)]
    stats += [_mean_valid(recall[:, :, 0, m]) for m in range(len(max_dets))]
    stats += [_mean_valid(recall[:, :, a, last]) for a in (1, 2, 3)]
    stats = np.array(stats)
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    names += [f"AR{m}" for m in max_dets] + ["ARs", "ARm", "ARl"]
    result: dict = {
        name: (float(v) if v > -1 else float("nan")) for name, v in zip(names, stats, strict=True)
    }
    per_class = precision[:, :, :, 0, last]  # (T, R, K)
    per_class_ap = {}
    per_class_ap50 = {}
    for k, category_id in enumerate(categories):
        valid = per_class[0, 0, k] > -1
        per_class_ap[category_id] = float(per_class[:, :, k].mean()) if valid else float("nan")
        per_class_ap50[category_id] = (
            float(per_class[t50[0], :, k].mean()) if valid else float("nan")
        )
    defined = [v for v in per_class_ap.values() if not np.isnan(v)]
    result["mAP"] = float(np.mean(defined)) if defined else float("nan")
    result["per_class_AP"] = per_class_ap
    result["per_class_AP50"] = per_class_ap50
    result["stats"] = stats
    result["precision"] = precision
    result["recall"] = recall
    result["category_ids"] = list(categories)
    return result


def mask_ap(
    predictions: Sequence,
    ground_truths: Sequence,
    *,
    max_dets: Sequence[int] = (1, 10, 100),
    category_ids: Iterable[int] | None = None,
) -> dict:
    """COCO mask AP of a list of images (see the module docstring for the protocol).

    Args:
        predictions: one entry per image: :class:`~seglab.annotations.instances.Instances` or a list of
            ``{"segmentation" | "mask", "category_id", "score"}`` records.
        ground_truths: one entry per image, in the same order: Instances or a list of
            ``{"segmentation" | "mask", "category_id", "iscrowd", "area"}`` records.
        max_dets: three increasing max-detection counts; AP uses the last.
        category_ids: classes to evaluate (default: all classes seen).

    Returns:
        The dict of :meth:`MaskAP.compute`.

    Raises:
        ValueError: if the two lists differ in length, or for a malformed record.

    Example:
        >>> from seglab.annotations.instances import Instances
        >>> masks = np.zeros((2, 8, 8), bool)
        >>> masks[0, :4], masks[1, 4:] = True, True
        >>> result = mask_ap([Instances(masks[:1], scores=[0.9])], [Instances(masks)])
        >>> round(result["AP"], 4)  # one of two objects found: precision 1 up to recall 0.5
        0.505
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"got {len(predictions)} prediction entries but {len(ground_truths)} ground-truth "
            "entries; give one entry per image in both"
        )
    metric = MaskAP(max_dets=max_dets, category_ids=category_ids)
    for pred, target in zip(predictions, ground_truths, strict=True):
        metric.update(pred, target)
    return metric.compute()


def _coco_rle(segmentation, height: int, width: int) -> dict:
    """A COCO GT segmentation (polygons, RLE list or RLE string) as one pycocotools RLE."""
    if isinstance(segmentation, list):  # polygons, merged into one mask as COCO's annToRLE does
        return coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))
    return _as_rle({"segmentation": segmentation}, "segmentation")


def mask_ap_coco(
    ground_truth: Mapping, results: Sequence[Mapping], *, max_dets: Sequence[int] = (1, 10, 100)
) -> dict:
    """COCO mask AP from a COCO GT dict and a COCO results list (as ``COCOeval`` takes them).

    Images are taken in increasing id order and classes are those of
    ``ground_truth["categories"]`` (detections of other classes are dropped), as in COCOeval.
    GT polygons are rasterised with pycocotools.

    Args:
        ground_truth: dict with ``images`` (``id``, ``height``, ``width``), ``annotations``
            and ``categories``.
        results: ``[{"image_id", "category_id", "segmentation" (RLE), "score"}, ...]``.
        max_dets: three increasing max-detection counts; AP uses the last.

    Returns:
        The dict of :meth:`MaskAP.compute`.

    Raises:
        ValueError: if a result names an image that is not in the GT.
    """
    images = {int(image["id"]): image for image in ground_truth["images"]}
    gt_by_image: dict[int, list] = {image_id: [] for image_id in images}
    for annotation in ground_truth["annotations"]:
        image = images[int(annotation["image_id"])]
        record = dict(annotation)
        record["segmentation"] = _coco_rle(
            annotation["segmentation"], int(image["height"]), int(image["width"])
        )
        gt_by_image[int(annotation["image_id"])].append(record)
    dt_by_image: dict[int, list] = {image_id: [] for image_id in images}
    for k, result in enumerate(results):
        image_id = int(result["image_id"])
        if image_id not in dt_by_image:
            raise ValueError(f"results[{k}].image_id {image_id} is not an image of the GT")
        dt_by_image[image_id].append(result)
    metric = MaskAP(
        max_dets=max_dets, category_ids=[int(c["id"]) for c in ground_truth["categories"]]
    )
    for image_id in sorted(images):
        metric.update(dt_by_image[image_id], gt_by_image[image_id])
    return metric.compute()
