"""Panoptic-DeepLab post-processing: centre peaks, then pixel-to-centre grouping.

Following Cheng et al., CVPR 2020 (section 3.3):

1. **Centre selection** (keypoint NMS): a pixel of the predicted centre heatmap is a centre
   when it equals the maximum of its ``nms_kernel x nms_kernel`` neighbourhood (max pooling)
   and exceeds ``threshold``; at most the ``top_k`` highest are kept.
2. **Grouping**: each foreground pixel ``(y, x)`` (semantic nucleus probability above
   ``foreground_threshold``) points at ``(y + dy, x + dx)`` with its predicted offset and joins
   the centre nearest to that point (squared Euclidean distance; ties go to the centre listed
   first, i.e. the higher peak).
3. **Scores**: each instance is scored by its centre's heatmap value times the mean foreground
   probability of its pixels (the paper's ``semantic score x centre score``).

Instances that end up with fewer than ``min_area`` pixels are dropped. Instance ids are
``1..M`` in decreasing centre-heatmap order.

:func:`predict_instances` runs a model on an image and groups; :func:`checkpoint_grouping`
reads the grouping settings stored in an instance checkpoint. Writing label maps, overlays and
a COCO results file for a list of image files is the engine's job
(:func:`seglab.engine.instance_predict.predict_instance_files`).

Example:
    >>> center = torch.zeros(5, 8)
    >>> center[2, 1], center[2, 6] = 0.9, 0.8
    >>> prob = torch.ones(5, 8)
    >>> offset = torch.zeros(2, 5, 8)
    >>> result = group_instances(prob, center, offset)
    >>> result.labels[2].tolist(), [round(s, 2) for s in result.scores.tolist()]
    ([1, 1, 1, 1, 2, 2, 2, 2], [0.9, 0.8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "GROUPING_SETTINGS",
    "InstanceGrouping",
    "checkpoint_grouping",
    "find_centers",
    "group_instances",
    "predict_instances",
]


@dataclass
class InstanceGrouping:
    """The result of :func:`group_instances` for one image.

    Attributes:
        labels: ``(H, W)`` int64 instance label map, 0 = background, ids ``1..M``.
        scores: ``(M,)`` float64 score of instance ``i + 1``.
        centers: ``(M, 2)`` int64 ``(y, x)`` centre of instance ``i + 1``.
        classes: ``(M,)`` int64 semantic class of instance ``i + 1`` (1 for a one-class
            model; see :func:`predict_instances`), or None.
    """

    labels: torch.Tensor
    scores: torch.Tensor
    centers: torch.Tensor
    classes: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.scores)


def _check_positive_odd(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd int, got {value!r}")
    return value


def find_centers(
    center: torch.Tensor, *, threshold: float = 0.1, nms_kernel: int = 5, top_k: int | None = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoint NMS on a centre heatmap: local maxima above a threshold, best ``top_k``.

    A plateau of equal maxima gives one centre per pixel of it; the grouping then splits the
    plateau's pixels between them, which is rare with a real-valued heatmap.

    Args:
        center: ``(H, W)`` or ``(1, H, W)`` heatmap.
        threshold: minimum heatmap value of a centre (strictly greater).
        nms_kernel: odd side of the max-pooling window.
        top_k: keep at most this many (highest first); ``None`` keeps all.

    Returns:
        ``(centers (M, 2) int64 (y, x), values (M,) float)``, by decreasing value (ties in
        raster order).

    Raises:
        ValueError: for a heatmap that is not 2-D, an even or non-positive kernel, or a
            ``top_k`` < 1.
    """
    center = _as_map(center, "center")
    _check_positive_odd("nms_kernel", nms_kernel)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    heat = center.float()
    pooled = F.max_pool2d(heat[None, None], nms_kernel, stride=1, padding=nms_kernel // 2)[0, 0]
    keep = (heat == pooled) & (heat > threshold)
    flat = torch.nonzero(keep.reshape(-1)).reshape(-1)
    values = heat.reshape(-1)[flat]
    # Stable sort so that equal values keep raster order (deterministic ids).
    order = torch.sort(values, descending=True, stable=True).indices
    if top_k is not None:
        order = order[:top_k]
    flat, values = flat[order], values[order]
    width = heat.shape[1]
    centers = torch.stack([flat // width, flat % width], dim=1)
    return centers, values


def _as_map(value, name: str, channels: int | None = None) -> torch.Tensor:
    value = torch.as_tensor(value)
    if channels is None:
        if value.ndim == 3 and value.shape[0] == 1:
            value = value[0]
        if value.ndim != 2:
            raise ValueError(f"{name} must be an (H, W) map, got shape {tuple(value.shape)}")
    elif value.ndim != 3 or value.shape[0] != channels:
        raise ValueError(f"{name} must be ({channels}, H, W), got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        value = value.float()
    return value


def group_instances(
    foreground_prob: torch.Tensor,
    center: torch.Tensor,
    offset: torch.Tensor,
    *,
    threshold: float = 0.1,
    nms_kernel: int = 5,
    top_k: int | None = 1000,
    foreground_threshold: float = 0.5,
    min_area: int = 0,
    chunk_size: int = 65536,
) -> InstanceGrouping:
    """Group foreground pixels around predicted centres (see the module docstring).

    Args:
        foreground_prob: ``(H, W)`` probability that a pixel belongs to an instance (e.g. the
            softmax of the nucleus class).
        center: ``(H, W)`` or ``(1, H, W)`` centre heatmap.
        offset: ``(2, H, W)`` offsets ``(dy, dx)`` in pixels from each pixel to its centre.
        threshold: centre heatmap threshold (:func:`find_centers`).
        nms_kernel: centre NMS window (odd).
        top_k: most centres kept.
        foreground_threshold: a pixel is foreground when its probability is above this.
        min_area: drop instances with fewer pixels.
        chunk_size: pixels per distance block, which bounds memory to
            ``chunk_size x centres`` floats.

    Returns:
        :class:`InstanceGrouping` (an empty one when there is no centre or no foreground).

    Raises:
        ValueError: for maps of the wrong rank or of different sizes, or a bad NMS setting.

    Shape:
        - Input: ``foreground_prob (H, W)``, ``center (H, W)``, ``offset (2, H, W)``
        - Output: ``labels (H, W)`` int64, ``scores (M,)``, ``centers (M, 2)``
    """
    prob = _as_map(foreground_prob, "foreground_prob")
    heat = _as_map(center, "center")
    offset = _as_map(offset, "offset", channels=2)
    if heat.shape != prob.shape or offset.shape[1:] != prob.shape:
        raise ValueError(
            f"foreground_prob {tuple(prob.shape)}, center {tuple(heat.shape)} and offset "
            f"{tuple(offset.shape)} must share (H, W)"
        )
    if isinstance(min_area, bool) or not isinstance(min_area, int) or min_area < 0:
        raise ValueError(f"min_area must be an int >= 0, got {min_area!r}")
    height, width = prob.shape
    labels = torch.zeros((height, width), dtype=torch.int64)
    centers, values = find_centers(heat, threshold=threshold, nms_kernel=nms_kernel, top_k=top_k)
    foreground = prob > foreground_threshold
    empty = InstanceGrouping(
        labels, torch.zeros(0, dtype=torch.float64), centers[:0], torch.zeros(0, dtype=torch.int64)
    )
    if not len(centers) or not foreground.any():
        return empty

    ys, xs = torch.nonzero(foreground, as_tuple=True)
    targets = torch.stack(
        [ys.float() + offset[0, ys, xs].float(), xs.float() + offset[1, ys, xs].float()], dim=1
    )
    nearest = _nearest_centers(targets, centers.float(), chunk_size)

    count = len(centers)
    areas = torch.bincount(nearest, minlength=count)
    prob_sums = torch.bincount(nearest, weights=prob[ys, xs].double(), minlength=count)
    kept = areas >= max(min_area, 1)
    # New ids 1..M in centre order (decreasing heat) for the centres that keep pixels.
    new_ids = torch.zeros(count, dtype=torch.int64)
    new_ids[kept] = torch.arange(1, int(kept.sum()) + 1)
    labels[ys, xs] = new_ids[nearest]
    scores = values.double()[kept] * (prob_sums[kept] / areas[kept].double())
    return InstanceGrouping(
        labels, scores, centers[kept], torch.ones(len(scores), dtype=torch.int64)
    )


# Above this many centres a k-d tree finds each pixel's nearest centre faster than the dense
# pixel x centre distance table (which costs O(pixels x centres)).
_KD_TREE_CENTERS = 256


def _nearest_centers(points: torch.Tensor, centers: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Index of the nearest centre of each point. On an exact tie the dense table takes the
    first (higher) centre; the k-d tree, used for many centres, takes either."""
    if len(centers) > _KD_TREE_CENTERS:
        from scipy.spatial import cKDTree

        _, index = cKDTree(centers.numpy()).query(points.numpy(), k=1)
        return torch.from_numpy(index.astype("int64"))
    nearest = torch.empty(len(points), dtype=torch.int64)
    for start in range(0, len(points), chunk_size):
        block = points[start : start + chunk_size]
        distance = (block[:, None, :] - centers[None, :, :]).pow(2).sum(dim=2)
        nearest[start : start + chunk_size] = distance.argmin(dim=1)
    return nearest


@torch.no_grad()
def predict_instances(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    foreground_class: int = 1,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    overlap: int | None = None,
    **grouping,
) -> InstanceGrouping:
    """Run a bottom-up instance model on one RGB image and group its outputs.

    With two semantic classes (background and one thing, e.g. nuclei) the foreground is the
    thing's probability and every instance has class 1. With more, the foreground is
    ``1 - P(background)``; each instance takes the thing class with the largest summed
    probability over its pixels, and its score is the centre value times that class's mean
    probability.

    Args:
        model: a :class:`~seglab.models.panoptic_deeplab.PanopticDeepLab` (eval mode is set).
        image: ``(H, W, 3)`` uint8 RGB image.
        foreground_class: with two classes, the semantic class whose softmax probability is
            the foreground.
        device: where to run the model.
        tile: run the network on ``tile x tile`` windows (:mod:`seglab.models.tiling`) and
            blend its outputs, so that its memory does not grow with the image; the grouping
            then runs once on the blended full-size maps, so a nucleus on a seam is one
            instance. None: the whole image at once.
        overlap: pixels shared by neighbouring windows (default ``tile // 4``).
        **grouping: :func:`group_instances` settings (``threshold``, ``nms_kernel``, ...).
            ``top_k`` defaults to 1,000 centres per 512 x 512 pixels (at least 1,000), so
            that a large image keeps its nuclei.

    Returns:
        :class:`InstanceGrouping` at the image's size, on the CPU.

    Shape:
        - Input: ``(H, W, 3)``
        - Output: ``labels (H, W)``
    """
    # Imported here: seglab.data.dsb2018 imports seglab.instance.targets to build its training
    # targets, so a module-level import would be circular.
    from seglab.data.dsb2018 import normalize_image
    from seglab.models.tiling import tiled_forward

    model.eval()
    tensor = normalize_image(image)[None]
    if tile is None:
        outputs = model(tensor.to(device))
    else:
        outputs = tiled_forward(model, tensor, tile=tile, overlap=overlap, device=device)
    probs = outputs["semantic"].softmax(dim=1)[0].cpu()
    height, width = image.shape[:2]
    grouping.setdefault("top_k", max(1000, math.ceil(height * width / 512**2) * 1000))
    if len(probs) <= 2:
        return group_instances(
            probs[foreground_class],
            outputs["center"][0, 0].cpu(),
            outputs["offset"][0].cpu(),
            **grouping,
        )
    result = group_instances(
        1 - probs[0], outputs["center"][0, 0].cpu(), outputs["offset"][0].cpu(), **grouping
    )
    return _classify_instances(result, probs)


def _classify_instances(result: InstanceGrouping, probs: torch.Tensor) -> InstanceGrouping:
    """Give each instance the thing class with the largest summed probability over its
    pixels, and rescore it with that class's mean probability (instead of the foreground's)."""
    count = len(result)
    labels = result.labels.reshape(-1)
    inside = labels > 0
    ids = labels[inside] - 1
    sums = torch.zeros(count, len(probs) - 1, dtype=torch.float64)
    sums.index_add_(0, ids, probs[1:].reshape(len(probs) - 1, -1)[:, inside].T.double())
    areas = torch.bincount(ids, minlength=count).clamp(min=1).double()
    classes = sums.argmax(dim=1) + 1
    foreground = sums.sum(dim=1) / areas
    chosen = sums.gather(1, (classes - 1)[:, None])[:, 0] / areas
    # group_instances scored centre x mean foreground; swap the foreground for the class.
    scores = result.scores * chosen / foreground.clamp(min=1e-12)
    return InstanceGrouping(result.labels, scores, result.centers, classes)


GROUPING_SETTINGS = ("threshold", "nms_kernel", "top_k", "foreground_threshold", "min_area")


def checkpoint_grouping(checkpoint: dict) -> dict:
    """The :func:`group_instances` settings stored in an instance checkpoint (``grouping``).

    Raises:
        ValueError: for an entry that is not a dict, an unknown setting, or a value that is
            not a finite number (``top_k`` may be None).

    Example:
        >>> checkpoint_grouping({"grouping": {"threshold": 0.2, "top_k": None}})
        {'threshold': 0.2, 'top_k': None}
        >>> checkpoint_grouping({})
        {}
    """
    grouping = checkpoint.get("grouping") or {}
    if not isinstance(grouping, dict):
        raise ValueError(f"the checkpoint's grouping must be a dict, got {grouping!r:.100}")
    for key, value in grouping.items():
        if key not in GROUPING_SETTINGS:
            raise ValueError(
                f"unknown grouping setting {key!r} in the checkpoint; valid settings: "
                f"{', '.join(GROUPING_SETTINGS)}"
            )
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) or (key == "top_k" and value is None)):
            raise ValueError(f"grouping setting {key} must be a finite number, got {value!r}")
    return dict(grouping)
