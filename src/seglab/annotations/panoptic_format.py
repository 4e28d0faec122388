"""The COCO panoptic format: an RGB PNG of segment ids plus a JSON list of segments.

A panoptic segmentation of one image is an ``(H, W)`` int map of **segment ids** (0 = void,
unlabelled) and one ``segments_info`` record per id::

    {"id": 3, "category_id": 17, "iscrowd": 0, "area": 1204, "bbox": [x, y, w, h]}

On disk (Kirillov et al. 2019; ``panopticapi``) the id map is an RGB PNG with
``id = R + 256 * G + 256**2 * B``, and a JSON file holds ``images``, ``categories`` (with
``isthing``: 1 for countable things, 0 for amorphous stuff) and ``annotations``, one per image::

    {"image_id": 1, "file_name": "0001.png", "segments_info": [...]}

Writes are atomic (:func:`seglab.io.atomic_write_bytes`).

Example:
    >>> panoptic = np.array([[0, 1], [300, 300]])
    >>> rgb = ids_to_rgb(panoptic)
    >>> rgb[1, 0].tolist(), rgb_to_ids(rgb).tolist()
    ([44, 1, 0], [[0, 1], [300, 300]])
    >>> [s["area"] for s in make_segments_info(panoptic, {1: 5, 300: 7})]
    [1, 2]
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from seglab.annotations._validate import (
    add_category_name,
    fail,
    is_int,
    read_validated,
    require,
    write_validated,
)
from seglab.convert import labels_to_numpy
from seglab.io import atomic_write_bytes, read_image

__all__ = [
    "MAX_SEGMENT_ID",
    "ids_to_rgb",
    "rgb_to_ids",
    "make_segments_info",
    "write_panoptic_png",
    "read_panoptic_png",
    "validate_panoptic_json",
    "read_panoptic_json",
    "write_panoptic_json",
    "read_panoptic",
]

# Three 8-bit channels hold ids up to 256**3 - 1.
MAX_SEGMENT_ID = 256**3 - 1


def ids_to_rgb(panoptic: np.ndarray) -> np.ndarray:
    """Encode an ``(H, W)`` segment-id map as ``(H, W, 3)`` uint8 (R + 256 G + 256² B).

    Raises:
        ValueError: if the map is not 2-D or has ids outside ``[0, 256**3 - 1]``.
        TypeError: if the map is not integer.
    """
    panoptic = _check_id_map(panoptic)
    rgb = np.empty((*panoptic.shape, 3), np.uint8)
    for channel in range(3):
        rgb[..., channel] = (panoptic >> (8 * channel)) & 255
    return rgb


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    """Decode an ``(H, W, 3)`` panoptic PNG array to an ``(H, W)`` int64 id map.

    Raises:
        ValueError: if the array is not ``(H, W, 3)``.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def _check_id_map(panoptic: np.ndarray) -> np.ndarray:
    panoptic = labels_to_numpy(panoptic)
    if panoptic.ndim != 2:
        raise ValueError(f"panoptic map must be (H, W), got shape {panoptic.shape}")
    if not np.issubdtype(panoptic.dtype, np.integer):
        raise TypeError(f"panoptic map must hold integer segment ids, got {panoptic.dtype}")
    panoptic = panoptic.astype(np.int64, copy=False)
    if panoptic.size and (panoptic.min() < 0 or panoptic.max() > MAX_SEGMENT_ID):
        raise ValueError(
            f"segment ids must be in [0, {MAX_SEGMENT_ID}], got "
            f"[{panoptic.min()}, {panoptic.max()}]"
        )
    return panoptic


def make_segments_info(
    panoptic: np.ndarray,
    category_ids: Mapping[int, int],
    *,
    iscrowd: Mapping[int, int] | None = None,
) -> list[dict]:
    """``segments_info`` of an id map: id, category, iscrowd, area and COCO bbox per segment.

    Args:
        panoptic: ``(H, W)`` segment ids; 0 is void and gets no record.
        category_ids: ``{segment id: category id}`` for every id in the map (extra keys are
            ignored).
        iscrowd: ``{segment id: 0 or 1}``; missing ids are 0.

    Returns:
        Records sorted by segment id; ``bbox`` is ``[x, y, width, height]`` in pixels.

    Raises:
        ValueError: if an id in the map has no category.
    """
    panoptic = _check_id_map(panoptic)
    iscrowd = iscrowd or {}
    ids, inverse, areas = np.unique(panoptic, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(panoptic.shape)
    missing = [int(i) for i in ids if i != 0 and int(i) not in category_ids]
    if missing:
        raise ValueError(f"segment ids {missing[:10]} have no entry in category_ids")
    # Per-segment extents from the row/column index of every pixel, in one pass each.
    rows = np.broadcast_to(np.arange(panoptic.shape[0])[:, None], panoptic.shape).ravel()
    cols = np.broadcast_to(np.arange(panoptic.shape[1])[None, :], panoptic.shape).ravel()
    flat = inverse.ravel()
    big = np.iinfo(np.int64).max
    y0 = np.full(len(ids), big)
    x0 = np.full(len(ids), big)
    y1 = np.full(len(ids), -1)
    x1 = np.full(len(ids), -1)
    np.minimum.at(y0, flat, rows)
    np.minimum.at(x0, flat, cols)
    np.maximum.at(y1, flat, rows)
    np.maximum.at(x1, flat, cols)
    segments = []
    for k, segment_id in enumerate(ids):
        if segment_id == 0:
            continue
        segments.append(
            {
                "id": int(segment_id),
                "category_id": int(category_ids[int(segment_id)]),
                "iscrowd": int(iscrowd.get(int(segment_id), 0)),
                "area": int(areas[k]),
                "bbox": [int(x0[k]), int(y0[k]), int(x1[k] - x0[k] + 1), int(y1[k] - y0[k] + 1)],
            }
        )
    return segments


def write_panoptic_png(path: str | os.PathLike, panoptic: np.ndarray) -> None:
    """Write an ``(H, W)`` id map as an RGB panoptic PNG, atomically."""
    buffer = _io.BytesIO()
    Image.fromarray(ids_to_rgb(panoptic), mode="RGB").save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def read_panoptic_png(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB panoptic PNG as an ``(H, W)`` int64 id map.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a readable image.
    """
    return rgb_to_ids(read_image(path))


def _check_segments(segments: Any, source: str, field: str) -> None:
    if not isinstance(segments, list):
        raise fail(source, field, "expected a list of segment records")
    seen = set()
    for k, segment in enumerate(segments):
        item = f"{field}[{k}]"
        for key in ("id", "category_id"):
            value = require(segment, key, source, item)
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(source, f"{item}.{key}", f"expected an integer, got {value!r}")
        if not 0 < segment["id"] <= MAX_SEGMENT_ID or segment["id"] in seen:
            raise fail(
                source,
                f"{item}.id",
                f"expected a unique id in [1, {MAX_SEGMENT_ID}], got {segment['id']!r}",
            )
        seen.add(segment["id"])
        iscrowd = segment.get("iscrowd", 0)
        if not is_int(iscrowd) or iscrowd not in (0, 1):
            raise fail(source, f"{item}.iscrowd", f"expected 0 or 1, got {iscrowd!r:.100}")


def validate_panoptic_json(data: Any, source: str = "<panoptic>") -> dict:
    """Check the structure of a COCO panoptic JSON dict; errors name ``source`` and the field.

    Returns:
        ``data`` itself.

    Raises:
        ValueError: e.g. ``pan.json: annotations[0].segments_info[2].id: missing``; also for a
            repeated category id or name (two classes would merge), a name that is empty or
            spans lines, a repeated segment id, or a ``file_name`` that is absolute or climbs
            out of the PNG folder with ``..``.
    """
    if not isinstance(data, dict):
        raise fail(source, "(top level)", "expected an object with annotations and categories")
    for key in ("annotations", "categories"):
        if not isinstance(require(data, key, source, ""), list):
            raise fail(source, key, "expected a list")
    category_ids: dict[int, int] = {}
    names: dict[str, int] = {}
    for k, category in enumerate(data["categories"]):
        field = f"categories[{k}]"
        category_id = require(category, "id", source, field)
        if not is_int(category_id):
            raise fail(source, f"{field}.id", f"expected an integer, got {category_id!r:.100}")
        if category_id in category_ids:
            raise fail(
                source,
                f"{field}.id",
                f"{category_id} is also the id of categories[{category_ids[category_id]}]",
            )
        isthing = require(category, "isthing", source, field)
        if not is_int(isthing) or isthing not in (0, 1):
            raise fail(source, f"{field}.isthing", f"expected 0 or 1, got {isthing!r:.100}")
        if "name" in category:
            add_category_name(category["name"], names, k, source, f"{field}.name")
        category_ids[category_id] = k
    for k, annotation in enumerate(data["annotations"]):
        field = f"annotations[{k}]"
        require(annotation, "image_id", source, field)
        file_name = require(annotation, "file_name", source, field)
        if not isinstance(file_name, str) or not file_name:
            raise fail(source, f"{field}.file_name", "expected a string")
        relative = Path(file_name)
        if relative.is_absolute() or ".." in relative.parts or relative.drive:
            # read_panoptic joins it to the PNG folder: it must not point outside it.
            raise fail(
                source,
                f"{field}.file_name",
                f"{file_name!r:.100} must be a path inside the PNG folder (no '..', not absolute)",
            )
        segments = require(annotation, "segments_info", source, field)
        _check_segments(segments, source, f"{field}.segments_info")
        for j, segment in enumerate(segments):
            if segment["category_id"] not in category_ids:
                raise fail(
                    source,
                    f"{field}.segments_info[{j}].category_id",
                    f"{segment['category_id']!r} is not a category id",
                )
    return data


def read_panoptic_json(path: str | os.PathLike) -> dict:
    """Read a COCO panoptic JSON file, checked by :func:`validate_panoptic_json` (a ``FileNotFoundError``, or
    a ``ValueError`` naming the file and the field)."""
    return read_validated(path, validate_panoptic_json)


def write_panoptic_json(path: str | os.PathLike, data: dict) -> None:
    """Check ``data`` with :func:`validate_panoptic_json` and write it as COCO panoptic JSON, atomically."""
    write_validated(path, data, validate_panoptic_json)


def read_panoptic(annotation: dict, png_folder: str | os.PathLike) -> tuple[np.ndarray, list[dict]]:
    """Load one annotation's id map and check it against its ``segments_info``.

    Args:
        annotation: one entry of the JSON's ``annotations``.
        png_folder: folder holding ``annotation["file_name"]``.

    Returns:
        ``(panoptic, segments_info)``: the ``(H, W)`` id map and the records.

    Raises:
        ValueError: if the PNG holds ids that have no record, or records have no pixels.
    """
    panoptic = read_panoptic_png(Path(png_folder) / annotation["file_name"])
    segments = annotation["segments_info"]
    in_png = {int(i) for i in np.unique(panoptic)} - {0}
    in_json = {int(s["id"]) for s in segments}
    if in_png - in_json:
        raise ValueError(
            f"{annotation['file_name']}: ids {sorted(in_png - in_json)[:10]} are in the PNG but "
            "not in segments_info"
        )
    if in_json - in_png:
        raise ValueError(
            f"{annotation['file_name']}: ids {sorted(in_json - in_png)[:10]} are in "
            "segments_info but not in the PNG"
        )
    return panoptic, list(segments)
