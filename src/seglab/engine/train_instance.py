"""Training of the bottom-up instance model (Panoptic-DeepLab heads on a U-Net) on nuclei.

One plain function, :func:`train_instance`: random crops of the training images
(:class:`~seglab.data.dsb2018.NucleiCrops`), the loss of
:func:`~seglab.instance.targets.instance_loss`, AdamW with linear warm-up and a cosine (or poly)
decay from :mod:`seglab.engine.schedule`, and a step-based loop that stops after ``steps`` or
after ``time_budget`` minutes, whichever comes first; with a time budget the schedule follows
the elapsed time, so the learning rate still decays to 0 at the end.

Every ``save_every`` steps and at the end, ``OUT/last.pt`` is written atomically
(:func:`seglab.checkpoint.save_checkpoint`) with the model, the optimiser, the step and the
elapsed time, and ``OUT/log.csv`` gets one row per ``log_every`` steps. ``resume=True``
continues from ``OUT/last.pt``: the crops of a step depend only on ``(seed, step)``, so a resumed
run sees the same batches as an uninterrupted one. The checkpoint has ``task = "instance"`` and
rebuilds its model with
:func:`seglab.models.panoptic_deeplab.instance_model_from_checkpoint`.

Example:
    >>> result = train_instance("../shared/data/dsb2018-stage1-test", "runs/nuclei",
    ...                         steps=1000, time_budget=20)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from seglab.checkpoint import load_checkpoint, save_checkpoint
from seglab.data.dsb2018 import NucleiCrops, NucleiSample, load_dsb2018
from seglab.engine.schedule import SCHEDULES, lr_factor
from seglab.instance.targets import DEFAULT_LOSS_WEIGHTS, instance_loss, instance_target_tensors
from seglab.io import ensure_folder, remove_stale_temp_files
from seglab.models.panoptic_deeplab import create_instance_model

__all__ = ["InstanceTrainResult", "train_instance", "TRAIN_LOSS_WEIGHTS"]

# The paper's weights (1, 200, 0.01) except the offsets: nuclei offsets are a few pixels, not
# the hundreds of Cityscapes, so their L1 term is small and needs a larger weight to matter.
TRAIN_LOSS_WEIGHTS = {**DEFAULT_LOSS_WEIGHTS, "offset": 0.1}
_LOG_FIELDS = ("step", "epoch", "lr", "loss", "semantic", "center", "offset", "seconds")


@dataclass
class InstanceTrainResult:
    """What :func:`train_instance` did."""

    out: Path
    checkpoint: Path
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def train_instance(
    data: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    samples: list[NucleiSample] | None = None,
    split: str = "train",
    base_channels: int = 8,
    dual_decoder: bool = False,
    crop_size: int = 128,
    batch_size: int = 8,
    steps: int = 2000,
    time_budget: float | None = None,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    warmup: float = 0.03,
    sigma: float = 3.0,
    loss_weights: dict[str, float] | None = None,
    clip_grad: float | None = 5.0,
    threads: int | None = None,
    seed: int = 0,
    save_every: int = 50,
    log_every: int = 10,
    resume: bool = False,
    overwrite: bool = False,
    init_from: str | os.PathLike | None = None,
    trust_checkpoint: bool = False,
    progress: bool = True,
) -> InstanceTrainResult:
    """Train a :class:`~seglab.models.panoptic_deeplab.PanopticDeepLab` on DSB 2018 nuclei.

    Args:
        data: DSB 2018 root (see :mod:`seglab.data.dsb2018`); ignored when ``samples`` is given.
        out: run folder (``last.pt``, ``log.csv``).
        samples: training images to use instead of reading ``data`` (tests use this).
        split: the split of ``data`` to train on (default ``"train"``: even positions).
        base_channels: U-Net width.
        dual_decoder: separate decoder for the centre and offset heads.
        crop_size: side of the random square crops.
        batch_size: crops per step.
        steps: total optimisation steps.
        time_budget: optional wall-clock limit in minutes (the schedule then follows time).
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        schedule: ``"cosine"``, ``"poly"`` or ``"constant"`` after the warm-up.
        warmup: fraction of training spent in linear warm-up.
        sigma: centre Gaussian standard deviation in pixels.
        loss_weights: loss weights (default :data:`TRAIN_LOSS_WEIGHTS`).
        clip_grad: maximum gradient norm, or ``None``.
        threads: ``torch.set_num_threads`` value (default: leave torch's).
        seed: seed of the initialisation and of the crops.
        save_every: steps between checkpoints.
        log_every: steps between CSV rows.
        resume: continue from ``OUT/last.pt``.
        overwrite: start a new run in an ``out`` that already holds one (its ``last.pt`` and
            ``log.csv`` are deleted first). Without ``resume`` or ``overwrite``, such a folder
            is an error: a finished run is never replaced silently.
        init_from: start from the weights of this checkpoint (a fine-tuning run: new
            optimiser, new schedule, step 0); the architecture settings must match it.
        trust_checkpoint: also load ``init_from`` / ``last.pt`` files that are not plain data
            (they can run code stored in them; see :mod:`seglab.checkpoint`).
        progress: show a tqdm bar.

    Returns:
        :class:`InstanceTrainResult`.

    Raises:
        ValueError: for bad settings (non-positive steps, batch size, time budget; unknown
            schedule) or when the data give no training image.
        FileNotFoundError: with ``resume`` and no ``OUT/last.pt``.
        FileExistsError: if ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("save_every", save_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be a positive number of minutes, got {time_budget!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if threads is not None:
        torch.set_num_threads(int(threads))
    if resume and overwrite:
        raise ValueError("resume continues the run in out, overwrite replaces it: choose one")
    out = Path(out)
    last_path = out / "last.pt"
    existing = [name for name in ("last.pt", "log.csv") if (out / name).exists()]
    if existing and not (resume or overwrite):
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(existing)}): pass resume=True to continue "
            "it, overwrite=True to replace it, or choose another out"
        )
    ensure_folder(out)
    remove_stale_temp_files(out)
    if overwrite:
        for name in existing:
            (out / name).unlink()
    weights = {**TRAIN_LOSS_WEIGHTS, **(loss_weights or {})}
    if samples is None:
        if data is None:
            raise ValueError("give either data (a DSB 2018 root) or samples")
        samples = load_dsb2018(data, split=split)
    if not samples:
        raise ValueError("no training images")

    torch.manual_seed(seed)
    model = create_instance_model(
        "panoptic_deeplab", num_classes=2, base_channels=base_channels, dual_decoder=dual_decoder
    )
    if init_from is not None:
        initial = load_checkpoint(init_from, trust_checkpoint=trust_checkpoint)
        model.load_state_dict(initial["state_dict"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    train_args: dict[str, Any] = {
        "data": None if data is None else str(data),
        "split": split,
        "num_images": len(samples),
        "image_ids": [sample.image_id for sample in samples],
        "base_channels": base_channels,
        "dual_decoder": dual_decoder,
        "crop_size": crop_size,
        "batch_size": batch_size,
        "steps": steps,
        "time_budget": time_budget,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "warmup": warmup,
        "sigma": sigma,
        "loss_weights": weights,
        "clip_grad": clip_grad,
        "seed": seed,
        "init_from": None if init_from is None else str(init_from),
    }
    step, elapsed, history = 0, 0.0, []
    if resume:
        if not last_path.is_file():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {last_path}")
        state = load_checkpoint(last_path, trust_checkpoint=trust_checkpoint)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed"], list(state.get("history", []))

    steps_per_epoch = max(1, math.ceil(len(samples) / batch_size))
    dataset = NucleiCrops(
        samples,
        crop_size=crop_size,
        length=steps_per_epoch * batch_size,
        seed=seed,
        targets=functools.partial(instance_target_tensors, sigma=sigma),
    )

    def checkpoint() -> None:
        save_checkpoint(
            last_path,
            {
                "model": model.config,
                "state_dict": model.state_dict(),
                "class_names": ["background", "nucleus"],
                "task": "instance",
                "ignore_index": None,
                "preprocess": {"normalize": "per_image", "pad_multiple": model.size_multiple},
                "train_args": train_args,
                "optimizer": optimizer.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "history": history,
            },
        )

    def progress_of(current_step: int, seconds: float) -> float:
        done = current_step / steps
        if time_budget is not None:
            done = max(done, seconds / (60.0 * time_budget))
        return done

    log_path = out / "log.csv"
    new_log = not log_path.is_file() or not resume
    log_file = log_path.open("w" if new_log else "a", newline="")
    writer = csv.DictWriter(log_file, fieldnames=_LOG_FIELDS)
    if new_log:
        writer.writeheader()
    bar = tqdm(total=steps, initial=step, desc="train instance", disable=not progress)
    model.train()
    started = time.perf_counter() - elapsed
    running: dict[str, float] = {}
    try:
        while step < steps and progress_of(step, elapsed) < 1.0:
            epoch, position = divmod(step, steps_per_epoch)
            dataset.set_epoch(epoch)
            first = position * batch_size
            batch = _collate([dataset[i] for i in range(first, first + batch_size)])
            factor = lr_factor(progress_of(step, elapsed), schedule=schedule, warmup=warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr * factor
            outputs = model(batch["image"])
            losses = instance_loss(outputs, batch, weights=weights)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            step += 1
            elapsed = time.perf_counter() - started
            for key in ("loss", "semantic", "center", "offset"):
                running[key] = running.get(key, 0.0) + float(losses[key].detach())
            running["count"] = running.get("count", 0.0) + 1
            bar.update(1)
            if step % log_every == 0 or step == steps:
                count = running.pop("count")
                row = {
                    "step": step,
                    "epoch": epoch,
                    "lr": lr * factor,
                    **{key: value / count for key, value in running.items()},
                    "seconds": round(elapsed, 2),
                }
                running = {}
                history.append(row)
                writer.writerow(row)
                log_file.flush()
                bar.set_postfix(loss=f"{row['loss']:.3f}")
            if step % save_every == 0:
                checkpoint()
        checkpoint()
    finally:
        bar.close()
        log_file.close()
    return InstanceTrainResult(out, last_path, step, elapsed, history)
