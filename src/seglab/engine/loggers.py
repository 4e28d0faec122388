"""Optional experiment loggers: TensorBoard and Weights & Biases (offline).

Each is imported only when asked for, so neither is a dependency of seglab. The CSV log that
every run writes lives in :mod:`seglab.engine.train`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["open_loggers", "LoggerGroup"]


class LoggerGroup:
    """Fans ``log`` and ``close`` out to the opened backends."""

    def __init__(self, backends: list[tuple[str, Any]]) -> None:
        self.backends = backends

    def log(self, row: dict[str, Any], step: int) -> None:
        scalars = {
            key: float(value) for key, value in row.items() if isinstance(value, int | float)
        }
        for name, backend in self.backends:
            if name == "tensorboard":
                for key, value in scalars.items():
                    backend.add_scalar(key, value, step)
                backend.flush()
            else:
                backend.log(scalars, step=step)

    def close(self) -> None:
        for name, backend in self.backends:
            if name == "tensorboard":
                backend.close()
            else:
                backend.finish()


def open_loggers(names: list[str], out: Path, config: dict[str, Any]) -> LoggerGroup:
    """Open the named loggers, writing under ``out``.

    Raises:
        ImportError: if a requested logger's package is not installed (names the extra).
    """
    backends: list[tuple[str, Any]] = []
    for name in names:
        if name == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:
                raise ImportError(
                    "--logger tensorboard needs the tensorboard package: pip install 'seglab[tensorboard]'"
                ) from error
            backends.append((name, SummaryWriter(log_dir=str(out / "tensorboard"))))
        elif name == "wandb":
            try:
                import wandb
            except ImportError as error:
                raise ImportError(
                    "--logger wandb needs the wandb package: pip install 'seglab[wandb]'"
                ) from error
            # Offline mode, as in the notes' practice: runs sync later with `wandb sync`.
            os.environ.setdefault("WANDB_MODE", "offline")
            run = wandb.init(project="seglab", dir=str(out), config=config, mode="offline")
            backends.append((name, run))
        else:
            raise ValueError(f"unknown logger {name!r}; choose one of tensorboard, wandb")
    return LoggerGroup(backends)
