"""SLIC superpixels (Achanta et al., TPAMI 2012), compiled with numba.

The algorithm is the paper's: seeds on a regular grid, each moved to the lowest colour gradient
in its 3x3 neighbourhood; local k-means in CIELAB + (y, x), where each centre only looks at a
``2S x 2S`` window around itself; then a connectivity pass that leaves exactly one 4-connected
region per label. The arguments and their meaning follow :func:`skimage.segmentation.slic`, so
``compactness`` means the same in both.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import ndimage

from seglab._checks import channels_last, check_real, is_finite_number
from seglab.classical import _slic_kernels as kernels

__all__ = ["slic", "MAX_NUM_ITER", "MAX_SIGMA"]

# Hard caps, far above normal use (the paper's 10 iterations, blurs of a pixel or two): the
# k-means loop only stops early when no pixel changes label, and a Gaussian kernel holds
# 8 sigma + 1 taps, so huge values would run or allocate without end.
MAX_NUM_ITER = 100
MAX_SIGMA = 100.0


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    # skimage.util.img_as_float semantics: integers are scaled by their dtype's maximum. The
    # features are then rescaled by their min and max, so any finite range gives the same
    # superpixels; only NaN and infinity cannot be rescaled.
    if image.dtype == np.bool_:
        return image.astype(np.float64)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return image.astype(np.float64) / info.max
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float64, copy=False)
    raise ValueError(f"expected an integer, bool or float image, got dtype {image.dtype}")


def _features(
    image: np.ndarray, mask: np.ndarray | None, lab: bool, compactness: float, sigma: float
) -> np.ndarray:
    """Planar ``(C, H, W)`` float32 features, rescaled to [0, 1] then divided by compactness."""
    height, width, num_channels = image.shape
    scale = 1.0 / compactness
    if image.dtype == np.uint8:
        # skimage's min/max rescale; uint8 keeps its codes, so Lab can use a 256-entry table.
        codes = image[mask] if mask is not None else image
        low, high = int(codes.min()) / 255.0, int(codes.max()) / 255.0
    else:
        image = _as_unit_float(image)
        values = image[mask] if mask is not None else image
        low, high = float(values.min()), float(values.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("image has NaN or infinite values (inside the mask, if one is given)")
    value_range = high - low if high > low else 1.0
    if lab:
        out = kernels.scaled_lab(np.ascontiguousarray(image), low, value_range, scale)
    else:
        unit = (_as_unit_float(image) - low) / value_range
        out = np.ascontiguousarray(np.moveaxis(unit * scale, -1, 0), dtype=np.float32)
    if mask is not None:
        # Values outside the mask may be NaN (allowed, as in skimage); keep them out of the blur
        # and of the seeds' gradient.
        out[:, ~mask] = 0.0
    if sigma > 0:
        for channel in out:
            ndimage.gaussian_filter(channel, sigma, output=channel, mode="reflect")
    return out


def _is_whole(value) -> bool:
    """True for an integer, or a float that is one (skimage accepts ``n_segments=100.0``)."""
    if isinstance(value, numbers.Integral):
        return True
    return is_finite_number(value) and int(value) == value


def _grid_shape(height: float, width: float, n_cells: float) -> tuple[int, int]:
    """Rows and columns of a grid of about ``n_cells`` near-square cells on a height x width box."""
    step = math.sqrt(height * width / n_cells)
    best = None
    for rows in {max(1, math.floor(height / step)), max(1, math.ceil(height / step))}:
        cols = max(1, round(n_cells / rows))
        # Closest count first, then the most square cells.
        aspect = abs(math.log((height / rows) / (width / cols)))
        key = (abs(rows * cols - n_cells), aspect, rows)
        if best is None or key < best[0]:
            best = (key, rows, cols)
    return best[1], best[2]


def slic(
    image: np.ndarray,
    n_segments: int = 100,
    compactness: float = 10.0,
    max_num_iter: int = 10,
    enforce_connectivity: bool = True,
    mask: np.ndarray | None = None,
    start_label: int = 0,
    *,
    channel_axis: int | None = -1,
    sigma: float = 0.0,
    convert2lab: bool | None = None,
    min_size_factor: float = 0.5,
    max_size_factor: float = 3.0,
) -> np.ndarray:
    """Segment an image into SLIC superpixels (Achanta et al., TPAMI 2012).

    Same arguments and meaning as :func:`skimage.segmentation.slic` for 2-D images, 5-10x
    faster. Differences: the search window is the paper's ``2S x 2S`` (skimage uses ``4S x 4S``),
    seeds start at the lowest gradient of their 3x3 neighbourhood, and the grid is chosen so the
    number of superpixels stays close to ``n_segments``.

    Args:
        image: ``(H, W)`` grayscale or ``(H, W, C)`` image (channels on ``channel_axis``);
            integers and bool are scaled to [0, 1] by their dtype's range, floats are used as
            they are. The values are then rescaled to [0, 1] by their min and max (inside
            ``mask``), as in skimage, so ``compactness`` does not depend on the image scale:
            unlike the other classical methods, floats in 0..255 or integers of any range give
            the same superpixels as the same picture in [0, 1]. NaN and infinity are errors
            (outside ``mask`` they are allowed). At most
            :data:`seglab.limits.MAX_IMAGE_PIXELS` pixels.
        n_segments: approximate number of superpixels. A request above the number of pixels
            (inside ``mask``) gives at most one superpixel per pixel, as fast as that count.
        compactness: weight of space against colour: larger gives squarer superpixels. With Lab
            colours (0-100), 10 is a good start; for features in [0, 1] try 0.1. Finite.
        max_num_iter: number of k-means iterations (the paper uses 10); stops early when no
            pixel changes label. At most :data:`MAX_NUM_ITER` (100).
        enforce_connectivity: make every label one 4-connected region and merge regions smaller
            than ``min_size_factor * H * W / n_segments`` pixels into a neighbour.
        mask: optional ``(H, W)`` bool array; superpixels are computed only where it is True.
        start_label: first label, 0 or 1.
        channel_axis: axis of the channels of a 3-D image; ignored for a 2-D image, which is
            always grayscale. ``None`` with a 3-D array is an error (volumes are not supported).
        sigma: standard deviation of a Gaussian blur of the features (after Lab conversion), in
            pixels; 0 means none. At most :data:`MAX_SIGMA` (100).
        convert2lab: convert RGB to CIELAB (D65) first. ``None`` means yes exactly when the image
            has 3 channels.
        min_size_factor: regions smaller than this fraction of the mean superpixel size are
            merged into a neighbour. Finite.
        max_size_factor: a region is cut when it grows past this multiple of the mean size
            (skimage's rule; with the 2S window this almost never happens). Finite.

    Returns:
        ``(H, W)`` int64 labels, contiguous from ``start_label``. With ``mask``, pixels outside it
        get ``start_label - 1`` (that is ``-1`` for the default ``start_label=0``, and ``0`` for
        ``start_label=1``), exactly as skimage.

    Raises:
        ValueError: for a bad image shape, channel axis or dtype, an image over
            ``MAX_IMAGE_PIXELS`` pixels, NaN/inf values; ``n_segments`` that is not a whole
            number >= 1; ``compactness`` not finite and > 0; ``max_num_iter`` not a whole
            number in 0..``MAX_NUM_ITER``; ``sigma`` not finite in [0, ``MAX_SIGMA``]; size
            factors that are not finite with ``0 <= min_size_factor <= max_size_factor``;
            ``start_label`` not 0 or 1; ``convert2lab=True`` on a non-RGB image; or a mask of
            the wrong shape or with no True pixel.

    Example:
        >>> from skimage.data import astronaut
        >>> labels = slic(astronaut(), n_segments=200)
        >>> labels.shape, bool(180 <= labels.max() + 1 <= 220)
        ((512, 512), True)
    """
    image = channels_last(image, channel_axis)
    height, width, num_channels = image.shape
    if not _is_whole(n_segments) or n_segments < 1:
        raise ValueError(f"n_segments must be an integer >= 1, got {n_segments!r}")
    check_real("compactness", compactness, low=0, low_open=True)
    if not _is_whole(max_num_iter) or not 0 <= max_num_iter <= MAX_NUM_ITER:
        raise ValueError(
            f"max_num_iter must be an integer >= 0 and <= {MAX_NUM_ITER} "
            f"(seglab.classical.slic.MAX_NUM_ITER), got {max_num_iter}"
        )
    check_real("sigma", sigma, low=0, high=MAX_SIGMA, note=" (seglab.classical.slic.MAX_SIGMA)")
    if start_label not in (0, 1):
        raise ValueError(f"start_label must be 0 or 1, got {start_label}")
    if not (
        is_finite_number(min_size_factor)
        and is_finite_number(max_size_factor)
        and 0 <= min_size_factor <= max_size_factor
    ):
        raise ValueError(
            "need 0 <= min_size_factor <= max_size_factor, both finite, got "
            f"min_size_factor={min_size_factor}, max_size_factor={max_size_factor}"
        )
    if convert2lab and num_channels != 3:
        raise ValueError(f"convert2lab=True needs an RGB image (3 channels), got {num_channels}")
    lab = num_channels == 3 if convert2lab is None else bool(convert2lab)

    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (height, width):
            raise ValueError(
                f"mask shape {mask.shape} does not match the image's (H, W) = {(height, width)}"
            )
        mask = np.ascontiguousarray(mask, dtype=bool)
        area = int(np.count_nonzero(mask))
        if area == 0:
            raise ValueError("mask has no True pixel: there is nothing to segment")
        rows_any, cols_any = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = (rows_any[0], cols_any[0], rows_any[-1] + 1, cols_any[-1] + 1)
    else:
        area = height * width
        box = (0, 0, height, width)

    features = _features(image, mask, lab, float(compactness), float(sigma))
    full_mask = mask if mask is not None else np.ones((height, width), bool)

    # Grid: about n_segments cells over the mask's bounding box. With a mask, cells are sized by
    # the mask area, so the seeds that land on it number about n_segments.
    box_h, box_w = box[2] - box[0], box[3] - box[1]
    # Past one seed per pixel (n_segments >= area) every request gives the same grid; the
    # clamp also keeps a huge integer out of float division.
    n_cells = min(min(int(n_segments), area) * box_h * box_w / area, box_h * box_w)
    rows, cols = _grid_shape(box_h, box_w, n_cells)
    cell_h, cell_w = box_h / rows, box_w / cols
    centres = kernels.grid_seeds(features, full_mask, box[0], box[1], rows, cols, cell_h, cell_w)

    # Achanta's distance: d_lab² / m² + d_xy² / S², with S the grid step; features already carry
    # the 1/m. The window radius covers a whole cell, so every pixel has a centre at step one.
    step = max(cell_h, cell_w)
    radius = math.ceil(step)
    spatial_weight = np.float32(1.0 / step**2)
    labels = np.full((height, width), -1, np.int32)
    reset = np.where(full_mask, np.float32(np.inf), np.float32(-1.0))
    distance = np.empty_like(reset)
    previous = np.empty_like(labels)
    for _ in range(max_num_iter):
        if not kernels.assign_changed(
            features, centres, radius, spatial_weight, labels, previous, distance, reset
        ):
            break
        kernels.update_centres(features, labels, centres)
    if max_num_iter == 0:
        kernels.assign(features, centres, radius, spatial_weight, labels, reset.copy())

    if enforce_connectivity:
        mean_size = area / len(centres)
        # No region holds more than ``area`` pixels, so sizes past area + 1 all act alike;
        # capping them keeps huge factors inside the kernel's int64.
        min_size = int(min(min_size_factor * mean_size, area + 1))
        max_size = max(int(min(max_size_factor * mean_size, area + 1)), 1)
        labels, _ = kernels.enforce_connectivity(labels, features, full_mask, min_size, max_size)
    else:
        # Drop the ids of centres that own no pixel, keeping the labels contiguous.
        used = np.bincount(labels[full_mask], minlength=len(centres)) > 0
        remap = np.cumsum(used, dtype=np.int32) - 1
        labels = np.where(full_mask, remap[np.maximum(labels, 0)], -1)
    return labels.astype(np.int64) + start_label
