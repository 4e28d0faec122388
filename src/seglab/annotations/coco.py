"""COCO JSON: polygons and RLE, read, written and converted to and from index masks.

A COCO file holds ``images`` (``id``, ``file_name``, ``height``, ``width``), ``categories``
(``id``, ``name``) and ``annotations`` (``id``, ``image_id``, ``category_id``,
``segmentation``, ``area``, ``bbox``, ``iscrowd``). A segmentation is either

* a list of polygons ``[[x1, y1, x2, y2, ...], ...]`` whose fills are unioned (COCO uses this
  for ``iscrowd=0``), in the corner-origin pixel convention of
  :mod:`seglab.annotations.polygons`; or
* run-length encoding ``{"size": [H, W], "counts": ...}``, compressed (a string) or not (a list
  of ints). COCO uses RLE for ``iscrowd=1`` regions. RLE is encoded and decoded with
  pycocotools.

COCO polygons cannot have holes (a second polygon would be unioned, not cut out). A part with
holes is therefore written as one "keyhole" ring: the outer ring, then for each hole a
zero-width bridge to the hole, the hole, and back. Under the even-odd rule the bridge has no
area, so the hole survives in pycocotools, in seglab and in viewers that fill polygons.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from seglab._checks import IGNORE_INDEX
from seglab.annotations._validate import (
    add_category_name,
    check_class_names,
    check_pixels,
    fail,
    flat_coordinates,
    is_int,
    naming,
    positive_int,
    read_validated,
    require,
    rle_counts,
    write_validated,
)
from seglab.annotations.polygons import (
    Window,
    as_parts,
    keyhole_ring,
    paint,
    polygons_window,
    trace_values,
)
from seglab.annotations.simplify import simplify_polygons

__all__ = [
    "ENCODINGS",
    "polygons_to_segmentation",
    "segmentation_to_polygons",
    "segmentation_to_mask",
    "mask_to_rle",
    "segmentation_window",
    "validate_coco",
    "read_coco",
    "write_coco",
    "object_annotation",
    "category_indices",
    "masks_to_coco",
    "coco_to_masks",
]

ENCODINGS = ("polygon", "rle")


def polygons_to_segmentation(polygons: Sequence) -> list[list[float]]:
    """Polygons (parts with holes) as a COCO polygon segmentation, one flat list per part.

    Args:
        polygons: list of parts; a part ``[outer, *holes]`` becomes one keyhole ring.

    Returns:
        ``[[x1, y1, x2, y2, ...], ...]``.

    Example:
        >>> polygons_to_segmentation([np.array([[0, 0], [2, 0], [2, 2]])])
        [[0.0, 0.0, 2.0, 0.0, 2.0, 2.0]]
    """
    return [keyhole_ring(part).ravel().tolist() for part in as_parts(polygons)]


def segmentation_to_polygons(segmentation: list) -> list[np.ndarray]:
    """A COCO polygon segmentation as a list of parts (one ring each, unioned).

    Raises:
        ValueError: for a polygon that is not a flat list of an even number of finite numbers
            within :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE`.

    Example:
        >>> segmentation_to_polygons([[0, 0, 2, 0, 2, 2]])[0].tolist()
        [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]
    """
    return [
        flat_coordinates(list(flat), "segmentation", f"[{k}]")
        for k, flat in enumerate(segmentation)
    ]


def mask_to_rle(mask: np.ndarray) -> dict:
    """Encode a binary mask as compressed COCO RLE with a JSON-ready string ``counts``.

    Example:
        >>> mask_to_rle(np.ones((2, 2), bool))
        {'size': [2, 2], 'counts': '04'}
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _rle_window(runs: np.ndarray, height: int, width: int) -> Window:
    """The foreground of validated RLE runs inside its bounding window, without the image.

    Runs go down the columns (Fortran order). A run that spans two columns covers the bottom
    of one and the top of the next, so the window is then the full height and every run is
    contiguous in the window's own column-major order.
    """
    ends = np.cumsum(runs)
    starts = (ends - runs)[1::2]
    lengths = runs[1::2]
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    if not starts.size:
        return 0, 0, np.zeros((0, 0), dtype=bool)
    first_col, last_col = starts // height, (starts + lengths - 1) // height
    col0, col1 = int(first_col.min()), int(last_col.max()) + 1
    if (first_col != last_col).any():
        row0, row1 = 0, height
    else:
        row0 = int((starts % height).min())
        row1 = int(((starts + lengths - 1) % height).max()) + 1
    rows = row1 - row0
    local = (first_col - col0) * rows + (starts % height - row0)
    # +1 where a run starts, -1 where it ends: runs never overlap, so int8 is enough.
    steps = np.zeros((col1 - col0) * rows + 1, dtype=np.int8)
    np.add.at(steps, local, 1)
    np.add.at(steps, local + lengths, -1)
    inside = np.cumsum(steps[:-1], dtype=np.int8).astype(bool).reshape(col1 - col0, rows).T
    return row0, col0, np.ascontiguousarray(inside)


def _integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _rle_size(segmentation: dict, height: int, width: int) -> None:
    size = segmentation.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(_integer(v) for v in size)):
        raise ValueError(f"RLE size must be [H, W], got {size!r:.100}")
    size = [int(v) for v in size]
    if size != [height, width]:
        raise ValueError(f"RLE size {size} differs from the image size {[height, width]}")


def segmentation_window(segmentation: list | dict, height: int, width: int) -> Window:
    """Decode one COCO segmentation inside its bounding window (see
    :func:`seglab.annotations.polygons.polygons_window`).

    The cost is that of the object, not of the image, so that painting many small objects into
    a large image stays cheap.

    Returns:
        ``(row0, col0, inside)``.

    Raises:
        ValueError: as :func:`segmentation_to_mask`.

    Example:
        >>> segmentation_window([[1, 1, 3, 1, 3, 2, 1, 2]], 9, 9)[2].astype(int).tolist()
        [[1, 1]]
    """
    if isinstance(segmentation, dict):
        for name, value in (("height", height), ("width", width)):
            if not _integer(value) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r:.100}")
        height, width = int(height), int(width)
        check_pixels(height, width, "RLE", "size")
        _rle_size(segmentation, height, width)
        runs = rle_counts(segmentation.get("counts"), height, width, "RLE", "counts")
        return _rle_window(runs, height, width)
    return polygons_window(segmentation_to_polygons(segmentation), height, width)


def segmentation_to_mask(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """Decode one COCO segmentation (polygons or RLE) to an ``(H, W)`` bool mask.

    Polygons go through :func:`seglab.annotations.polygons.polygons_to_mask` (the pixel-centre
    rule that pycocotools approximates to 1/5 px); RLE is decoded as pycocotools does, after
    checking its runs.

    Raises:
        ValueError: if an RLE ``size`` differs from ``(height, width)``, its counts are
            malformed, negative or do not add up to ``height * width``; for a size over
            :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS`; or for a bad polygon (see
            :func:`~seglab.annotations.polygons.polygons_to_mask`).

    Example:
        >>> segmentation_to_mask([[0, 0, 2, 0, 2, 2, 0, 2]], 3, 3).sum()
        np.int64(4)
    """
    window = segmentation_window(segmentation, height, width)
    mask = np.zeros((height, width), dtype=bool)
    paint(mask, window, True)
    return mask


def _check_segmentation(value: Any, source: str, field: str, size: tuple[int, int]) -> None:
    if isinstance(value, dict):
        counts = require(value, "counts", source, field)
        rle_size = require(value, "size", source, field)
        if not isinstance(rle_size, list) or rle_size != list(size):
            raise fail(
                source,
                f"{field}.size",
                f"{rle_size!r:.100} differs from the image size {list(size)}",
            )
        rle_counts(counts, *size, source, f"{field}.counts")
        return
    if not isinstance(value, list):
        raise fail(source, field, "expected a list of polygons or an RLE object")
    for k, flat in enumerate(value):
        flat_coordinates(flat, source, f"{field}[{k}]")


def _unique_int(value: Any, seen: dict, source: str, field: str, what: str) -> Any:
    if not is_int(value):
        raise fail(source, field, f"expected a unique integer, got {value!r:.100}")
    if value in seen:
        raise fail(
            source,
            field,
            f"expected a unique integer, got {value} (also {what}[{seen[value]}]); a repeated "
            "id would merge two entries",
        )
    return value


def validate_coco(data: Any, source: str = "<coco>") -> dict:
    """Check the structure of a COCO dict; errors name ``source`` and the field.

    Args:
        data: the parsed JSON.
        source: file name to put in error messages.

    Returns:
        ``data`` itself.

    Raises:
        ValueError: e.g. ``ann.json: annotations[3].image_id: 17 is not an image id
            (annotation id 40)`` (the id when the annotation has one). Besides
            the structure, it checks what a hostile or broken file could exploit:

            * image, category and annotation ids are integers and unique, and file names are
              unique non-empty strings (a repeat would merge or overwrite entries);
            * category names are non-empty, single-line and unique (ignoring surrounding white
              space): classes are matched by name, so two "cat" categories would merge;
            * ``height x width`` of every image is at most
              :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS` (178,956,970);
            * polygon coordinates are finite and within
              :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE` (2**31);
            * RLE ``size`` equals the image size, and ``counts`` are well-formed, non-negative
              and add up to ``height * width``.

    Example:
        >>> validate_coco({"images": [], "annotations": [], "categories": []})["images"]
        []
    """
    if not isinstance(data, dict):
        raise fail(
            source, "(top level)", "expected a JSON object with images, annotations, categories"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(require(data, key, source, ""), list):
            raise fail(source, key, "expected a list")
    sizes: dict[int, tuple[int, int]] = {}
    image_index: dict[int, int] = {}
    file_names: dict[str, int] = {}
    for k, image in enumerate(data["images"]):
        field = f"images[{k}]"
        image_id = require(image, "id", source, field)
        _unique_int(image_id, image_index, source, f"{field}.id", "images")
        file_name = require(image, "file_name", source, field)
        if not isinstance(file_name, str):
            raise fail(source, f"{field}.file_name", "expected a string")
        if not file_name.strip():
            raise fail(source, f"{field}.file_name", "expected a non-empty string")
        if file_name in file_names:
            raise fail(
                source,
                f"{field}.file_name",
                f"{file_name!r:.100} is also the file of images[{file_names[file_name]}]",
            )
        height = positive_int(require(image, "height", source, field), source, f"{field}.height")
        width = positive_int(require(image, "width", source, field), source, f"{field}.width")
        check_pixels(height, width, source, field)
        sizes[image_id] = (height, width)
        image_index[image_id] = k
        file_names[file_name] = k
    category_index: dict[int, int] = {}
    names: dict[str, int] = {}
    for k, category in enumerate(data["categories"]):
        field = f"categories[{k}]"
        category_id = require(category, "id", source, field)
        _unique_int(category_id, category_index, source, f"{field}.id", "categories")
        name = require(category, "name", source, field)
        if not isinstance(name, str):
            raise fail(source, f"{field}.name", f"expected a string, got {name!r:.100}")
        add_category_name(name, names, k, source, f"{field}.name")
        category_index[category_id] = k
    annotation_index: dict[int, int] = {}
    for k, annotation in enumerate(data["annotations"]):
        try:
            _check_annotation(k, annotation, annotation_index, sizes, category_index, source)
        except ValueError as error:
            if isinstance(annotation, dict) and is_int(annotation.get("id")):
                # The id is what a user can search the file for.
                raise ValueError(f"{error} (annotation id {annotation['id']})") from None
            raise
    return data


def _check_annotation(
    k: int, annotation: Any, annotation_index: dict, sizes: dict, category_index: dict, source: str
) -> None:
    """Check ``annotations[k]`` (see :func:`validate_coco`) and record its id."""
    field = f"annotations[{k}]"
    if isinstance(annotation, dict) and "id" in annotation:
        _unique_int(annotation["id"], annotation_index, source, f"{field}.id", "annotations")
        annotation_index[annotation["id"]] = k
    image_id = require(annotation, "image_id", source, field)
    if not is_int(image_id) or image_id not in sizes:
        raise fail(source, f"{field}.image_id", f"{image_id!r:.100} is not an image id")
    category_id = require(annotation, "category_id", source, field)
    if not is_int(category_id) or category_id not in category_index:
        raise fail(source, f"{field}.category_id", f"{category_id!r:.100} is not a category id")
    iscrowd = annotation.get("iscrowd", 0)
    if not is_int(iscrowd) or iscrowd not in (0, 1):
        raise fail(source, f"{field}.iscrowd", f"expected 0 or 1, got {iscrowd!r:.100}")
    segmentation = require(annotation, "segmentation", source, field)
    _check_segmentation(segmentation, source, f"{field}.segmentation", sizes[image_id])


def read_coco(path: str | os.PathLike) -> dict:
    """Read a COCO JSON file, checked by :func:`validate_coco` (a ``FileNotFoundError``, or
    a ``ValueError`` naming the file and the field)."""
    return read_validated(path, validate_coco)


def write_coco(path: str | os.PathLike, data: dict) -> None:
    """Check ``data`` with :func:`validate_coco` and write it as COCO JSON, atomically."""
    write_validated(path, data, validate_coco)


def _window_fields(window: Window) -> dict:
    """``area`` and COCO ``bbox`` ``[x, y, w, h]`` of the pixels of a window (as pycocotools)."""
    row0, col0, inside = window
    rows = np.flatnonzero(inside.any(axis=1))
    if not rows.size:
        return {"area": 0, "bbox": [0.0, 0.0, 0.0, 0.0]}
    cols = np.flatnonzero(inside.any(axis=0))
    return {
        "area": int(inside.sum()),
        "bbox": [
            float(col0 + cols[0]),
            float(row0 + rows[0]),
            float(cols[-1] - cols[0] + 1),
            float(rows[-1] - rows[0] + 1),
        ],
    }


def _window_rle(window: Window, height: int, width: int) -> dict:
    """Compressed COCO RLE of a window's pixels in a ``height x width`` image.

    Built from the runs inside the window, so the cost is that of the window, not the image.
    """
    row0, col0, inside = window
    height, width = int(height), int(width)
    rows = inside.shape[0]
    columns = inside.T  # column-major order, as COCO RLE runs
    if rows < height:
        # A zero after each column: runs must not join the bottom of one column to the top
        # of the next, which are not neighbours in the image.
        columns = np.pad(columns, ((0, 0), (0, 1)))
    flat = columns.reshape(-1).astype(np.int8)
    change = np.diff(flat, prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
    if rows < height:
        step = rows + 1
        starts = (col0 + starts // step) * height + row0 + starts % step
        ends = (col0 + (ends - 1) // step) * height + row0 + (ends - 1) % step + 1
    else:
        starts, ends = starts + col0 * height, ends + col0 * height
    total = height * width
    if not starts.size:
        counts = [total]
    else:
        gaps = starts - np.concatenate([[0], ends[:-1]])
        counts = np.stack([gaps, ends - starts], axis=1).ravel().tolist()
        if ends[-1] < total:  # pycocotools writes no trailing zero-length run
            counts.append(int(total - ends[-1]))
    rle = coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")


def object_annotation(
    polygons: Sequence,
    height: int,
    width: int,
    *,
    encoding: str = "polygon",
    max_vertices: int | None = None,
    tolerance: float | None = None,
) -> dict:
    """``segmentation``, ``area``, ``bbox`` and ``iscrowd`` of one object given as polygons.

    Args:
        polygons: the object's parts (see :mod:`seglab.annotations.polygons`).
        height: image height.
        width: image width.
        encoding: ``"polygon"`` or ``"rle"``.
        max_vertices: vertex budget for the object, or None.
        tolerance: Douglas-Peucker distance in pixels, or None.

    Raises:
        ValueError: for a bad ``encoding``, or polygons that cannot be rasterised (see
            :func:`~seglab.annotations.polygons.polygons_to_mask`).

    Example:
        >>> object_annotation([np.array([[0, 0], [2, 0], [2, 2], [0, 2]])], 4, 4)["bbox"]
        [0.0, 0.0, 2.0, 2.0]
    """
    _check_encoding(encoding)
    parts = as_parts(polygons)
    if max_vertices is not None or tolerance is not None:
        parts = simplify_polygons(parts, max_vertices=max_vertices, tolerance=tolerance)
    window = polygons_window(parts, height, width)
    if encoding == "polygon":
        segmentation = polygons_to_segmentation(parts)
    else:
        segmentation = _window_rle(window, height, width)
    return {"segmentation": segmentation, **_window_fields(window), "iscrowd": 0}


def masks_to_coco(
    masks: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    *,
    encoding: str = "polygon",
    max_vertices: int | None = None,
    tolerance: float | None = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> dict:
    """Index masks to a COCO dict: one annotation per 8-connected component of each class.

    Args:
        masks: ``{image file_name: (H, W) int mask}``; class 0 is background and gets no
            annotation, ``ignore_index`` pixels are left out.
        class_names: name of every class index; ``class_names[0]`` is the background. The
            category id of class ``c`` is ``c``.
        encoding: ``"polygon"`` (holes as keyhole rings) or ``"rle"`` (compressed RLE; written
            with ``iscrowd=0``, as detectron2 and pycocotools accept).
        max_vertices: vertex budget per object (see
            :func:`seglab.annotations.simplify.simplify_polygons`).
        tolerance: Douglas-Peucker distance in pixels per object.
        ignore_index: mask value that is not annotated; None for none.

    Returns:
        ``{"images", "annotations", "categories"}``; ``area`` and ``bbox`` are those of the
        rasterised (possibly simplified) object.

    Raises:
        ValueError: for a bad ``encoding``, a mask that is not 2-D, a value with no class
            name (the message names the image), or class names that are empty, span lines or
            repeat (see :func:`~seglab.annotations._validate.check_class_names`).

    Example:
        >>> mask = np.zeros((4, 4), np.uint8); mask[1:3, 1:3] = 1
        >>> coco = masks_to_coco({"a.jpg": mask}, ["background", "cat"])
        >>> coco["annotations"][0]["area"], coco["categories"]
        (4, [{'id': 1, 'name': 'cat', 'supercategory': ''}])
    """
    _check_encoding(encoding)
    class_names = check_class_names(class_names, "class_names")
    images, annotations = [], []
    for image_id, (file_name, mask) in enumerate(masks.items(), start=1):
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"{file_name}: mask must be 2-D (H, W), got shape {mask.shape}")
        height, width = mask.shape
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        values = [v for v in np.unique(mask).tolist() if v != 0 and v != ignore_index]
        for value in values:
            if not 0 < value < len(class_names):
                raise ValueError(
                    f"{file_name}: mask value {value} has no class name "
                    f"({len(class_names)} names given, index 0 is the background)"
                )
        for value, parts in trace_values(mask, values):
            for part in parts:
                fields = object_annotation(
                    [part],
                    height,
                    width,
                    encoding=encoding,
                    max_vertices=max_vertices,
                    tolerance=tolerance,
                )
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": value,
                        **fields,
                    }
                )
    categories = [
        {"id": index, "name": str(name), "supercategory": ""}
        for index, name in enumerate(class_names)
        if index > 0
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def category_indices(
    data: dict, class_names: Sequence[str] | None, source: str = "<coco>"
) -> dict[int, int]:
    """Map category ids to class indices: by name when ``class_names`` is given, else id = index.

    Raises:
        ValueError: for class names that are empty, span lines or repeat, a category name that
            is not in ``class_names``, or (without names) a category id outside 1..254.
    """
    index = None
    if class_names is not None:
        class_names = check_class_names(class_names, "class_names")
        index = {name.strip(): i for i, name in enumerate(class_names)}
    mapping = {}
    for k, category in enumerate(data["categories"]):
        if index is not None:
            if category["name"].strip() not in index:
                raise fail(
                    source,
                    f"categories[{k}].name",
                    f"{category['name']!r} is not in class_names ({', '.join(class_names)})",
                )
            mapping[category["id"]] = index[category["name"].strip()]
        elif not 1 <= category["id"] <= 254:
            raise fail(
                source,
                f"categories[{k}].id",
                f"{category['id']} cannot be a mask index (1..254); pass class_names to map by name",
            )
        else:
            mapping[category["id"]] = category["id"]
    return mapping


def coco_to_masks(
    data: dict, *, class_names: Sequence[str] | None = None, source: str = "<coco>"
) -> dict[str, np.ndarray]:
    """Paint the annotations of every image into a ``uint8`` index mask.

    Larger objects are painted first, so a small object on top of a large one stays visible.
    Images without annotations give an all-background mask. Each object is decoded in its
    own bounding window, so the cost is that of the objects plus one mask per image, not
    objects x image size.

    Args:
        data: a COCO dict (validated here).
        class_names: if given, category names are mapped to their index in this list;
            otherwise the category id is the class index (it must be in 1..254).
        source: file name for error messages.

    Returns:
        ``{file_name: (H, W) uint8 mask}`` in the order of ``data["images"]``.

    Raises:
        ValueError: for an invalid COCO dict (see :func:`validate_coco`: sizes over
            :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS`, repeated ids, names or file
            names, unknown ids, malformed RLE ...), bad ``class_names``, a category name
            missing from ``class_names`` or mapped past index 254, a category id that cannot be
            a mask value, or a polygon that cannot be rasterised (the message names the
            annotation).

    Example:
        >>> coco = {"images": [{"id": 1, "file_name": "a.jpg", "height": 3, "width": 3}],
        ...         "categories": [{"id": 2, "name": "dog"}],
        ...         "annotations": [{"id": 1, "image_id": 1, "category_id": 2,
        ...                          "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}]}
        >>> coco_to_masks(coco)["a.jpg"].tolist()
        [[2, 2, 0], [2, 2, 0], [0, 0, 0]]
    """
    validate_coco(data, source)
    mapping = category_indices(data, class_names, source)
    for k, category in enumerate(data["categories"]):
        if mapping[category["id"]] > 254:
            raise fail(
                source,
                f"categories[{k}].name",
                f"{category['name']!r} is class {mapping[category['id']]} of class_names; a uint8 "
                "mask holds classes 0..254 (255 is void)",
            )
    images = {image["id"]: image for image in data["images"]}
    # Per image: (area, annotation index, class index, window or None). Windows are kept while
    # they add up to less than the image, and decoded again when painting otherwise.
    objects: dict[int, list[tuple[int, int, int, Window | None]]] = {i: [] for i in images}
    kept = dict.fromkeys(images, 0)
    for k, annotation in enumerate(data["annotations"]):
        image = images[annotation["image_id"]]
        with naming(source, f"annotations[{k}].segmentation"):
            window = segmentation_window(
                annotation["segmentation"], image["height"], image["width"]
            )
        area = int(window[2].sum())
        if kept[image["id"]] + window[2].size > image["height"] * image["width"]:
            window = None
        else:
            kept[image["id"]] += window[2].size
        objects[image["id"]].append((area, k, mapping[annotation["category_id"]], window))
    result = {}
    for image_id, image in images.items():
        canvas = np.zeros((image["height"], image["width"]), dtype=np.uint8)
        # Stable sort: equal areas keep the file order.
        for _, k, index, window in sorted(objects[image_id], key=lambda item: -item[0]):
            if window is None:
                segmentation = data["annotations"][k]["segmentation"]
                window = segmentation_window(segmentation, image["height"], image["width"])
            paint(canvas, window, index)
        result[image["file_name"]] = canvas
    return result
