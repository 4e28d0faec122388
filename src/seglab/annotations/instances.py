"""Instance segmentations: two equivalent forms and the conversions between them.

An instance segmentation of one ``(H, W)`` image is held in one of two forms:

* a **label map**: an ``(H, W)`` int array where 0 is background and every object has its own
  positive id (ids need not be consecutive). Objects cannot overlap in this form.
* an :class:`Instances` list: ``N`` binary masks ``(N, H, W)`` with a category id and a score
  each. Masks may overlap (a detector's raw output usually does).

:func:`labels_to_instances` and :func:`instances_to_labels` convert between them. When a list
is rasterised, overlaps are resolved **by score**: each pixel goes to the highest-scoring
instance that covers it (ties go to the instance listed first), so a low-scoring instance can
lose pixels, or vanish entirely, under a better one.

Example:
    >>> labels = np.array([[0, 1, 1], [0, 0, 2]])
    >>> instances = labels_to_instances(labels, category_ids={1: 7, 2: 9})
    >>> len(instances), instances.category_ids.tolist(), instances.areas.tolist()
    (2, [7, 9], [2, 1])
    >>> instances_to_labels(instances).tolist()
    [[0, 1, 1], [0, 0, 2]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from seglab.convert import labels_to_numpy

__all__ = [
    "Instances",
    "labels_to_instances",
    "instances_to_labels",
    "mean_per_instance",
    "check_label_map",
    "values_per_id",
]


@dataclass
class Instances:
    """A list of instances of one image: masks, category ids and scores.

    Attributes:
        masks: ``(N, H, W)`` bool masks (may overlap).
        category_ids: ``(N,)`` int64 category (class) id of each instance.
        scores: ``(N,)`` float64 confidence of each instance; 1.0 for ground truth.

    Raises:
        ValueError: if ``masks`` is not 3-D or the lengths of the three fields differ.

    Example:
        >>> instances = Instances(np.ones((1, 2, 2), bool), category_ids=[3], scores=[0.9])
        >>> instances.boxes.tolist()
        [[0, 0, 2, 2]]
    """

    masks: np.ndarray
    category_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    scores: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.masks = np.asarray(self.masks).astype(bool, copy=False)
        if self.masks.ndim != 3:
            raise ValueError(f"masks must be (N, H, W), got shape {self.masks.shape}")
        count = len(self.masks)
        if self.category_ids is None:
            self.category_ids = np.ones(count, np.int64)
        if self.scores is None:
            self.scores = np.ones(count, np.float64)
        self.category_ids = np.asarray(self.category_ids, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if len(self.category_ids) != count or len(self.scores) != count:
            raise ValueError(
                f"got {count} masks but {len(self.category_ids)} category ids and "
                f"{len(self.scores)} scores; they must have one entry per mask"
            )

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index) -> Instances:
        """Select instances with an int, a slice, an index array or a boolean array."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Instances(self.masks[index], self.category_ids[index], self.scores[index])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @property
    def areas(self) -> np.ndarray:
        """``(N,)`` int64 pixel count of each mask."""
        return self.masks.reshape(len(self), -1).sum(axis=1, dtype=np.int64)

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` int64 COCO boxes ``[x, y, width, height]``; zeros for an empty mask."""
        boxes = np.zeros((len(self), 4), np.int64)
        rows_any = self.masks.any(axis=2)  # (N, H)
        cols_any = self.masks.any(axis=1)  # (N, W)
        present = rows_any.any(axis=1)
        if present.any():
            height, width = self.image_size
            y0 = rows_any[present].argmax(axis=1)
            y1 = height - rows_any[present][:, ::-1].argmax(axis=1)
            x0 = cols_any[present].argmax(axis=1)
            x1 = width - cols_any[present][:, ::-1].argmax(axis=1)
            boxes[present] = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        return boxes

    @classmethod
    def empty(cls, height: int, width: int) -> Instances:
        """No instances on an ``(height, width)`` image."""
        return cls(np.zeros((0, height, width), bool))


def check_label_map(labels, name: str = "labels") -> np.ndarray:
    labels = labels_to_numpy(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) label map, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise TypeError(f"{name} must hold integer instance ids, got dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must be >= 0 (0 = background), got min {labels.min()}")
    return labels


def labels_to_instances(
    labels: np.ndarray,
    *,
    category_ids: int | Mapping[int, int] | np.ndarray = 1,
    scores: float | Mapping[int, float] | np.ndarray = 1.0,
) -> Instances:
    """Split a label map into one mask per instance id, in increasing id order.

    Args:
        labels: ``(H, W)`` int label map, 0 = background, each positive id one instance.
        category_ids: one category for all instances, a mapping ``{instance id: category}``,
            or an array indexed by instance id (``category_ids[id]``).
        scores: one score for all, a mapping ``{instance id: score}``, or an array indexed
            by instance id.

    Returns:
        :class:`Instances` with ``N`` = number of distinct positive ids.

    Raises:
        ValueError: if ``labels`` is not 2-D or negative, or a mapping misses an id.
        TypeError: if ``labels`` is not integer.

    Example:
        >>> labels_to_instances(np.array([[0, 5], [5, 2]])).areas.tolist()
        [1, 2]
    """
    labels = check_label_map(labels)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    masks = np.zeros((len(ids), *labels.shape), bool)
    if len(ids):
        # Compare only inside each object's bounding box: N full-image comparisons would cost
        # N * H * W for images with hundreds of small objects (nuclei).
        boxes = ndimage.find_objects(labels, max_label=int(ids[-1]))
        for k, object_id in enumerate(ids):
            box = boxes[object_id - 1]
            masks[k][box] = labels[box] == object_id
    return Instances(
        masks,
        values_per_id(category_ids, ids, "category_ids", np.int64),
        values_per_id(scores, ids, "scores", np.float64),
    )


def values_per_id(values, ids: np.ndarray, name: str, dtype) -> np.ndarray:
    """Look up one value per instance id from a scalar, a mapping or an id-indexed array."""
    if isinstance(values, Mapping):
        missing = [int(i) for i in ids if int(i) not in values]
        if missing:
            raise ValueError(f"{name} has no entry for instance ids {missing[:10]}")
        return np.array([values[int(i)] for i in ids], dtype=dtype)
    values = np.asarray(values, dtype=dtype)
    if values.ndim == 0:
        return np.full(len(ids), values, dtype=dtype)
    if len(ids) and ids.max() >= len(values):
        raise ValueError(
            f"{name} is indexed by instance id but has {len(values)} entries for max id {ids.max()}"
        )
    return values[ids]


def instances_to_labels(instances: Instances, *, dtype=np.int32) -> np.ndarray:
    """Rasterise instances into a label map; instance ``i`` gets id ``i + 1``.

    Overlaps go to the highest score (a stable sort, so equal scores keep list order: the
    instance listed first wins). An instance that loses all its pixels is absent from the map,
    so ids need not be consecutive; its class is still ``instances.category_ids[id - 1]``.

    Args:
        instances: the :class:`Instances` to paint.
        dtype: integer dtype of the result.

    Returns:
        ``(H, W)`` label map, 0 = background.

    Example:
        >>> masks = np.array([[[1, 1]], [[0, 1]]], bool)
        >>> instances_to_labels(Instances(masks, scores=[0.2, 0.9])).tolist()
        [[1, 2]]
    """
    height, width = instances.image_size
    labels = np.zeros((height, width), dtype=dtype)
    # Paint from the lowest to the highest priority, so better instances overwrite worse ones.
    order = np.argsort(-instances.scores, kind="stable")[::-1]
    for index in order:
        labels[instances.masks[index]] = index + 1
    return labels


def mean_per_instance(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of a per-pixel map (e.g. a foreground probability) inside each instance.

    Useful as an instance score for mask AP.

    Args:
        labels: ``(H, W)`` label map, 0 = background.
        values: ``(H, W)`` float map.

    Returns:
        ``(N,)`` float64 means, one per positive id present in ``labels``, in increasing id order
        (the order of :func:`labels_to_instances`).

    Raises:
        ValueError: if the shapes differ.

    Example:
        >>> mean_per_instance(np.array([[1, 1, 2]]), np.array([[0.2, 0.4, 1.0]])).tolist()
        [0.30000000000000004, 1.0]
    """
    labels = check_label_map(labels)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != labels.shape:
        raise ValueError(f"values shape {values.shape} differs from labels shape {labels.shape}")
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if not len(ids):
        return np.zeros(0, np.float64)
    return np.asarray(ndimage.mean(values, labels=labels, index=ids), dtype=np.float64)
