"""Training: a plain loop with validation, atomic checkpoints, exact resume and a CSV log.

The run folder holds:

- ``last.pt``: everything needed to resume (model, optimizer, scheduler, scaler, epoch, RNG,
  history), rewritten atomically after every epoch;
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

import csv
import io
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from seglab.checkpoint import load_checkpoint, save_checkpoint
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
from seglab.engine.ema import ModelEma
from seglab.engine.evaluate import evaluate_model
from seglab.engine.loggers import open_loggers
from seglab.engine.schedule import lr_factor
from seglab.io import atomic_write_bytes, ensure_folder, remove_stale_temp_files
from seglab.models import create_model

__all__ = ["train", "TrainResult", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite; the last good checkpoint stays."""


# The files of a run folder, all written by this module; --overwrite deletes exactly these.
RUN_FILES = ("best.pt", "last.pt", "log.csv", "curves.png", "samples.png", "confusion.png")
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
# What a last.pt must hold to be resumed.
_RESUME_STATE_KEYS = (
    "optimizer",
    "scaler",
    "epoch",
    "history",
    "best_value",
    "best_metrics",
    "rng",
)


@dataclass
class TrainResult:
    """What a finished run returns.

    Attributes:
        out: the run folder.
        best: best validation metrics (those of ``best.pt``).
        history: one dict of metrics per epoch, as in ``log.csv``.
        epochs_run: epochs trained in this call (0 when resuming a finished run).
        stopped_early: True when early stopping or the time budget ended the run.
        seconds: wall time of this call.
    """

    out: Path
    best: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def files(self) -> list[str]:
        """The run files that exist in ``out`` (``best.pt`` is missing when no epoch had a
        finite validation score)."""
        return [name for name in RUN_FILES if (self.out / name).is_file()]


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "off":
        return None
    if config.amp == "fp16":
        return torch.float16
    if config.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_csv(path: Path, history: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in history:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(path, buffer.getvalue().encode())


def _is_better(value: float, best: float | None, monitor: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if monitor == "loss" else value > best


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


def _checkpoint_payload(
    config: TrainConfig, data: DataBundle, model: torch.nn.Module, **extra: Any
) -> dict[str, Any]:
    raw = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    return {
        "model": dict(raw.config),
        "state_dict": {key: value.detach().cpu() for key, value in raw.state_dict().items()},
        "class_names": list(data.class_names),
        "task": data.task,
        "ignore_index": data.ignore_index,
        "preprocess": data.preprocess,
        "train_args": config.to_dict(),
        **extra,
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
    started = time.perf_counter()
    out = Path(config.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    _check_run_folder(out, config)
    if context.is_main:
        ensure_folder(out)
        remove_stale_temp_files(out)
        if config.overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
    if config.batch_size % context.world_size:
        raise ValueError(
            f"--batch-size is the global batch: {config.batch_size} images cannot be split "
            f"evenly over {context.world_size} processes"
        )
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    seed_everything(config.seed)

    data = build_data(config)
    if config.monitor in ("fg_iou", "fg_dice") and (
        data.num_classes != 2 or data.task != "multiclass"
    ):
        raise ValueError(
            f"--monitor {config.monitor} scores the one foreground class of two exclusive "
            f"classes; this data has {data.num_classes} {data.task} classes: use miou or mean_dice"
        )
    model = create_model(
        config.model, num_classes=data.num_classes, in_channels=3, **config.model_kwargs
    ).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.sync_bn and context.enabled:
        model = convert_sync_batchnorm(model, device)
    loss_fn = _build_loss(config, data).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    shards = {"rank": context.rank, "world_size": context.world_size}
    train_loader = make_train_loader(data.train, config, **shards)
    val_loader = make_val_loader(data.val, config, **shards)
    steps_per_epoch = max(len(train_loader), 1)
    total_steps = steps_per_epoch * config.epochs
    warmup = min(config.warmup_epochs / config.epochs, 0.5)
    amp_dtype = _amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    start_epoch, history, best_value, best_metrics, elapsed_before = 0, [], None, {}, 0.0
    resume_state = None
    if config.resume and last_path.is_file():
        state = resume_state = load_checkpoint(
            last_path, map_location=device, trust_checkpoint=config.trust_checkpoint
        )
        _check_resumable(state, config, last_path)
        try:
            model.load_state_dict(state["state_dict"])
        except RuntimeError as error:
            raise ValueError(
                f"cannot resume: {last_path} does not fit this model: {error}"
            ) from None
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch = state["epoch"] + 1
        history = state["history"]
        best_value, best_metrics = state["best_value"], state["best_metrics"]
        elapsed_before = state.get("elapsed", 0.0)
        _set_rng_state(state["rng"])
        if progress:
            tqdm.write(f"resuming {out} at epoch {start_epoch + 1}/{config.epochs}")
    else:
        if config.resume and progress:
            tqdm.write(f"nothing to resume in {out}: starting a new run")
        if config.init_from is not None:
            _load_initial_weights(model, config, device)

    ema = ModelEma(model, config.ema) if config.ema else None
    if ema is not None and resume_state is not None:
        if "ema" in resume_state:
            ema.load_state_dict(resume_state["ema"])
        elif progress:
            tqdm.write(f"{last_path} has no EMA weights: the average starts from here")

    step_model = model
    if context.enabled:
        # DDP after loading weights: it broadcasts rank 0's parameters and then averages
        # the gradients of every step over the processes.
        step_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    # torch.compile after loading weights: the compiled wrapper shares the same parameters.
    if config.compile:
        step_model = torch.compile(step_model)
    # Validation runs on each process's own shard without DDP, whose buffer broadcast would
    # wait for processes that have fewer validation batches.
    eval_model = model if context.enabled or not config.compile else step_model
    if ema is not None:
        # Validation, best.pt and the report use the averaged weights.
        eval_model = ema.module
    loggers = open_loggers(config.loggers if context.is_main else [], out, config.to_dict())
    stopped_early = False
    epochs_run = 0
    budget_s = config.time_budget * 60.0 if config.time_budget else None
    # "cpu" counts this process's CPU time, so that runs on a shared, busy machine get the
    # same compute however many other jobs run beside them.
    clock = time.process_time if config.budget_clock == "cpu" else time.perf_counter
    train_clock = elapsed_before
    epoch_bar = tqdm(
        range(start_epoch, config.epochs),
        desc="epochs",
        disable=not progress,
        initial=start_epoch,
        total=config.epochs,
    )
    try:
        for epoch in epoch_bar:
            # Reseed per epoch: resuming at epoch e replays exactly what a full run does there.
            seed_everything(config.seed * 1000 + epoch)
            set_loader_epoch(train_loader, epoch)
            epoch_start = time.perf_counter()
            epoch_cpu, epoch_clock = time.process_time(), clock()
            model.train()
            running, seen = 0.0, 0
            batch_bar = tqdm(
                train_loader, desc=f"train {epoch + 1}", leave=False, disable=not progress
            )
            for step, (images, targets) in enumerate(batch_bar):
                if budget_s is not None:
                    # The most advanced process decides, so that all stop at the same step.
                    progress_fraction = context.max(train_clock + clock() - epoch_clock) / budget_s
                    if progress_fraction >= 1.0 and seen:
                        # The budget is spent: the rest of the epoch would train at lr 0.
                        break
                else:
                    progress_fraction = (epoch * steps_per_epoch + step) / total_steps
                lr = config.lr * lr_factor(
                    progress_fraction, schedule=config.schedule, warmup=warmup
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = images.to(device, non_blocking=True)
                targets = targets.to(device, non_blocking=True)
                if config.copy_paste and config.augment:
                    images, targets = copy_paste(
                        images, targets, p=config.copy_paste, ignore_index=data.ignore_index
                    )
                if config.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = step_model(images)
                    loss = loss_fn(logits.float(), targets)
                # The mean over processes: every process sees a NaN anywhere and stops.
                batch_loss_sum, batch_images = context.sum(
                    loss.item() * images.shape[0], images.shape[0]
                )
                if not math.isfinite(batch_loss_sum):
                    raise NonFiniteLossError(
                        f"loss became {batch_loss_sum} at epoch {epoch + 1}, step {step + 1}; "
                        f"stopping. {last_path} keeps the last good epoch "
                        "(try a lower --lr or --clip-grad)."
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.clip_grad:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update(model)
                running += batch_loss_sum
                seen += int(batch_images)
                batch_bar.set_postfix(loss=f"{running / seen:.4f}", lr=f"{lr:.2e}")
            train_seconds = time.perf_counter() - epoch_start
            train_cpu_seconds = time.process_time() - epoch_cpu
            train_clock = context.max(train_clock + clock() - epoch_clock)

            metrics = evaluate_model(
                eval_model,
                val_loader,
                task=data.task,
                num_classes=data.num_classes,
                ignore_index=data.ignore_index,
                device=device,
                loss_fn=loss_fn,
                amp_dtype=amp_dtype,
                context=context,
            )
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": running / max(seen, 1),
                "train_images": seen,
                "train_images_per_s": seen / max(train_seconds, 1e-9),
                "train_cpu_seconds": train_cpu_seconds,
                "epoch_seconds": time.perf_counter() - epoch_start,
                **{key: value for key, value in metrics.items() if np.isscalar(value)},
                # Per-class (per-label) IoU as columns, so that log.csv shows each curve.
                **{
                    f"iou_{name}": float(value)
                    for name, value in zip(data.class_names, metrics["iou"], strict=True)
                },
            }
            history.append(row)
            epochs_run += 1
            monitor_value = metrics.get(config.monitor)
            improved = _is_better(monitor_value, best_value, config.monitor)
            if improved:
                best_value, best_metrics = monitor_value, {"epoch": epoch + 1, **metrics}
            if context.is_main:
                if improved:
                    save_checkpoint(
                        best_path, _checkpoint_payload(config, data, eval_model, epoch=epoch)
                    )
                save_checkpoint(
                    last_path,
                    _checkpoint_payload(
                        config,
                        data,
                        model,
                        epoch=epoch,
                        optimizer=optimizer.state_dict(),
                        scaler=scaler.state_dict(),
                        history=history,
                        best_value=best_value,
                        best_metrics=best_metrics,
                        rng=_rng_state(),
                        elapsed=train_clock,
                        **({"ema": ema.state_dict()} if ema is not None else {}),
                    ),
                )
                _write_csv(out / "log.csv", history)
            loggers.log(row, step=epoch + 1)
            epoch_bar.set_postfix(
                loss=f"{row['train_loss']:.4f}", **{config.monitor: f"{monitor_value:.4f}"}
            )
            if config.patience is not None:
                best_epoch = best_metrics.get("epoch", epoch + 1)
                if epoch + 1 - best_epoch >= config.patience:
                    stopped_early = True
                    if progress:
                        tqdm.write(
                            f"early stop: no {config.monitor} gain for {config.patience} epochs"
                        )
                    break
            if budget_s is not None and train_clock >= budget_s:
                stopped_early = epoch + 1 < config.epochs
                break
    finally:
        loggers.close()

    if context.is_main and epochs_run and best_path.is_file():
        from seglab.engine.report import write_report

        write_report(out, history, best_path, data, device=device)
    elif context.is_main and epochs_run:
        warnings.warn(
            f"no epoch had a finite validation {config.monitor}, so {best_path} was not written "
            "(do the validation masks hold only ignore_index pixels?); last.pt and log.csv "
            "hold the run",
            stacklevel=3,
        )
    return TrainResult(
        out=out,
        best=best_metrics,
        history=history,
        epochs_run=epochs_run,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - started,
    )


def _check_run_folder(out: Path, config: TrainConfig) -> None:
    """Refuse to start where a finished run would be replaced without being asked to.

    Raises:
        NotADirectoryError: if ``out`` is a file.
        FileExistsError: if ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set,
            or ``resume`` is set but the run has no ``last.pt`` to continue from.
    """
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a run folder")
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if config.overwrite and config.init_from is not None:
        init = Path(config.init_from).resolve()
        if any(init == (out / name).resolve() for name in existing):
            raise ValueError(
                f"--init-from {config.init_from} is a file of the run that --overwrite would "
                "delete; copy it out of the run folder first"
            )
    if not existing or config.overwrite:
        return
    if not config.resume:
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(existing)}): pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if "last.pt" not in existing:
        raise FileExistsError(
            f"cannot resume {out}: it has no last.pt, only {', '.join(existing)}; pass "
            "--overwrite to start a new run there, or choose another --out"
        )


def _check_resumable(state: dict, config: TrainConfig, path: Path) -> None:
    """A ``last.pt`` must hold the training state and come from the same experiment.

    Raises:
        ValueError: for a missing training state, or settings of :data:`RESUME_KEYS` that
            differ between the run and this config (all differences are listed).
    """
    missing = [key for key in _RESUME_STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"cannot resume: {path} holds no training state ({', '.join(missing)})")
    saved = state.get("train_args") or {}
    differences = []
    for key in RESUME_KEYS:
        if key not in saved:
            continue
        old, new = saved[key], getattr(config, key)
        if key == "data":
            same = Path(str(old)).resolve() == Path(str(new)).resolve()
        else:
            same = old == new
        if not same:
            differences.append(f"{key} {old!r} there, {new!r} here")
    if differences:
        raise ValueError(
            f"cannot resume {path}: this command differs from the run it would continue "
            f"({'; '.join(differences)}). Repeat the run's settings, or start a new run with "
            "--overwrite or another --out"
        )


def _load_initial_weights(
    model: torch.nn.Module, config: TrainConfig, device: torch.device
) -> None:
    """Start from another run's weights; the architectures must match exactly."""
    path = config.init_from
    state = load_checkpoint(path, map_location=device, trust_checkpoint=config.trust_checkpoint)
    if state.get("model", {}).get("name") != model.config["name"]:
        raise ValueError(
            f"init_from checkpoint {path} holds a {state.get('model', {}).get('name')!r} model, "
            f"this run trains {model.config['name']!r}"
        )
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as error:
        raise ValueError(f"init_from checkpoint {path} does not fit this model: {error}") from error
    _warn_if_split_differs(state.get("train_args"), config)


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
