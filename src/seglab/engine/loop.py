"""The one training core: epochs of optimisation steps, validation, checkpoints and resume.

Every kind of training describes itself as a :class:`TrainingTask` (its model, its batches, its
loss, its validation and what its checkpoints record) and calls :func:`fit`; the core does the
rest the same way for all of them:

- the run folder: a folder that holds a run needs ``resume`` or ``overwrite``; ``resume``
  refuses a ``last.pt`` of another experiment; temporary files of a killed run are removed;
- the learning rate: linear warm-up, then the schedule, following the steps done or the time
  budget spent (wall or CPU clock), whichever is further;
- each step: mixed precision, a NaN/inf check (over all processes), gradient clipping, weight
  EMA, DDP under ``torchrun`` (``batch_size`` is the global batch);
- each epoch (and every ``save_every`` steps): ``last.pt`` with everything needed to resume
  exactly (optimiser, scaler, RNG, history, EMA, the position inside the epoch), written
  atomically together with ``log.csv``; after validation, ``best.pt`` when the ``monitor``
  improves; early stopping after ``patience`` epochs without improvement;
- logging: one row per epoch (and every ``log_every`` steps) in ``log.csv`` and the optional
  TensorBoard / W&B loggers, tqdm bars for epochs and steps.

Every epoch reseeds all RNGs from ``(seed, epoch)``, so a run resumed from ``last.pt`` repeats
the steps of an uninterrupted run exactly (on the CPU), also from the middle of an epoch.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from seglab.checkpoint import load_checkpoint, save_checkpoint
from seglab.engine.device import seed_everything
from seglab.engine.distributed import DistributedContext
from seglab.engine.ema import ModelEma
from seglab.engine.loggers import open_loggers
from seglab.engine.schedule import lr_factor
from seglab.io import atomic_write_bytes, ensure_folder, remove_stale_temp_files

__all__ = [
    "RUN_FILES",
    "FitResult",
    "LoopSettings",
    "NonFiniteLossError",
    "StepLoss",
    "TrainingTask",
    "fit",
    "prepare_run_folder",
]

# The files of a run folder; --overwrite deletes exactly these (and nothing of the user's).
RUN_FILES = ("best.pt", "last.pt", "log.csv", "curves.png", "samples.png", "confusion.png")
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


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite; the last good checkpoint stays."""


@dataclass
class StepLoss:
    """The loss of one batch: the value to minimise, the images it covers, and its named parts
    (averaged into the log, e.g. ``{"center": ..., "offset": ...}``)."""

    value: torch.Tensor
    images: int
    parts: dict[str, float] = field(default_factory=dict)


class TrainingTask(Protocol):
    """What a kind of training tells the core (see :mod:`seglab.engine.train` and
    :mod:`seglab.engine.train_instance`)."""

    #: the raw model being trained (not a DDP or compile wrapper).
    model: torch.nn.Module
    #: optimisation steps in one epoch.
    steps_per_epoch: int

    def batches(self, epoch: int, start: int) -> Iterable[Any]:
        """This process's batches of ``epoch``, from batch ``start`` on."""

    def loss(self, forward, batch: Any, device: torch.device, amp: torch.dtype | None) -> StepLoss:
        """The loss of one batch through ``forward`` (the possibly wrapped model)."""

    def validate(self, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
        """Validation metrics of ``model`` (``{}`` when the task has no validation data)."""

    def checkpoint_fields(self) -> dict[str, Any]:
        """``class_names``, ``task``, ``ignore_index``, ``preprocess`` and any extra entries."""

    def log_columns(self, metrics: dict[str, Any]) -> dict[str, float]:
        """Extra ``log.csv`` columns made from non-scalar metrics (e.g. per-class IoU)."""


@dataclass
class LoopSettings:
    """How :func:`fit` trains; one per run, filled by each kind of training from its settings.

    Attributes:
        out: run folder.
        epochs: most epochs.
        max_steps: stop after this many steps in all, even inside an epoch (None: no limit).
        lr, weight_decay: AdamW settings (the optimiser is built from them unless given).
        schedule: ``cosine``, ``poly`` or ``constant`` after the warm-up.
        warmup: fraction of training in linear warm-up.
        clip_grad: largest gradient norm, or None.
        ema: EMA decay, or None.
        amp: the autocast dtype, or None.
        channels_last, compile: model memory layout and ``torch.compile``.
        time_budget: minutes of training, or None; ``budget_clock`` is ``wall`` or ``cpu``.
        monitor: the validation metric that picks ``best.pt`` (``loss`` is minimised).
        patience: stop after this many epochs without improvement (None: never).
        save_every, log_every: also save ``last.pt`` / log a row every this many steps.
        seed: base seed; epoch ``e`` reseeds from ``seed * 1000 + e``.
        resume, overwrite, trust_checkpoint: see :func:`prepare_run_folder`.
        resume_keys: ``train_args`` entries a resumed run must repeat.
        train_args: the run's settings, stored in every checkpoint.
        loggers: ``tensorboard`` and/or ``wandb``.
    """

    out: Path
    epochs: int
    lr: float
    train_args: dict[str, Any]
    max_steps: int | None = None
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup: float = 0.0
    clip_grad: float | None = None
    ema: float | None = None
    amp: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False
    time_budget: float | None = None
    budget_clock: str = "wall"
    monitor: str = "loss"
    patience: int | None = None
    save_every: int | None = None
    log_every: int | None = None
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    trust_checkpoint: bool = False
    resume_keys: tuple[str, ...] = ()
    loggers: list[str] = field(default_factory=list)


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        out: the run folder.
        best: best validation metrics (those of ``best.pt``; ``{}`` without validation).
        history: the log rows, as in ``log.csv``.
        epochs_run: epochs finished in this call.
        steps: optimisation steps in all, resumed ones included.
        stopped_early: True when early stopping or the time budget ended the run.
        seconds: wall time of this call.
        elapsed: seconds of training on the budget clock, resumed ones included.
    """

    out: Path
    best: dict[str, Any]
    history: list[dict[str, Any]]
    epochs_run: int
    steps: int
    stopped_early: bool
    seconds: float
    elapsed: float = 0.0

    @property
    def files(self) -> list[str]:
        """The run files that exist in ``out`` (``best.pt`` is missing when no epoch had a
        finite validation score)."""
        return [name for name in RUN_FILES if (self.out / name).is_file()]


def prepare_run_folder(
    out: Path, *, resume: bool, overwrite: bool, init_from: str | None = None, main: bool = True
) -> None:
    """Refuse to start where a finished run would be replaced without being asked to; then
    (in the main process) create the folder, remove stale temporary files and, with
    ``overwrite``, the run's files.

    Raises:
        ValueError: for ``resume`` with ``overwrite``, or an ``init_from`` inside the run that
            ``overwrite`` would delete.
        NotADirectoryError: if ``out`` is a file.
        FileExistsError: if ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set,
            or ``resume`` is set but the run has no ``last.pt`` to continue from.
    """
    if resume and overwrite:
        raise ValueError("resume continues the run in out, overwrite replaces it: choose one")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file, not a run folder")
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if overwrite and init_from is not None:
        initial = Path(init_from).resolve()
        if any(initial == (out / name).resolve() for name in existing):
            raise ValueError(
                f"--init-from {init_from} is a file of the run that --overwrite would delete; "
                "copy it out of the run folder first"
            )
    if existing and not overwrite and not resume:
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(existing)}): pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if existing and resume and "last.pt" not in existing:
        raise FileExistsError(
            f"cannot resume {out}: it has no last.pt, only {', '.join(existing)}; pass "
            "--overwrite to start a new run there, or choose another --out"
        )
    if main:
        ensure_folder(out)
        remove_stale_temp_files(out)
        if overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)


def check_resumable(state, train_args: dict[str, Any], keys: tuple[str, ...], path: Path) -> None:
    """A ``last.pt`` must hold the training state and come from the same experiment.

    Raises:
        ValueError: for a missing training state, or ``keys`` of ``train_args`` that differ
            from the run's (all differences are listed).
    """
    missing = [key for key in _RESUME_STATE_KEYS if key not in state.extra]
    if missing:
        raise ValueError(f"cannot resume: {path} holds no training state ({', '.join(missing)})")
    saved, differences = state.train_args, []
    for key in keys:
        if key not in saved or key not in train_args:
            continue
        old, new = saved[key], train_args[key]
        if key == "data" and old is not None and new is not None:
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


def _is_better(value: Any, best: float | None, monitor: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if monitor == "loss" else value > best


def _weights(model: torch.nn.Module) -> dict[str, Any]:
    """The model's constructor arguments and CPU weights, unwrapped from ``torch.compile``."""
    raw = getattr(model, "_orig_mod", model)
    return {
        "model": dict(raw.config),
        "state_dict": {key: value.detach().cpu() for key, value in raw.state_dict().items()},
    }


@dataclass
class _Run:
    """The mutable state of a run: what ``last.pt`` saves and restores."""

    epoch: int = 0  # the epoch in progress (index)
    position: int = 0  # its batches already trained
    step: int = 0  # optimisation steps in all
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    clock: float = 0.0  # the budget clock's seconds of training so far
    lr: float = 0.0  # the learning rate of the last step
    running: dict[str, float] = field(default_factory=dict)  # sums since the last log row


class _Trainer:
    """One :func:`fit` call; its methods are the phases of the loop."""

    def __init__(self, task, settings: LoopSettings, context, device, optimizer, progress):
        self.task, self.settings, self.context, self.device = task, settings, context, device
        self.progress = progress and context.is_main
        self.model = task.model
        self.optimizer = optimizer or torch.optim.AdamW(
            self.model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=settings.amp == torch.float16)
        self.run = _Run()
        self.last_path = settings.out / "last.pt"
        self.best_path = settings.out / "best.pt"
        total = task.steps_per_epoch * settings.epochs
        self.total_steps = min(total, settings.max_steps) if settings.max_steps else total
        self.budget_s = settings.time_budget * 60.0 if settings.time_budget else None
        # "cpu" counts this process's CPU time, so that runs on a shared, busy machine get the
        # same compute however many other jobs run beside them.
        self.clock = time.process_time if settings.budget_clock == "cpu" else time.perf_counter
        self.ema: ModelEma | None = None
        self.step_model = self.model
        self.eval_model = self.model
        self.loggers = open_loggers(
            settings.loggers if context.is_main else [], settings.out, settings.train_args
        )
        self._row_started = time.perf_counter()  # wall time of the current log row

    # ------------------------------------------------------------------------------ set-up
    def restore(self) -> None:
        """Continue from ``last.pt`` (with ``resume``), else start afresh."""
        settings = self.settings
        state = None
        if settings.resume and self.last_path.is_file():
            state = load_checkpoint(
                self.last_path, map_location=self.device, trust_checkpoint=settings.trust_checkpoint
            )
            check_resumable(state, settings.train_args, settings.resume_keys, self.last_path)
            try:
                self.model.load_state_dict(state.state_dict)
            except RuntimeError as error:
                raise ValueError(
                    f"cannot resume: {self.last_path} does not fit this model: {error}"
                ) from None
            extra = state.extra
            self.optimizer.load_state_dict(extra["optimizer"])
            self.scaler.load_state_dict(extra["scaler"])
            position = int(extra.get("position", 0))
            # "epoch" is the last finished epoch; "position" the batches done after it.
            self.run = _Run(
                epoch=extra["epoch"] + 1,
                position=position,
                step=int(
                    extra.get("step", (extra["epoch"] + 1) * self.task.steps_per_epoch + position)
                ),
                history=list(extra["history"]),
                best_value=extra["best_value"],
                best_metrics=dict(extra["best_metrics"]),
                clock=float(extra.get("elapsed", 0.0)),
                running=dict(extra.get("running", {})),
            )
            _set_rng_state(extra["rng"])
            if self.progress:
                tqdm.write(
                    f"resuming {settings.out} at epoch {self.run.epoch + 1}/{settings.epochs}"
                )
        elif settings.resume and self.progress:
            tqdm.write(f"nothing to resume in {settings.out}: starting a new run")
        if settings.ema:
            self.ema = ModelEma(self.model, settings.ema)
            if state is not None and "ema" in state.extra:
                self.ema.load_state_dict(state.extra["ema"])
            elif state is not None and self.progress:
                tqdm.write(f"{self.last_path} has no EMA weights: the average starts from here")
        self._wrap()

    def _wrap(self) -> None:
        if self.settings.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.context.enabled:
            # DDP after loading weights: it broadcasts rank 0's parameters and then averages
            # the gradients of every step over the processes.
            self.step_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        # torch.compile after loading weights: the compiled wrapper shares the parameters.
        if self.settings.compile:
            self.step_model = torch.compile(self.step_model)
        # Validation runs on each process's own shard without DDP, whose buffer broadcast
        # would wait for processes that have fewer validation batches.
        self.eval_model = (
            self.model if self.context.enabled or not self.settings.compile else self.step_model
        )
        if self.ema is not None:
            self.eval_model = self.ema.module  # validation, best.pt and reports use the average

    # ----------------------------------------------------------------------------- stepping
    def _fraction(self, clock_now: float) -> float:
        """How far training is: steps done, or budget spent, whichever is further."""
        done = self.run.step / max(self.total_steps, 1)
        if self.budget_s is not None:
            # The most advanced process decides, so that all stop at the same step.
            done = max(done, self.context.max(clock_now) / self.budget_s)
        return done

    def train_one_epoch(self) -> str | None:
        """The steps of the current epoch, from its saved position.

        Returns:
            None when the epoch ran to its end, ``"budget"`` when the time budget was spent
            inside it, ``"steps"`` when ``max_steps`` was reached inside it.
        """
        settings, run = self.settings, self.run
        if run.position == 0:
            # Reseed per epoch: resuming at epoch e replays exactly what a full run does there.
            seed_everything(settings.seed * 1000 + run.epoch)
        self.model.train()
        mark_clock = self.clock()
        stopped, started_here = None, 0
        bar = tqdm(
            self.task.batches(run.epoch, run.position),
            desc=f"train {run.epoch + 1}",
            leave=False,
            disable=not self.progress,
            total=self.task.steps_per_epoch,
            initial=run.position,
        )
        mark_wall, mark_cpu = time.perf_counter(), time.process_time()
        for batch in bar:
            if started_here and run.step >= self.total_steps:
                stopped = "steps"
                break
            fraction = self._fraction(run.clock + self.clock() - mark_clock)
            if started_here and self.budget_s is not None and fraction >= 1.0:
                stopped = "budget"  # the rest of the epoch would train at lr 0
                break
            run.lr = settings.lr * lr_factor(
                min(fraction, 1.0), schedule=settings.schedule, warmup=settings.warmup
            )
            for group in self.optimizer.param_groups:
                group["lr"] = run.lr
            self._step(batch)
            started_here += 1
            run.position += 1
            now_wall, now_cpu = time.perf_counter(), time.process_time()
            run.running["train_seconds"] = (
                run.running.get("train_seconds", 0.0) + now_wall - mark_wall
            )
            run.running["train_cpu_seconds"] = (
                run.running.get("train_cpu_seconds", 0.0) + now_cpu - mark_cpu
            )
            mark_wall, mark_cpu = now_wall, now_cpu
            loss = run.running["train_loss"] / max(run.running["images"], 1)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{run.lr:.2e}")
            if settings.log_every and run.step % settings.log_every == 0:
                self._log_row()
            if settings.save_every and run.step % settings.save_every == 0:
                run.clock, mark_clock = run.clock + self.clock() - mark_clock, self.clock()
                self._save_last()
        bar.close()
        if (
            stopped is None
            and run.step >= self.total_steps
            and run.position < self.task.steps_per_epoch
        ):
            stopped = "steps"
        run.clock = self.context.max(run.clock + self.clock() - mark_clock)
        return stopped

    def _step(self, batch: Any) -> None:
        settings, run = self.settings, self.run
        with torch.autocast(self.device.type, dtype=settings.amp, enabled=settings.amp is not None):
            loss = self.task.loss(self.step_model, batch, self.device, settings.amp)
        # The sum over processes: every process sees a NaN anywhere and stops.
        loss_sum, images = self.context.sum(loss.value.item() * loss.images, loss.images)
        if not math.isfinite(loss_sum):
            raise NonFiniteLossError(
                f"loss became {loss_sum} at epoch {run.epoch + 1}, step {run.step + 1}; stopping. "
                f"{self.last_path} keeps the last good checkpoint (try a lower --lr or --clip-grad)."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.value).backward()
        if settings.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), settings.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        run.step += 1
        sums = run.running
        sums["train_loss"] = sums.get("train_loss", 0.0) + loss_sum
        sums["images"] = sums.get("images", 0.0) + images
        sums["steps"] = sums.get("steps", 0.0) + 1
        for name, value in loss.parts.items():
            sums[f"part_{name}"] = sums.get(f"part_{name}", 0.0) + value

    # ------------------------------------------------------------------ logging and saving
    def _log_row(self, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append a log row: the training since the last row, and ``metrics``."""
        run, sums = self.run, self.run.running
        steps = max(sums.get("steps", 0.0), 1)
        images = sums.get("images", 0.0)
        train_seconds = sums.get("train_seconds", 0.0)
        now = time.perf_counter()
        row = {
            "epoch": run.epoch + 1,
            "step": run.step,
            "lr": run.lr,
            # A row that only closes an epoch (its steps were logged already) trained nothing.
            "train_loss": sums["train_loss"] / images if images else float("nan"),
            **{
                name[len("part_") :]: value / steps
                for name, value in sums.items()
                if name.startswith("part_")
            },
            "train_images": int(images),
            "train_images_per_s": images / max(train_seconds, 1e-9),
            "train_cpu_seconds": sums.get("train_cpu_seconds", 0.0),
            "epoch_seconds": now - self._row_started,
            **(metrics or {}),
        }
        self._row_started = now
        run.running = {}
        run.history.append(row)
        self.loggers.log(row, step=run.step)
        return row

    def _save_last(self) -> None:
        if not self.context.is_main:
            return
        run = self.run
        extra = {
            # The last finished epoch and the batches done after it: what restore() reads.
            "epoch": run.epoch - 1,
            "position": run.position,
            "step": run.step,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": run.history,
            "best_value": run.best_value,
            "best_metrics": run.best_metrics,
            "rng": _rng_state(),
            "elapsed": run.clock,
            "running": run.running,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }
        save_checkpoint(self.last_path, self._payload(self.model, **extra))
        _write_csv(self.settings.out / "log.csv", run.history)

    def _payload(self, model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
        return {
            **_weights(model),
            **self.task.checkpoint_fields(),
            "train_args": self.settings.train_args,
            **extra,
        }

    def end_epoch(self) -> bool:
        """Validate, log and save at the end of an epoch (also one cut short by the budget or
        ``max_steps``); False when early stopping ends the run."""
        settings, run = self.settings, self.run
        metrics = self.task.validate(self.eval_model, self.device)
        columns = {key: value for key, value in metrics.items() if np.isscalar(value)}
        columns.update(self.task.log_columns(metrics))
        if columns or run.running.get("steps"):  # not twice for a step that log_every logged
            self._log_row(columns)
        if metrics:
            value = metrics.get(settings.monitor)
            if _is_better(value, run.best_value, settings.monitor):
                run.best_value, run.best_metrics = value, {"epoch": run.epoch + 1, **metrics}
                if self.context.is_main:
                    save_checkpoint(self.best_path, self._payload(self.eval_model, epoch=run.epoch))
        run.epoch, run.position = run.epoch + 1, 0
        self._save_last()
        if settings.patience is not None and run.best_metrics:
            if run.epoch - run.best_metrics["epoch"] >= settings.patience:
                if self.progress:
                    tqdm.write(
                        f"early stop: no {settings.monitor} gain for {settings.patience} epochs"
                    )
                return False
        return True


def fit(
    task: TrainingTask,
    settings: LoopSettings,
    *,
    context: DistributedContext,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``task`` as ``settings`` say (see the module docstring).

    The run folder must have been checked with :func:`prepare_run_folder`.

    Raises:
        NonFiniteLossError: if the loss becomes NaN/inf (``last.pt`` keeps the last good state).
        ValueError: for a ``last.pt`` that cannot be resumed.
    """
    started = time.perf_counter()
    trainer = _Trainer(task, settings, context, device, optimizer, progress)
    run = trainer.run
    stopped_early = False
    try:
        trainer.restore()
        run = trainer.run
        first_epoch = run.epoch
        epoch_bar = tqdm(
            total=settings.epochs, initial=run.epoch, desc="epochs", disable=not trainer.progress
        )
        while run.epoch < settings.epochs and run.step < trainer.total_steps:
            stopped = trainer.train_one_epoch()
            if not trainer.end_epoch():
                stopped_early = True
                break
            epoch_bar.update()
            if stopped == "steps":
                break
            if stopped == "budget" or (
                trainer.budget_s is not None and run.clock >= trainer.budget_s
            ):
                stopped_early = run.epoch < settings.epochs
                break
        epoch_bar.close()
    finally:
        trainer.loggers.close()
    return FitResult(
        out=settings.out,
        best=run.best_metrics,
        history=run.history,
        epochs_run=run.epoch - first_epoch,
        steps=run.step,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - started,
        elapsed=run.clock,
    )
