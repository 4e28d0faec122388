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

from seglab.annotations._validate import dump_json, fail, load_json, positive_int, require
from seglab.annotations.polygons import (
    as_parts,
    keyhole_ring,
    mask_to_polygons,
    polygons_to_mask,
)
from seglab.annotations.simplify import simplify_polygons
from seglab.io import atomic_write_bytes

__all__ = [
    "ENCODINGS",
    "polygons_to_segmentation",
    "segmentation_to_polygons",
    "segmentation_to_mask",
    "mask_to_rle",
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

    Example:
        >>> segmentation_to_polygons([[0, 0, 2, 0, 2, 2]])[0].tolist()
        [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]
    """
    return [np.asarray(flat, dtype=np.float64).reshape(-1, 2) for flat in segmentation]


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


def segmentation_to_mask(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """Decode one COCO segmentation (polygons or RLE) to an ``(H, W)`` bool mask.

    Polygons go through :func:`seglab.annotations.polygons.polygons_to_mask` (the pixel-centre
    rule that pycocotools approximates to 1/5 px); RLE through pycocotools.

    Raises:
        ValueError: if an RLE ``size`` differs from ``(height, width)``.

    Example:
        >>> segmentation_to_mask([[0, 0, 2, 0, 2, 2, 0, 2]], 3, 3).sum()
        np.int64(4)
    """
    if isinstance(segmentation, dict):
        size = [int(v) for v in segmentation["size"]]
        if size != [height, width]:
            raise ValueError(f"RLE size {size} differs from the image size {[height, width]}")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            rle = coco_mask.frPyObjects(segmentation, height, width)  # uncompressed -> compressed
        else:
            rle = {
                "size": size,
                "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
            }
        return coco_mask.decode(rle).astype(bool)
    return polygons_to_mask(segmentation_to_polygons(segmentation), height, width)


def _check_segmentation(value: Any, source: str, field: str, size: tuple[int, int]) -> None:
    if isinstance(value, dict):
        counts = require(value, "counts", source, field)
        rle_size = require(value, "size", source, field)
        if list(rle_size) != list(size):
            raise fail(
                source, f"{field}.size", f"{rle_size} differs from the image size {list(size)}"
            )
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise fail(source, f"{field}.counts", "expected non-negative integers")
            if sum(counts) != size[0] * size[1]:
                raise fail(
                    source, f"{field}.counts", f"sum {sum(counts)} != H*W = {size[0] * size[1]}"
                )
        elif not isinstance(counts, str):
            raise fail(
                source, f"{field}.counts", "expected a string (compressed) or a list of ints"
            )
        return
    if not isinstance(value, list):
        raise fail(source, field, "expected a list of polygons or an RLE object")
    for k, flat in enumerate(value):
        if (
            not isinstance(flat, list)
            or not flat
            or len(flat) % 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat)
        ):
            raise fail(
                source,
                f"{field}[{k}]",
                "expected a flat list [x1, y1, x2, y2, ...] of an even number of numbers",
            )
        if not np.isfinite(np.asarray(flat, dtype=np.float64)).all():
            raise fail(source, f"{field}[{k}]", "coordinates must be finite numbers")


def validate_coco(data: Any, source: str = "<coco>") -> dict:
    """Check the structure of a COCO dict; errors name ``source`` and the field.

    Args:
        data: the parsed JSON.
        source: file name to put in error messages.

    Returns:
        ``data`` itself.

    Raises:
        ValueError: e.g. ``ann.json: annotations[3].image_id: 17 is not an image id``.

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
    for k, image in enumerate(data["images"]):
        field = f"images[{k}]"
        image_id = require(image, "id", source, field)
        if not isinstance(image_id, int) or image_id in sizes:
            raise fail(source, f"{field}.id", f"expected a unique integer, got {image_id!r}")
        if not isinstance(require(image, "file_name", source, field), str):
            raise fail(source, f"{field}.file_name", "expected a string")
        height = positive_int(require(image, "height", source, field), source, f"{field}.height")
        width = positive_int(require(image, "width", source, field), source, f"{field}.width")
        sizes[image_id] = (height, width)
    category_ids = set()
    for k, category in enumerate(data["categories"]):
        field = f"categories[{k}]"
        category_id = require(category, "id", source, field)
        if not isinstance(category_id, int) or category_id in category_ids:
            raise fail(source, f"{field}.id", f"expected a unique integer, got {category_id!r}")
        if not isinstance(require(category, "name", source, field), str):
            raise fail(source, f"{field}.name", "expected a string")
        category_ids.add(category_id)
    for k, annotation in enumerate(data["annotations"]):
        field = f"annotations[{k}]"
        image_id = require(annotation, "image_id", source, field)
        if image_id not in sizes:
            raise fail(source, f"{field}.image_id", f"{image_id!r} is not an image id")
        category_id = require(annotation, "category_id", source, field)
        if category_id not in category_ids:
            raise fail(source, f"{field}.category_id", f"{category_id!r} is not a category id")
        if annotation.get("iscrowd", 0) not in (0, 1):
            raise fail(
                source, f"{field}.iscrowd", f"expected 0 or 1, got {annotation['iscrowd']!r}"
            )
        segmentation = require(annotation, "segmentation", source, field)
        _check_segmentation(segmentation, source, f"{field}.segmentation", sizes[image_id])
    return data


def read_coco(path: str | os.PathLike) -> dict:
    """Read and validate a COCO JSON file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for invalid JSON or a bad field (the message names the file and field).
    """
    path = os.fspath(path)
    return validate_coco(load_json(path), os.path.basename(path))


def write_coco(path: str | os.PathLike, data: dict) -> None:
    """Validate ``data`` and write it as COCO JSON, atomically."""
    validate_coco(data, os.path.basename(os.fspath(path)))
    atomic_write_bytes(path, dump_json(data))


def _annotation_fields(mask: np.ndarray) -> dict:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {
        "area": int(mask.sum()),
        "bbox": [float(v) for v in coco_mask.toBbox(rle)],
    }


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
        ValueError: for a bad ``encoding``.

    Example:
        >>> object_annotation([np.array([[0, 0], [2, 0], [2, 2], [0, 2]])], 4, 4)["bbox"]
        [0.0, 0.0, 2.0, 2.0]
    """
    _check_encoding(encoding)
    parts = as_parts(polygons)
    if max_vertices is not None or tolerance is not None:
        parts = simplify_polygons(parts, max_vertices=max_vertices, tolerance=tolerance)
    mask = polygons_to_mask(parts, height, width)
    segmentation = polygons_to_segmentation(parts) if encoding == "polygon" else mask_to_rle(mask)
    return {"segmentation": segmentation, **_annotation_fields(mask), "iscrowd": 0}


def masks_to_coco(
    masks: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    *,
    encoding: str = "polygon",
    max_vertices: int | None = None,
    tolerance: float | None = None,
    ignore_index: int | None = 255,
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
        ValueError: for a bad ``encoding``, a mask that is not 2-D, or a value with no class
            name (the message names the image).

    Example:
        >>> mask = np.zeros((4, 4), np.uint8); mask[1:3, 1:3] = 1
        >>> coco = masks_to_coco({"a.jpg": mask}, ["background", "cat"])
        >>> coco["annotations"][0]["area"], coco["categories"]
        (4, [{'id': 1, 'name': 'cat', 'supercategory': ''}])
    """
    _check_encoding(encoding)
    images, annotations = [], []
    for image_id, (file_name, mask) in enumerate(masks.items(), start=1):
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"{file_name}: mask must be 2-D (H, W), got shape {mask.shape}")
        height, width = mask.shape
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        for value in np.unique(mask).tolist():
            if value == 0 or value == ignore_index:
                continue
            if not 0 < value < len(class_names):
                raise ValueError(
                    f"{file_name}: mask value {value} has no class name "
                    f"({len(class_names)} names given, index 0 is the background)"
                )
            for part in mask_to_polygons(mask == value):
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
    """Map category ids to class indices: by name when ``class_names`` is given, else id = index."""
    mapping = {}
    for k, category in enumerate(data["categories"]):
        if class_names is not None:
            if category["name"] not in class_names:
                raise fail(
                    source,
                    f"categories[{k}].name",
                    f"{category['name']!r} is not in class_names ({', '.join(class_names)})",
                )
            mapping[category["id"]] = list(class_names).index(category["name"])
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
    Images without annotations give an all-background mask.

    Args:
        data: a COCO dict (validated here).
        class_names: if given, category names are mapped to their index in this list;
            otherwise the category id is the class index (it must be in 1..254).
        source: file name for error messages.

    Returns:
        ``{file_name: (H, W) uint8 mask}`` in the order of ``data["images"]``.

    Raises:
        ValueError: for an invalid COCO dict, a category name missing from ``class_names``, or
            a category id that cannot be a mask value.

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
    images = {image["id"]: image for image in data["images"]}
    objects: dict[int, list[tuple[int, np.ndarray]]] = {image_id: [] for image_id in images}
    for annotation in data["annotations"]:
        image = images[annotation["image_id"]]
        mask = segmentation_to_mask(annotation["segmentation"], image["height"], image["width"])
        objects[image["id"]].append((mapping[annotation["category_id"]], mask))
    result = {}
    for image_id, image in images.items():
        canvas = np.zeros((image["height"], image["width"]), dtype=np.uint8)
        # Stable sort: equal areas keep the file order.
        for index, mask in sorted(objects[image_id], key=lambda item: -int(item[1].sum())):
            canvas[mask] = index
        result[image["file_name"]] = canvas
    return result
