"""benchmarks/widen_unet.py: a widened U-Net computes what the narrow one computed."""

from __future__ import annotations

import sys

import pytest
import torch

from benchmarks import widen_unet
from seglab.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from seglab.models import create_model


def _trained_like(base: int, bilinear: bool) -> torch.nn.Module:
    """A narrow U-Net with non-trivial BatchNorm statistics, as after training."""
    torch.manual_seed(0)
    model = create_model("unet", num_classes=3, base_channels=base, bilinear=bilinear)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, 32, 32) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("bilinear", [False, True])
def test_widened_model_computes_the_narrow_function(bilinear):
    narrow = _trained_like(4, bilinear)
    torch.manual_seed(1)
    wide = create_model("unet", num_classes=3, base_channels=6, bilinear=bilinear)
    wide.load_state_dict(widen_unet.widen_state_dict(narrow.state_dict(), wide.state_dict()))
    probe = torch.randn(2, 3, 40, 48)
    with torch.no_grad():
        torch.testing.assert_close(wide.eval()(probe), narrow(probe), atol=1e-5, rtol=1e-5)
    state = wide.state_dict()
    # The new channels are live (random incoming weights) and silent (zero outgoing weights).
    first = state["encoder.0.0.0.weight"]
    assert first.shape == (6, 3, 3, 3) and first[4:].abs().sum() > 0
    assert state["encoder.0.1.0.weight"][:, 4:].abs().sum() == 0
    # The decoder's first convolution reads [skip (6), upsampled (6)]: old inputs 0-3 and 4-7
    # sit at 0-3 and 6-9, the new ones (4-5, 10-11) start at zero.
    concat = state["decoder.3.conv.0.0.weight"]
    assert concat.shape == (6, 12, 3, 3)
    assert concat[:, [4, 5, 10, 11]].abs().sum() == 0 and concat[:4, 6:10].abs().sum() > 0
    assert state["head.weight"][:, 4:].abs().sum() == 0


def test_script_writes_a_checkpoint_that_seglab_loads(tmp_path, monkeypatch, capsys):
    narrow = _trained_like(4, False)
    save_checkpoint(
        tmp_path / "narrow.pt",
        {
            "model": dict(narrow.config),
            "state_dict": narrow.state_dict(),
            "class_names": ["a", "b", "c"],
            "task": "multiclass",
            "train_args": {"model": "unet", "model_kwargs": {"base_channels": 4}},
        },
    )
    argv = ["widen_unet.py", str(tmp_path / "narrow.pt"), "--base", "8"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "wide.pt")])
    widen_unet.main()
    assert "base 4 -> 8" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "wide.pt")
    assert state["model"]["base_channels"] == 8
    assert state["train_args"]["model_kwargs"] == {"base_channels": 8}
    probe = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model_from_checkpoint(state)(probe), narrow(probe))
    monkeypatch.setattr(sys, "argv", [*argv[:2], "--base", "4", "--out", str(tmp_path / "x.pt")])
    with pytest.raises(SystemExit, match="--base 4 must exceed the checkpoint's 4"):
        widen_unet.main()
