"""PanopticDeepLab: output shapes, backward, determinism, config round trip, errors."""

from __future__ import annotations

import pytest
import torch

from seglab.models import list_models
from seglab.models.panoptic_deeplab import (
    PanopticDeepLab,
    create_instance_model,
    instance_model_from_checkpoint,
)


@pytest.mark.parametrize(
    ("size", "in_channels", "dual"), [((32, 32), 3, False), ((37, 50), 1, True), ((1, 5), 3, False)]
)
def test_output_shapes(size, in_channels, dual):
    model = PanopticDeepLab(
        num_classes=3, in_channels=in_channels, base_channels=4, dual_decoder=dual
    )
    out = model.eval()(torch.randn(2, in_channels, *size))
    assert set(out) == {"semantic", "center", "offset"}
    assert out["semantic"].shape == (2, 3, *size)
    assert out["center"].shape == (2, 1, *size)
    assert out["offset"].shape == (2, 2, *size)


def test_backward_gives_finite_gradients_everywhere():
    torch.manual_seed(0)
    model = PanopticDeepLab(base_channels=4, dual_decoder=True)
    out = model(torch.randn(2, 3, 32, 48))
    loss = sum(value.pow(2).mean() for value in out.values())
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


def test_deterministic_and_seeded():
    image = torch.randn(1, 3, 40, 40)
    torch.manual_seed(1)
    a = PanopticDeepLab(base_channels=4).eval()
    torch.manual_seed(1)
    b = PanopticDeepLab(base_channels=4).eval()
    with torch.no_grad():
        first, second, again = a(image), b(image), a(image)
    for key in first:
        assert torch.equal(first[key], second[key])
        assert torch.equal(first[key], again[key])


def test_config_rebuilds_and_checkpoint_loads():
    model = create_instance_model("panoptic_deeplab", base_channels=4, head_channels=6)
    assert model.config == {
        "name": "panoptic_deeplab",
        "num_classes": 2,
        "in_channels": 3,
        "base_channels": 4,
        "head_channels": 6,
        "dual_decoder": False,
        "offset_scale": 8.0,
    }
    state = {"model": model.config, "state_dict": model.state_dict(), "task": "instance"}
    rebuilt = instance_model_from_checkpoint(state)
    assert not rebuilt.training
    image = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(image)["center"], model.eval()(image)["center"])


def test_not_in_the_semantic_registry():
    # The semantic registry's tests expect one (N, K, H, W) tensor from every model.
    assert "panoptic_deeplab" not in list_models()


def test_errors():
    with pytest.raises(ValueError, match="unknown instance model 'nope'; valid models: panoptic"):
        create_instance_model("nope")
    with pytest.raises(ValueError, match=r"expects a \(N, 3, H, W\) tensor"):
        PanopticDeepLab(base_channels=2)(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="base_channels must be a positive int"):
        PanopticDeepLab(base_channels=0)
    with pytest.raises(ValueError, match="head_channels must be a positive int"):
        PanopticDeepLab(head_channels=-1)
    with pytest.raises(ValueError, match="offset_scale must be a positive number"):
        PanopticDeepLab(offset_scale=0)
    with pytest.raises(ValueError, match="dual_decoder must be True or False"):
        PanopticDeepLab(dual_decoder="yes")
    with pytest.raises(ValueError, match="not an instance model"):
        instance_model_from_checkpoint({"task": "multiclass", "model": {}, "state_dict": {}})
