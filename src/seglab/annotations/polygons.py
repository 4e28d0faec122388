"""Polygons <-> masks: rasterising polygons and tracing masks back into polygons.

Coordinate convention (the one COCO and pycocotools use): a vertex is ``(x, y)`` in pixels,
the top-left corner of the image is ``(0, 0)``, and pixel ``(row i, column j)`` covers the
square ``[j, j + 1] x [i, i + 1]``, so its centre is ``(j + 0.5, i + 0.5)``. A pixel belongs to
a polygon when its centre lies inside it. pycocotools' ``frPyObjects`` + ``decode`` follows the
same rule up to its 1/5-pixel quantisation: the two disagree only on pixels whose centre is
within 0.25 px of an edge (measured in ``tests/annotations/test_polygons.py``). LabelMe points,
as clicked in its Qt canvas, use the same corner-origin convention.

Polygon structure (used by every function in :mod:`seglab.annotations`):

* a **ring** is an ``(M, 2)`` array of ``(x, y)`` vertices, implicitly closed (the last vertex
  connects back to the first);
* a **part** is either a single ring, or a list ``[outer, hole, hole, ...]`` of rings. The
  rings of one part are filled with the even-odd rule, so the holes are cut out of the outer
  ring;
* **polygons** is a list of parts, and the parts are unioned. This is exactly COCO's rule for
  the polygon list of one object (each COCO polygon is a part with a single ring).

:func:`mask_to_polygons` returns parts in the explicit ``[outer, *holes]`` form, outer rings
with positive and holes with negative shoelace area (:func:`ring_area`), largest part first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure

__all__ = [
    "as_parts",
    "ring_area",
    "count_vertices",
    "keyhole_ring",
    "polygons_to_mask",
    "mask_to_polygons",
]

Ring = np.ndarray
Part = list  # list[Ring]: [outer, *holes]


def _as_ring(value: object, where: str) -> np.ndarray:
    try:
        ring = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: expected an (M, 2) array of (x, y) vertices") from error
    if ring.ndim != 2 or ring.shape[1] != 2 or ring.shape[0] == 0:
        raise ValueError(
            f"{where}: expected an (M, 2) array of (x, y) vertices, got shape {ring.shape}"
        )
    if not np.isfinite(ring).all():
        raise ValueError(f"{where}: vertices must be finite numbers")
    return ring


def _looks_like_ring(value: object) -> bool:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.ndim == 2 and array.shape[1] == 2


def as_parts(polygons: Sequence) -> list[list[np.ndarray]]:
    """Normalise a polygons argument to a list of parts, each a list of float64 rings.

    Args:
        polygons: a list of parts; each part is an ``(M, 2)`` ring or a list
            ``[outer, *holes]`` of rings (see the module docstring).

    Returns:
        ``[[outer, *holes], ...]`` with every ring an ``(M, 2)`` float64 array.

    Raises:
        TypeError: if ``polygons`` is a single array instead of a list of parts.
        ValueError: if a ring is not ``(M, 2)``, is empty, or has non-finite vertices.

    Example:
        >>> parts = as_parts([[[0, 0], [4, 0], [4, 4]]])
        >>> len(parts), parts[0][0].shape
        (1, (3, 2))
    """
    if isinstance(polygons, np.ndarray):
        raise TypeError(
            "polygons must be a list of parts, not a single array; wrap one ring as [ring]"
        )
    parts: list[list[np.ndarray]] = []
    for index, part in enumerate(polygons):
        if _looks_like_ring(part):
            parts.append([_as_ring(part, f"polygons[{index}]")])
        elif isinstance(part, (list, tuple)) and len(part) > 0:
            parts.append([_as_ring(ring, f"polygons[{index}][{k}]") for k, ring in enumerate(part)])
        else:
            raise ValueError(
                f"polygons[{index}]: expected an (M, 2) ring or a list [outer, *holes] of rings"
            )
    return parts


def ring_area(ring: np.ndarray) -> float:
    """Signed shoelace area of a ring in (x, y) coordinates.

    With y pointing down (image coordinates) a positive area means the ring turns clockwise
    on screen. :func:`mask_to_polygons` gives outer rings a positive and holes a negative area.

    Example:
        >>> ring_area(np.array([[0, 0], [2, 0], [2, 3], [0, 3]]))
        6.0
    """
    ring = np.asarray(ring, dtype=np.float64)
    x, y = ring[:, 0], ring[:, 1]
    return float(0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def count_vertices(polygons: Sequence) -> int:
    """Total number of vertices over all rings of all parts (the labelling cost).

    Example:
        >>> count_vertices([[np.zeros((4, 2)), np.zeros((3, 2))], np.zeros((5, 2))])
        12
    """
    return sum(len(ring) for part in as_parts(polygons) for ring in part)


def keyhole_ring(part: Sequence) -> np.ndarray:
    """One ring that traces a part's outer ring and visits each hole over a zero-width bridge.

    Formats without holes (COCO polygons, LabelMe) store a part with holes this way. Under the
    even-odd rule the bridge, walked there and back, has no area, so the hole survives in
    :func:`polygons_to_mask`, in pycocotools and in viewers that fill polygons.

    Args:
        part: an ``(M, 2)`` ring or ``[outer, *holes]``.

    Returns:
        ``(M', 2)`` float64 ring; the outer ring itself when there are no holes.

    Example:
        >>> outer = np.array([[0, 0], [6, 0], [6, 6], [0, 6]])
        >>> hole = np.array([[2, 2], [2, 4], [4, 4], [4, 2]])
        >>> ring = keyhole_ring([outer, hole])
        >>> len(ring), int(polygons_to_mask([ring], 6, 6).sum())
        (10, 32)
    """
    (rings,) = as_parts([part])
    ring = rings[0]
    for hole in rings[1:]:
        # Bridge between the closest pair of vertices, so the slit is short in a viewer.
        # (a k-d tree keeps this O(M log M) for rings with thousands of vertices).
        distances, nearest = cKDTree(ring).query(hole)
        j = int(np.argmin(distances))
        i = int(nearest[j])
        loop = np.concatenate([hole[j:], hole[: j + 1]])  # the hole, closed back on hole[j]
        ring = np.concatenate([ring[: i + 1], loop, ring[i:]])
    return ring


def _check_size(height: int, width: int) -> tuple[int, int]:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(height), int(width)


def _rasterise_part(rings: list[np.ndarray], out: np.ndarray) -> None:
    """OR the even-odd fill of ``rings`` into ``out`` (pixel-centre rule, scanline crossings)."""
    height, width = out.shape
    points = np.concatenate(rings)
    # Rows whose centre y = i + 0.5 lies in [ymin, ymax); columns likewise. Working in this
    # window keeps the cost proportional to the part, not to the image.
    row0 = max(0, int(np.ceil(points[:, 1].min() - 0.5)))
    row1 = min(height, int(np.ceil(points[:, 1].max() - 0.5)))
    col0 = max(0, int(np.ceil(points[:, 0].min() - 0.5)))
    col1 = min(width, int(np.ceil(points[:, 0].max() - 0.5)))
    if row1 <= row0 or col1 <= col0:
        return
    local_width = col1 - col0 + 1
    flat_indices = []
    for ring in rings:
        x0, y0 = ring[:, 0], ring[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        # Half-open rule (ylow <= yc < yhigh): a vertex exactly on a scanline is counted once,
        # and horizontal edges never cross.
        low = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), row0, row1).astype(np.int64)
        high = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), row0, row1).astype(np.int64)
        counts = np.maximum(high - low, 0)
        edge = np.repeat(np.arange(len(ring)), counts)
        if edge.size == 0:
            continue
        first = np.repeat(np.cumsum(counts) - counts, counts)
        rows = low[edge] + np.arange(edge.size) - first
        t = (rows + 0.5 - y0[edge]) / (y1[edge] - y0[edge])
        x_cross = x0[edge] + t * (x1[edge] - x0[edge])
        # A crossing at x toggles every pixel whose centre j + 0.5 lies to its right.
        cols = np.clip(np.floor(x_cross - 0.5) + 1, col0, col1).astype(np.int64) - col0
        flat_indices.append((rows - row0) * local_width + cols)
    if not flat_indices:
        return
    toggles = np.bincount(
        np.concatenate(flat_indices), minlength=(row1 - row0) * local_width
    ).reshape(row1 - row0, local_width)
    inside = (np.cumsum(toggles, axis=1)[:, :-1] & 1).astype(bool)
    out[row0:row1, col0:col1] |= inside


def polygons_to_mask(polygons: Sequence, height: int, width: int) -> np.ndarray:
    """Rasterise polygons into a boolean mask (pixel-centre rule, COCO coordinates).

    Args:
        polygons: list of parts; each part is an ``(M, 2)`` ring of ``(x, y)`` vertices or a
            list ``[outer, *holes]``. Rings of a part are filled even-odd; parts are unioned.
            Rings with fewer than 3 vertices have no area and add nothing (as in pycocotools).
        height: mask height in pixels.
        width: mask width in pixels.

    Returns:
        ``(height, width)`` bool mask; pixel ``(i, j)`` is True when ``(j + 0.5, i + 0.5)``
        is inside. Vertices outside the image are allowed (the polygon is clipped).

    Raises:
        ValueError: for a non-positive size or a malformed ring.
        TypeError: if ``polygons`` is a single array instead of a list of parts.

    Example:
        >>> square = np.array([[1, 1], [3, 1], [3, 3], [1, 3]])
        >>> polygons_to_mask([square], 4, 4).astype(int)
        array([[0, 0, 0, 0],
               [0, 1, 1, 0],
               [0, 1, 1, 0],
               [0, 0, 0, 0]])
    """
    height, width = _check_size(height, width)
    mask = np.zeros((height, width), dtype=bool)
    for part in as_parts(polygons):
        _rasterise_part(part, mask)
    return mask


def _drop_collinear(ring: np.ndarray) -> np.ndarray:
    """Remove vertices where the boundary goes straight on (no area change).

    Marching-squares vertices lie on a half-pixel grid, so the cross products are exact.
    """
    previous, following = np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0)
    a, b = ring - previous, following - ring
    keep = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0
    return ring[keep] if keep.sum() >= 3 else ring


def _trace_component(component: np.ndarray, row0: int, col0: int) -> list[np.ndarray]:
    """Rings ``[outer, *holes]`` of one 8-connected component, in COCO coordinates."""
    padded = np.pad(component, 1).astype(np.float64)
    # Marching squares at level 0.5 passes between the centres of foreground and background
    # pixels, so the pixel-centre rule rasterises the traced rings back to the exact mask.
    # fully_connected="high" joins diagonal foreground pixels (8-connectivity), so a component
    # has exactly one outer ring; every other ring is a hole.
    contours = measure.find_contours(padded, 0.5, fully_connected="high")
    rings = []
    for contour in contours:
        # (row, col) in the padded crop -> (x, y) with pixel centres at +0.5.
        ring = np.stack([contour[:-1, 1] + col0 - 0.5, contour[:-1, 0] + row0 - 0.5], axis=1)
        rings.append(_drop_collinear(ring))
    areas = [ring_area(ring) for ring in rings]
    outer = int(np.argmax(np.abs(areas)))
    ordered = [rings[outer]] + [ring for k, ring in enumerate(rings) if k != outer]
    signs = [1.0] + [-1.0] * (len(ordered) - 1)
    return [
        ring if ring_area(ring) * sign > 0 else ring[::-1].copy()
        for ring, sign in zip(ordered, signs, strict=True)
    ]


def mask_to_polygons(
    mask: np.ndarray,
    *,
    max_vertices: int | None = None,
    tolerance: float | None = None,
) -> list[list[np.ndarray]]:
    """Trace a binary mask into polygons (outer rings and holes), optionally simplified.

    Every 8-connected component becomes one part ``[outer, *holes]``. Without simplification
    the rings follow the pixel boundary (marching squares between pixel centres), so
    ``polygons_to_mask(mask_to_polygons(mask), *mask.shape)`` gives back ``mask`` exactly.

    Simplification, applied in this order when both are given:

    * ``tolerance``: Douglas-Peucker on each ring (``cv2.approxPolyDP``, closed), the maximum
      distance in pixels between the traced and the simplified ring.
    * ``max_vertices``: a vertex budget for the **whole object**, all parts and holes
      together. Visvalingam-Whyatt removes, over all rings at once, the vertex whose removal
      changes the area least; a ring that is down to a triangle disappears as a whole when its
      area is the smallest change (a part takes its holes with it). So the budget goes to the
      rings that matter for IoU, and small specks and holes are dropped first. The largest
      part always survives, so the result has between 3 and ``max_vertices`` vertices.
      See :func:`seglab.annotations.simplify.simplify_polygons`.

    Args:
        mask: ``(H, W)`` array; nonzero (or True) is foreground.
        max_vertices: total vertex budget (>= 3), or None for no budget.
        tolerance: Douglas-Peucker distance in pixels (>= 0), or None.

    Returns:
        List of parts ``[outer, *holes]`` (float64 ``(M, 2)`` rings of ``(x, y)``), largest
        part first; outer rings have positive and holes negative :func:`ring_area`. An empty
        mask gives ``[]``.

    Raises:
        ValueError: if ``mask`` is not 2-D, or for a bad ``max_vertices`` or ``tolerance``.

    Example:
        >>> mask = np.zeros((4, 4), bool); mask[1:3, 1:3] = True
        >>> (outer,) = mask_to_polygons(mask)[0]  # corners cut between pixel centres
        >>> len(outer), ring_area(outer)
        (8, 3.5)
        >>> bool((polygons_to_mask([[outer]], 4, 4) == mask).all())
        True
    """
    from seglab.annotations.simplify import simplify_polygons

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    foreground = mask.astype(bool)
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    parts = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        component = labels[box] == index
        parts.append(_trace_component(component, box[0].start, box[1].start))
    parts.sort(key=lambda part: -ring_area(part[0]))
    if max_vertices is None and tolerance is None:
        return parts
    return simplify_polygons(parts, max_vertices=max_vertices, tolerance=tolerance)
