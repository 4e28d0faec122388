"""Convert a whole dataset's labels between index-mask PNGs, COCO JSON and LabelMe JSON.

This is the library function behind ``seglab convert``. The three formats:

* ``png``: a folder of index masks ``<stem>.png`` (palette or grayscale; pixel value = class
  index, 0 = background, ``ignore_index`` = void), with an optional ``classes.txt`` (one
  class name per line, line ``i`` is class ``i``);
* ``coco``: one COCO JSON file (polygons or RLE, see :mod:`seglab.annotations.coco`);
* ``labelme``: a folder of LabelMe files ``<stem>.json`` (see :mod:`seglab.annotations.labelme`).

Polygons are carried over as they are between COCO and LabelMe. Masks are traced into
polygons (one object per 8-connected component of a class), and polygons are rasterised into
masks with the pixel-centre rule. ``max_vertices`` and ``tolerance`` simplify every polygon
that is written, one object at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab.annotations._validate import fail
from seglab.annotations.coco import (
    ENCODINGS,
    category_indices,
    object_annotation,
    read_coco,
    segmentation_to_mask,
    segmentation_to_polygons,
    write_coco,
)
from seglab.annotations.labelme import (
    LABELME_VERSION,
    polygons_to_shapes,
    read_labelme,
    shape_to_polygons,
    write_labelme,
)
from seglab.annotations.polygons import mask_to_polygons, polygons_to_mask
from seglab.annotations.simplify import simplify_polygons
from seglab.io import atomic_write_bytes, read_mask, write_mask

__all__ = ["FORMATS", "convert_annotations"]

FORMATS = ("png", "coco", "labelme")
BACKGROUND = {"png": "background", "coco": "background", "labelme": "_background_"}


@dataclass
class _Record:
    """One image's labels: objects painted in list order, each ``(class index, parts)``."""

    stem: str
    file_name: str
    height: int
    width: int
    objects: list[tuple[int, list]] = field(default_factory=list)


def _check_format(value: str, name: str) -> None:
    if value not in FORMATS:
        raise ValueError(f"{name} must be one of {', '.join(FORMATS)}; got {value!r}")


def _list_files(folder: Path, suffix: str) -> list[Path]:
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of *{suffix} files, got {folder}")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() == suffix)
    if not files:
        raise ValueError(f"no *{suffix} files in {folder}")
    return files


def _mask_objects(mask: np.ndarray, source: str, names: dict[int, str], ignore_index) -> list:
    objects = []
    for value in np.unique(mask).tolist():
        if value == 0 or value == ignore_index:
            continue
        if value not in names:
            raise ValueError(f"{source}: mask value {value} has no class name")
        objects.extend((value, [part]) for part in mask_to_polygons(mask == value))
    return objects


# -- readers: each returns the records and the class names by index ------------------------


def _read_png(src: Path, class_names, image_ext: str, ignore_index) -> tuple[list, dict]:
    files = _list_files(src, ".png")
    if class_names is None and (src / "classes.txt").is_file():
        class_names = [line.strip() for line in (src / "classes.txt").read_text().splitlines()]
        class_names = [name for name in class_names if name]
    masks = {path: read_mask(path) for path in files}
    if class_names is None:
        values = {v for m in masks.values() for v in np.unique(m).tolist()} - {ignore_index}
        top = max(values, default=0)
        class_names = [BACKGROUND["png"]] + [f"class_{i}" for i in range(1, top + 1)]
    names = dict(enumerate(class_names))
    records = []
    for path, mask in masks.items():
        record = _Record(path.stem, path.stem + image_ext, *mask.shape)
        record.objects = _mask_objects(mask, path.name, names, ignore_index)
        records.append(record)
    return records, names


def _read_coco(src: Path, class_names) -> tuple[list, dict]:
    data = read_coco(src)
    source = src.name
    mapping = category_indices(data, class_names, source)
    if class_names is not None:
        names = dict(enumerate(class_names))
    else:
        names = {0: BACKGROUND["coco"]}
        names.update({c["id"]: c["name"] for c in data["categories"]})
    records = {}
    for image in data["images"]:
        record = _Record(
            Path(image["file_name"]).stem, image["file_name"], image["height"], image["width"]
        )
        records[image["id"]] = record
    areas: dict[int, list[float]] = {image_id: [] for image_id in records}
    for annotation in data["annotations"]:
        record = records[annotation["image_id"]]
        segmentation = annotation["segmentation"]
        if isinstance(segmentation, dict):  # RLE: trace it into polygons
            mask = segmentation_to_mask(segmentation, record.height, record.width)
            parts = mask_to_polygons(mask)
            area = float(mask.sum())
        else:
            parts = segmentation_to_polygons(segmentation)
            area = float(polygons_to_mask(parts, record.height, record.width).sum())
        record.objects.append((mapping[annotation["category_id"]], parts))
        areas[annotation["image_id"]].append(area)
    for image_id, record in records.items():
        # Larger objects first, so that painting keeps small ones on top (as coco_to_masks).
        order = np.argsort([-a for a in areas[image_id]], kind="stable")
        record.objects = [record.objects[i] for i in order]
    return list(records.values()), names


def _read_labelme(src: Path, class_names, image_ext: str) -> tuple[list, dict]:
    files = _list_files(src, ".json")
    documents = [(path, read_labelme(path)) for path in files]
    if class_names is None:
        labels = sorted(
            {s["label"] for _, d in documents for s in d["shapes"]} - {BACKGROUND["labelme"]}
        )
        class_names = [BACKGROUND["labelme"], *labels]
    index = {name: i for i, name in enumerate(class_names)}
    records = []
    for path, data in documents:
        height, width = data["imageHeight"], data["imageWidth"]
        record = _Record(path.stem, data.get("imagePath") or path.stem + image_ext, height, width)
        for k, shape in enumerate(data["shapes"]):
            if shape["label"] not in index:
                raise fail(
                    path.name,
                    f"shapes[{k}].label",
                    f"{shape['label']!r} is not in class_names ({', '.join(class_names)})",
                )
            record.objects.append((index[shape["label"]], shape_to_polygons(shape, height, width)))
        records.append(record)
    return records, dict(enumerate(class_names))


# -- writers ---------------------------------------------------------------------------------


def _check_unique_stems(records: list[_Record]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        if record.stem in seen:
            raise ValueError(
                f"images {seen[record.stem]!r} and {record.file_name!r} would both be written "
                f"as {record.stem!r}; rename one of them"
            )
        seen[record.stem] = record.file_name


def _dense_names(names: dict[int, str]) -> list[str]:
    return [names.get(i, f"class_{i}") for i in range(max(names) + 1)]


def _simplify(parts: list, max_vertices, tolerance) -> list:
    if max_vertices is None and tolerance is None:
        return parts
    return simplify_polygons(parts, max_vertices=max_vertices, tolerance=tolerance)


def _write_png(records: list[_Record], dst: Path, names: dict[int, str]) -> list[Path]:
    if max(names) > 254:
        raise ValueError(f"class index {max(names)} does not fit a mask (0..254; 255 is void)")
    written = []
    for record in records:
        canvas = np.zeros((record.height, record.width), dtype=np.uint8)
        for index, parts in record.objects:
            canvas[polygons_to_mask(parts, record.height, record.width)] = index
        path = dst / f"{record.stem}.png"
        write_mask(path, canvas)
        written.append(path)
    classes = dst / "classes.txt"
    atomic_write_bytes(classes, ("\n".join(_dense_names(names)) + "\n").encode("utf-8"))
    return [*written, classes]


def _write_coco(records, dst: Path, names, encoding, max_vertices, tolerance) -> list[Path]:
    images, annotations = [], []
    for image_id, record in enumerate(records, start=1):
        images.append(
            {
                "id": image_id,
                "file_name": record.file_name,
                "height": record.height,
                "width": record.width,
            }
        )
        for index, parts in record.objects:
            if index == 0:
                continue  # a background shape (LabelMe hole cutting) has no COCO category
            fields = object_annotation(
                parts,
                record.height,
                record.width,
                encoding=encoding,
                max_vertices=max_vertices,
                tolerance=tolerance,
            )
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": index, **fields}
            )
    categories = [
        {"id": index, "name": name, "supercategory": ""}
        for index, name in sorted(names.items())
        if index > 0
    ]
    write_coco(dst, {"images": images, "annotations": annotations, "categories": categories})
    return [dst]


def _write_labelme(records, dst: Path, names, max_vertices, tolerance) -> list[Path]:
    written = []
    for record in records:
        shapes = []
        for index, parts in record.objects:
            shapes.extend(
                polygons_to_shapes(_simplify(parts, max_vertices, tolerance), names[index])
            )
        data = {
            "version": LABELME_VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": record.file_name,
            "imageData": None,
            "imageHeight": record.height,
            "imageWidth": record.width,
        }
        path = dst / f"{record.stem}.json"
        write_labelme(path, data)
        written.append(path)
    return written


def convert_annotations(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    src_format: str,
    dst_format: str,
    class_names: Sequence[str] | None = None,
    encoding: str = "polygon",
    max_vertices: int | None = None,
    tolerance: float | None = None,
    image_ext: str = ".jpg",
    ignore_index: int | None = 255,
) -> list[Path]:
    """Convert a dataset's labels between ``png`` masks, ``coco`` JSON and ``labelme`` JSON.

    Args:
        src: a folder of ``*.png`` masks, a COCO ``.json`` file, or a folder of LabelMe
            ``*.json`` files.
        dst: the output folder (``png``, ``labelme``) or file (``coco``); created if needed.
        src_format: ``"png"``, ``"coco"`` or ``"labelme"``.
        dst_format: ``"png"``, ``"coco"`` or ``"labelme"``; different from ``src_format``.
        class_names: class ``i`` is ``class_names[i]`` and ``class_names[0]`` is the
            background. COCO categories and LabelMe labels are matched by name. If None, the
            names come from the source: ``classes.txt`` next to the masks (else
            ``background, class_1, ...``), the COCO categories (category id = class index),
            or ``_background_`` plus the sorted LabelMe labels.
        encoding: COCO segmentation to write, ``"polygon"`` or ``"rle"``.
        max_vertices: vertex budget per written polygon object, or None.
        tolerance: Douglas-Peucker distance in pixels per written polygon object, or None.
        image_ext: image file extension recorded for masks (``<stem><image_ext>``), as COCO
            ``file_name`` or LabelMe ``imagePath``.
        ignore_index: mask value that is left out when reading masks (it becomes background).

    Returns:
        The files written (for ``png`` also ``classes.txt``).

    Raises:
        ValueError: for an unknown or identical format, a bad ``encoding``, an empty source
            folder, an invalid file (the message names the file and the field, e.g.
            ``bad.json: shapes[2].points: expected a list of [x, y] pairs``), a label that is
            not in ``class_names``, or two images that would be written under the same name.
        FileNotFoundError: if a COCO source file does not exist.
        NotADirectoryError: if a ``png`` or ``labelme`` source is not a folder.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> mask = np.zeros((8, 8), np.uint8); mask[2:6, 2:6] = 1
        >>> write_mask(root / "masks" / "a.png", mask)
        >>> paths = convert_annotations(root / "masks", root / "coco.json", src_format="png",
        ...                             dst_format="coco", class_names=["background", "cat"])
        >>> [path.name for path in paths]
        ['coco.json']
    """
    _check_format(src_format, "src_format")
    _check_format(dst_format, "dst_format")
    if src_format == dst_format:
        raise ValueError(f"src_format and dst_format are both {src_format!r}; nothing to convert")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
    if max_vertices is not None or tolerance is not None:
        simplify_polygons([], max_vertices=max_vertices, tolerance=tolerance)  # validates early
    src, dst = Path(src), Path(dst)
    if class_names is not None:
        class_names = [str(name) for name in class_names]
    if src_format == "png":
        records, names = _read_png(src, class_names, image_ext, ignore_index)
    elif src_format == "coco":
        records, names = _read_coco(src, class_names)
    else:
        records, names = _read_labelme(src, class_names, image_ext)
    if dst_format == "coco":
        return _write_coco(records, dst, names, encoding, max_vertices, tolerance)
    _check_unique_stems(records)
    dst.mkdir(parents=True, exist_ok=True)
    if dst_format == "png":
        return _write_png(records, dst, names)
    return _write_labelme(records, dst, names, max_vertices, tolerance)
