"""Architecture-specific checks: DeepLabv3+ strides and ASPP rates, FCN upsampling, U-Net,
DeconvNet, the shared blocks and the registry decorator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seglab.models import ResNetBackbone, SegmentationModel, VGG16Backbone, create_model, registry
from seglab.models.blocks import bilinear_upsampling_weight, pad_to_multiple

# --------------------------------------------------------------------------- DeepLabv3+

# Dilation of the 3x3 convolutions of each block, for torchvision's replace_stride_with_dilation
# rule: a dilated layer's first block keeps the previous dilation, the others use the new one
# (previous * 2). Output stride 16 dilates layer4; output stride 8 dilates layer3 and layer4.
BLOCK_DILATIONS = {
    ("resnet18", 16): {"layer2": [1, 1], "layer3": [1, 1], "layer4": [1, 2]},
    ("resnet18", 8): {"layer2": [1, 1], "layer3": [1, 2], "layer4": [2, 4]},
    ("resnet50", 16): {"layer2": [1] * 4, "layer3": [1] * 6, "layer4": [1, 2, 2]},
    ("resnet50", 8): {"layer2": [1] * 4, "layer3": [1, 2, 2, 2, 2, 2], "layer4": [2, 4, 4]},
}
# The paper's ASPP rates: (6, 12, 18) at output stride 16, doubled at 8.
ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}
DEEPLAB_WIDTHS = {"resnet18": 0.25, "resnet50": 0.125}


@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_deeplab_output_stride_and_aspp_rates(backbone, output_stride):
    torch.manual_seed(0)
    model = create_model(
        "deeplabv3plus",
        num_classes=3,
        backbone=backbone,
        output_stride=output_stride,
        width=DEEPLAB_WIDTHS[backbone],
    )
    assert model.config["output_stride"] == output_stride
    # ASPP: a 1x1 branch, then three 3x3 branches with the paper's rates and "same" padding.
    convs = [branch[0] for branch in model.aspp.branches]
    assert convs[0].kernel_size == (1, 1)
    assert tuple(conv.dilation[0] for conv in convs[1:]) == ASPP_RATES[output_stride]
    assert all(conv.padding == conv.dilation and conv.kernel_size == (3, 3) for conv in convs[1:])

    # Backbone: no stride left in the dilated layers, and torchvision's dilation pattern.
    for layer_name, expected in BLOCK_DILATIONS[(backbone, output_stride)].items():
        layer = getattr(model.backbone, layer_name)
        dilated = expected != [1] * len(expected)
        found = []
        for block in layer:
            threes = [
                m for m in block.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
            ]
            assert len({conv.dilation for conv in threes}) == 1
            found.append(threes[0].dilation[0])
            if dilated:
                assert all(m.stride == (1, 1) for m in block.modules() if isinstance(m, nn.Conv2d))
        assert found == expected, layer_name

    # The features ASPP sees are at 1/output_stride of the input, the low-level ones at 1/4.
    seen = {}
    model.aspp.register_forward_hook(lambda module, args, out: seen.update(aspp=args[0].shape))
    low = model.low_level_project.register_forward_hook(
        lambda module, args, out: seen.update(low=args[0].shape)
    )
    logits = model(torch.randn(2, 3, 64, 96))
    low.remove()
    assert logits.shape == (2, 3, 64, 96)
    assert seen["aspp"][-2:] == (64 // output_stride, 96 // output_stride)
    assert seen["low"][-2:] == (16, 24)
    assert model.size_multiple == output_stride


def test_deeplab_head_widths_follow_the_paper():
    model = create_model("deeplabv3plus", num_classes=2, backbone="resnet18", width=0.5)
    assert model.aspp.branches[0][0].out_channels == 128  # 256 * width
    assert model.low_level_project[0].out_channels == 24  # 48 * width
    assert model.classifier.in_channels == 128


def test_deeplab_trains_on_a_batch_of_one_image():
    # The image-pooling branch has no batch norm, so N = 1 works in training mode.
    model = create_model("deeplabv3plus", num_classes=2, backbone="resnet18", width=0.25)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.aspp.image_pooling)
    logits = model(torch.randn(1, 3, 64, 64))
    F.cross_entropy(logits, torch.zeros(1, 64, 64, dtype=torch.long)).backward()


@pytest.mark.parametrize(
    ("name", "kwargs", "size"),
    [
        ("deeplabv3plus", {"backbone": "resnet18", "width": 0.25}, 16),
        ("deconvnet", {"width": 0.125}, 32),
        ("unet", {"base_channels": 4}, 16),
    ],
)
def test_batch_norm_needs_two_values_per_channel_in_training(name, kwargs, size):
    # Documented in each model's Shape section: one image whose deepest batch-normed map is
    # 1x1 cannot be trained on (PyTorch's batch norm error); evaluation mode works.
    model = create_model(name, num_classes=2, **kwargs)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        model(torch.randn(1, 3, size, size))
    assert model(torch.randn(2, 3, size, size)).shape == (2, 2, size, size)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 2, size, size)


# --------------------------------------------------------------------------- FCN

# Upsampling layers of each FCN variant (reference Caffe names) and their factors.
FCN_UPSAMPLING = {
    "fcn32s": {"upscore": 32},
    "fcn16s": {"upscore2": 2, "upscore": 16},
    "fcn8s": {"upscore2": 2, "upscore_pool4": 2, "upscore": 8},
}


@pytest.mark.parametrize("name", sorted(FCN_UPSAMPLING))
def test_fcn_upsampling_starts_as_bilinear_interpolation(name):
    model = create_model(name, num_classes=3, width=0.125)
    layers = {n: m for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose2d)}
    assert {n: m.stride[0] for n, m in layers.items()} == FCN_UPSAMPLING[name]
    torch.manual_seed(0)
    scores = torch.randn(2, 3, 6, 5)
    for layer_name, layer in layers.items():
        factor = layer.stride[0]
        with torch.no_grad():
            upsampled = layer(scores)
        assert upsampled.shape == (2, 3, 6 * factor, 5 * factor), layer_name
        # Independent reference: PyTorch's bilinear interpolation (half-pixel centres). The
        # two differ only in the outer half-input-pixel, where interpolate clamps to the edge
        # and the transposed convolution fades to zero.
        expected = F.interpolate(scores, scale_factor=factor, mode="bilinear", align_corners=False)
        inner = slice(factor // 2, -(factor // 2))
        torch.testing.assert_close(upsampled[..., inner, inner], expected[..., inner, inner])
        # Channel c only feeds channel c.
        weight = layer.weight.detach()
        off_diagonal = weight.clone()
        off_diagonal[range(3), range(3)] = 0
        assert torch.count_nonzero(off_diagonal) == 0


@pytest.mark.parametrize("name", ["fcn16s", "fcn8s"])
def test_fcn_skip_scores_start_at_zero(name):
    model = create_model(name, num_classes=4, width=0.125)
    skips = [model.score_pool4] + ([model.score_pool3] if name == "fcn8s" else [])
    for layer in skips:
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0
    # So the pool3/pool4 features do not move the initial logits at all.
    model.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stages = model.backbone(image)
        score = model.score_fr(model.fc7(model.fc6(stages[4])))
        for layer_name in ("upscore2", "upscore_pool4", "upscore"):
            if hasattr(model, layer_name):
                score = getattr(model, layer_name)(score)
        torch.testing.assert_close(model(image), score)


def test_fcn_fc_layers_are_vgg_sized():
    model = create_model("fcn8s", num_classes=21, width=0.25)
    assert model.fc6[0].weight.shape == (1024, 128, 7, 7)  # 4096 * w, 512 * w, VGG's 7x7
    assert model.fc7[0].weight.shape == (1024, 1024, 1, 1)
    assert model.score_pool4.weight.shape == (21, 128, 1, 1)
    assert model.score_pool3.weight.shape == (21, 64, 1, 1)


def test_bilinear_upsampling_weight_by_hand():
    # FCN's upsample_filt: factor 2 (kernel 4) taps 1/4, 3/4, 3/4, 1/4; kernel 3 taps 1/2, 1, 1/2.
    taps4 = torch.tensor([0.25, 0.75, 0.75, 0.25])
    weight = bilinear_upsampling_weight(2, 4)
    assert weight.shape == (2, 2, 4, 4)
    torch.testing.assert_close(weight[0, 0], torch.outer(taps4, taps4))
    torch.testing.assert_close(weight[1, 1], torch.outer(taps4, taps4))
    assert torch.count_nonzero(weight[0, 1]) == 0 and torch.count_nonzero(weight[1, 0]) == 0
    taps3 = torch.tensor([0.5, 1.0, 0.5])
    torch.testing.assert_close(bilinear_upsampling_weight(1, 3)[0, 0], torch.outer(taps3, taps3))


# --------------------------------------------------------------------------- U-Net, DeconvNet


def test_unet_channels_double_per_level():
    model = create_model("unet", num_classes=2, base_channels=8)
    assert [block[1][0].out_channels for block in model.encoder] == [8, 16, 32, 64, 128]
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.stride) for m in ups] == [((2, 2), (2, 2))] * 4  # up-convolution
    assert model.size_multiple == 16


def test_unet_bilinear_variant_has_no_transposed_convolution():
    torch.manual_seed(0)
    model = create_model("unet", num_classes=2, base_channels=8, bilinear=True)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert model(torch.randn(2, 3, 37, 53)).shape == (2, 2, 37, 53)


def test_deconvnet_unpools_at_the_encoder_switches():
    # MaxUnpool2d puts each value back where the encoder's max was, so the decoder output of a
    # stage is non-zero only at argmax positions before the decoder convolutions mix them.
    model = create_model("deconvnet", num_classes=2, width=0.125).eval()
    pools = [m for m in model.backbone.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(pool.return_indices for pool in pools)
    captured = {}
    model.decoder[-1].register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    unpooled = captured["x"]  # input of the stage-1 decoder: the unpooled 64x64 map
    assert unpooled.shape[-2:] == (64, 64)
    # At most one non-zero per 2x2 window, which is what unpooling to the switches gives.
    windows = unpooled.reshape(*unpooled.shape[:2], 32, 2, 32, 2).ne(0).sum(dim=(3, 5))
    assert windows.max() <= 1


# --------------------------------------------------------------------------- blocks, backbones


def test_pad_to_multiple_reflects_like_numpy():
    image = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    padded = pad_to_multiple(image, 8)
    expected = np.pad(image.numpy(), ((0, 0), (0, 0), (0, 3), (0, 1)), mode="reflect")
    np.testing.assert_array_equal(padded.numpy(), expected)
    assert torch.equal(pad_to_multiple(image[..., :4, :4], 4), image[..., :4, :4])


def test_pad_to_multiple_replicates_when_reflection_is_impossible():
    image = torch.arange(6, dtype=torch.float32).reshape(1, 1, 2, 3)
    expected = np.pad(image.numpy(), ((0, 0), (0, 0), (0, 30), (0, 29)), mode="edge")
    np.testing.assert_array_equal(pad_to_multiple(image, 32).numpy(), expected)


def test_vgg_backbone_stages():
    stages = VGG16Backbone(width=0.125)(torch.zeros(1, 3, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [
        (8, 32, 32),
        (16, 16, 16),
        (32, 8, 8),
        (64, 4, 4),
        (64, 2, 2),
    ]
    with_indices = VGG16Backbone(width=0.125, return_indices=True)(torch.zeros(1, 3, 64, 64))
    assert all(indices.dtype == torch.int64 for _, indices in with_indices)


def test_resnet_backbone_strides():
    features = ResNetBackbone("resnet50", width=0.125)(torch.zeros(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in features] == [
        (32, 16, 16),
        (64, 8, 8),
        (128, 4, 4),
        (256, 2, 2),
    ]


@pytest.mark.parametrize(("argument", "value"), [("in_channels", 0), ("width", 0)])
def test_vgg_backbone_bad_arguments(argument, value):
    with pytest.raises(ValueError, match=rf"{argument} must be a positive"):
        VGG16Backbone(**{argument: value})


def test_resnet_backbone_bad_arguments():
    with pytest.raises(
        ValueError, match=r"backbone must be one of 'resnet18', .*; got 'resnet152'"
    ):
        ResNetBackbone("resnet152")
    with pytest.raises(ValueError, match=r"in_channels must be a positive int, got -1"):
        ResNetBackbone("resnet18", in_channels=-1)
    with pytest.raises(ValueError, match=r"width must be a positive number, got 0"):
        ResNetBackbone("resnet18", width=0)
    with pytest.raises(
        ValueError, match=r"replace_stride_with_dilation must have 3 entries .* got \(False, True\)"
    ):
        ResNetBackbone("resnet18", replace_stride_with_dilation=(False, True))


def test_base_class_needs_forward_padded():
    model = SegmentationModel(num_classes=2, in_channels=3)
    with pytest.raises(NotImplementedError):
        model(torch.zeros(1, 3, 32, 32))


# --------------------------------------------------------------------------- registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so test registrations do not leak into ``list_models()``."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry


def test_register_model_adds_a_buildable_name(scratch_registry):
    @scratch_registry.register_model("tiny_net")
    class TinyNet(SegmentationModel):
        size_multiple = 1

        def __init__(self, num_classes: int, in_channels: int = 3) -> None:
            super().__init__(num_classes=num_classes, in_channels=in_channels)
            self.head = nn.Conv2d(in_channels, num_classes, 1)

        def forward_padded(self, image):
            return self.head(image)

    assert TinyNet.name == "tiny_net" and "tiny_net" in scratch_registry.list_models()
    model = scratch_registry.create_model("tiny_net", num_classes=2)
    assert model.config == {"name": "tiny_net", "num_classes": 2, "in_channels": 3}
    # Registering the same class again is harmless (re-imports), another class is not.
    assert scratch_registry.register_model("tiny_net")(TinyNet) is TinyNet
    with pytest.raises(ValueError, match=r"model name 'tiny_net' is already registered to "):
        scratch_registry.register_model("tiny_net")(type("Other", (SegmentationModel,), {}))
    with pytest.raises(ValueError, match=r"model name 'unet' is already registered to "):
        scratch_registry.register_model("unet")(TinyNet)


@pytest.mark.parametrize("name", ["TinyNet", "", None, 3])
def test_register_model_needs_a_lowercase_name(scratch_registry, name):
    with pytest.raises(ValueError, match=r"model names are non-empty lowercase strings, got "):
        scratch_registry.register_model(name)
