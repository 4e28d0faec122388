"""Normalized Cut segmentation (Shi and Malik, TPAMI 2000) that is deterministic and never fails.

Two graphs, one spectral machinery (:mod:`seglab.classical._spectral`):

- ``method="pixel"``: Shi and Malik's formulation on the pixel grid. The image is first
  shrunk to at most ``max_side`` pixels per side (the eigenproblem grows with the pixel count),
  and the labels are brought back to full size by a joint bilateral vote guided by the
  full-resolution colours, so that boundaries follow the image rather than the coarse grid.
- ``method="rag"``: the graph of SLIC superpixels, as in scikit-image's ``cut_normalized``,
  with each edge weighted by its boundary length and each region by its area (see
  :func:`seglab.classical._affinity.region_affinity`).

Two partitions: ``"kway"`` (k-means on ``n_segments`` eigenvectors, exactly ``n_segments``
labels unless the image has fewer distinct parts) and ``"recursive"`` (Shi and Malik's 2-way
splits while the best cut has ``Ncut < threshold``, at most ``n_segments`` labels).

Compared with ``skimage.graph.cut_normalized``: all randomness comes from ``seed``, dense
eigendecomposition is used for small graphs, and ARPACK non-convergence falls back to
LOBPCG and then to a dense solve instead of raising.
"""

from __future__ import annotations

import numbers
import warnings

import cv2
import numpy as np

from seglab._checks import channels_last, check_choice, check_real, unit_float_image
from seglab.classical._affinity import image_features, pixel_affinity, region_affinity
from seglab.classical._spectral import compact_labels, kway_partition, recursive_partition

__all__ = ["normalized_cut", "MAX_SEGMENTS", "MAX_SIDE", "MAX_RADIUS", "MAX_SUPERPIXELS"]

METHODS = ("pixel", "rag")
PARTITIONS = ("kway", "recursive")
UPSAMPLINGS = ("bilateral", "nearest")
# Recursive pixel splits must leave at least this fraction of the pixels on each side: thinner
# slivers are noise, not segments, and would spend the segment budget.
MIN_SEGMENT_FRACTION = 0.005
# Defaults chosen on 20 BSDS500 *train* images (the benchmark reports val): colour scale in Lab
# units and the recursive Ncut threshold, per graph (their Ncut values live on other scales:
# the pixel graph links 80 neighbours within radius 5, the region graph is 4-connected).
DEFAULT_SIGMA_COLOR = {"pixel": 3.0, "rag": 5.0}
DEFAULT_THRESHOLD = {"pixel": 0.005, "rag": 0.001}
# Hard caps on the size-like arguments, far above normal use (k-way n_segments=10, recursive
# 20, max_side=80, radius=5, n_superpixels=400), so that a typo or a hostile value is an early
# error instead of minutes of CPU. Lanczos and k-means grow with the segment count, the graph
# with max_side squared and radius squared: the worst case inside all caps (a noise image,
# pixel graph, max_side=128, radius=8, 50 segments) took 46 s of CPU; at the defaults 50
# segments of noise take about 15 s, and 100 took 3 minutes before this cap.
MAX_SEGMENTS = 50
MAX_SIDE = 128
MAX_RADIUS = 8.0
MAX_SUPERPIXELS = 4000


def normalized_cut(
    image: np.ndarray,
    n_segments: int = 10,
    *,
    method: str = "pixel",
    partition: str = "kway",
    threshold: float | None = None,
    sigma_color: float | None = None,
    sigma_spatial: float = 4.0,
    radius: float = 5.0,
    max_side: int = 80,
    upsampling: str = "bilateral",
    n_superpixels: int = 400,
    compactness: float = 30.0,
    seed: int | None = 0,
    channel_axis: int | None = -1,
) -> np.ndarray:
    """Segment an image with Normalized Cut.

    Args:
        image: ``(H, W)`` grey or ``(H, W, C)`` image, read by the project's value rule:
            uint8 is scaled by 1/255, uint16 by 1/65535, other integer dtypes must hold 0..255
            (read as 8-bit), bool is {0, 1}, floats must be finite and in [0, 1]. Three
            channels are taken as RGB and compared in CIE Lab. At most
            :data:`seglab.limits.MAX_IMAGE_PIXELS` pixels.
        n_segments: number of segments for ``partition="kway"``; the maximum number for
            ``"recursive"``. At most :data:`MAX_SEGMENTS` (50). A graph with fewer nodes than
            this (working-resolution pixels, or superpixels) gives one segment per node at
            most, so a request above the node count acts as the node count.
        method: ``"pixel"`` (pixel grid, Shi and Malik) or ``"rag"`` (superpixel graph).
        partition: ``"kway"`` (k-means on the spectral embedding) or ``"recursive"`` (2-way
            splits while ``Ncut < threshold``).
        threshold: largest Ncut value a recursive split may have (ignored by ``"kway"``).
            ``None``: 0.005 for ``"pixel"``, 0.001 for ``"rag"`` (the two graphs put Ncut on
            different scales).
        sigma_color: colour scale of the affinity, in Lab units (grey and other channel
            counts are scaled to 0-100). Smaller values follow weaker colour edges. ``None``:
            3 for ``"pixel"``, 5 for ``"rag"`` (chosen on BSDS500 train images).
        sigma_spatial: spatial scale of the pixel affinity, in working-resolution pixels
            (``"pixel"`` only, like ``radius``, ``max_side`` and ``upsampling``).
        radius: pixels farther apart than this (working resolution) are not linked
            (``1 <= radius <=`` :data:`MAX_RADIUS`, 8).
        max_side: ``method="pixel"`` works on the image shrunk so that its longer side is at
            most this many pixels (``2 <= max_side <=`` :data:`MAX_SIDE`, 128).
        upsampling: how pixel-method labels return to full size: ``"bilateral"`` (each pixel
            takes the label that wins a vote of its 3x3 coarse neighbours weighted by distance
            and colour similarity) or ``"nearest"``.
        n_superpixels: SLIC superpixels for ``method="rag"`` (at most
            :data:`MAX_SUPERPIXELS`, 4000); an image with no more pixels than this uses one
            node per pixel. SLIC is :func:`seglab.classical.slic`, or
            scikit-image's if that is missing or fails (with a warning).
        compactness: SLIC compactness for ``method="rag"``.
        seed: seed for the eigensolver start vectors and k-means; the same seed gives the
            same labels. ``None`` draws fresh entropy.
        channel_axis: axis of the channels of a 3-D image; a 2-D image is always grey.

    Returns:
        ``(H, W)`` int64 labels ``0 .. K-1``, every label present, numbered in raster order of
        first appearance.

    Raises:
        TypeError: if ``n_segments``, ``max_side`` or ``n_superpixels`` is not an integer.
        ValueError: for an image that is not 2-D/3-D, is empty, is larger than
            ``MAX_IMAGE_PIXELS``, or breaks the value rule (NaN or infinity, floats outside
            [0, 1], other integers outside 0..255, a non-numeric dtype); for an unknown
            ``method``, ``partition`` or ``upsampling``; for out-of-range parameters:
            ``n_segments`` outside 1..``MAX_SEGMENTS``, ``max_side`` outside 2..``MAX_SIDE``,
            ``n_superpixels`` outside 1..``MAX_SUPERPIXELS``, ``radius`` outside
            [1, ``MAX_RADIUS``], non-finite or non-positive ``sigma_color``, ``sigma_spatial``
            or ``compactness``, and a NaN or negative ``threshold``.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((20, 30), np.uint8)
        >>> image[:, 15:] = 200
        >>> labels = normalized_cut(image, n_segments=2, channel_axis=None)
        >>> labels.shape, int(labels.max())
        ((20, 30), 1)
    """
    check_choice("method", method, METHODS)
    check_choice("partition", partition, PARTITIONS)
    check_choice("upsampling", upsampling, UPSAMPLINGS)
    _check_int("n_segments", n_segments, 1, MAX_SEGMENTS, "MAX_SEGMENTS")
    _check_int("max_side", max_side, 2, MAX_SIDE, "MAX_SIDE")
    _check_int("n_superpixels", n_superpixels, 1, MAX_SUPERPIXELS, "MAX_SUPERPIXELS")
    _check_positive("sigma_spatial", sigma_spatial)
    _check_positive("compactness", compactness)
    sigma_color = DEFAULT_SIGMA_COLOR[method] if sigma_color is None else sigma_color
    threshold = DEFAULT_THRESHOLD[method] if threshold is None else threshold
    _check_positive("sigma_color", sigma_color)
    check_real(
        "radius",
        radius,
        low=1,
        high=MAX_RADIUS,
        note=" (at least 1 so that the pixel grid is connected; at most "
        "seglab.classical.ncut.MAX_RADIUS, the neighbours grow with its square)",
    )
    if not threshold >= 0:  # infinity is fine: every split is accepted, up to n_segments
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    rgb_like = unit_float_image(channels_last(image, channel_axis))
    features = image_features(rgb_like)
    rng = np.random.default_rng(seed)
    if method == "pixel":
        labels = _pixel_ncut(
            features,
            n_segments,
            partition=partition,
            threshold=threshold,
            sigma_color=sigma_color,
            sigma_spatial=sigma_spatial,
            radius=radius,
            max_side=max_side,
            upsampling=upsampling,
            rng=rng,
        )
    else:
        labels = _rag_ncut(
            rgb_like,
            features,
            n_segments,
            partition=partition,
            threshold=threshold,
            sigma_color=sigma_color,
            n_superpixels=n_superpixels,
            compactness=compactness,
            rng=rng,
        )
    return compact_labels(labels)


def _check_int(name: str, value: int, minimum: int, maximum: int, constant: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(
            f"{name} must be <= {maximum} (seglab.classical.ncut.{constant}), got {value}: "
            "larger values would take minutes of CPU"
        )


def _check_positive(name: str, value: float) -> None:
    check_real(name, value, low=0, low_open=True)


def _work_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_features(features: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``(H, W, C)`` features down to ``size`` (anti-aliased, unlike sampling)."""
    height, width = size
    if (height, width) == features.shape[:2]:
        return features
    channels = [
        cv2.resize(
            np.ascontiguousarray(features[..., c], dtype=np.float32),
            (width, height),
            interpolation=cv2.INTER_AREA,
        ).reshape(height, width)
        for c in range(features.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float64)


def _pixel_ncut(
    features: np.ndarray,
    n_segments: int,
    *,
    partition: str,
    threshold: float,
    sigma_color: float,
    sigma_spatial: float,
    radius: float,
    max_side: int,
    upsampling: str,
    rng: np.random.Generator,
) -> np.ndarray:
    height, width = features.shape[:2]
    size = _work_size(height, width, max_side)
    small = _resize_features(features, size)
    affinity = pixel_affinity(
        small, radius=radius, sigma_color=sigma_color, sigma_spatial=sigma_spatial
    )
    if partition == "kway":
        labels = kway_partition(affinity, n_segments, rng)
    else:
        min_size = max(1, int(MIN_SEGMENT_FRACTION * affinity.shape[0]))
        labels = recursive_partition(affinity, n_segments, threshold, rng, min_size=min_size)
    labels = labels.reshape(size)
    if size == (height, width):
        return labels
    if upsampling == "nearest":
        return _upsample_nearest(labels, (height, width))
    return _upsample_bilateral(labels, small, features, sigma_color=sigma_color)


def _upsample_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # Nearest so that labels are never blended into values that name another segment.
    rows = np.minimum(
        ((np.arange(size[0]) + 0.5) * labels.shape[0] / size[0]).astype(int), labels.shape[0] - 1
    )
    cols = np.minimum(
        ((np.arange(size[1]) + 0.5) * labels.shape[1] / size[1]).astype(int), labels.shape[1] - 1
    )
    return labels[rows[:, None], cols[None, :]]


def _upsample_bilateral(
    labels: np.ndarray, small: np.ndarray, features: np.ndarray, *, sigma_color: float
) -> np.ndarray:
    """Joint bilateral label upsampling (Kopf et al., SIGGRAPH 2007, applied to labels).

    Each full-resolution pixel looks at the 3x3 coarse pixels around its position. Every
    candidate votes for its label with weight ``exp(-d^2 / 2) * exp(-||F - F_c||^2 /
    (2 sigma^2))`` (``d`` in coarse pixels, ``F`` the full-resolution colour, ``F_c`` the coarse
    one); the label with the largest total wins.
    """
    height, width = features.shape[:2]
    small_h, small_w = labels.shape
    y = (np.arange(height) + 0.5) * small_h / height - 0.5
    x = (np.arange(width) + 0.5) * small_w / width - 0.5
    centre_y = np.clip(np.round(y).astype(int), 0, small_h - 1)
    centre_x = np.clip(np.round(x).astype(int), 0, small_w - 1)
    candidate_labels, candidate_weights = [], []
    for dy in (-1, 0, 1):
        rows = np.clip(centre_y + dy, 0, small_h - 1)
        spatial_y = (y - rows) ** 2
        for dx in (-1, 0, 1):
            cols = np.clip(centre_x + dx, 0, small_w - 1)
            spatial = spatial_y[:, None] + ((x - cols) ** 2)[None, :]
            difference = features - small[rows[:, None], cols[None, :]]
            colour = np.einsum("hwc,hwc->hw", difference, difference)
            weight = np.exp(-0.5 * spatial - 0.5 * colour / sigma_color**2)
            candidate_labels.append(labels[rows[:, None], cols[None, :]])
            # The floor keeps the spatial vote when every colour term underflows.
            candidate_weights.append(weight + 1e-12 * np.exp(-0.5 * spatial))
    stacked_labels = np.stack(candidate_labels)
    stacked_weights = np.stack(candidate_weights)
    best_score = np.full((height, width), -1.0)
    result = stacked_labels[4].copy()
    for candidate in stacked_labels:
        score = np.sum(stacked_weights * (stacked_labels == candidate[None]), axis=0)
        better = score > best_score
        result[better] = candidate[better]
        best_score = np.maximum(best_score, score)
    return result


def _superpixels(
    rgb_like: np.ndarray, features: np.ndarray, n_superpixels: int, compactness: float
) -> np.ndarray:
    """SLIC superpixels, from seglab's SLIC when available, else scikit-image's."""
    height, width, channels = rgb_like.shape
    if height * width <= n_superpixels:
        # No fewer pixels than superpixels wanted: every pixel is its own superpixel.
        return np.arange(height * width).reshape(height, width)
    if channels == 3:
        slic_input = np.clip(rgb_like, 0.0, 1.0)
    elif channels == 1:
        # Grey as RGB, so that SLIC compares in Lab and ``compactness`` keeps its usual scale.
        slic_input = np.repeat(np.clip(rgb_like, 0.0, 1.0), 3, axis=-1)
    else:
        slic_input = features  # already on the 0-100 scale of L
    try:
        from seglab.classical.slic import slic
    except Exception:  # noqa: BLE001 - missing or broken: scikit-image's SLIC does the same job
        from skimage.segmentation import slic
    try:
        labels = slic(slic_input, n_superpixels, compactness, start_label=0, channel_axis=-1)
    except Exception as error:  # noqa: BLE001 - any SLIC failure falls back to scikit-image
        from skimage.segmentation import slic as skimage_slic

        warnings.warn(
            f"SLIC failed ({error!r}); falling back to skimage.segmentation.slic", stacklevel=3
        )
        labels = skimage_slic(
            slic_input, n_superpixels, compactness, start_label=0, channel_axis=-1
        )
    return compact_labels(np.asarray(labels))


def _rag_ncut(
    rgb_like: np.ndarray,
    features: np.ndarray,
    n_segments: int,
    *,
    partition: str,
    threshold: float,
    sigma_color: float,
    n_superpixels: int,
    compactness: float,
    rng: np.random.Generator,
) -> np.ndarray:
    superpixels = _superpixels(rgb_like, features, n_superpixels, compactness)
    affinity = region_affinity(features, superpixels, sigma_color=sigma_color)
    if partition == "kway":
        region_labels = kway_partition(affinity, n_segments, rng)
    else:
        # No size floor here: a superpixel is already a minimum size, and on BSDS500 train
        # peeling off small distinct regions first scored better than forbidding it.
        region_labels = recursive_partition(affinity, n_segments, threshold, rng)
    return region_labels[superpixels]
