"""Instance prediction on image files: label maps, overlays and one COCO results file.

:func:`predict_instance_files` is the file driver of bottom-up instance segmentation: it reads
an instance checkpoint and its grouping settings, runs
:func:`seglab.instance.grouping.predict_instances` on every image and writes the results. The
algorithm (centre NMS and pixel grouping) lives in :mod:`seglab.instance.grouping`.

Example:
    >>> summary = InstancePredictionSummary()
    >>> summary.written, summary.num_instances, summary.results_path
    ([], 0, None)
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from seglab.annotations.coco_results import labels_to_results, write_coco_results
from seglab.checkpoint import load_checkpoint
from seglab.engine.predict import IMAGE_EXTENSIONS, OVERLAY_SUFFIX, iter_sources
from seglab.instance.draw import save_instances_overlay
from seglab.instance.grouping import checkpoint_grouping, predict_instances
from seglab.io import atomic_write_bytes, ensure_folder, read_image, remove_stale_temp_files
from seglab.limits import DEFAULT_TILE
from seglab.models.panoptic_deeplab import instance_model_from_checkpoint
from seglab.models.tiling import check_tiling
from seglab.pretrained import default_instance_checkpoint

__all__ = [
    "INSTANCES_SUFFIX",
    "InstancePredictionSummary",
    "instance_category_ids",
    "predict_instance_files",
]

INSTANCES_SUFFIX = "_instances.png"


@dataclass
class InstancePredictionSummary:
    """What :func:`predict_instance_files` wrote."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    results_path: Path | None = None
    num_instances: int = 0
    skipped_outputs: list[Path] = field(default_factory=list)


def instance_category_ids(checkpoint) -> list[int]:
    """The COCO category id of each thing class of an instance checkpoint (default 1, 2, ...).

    Raises:
        ValueError: unless ``category_ids`` holds one int per thing class.

    Example:
        >>> instance_category_ids({"class_names": ["background", "nucleus"]})
        [1]
    """
    things = len(checkpoint["class_names"]) - 1
    ids = checkpoint.get("category_ids")
    if ids is None:
        return list(range(1, things + 1))
    integers = isinstance(ids, list) and all(type(i) is int for i in ids)  # no bools
    if not integers or len(ids) != things:
        raise ValueError(
            f"the checkpoint's category_ids must be {things} ints (one per thing class), "
            f"got {ids!r:.100}"
        )
    return [int(i) for i in ids]


def predict_instance_files(
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    overlay: bool = True,
    device: str = "cpu",
    tile: int | None = DEFAULT_TILE,
    overlap: int | None = None,
    progress: bool = True,
    trust_checkpoint: bool = False,
) -> InstancePredictionSummary:
    """Predict instances for image files or folders and write the results.

    For each image ``NAME``: ``OUT/NAME_instances.png`` (uint16 label map, 0 = background),
    ``OUT/NAME_overlay.png`` (with ``overlay``); for all of them ``OUT/results.json``, a COCO
    results list (``image_id`` = the image's position in the input list, folders expanded in
    sorted order; ``category_id`` from the checkpoint's ``category_ids``, 1 = nucleus for a
    nuclei model) and ``OUT/images.json`` mapping those ids to file names. Images in a folder keep
    their sub-folder below ``OUT``, as in :func:`~seglab.engine.predict.plan_outputs`, and
    earlier outputs in ``OUT`` are never read back as inputs. The grouping settings are the
    ones stored in the checkpoint (``grouping``), else the defaults. ``trust_checkpoint``
    also loads a checkpoint that is not plain data (:mod:`seglab.checkpoint`).

    An image larger than ``tile`` in a side goes through the network in overlapping
    ``tile x tile`` windows (``overlap`` pixels, default ``tile // 4``; see
    :func:`~seglab.instance.grouping.predict_instances`), so memory stays bounded whatever the
    image size; ``tile=None`` runs every image whole.

    Raises:
        FileNotFoundError: if the checkpoint does not exist, or the inputs hold no image.
        ValueError: if the checkpoint is not an instance model, two inputs would write the
            same outputs, or the tiling settings are bad.
    """
    if tile is not None:
        check_tiling(tile, overlap)
    state = load_checkpoint(
        checkpoint if checkpoint is not None else default_instance_checkpoint(),
        trust_checkpoint=trust_checkpoint,
    )
    model = instance_model_from_checkpoint(state).to(device)
    grouping = checkpoint_grouping(state)
    category_ids = np.asarray([0, *instance_category_ids(state)], np.int64)  # indexed by class
    out = Path(out)
    summary = InstancePredictionSummary()
    inputs = list(inputs)
    sources = list(
        iter_sources(
            inputs,
            out_dir=out,
            output_suffixes=(INSTANCES_SUFFIX, OVERLAY_SUFFIX),
            skipped=summary.skipped_outputs,
        )
    )
    if not sources:
        raise FileNotFoundError(
            f"no images in {', '.join(map(str, inputs)) or '(no inputs)'} "
            f"(image extensions: {', '.join(IMAGE_EXTENSIONS)})"
        )
    owners: dict[Path, Path] = {}
    for stem, path in sources:
        if stem in owners:
            raise ValueError(
                f"{owners[stem]} and {path} would both write {out / stem}{INSTANCES_SUFFIX}: "
                "rename one, or predict them into different --out folders"
            )
        owners[stem] = path
    ensure_folder(out)
    remove_stale_temp_files(out)
    results, names = [], {}
    bar = tqdm(sources, desc="instances", disable=not progress)
    for image_id, (stem, path) in enumerate(bar):
        try:
            image = read_image(path)
        except (ValueError, OSError) as error:
            summary.failed.append((path, str(error)))
            continue
        result = predict_instances(
            model, image, device=device, tile=tile, overlap=overlap, **grouping
        )
        labels = result.labels.numpy()
        if len(result) > np.iinfo(np.uint16).max:
            summary.failed.append((path, f"{len(result)} instances do not fit a 16-bit PNG"))
            continue
        # Always 16-bit, whatever the count, so that every output reads back the same way.
        buffer = io.BytesIO()
        Image.fromarray(labels.astype(np.uint16)).save(buffer, format="PNG")
        target = out / stem.parent / f"{stem.name}{INSTANCES_SUFFIX}"
        atomic_write_bytes(target, buffer.getvalue())
        if overlay:
            save_instances_overlay(target.with_name(f"{stem.name}{OVERLAY_SUFFIX}"), image, labels)
        scores = np.concatenate([[0.0], result.scores.numpy()])  # indexed by instance id
        categories = category_ids[np.concatenate([[0], result.classes.numpy()])]
        results += labels_to_results(labels, image_id, scores=scores, category_ids=categories)
        names[image_id] = str(path)
        summary.written.append(target)
        summary.num_instances += len(result)
    summary.results_path = out / "results.json"
    write_coco_results(summary.results_path, results)
    atomic_write_bytes(out / "images.json", json.dumps(names, indent=1).encode("utf-8"))
    return summary
