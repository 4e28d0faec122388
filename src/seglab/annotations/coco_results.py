"""COCO *results* files: the detections a model submits for instance-segmentation evaluation.

A results file is a JSON list with one record per detected instance::

    [{"image_id": 42, "category_id": 18, "score": 0.93,
      "segmentation": {"size": [H, W], "counts": "<compressed RLE>"}}, ...]

``counts`` is pycocotools' compressed RLE as an ASCII string (the form ``json`` can hold), so the
file loads unchanged in ``pycocotools.coco.COCO.loadRes`` and in :func:`seglab.metrics.mask_ap`.
RLE is encoded and decoded with :mod:`pycocotools.mask`.

Example:
    >>> from seglab.annotations.instances import Instances
    >>> instances = Instances(np.ones((1, 2, 2), bool), category_ids=[3], scores=[0.5])
    >>> results = instances_to_results(instances, image_id=7)
    >>> results[0]["segmentation"], results[0]["score"]
    ({'size': [2, 2], 'counts': '04'}, 0.5)
    >>> results_to_instances(results).masks.sum()
    np.int64(4)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from seglab.annotations._validate import check_pixels, fail, load_json, require, rle_counts
from seglab.annotations.instances import Instances, check_label_map, values_per_id
from seglab.io import atomic_write_bytes

__all__ = [
    "encode_masks",
    "encode_labels",
    "labels_to_results",
    "decode_segmentations",
    "instances_to_results",
    "results_to_instances",
    "group_results_by_image",
    "validate_coco_results",
    "read_coco_results",
    "write_coco_results",
]


def encode_masks(masks: np.ndarray) -> list[dict]:
    """Encode ``(N, H, W)`` binary masks as compressed RLEs with string ``counts``.

    Example:
        >>> encode_masks(np.ones((1, 2, 3), bool))
        [{'size': [2, 3], 'counts': '06'}]
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    if not len(masks):
        return []
    # One call for all masks: pycocotools wants a Fortran-ordered (H, W, N) uint8 array.
    rles = coco_mask.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [
        {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
        for rle in rles
    ]


def encode_labels(labels: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Encode every object of a label map as compressed RLE, without building dense masks.

    The runs of each id are read off the column-major pixel order in one vectorised pass, so
    the cost grows with the number of runs, not with objects x pixels.

    Args:
        labels: ``(H, W)`` int label map, 0 = background.

    Returns:
        ``(ids, rles)``: the positive ids in increasing order and one RLE dict (string
        ``counts``) per id, equal to pycocotools' encoding of ``labels == id``.

    Raises:
        ValueError: if ``labels`` is not 2-D or is negative.
        TypeError: if ``labels`` is not integer.

    Example:
        >>> ids, rles = encode_labels(np.array([[0, 7], [7, 7]]))
        >>> ids.tolist(), rles[0]
        ([7], {'size': [2, 2], 'counts': '13'})
    """
    labels = check_label_map(labels)
    height, width = labels.shape
    flat = labels.ravel(order="F")  # COCO RLE runs down the columns
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [flat.size]])
    values = flat[starts] if flat.size else np.zeros(0, np.int64)
    inside = values > 0
    starts, ends, values = starts[inside], ends[inside], values[inside]
    if not len(values):
        return np.zeros(0, np.int64), []
    order = np.argsort(values, kind="stable")  # runs grouped by id, in pixel order within
    starts, ends, values = starts[order], ends[order], values[order]
    first = np.concatenate([[True], values[1:] != values[:-1]])
    previous_end = np.concatenate([[0], ends[:-1]])
    previous_end[first] = 0
    # Uncompressed COCO counts alternate zeros and ones: gap, run, gap, run, ..., tail.
    pairs = np.stack([starts - previous_end, ends - starts], axis=1)
    group_starts = np.flatnonzero(first)
    group_ends = np.concatenate([group_starts[1:], [len(values)]])
    uncompressed = [
        {
            "size": [height, width],
            # pycocotools writes no trailing zero-length run, so neither do we.
            "counts": pairs[a:b].ravel().tolist()
            + ([int(flat.size - ends[b - 1])] if ends[b - 1] < flat.size else []),
        }
        for a, b in zip(group_starts, group_ends, strict=True)
    ]
    rles = coco_mask.frPyObjects(uncompressed, height, width)
    ids = values[group_starts].astype(np.int64)
    return ids, [{"size": [height, width], "counts": rle["counts"].decode("ascii")} for rle in rles]


def labels_to_results(
    labels: np.ndarray,
    image_id: int,
    *,
    category_ids: int | dict | np.ndarray = 1,
    scores: float | dict | np.ndarray = 1.0,
) -> list[dict]:
    """The result records of a label map's objects, in increasing id order.

    Args:
        labels: ``(H, W)`` int label map, 0 = background.
        image_id: the COCO image id.
        category_ids: one category, ``{id: category}``, or an array indexed by id.
        scores: one score, ``{id: score}``, or an array indexed by id.

    Returns:
        One ``{"image_id", "category_id", "segmentation", "score"}`` dict per object; these
        records are also accepted by :func:`seglab.metrics.mask_ap` (as predictions, and as
        ground truth with ``iscrowd`` 0 and the mask area as ``area``).

    Example:
        >>> labels_to_results(np.array([[0, 2]]), 5, scores={2: 0.5})[0]["score"]
        0.5
    """
    ids, rles = encode_labels(labels)
    categories = values_per_id(category_ids, ids, "category_ids", np.int64)
    values = values_per_id(scores, ids, "scores", np.float64)
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category),
            "segmentation": rle,
            "score": float(score),
        }
        for rle, category, score in zip(rles, categories, values, strict=True)
    ]


def _to_pycocotools(segmentation: dict) -> dict:
    """A JSON RLE (``counts`` str or list) as the bytes-counts dict pycocotools expects."""
    counts = segmentation["counts"]
    height, width = (int(v) for v in segmentation["size"])
    if isinstance(counts, list):
        return coco_mask.frPyObjects(segmentation, height, width)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [height, width], "counts": counts}


def decode_segmentations(segmentations: Sequence[dict]) -> np.ndarray:
    """Decode RLE segmentations of one image to ``(N, H, W)`` bool masks.

    Raises:
        ValueError: if the list is empty (the image size is unknown), the sizes differ, the
            size is over :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS`, or the counts are
            malformed, negative or do not add up to ``H * W`` (checked before pycocotools
            sees them).

    Example:
        >>> decode_segmentations([{"size": [2, 3], "counts": "06"}]).shape
        (1, 2, 3)
    """
    if not len(segmentations):
        raise ValueError("cannot decode an empty list of segmentations: the size is unknown")
    sizes = {tuple(int(v) for v in s["size"]) for s in segmentations}
    if len(sizes) != 1:
        raise ValueError(f"segmentations of one image must share one size, got {sorted(sizes)}")
    ((height, width),) = sizes
    check_pixels(height, width, "RLE", "size")
    for k, segmentation in enumerate(segmentations):
        rle_counts(segmentation["counts"], height, width, "RLE", f"[{k}].counts")
    rles = [_to_pycocotools(s) for s in segmentations]
    with warnings.catch_warnings():
        # pycocotools' decode trips a NumPy 2 DeprecationWarning (__array__ without copy=)
        # that the user can do nothing about.
        warnings.simplefilter("ignore", DeprecationWarning)
        masks = coco_mask.decode(rles)
    return masks.astype(bool).transpose(2, 0, 1)


def instances_to_results(instances: Instances, image_id: int) -> list[dict]:
    """The result records of one image's instances (empty masks are kept, with empty RLE).

    Args:
        instances: masks, category ids and scores of one image.
        image_id: the COCO image id.

    Returns:
        One ``{"image_id", "category_id", "segmentation", "score"}`` dict per instance.
    """
    segmentations = encode_masks(instances.masks)
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "segmentation": segmentation,
            "score": float(score),
        }
        for segmentation, category_id, score in zip(
            segmentations, instances.category_ids, instances.scores, strict=True
        )
    ]


def results_to_instances(
    results: Sequence[dict], *, height: int | None = None, width: int | None = None
) -> Instances:
    """Decode the result records of one image to :class:`~seglab.annotations.instances.Instances`.

    Args:
        results: records of a single image.
        height: image height; needed only when ``results`` is empty.
        width: image width; needed only when ``results`` is empty.

    Raises:
        ValueError: if the records belong to several images, or ``results`` is empty and no
            size is given.
    """
    if not len(results):
        if height is None or width is None:
            raise ValueError("results is empty: give height and width to build empty Instances")
        return Instances.empty(height, width)
    image_ids = {record["image_id"] for record in results}
    if len(image_ids) != 1:
        raise ValueError(
            f"results_to_instances takes the records of one image, got image ids "
            f"{sorted(image_ids)[:10]}; use group_results_by_image first"
        )
    masks = decode_segmentations([record["segmentation"] for record in results])
    return Instances(
        masks,
        [record["category_id"] for record in results],
        [record["score"] for record in results],
    )


def group_results_by_image(results: Iterable[dict]) -> dict[int, list[dict]]:
    """Split a results list by ``image_id`` (keeping the file's order within an image)."""
    grouped: dict[int, list[dict]] = {}
    for record in results:
        grouped.setdefault(record["image_id"], []).append(record)
    return grouped


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_coco_results(data: Any, source: str = "<results>") -> list[dict]:
    """Check the structure of a results list; errors name ``source`` and the field.

    Returns:
        ``data`` itself.

    Raises:
        ValueError: e.g. ``res.json: [3].score: expected a number, got 'high'``; also for a
            ``size`` over :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS` or ``counts`` that
            are malformed, negative or do not add up to ``H * W``.
    """
    if not isinstance(data, list):
        raise fail(source, "(top level)", "expected a JSON list of result records")
    for k, record in enumerate(data):
        field = f"[{k}]"
        for key in ("image_id", "category_id"):
            value = require(record, key, source, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(source, f"{field}.{key}", f"expected an integer, got {value!r}")
        score = require(record, "score", source, field)
        if not _is_number(score) or not np.isfinite(score):
            raise fail(source, f"{field}.score", f"expected a finite number, got {score!r}")
        segmentation = require(record, "segmentation", source, field)
        if not isinstance(segmentation, dict):
            raise fail(source, f"{field}.segmentation", "expected an RLE object {size, counts}")
        size = require(segmentation, "size", source, f"{field}.segmentation")
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
        ):
            raise fail(source, f"{field}.segmentation.size", f"expected [H, W], got {size!r}")
        counts = require(segmentation, "counts", source, f"{field}.segmentation")
        if not isinstance(counts, (str, list)):
            raise fail(
                source, f"{field}.segmentation.counts", "expected an RLE string or list of ints"
            )
        check_pixels(*size, source, f"{field}.segmentation.size")
        rle_counts(counts, *size, source, f"{field}.segmentation.counts")
    return data


def read_coco_results(path: str | os.PathLike) -> list[dict]:
    """Read and validate a COCO results JSON file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for invalid JSON or a bad record (the message names the file and field).
    """
    path = os.fspath(path)
    return validate_coco_results(load_json(path), os.path.basename(path))


def write_coco_results(path: str | os.PathLike, results: Sequence[dict]) -> None:
    """Validate ``results`` and write them as compact JSON, atomically."""
    results = list(results)
    validate_coco_results(results, os.path.basename(os.fspath(path)))
    atomic_write_bytes(path, json.dumps(results, separators=(",", ":")).encode("utf-8"))
