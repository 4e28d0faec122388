"""Evaluation: run a model over a loader and accumulate dataset-wide metrics.

Metrics are dataset-wide: one confusion matrix is accumulated over every pixel of the split,
then PA, MPA, IoU, mIoU, FWIoU and Dice are read from it (see :mod:`seglab.metrics`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seglab._checks import IGNORE_INDEX
from seglab.io import atomic_write_bytes
from seglab.limits import check_test_scales
from seglab.metrics import ConfusionMatrix, MultiLabelConfusion

if TYPE_CHECKING:
    from seglab.engine.distributed import DistributedContext

__all__ = [
    "evaluate_model",
    "evaluate_checkpoint",
    "tta_logits",
    "format_metrics_table",
    "write_metrics_json",
]


def tta_logits(
    forward: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    flip: bool = False,
    scales: Sequence[float] = (1.0,),
) -> torch.Tensor:
    """Test-time augmentation: the mean logits over image scales and, with ``flip``, mirrors.

    At scale ``s`` the network sees the batch resized to ``round(s * H) x round(s * W)``
    (bilinear, antialiased when shrinking), and its logits are resized back to ``H x W``.
    Logits are averaged rather than probabilities, which also serves sigmoid outputs; on the
    shared pets' validation split the two differ by 0.002 IoU. With the defaults this is one
    plain forward pass.

    Shape:
        - images: ``(N, C, H, W)``; output: ``(N, K, H, W)`` float32.
    """
    height, width = images.shape[-2:]
    views = []
    for scale in check_test_scales(scales):
        size = (max(1, round(scale * height)), max(1, round(scale * width)))
        scaled = images
        if size != (height, width):
            scaled = F.interpolate(
                images, size=size, mode="bilinear", align_corners=False, antialias=scale < 1
            )
        views.append(forward(scaled))
        if flip:
            views.append(forward(scaled.flip(-1)).flip(-1))
    total = None
    for logits in views:
        logits = logits.float()
        if logits.shape[-2:] != (height, width):
            logits = F.interpolate(
                logits, size=(height, width), mode="bilinear", align_corners=False
            )
        total = logits if total is None else total + logits
    return total if len(views) == 1 else total / len(views)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    *,
    task: str,
    num_classes: int,
    ignore_index: int | None = IGNORE_INDEX,
    device: torch.device | str = "cpu",
    loss_fn: torch.nn.Module | None = None,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
    context: DistributedContext | None = None,
    tta: bool = False,
    scales: Sequence[float] = (1.0,),
    keep_largest: bool = False,
    fill_holes: bool = False,
) -> dict[str, Any]:
    """Dataset-wide metrics of ``model`` on ``loader``.

    Args:
        model: maps ``(N, 3, H, W)`` images to ``(N, K, H, W)`` logits.
        loader: yields ``(images, targets)``; targets are ``(N, H, W)`` int64 for
            ``task="multiclass"`` and ``(N, K, H, W)`` {0, 1} for ``task="multilabel"``.
        task: ``"multiclass"`` (softmax/argmax) or ``"multilabel"`` (sigmoid > 0.5).
        num_classes: K.
        ignore_index: target value that counts nowhere (multiclass only).
        device: where the model runs.
        loss_fn: if given, the mean validation loss is reported as ``loss``.
        amp_dtype: autocast dtype on CUDA, or None.
        progress: show a progress bar.
        context: in a multi-process run, each process evaluates its shard of the split and
            the counts are summed over processes, so that every process gets the metrics of
            the whole split.
        tta: average the logits with those of the horizontally flipped images (what
            ``seglab predict --tta`` does).
        scales: also average over these image scales (see :func:`tta_logits`).
        keep_largest: score the masks with only the largest region of each class (of each
            label, multilabel) kept, as ``seglab predict --keep-largest`` writes them.
        fill_holes: score them with each class's holes filled (:mod:`seglab.engine.postprocess`).

    Returns:
        Scalars ``pixel_accuracy``, ``mean_pixel_accuracy``, ``miou``, ``fwiou``, ``mean_dice``
        (multiclass); ``miou``, ``mean_dice`` (multilabel); ``fg_iou`` and ``fg_dice`` (IoU and
        Dice of class 1) for two-class problems; ``loss`` with ``loss_fn``; and per-class arrays
        ``iou``, ``dice`` plus the ``confusion`` matrix (multiclass).
    """
    if task not in ("multiclass", "multilabel"):
        raise ValueError(f"unknown task {task!r}; choose one of multiclass, multilabel")
    scales = check_test_scales(scales)
    device = torch.device(device)
    was_training = model.training
    model.eval()
    if task == "multiclass":
        meter = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    else:
        meter = MultiLabelConfusion(num_classes)
    loss_sum, count = 0.0, 0
    for images, targets in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        images, targets = images.to(device), targets.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = tta_logits(model, images, flip=tta, scales=scales)
        if loss_fn is not None:
            loss_sum += loss_fn(logits, targets).item() * images.shape[0]
            count += images.shape[0]
        predictions = logits.argmax(dim=1) if task == "multiclass" else logits > 0
        if keep_largest or fill_holes:
            predictions = _clean_batch(predictions, task, keep_largest, fill_holes)
        meter.update(predictions, targets if task == "multiclass" else targets.long())
    model.train(was_training)
    if context is not None and context.enabled:
        loss_sum, count = context.sum(loss_sum, count)
        if task == "multiclass":
            total = context.sum_array(meter.matrix.copy())
            meter.reset()
            meter.merge(total)
        else:
            meter.tp, meter.fp, meter.fn = context.sum_array(
                np.stack([meter.tp, meter.fp, meter.fn])
            )

    scores = meter.compute()
    metrics: dict[str, Any] = dict(scores)
    if task == "multiclass":
        metrics["confusion"] = meter.matrix.copy()
    if num_classes == 2 and task == "multiclass":
        metrics["fg_iou"] = float(scores["iou"][1])
        metrics["fg_dice"] = float(scores["dice"][1])
    if loss_fn is not None:
        metrics["loss"] = loss_sum / max(count, 1)
    return metrics


def _clean_batch(
    predictions: torch.Tensor, task: str, keep_largest: bool, fill_holes: bool
) -> torch.Tensor:
    """:mod:`seglab.engine.postprocess` on each mask of a ``(N, H, W)`` or ``(N, K, H, W)`` batch."""
    from seglab.engine.postprocess import clean_labels, clean_multilabel

    clean = clean_labels if task == "multiclass" else clean_multilabel
    masks = [
        clean(mask, keep_largest=keep_largest, fill=fill_holes)
        for mask in predictions.cpu().numpy()
    ]
    return torch.from_numpy(np.stack(masks)).to(predictions.device)


def format_metrics_table(metrics: dict[str, Any], class_names: list[str]) -> str:
    """A plain-text table: per-class IoU and Dice, then the means."""
    lines = [f"{'class':<20} {'IoU':>8} {'Dice':>8}"]
    for name, iou, dice in zip(class_names, metrics["iou"], metrics["dice"], strict=True):
        lines.append(f"{name:<20} {iou:>8.4f} {dice:>8.4f}")
    lines.append("")
    for key in (
        "pixel_accuracy",
        "mean_pixel_accuracy",
        "miou",
        "fwiou",
        "mean_dice",
        "fg_iou",
        "fg_dice",
        "loss",
    ):
        if key in metrics:
            lines.append(f"{key:<20} {metrics[key]:>8.4f}")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, float | np.floating):
        # JSON has no NaN: an absent class is written as null.
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_metrics_json(path: str | os.PathLike, metrics: dict[str, Any], **extra: Any) -> None:
    """Write metrics (NaN as null) and extra fields to a JSON file, atomically."""
    payload = {**{key: _jsonable(value) for key, value in metrics.items()}, **extra}
    atomic_write_bytes(path, json.dumps(payload, indent=2).encode())


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    *,
    split: str = "test",
    dataset: str | None = None,
    batch_size: int = 16,
    device: str = "auto",
    out: str | os.PathLike | None = None,
    progress: bool = True,
    tta: bool = False,
    scales: Sequence[float] = (1.0,),
    keep_largest: bool = False,
    fill_holes: bool = False,
    trust_checkpoint: bool = False,
    report: Callable[[dict[str, Any], list[str]], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint on a split of a dataset, as the checkpoint's training saw it.

    The dataset kind, label mode, image size and normalisation come from the checkpoint, so the
    evaluation preprocesses exactly as training did. With ``out``, writes ``metrics.json`` there.
    ``tta`` averages each prediction with that of the flipped image, ``scales`` with those of
    rescaled images (:func:`tta_logits`). ``keep_largest`` and ``fill_holes`` clean the masks
    before scoring (:mod:`seglab.engine.postprocess`). ``trust_checkpoint`` also loads a checkpoint
    that is not plain data (:mod:`seglab.checkpoint`). ``report(metrics, class_names)`` is
    called as soon as the metrics exist, before ``metrics.json`` is written, so that a folder
    that cannot be written loses no finished evaluation.
    """
    from seglab.checkpoint import load_checkpoint
    from seglab.engine.config import TrainConfig
    from seglab.engine.datasets import build_split, make_val_loader
    from seglab.engine.device import resolve_device

    state = load_checkpoint(checkpoint, trust_checkpoint=trust_checkpoint)
    config = TrainConfig.from_dict(
        {**state.train_args, "data": str(data), "batch_size": batch_size}
    )
    if dataset is not None:
        config.dataset = dataset
    torch_device = resolve_device(device)
    model = state.build_model().to(torch_device)
    split_data = build_split(config, split)
    loader = make_val_loader(split_data.dataset, config)
    metrics = evaluate_model(
        model,
        loader,
        task=state.task,
        num_classes=state.num_classes,
        ignore_index=state.ignore_index,
        device=torch_device,
        progress=progress,
        tta=tta,
        scales=scales,
        keep_largest=keep_largest,
        fill_holes=fill_holes,
    )
    if report is not None:
        report(metrics, list(state.class_names))
    if out is not None:
        write_metrics_json(
            Path(out) / "metrics.json",
            metrics,
            class_names=state.class_names,
            split=split,
            checkpoint=str(checkpoint),
            images=len(split_data.dataset),
            tta=tta,
            scales=list(check_test_scales(scales)),
            keep_largest=keep_largest,
            fill_holes=fill_holes,
        )
    return metrics
