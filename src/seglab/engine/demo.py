"""The main job on a built-in default: seglab's methods on a bundled sample image.

``seglab demo`` runs the shipped Oxford-IIIT Pet model, SLIC, Normalized Cut and GrabCut on a
scikit-image sample (the cat ``chelsea`` by default) and writes masks and overlays.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab.samples import load_sample, sample_rect

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """The output folder and one printable line per step."""

    out: Path
    lines: list[str] = field(default_factory=list)


def _pet_model_step(image: np.ndarray, out: Path, name: str) -> str:
    from seglab.engine.predict import Predictor
    from seglab.io import write_image, write_mask
    from seglab.viz import save_overlay

    try:
        predictor = Predictor()
    except FileNotFoundError as error:
        return f"pet model: skipped ({error})"
    started = time.perf_counter()
    mask = predictor.predict(image)
    seconds = time.perf_counter() - started
    write_mask(out / f"{name}_pet_mask.png", mask)
    save_overlay(out / f"{name}_pet_overlay.png", image, mask)
    # The cut-out: the pet on white, the way a user would paste it elsewhere.
    write_image(
        out / f"{name}_pet_cutout.png", np.where(mask[..., None] > 0, image, 255).astype(np.uint8)
    )
    model_name = predictor.model.config["name"] if hasattr(predictor.model, "config") else "model"
    return (
        f"pet model ({model_name}): {100 * (mask > 0).mean():.1f}% of pixels are pet, "
        f"{seconds * 1000:.0f} ms -> {name}_pet_overlay.png"
    )


def run_demo(out: str | os.PathLike = "demo_out", *, sample: str = "chelsea") -> DemoResult:
    """Run every headline method on a bundled sample and write the results to ``out``."""
    from seglab.classical.run import run_classical
    from seglab.io import ensure_folder

    out = ensure_folder(out)
    image = load_sample(sample)
    result = DemoResult(out)
    result.lines.append(f"sample image: skimage.data.{sample}() {image.shape[1]}x{image.shape[0]}")
    result.lines.append(_pet_model_step(image, out, sample))
    steps = (
        ("slic", {"n_segments": 400}),
        ("ncut", {"n_segments": 8}),
        ("grabcut", {"rect": sample_rect(sample)}),
    )
    for method, options in steps:
        started = time.perf_counter()
        run = run_classical(method, image, out_dir=out, name=sample, **options)
        seconds = time.perf_counter() - started
        result.lines.append(
            f"{method}: {run.num_labels} labels, {seconds * 1000:.0f} ms -> {run.files[1].name}"
        )
    return result
