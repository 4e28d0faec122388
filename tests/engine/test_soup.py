"""Model soups: the mean of hand-made checkpoints, mismatches refused, the CLI round trip."""

from __future__ import annotations

import pytest
import torch

from seglab.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from seglab.cli import main
from seglab.engine.soup import average_checkpoints
from seglab.models import create_model


def _checkpoint(path, seed: int, base_channels: int = 4, class_names=("background", "pet")):
    torch.manual_seed(seed)
    model = create_model("unet", num_classes=2, base_channels=base_channels)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.num_batches_tracked.fill_(seed + 1)
    save_checkpoint(
        path,
        {
            "model": dict(model.config),
            "state_dict": model.state_dict(),
            "class_names": list(class_names),
            "task": "multiclass",
            "ignore_index": 255,
            "preprocess": {"size": [32, 32], "mean": None, "std": None},
            "train_args": {"seed": seed},
            "optimizer": {"state": "of one run"},
        },
    )
    return model.state_dict()


def test_uniform_and_weighted_means_by_hand(tmp_path):
    a = _checkpoint(tmp_path / "a.pt", 0)
    b = _checkpoint(tmp_path / "b.pt", 1)
    c = _checkpoint(tmp_path / "c.pt", 2)
    soup = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"])
    for name in ("encoder.0.0.0.weight", "head.bias", "encoder.1.0.1.running_mean"):
        expected = (a[name] + b[name] + c[name]) / 3
        torch.testing.assert_close(soup["state_dict"][name], expected, rtol=0, atol=1e-7)
    # Integer counters come from the first ingredient; run state is dropped.
    assert int(soup["state_dict"]["encoder.0.0.1.num_batches_tracked"]) == 1
    assert "optimizer" not in soup and soup["train_args"] == {"seed": 0}
    assert soup["soup"]["weights"] == pytest.approx([1 / 3] * 3)

    weighted = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], weights=[3, 1])
    name = "head.weight"
    expected = 0.75 * a[name] + 0.25 * b[name]
    torch.testing.assert_close(weighted["state_dict"][name], expected, rtol=0, atol=1e-7)


def test_the_ema_weights_of_a_last_checkpoint_are_used(tmp_path):
    a = _checkpoint(tmp_path / "a.pt", 0)
    b = _checkpoint(tmp_path / "b.pt", 1)
    averaged_run = load_checkpoint(tmp_path / "b.pt")
    ema = {name: value + 1.0 if value.is_floating_point() else value for name, value in b.items()}
    averaged_run.extra["ema"] = {"state_dict": ema, "updates": 10, "decay": 0.99}
    save_checkpoint(tmp_path / "last.pt", averaged_run)
    soup = average_checkpoints([tmp_path / "a.pt", tmp_path / "last.pt"])
    expected = (a["head.weight"] + b["head.weight"] + 1.0) / 2
    torch.testing.assert_close(soup["state_dict"]["head.weight"], expected, rtol=0, atol=1e-7)
    assert "ema" not in soup


def test_mismatches_and_bad_weights_are_refused(tmp_path):
    _checkpoint(tmp_path / "a.pt", 0)
    _checkpoint(tmp_path / "wide.pt", 1, base_channels=8)
    _checkpoint(tmp_path / "named.pt", 2, class_names=("bg", "cat"))
    with pytest.raises(ValueError, match="at least two checkpoints"):
        average_checkpoints([tmp_path / "a.pt"])
    with pytest.raises(ValueError, match="differs from .* in 'model'"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "wide.pt"])
    with pytest.raises(ValueError, match="differs from .* in 'class_names'"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "named.pt"])
    with pytest.raises(ValueError, match="non-negative numbers with a positive sum"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "a.pt"], weights=[1, -1])
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "missing.pt"])


def test_cli_writes_a_checkpoint_that_rebuilds_its_model(tmp_path, capsys):
    _checkpoint(tmp_path / "a.pt", 0)
    _checkpoint(tmp_path / "b.pt", 1)
    out = tmp_path / "soup.pt"
    assert main(["soup", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(out)]) == 0
    assert "averaged 2 checkpoints (weights 0.5, 0.5)" in capsys.readouterr().out
    model = model_from_checkpoint(load_checkpoint(out))
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2, 32, 32)
    assert main(["soup", str(tmp_path / "a.pt"), "--out", str(out)]) == 2
    assert "a soup needs at least two checkpoints" in capsys.readouterr().err
