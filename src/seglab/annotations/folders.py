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

Every input file may be hostile, so each one is checked before any work is done (see
:func:`convert_annotations` for the limits), and each object is rasterised in its own bounding
window: the cost is that of the objects, never objects x image size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab._checks import IGNORE_INDEX
from seglab.annotations._validate import check_class_names, fail, naming
from seglab.annotations.coco import (
    ENCODINGS,
    category_indices,
    object_annotation,
    read_coco,
    segmentation_to_polygons,
    segmentation_window,
    write_coco,
)
from seglab.annotations.labelme import (
    LABELME_VERSION,
    polygons_to_shapes,
    read_labelme,
    shape_to_polygons,
    write_labelme,
)
from seglab.annotations.polygons import (
    mask_to_polygons,
    paint,
    polygons_window,
    trace_values,
    translate,
)
from seglab.annotations.simplify import simplify_polygons
from seglab.io import atomic_write_bytes, read_mask, write_mask

__all__ = ["FORMATS", "convert_annotations"]

FORMATS = ("png", "coco", "labelme")
BACKGROUND = {"png": "background", "coco": "background", "labelme": "_background_"}
#: Most names a ``classes.txt`` may list: a 16-bit PNG mask holds no more classes.
MAX_PNG_CLASSES = 65536


@dataclass
class _Record:
    """One image's labels: objects painted in list order, each ``(class index, parts, where)``.

    ``where`` is ``(file, field)`` of the object in its source, for error messages.
    """

    stem: str
    file_name: str
    height: int
    width: int
    objects: list[tuple[int, list, tuple[str, str]]] = field(default_factory=list)


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
    values = [v for v in np.unique(mask).tolist() if v != 0 and v != ignore_index]
    for value in values:
        if value not in names:
            raise ValueError(f"{source}: mask value {value} has no class name")
    return [
        (value, [part], (source, f"mask value {value}"))
        for value, parts in trace_values(mask, values)
        for part in parts
    ]


def _read_classes_txt(path: Path) -> list[str]:
    """The names of a ``classes.txt``, one per line (blank lines are skipped), checked."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path.name}: not UTF-8 text: {error}") from error
    names = [name for name in (line.strip() for line in lines) if name]
    if len(names) > MAX_PNG_CLASSES:
        raise ValueError(
            f"{path.name}: lists {len(names):,} class names; a PNG mask holds at most "
            f"{MAX_PNG_CLASSES:,} classes"
        )
    if not names:
        raise ValueError(f"{path.name}: lists no class names")
    return check_class_names(names, path.name)


# -- readers: each returns the records and the class names by index ------------------------


def _read_png(src: Path, class_names, image_ext: str, ignore_index) -> tuple[list, dict]:
    files = _list_files(src, ".png")
    if class_names is None and (src / "classes.txt").is_file():
        class_names = _read_classes_txt(src / "classes.txt")
    if class_names is None:
        # A first pass for the largest value only: holding every mask at once would take the
        # whole dataset's memory.
        top = 0
        for path in files:
            values = set(np.unique(read_mask(path)).tolist()) - {ignore_index}
            top = max(top, max(values, default=0))
        class_names = [BACKGROUND["png"]] + [f"class_{i}" for i in range(1, top + 1)]
    names = dict(enumerate(class_names))
    records = []
    for path in files:
        mask = read_mask(path)
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
    for k, annotation in enumerate(data["annotations"]):
        record = records[annotation["image_id"]]
        segmentation = annotation["segmentation"]
        where = (source, f"annotations[{k}].segmentation")
        with naming(*where):
            row0, col0, inside = segmentation_window(segmentation, record.height, record.width)
        if isinstance(segmentation, dict):  # RLE: trace it into polygons
            parts = translate(mask_to_polygons(inside), col0, row0)
        else:
            parts = segmentation_to_polygons(segmentation)
        record.objects.append((mapping[annotation["category_id"]], parts, where))
        areas[annotation["image_id"]].append(float(inside.sum()))
    for image_id, record in records.items():
        # Larger objects first, so that painting keeps small ones on top (as coco_to_masks).
        order = np.argsort([-a for a in areas[image_id]], kind="stable")
        record.objects = [record.objects[i] for i in order]
    return list(records.values()), names


def _read_labelme(src: Path, class_names, image_ext: str) -> tuple[list, dict]:
    files = _list_files(src, ".json")
    documents = [(path, read_labelme(path)) for path in files]
    if class_names is None:
        # Labels are compared without surrounding white space, as classes.txt would.
        labels = sorted(
            {s["label"].strip() for _, d in documents for s in d["shapes"]}
            - {BACKGROUND["labelme"]}
        )
        class_names = [BACKGROUND["labelme"], *labels]
    index = {name.strip(): i for i, name in enumerate(class_names)}
    records = []
    for path, data in documents:
        height, width = data["imageHeight"], data["imageWidth"]
        record = _Record(path.stem, data.get("imagePath") or path.stem + image_ext, height, width)
        for k, shape in enumerate(data["shapes"]):
            label = shape["label"].strip()
            if label not in index:
                raise fail(
                    path.name,
                    f"shapes[{k}].label",
                    f"{shape['label']!r} is not in class_names ({', '.join(class_names)})",
                )
            where = (path.name, f"shapes[{k}]")
            with naming(*where):
                parts = shape_to_polygons(shape, height, width)
            record.objects.append((index[label], parts, where))
        records.append(record)
    return records, dict(enumerate(class_names))


# -- writers ---------------------------------------------------------------------------------


def _first_repeat(records: list[_Record], key) -> tuple[_Record, _Record] | None:
    """The first pair of records with the same ``key(record)``, or None."""
    seen: dict = {}
    for record in records:
        earlier = seen.setdefault(key(record), record)
        if earlier is not record:
            return earlier, record
    return None


def _check_unique_stems(records: list[_Record]) -> None:
    repeat = _first_repeat(records, lambda record: record.stem)
    if repeat:
        first, second = repeat
        raise ValueError(
            f"images {first.file_name!r} and {second.file_name!r} would both be written as "
            f"{second.stem!r}; rename one of them"
        )


def _check_unique_file_names(records: list[_Record]) -> None:
    # Several LabelMe files may name one imagePath; a COCO file lists each image once.
    repeat = _first_repeat(records, lambda record: record.file_name)
    if repeat:
        first, second = repeat
        raise ValueError(
            f"{first.stem!r} and {second.stem!r} both describe the image "
            f"{second.file_name!r}; a COCO file lists each image once"
        )


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
        for index, parts, where in record.objects:
            with naming(*where):
                window = polygons_window(parts, record.height, record.width)
            paint(canvas, window, index)
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
        for index, parts, where in record.objects:
            if index == 0:
                continue  # a background shape (LabelMe hole cutting) has no COCO category
            with naming(*where):
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
        for index, parts, _ in record.objects:
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
    ignore_index: int | None = IGNORE_INDEX,
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
            not in ``class_names``, two images that would be written under the same name, or
            two LabelMe files that describe the same image for a COCO file. Hostile or broken input is refused before anything is written:

            * an image size (COCO ``height``/``width``, LabelMe ``imageHeight``/``imageWidth``,
              RLE ``size``) over :data:`~seglab.annotations.MAX_ANNOTATION_PIXELS`
              (178,956,970 pixels);
            * a polygon coordinate beyond
              :data:`~seglab.annotations.MAX_ANNOTATION_COORDINATE` (2**31), or a polygon
              that zig-zags across far more pixel rows than any outline (see
              :func:`~seglab.annotations.polygons.polygons_to_mask`);
            * RLE counts that are malformed, negative or do not add up to ``H * W``;
            * repeated COCO image, category or annotation ids or image file names, and
              annotations that point at unknown ids;
            * class names (``class_names``, COCO categories, ``classes.txt``, LabelMe labels)
              that are empty, span lines, or repeat (ignoring surrounding white space):
              two classes with one name would merge on a round trip. A ``classes.txt`` may list
              at most :data:`MAX_PNG_CLASSES` (65,536) names.
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
        class_names = check_class_names([str(name) for name in class_names], "class_names")
    if src_format == "png":
        records, names = _read_png(src, class_names, image_ext, ignore_index)
    elif src_format == "coco":
        records, names = _read_coco(src, class_names)
    else:
        records, names = _read_labelme(src, class_names, image_ext)
    # The names as they will be written (gaps get class_<i>): a COCO category called
    # "background" or "class_2" would otherwise merge with class 0 or 2 on the way back.
    check_class_names(_dense_names(names), src.name)
    if dst_format == "coco":
        _check_unique_file_names(records)
        return _write_coco(records, dst, names, encoding, max_vertices, tolerance)
    _check_unique_stems(records)
    dst.mkdir(parents=True, exist_ok=True)
    if dst_format == "png":
        return _write_png(records, dst, names)
    return _write_labelme(records, dst, names, max_vertices, tolerance)
