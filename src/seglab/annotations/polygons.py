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

from collections.abc import Iterator, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure

from seglab.annotations._validate import MAX_ANNOTATION_PIXELS, pixels_message
from seglab.annotations.rings import as_parts, count_vertices, ring_area

__all__ = [
    "as_parts",
    "polygons_window",
    "paint",
    "translate",
    "ring_area",
    "count_vertices",
    "keyhole_ring",
    "polygons_to_mask",
    "mask_to_polygons",
    "trace_values",
]

Ring = np.ndarray
Part = list  # list[Ring]: [outer, *holes]
Window = tuple[int, int, np.ndarray]  # (row0, col0, bool mask of the pixels from there)


def keyhole_ring(part: Sequence) -> np.ndarray:
    """One ring that traces a part's outer ring and visits each hole over a zero-width bridge.

    Formats without holes (COCO polygons, LabelMe) store a part with holes this way. Under the
    even-odd rule the bridge, walked there and back, has no area, so the hole survives in
    :func:`polygons_to_mask`, in pycocotools and in viewers that fill polygons.

    Each hole is bridged from its vertex closest to the outer ring or to an earlier hole, so
    the slits stay short in a viewer. The cost is O(M log M) in the total vertex count M, also
    for a part with thousands of holes (a traced noise mask).

    Args:
        part: an ``(M, 2)`` ring or ``[outer, *holes]``.

    Returns:
        ``(M', 2)`` float64 ring, ``M' = M + 2 * holes``; the outer ring itself when there are
        no holes.

    Example:
        >>> outer = np.array([[0, 0], [6, 0], [6, 6], [0, 6]])
        >>> hole = np.array([[2, 2], [2, 4], [4, 4], [4, 2]])
        >>> ring = keyhole_ring([outer, hole])
        >>> len(ring), int(polygons_to_mask([ring], 6, 6).sum())
        (10, 32)
    """
    (rings,) = as_parts([part])
    if len(rings) == 1:
        return rings[0]
    bridges = _bridges(rings)
    # hanging[ring]: (vertex, hole) for every hole bridged from a vertex of that ring.
    hanging: dict[int, list[tuple[int, int]]] = {}
    for hole, (parent, vertex, _) in enumerate(bridges, start=1):
        hanging.setdefault(parent, []).append((vertex, hole))

    def frame(ring: int, back: int | None) -> list:
        """Walk state of one ring: its vertex order, the stops where holes hang, the return."""
        size = len(rings[ring])
        entry = 0 if ring == 0 else bridges[ring - 1][2]
        order = np.arange(entry, entry + size + (ring > 0)) % size  # a hole closes on entry
        stops = sorted(
            ((vertex - entry) % size, vertex, hole) for vertex, hole in hanging.get(ring, [])
        )
        return [ring, order, 0, stops, 0, back]

    # Depth-first walk without recursion (holes may chain thousands deep): emit a ring up to a
    # stop, walk the hole hanging there, come back to the stop vertex, and go on.
    pieces = []
    stack = [frame(0, None)]
    while stack:
        current = stack[-1]
        ring, order, position, stops, next_stop, back = current
        if next_stop < len(stops):
            stop, vertex, hole = stops[next_stop]
            pieces.append(rings[ring][order[position : stop + 1]])
            current[2], current[4] = max(position, stop + 1), next_stop + 1
            stack.append(frame(hole, vertex))
            continue
        pieces.append(rings[ring][order[position:]])
        stack.pop()
        if back is not None:
            pieces.append(rings[stack[-1][0]][[back]])
    return np.concatenate(pieces)


def _bridges(rings: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """For each hole, ``(parent ring, parent vertex, hole vertex)`` of a short bridge.

    The parent is the outer ring or an earlier hole (so the bridges form a tree rooted at the
    outer ring), found among the 16 nearest vertices of any ring; when none of those qualifies
    the nearest vertex of the outer ring is used.
    """
    points = np.concatenate(rings)
    ring_of = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
    starts = np.concatenate([[0], np.cumsum([len(ring) for ring in rings])])
    candidates = min(16, len(points))
    distances, nearest = cKDTree(points).query(points, k=candidates)
    distances, nearest = distances.reshape(len(points), -1), nearest.reshape(len(points), -1)
    outer_tree = cKDTree(rings[0])
    bridges = []
    for hole in range(1, len(rings)):
        own = slice(starts[hole], starts[hole + 1])
        allowed = ring_of[nearest[own]] < hole
        if allowed.any():
            masked = np.where(allowed, distances[own], np.inf)
            j, k = np.unravel_index(int(np.argmin(masked)), masked.shape)
            target = int(nearest[own][j, k])
            parent = int(ring_of[target])
            bridges.append((parent, target - int(starts[parent]), int(j)))
        else:
            far, index = outer_tree.query(rings[hole])
            j = int(np.argmin(far))
            bridges.append((0, int(index[j]), j))
    return bridges


def _check_size(height: int, width: int) -> tuple[int, int]:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r:.100}")
    height, width = int(height), int(width)
    if height * width > MAX_ANNOTATION_PIXELS:
        raise ValueError(f"image size {pixels_message(height, width)}")
    return height, width


# Edge crossings are made this many at a time, so memory stays bounded for huge polygons.
_CROSSINGS_PER_CHUNK = 1 << 20
# A part may cross pixel rows inside its window at most this many times per window pixel plus
# vertex: a traced outline crosses at most about twice per pixel, and the cap keeps the cost
# of any polygon linear in its window and vertex count.
_CROSSINGS_PER_PIXEL = 16


def _part_window(rings: list[np.ndarray], height: int, width: int) -> Window | None:
    """The even-odd fill of ``rings`` inside their bounding window (pixel-centre rule).

    Returns ``(row0, col0, inside)`` or None when no pixel centre can be inside. The cost is
    proportional to the window and the number of edge/row crossings, not to the image.

    Raises:
        ValueError: if edges over the window cross pixel rows more than
            ``16 * (window pixels + vertices)`` times. Any outline, even one traced around
            every pixel, stays far below that; only a polygon that zig-zags across the image
            with many more edges than columns exceeds it (10**7 such vertices in a 10**4-row
            image would be 10**11 crossings, hours of work).
    """
    points = np.concatenate(rings)
    # Rows whose centre y = i + 0.5 lies in [ymin, ymax); columns likewise. Working in this
    # window keeps the cost proportional to the part, not to the image.
    row0 = max(0, int(np.ceil(points[:, 1].min() - 0.5)))
    row1 = min(height, int(np.ceil(points[:, 1].max() - 0.5)))
    col0 = max(0, int(np.ceil(points[:, 0].min() - 0.5)))
    col1 = min(width, int(np.ceil(points[:, 0].max() - 0.5)))
    if row1 <= row0 or col1 <= col0:
        return None
    local_width = col1 - col0 + 1
    x0, y0 = points[:, 0], points[:, 1]
    # Each vertex's successor in its own ring (rings close on themselves).
    x1 = np.concatenate([np.roll(ring[:, 0], -1) for ring in rings])
    y1 = np.concatenate([np.roll(ring[:, 1], -1) for ring in rings])
    # Half-open rule (ylow <= yc < yhigh): a vertex exactly on a scanline is counted once,
    # and horizontal edges never cross.
    low = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), row0, row1).astype(np.int64)
    high = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), row0, row1).astype(np.int64)
    counts = np.maximum(high - low, 0)
    # An edge wholly right of the window crosses into the dropped last column: no effect. One
    # wholly left of it toggles the first column of every row it spans: a row-parity
    # difference, O(1) per edge. Only the edges over the window need a crossing per row.
    # (Half a pixel of margin keeps both tests exact: see the column formula below.)
    right = np.minimum(x0, x1) >= col1
    left = np.maximum(x0, x1) < col0
    flips = np.zeros(row1 - row0 + 1, dtype=np.uint8)
    np.bitwise_xor.at(flips, low[left] - row0, 1)
    np.bitwise_xor.at(flips, high[left] - row0, 1)
    toggles = np.zeros((row1 - row0, local_width), dtype=np.uint8)
    toggles[:, 0] = np.bitwise_xor.accumulate(flips)[:-1]
    middle = ~(left | right) & (counts > 0)
    x0, y0, x1, y1 = x0[middle], y0[middle], x1[middle], y1[middle]
    low, counts = low[middle], counts[middle]
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    limit = _CROSSINGS_PER_PIXEL * ((row1 - row0) * (col1 - col0) + len(points))
    if total > limit:
        raise ValueError(
            f"the polygon crosses pixel rows {total:,} times inside its {row1 - row0} x "
            f"{col1 - col0} window, more than {_CROSSINGS_PER_PIXEL} x (window pixels + "
            f"{len(points)} vertices) = {limit:,}: it zig-zags far more than any outline"
        )
    # Only the parity of the crossings per pixel matters, so uint8 XOR is enough.
    toggles = toggles.reshape(-1)
    for first in range(0, total, _CROSSINGS_PER_CHUNK):
        index = np.arange(first, min(first + _CROSSINGS_PER_CHUNK, total))
        edge = np.searchsorted(ends, index, side="right")
        rows = low[edge] + index - (ends[edge] - counts[edge])
        t = (rows + 0.5 - y0[edge]) / (y1[edge] - y0[edge])
        x_cross = x0[edge] + t * (x1[edge] - x0[edge])
        # A crossing at x toggles every pixel whose centre j + 0.5 lies to its right.
        cols = np.clip(np.floor(x_cross - 0.5) + 1, col0, col1).astype(np.int64) - col0
        np.bitwise_xor.at(toggles, (rows - row0) * local_width + cols, 1)
    toggles = toggles.reshape(row1 - row0, local_width)
    inside = np.bitwise_xor.accumulate(toggles, axis=1)[:, :-1].astype(bool)
    return row0, col0, inside


def polygons_window(polygons: Sequence, height: int, width: int) -> Window:
    """Rasterise polygons into the smallest window that holds them, not the whole image.

    Painting many small objects into a large image this way costs the objects' size, not
    objects x image size (10**4 small COCO objects on a 16-megapixel image would otherwise
    allocate 160 GB).

    Args:
        polygons: list of parts, as for :func:`polygons_to_mask`.
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        ``(row0, col0, inside)``: ``inside`` is the bool mask of the pixels
        ``[row0 : row0 + h, col0 : col0 + w]``; ``(0, 0, (0, 0) array)`` when no pixel is inside.

    Raises:
        ValueError: as :func:`polygons_to_mask`.
        TypeError: as :func:`polygons_to_mask`.

    Example:
        >>> row0, col0, inside = polygons_window([np.array([[1, 1], [3, 1], [3, 2], [1, 2]])], 9, 9)
        >>> row0, col0, inside.astype(int).tolist()
        (1, 1, [[1, 1]])
    """
    height, width = _check_size(height, width)
    windows = [w for part in as_parts(polygons) if (w := _part_window(part, height, width))]
    if not windows:
        return 0, 0, np.zeros((0, 0), dtype=bool)
    if len(windows) == 1:
        return windows[0]
    row0 = min(w[0] for w in windows)
    col0 = min(w[1] for w in windows)
    row1 = max(w[0] + w[2].shape[0] for w in windows)
    col1 = max(w[1] + w[2].shape[1] for w in windows)
    inside = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    for r, c, part in windows:
        inside[r - row0 : r - row0 + part.shape[0], c - col0 : c - col0 + part.shape[1]] |= part
    return row0, col0, inside


def paint(canvas: np.ndarray, window: Window, value: int) -> None:
    """Set the pixels of ``window`` (from :func:`polygons_window`) to ``value`` in ``canvas``."""
    row0, col0, inside = window
    height, width = inside.shape
    canvas[row0 : row0 + height, col0 : col0 + width][inside] = value


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
        ValueError: for a non-positive size or one over
            :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS` pixels, a malformed ring, a
            coordinate beyond :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE`, or a part
            that crosses pixel rows more than 16 x (its window's pixels + its vertices) times
            (a zig-zag far beyond any outline; the cost stays linear).
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
        window = _part_window(part, height, width)
        if window is not None:
            row0, col0, inside = window
            mask[row0 : row0 + inside.shape[0], col0 : col0 + inside.shape[1]] |= inside
    return mask


def translate(parts: list[list[np.ndarray]], dx: float, dy: float) -> list[list[np.ndarray]]:
    """Shift every ring of ``parts`` by ``(dx, dy)``: polygons traced in a window, placed back."""
    if not dx and not dy:
        return parts
    shift = np.array([dx, dy], dtype=np.float64)
    return [[ring + shift for ring in part] for part in parts]


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
    if not foreground.any():
        return []
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


def trace_values(mask: np.ndarray, values: Sequence[int]) -> Iterator[tuple[int, list]]:
    """Trace ``mask == value`` for each value, each inside its own bounding window.

    :func:`mask_to_polygons` on ``mask == value`` costs the whole image for every value; a
    16-bit mask with thousands of values would cost thousands of images. Here the image is
    scanned once (:func:`scipy.ndimage.find_objects`) and each value is traced in its window.

    Args:
        mask: ``(H, W)`` integer index mask.
        values: positive values to trace, e.g. the class indices present.

    Yields:
        ``(value, parts)`` for each value present, in the order given; ``parts`` as from
        :func:`mask_to_polygons`, in image coordinates.

    Raises:
        ValueError: for a value below 1 (0 is the background of
            :func:`scipy.ndimage.find_objects`).

    Example:
        >>> mask = np.array([[0, 2, 2], [0, 0, 0]])
        >>> [(value, len(parts)) for value, parts in trace_values(mask, [1, 2])]
        [(2, 1)]
    """
    mask = np.asarray(mask)
    values = [int(value) for value in values]
    if not values:
        return
    if min(values) < 1:
        raise ValueError(f"values to trace must be positive, got {min(values)}")
    top = max(values)
    labels = np.where(np.isin(mask, values), mask, 0).astype(np.int64, copy=False)
    boxes = ndimage.find_objects(labels, max_label=top)
    for value in values:
        box = boxes[value - 1]
        if box is None:
            continue
        parts = mask_to_polygons(labels[box] == value)
        yield value, translate(parts, box[1].start, box[0].start)
