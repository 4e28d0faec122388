"""Instance training data from a COCO instance file and its images folder.

This is what CVAT, Label Studio and most annotation tools export: ``images`` (``id``,
``file_name``, ``height``, ``width``), ``categories`` (``id``, ``name``) and ``annotations``
(``id``, ``image_id``, ``category_id``, ``segmentation`` as polygons or RLE, ``iscrowd``).
Every annotation with ``iscrowd`` 0 becomes one instance of an :class:`~seglab.data.dsb2018.
NucleiSample` (the image, its instance label map, and the class of each instance); the classes
are the categories in increasing id order, class 0 being the background. Where objects
overlap, the smaller one is painted last and stays whole. Crowd regions (``iscrowd`` 1) mark
a group of objects without outlines: they are left out of the instances, and an image made of
them only still trains the background.

The file is checked first (:func:`seglab.annotations.coco.validate_coco`); an error names
the file, the field and the annotation id, e.g. ``ann.json: annotations[3].category_id: 9
is not a category id (annotation id 17)``. A polygon needs at least 3 points here (a mask
tool may drop such a degenerate ring silently; a training set should not).

Splits: ``"fit"`` / ``"val"`` take every image but each tenth / each tenth (positions 0, 10,
20, ... of the images sorted by id), as for the DSB folders; ``"all"`` takes every image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seglab.annotations._validate import fail, naming
from seglab.annotations.coco import read_coco, segmentation_window
from seglab.annotations.polygons import paint
from seglab.data.dsb2018 import NucleiSample
from seglab.io import read_image

__all__ = ["COCO_SPLITS", "CocoInstances", "load_coco_instances"]

COCO_SPLITS = ("fit", "val", "all")


@dataclass
class CocoInstances:
    """What :func:`load_coco_instances` read.

    Attributes:
        samples: one :class:`~seglab.data.dsb2018.NucleiSample` per image of the split, with
            ``classes`` set.
        class_names: ``["background", *category names]`` in increasing category id order.
        category_ids: the COCO category id of each class but the background.
    """

    samples: list[NucleiSample]
    class_names: list[str]
    category_ids: list[int]


def _check_polygons(segmentation, source: str, field: str) -> None:
    if isinstance(segmentation, list):
        for k, ring in enumerate(segmentation):
            if isinstance(ring, list) and len(ring) < 6:
                raise fail(
                    source,
                    f"{field}[{k}]",
                    f"a polygon needs at least 3 points (6 numbers), got {len(ring)} numbers",
                )


def _split_images(images: list[dict], split: str) -> list[dict]:
    ordered = sorted(images, key=lambda image: image["id"])
    if split == "val":
        return ordered[0::10]
    if split == "fit":
        return [image for position, image in enumerate(ordered) if position % 10]
    return ordered


def load_coco_instances(
    annotations: str | os.PathLike, images: str | os.PathLike, *, split: str = "all"
) -> CocoInstances:
    """Read a COCO instance file and its images into training samples.

    Args:
        annotations: the COCO JSON file.
        images: the folder that ``file_name`` is relative to.
        split: ``"fit"``, ``"val"`` or ``"all"`` (see the module notes).

    Returns:
        :class:`CocoInstances`.

    Raises:
        FileNotFoundError: for a missing file, folder or image file (named).
        ValueError: for an invalid COCO file (see the module notes), a polygon with fewer
            than 3 points, an image whose size differs from its ``height``/``width``, more
            than 65535 objects in an image, or an unknown split.

    Example:
        >>> data = load_coco_instances("cells.json", "cells/")  # doctest: +SKIP
        >>> data.class_names  # doctest: +SKIP
        ['background', 'nucleus', 'cell']
    """
    if split not in COCO_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(COCO_SPLITS)}")
    source = str(annotations)
    folder = Path(images)
    if not folder.is_dir():
        raise FileNotFoundError(f"no images folder {folder}")
    data = read_coco(annotations)
    categories = sorted(data["categories"], key=lambda category: category["id"])
    class_of = {category["id"]: k + 1 for k, category in enumerate(categories)}
    by_image: dict[int, list[tuple[int, dict]]] = {image["id"]: [] for image in data["images"]}
    for k, annotation in enumerate(data["annotations"]):
        by_image[annotation["image_id"]].append((k, annotation))
    samples = []
    for image in _split_images(data["images"], split):
        samples.append(_read_sample(image, by_image[image["id"]], class_of, folder, source))
    return CocoInstances(
        samples,
        ["background", *(category["name"].strip() for category in categories)],
        [category["id"] for category in categories],
    )


def _read_sample(image: dict, objects: list, class_of: dict, folder: Path, source: str):
    """One image, its label map (larger objects painted first) and its instance classes."""
    path = folder / image["file_name"]
    if not path.is_file():
        raise FileNotFoundError(f"{source}: image {image['file_name']!r} not found in {folder}")
    pixels = read_image(path)
    height, width = image["height"], image["width"]
    if pixels.shape[:2] != (height, width):
        raise ValueError(
            f"{path} is {pixels.shape[1]} x {pixels.shape[0]} pixels but {source} says "
            f"{width} x {height}"
        )
    windows = []
    for k, annotation in objects:
        if annotation.get("iscrowd", 0):
            continue
        field = f"annotations[{k}].segmentation"
        try:
            _check_polygons(annotation["segmentation"], source, field)
            with naming(source, field):
                window = segmentation_window(annotation["segmentation"], height, width)
        except ValueError as error:
            raise ValueError(f"{error} (annotation id {annotation.get('id')})") from None
        windows.append((int(window[2].sum()), window, class_of[annotation["category_id"]]))
    if len(windows) > 65535:
        raise ValueError(f"{source}: image {image['file_name']!r} has {len(windows)} objects")
    labels = np.zeros((height, width), np.int32)
    classes = [0]
    # Larger first, so that a small object on a large one stays whole (stable: file order).
    for _, window, class_index in sorted(windows, key=lambda item: -item[0]):
        if window[2].any():
            classes.append(class_index)
            paint(labels, window, len(classes) - 1)
    # A painted-over object can lose all its pixels: renumber to the ids that remain.
    present = np.unique(labels)
    remap = np.zeros(len(classes), np.int32)
    remap[present] = np.arange(len(present))
    return NucleiSample(
        str(image["file_name"]),
        pixels,
        remap[labels],
        classes=np.asarray(classes, np.int64)[present],
    )
