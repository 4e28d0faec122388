"""Fixtures of the hostile-input suite: small valid files, and payloads that would leave a mark.

A *payload* is a pickle whose ``__reduce__`` creates a marker file when it is unpickled. Every
test that hands one to seglab asserts afterwards that the marker does not exist: that is the
proof that nothing in the file ran.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from seglab.checkpoint import save_checkpoint
from seglab.engine.config import TrainConfig
from seglab.models import create_model


class Payload:
    """Unpickling this touches ``marker``: the stand-in for any code an attacker could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def tiny_payload(data: Path | None = None, **overrides) -> dict:
    """A valid 2-class U-Net checkpoint dict (32x32 input), optionally for a folder dataset."""
    torch.manual_seed(0)
    model = create_model("unet", num_classes=2, base_channels=4)
    config = TrainConfig(
        data=str(data or "data"), dataset="folder", img_size=32, model_kwargs={"base_channels": 4}
    )
    return {
        "format": 1,
        "model": dict(model.config),
        "state_dict": model.state_dict(),
        "class_names": ["background", "pet"],
        "task": "multiclass",
        "ignore_index": 255,
        "preprocess": {"size": [32, 32], "mean": None, "std": None},
        "train_args": config.to_dict(),
        **overrides,
    }


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A valid, plain-data checkpoint file."""
    path = tmp_path / "good.pt"
    save_checkpoint(path, tiny_payload())
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """Where a payload would leave its mark; tests assert it never appears."""
    return tmp_path / "PWNED"


@pytest.fixture(params=["torch.save", "pickle.dump"])
def payload_checkpoint(request, tmp_path: Path, marker: Path) -> Path:
    """A checkpoint that is valid in every field but carries a payload, written the two ways
    an attacker would: with ``torch.save`` (zip archive) and as a bare pickle."""
    path = tmp_path / "evil.pt"
    state = tiny_payload(extra=Payload(marker))
    if request.param == "torch.save":
        torch.save(state, path)
    else:
        with path.open("wb") as handle:
            pickle.dump(state, handle)
    return path
