"""Semantic training (multi-class and multi-label): the task that :mod:`seglab.engine.loop`
trains, built from a :class:`~seglab.engine.config.TrainConfig`.

The run folder holds:

- ``last.pt``: everything needed to resume (model, optimizer, scaler, epoch, RNG, history),
  rewritten atomically after every epoch;
- ``best.pt``: the model with the best validation ``monitor`` value so far;
- ``log.csv``: one row per epoch; ``curves.png``, ``samples.png``, ``confusion.png`` at the end.

A folder that already holds a run is never replaced silently: ``resume`` continues it (and
refuses when the data, model or labels differ from the run's), ``overwrite`` deletes its files
first, and without either the run stops with an error before any file is touched. Temporary
files that a killed run left behind are removed at the start.

Every epoch reseeds all RNGs from ``(seed, epoch)``, so that a run resumed from ``last.pt``
repeats the epochs of an uninterrupted run exactly (on the CPU).

Under ``torchrun`` the same function trains with DistributedDataParallel: ``batch_size`` is the
global batch, split over the processes; validation is sharded and its counts summed; rank 0
alone writes files and shows progress (see :mod:`seglab.engine.distributed`).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import torch

from seglab.checkpoint import load_checkpoint
from seglab.data.mixing import copy_paste
from seglab.engine.config import TrainConfig
from seglab.engine.datasets import (
    DataBundle,
    build_data,
    make_train_loader,
    make_val_loader,
    set_loader_epoch,
)
from seglab.engine.device import seed_everything
from seglab.engine.distributed import DistributedContext, convert_sync_batchnorm, init_distributed
from seglab.engine.evaluate import evaluate_model
from seglab.engine.loop import (
    FitResult,
    LoopSettings,
    NonFiniteLossError,
    StepLoss,
    fit,
    prepare_run_folder,
)
from seglab.models import create_model

__all__ = ["train", "TrainResult", "NonFiniteLossError", "SemanticTask", "RESUME_KEYS"]

#: What :func:`train` returns (see :class:`~seglab.engine.loop.FitResult`).
TrainResult = FitResult

# The loop settings that TrainConfig holds under the same names and meaning (epochs, lr, ema,
# resume, ...); ``out`` and ``amp`` have the same names but other types there.
_SHARED_SETTINGS = tuple(
    sorted(
        {f.name for f in dataclasses.fields(LoopSettings)}
        & set(TrainConfig.__dataclass_fields__) - {"out", "amp"}
    )
)

# Settings that decide what a run learns from and what it builds: a resumed run must repeat
# them, or its epochs would silently continue another experiment.
RESUME_KEYS = (
    "data",
    "dataset",
    "model",
    "model_kwargs",
    "mode",
    "num_classes",
    "img_size",
    "normalize",
    "split_seed",
    "val_fraction",
)


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "off":
        return None
    if config.amp == "fp16":
        return torch.float16
    if config.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _build_loss(config: TrainConfig, data: DataBundle) -> torch.nn.Module:
    from seglab.losses import get_loss

    multilabel = data.task == "multilabel"
    if multilabel and config.loss == "ce":
        raise ValueError(
            "loss 'ce' is for exclusive classes; this data is multi-label (several labels true "
            "at a pixel): use --loss bce, dice or ce+dice (BCE + Dice)"
        )
    if multilabel and config.loss in ("lovasz", "ce+lovasz"):
        raise ValueError(
            f"loss {config.loss!r} is the softmax Lovász loss for exclusive classes; this data "
            "is multi-label: use --loss bce or ce+dice (BCE + Dice)"
        )
    if not multilabel and config.loss == "bce":
        raise ValueError(
            "loss 'bce' is for multi-label data; these classes are exclusive: use ce, dice or ce+dice"
        )
    kwargs: dict[str, Any] = {}
    if config.class_weights is not None:
        if len(config.class_weights) != data.num_classes:
            raise ValueError(
                f"class_weights has {len(config.class_weights)} values for {data.num_classes} classes"
            )
        kwargs["weight"] = torch.tensor(config.class_weights, dtype=torch.float32)
    if config.loss in ("dice", "ce+dice"):
        kwargs["mode"] = "sigmoid" if multilabel else "softmax"
    if not multilabel:
        kwargs["ignore_index"] = data.ignore_index
    name = "bce+dice" if multilabel and config.loss == "ce+dice" else config.loss
    return get_loss(name, **kwargs)


class SemanticTask:
    """Images and index (or multi-label) masks -> a segmentation model, as the loop needs it.

    Args:
        config: the run settings.
        context: the DDP context (a single process is a context too).
        device: where the model trains.

    Raises:
        ValueError: for inconsistent settings (``ce`` on multi-label data, a foreground
            monitor on data that has no single foreground class, class weights of the wrong
            length, too few images for a split).
    """

    def __init__(
        self, config: TrainConfig, context: DistributedContext, device: torch.device
    ) -> None:
        seed_everything(config.seed)
        self.config, self.context, self.device = config, context, device
        self.data = data = build_data(config)
        if config.monitor in ("fg_iou", "fg_dice") and (
            data.num_classes != 2 or data.task != "multiclass"
        ):
            raise ValueError(
                f"--monitor {config.monitor} scores the one foreground class of two exclusive "
                f"classes; this data has {data.num_classes} {data.task} classes: use miou or "
                "mean_dice"
            )
        self.model = create_model(
            config.model, num_classes=data.num_classes, in_channels=3, **config.model_kwargs
        ).to(device)
        if config.sync_bn and context.enabled:
            self.model = convert_sync_batchnorm(self.model, device)
        self.loss_fn = _build_loss(config, data).to(device)
        shards = {"rank": context.rank, "world_size": context.world_size}
        self.train_loader = make_train_loader(data.train, config, **shards)
        self.val_loader = make_val_loader(data.val, config, **shards)
        self.steps_per_epoch = max(len(self.train_loader), 1)
        self.amp = _amp_dtype(config, device)

    def batches(self, epoch: int, start: int):
        set_loader_epoch(self.train_loader, epoch, start=start)
        return self.train_loader

    def loss(self, forward, batch, device: torch.device, amp: torch.dtype | None) -> StepLoss:
        images, targets = batch
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        config = self.config
        if config.copy_paste and config.augment:
            images, targets = copy_paste(
                images, targets, p=config.copy_paste, ignore_index=self.data.ignore_index
            )
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        logits = forward(images)
        return StepLoss(self.loss_fn(logits.float(), targets), int(images.shape[0]))

    def validate(self, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
        return evaluate_model(
            model,
            self.val_loader,
            task=self.data.task,
            num_classes=self.data.num_classes,
            ignore_index=self.data.ignore_index,
            device=device,
            loss_fn=self.loss_fn,
            amp_dtype=self.amp,
            context=self.context,
        )

    def log_columns(self, metrics: dict[str, Any]) -> dict[str, float]:
        # Per-class (per-label) IoU as columns, so that log.csv shows each curve.
        return {
            f"iou_{name}": float(value)
            for name, value in zip(self.data.class_names, metrics["iou"], strict=True)
        }

    def checkpoint_fields(self) -> dict[str, Any]:
        return {
            "class_names": list(self.data.class_names),
            "task": self.data.task,
            "ignore_index": self.data.ignore_index,
            "preprocess": self.data.preprocess,
        }


def train(config: TrainConfig, *, progress: bool = True) -> TrainResult:
    """Train a model as ``config`` says and return the best validation metrics.

    Args:
        config: the run settings.
        progress: show tqdm bars for epochs and batches.

    Returns:
        A :class:`TrainResult`.

    Raises:
        NonFiniteLossError: if the loss becomes NaN/inf (``last.pt`` keeps the last good epoch).
        FileExistsError: if ``config.out`` holds a run and neither ``resume`` nor
            ``overwrite`` is set.
        ValueError: for inconsistent settings (e.g. ``ce`` on multi-label data, or a global
            batch that the processes cannot share evenly).
    """
    context, device = init_distributed(config.device)
    try:
        return _train(config, context, device, progress=progress and context.is_main)
    finally:
        context.close()


def _train(
    config: TrainConfig, context: DistributedContext, device: torch.device, *, progress: bool
) -> TrainResult:
    out = Path(config.out)
    prepare_run_folder(
        out,
        resume=config.resume,
        overwrite=config.overwrite,
        init_from=config.init_from,
        main=context.is_main,
    )
    if config.batch_size % context.world_size:
        raise ValueError(
            f"--batch-size is the global batch: {config.batch_size} images cannot be split "
            f"evenly over {context.world_size} processes"
        )
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    task = SemanticTask(config, context, device)
    resuming = config.resume and (out / "last.pt").is_file()
    if not resuming and config.init_from is not None:
        _load_initial_weights(task.model, config, device)
    settings = LoopSettings(
        out=out,
        warmup=min(config.warmup_epochs / config.epochs, 0.5),
        amp=task.amp,
        resume_keys=RESUME_KEYS,
        train_args=config.to_dict(),
        **{name: getattr(config, name) for name in _SHARED_SETTINGS},
    )
    result = fit(task, settings, context=context, device=device, progress=progress)
    best_path = out / "best.pt"
    if context.is_main and result.epochs_run and best_path.is_file():
        from seglab.engine.report import write_report

        write_report(out, result.history, best_path, task.data, device=device)
    elif context.is_main and result.epochs_run:
        warnings.warn(
            f"no epoch had a finite validation {config.monitor}, so {best_path} was not written "
            "(do the validation masks hold only ignore_index pixels?); last.pt and log.csv "
            "hold the run",
            stacklevel=3,
        )
    return result


def _load_initial_weights(
    model: torch.nn.Module, config: TrainConfig, device: torch.device
) -> None:
    """Start from another run's weights; the architectures must match exactly."""
    path = config.init_from
    state = load_checkpoint(path, map_location=device, trust_checkpoint=config.trust_checkpoint)
    if state.model["name"] != model.config["name"]:
        raise ValueError(
            f"init_from checkpoint {path} holds a {state.model['name']!r} model, "
            f"this run trains {model.config['name']!r}"
        )
    try:
        model.load_state_dict(state.state_dict)
    except RuntimeError as error:
        raise ValueError(f"init_from checkpoint {path} does not fit this model: {error}") from error
    _warn_if_split_differs(state.train_args, config)


def _warn_if_split_differs(init_args: dict | None, config: TrainConfig) -> None:
    """Warn when the initial weights were trained on a split of the same data that differs.

    Such a model has trained on some of this run's validation images, so the validation
    scores of the fine-tune would be too high.
    """
    if not init_args or "data" not in init_args:
        return
    try:
        init = TrainConfig.from_dict(init_args)
    except (TypeError, ValueError):  # arguments of another seglab version: nothing to compare
        return
    same_data = (
        init.dataset == config.dataset and Path(init.data).resolve() == Path(config.data).resolve()
    )
    split = (init.split_seed, init.val_fraction)
    if same_data and split != (config.split_seed, config.val_fraction):
        warnings.warn(
            f"init_from checkpoint {config.init_from} was trained on the split of {config.data} "
            f"with split_seed={init.split_seed}, val_fraction={init.val_fraction}; this run "
            f"validates on split_seed={config.split_seed}, val_fraction={config.val_fraction}, "
            "so its validation images may include images the initial model trained on",
            stacklevel=3,
        )
