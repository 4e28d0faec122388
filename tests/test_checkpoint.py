"""Atomic checkpoint writing and validation."""

from __future__ import annotations

import pytest
import torch

from seglab.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from seglab.models import create_model


def _payload():
    model = create_model("unet", num_classes=2, base_channels=8)
    return model, {
        "model": dict(model.config),
        "state_dict": model.state_dict(),
        "class_names": ["background", "pet"],
        "task": "multiclass",
    }


def test_round_trip_rebuilds_identical_model(tmp_path):
    model, payload = _payload()
    save_checkpoint(tmp_path / "c.pt", payload)
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["format"] == CHECKPOINT_FORMAT
    rebuilt = model_from_checkpoint(state)
    x = torch.rand(1, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(rebuilt(x), model(x))
    # Nothing but the target is left in the folder: the temporary file was renamed.
    assert [path.name for path in tmp_path.iterdir()] == ["c.pt"]


def test_save_refuses_incomplete_payload(tmp_path):
    with pytest.raises(ValueError, match="missing required keys: state_dict, class_names, task"):
        save_checkpoint(tmp_path / "c.pt", {"model": {"name": "unet"}})
    assert not (tmp_path / "c.pt").exists()


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    _, payload = _payload()
    save_checkpoint(tmp_path / "c.pt", payload)
    before = (tmp_path / "c.pt").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("seglab.io.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "c.pt", {**payload, "class_names": ["a", "b"]})
    assert (tmp_path / "c.pt").read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["c.pt"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint .*junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a seglab checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    _, payload = _payload()
    save_checkpoint(tmp_path / "future.pt", {**payload, "format": CHECKPOINT_FORMAT + 1})
    with pytest.raises(ValueError, match="newer than this seglab"):
        load_checkpoint(tmp_path / "future.pt")
