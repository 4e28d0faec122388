"""Run one classical method on an image and write its label PNG and a boundary overlay.

This is the library function behind ``seglab classical``; the CLI only parses arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab.io import read_mask, write_image, write_labels

__all__ = ["CLASSICAL_METHODS", "ClassicalResult", "run_classical"]

CLASSICAL_METHODS = ("slic", "ncut", "grabcut")


@dataclass
class ClassicalResult:
    """Labels and the files written for them."""

    labels: np.ndarray
    num_labels: int
    files: list[Path] = field(default_factory=list)


def _segment(method: str, image: np.ndarray, options: dict) -> np.ndarray:
    from seglab import classical

    if method == "slic":
        return classical.slic(
            image,
            n_segments=options.get("n_segments") or 400,
            compactness=options.get("compactness") or 10.0,
        )
    if method == "ncut":
        return classical.normalized_cut(
            image,
            n_segments=options.get("n_segments") or 8,
            method=options.get("ncut_method") or "pixel",
        )
    rect, trimap = options.get("rect"), options.get("trimap")
    if rect is None and trimap is None:
        raise ValueError("grabcut needs --rect x0,y0,x1,y1 or --trimap PNG")
    mask = None
    if trimap is not None:
        values = read_mask(trimap)
        if values.shape != image.shape[:2]:
            raise ValueError(f"trimap {trimap} is {values.shape}, the image is {image.shape[:2]}")
        mask = classical.trimap_from_grabcut_database(values)
    return classical.grabcut(image, rect=rect, mask=mask, iters=options.get("iters") or 5)


def run_classical(
    method: str,
    image: np.ndarray,
    *,
    out_dir: str | os.PathLike,
    name: str = "image",
    **options,
) -> ClassicalResult:
    """Segment ``image`` with a classical method and write the results.

    Args:
        method: ``slic``, ``ncut`` or ``grabcut``.
        image: ``(H, W, 3)`` uint8 RGB.
        out_dir: output folder; receives ``<name>_<method>_labels.png`` (8-bit palette or
            16-bit PNG) and ``<name>_<method>_overlay.png``.
        name: file name stem.
        **options: ``n_segments``, ``compactness`` (slic); ``n_segments``, ``ncut_method`` (``pixel`` or ``rag``);
            ``rect``, ``trimap`` (GrabCut database values), ``iters`` (grabcut).

    Raises:
        ValueError: for an unknown method or missing GrabCut input.
    """
    from seglab.viz import draw_boundaries, save_overlay

    if method not in CLASSICAL_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(CLASSICAL_METHODS)}")
    labels = np.asarray(_segment(method, image, options))
    out_dir = Path(out_dir)
    labels_path = out_dir / f"{name}_{method}_labels.png"
    overlay_path = out_dir / f"{name}_{method}_overlay.png"
    write_labels(labels_path, labels)
    if method == "grabcut":
        save_overlay(overlay_path, image, labels)
    else:
        write_image(overlay_path, draw_boundaries(image, labels))
    return ClassicalResult(labels, int(len(np.unique(labels))), [labels_path, overlay_path])
