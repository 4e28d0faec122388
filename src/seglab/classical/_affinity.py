"""Affinity graphs for Normalized Cut: the pixel grid and the superpixel adjacency graph.

Both builders return a symmetric ``scipy.sparse.csr_matrix`` ``W`` with non-negative weights.
They are vectorised over neighbour offsets (pixel grid) or over adjacent pixel pairs (superpixel
graph): there is no loop over pixels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from skimage.color import rgb2lab

__all__ = ["image_features", "pixel_affinity", "region_affinity"]

# Every weight is at least this: colour terms underflow to exactly 0 across strong edges, and a
# graph split into pieces by underflow has zero-degree nodes and a degenerate spectrum. A floor
# far below any real affinity keeps the grid connected without changing the partition.
WEIGHT_FLOOR = 1e-6


def image_features(image: np.ndarray) -> np.ndarray:
    """Per-pixel colour features of a ``(H, W, C)`` image, on the CIE L scale (0 to 100).

    Three channels are taken as RGB in [0, 1] and converted to CIE Lab, where Euclidean distance
    follows perceived colour difference. Any other channel count is used as is, scaled by 100 so
    that intensities in [0, 1] land on the same scale as L.

    Args:
        image: ``(H, W, C)`` float image (uint8 already scaled to [0, 1] by the caller).

    Returns:
        ``(H, W, C)`` float64 features.
    """
    if image.shape[-1] == 3:
        # rgb2lab is defined on [0, 1]; clipping keeps out-of-range floats finite and ordered.
        return rgb2lab(np.clip(image, 0.0, 1.0)).astype(np.float64)
    return image.astype(np.float64) * 100.0


def _neighbour_offsets(radius: float) -> list[tuple[int, int]]:
    """Offsets ``(dy, dx)`` with ``0 < dy^2 + dx^2 <= radius^2``, one of each +/- pair."""
    reach = int(np.floor(radius))
    offsets = []
    for dy in range(0, reach + 1):
        for dx in range(-reach, reach + 1):
            if (dy == 0 and dx <= 0) or dy * dy + dx * dx > radius * radius:
                continue
            offsets.append((dy, dx))
    return offsets


def pixel_affinity(
    features: np.ndarray,
    *,
    radius: float,
    sigma_color: float,
    sigma_spatial: float,
) -> sp.csr_matrix:
    """Shi and Malik's pixel affinity, as a sparse matrix.

    ``w_ij = exp(-||F_i - F_j||^2 / sigma_color^2) * exp(-||X_i - X_j||^2 / sigma_spatial^2)``
    for pixels with ``||X_i - X_j|| <= radius``, and 0 otherwise (Shi and Malik, "Normalized Cuts
    and Image Segmentation", TPAMI 2000, eq. 11).

    Args:
        features: ``(H, W, C)`` float features (see :func:`image_features`).
        radius: neighbourhood radius in pixels (>= 1, so the grid is connected).
        sigma_color: colour scale, in feature units.
        sigma_spatial: spatial scale in pixels.

    Returns:
        ``(H*W, H*W)`` symmetric affinity with a zero diagonal.
    """
    height, width = features.shape[:2]
    index = np.arange(height * width).reshape(height, width)
    rows, cols, squared, spatial = [], [], [], []
    for dy, dx in _neighbour_offsets(radius):
        # Pair each pixel (y, x) with (y + dy, x + dx) where both are inside the image.
        x0, x1 = max(0, -dx), width - max(0, dx)
        if dy >= height or x0 >= x1:
            continue
        first = (slice(0, height - dy), slice(x0, x1))
        second = (slice(dy, height), slice(x0 + dx, x1 + dx))
        difference = features[first] - features[second]
        squared.append(np.einsum("...c,...c->...", difference, difference).ravel())
        rows.append(index[first].ravel())
        cols.append(index[second].ravel())
        spatial.append(np.full(rows[-1].size, float(dy * dy + dx * dx)))
    size = height * width
    if not rows:  # a single pixel has no neighbours
        return sp.csr_matrix((size, size))
    weights = np.exp(-np.concatenate(squared) / sigma_color**2) * np.exp(
        -np.concatenate(spatial) / sigma_spatial**2
    )
    weights = np.maximum(weights, WEIGHT_FLOOR)
    upper = sp.coo_matrix(
        (weights, (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    return (upper + upper.T).tocsr()


def region_affinity(
    features: np.ndarray, superpixels: np.ndarray, *, sigma_color: float
) -> sp.csr_matrix:
    """Affinity between superpixels: the 4-connected pixel graph coarsened onto the regions.

    ``W_ab = n_ab * exp(-||mu_a - mu_b||^2 / sigma_color^2)``, with ``mu`` the mean feature of a
    region and ``n_ab`` the number of ordered 4-adjacent pixel pairs with one pixel in ``a`` and
    the other in ``b``. For ``a == b`` this gives the self-loop ``W_aa = n_aa`` (twice the
    internal pairs), so a region's degree grows with its area, as on the pixel grid. Without it
    (scikit-image's ``rag_mean_color``) a tiny region weighs as much as a large one and Ncut's
    balance term stops meaning "area".

    Args:
        features: ``(H, W, C)`` float features.
        superpixels: ``(H, W)`` int labels ``0 .. M-1``, all present.
        sigma_color: colour scale, in feature units.

    Returns:
        ``(M, M)`` symmetric affinity, with self-loops.
    """
    num_regions = int(superpixels.max()) + 1
    flat = superpixels.ravel()
    area = np.bincount(flat, minlength=num_regions).astype(np.float64)
    channels = features.reshape(-1, features.shape[-1])
    means = (
        np.stack(
            [
                np.bincount(flat, weights=channels[:, c], minlength=num_regions)
                for c in range(channels.shape[1])
            ],
            axis=1,
        )
        / area[:, None]
    )
    pairs_a = np.concatenate([superpixels[:, :-1].ravel(), superpixels[:-1, :].ravel()])
    pairs_b = np.concatenate([superpixels[:, 1:].ravel(), superpixels[1:, :].ravel()])
    counts = sp.coo_matrix(
        (np.ones(pairs_a.size), (pairs_a, pairs_b)), shape=(num_regions, num_regions)
    )
    counts = (counts + counts.T).tocoo()  # ordered pairs, both directions; sums duplicates
    counts.sum_duplicates()
    difference = means[counts.row] - means[counts.col]
    squared = np.einsum("ec,ec->e", difference, difference)
    similarity = np.maximum(np.exp(-squared / sigma_color**2), WEIGHT_FLOOR)
    weights = counts.data * similarity
    return sp.csr_matrix((weights, (counts.row, counts.col)), shape=(num_regions, num_regions))
