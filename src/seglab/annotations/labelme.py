"""LabelMe JSON: one file per image, read, written and converted to and from index masks.

A LabelMe file has ``shapes`` (each with ``label``, ``points`` and ``shape_type``),
``imagePath``, ``imageHeight`` and ``imageWidth`` (``imageData`` is written as ``null``; the
image stays a separate file). Supported shape types:

* ``polygon``: three or more ``[x, y]`` points;
* ``rectangle``: two opposite corners (four corner points are read as a polygon);
* ``circle``: the centre and one point on the circle. It is rasterised exactly (pixel centres
  within the radius) and traced when a polygon is needed.

A missing or ``null`` ``shape_type`` means ``polygon`` (old LabelMe files). Points use the
corner-origin pixel convention of :mod:`seglab.annotations.polygons`, as LabelMe's Qt canvas
does and as labelme2coco assumes. Shapes are painted in file order, so a later shape covers
an earlier one (LabelMe's own ``labelme2voc`` does the same); a shape whose label is the
background name (``class_names[0]``) paints background, which lets a user cut holes.
Holes are written as keyhole polygons (see :func:`seglab.annotations.polygons.keyhole_ring`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from seglab._checks import IGNORE_INDEX
from seglab.annotations._validate import (
    check_class_names,
    check_pixels,
    class_name_problem,
    fail,
    naming,
    points_array,
    positive_int,
    read_validated,
    require,
    write_validated,
)
from seglab.annotations.polygons import (
    Window,
    as_parts,
    keyhole_ring,
    mask_to_polygons,
    paint,
    polygons_window,
    trace_values,
    translate,
)
from seglab.annotations.simplify import simplify_polygons

__all__ = [
    "SHAPE_TYPES",
    "validate_labelme",
    "read_labelme",
    "write_labelme",
    "shape_to_mask",
    "shape_window",
    "shape_to_polygons",
    "polygons_to_shapes",
    "labelme_to_mask",
    "mask_to_labelme",
]

SHAPE_TYPES = ("circle", "polygon", "rectangle")
LABELME_VERSION = "5.0.1"


def _shape_type(shape: dict) -> str:
    return shape.get("shape_type") or "polygon"


def validate_labelme(data: Any, source: str = "<labelme>") -> dict:
    """Check the structure of a LabelMe dict; errors name ``source`` and the field.

    Args:
        data: the parsed JSON.
        source: file name to put in error messages.

    Returns:
        ``data`` itself.

    Raises:
        ValueError: e.g. ``bad.json: shapes[2].points: expected a list of [x, y] pairs``; also
            for ``imageHeight x imageWidth`` over
            :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS` (178,956,970), a point beyond
            :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE` (2**31), or a label that is
            empty or spans lines (it could not be a line of ``classes.txt``).

    Example:
        >>> data = {"shapes": [], "imagePath": "a.jpg", "imageHeight": 4, "imageWidth": 5}
        >>> validate_labelme(data)["imageWidth"]
        5
    """
    if not isinstance(data, dict):
        raise fail(source, "(top level)", "expected a JSON object")
    height = positive_int(require(data, "imageHeight", source, ""), source, "imageHeight")
    width = positive_int(require(data, "imageWidth", source, ""), source, "imageWidth")
    check_pixels(height, width, source, "imageHeight x imageWidth")
    image_path = data.get("imagePath")
    if image_path is not None and not isinstance(image_path, str):
        raise fail(source, "imagePath", f"expected a string, got {image_path!r}")
    shapes = require(data, "shapes", source, "")
    if not isinstance(shapes, list):
        raise fail(source, "shapes", "expected a list")
    for k, shape in enumerate(shapes):
        field = f"shapes[{k}]"
        problem = class_name_problem(require(shape, "label", source, field))
        if problem:
            raise fail(source, f"{field}.label", problem)
        shape_type = _shape_type(shape)
        if shape_type not in SHAPE_TYPES:
            raise fail(
                source,
                f"{field}.shape_type",
                f"{shape_type!r} is not supported; supported: {', '.join(SHAPE_TYPES)}",
            )
        points = points_array(require(shape, "points", source, field), source, f"{field}.points")
        expected = {"polygon": "at least 3", "rectangle": "2 or 4", "circle": "2"}[shape_type]
        if (
            (shape_type == "polygon" and len(points) < 3)
            or (shape_type == "rectangle" and len(points) not in (2, 4))
            or (shape_type == "circle" and len(points) != 2)
        ):
            raise fail(
                source,
                f"{field}.points",
                f"a {shape_type} needs {expected} points, got {len(points)}",
            )
    return data


def read_labelme(path: str | os.PathLike) -> dict:
    """Read a LabelMe JSON file, checked by :func:`validate_labelme` (a ``FileNotFoundError``, or
    a ``ValueError`` naming the file and the field)."""
    return read_validated(path, validate_labelme)


def write_labelme(path: str | os.PathLike, data: dict) -> None:
    """Check ``data`` with :func:`validate_labelme` and write it as LabelMe JSON, atomically."""
    write_validated(path, data, validate_labelme)


# Rows of a circle tested per step, so that a circle as large as the image needs bounded memory.
_CIRCLE_ROWS_PIXELS = 1 << 22


def _circle_window(points: np.ndarray, height: int, width: int) -> Window:
    """Pixels whose centre is within the circle, inside the circle's bounding window."""
    (cx, cy), edge = points[0], points[1]
    radius = float(np.hypot(*(edge - points[0])))
    # One pixel of margin around the exact bounds: the test below decides, not the bounds.
    row0 = int(min(max(np.floor(cy - radius) - 1, 0), height))
    row1 = int(min(max(np.ceil(cy + radius) + 1, 0), height))
    col0 = int(min(max(np.floor(cx - radius) - 1, 0), width))
    col1 = int(min(max(np.ceil(cx + radius) + 1, 0), width))
    inside = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    xs = np.arange(col0, col1) + 0.5
    step = max(1, _CIRCLE_ROWS_PIXELS // max(1, col1 - col0))
    for start in range(row0, row1, step):
        ys = np.arange(start, min(start + step, row1)) + 0.5
        inside[start - row0 : start - row0 + len(ys)] = (xs[None, :] - cx) ** 2 + (
            ys[:, None] - cy
        ) ** 2 <= radius**2
    return row0, col0, inside


def _circle_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    paint(mask, _circle_window(points, height, width), True)
    return mask


def shape_to_polygons(shape: dict, height: int, width: int) -> list[list[np.ndarray]]:
    """A (validated) LabelMe shape as polygons; a circle is traced from its exact raster.

    Example:
        >>> shape = {"label": "a", "points": [[1, 1], [3, 2]], "shape_type": "rectangle"}
        >>> shape_to_polygons(shape, 4, 4)[0][0].tolist()
        [[1.0, 1.0], [3.0, 1.0], [3.0, 2.0], [1.0, 2.0]]
    """
    points = np.asarray(shape["points"], dtype=np.float64)
    shape_type = _shape_type(shape)
    if shape_type == "circle":
        row0, col0, inside = _circle_window(points, height, width)
        return translate(mask_to_polygons(inside), col0, row0)
    if shape_type == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = points
        points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return [[points]]


def shape_window(shape: dict, height: int, width: int) -> Window:
    """Rasterise one (validated) LabelMe shape inside its bounding window.

    Returns:
        ``(row0, col0, inside)`` as :func:`seglab.annotations.polygons.polygons_window`.

    Raises:
        ValueError: as :func:`seglab.annotations.polygons.polygons_to_mask`.
    """
    if _shape_type(shape) == "circle":
        return _circle_window(np.asarray(shape["points"], dtype=np.float64), height, width)
    return polygons_window(shape_to_polygons(shape, height, width), height, width)


def shape_to_mask(shape: dict, height: int, width: int) -> np.ndarray:
    """Rasterise one (validated) LabelMe shape to an ``(H, W)`` bool mask.

    Raises:
        ValueError: as :func:`seglab.annotations.polygons.polygons_to_mask`.

    Example:
        >>> shape = {"label": "a", "points": [[1, 1], [3, 2]], "shape_type": "rectangle"}
        >>> shape_to_mask(shape, 3, 4).astype(int)
        array([[0, 0, 0, 0],
               [0, 1, 1, 0],
               [0, 0, 0, 0]])
    """
    mask = np.zeros((height, width), dtype=bool)
    paint(mask, shape_window(shape, height, width), True)
    return mask


def polygons_to_shapes(polygons: Sequence, label: str) -> list[dict]:
    """One LabelMe polygon shape per part; holes become keyhole rings.

    Example:
        >>> polygons_to_shapes([np.array([[0, 0], [2, 0], [2, 2]])], "cat")[0]["points"]
        [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]
    """
    return [
        {
            "label": label,
            "points": keyhole_ring(part).tolist(),
            "group_id": None,
            "description": "",
            "shape_type": "polygon",
            "flags": {},
        }
        for part in as_parts(polygons)
    ]


def labelme_to_mask(
    data: dict, class_names: Sequence[str], *, source: str = "<labelme>"
) -> np.ndarray:
    """Paint the shapes of a LabelMe dict, in file order, into a ``uint8`` index mask.

    Args:
        data: a LabelMe dict (validated here).
        class_names: the class index of a label is its position in this list;
            ``class_names[0]`` is the background.
        source: file name for error messages.

    Returns:
        ``(imageHeight, imageWidth)`` uint8 index mask.

    Raises:
        ValueError: for an invalid dict (see :func:`validate_labelme`), class names that are
            empty, span lines or repeat (two "cat" classes would merge), more than 256 class
            names, a label that is not in ``class_names``, or a shape that cannot be
            rasterised (the message names the shape).

    Example:
        >>> data = {"imageHeight": 2, "imageWidth": 3, "imagePath": "a.jpg", "shapes": [
        ...     {"label": "dog", "points": [[0, 0], [2, 2]], "shape_type": "rectangle"}]}
        >>> labelme_to_mask(data, ["_background_", "cat", "dog"]).tolist()
        [[2, 2, 0], [2, 2, 0]]
    """
    validate_labelme(data, source)
    names = check_class_names(class_names, "class_names")
    if len(names) > 256:
        raise ValueError(f"at most 256 classes fit a uint8 mask, got {len(names)}")
    index = {name.strip(): i for i, name in enumerate(names)}
    height, width = data["imageHeight"], data["imageWidth"]
    canvas = np.zeros((height, width), dtype=np.uint8)
    for k, shape in enumerate(data["shapes"]):
        if shape["label"].strip() not in index:
            raise fail(
                source,
                f"shapes[{k}].label",
                f"{shape['label']!r} is not in class_names ({', '.join(names)})",
            )
        # Painted in the shape's own window: the cost is the shape's, not the image's.
        with naming(source, f"shapes[{k}]"):
            window = shape_window(shape, height, width)
        paint(canvas, window, index[shape["label"].strip()])
    return canvas


def mask_to_labelme(
    mask: np.ndarray,
    class_names: Sequence[str],
    *,
    image_path: str,
    max_vertices: int | None = None,
    tolerance: float | None = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> dict:
    """An index mask as a LabelMe dict: one polygon shape per 8-connected component per class.

    Args:
        mask: ``(H, W)`` int mask; 0 is background (no shape), ``ignore_index`` is left out.
        class_names: label of every class index.
        image_path: written as ``imagePath`` (relative to the JSON file, as LabelMe expects).
        max_vertices: vertex budget per shape (see
            :func:`seglab.annotations.simplify.simplify_polygons`).
        tolerance: Douglas-Peucker distance in pixels per shape.
        ignore_index: mask value that gets no shape; None for none.

    Returns:
        A LabelMe dict with ``imageData`` set to None.

    Raises:
        ValueError: if the mask is not 2-D or holds a value with no class name, or for class
            names that are empty, span lines or repeat.

    Example:
        >>> mask = np.zeros((4, 4), np.uint8); mask[1:3, 1:3] = 1
        >>> data = mask_to_labelme(mask, ["_background_", "cat"], image_path="a.jpg")
        >>> [shape["label"] for shape in data["shapes"]], data["imageHeight"]
        (['cat'], 4)
    """
    class_names = check_class_names(class_names, "class_names")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{image_path}: mask must be 2-D (H, W), got shape {mask.shape}")
    shapes = []
    values = [v for v in np.unique(mask).tolist() if v != 0 and v != ignore_index]
    for value in values:
        if not 0 < value < len(class_names):
            raise ValueError(
                f"{image_path}: mask value {value} has no class name "
                f"({len(class_names)} names given, index 0 is the background)"
            )
    for value, parts in trace_values(mask, values):
        for part in parts:
            simplified = simplify_polygons([part], max_vertices=max_vertices, tolerance=tolerance)
            shapes.extend(polygons_to_shapes(simplified, str(class_names[value])))
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(mask.shape[0]),
        "imageWidth": int(mask.shape[1]),
    }
