"""Training targets and losses of bottom-up instance segmentation (Panoptic-DeepLab).

From an ``(H, W)`` instance label map (0 = background), :func:`instance_targets` builds the
three targets of Cheng et al., CVPR 2020:

* **centre heatmap** ``(H, W)``: for each instance, a Gaussian of peak 1 and standard deviation
  ``sigma`` around its centre, cut to a square window of half-size ``3 sigma + 1`` (the paper's
  ``6 sigma + 3`` window); where Gaussians overlap the maximum is kept. As in the reference
  code, the centre is the **mass centre** (mean pixel coordinate) of the instance and the
  Gaussian is placed at that centre rounded to the nearest pixel, so the peak value 1 falls on
  a pixel.
* **offsets** ``(2, H, W)``: ``(dy, dx)`` from each instance pixel to its (unrounded) mass
  centre; 0 on background.
* **semantic mask** ``(H, W)``: 1 on instance pixels, 0 on background (or the per-instance
  category when one is given).

:func:`instance_loss` combines them as in the paper: cross-entropy on the semantic logits, mean
squared error on the heatmap over all pixels, and L1 on the offsets over instance pixels only,
with weights (1, 200, 0.01) by default (the paper's).

Example:
    >>> labels = np.zeros((5, 5), np.int64)
    >>> labels[1:4, 1:4] = 1
    >>> targets = instance_targets(labels, sigma=1.0)
    >>> float(targets["center"][2, 2]), targets["offset"][:, 1, 1].tolist()
    (1.0, [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from seglab.annotations.instances import check_label_map

__all__ = ["instance_targets", "instance_target_tensors", "instance_loss", "DEFAULT_LOSS_WEIGHTS"]

DEFAULT_LOSS_WEIGHTS = {"semantic": 1.0, "center": 200.0, "offset": 0.01}


def instance_targets(
    labels, *, sigma: float = 2.0, semantic: dict[int, int] | None = None
) -> dict[str, np.ndarray]:
    """Centre heatmap, centre offsets and semantic mask of an instance label map.

    Args:
        labels: ``(H, W)`` int label map, 0 = background, one positive id per instance (ids
            need not be consecutive). NumPy or torch.
        sigma: standard deviation of the centre Gaussians, in pixels.
        semantic: optional ``{instance id: class}``; by default every instance is class 1.

    Returns:
        ``{"center": (H, W) float32, "offset": (2, H, W) float32, "semantic": (H, W) int64,
        "centers": (M, 2) float64 mass centres (y, x) in increasing id order}``.

    Raises:
        ValueError: if ``labels`` is not 2-D or is negative, if ``sigma`` is not positive, or if
            ``semantic`` misses an instance id.
        TypeError: if ``labels`` is not integer.

    Shape:
        - Input: ``(H, W)``
        - Output: ``center (H, W)``, ``offset (2, H, W)``, ``semantic (H, W)``
    """
    labels = check_label_map(labels)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    height, width = labels.shape
    center = np.zeros((height, width), np.float32)
    offset = np.zeros((2, height, width), np.float32)
    semantic_mask = (labels > 0).astype(np.int64)
    ids = np.unique(labels[labels > 0])
    if not len(ids):
        return {
            "center": center,
            "offset": offset,
            "semantic": semantic_mask,
            "centers": np.zeros((0, 2)),
        }
    # Mass centres from one pass of bincount over the compacted ids.
    compact = np.searchsorted(ids, labels)  # valid where labels > 0
    inside = labels > 0
    rows, cols = np.nonzero(inside)
    index = compact[inside]
    counts = np.bincount(index, minlength=len(ids)).astype(np.float64)
    cy = np.bincount(index, weights=rows, minlength=len(ids)) / counts
    cx = np.bincount(index, weights=cols, minlength=len(ids)) / counts
    offset[0, rows, cols] = cy[index] - rows
    offset[1, rows, cols] = cx[index] - cols

    radius = int(3 * sigma + 1)
    steps = np.arange(-radius, radius + 1, dtype=np.float64)
    window = np.exp(-(steps[:, None] ** 2 + steps[None, :] ** 2) / (2.0 * sigma**2)).astype(
        np.float32
    )
    for y, x in zip(np.floor(cy + 0.5).astype(int), np.floor(cx + 0.5).astype(int), strict=True):
        # Clip the window at the image border (a cut instance's centre is still inside it).
        y0, y1 = max(0, y - radius), min(height, y + radius + 1)
        x0, x1 = max(0, x - radius), min(width, x + radius + 1)
        patch = window[y0 - y + radius : y1 - y + radius, x0 - x + radius : x1 - x + radius]
        np.maximum(center[y0:y1, x0:x1], patch, out=center[y0:y1, x0:x1])

    if semantic is not None:
        missing = [int(i) for i in ids if int(i) not in semantic]
        if missing:
            raise ValueError(f"semantic has no class for instance id(s) {missing[:10]}")
        classes = np.array([semantic[int(i)] for i in ids], np.int64)
        semantic_mask = np.where(inside, classes[compact.clip(0, len(ids) - 1)], 0)
    return {
        "center": center,
        "offset": offset,
        "semantic": semantic_mask.astype(np.int64),
        "centers": np.stack([cy, cx], axis=1),
    }


def instance_target_tensors(labels: np.ndarray, *, sigma: float = 2.0) -> dict[str, torch.Tensor]:
    """:func:`instance_targets` as tensors, the form a training batch needs.

    Returns:
        ``{"semantic": (H, W) int64, "center": (H, W) float, "offset": (2, H, W) float}``.

    Example:
        >>> labels = np.zeros((8, 8), np.int64); labels[2:5, 2:5] = 1
        >>> sorted(instance_target_tensors(labels, sigma=1.0))
        ['center', 'offset', 'semantic']
    """
    targets = instance_targets(labels, sigma=sigma)
    return {key: torch.from_numpy(targets[key]) for key in ("semantic", "center", "offset")}


def instance_loss(
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    *,
    weights: dict[str, float] | None = None,
) -> dict[str, torch.Tensor]:
    """The Panoptic-DeepLab training loss: CE + heatmap MSE + offset L1 on instance pixels.

    Args:
        outputs: the model's ``{"semantic", "center", "offset"}``.
        targets: ``{"semantic" (N, H, W) int64, "center" (N, H, W) or (N, 1, H, W) float,
            "offset" (N, 2, H, W) float}``; the offset loss is averaged over pixels where
            ``semantic > 0`` (no instance pixel: it is 0).
        weights: ``{"semantic", "center", "offset"}`` multipliers (default
            :data:`DEFAULT_LOSS_WEIGHTS`, the paper's).

    Returns:
        ``{"loss": weighted sum, "semantic", "center", "offset": the unweighted terms}``.

    Raises:
        ValueError: for a missing key or an unknown weight name.

    Shape:
        - outputs: ``semantic (N, K, H, W)``, ``center (N, 1, H, W)``, ``offset (N, 2, H, W)``
        - targets: ``semantic (N, H, W)``, ``center (N, H, W)``, ``offset (N, 2, H, W)``
    """
    weights = dict(DEFAULT_LOSS_WEIGHTS if weights is None else weights)
    unknown = sorted(set(weights) - set(DEFAULT_LOSS_WEIGHTS))
    if unknown:
        raise ValueError(
            f"unknown loss weight(s) {', '.join(unknown)}; valid: semantic, center, offset"
        )
    weights = {**DEFAULT_LOSS_WEIGHTS, **weights}
    for key in ("semantic", "center", "offset"):
        if key not in outputs or key not in targets:
            raise ValueError(f"outputs and targets must both have a {key!r} entry")
    semantic = F.cross_entropy(outputs["semantic"], targets["semantic"])
    center_target = targets["center"]
    if center_target.ndim == 3:
        center_target = center_target[:, None]
    center = F.mse_loss(outputs["center"], center_target)
    mask = (targets["semantic"] > 0)[:, None].to(outputs["offset"].dtype)
    # Sum over both channels per pixel, then mean over instance pixels, as the reference code.
    pixels = mask.sum()
    offset_error = (outputs["offset"] - targets["offset"]).abs() * mask
    offset = offset_error.sum() / pixels.clamp(min=1.0)
    loss = weights["semantic"] * semantic + weights["center"] * center + weights["offset"] * offset
    return {"loss": loss, "semantic": semantic, "center": center, "offset": offset}
