"""Contract tests that every registered model passes, parametrised over ``list_models()``.

Shapes, gradients, ``in_channels=1``, odd input sizes, determinism, the stored config and the
width knob. Architecture-specific checks live in ``test_architectures.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.models import create_model, list_models

MODELS = list_models()

# The argument that scales each model, a small and a doubled value, and the number of output
# channels of its first convolution at the small value: 64 * width for the VGG and ResNet
# models (the papers' first layers have 64 channels), base_channels for U-Net.
WIDTH_KNOBS = {
    "fcn32s": ("width", 0.125, 0.25, 8),
    "fcn16s": ("width", 0.125, 0.25, 8),
    "fcn8s": ("width", 0.125, 0.25, 8),
    "deconvnet": ("width", 0.125, 0.25, 8),
    "unet": ("base_channels", 8, 16, 8),
    "deeplabv3plus": ("width", 0.25, 0.5, 16),
}


# The model-specific arguments each model documents, in signature order.
ARGUMENTS = {
    "fcn32s": ("width", "batch_norm", "dropout"),
    "fcn16s": ("width", "batch_norm", "dropout"),
    "fcn8s": ("width", "batch_norm", "dropout"),
    "deconvnet": ("width",),
    "unet": ("base_channels", "bilinear"),
    "deeplabv3plus": ("backbone", "output_stride", "width", "dropout"),
}


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``Conv2d`` registered, which in every model here is the first one applied."""
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_model_has_a_small_configuration(small_kwargs):
    assert set(small_kwargs) == set(MODELS)
    assert set(WIDTH_KNOBS) == set(MODELS)
    assert set(ARGUMENTS) == set(MODELS)


def test_the_papers_models_are_registered():
    assert {"fcn32s", "fcn16s", "fcn8s", "deconvnet", "unet", "deeplabv3plus"} <= set(MODELS)
    assert MODELS == sorted(MODELS)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    ("num_classes", "height", "width"), [(1, 32, 32), (4, 64, 96), (21, 96, 64)]
)
def test_output_has_input_size(make_model, name, num_classes, height, width):
    model = make_model(name, num_classes=num_classes)
    assert model.training
    logits = model(torch.randn(2, 3, height, width))
    assert logits.shape == (2, num_classes, height, width)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_backward_reaches_every_parameter_and_the_input(make_model, name):
    model = make_model(name, num_classes=3)
    torch.manual_seed(1)
    image = torch.randn(2, 3, 64, 64, requires_grad=True)
    target = torch.randint(0, 3, (2, 64, 64))
    F.cross_entropy(model(image), target).backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.requires_grad, parameter_name
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        # Zero-initialised layers (FCN's score_pool3/4) still get a gradient: theirs is the
        # upstream gradient times the pool features, which are not zero.
        assert parameter.grad.abs().sum() > 0, f"{parameter_name} gets no gradient"
    assert first_conv(model).weight.grad.abs().sum() > 0
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


@pytest.mark.parametrize("name", MODELS)
def test_single_channel_input(make_model, name):
    model = make_model(name, num_classes=2, in_channels=1)
    assert first_conv(model).in_channels == 1
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 2, 64, 64)
    with pytest.raises(
        ValueError, match=r"expects a \(N, 1, H, W\) tensor, got shape \(2, 3, 64, 64\)"
    ):
        model(torch.randn(2, 3, 64, 64))


@pytest.mark.parametrize("name", MODELS)
def test_input_must_be_a_4d_batch(make_model, name):
    model = make_model(name)
    with pytest.raises(
        ValueError, match=r"expects a \(N, 3, H, W\) tensor, got shape \(3, 64, 64\)"
    ):
        model(torch.randn(3, 64, 64))


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("height", "width"), [(37, 53), (1, 1), (100, 33)])
def test_odd_sizes_give_logits_at_input_size(make_model, name, height, width):
    # The package documents that every model takes any H, W >= 1 (it pads, then crops).
    model = make_model(name, num_classes=2)
    assert model(torch.randn(2, 3, height, width)).shape == (2, 2, height, width)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, height, width)).shape == (1, 2, height, width)


@pytest.mark.parametrize("name", MODELS)
def test_odd_size_is_the_top_left_crop_of_the_reflect_padded_input(make_model, name):
    model = make_model(name, num_classes=2).eval()
    image = torch.randn(1, 3, 37, 53)
    multiple = model.size_multiple
    pad_h, pad_w = -37 % multiple, -53 % multiple
    assert pad_h > 0 and pad_w > 0
    padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
    with torch.no_grad():
        expected = model(padded)[..., :37, :53]
        torch.testing.assert_close(model(image), expected)


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_gives_same_weights_and_outputs(make_model, name):
    first, second, other = (
        make_model(name, seed=0),
        make_model(name, seed=0),
        make_model(name, seed=1),
    )
    state, other_state = first.state_dict(), other.state_dict()
    for key, tensor in second.state_dict().items():
        assert torch.equal(tensor, state[key]), key
    assert any(not torch.equal(tensor, other_state[key]) for key, tensor in state.items())

    image = torch.randn(2, 3, 64, 64)
    # Training mode: same RNG state (dropout) gives the same logits.
    torch.manual_seed(5)
    train_first = first(image)
    torch.manual_seed(5)
    train_second = second(image)
    assert torch.equal(train_first, train_second)

    first.eval(), second.eval()
    with torch.no_grad():
        once, twice = first(image), first(image)
        assert torch.equal(once, twice)
        assert torch.equal(once, second(image))


@pytest.mark.parametrize("name", MODELS)
def test_config_rebuilds_the_same_architecture(make_model, name):
    model = make_model(name, num_classes=5, in_channels=2)
    config = model.config
    assert config["name"] == name
    assert config["num_classes"] == 5 and config["in_channels"] == 2
    assert json.loads(json.dumps(config)) == config  # checkpoints store it as plain data
    rebuilt = create_model(**config)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == config
    shapes = {key: tensor.shape for key, tensor in model.state_dict().items()}
    assert {key: tensor.shape for key, tensor in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    model.eval(), rebuilt.eval()
    image = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt(image), model(image))


@pytest.mark.parametrize("name", MODELS)
def test_width_knob_scales_the_channels(make_model, name):
    argument, small, large, first_channels = WIDTH_KNOBS[name]
    narrow = make_model(name, **{argument: small})
    wide = make_model(name, **{argument: large})
    assert narrow.config[argument] == small and wide.config[argument] == large
    assert first_conv(narrow).out_channels == first_channels
    assert first_conv(wide).out_channels == 2 * first_channels
    # Doubling every channel count multiplies convolution weights by 4; biases, norms and the
    # class-score layers grow more slowly.
    ratio = num_parameters(wide) / num_parameters(narrow)
    assert 3.5 < ratio < 4.01


def test_create_model_is_case_insensitive():
    assert type(create_model("UNet", num_classes=2, base_channels=4)).__name__ == "UNet"


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown model 'segformer'; valid models: ") as info:
        create_model("segformer", num_classes=2)
    listed = str(info.value).split("valid models: ")[1].split(", ")
    assert listed == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_unexpected_argument_lists_the_accepted_ones(name):
    accepted = ", ".join(["num_classes", "in_channels", *ARGUMENTS[name]])
    message = rf"model '{name}' got unexpected argument\(s\) depth, stem; it takes {accepted}$"
    with pytest.raises(TypeError, match=message):
        create_model(name, num_classes=2, stem=1, depth=3)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("num_classes", 0, r"num_classes must be a positive int, got 0"),
        ("num_classes", 2.0, r"num_classes must be a positive int, got 2\.0"),
        ("num_classes", True, r"num_classes must be a positive int, got True"),
        ("in_channels", 0, r"in_channels must be a positive int, got 0"),
        ("in_channels", "3", r"in_channels must be a positive int, got '3'"),
    ],
)
def test_bad_common_arguments(make_model, name, argument, value, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, **{argument: value})


WIDTH_MODELS = [name for name in MODELS if WIDTH_KNOBS.get(name, ("",))[0] == "width"]


@pytest.mark.parametrize("name", WIDTH_MODELS)
@pytest.mark.parametrize("value", [0, -0.5, 0.0, "wide", True, 1e7, float("nan"), float("inf")])
def test_bad_width(make_model, name, value):
    with pytest.raises(ValueError, match=r"width must be a positive number, got "):
        make_model(name, width=value)


@pytest.mark.parametrize(
    "name", [name for name in MODELS if name.startswith("fcn")] + ["deeplabv3plus"]
)
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5, "0.5", True])
def test_bad_dropout(make_model, name, value):
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got "):
        make_model(name, dropout=value)


@pytest.mark.parametrize("value", [0, -8, 8.0, True, "8"])
def test_bad_unet_base_channels(make_model, value):
    with pytest.raises(ValueError, match=r"base_channels must be a positive int, got "):
        make_model("unet", base_channels=value)


@pytest.mark.parametrize("value", ["resnet152", "ResNet50", "vgg16", None])
def test_bad_deeplab_backbone_lists_the_valid_ones(make_model, value):
    valid = r"'resnet18', 'resnet34', 'resnet50', 'resnet101'"
    with pytest.raises(ValueError, match=rf"backbone must be one of {valid}; got {value!r}"):
        make_model("deeplabv3plus", backbone=value)


@pytest.mark.parametrize("value", [32, 4, "16", 16.5, True])
def test_bad_deeplab_output_stride_lists_the_valid_ones(make_model, value):
    with pytest.raises(ValueError, match=r"output_stride must be one of 16, 8; got "):
        make_model("deeplabv3plus", output_stride=value)
