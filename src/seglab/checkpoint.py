"""Atomic checkpoint files that rebuild their model from the file alone.

A checkpoint is a dict saved with :func:`torch.save`:

- ``format``: the format version (``CHECKPOINT_FORMAT``);
- ``model``: ``{"name": ..., **constructor kwargs}``, enough for ``create_model(**model)``;
- ``state_dict``: the model weights;
- ``class_names``, ``task`` (``"multiclass"`` or ``"multilabel"``), ``ignore_index``;
- ``preprocess``: ``{"size": [H, W], "mean": [...] | None, "std": [...] | None}``;
- ``train_args``: the training settings that produced it;
- optionally ``optimizer``, ``scheduler``, ``scaler``, ``epoch``, ``rng``, ``history``, ``best``.

Writing goes to a temporary file in the target folder that is renamed over the target, so a
crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from seglab.io import atomic_write_bytes

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "model_from_checkpoint"]

CHECKPOINT_FORMAT = 1
_REQUIRED_KEYS = ("format", "model", "state_dict", "class_names", "task")


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> None:
    """Save a checkpoint dict atomically.

    Raises:
        ValueError: if a required key (``model``, ``state_dict``, ``class_names``, ``task``) is
            missing, so that a file that cannot rebuild its model is never written.
    """
    checkpoint = {"format": CHECKPOINT_FORMAT, **checkpoint}
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint is missing required keys: {', '.join(missing)}")
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a seglab checkpoint (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        # weights_only=False: the file also holds plain dicts of settings and RNG states; only
        # load checkpoints you trust, as with any pickle-based format.
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises many types for a corrupt file
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in _REQUIRED_KEYS):
        raise ValueError(f"{path} is not a seglab checkpoint (missing model/state_dict/task keys)")
    if checkpoint["format"] > CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {checkpoint['format']}, newer than this seglab "
            f"({CHECKPOINT_FORMAT}); upgrade seglab"
        )
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> torch.nn.Module:
    """Rebuild the model described by a checkpoint and load its weights (eval mode)."""
    from seglab.models import create_model

    model = create_model(**checkpoint["model"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
