"""Rings and parts: the polygon structure every function of :mod:`seglab.annotations` takes.

* a **ring** is an ``(M, 2)`` array of ``(x, y)`` vertices, implicitly closed (the last vertex
  connects back to the first);
* a **part** is either a single ring, or a list ``[outer, hole, hole, ...]`` of rings, filled
  with the even-odd rule;
* **polygons** is a list of parts, and the parts are unioned (COCO's rule for the polygon list
  of one object).

This module is the base that :mod:`~seglab.annotations.polygons` (rasterising, tracing) and
:mod:`~seglab.annotations.simplify` (vertex budgets) both build on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seglab.annotations._validate import MAX_ANNOTATION_COORDINATE

__all__ = ["as_parts", "ring_area", "count_vertices"]


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
    if np.abs(ring).max() > MAX_ANNOTATION_COORDINATE:
        raise ValueError(
            f"{where}: coordinate {np.abs(ring).max():g} is beyond the limit of "
            f"{MAX_ANNOTATION_COORDINATE:,.0f} pixels (seglab.annotations.MAX_ANNOTATION_COORDINATE)"
        )
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
        ValueError: if a ring is not ``(M, 2)``, is empty, has non-finite vertices, or a
            coordinate beyond :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE` (2**31).

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
