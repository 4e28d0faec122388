"""Training of the bottom-up instance model (Panoptic-DeepLab heads on a U-Net) on nuclei.

:func:`train_instance` describes the task (:class:`InstanceTask`: random crops of the training
images from :class:`~seglab.data.dsb2018.NucleiCrops`, the loss of
:func:`~seglab.instance.targets.instance_loss`) and hands it to the same training core as
semantic training (:mod:`seglab.engine.loop`): AdamW with linear warm-up and a cosine (or
poly) decay, a stop after ``steps`` or after ``time_budget`` minutes (the schedule then
follows the elapsed time, so the learning rate still decays to 0 at the end), weight EMA,
exact resume, atomic ``last.pt`` and ``log.csv``, the run-folder rules and DDP.

An epoch is one crop per training image. ``OUT/last.pt`` is written at every epoch's end and
every ``save_every`` steps; ``OUT/log.csv`` gets a row every ``log_every`` steps. With held-out
images (``val_split`` / ``val_samples``), every epoch ends with their DSB score, AJI and
recall at IoU 0.5 in the log, ``OUT/best.pt`` keeps the epoch with the best DSB score, and
``OUT/curves.png`` plots the loss and those scores at the end. ``resume=True``
continues from ``OUT/last.pt``: the crops of a step depend only on ``(seed, step)``, so a
resumed run sees the same batches as an uninterrupted one. The checkpoint has
``task = "instance"`` and rebuilds its model with
:func:`seglab.checkpoint.model_from_checkpoint`.

Example:
    >>> result = train_instance("../shared/data/dsb2018-stage1-test", "runs/nuclei",
    ...                         steps=1000, time_budget=20)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seglab._checks import check_real, is_finite_number
from seglab.checkpoint import load_checkpoint
from seglab.data.dsb2018 import NucleiCrops, NucleiSample, load_dsb2018
from seglab.engine.distributed import DistributedContext
from seglab.engine.loop import LoopSettings, StepLoss, fit, prepare_run_folder
from seglab.engine.schedule import SCHEDULES
from seglab.instance.grouping import predict_instances
from seglab.instance.targets import DEFAULT_LOSS_WEIGHTS, instance_loss, instance_target_tensors
from seglab.limits import check_network_size
from seglab.metrics import aggregated_jaccard_index, instance_match_counts
from seglab.models.panoptic_deeplab import create_instance_model

__all__ = [
    "InstanceTask",
    "InstanceTrainResult",
    "score_instance_maps",
    "train_instance",
    "TRAIN_LOSS_WEIGHTS",
    "VALIDATION_GROUPING",
]

# The paper's weights (1, 200, 0.01) except the offsets: nuclei offsets are a few pixels, not
# the hundreds of Cityscapes, so their L1 term is small and needs a larger weight to matter.
TRAIN_LOSS_WEIGHTS = {**DEFAULT_LOSS_WEIGHTS, "offset": 0.1}
# The classes of a nuclei model: one thing class.
NUCLEI_CLASSES = ("background", "nucleus")
# The grouping used to score held-out images after each epoch: the paper's defaults. (The
# shipped settings are tuned afterwards, on the same held-out images.)
VALIDATION_GROUPING = {"threshold": 0.1, "nms_kernel": 7}
# Settings that decide what a run learns from and what it builds; a resume must repeat them.
_RESUME_KEYS = (
    "data",
    "split",
    "image_ids",
    "val_ids",
    "base_channels",
    "dual_decoder",
    "crop_size",
    "sigma",
)


@dataclass
class InstanceTrainResult:
    """What :func:`train_instance` did."""

    out: Path
    checkpoint: Path
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def score_instance_maps(predictions: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """The validation scores of instance label maps: means over images of the DSB score and
    the AJI, and the fraction of ground-truth nuclei matched at IoU > 0.5 (``recall50``).

    Shape:
        - Input: lists of ``(H_i, W_i)`` integer label maps, 0 = background.

    Example:
        >>> import numpy as np
        >>> score_instance_maps([np.array([[1, 1, 0, 2]])], [np.array([[1, 1, 0, 0]])])
        {'dsb': 0.5, 'aji': 0.6666666666666666, 'recall50': 1.0}
    """
    dsb, aji, matched, total = [], [], 0, 0
    for pred, target in zip(predictions, targets, strict=True):
        # One match table per image gives both the DSB score and the recall at IoU 0.5 (the
        # first DSB threshold).
        true_pos, num_target, num_pred = instance_match_counts(pred, target)
        found = num_target + num_pred
        dsb.append(float(np.mean(true_pos / (found - true_pos))) if found else float("nan"))
        aji.append(aggregated_jaccard_index(pred, target))
        matched, total = matched + int(true_pos[0]), total + num_target
    return {
        "dsb": float(np.nanmean(dsb)) if not np.isnan(dsb).all() else float("nan"),
        "aji": float(np.nanmean(aji)) if not np.isnan(aji).all() else float("nan"),
        "recall50": matched / total if total else float("nan"),
    }


def _collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


class InstanceTask:
    """Nuclei images -> a Panoptic-DeepLab model, as the training core needs it.

    Args:
        samples: the training images.
        crop_size, batch_size, sigma, seed: see :func:`train_instance`.
        weights: the loss weights.
        model: the model to train.
        context: the DDP context; each process takes its slice of every global batch.
        val_samples: held-out images scored after every epoch (see :func:`train_instance`).
        class_names: ``["background", *thing classes]``.
        category_ids: the COCO category id of each thing class (written to results files).
    """

    def __init__(
        self,
        samples: list[NucleiSample],
        *,
        crop_size: int,
        batch_size: int,
        sigma: float,
        seed: int,
        weights: dict[str, float],
        model: torch.nn.Module,
        context: DistributedContext,
        val_samples: list[NucleiSample] | None = None,
        class_names: list[str] | None = None,
        category_ids: list[int] | None = None,
    ) -> None:
        self.model, self.weights, self.context = model, weights, context
        self.class_names = list(class_names or NUCLEI_CLASSES)
        self.category_ids = list(category_ids or range(1, len(self.class_names)))
        self.val_samples = list(val_samples or [])
        self.batch_size = batch_size
        self.steps_per_epoch = max(1, math.ceil(len(samples) / batch_size))
        self.crops = NucleiCrops(
            samples,
            crop_size=crop_size,
            length=self.steps_per_epoch * batch_size,
            seed=seed,
            targets=functools.partial(instance_target_tensors, sigma=sigma),
        )

    def batches(self, epoch: int, start: int) -> Iterator[dict[str, torch.Tensor]]:
        self.crops.set_epoch(epoch)
        rank, world = self.context.rank, self.context.world_size
        for position in range(start, self.steps_per_epoch):
            first = position * self.batch_size
            indices = range(first, first + self.batch_size)[rank::world]
            yield _collate([self.crops[index] for index in indices])

    def loss(self, forward, batch, device: torch.device, amp: torch.dtype | None) -> StepLoss:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        losses = instance_loss(forward(batch["image"]), batch, weights=self.weights)
        parts = {key: float(losses[key].detach()) for key in ("semantic", "center", "offset")}
        return StepLoss(losses["loss"], int(batch["image"].shape[0]), parts)

    def validate(self, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
        if not self.val_samples:
            return {}
        predictions = [
            predict_instances(model, sample.image, device=device, **VALIDATION_GROUPING).labels
            for sample in self.val_samples
        ]
        return score_instance_maps(
            [labels.numpy() for labels in predictions],
            [sample.labels for sample in self.val_samples],
        )

    def log_columns(self, metrics: dict[str, Any]) -> dict[str, float]:
        return {}

    def checkpoint_fields(self) -> dict[str, Any]:
        return {
            "class_names": self.class_names,
            "category_ids": self.category_ids,
            "task": "instance",
            "ignore_index": None,
            "preprocess": {"normalize": "per_image", "pad_multiple": self.model.size_multiple},
        }


def _image_lists(samples, val_samples, val_split) -> dict[str, Any]:
    """The ``train_args`` entries that record which images trained and validated a run."""
    return {
        "num_images": len(samples),
        "image_ids": [sample.image_id for sample in samples],
        "val_split": val_split,
        "val_ids": [sample.image_id for sample in val_samples],
    }


def _check_settings(steps, batch_size, save_every, time_budget, schedule, budget_clock) -> None:
    """Raise ``ValueError`` for a bad setting of :func:`train_instance` (named)."""
    for name, value in (("steps", steps), ("batch_size", batch_size), ("save_every", save_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be a positive number of minutes, got {time_budget!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if budget_clock not in ("wall", "cpu"):
        raise ValueError(f"budget_clock must be 'wall' or 'cpu', got {budget_clock!r}")


def _check_numbers(crop_size, lr, weight_decay, warmup, sigma, ema) -> None:
    """Raise ``ValueError`` for a non-finite or out-of-range number: NaN would silently poison
    training, and a crop of 10**6 pixels would pad every crop to it."""
    check_network_size((crop_size, crop_size), "crop_size")
    check_real("lr", lr, low=0, low_open=True)
    check_real("weight_decay", weight_decay, low=0)
    check_real("warmup", warmup, low=0, high=0.5)
    check_real("sigma", sigma, low=0, low_open=True)
    if ema is not None and not (is_finite_number(ema) and 0 < ema < 1):
        raise ValueError(f"ema decay must be in (0, 1), got {ema!r}")


def _check_classes(samples, class_names: list[str], category_ids) -> None:
    """Every sample's instance classes must be thing classes of ``class_names``.

    Raises:
        ValueError: for fewer than two class names, category ids that do not match the thing
            classes, or an instance class outside ``1..len(class_names) - 1``.
    """
    if len(class_names) < 2:
        raise ValueError(f"class_names needs the background and a thing class, got {class_names}")
    if category_ids is not None and len(category_ids) != len(class_names) - 1:
        raise ValueError(
            f"{len(category_ids)} category ids for {len(class_names) - 1} thing classes"
        )
    for sample in samples:
        if sample.classes is not None and len(sample.classes) > 1:
            top = int(sample.classes[1:].max())
            if int(sample.classes[1:].min()) < 1 or top >= len(class_names):
                raise ValueError(
                    f"{sample.image_id}: instance classes must be in 1..{len(class_names) - 1} "
                    f"({', '.join(class_names[1:])}), got {top}"
                )


def _training_images(
    data, split: str, val_split: str | None, samples, val_samples
) -> tuple[list[NucleiSample], list[NucleiSample]]:
    """The training and validation images of :func:`train_instance` (read or given).

    Raises:
        ValueError: for no data, no training image, or an image in both sets.
    """
    if samples is None:
        if data is None:
            raise ValueError("give either data (a DSB 2018 root) or samples")
        samples = load_dsb2018(data, split=split)
    if not samples:
        raise ValueError("no training images")
    if val_samples is None and val_split is not None:
        if data is None:
            raise ValueError("val_split needs data (a DSB 2018 root)")
        val_samples = load_dsb2018(data, split=val_split)
    val_samples = list(val_samples or [])
    overlap = {s.image_id for s in samples} & {s.image_id for s in val_samples}
    if overlap:
        raise ValueError(
            f"{len(overlap)} validation image(s) are also training images, e.g. {min(overlap)}"
        )
    return list(samples), val_samples


def train_instance(
    data: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    samples: list[NucleiSample] | None = None,
    class_names: list[str] | None = None,
    category_ids: list[int] | None = None,
    split: str = "train",
    val_split: str | None = None,
    val_samples: list[NucleiSample] | None = None,
    base_channels: int = 8,
    dual_decoder: bool = False,
    crop_size: int = 128,
    batch_size: int = 8,
    steps: int = 2000,
    time_budget: float | None = None,
    budget_clock: str = "wall",
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    warmup: float = 0.03,
    sigma: float = 3.0,
    loss_weights: dict[str, float] | None = None,
    clip_grad: float | None = 5.0,
    ema: float | None = None,
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
        samples: training images to use instead of reading ``data`` (COCO data, tests).
        class_names: ``["background", *thing classes]`` of ``samples`` whose ``classes`` are
            set (default: background and nucleus); the model predicts one class per entry.
        category_ids: the COCO category id of each thing class, stored in the checkpoint for
            results files (default 1, 2, ...).
        split: the split of ``data`` to train on (default ``"train"``: even positions; use
            ``"fit"`` with ``val_split="val"`` on the 664-image stage-1 training set).
        val_split: a split of ``data`` scored after every epoch (whole images, grouped with
            :data:`VALIDATION_GROUPING`): ``dsb``, ``aji`` and ``recall50`` in ``log.csv``,
            and ``best.pt`` holds the epoch with the best ``dsb``. None: no validation.
        val_samples: held-out images to use instead of ``val_split`` (tests use this).
        base_channels: U-Net width.
        dual_decoder: separate decoder for the centre and offset heads.
        crop_size: side of the random square crops.
        batch_size: crops per step.
        steps: total optimisation steps.
        time_budget: optional limit in minutes (the schedule then follows time).
        budget_clock: ``"wall"`` or ``"cpu"``: the clock of ``time_budget`` (``cpu``: the
            process's CPU time, all threads together).
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        schedule: ``"cosine"``, ``"poly"`` or ``"constant"`` after the warm-up.
        warmup: fraction of training spent in linear warm-up.
        sigma: centre Gaussian standard deviation in pixels.
        loss_weights: loss weights (default :data:`TRAIN_LOSS_WEIGHTS`).
        clip_grad: maximum gradient norm, or ``None``.
        ema: decay of an exponential moving average of the weights (e.g. 0.999), which is
            then what is validated and saved as ``best.pt``; None: no average.
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
    _check_settings(steps, batch_size, save_every, time_budget, schedule, budget_clock)
    _check_numbers(crop_size, lr, weight_decay, warmup, sigma, ema)
    if threads is not None:
        torch.set_num_threads(int(threads))
    out = Path(out)
    if resume and not (out / "last.pt").is_file():
        raise FileNotFoundError(f"cannot resume: no checkpoint at {out / 'last.pt'}")
    prepare_run_folder(out, resume=resume, overwrite=overwrite, init_from=init_from)
    samples, val_samples = _training_images(data, split, val_split, samples, val_samples)

    torch.manual_seed(seed)
    class_names = list(class_names or NUCLEI_CLASSES)
    _check_classes(samples + val_samples, class_names, category_ids)
    model = create_instance_model(
        "panoptic_deeplab",
        num_classes=len(class_names),
        base_channels=base_channels,
        dual_decoder=dual_decoder,
    )
    if init_from is not None and not resume:  # a fine-tuning run starts from these weights
        model.load_state_dict(
            load_checkpoint(init_from, trust_checkpoint=trust_checkpoint).state_dict
        )
    weights = {**TRAIN_LOSS_WEIGHTS, **(loss_weights or {})}
    train_args: dict[str, Any] = {
        "data": None if data is None else str(data),
        "split": split,
        **_image_lists(samples, val_samples, val_split),
        "class_names": class_names,
        "base_channels": base_channels,
        "dual_decoder": dual_decoder,
        "crop_size": crop_size,
        "batch_size": batch_size,
        "steps": steps,
        "time_budget": time_budget,
        "budget_clock": budget_clock,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "warmup": warmup,
        "sigma": sigma,
        "loss_weights": weights,
        "clip_grad": clip_grad,
        "ema": ema,
        "seed": seed,
        "init_from": None if init_from is None else str(init_from),
    }
    context = DistributedContext()
    task = InstanceTask(
        samples,
        crop_size=crop_size,
        batch_size=batch_size,
        sigma=sigma,
        seed=seed,
        weights=weights,
        model=model,
        context=context,
        val_samples=val_samples,
        class_names=class_names,
        category_ids=category_ids,
    )
    settings = LoopSettings(
        out=out,
        epochs=math.ceil(steps / task.steps_per_epoch),
        max_steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        warmup=warmup,
        clip_grad=clip_grad,
        ema=ema,
        monitor="dsb",
        time_budget=time_budget,
        budget_clock=budget_clock,
        save_every=save_every,
        log_every=log_every,
        seed=seed,
        resume=resume,
        overwrite=overwrite,
        trust_checkpoint=trust_checkpoint,
        resume_keys=_RESUME_KEYS,
        train_args=train_args,
    )
    return _fit_and_plot(task, settings, context, progress)


def _fit_and_plot(task, settings: LoopSettings, context, progress: bool) -> InstanceTrainResult:
    """Train, then plot the validated epochs into ``curves.png``."""
    result = fit(task, settings, context=context, device=torch.device("cpu"), progress=progress)
    if context.is_main and any("dsb" in row for row in result.history):  # validated epochs
        from seglab.engine.report import epoch_rows, plot_curves

        epochs = [row for row in epoch_rows(result.history) if "dsb" in row]
        plot_curves(epochs, settings.out / "curves.png")
    out = settings.out
    return InstanceTrainResult(out, out / "last.pt", result.steps, result.elapsed, result.history)
