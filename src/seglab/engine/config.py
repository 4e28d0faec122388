"""The settings of a training run: one dataclass, filled from CLI flags or from Python.

There is no config framework: the fields below are the settings, and a checkpoint stores them
as a plain dict so that a run can be resumed or reproduced from the file alone. The flags of
``seglab train`` are generated from these fields: each field's metadata holds its help text
(see :mod:`seglab.commands.train`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from seglab.engine.schedule import SCHEDULES
from seglab.limits import DEFAULT_IMG_SIZE, MAX_CLASSES, MAX_NETWORK_SIDE
from seglab.losses.registry import TRAINING_LOSS_NAMES

__all__ = [
    "TrainConfig",
    "DATASETS",
    "LOSSES",
    "MONITORS",
    "DEVICES",
    "AMP_MODES",
    "LOGGERS",
    "BUDGET_CLOCKS",
    "CACHES",
    "NORMALIZATIONS",
    "SCHEDULES",
]

DATASETS = ("oxford-pet", "folder")
# From the losses' one name table, so a new loss is one entry there.
LOSSES = TRAINING_LOSS_NAMES
# Metrics that can pick the best checkpoint; "loss" is the validation loss (lower is better).
MONITORS = ("miou", "fg_iou", "mean_dice", "pixel_accuracy", "mean_pixel_accuracy", "loss")
DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "bf16", "fp16", "off")
LOGGERS = ("tensorboard", "wandb")
BUDGET_CLOCKS = ("wall", "cpu")
# "none" decodes every epoch; a string, not None, so that it can be a CLI choice.
CACHES = ("memory", "disk", "none")
# None (not listed) keeps images in [0, 1].
NORMALIZATIONS = ("imagenet",)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value}")


def _check_number(
    name: str, value: Any, *, low: float | None = None, low_open: float | None = None
) -> None:
    """A finite number, ``>= low`` or ``> low_open``: NaN would silently poison training."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if low_open is not None and value <= low_open:
        raise ValueError(f"{name} must be > {low_open}, got {value}")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Attributes:
        data: dataset root folder.
        dataset: ``"oxford-pet"`` (official layout) or ``"folder"`` (``images/`` + ``masks/``).
        out: run folder for checkpoints, logs and plots.
        model: registry name, see :func:`seglab.models.list_models`.
        model_kwargs: extra constructor arguments, e.g. ``{"width": 0.5}``.
        mode: Oxford-IIIT Pet label mode (``binary``, ``binary_ignore``, ``trimap``,
            ``pet_head``); ignored for folders.
        num_classes: number of classes for folder datasets (read from ``classes.txt`` if None).
        img_size: square training size in pixels (the notes use 128), 32 to
            :data:`~seglab.limits.MAX_NETWORK_SIDE`.
        batch_size: images per step (the notes use 16). Under torchrun this is the global
            batch: each of N processes takes ``batch_size / N`` of it.
        epochs: number of epochs.
        loss: ``ce``, ``bce`` (multi-label), ``dice``, ``ce+dice`` (BCE + Dice for
            multi-label data), or the Lovász-Softmax IoU surrogate ``lovasz`` / ``ce+lovasz``
            (exclusive classes).
        lr, weight_decay: AdamW settings.
        schedule: ``cosine``, ``poly`` or ``constant``, after ``warmup_epochs`` of linear warm-up.
        clip_grad: max gradient norm, or None.
        ema: decay of an exponential moving average of the weights (e.g. 0.998), or None.
            With it, validation, ``best.pt`` and the report use the averaged weights
            (:class:`~seglab.engine.ema.ModelEma`); ``last.pt`` keeps both.
        class_weights: per-class loss weights, or None.
        device: ``auto``, ``cpu`` or ``cuda``.
        amp: mixed precision on CUDA: ``auto`` (bf16 where supported, else fp16), ``bf16``,
            ``fp16`` or ``off``. Always off on the CPU.
        channels_last, compile: CUDA speed opt-ins.
        sync_bn: under torchrun, compute BatchNorm statistics over the global batch
            (``torch.nn.SyncBatchNorm`` on CUDA, :class:`~seglab.engine.distributed.CpuSyncBatchNorm`
            with gloo). Ignored in a single process.
        seed: seeds Python, NumPy and torch; each epoch reseeds from ``seed`` and its index so
            that a resumed run repeats an uninterrupted one.
        split_seed: draws the validation images held out of the training data. Kept apart
            from ``seed`` so that runs with other training seeds, and fine-tunes of each
            other, all hold out the same images.
        deterministic: ask torch for deterministic kernels.
        val_fraction: share of the training data held out for validation.
        monitor: metric that picks ``best.pt``; see :data:`MONITORS`.
        patience: stop after this many epochs without improvement (None: never).
        time_budget: minutes of training; the schedule follows elapsed time and training stops
            when it is spent. Used to compare models at equal CPU time.
        budget_clock: what ``time_budget`` counts: ``wall`` (elapsed seconds) or ``cpu``
            (this process's CPU seconds, all threads together; fair between runs that share
            a busy machine).
        resume: continue from ``out/last.pt`` if it exists. The run's data, dataset, model,
            labels, size and split must be the ones ``last.pt`` was trained with.
        overwrite: start a new run in an ``out`` folder that already holds one, deleting its
            checkpoints, log and plots first. Without it (or ``resume``) such a folder is an
            error, so that a finished run is never replaced by accident.
        trust_checkpoint: also load ``init_from`` / ``last.pt`` files that are not plain data
            (they can run code stored in them; see :mod:`seglab.checkpoint`).
        init_from: a checkpoint whose weights start this run (fine-tuning); its model must have
            the same architecture. Optimizer, schedule and epochs start afresh. Ignored when
            resuming from ``out/last.pt``.
        loggers: any of ``tensorboard``, ``wandb`` (offline mode).
        num_workers: data-loading worker processes.
        cache: ``memory``, ``disk`` or ``none``: decode and resize once.
        augment: random scale/crop, flip, rotation and colour jitter on training images.
        aug_scale: range of the random scale factor (``RandomScaleCrop``).
        aug_rotation: largest random rotation in degrees (0: none).
        aug_hue: largest random hue shift, in turns of the colour wheel (0 to 0.5).
        aug_gray: probability that a training image is turned grey.
        copy_paste: probability that a training image receives the foreground of another
            image of its batch (:func:`~seglab.data.mixing.copy_paste`); 0 turns it off.
            Like the other augmentations it needs ``augment``.
        normalize: ``None`` (images in [0, 1]) or ``"imagenet"`` mean/std.
    """

    # Each field's metadata is its `seglab train` flag (seglab.commands.train generates the
    # flags from it): "help", and only where the name and type do not say it already,
    # "flags", "metavar", "choices", "action" or "none_value" (the flag value that means None).
    data: str = field(metadata={"help": "dataset root folder"})
    dataset: str = field(
        default="oxford-pet",
        metadata={
            "help": "dataset layout: oxford-pet (the official one) or folder (images/ + masks/)",
            "choices": DATASETS,
        },
    )
    out: str = field(
        default="runs/exp",
        metadata={"help": "run folder for checkpoints, logs and plots (default: %(default)s)"},
    )
    model: str = field(default="unet", metadata={"help": "model name, see `seglab models`"})
    model_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "extra model argument, e.g. width=0.5 (repeatable)",
            "flags": ("--model-arg",),
            "metavar": "KEY=VALUE",
        },
    )
    mode: str = field(
        default="binary",
        metadata={
            "help": "Oxford-IIIT Pet labels: binary, binary_ignore, trimap, pet_head "
            "(ignored for folders)"
        },
    )
    num_classes: int | None = field(default=None, metadata={"help": "classes of a folder dataset"})
    img_size: int = field(
        default=DEFAULT_IMG_SIZE,
        metadata={"help": "square training size in pixels (default: %(default)s)"},
    )
    batch_size: int = field(
        default=16, metadata={"help": "global batch (split over torchrun processes)"}
    )
    epochs: int = field(default=20, metadata={"help": "number of epochs (default: %(default)s)"})
    loss: str = field(default="ce", metadata={"help": "training loss", "choices": LOSSES})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate (default: %(default)s)"})
    weight_decay: float = field(
        default=1e-4, metadata={"help": "AdamW weight decay (default: %(default)s)"}
    )
    schedule: str = field(
        default="cosine",
        metadata={"help": "learning-rate schedule after the warm-up", "choices": SCHEDULES},
    )
    warmup_epochs: float = field(
        default=1.0,
        metadata={"help": "epochs of linear learning-rate warm-up (default: %(default)s)"},
    )
    clip_grad: float | None = field(
        default=1.0, metadata={"help": "max gradient norm (0: off)", "none_value": 0}
    )
    ema: float | None = field(
        default=None,
        metadata={
            "help": "validate and save an exponential moving average of the weights (e.g. 0.998)",
            "metavar": "DECAY",
        },
    )
    class_weights: list[float] | None = field(
        default=None, metadata={"help": "per-class loss weights, one per class"}
    )
    device: str = field(
        default="auto",
        metadata={"help": "where to train (auto: CUDA when torch sees it)", "choices": DEVICES},
    )
    amp: str = field(
        default="auto",
        metadata={"help": "mixed precision on CUDA (ignored on the CPU)", "choices": AMP_MODES},
    )
    channels_last: bool = field(
        default=False, metadata={"help": "channels-last memory layout (a CUDA speed opt-in)"}
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model"})
    sync_bn: bool = field(
        default=False,
        metadata={"help": "under torchrun: BatchNorm statistics over the global batch"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the training randomness"})
    split_seed: int = field(
        default=0,
        metadata={
            "help": "seed of the validation split (kept apart from --seed, so that every run "
            "holds out the same images)"
        },
    )
    deterministic: bool = field(
        default=False, metadata={"help": "ask torch for deterministic kernels"}
    )
    val_fraction: float = field(
        default=0.1,
        metadata={
            "help": "share of the training data held out for validation (default: %(default)s)"
        },
    )
    monitor: str = field(
        default="miou",
        metadata={
            "help": "validation metric that picks best.pt and drives --patience. Under "
            "torchrun write --best-metric: torchrun's own parser takes --monitor for its "
            "--monitor-interval",
            "flags": ("--best-metric", "--monitor"),
            "choices": MONITORS,
        },
    )
    patience: int | None = field(
        default=None, metadata={"help": "early-stopping patience (epochs)"}
    )
    time_budget: float | None = field(default=None, metadata={"help": "minutes of training"})
    budget_clock: str = field(
        default="wall",
        metadata={
            "help": "what --time-budget counts: elapsed time, or this process's CPU time "
            "(fair on a shared machine)",
            "choices": BUDGET_CLOCKS,
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "continue from OUT/last.pt (the data, model and labels must be the run's)"
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "start a new run in an OUT that holds one, deleting its checkpoints and "
            "log (without --resume or --overwrite such an OUT is an error)"
        },
    )
    trust_checkpoint: bool = field(
        default=False,
        metadata={
            "help": "also load --init-from and OUT/last.pt checkpoints that are not plain "
            "data; such a file can run any code when loaded, so only for files from a source "
            "you trust (see README: Safety)"
        },
    )
    init_from: str | None = field(
        default=None, metadata={"help": "start from this checkpoint's weights (fine-tune)"}
    )
    loggers: list[str] = field(
        default_factory=list,
        metadata={
            "help": "also log to this logger (wandb runs offline; repeatable)",
            "flags": ("--logger",),
            "action": "append",
            "choices": LOGGERS,
        },
    )
    num_workers: int = field(
        default=0, metadata={"help": "data-loading worker processes (default: %(default)s)"}
    )
    cache: str = field(
        default="memory",
        metadata={
            "help": "keep the decoded, resized images in memory or on disk (none: decode "
            "every epoch)",
            "choices": CACHES,
        },
    )
    augment: bool = field(
        default=True,
        metadata={
            "help": "no random scale/crop, flip, rotation or colour changes of the training images"
        },
    )
    aug_scale: tuple[float, float] = field(
        default=(0.75, 1.33),
        metadata={
            "help": "range of the random scale factor of the training crops",
            "metavar": ("LOW", "HIGH"),
        },
    )
    aug_rotation: float = field(
        default=10.0, metadata={"help": "largest random rotation (degrees)"}
    )
    aug_hue: float = field(
        default=0.02,
        metadata={
            "help": "largest random hue shift, in turns of the colour wheel (0 to 0.5)",
            "metavar": "TURNS",
        },
    )
    aug_gray: float = field(
        default=0.0,
        metadata={
            "help": "chance that a training image is turned grey (learn shapes, not coat colours)",
            "metavar": "P",
        },
    )
    copy_paste: float = field(
        default=0.0,
        metadata={
            "help": "chance that a training image gets another image's objects pasted on (0: off)",
            "metavar": "P",
        },
    )
    normalize: str | None = field(
        default=None,
        metadata={
            "help": "input normalisation (default: none, images in [0, 1])",
            "choices": NORMALIZATIONS,
        },
    )

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("monitor", self.monitor, MONITORS)
        _check_choice("device", self.device, DEVICES)
        _check_choice("amp", self.amp, AMP_MODES)
        _check_choice("budget_clock", self.budget_clock, BUDGET_CLOCKS)
        for logger in self.loggers:
            _check_choice("logger", logger, LOGGERS)
        if self.resume and self.overwrite:
            raise ValueError("resume continues the run in out, overwrite replaces it: choose one")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("img_size", self.img_size, 32, MAX_NETWORK_SIDE)
        _check_int("num_workers", self.num_workers, 0)
        if self.num_classes is not None:
            _check_int("num_classes", self.num_classes, 1, MAX_CLASSES)
        if self.patience is not None:
            _check_int("patience", self.patience, 1)
        for name in ("seed", "split_seed"):
            _check_int(name, getattr(self, name), 0)
        _check_number("lr", self.lr, low_open=0.0)
        _check_number("weight_decay", self.weight_decay, low=0.0)
        _check_number("warmup_epochs", self.warmup_epochs, low=0.0)
        if self.clip_grad is not None:
            _check_number("clip_grad", self.clip_grad, low_open=0.0)
        if self.time_budget is not None:
            _check_number("time_budget", self.time_budget, low_open=0.0)
        if self.class_weights is not None:
            for weight in self.class_weights:
                _check_number("each class weight", weight, low=0.0)
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {self.ema}")
        self.aug_scale = (float(self.aug_scale[0]), float(self.aug_scale[1]))
        if not 0.0 < self.aug_scale[0] <= self.aug_scale[1] <= 10.0:
            raise ValueError(
                f"aug_scale must be a range 0 < low <= high <= 10, got {self.aug_scale}"
            )
        if not 0.0 <= self.aug_rotation <= 180.0:
            raise ValueError(f"aug_rotation must be in [0, 180] degrees, got {self.aug_rotation}")
        if not 0.0 <= self.aug_hue <= 0.5:
            raise ValueError(f"aug_hue must be in [0, 0.5] turns, got {self.aug_hue}")
        if not 0.0 <= self.aug_gray <= 1.0:
            raise ValueError(f"aug_gray must be a probability in [0, 1], got {self.aug_gray}")
        if not 0.0 <= self.copy_paste <= 1.0:
            raise ValueError(f"copy_paste must be a probability in [0, 1], got {self.copy_paste}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, stored in checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = dict(values)
        # Checkpoints from before split_seed drew their split from the training seed.
        values.setdefault("split_seed", values.get("seed", 0))
        return cls(**{key: value for key, value in values.items() if key in known})
