"""The pictures a finished training run leaves behind.

- ``curves.png``: training and validation loss and the validation metrics per epoch;
- ``samples.png``: validation images with ground-truth and predicted overlays;
- ``confusion.png``: the row-normalised validation confusion matrix (multiclass runs).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seglab._checks import IGNORE_INDEX
from seglab.io import atomic_write_bytes

__all__ = ["epoch_rows", "write_report", "plot_curves", "plot_confusion", "plot_samples"]

# Semantic runs' metrics, then instance runs' (seglab.engine.train_instance).
_CURVE_METRICS = (
    "miou",
    "fg_iou",
    "mean_dice",
    "pixel_accuracy",
    "mean_pixel_accuracy",
    "dsb",
    "aji",
    "recall50",
)


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def epoch_rows(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch: its validation row, with the training loss averaged (per image)
    over all of the epoch's rows (runs that log every few steps have several).

    Example:
        >>> rows = [{"epoch": 1, "train_loss": 2.0, "train_images": 8},
        ...         {"epoch": 1, "train_loss": 1.0, "train_images": 24, "dsb": 0.5}]
        >>> epoch_rows(rows)
        [{'epoch': 1, 'train_loss': 1.25, 'train_images': 32, 'dsb': 0.5}]
    """
    by_epoch: dict[int, list[dict[str, Any]]] = {}
    for row in history:
        by_epoch.setdefault(row["epoch"], []).append(row)
    result = []
    for rows in by_epoch.values():
        trained = [r for r in rows if r.get("train_images", 1) and math.isfinite(r["train_loss"])]
        images = sum(r.get("train_images", 1) for r in trained)
        loss = sum(r["train_loss"] * r.get("train_images", 1) for r in trained)
        merged = {**rows[-1], "train_loss": loss / images if images else float("nan")}
        if "train_images" in rows[-1]:
            merged["train_images"] = images
        result.append(merged)
    return result


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss (left) and validation metrics (right) against the epoch (see :func:`epoch_rows`)."""
    plt = _figure()
    history = epoch_rows(history)
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(epochs, [row["train_loss"] for row in history], label="train loss")
    if "loss" in history[0]:
        left.plot(epochs, [row["loss"] for row in history], label="val loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    for key in _CURVE_METRICS:
        if key in history[0]:
            right.plot(epochs, [row[key] for row in history], label=key)
    right.set_xlabel("epoch")
    right.set_ylabel("validation")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    _save(fig, path)


# Up to this many classes every cell shows its value; above, the K² text objects would cost
# more than the rest of the report (K = 256 took 87 s and 7 GB), so only the colours remain.
ANNOTATED_CONFUSION_MAX_CLASSES = 30


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: Path) -> None:
    """Row-normalised confusion matrix (rows: ground truth, columns: prediction).

    Up to :data:`ANNOTATED_CONFUSION_MAX_CLASSES` classes each cell shows its value, and the
    figure grows with K; above, the figure keeps a fixed size (17 inches), cells show colour
    only and every ``ceil(K / 30)``-th class is labelled, so the cost stays bounded for any K.
    """
    plt = _figure()
    count = len(class_names)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = min(max(3.0, 0.5 * count + 2), 17.0)
    fig, axis = plt.subplots(figsize=(size, size))
    axis.imshow(normalised, vmin=0, vmax=1, cmap="Blues", interpolation="nearest")
    if count <= ANNOTATED_CONFUSION_MAX_CLASSES:
        for row in range(count):
            for col in range(count):
                colour = "white" if normalised[row, col] > 0.5 else "black"
                axis.text(
                    col, row, f"{normalised[row, col]:.2f}", ha="center", va="center", color=colour
                )
    step = -(-count // ANNOTATED_CONFUSION_MAX_CLASSES)  # ceil: at most 30 labels per axis
    ticks = range(0, count, step)
    axis.set_xticks(ticks, [class_names[i] for i in ticks], rotation=45, ha="right")
    axis.set_yticks(ticks, [class_names[i] for i in ticks])
    axis.set_xlabel("prediction")
    axis.set_ylabel("ground truth")
    _save(fig, path)


def plot_samples(
    images: np.ndarray,
    targets: np.ndarray,
    preds: np.ndarray,
    path: Path,
    *,
    ignore_index: int = IGNORE_INDEX,
) -> None:
    """A grid: image, ground-truth overlay and predicted overlay for each row.

    Args:
        images: ``(N, H, W, 3)`` uint8.
        targets, preds: ``(N, H, W)`` index masks.
    """
    from seglab.viz import overlay_mask

    plt = _figure()
    rows = len(images)
    fig, axes = plt.subplots(rows, 3, figsize=(7.5, 2.5 * rows), squeeze=False)
    for row in range(rows):
        panels = (
            images[row],
            overlay_mask(images[row], targets[row], ignore_index=ignore_index),
            overlay_mask(images[row], preds[row], ignore_index=ignore_index),
        )
        for col, (panel, title) in enumerate(
            zip(panels, ("image", "ground truth", "prediction"), strict=True)
        ):
            axes[row, col].imshow(panel)
            axes[row, col].set_axis_off()
            if row == 0:
                axes[row, col].set_title(title)
    _save(fig, path)


def _to_display(images: torch.Tensor, preprocess: dict[str, Any]) -> np.ndarray:
    mean, std = preprocess.get("mean"), preprocess.get("std")
    if mean is not None:
        images = images * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    array = images.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.round(array * 255).astype(np.uint8)


@torch.no_grad()
def write_report(
    out: Path, history: list[dict[str, Any]], best_path: Path, data, *, device, num_samples: int = 6
) -> None:
    """Write ``curves.png``, ``samples.png`` and (multiclass) ``confusion.png`` into ``out``."""
    from seglab.checkpoint import load_checkpoint, model_from_checkpoint
    from seglab.engine.evaluate import evaluate_model

    plot_curves(history, out / "curves.png")
    model = model_from_checkpoint(load_checkpoint(best_path)).to(device)
    count = min(num_samples, len(data.val))
    batch = [data.val[index] for index in range(count)]
    images = torch.stack([item[0] for item in batch])
    targets = torch.stack([item[1] for item in batch])
    logits = model(images.to(device)).float().cpu()
    if data.task == "multiclass":
        preds, shown_targets = logits.argmax(1).numpy(), targets.numpy()
    else:
        # Show the multi-label maps as "highest true label wins" index maps for display.
        weights = torch.arange(1, logits.shape[1] + 1).view(1, -1, 1, 1)
        preds = ((logits > 0).long() * weights).amax(1).numpy()
        shown_targets = ((targets > 0.5).long() * weights).amax(1).numpy()
    plot_samples(
        _to_display(images, data.preprocess),
        shown_targets,
        preds,
        out / "samples.png",
        ignore_index=data.ignore_index if data.ignore_index is not None else 255,
    )
    if data.task == "multiclass":
        from seglab.engine.datasets import make_val_loader

        metrics = evaluate_model(
            model,
            make_val_loader(data.val, data.config),
            task="multiclass",
            num_classes=data.num_classes,
            ignore_index=data.ignore_index,
            device=device,
        )
        plot_confusion(metrics["confusion"], list(data.class_names), out / "confusion.png")
