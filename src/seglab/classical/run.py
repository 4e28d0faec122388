"""Run one classical method on an image and write its label PNG and a boundary overlay.

This is the library function behind ``seglab classical``; the CLI only parses arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab.io import read_mask, write_image, write_labels

__all__ = ["CLASSICAL_METHODS", "DEFAULTS", "ClassicalResult", "run_classical"]

CLASSICAL_METHODS = ("slic", "ncut", "grabcut")


@dataclass
class ClassicalResult:
    """Labels and the files written for them."""

    labels: np.ndarray
    num_labels: int
    files: list[Path] = field(default_factory=list)


# What an option left out (or given as None, as the CLI does for a flag it did not get) means.
DEFAULTS = {
    "slic": {"n_segments": 400, "compactness": 10.0},
    "ncut": {"n_segments": 8, "ncut_method": "pixel"},
    "grabcut": {"iters": 5},
}


def _option(options: dict, method: str, name: str):
    # Only None means "the default": 0 must reach the library, which refuses it with a clear
    # message (``or default`` turned --n-segments 0 into 400 without a word).
    value = options.get(name)
    return DEFAULTS[method][name] if value is None else value


def _segment(method: str, image: np.ndarray, options: dict) -> np.ndarray:
    from seglab import classical

    if method == "slic":
        return classical.slic(
            image,
            n_segments=_option(options, method, "n_segments"),
            compactness=_option(options, method, "compactness"),
        )
    if method == "ncut":
        return classical.normalized_cut(
            image,
            n_segments=_option(options, method, "n_segments"),
            method=_option(options, method, "ncut_method"),
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
    return classical.grabcut(image, rect=rect, mask=mask, iters=_option(options, method, "iters"))


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
        **options: ``n_segments``, ``compactness`` (slic); ``n_segments``, ``ncut_method``
            (``pixel`` or ``rag``); ``rect``, ``trimap`` (GrabCut database values),
            ``iters`` (grabcut). A missing option, or ``None``, takes the default of
            :data:`DEFAULTS` (slic 400 superpixels, compactness 10; ncut 8 segments on the
            pixel graph; grabcut 5 iterations). Any other value, 0 included, goes to the
            method as it is: ``n_segments=0`` and ``compactness=0`` are errors, and grabcut
            ``iters=0`` writes the starting labels (the rectangle, or the trimap's foreground
            candidates) without any iteration.

    Raises:
        ValueError: for an unknown method or missing GrabCut input, a trimap of the wrong size,
            and the errors of :func:`~seglab.classical.slic`,
            :func:`~seglab.classical.normalized_cut` and :func:`~seglab.classical.grabcut`
            (for example ``n_segments must be an integer >= 1, got 0``).
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
