"""Panoptic fusion: semantic *stuff* plus instance *things* in one non-overlapping map.

:func:`fuse` takes a semantic class map and a set of instances (a detector's masks with scores,
or an instance label map such as :func:`seglab.classical.watershed_instances` produces) and
builds a panoptic segmentation in the COCO panoptic form: an ``(H, W)`` map of segment ids
(0 = void) and ``segments_info`` records (see :mod:`seglab.annotations.panoptic_format`).
It follows the usual heuristic (Kirillov et al. 2019, as in Panoptic FPN / Detectron2):

1. Instances are placed best score first. An instance keeps only the pixels that no better
   instance took; if fewer than ``overlap_threshold`` of its pixels remain, it is dropped.
2. Its category is the **majority vote** of the semantic classes under its kept pixels,
   counting thing classes only (ties go to the smallest class id). An instance that covers no
   thing-class pixel is dropped.
3. Each stuff class becomes one segment: its semantic pixels minus the instance pixels. A stuff
   segment smaller than ``min_stuff_area`` becomes void, as do thing-class pixels that no
   instance covers and pixels of ``ignore_index`` or of classes that are neither things nor
   stuff.

Segment ids are 1..N: instances first (in score order), then stuff (in class order).

Example:
    >>> semantic = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    >>> instance_labels = np.array([[0, 0, 1, 1], [0, 0, 1, 0]])
    >>> panoptic, segments = fuse(
    ...     semantic, instance_labels, thing_classes=[1], stuff_classes=[0], min_stuff_area=1
    ... )
    >>> panoptic.tolist()
    [[2, 2, 1, 1], [2, 2, 1, 0]]
    >>> [(s["id"], s["category_id"], s["area"]) for s in segments]
    [(1, 1, 3), (2, 0, 4)]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from seglab._checks import IGNORE_INDEX
from seglab.annotations.instances import Instances, labels_to_instances
from seglab.annotations.panoptic_format import make_segments_info
from seglab.convert import labels_to_numpy

__all__ = ["fuse"]


def fuse(
    semantic: np.ndarray,
    instances: Instances | np.ndarray,
    *,
    thing_classes: Iterable[int],
    stuff_classes: Iterable[int],
    min_stuff_area: int = 64,
    overlap_threshold: float = 0.5,
    score_threshold: float = 0.0,
    ignore_index: int | None = IGNORE_INDEX,
) -> tuple[np.ndarray, list[dict]]:
    """Fuse a semantic map and instances into a panoptic map (see the module docstring).

    Args:
        semantic: ``(H, W)`` int class map (NumPy or torch).
        instances: :class:`~seglab.annotations.instances.Instances` (masks may overlap; scores
            decide), or an ``(H, W)`` instance label map (0 = none; every instance scores 1).
        thing_classes: class ids of countable objects, taken from the instances.
        stuff_classes: class ids of amorphous regions, taken from ``semantic``.
        min_stuff_area: stuff segments with fewer pixels become void.
        overlap_threshold: an instance is dropped when less than this fraction of its mask is
            left after better instances took their pixels.
        score_threshold: instances scoring below this are dropped.
        ignore_index: semantic value that is void; ``None`` for none.

    Returns:
        ``(panoptic, segments_info)``: an ``(H, W)`` int32 id map (0 = void) and one
        ``{"id", "category_id", "iscrowd", "area", "bbox"}`` record per segment.

    Raises:
        ValueError: if the maps are not 2-D or differ in size, a class is both thing and
            stuff, or ``overlap_threshold`` is outside [0, 1].
        TypeError: if ``semantic`` is not integer.
    """
    semantic = labels_to_numpy(semantic)
    if semantic.ndim != 2:
        raise ValueError(f"semantic must be an (H, W) class map, got shape {semantic.shape}")
    if not np.issubdtype(semantic.dtype, np.integer):
        raise TypeError(f"semantic must hold integer class ids, got dtype {semantic.dtype}")
    semantic = semantic.astype(np.int64, copy=False)
    things = sorted({int(c) for c in thing_classes})
    stuff = sorted({int(c) for c in stuff_classes})
    both = set(things) & set(stuff)
    if both:
        raise ValueError(f"classes {sorted(both)} are listed as both thing and stuff")
    if not 0.0 <= overlap_threshold <= 1.0:
        raise ValueError(f"overlap_threshold must be in [0, 1], got {overlap_threshold}")
    if not isinstance(instances, Instances):
        instances = labels_to_instances(instances)
    if instances.image_size != semantic.shape:
        raise ValueError(
            f"instances are {instances.image_size} but the semantic map is {semantic.shape}"
        )

    panoptic = np.zeros(semantic.shape, np.int32)
    categories: dict[int, int] = {}
    # Semantic values outside the thing classes (stuff, void, other) get no vote.
    is_thing_pixel = np.isin(semantic, [c for c in things if c != ignore_index])
    taken = np.zeros(semantic.shape, bool)
    for index in np.argsort(-instances.scores, kind="stable"):
        if instances.scores[index] < score_threshold:
            continue
        mask = instances.masks[index]
        area = int(mask.sum())
        kept = mask & ~taken
        kept_area = int(kept.sum())
        if area == 0 or kept_area < overlap_threshold * area or kept_area == 0:
            continue
        votes = semantic[kept & is_thing_pixel]
        if not votes.size:
            continue
        values, counts = np.unique(votes, return_counts=True)
        segment_id = len(categories) + 1
        categories[segment_id] = int(values[np.argmax(counts)])
        panoptic[kept] = segment_id
        taken |= kept

    for category in stuff:
        if ignore_index is not None and category == ignore_index:
            continue
        region = (semantic == category) & ~taken
        if int(region.sum()) < max(min_stuff_area, 1):
            continue
        segment_id = len(categories) + 1
        categories[segment_id] = category
        panoptic[region] = segment_id
    return panoptic, make_segments_info(panoptic, categories)
