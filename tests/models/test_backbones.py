"""Backbones against torchvision's state-dict layout, and ``load_backbone_weights``.

The reference layouts are in ``torchvision_keys.py``, derived by hand from torchvision's
published model definitions (torchvision is not installed, and must not be needed).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import seglab.models.fcn as fcn_module
from seglab.models import ResNetBackbone, VGG16Backbone, create_model, load_backbone_weights

_SPEC = importlib.util.spec_from_file_location(
    "torchvision_keys", Path(__file__).with_name("torchvision_keys.py")
)
tv = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tv)

RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101"]
# Which torchvision checkpoint fits the backbone of each model configuration (at width 1.0).
USERS = [
    ("fcn32s", {}, "vgg16"),
    ("fcn16s", {}, "vgg16"),
    ("fcn8s", {}, "vgg16"),
    ("fcn8s", {"batch_norm": True}, "vgg16_bn"),
    ("deconvnet", {}, "vgg16_bn"),
    *[("deeplabv3plus", {"backbone": name}, name) for name in RESNETS],
]
# Writing and reading these fake checkpoints costs seconds; the default run keeps both VGGs and
# one ResNet per block type (BasicBlock, Bottleneck), the rest run with -m slow.
SLOW_FILES = {"resnet34", "resnet101"}


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}


@pytest.fixture
def on_meta(monkeypatch):
    """Build modules on the meta device (shapes without memory), skipping two initialisations.

    The first ``normal_`` or index assignment on a meta tensor imports PyTorch's Python
    decompositions, which takes 15-20 s; initial values do not matter for layouts, and loaded
    tensors overwrite them anyway.
    """
    monkeypatch.setattr(nn.init, "kaiming_normal_", lambda tensor, *args, **kwargs: tensor)
    monkeypatch.setattr(fcn_module, "init_bilinear_", lambda layer: layer)

    def build(factory):
        with torch.device("meta"):
            return factory()

    return build


def test_reference_tables_match_torchvisions_published_sizes():
    # A check on the hand-written tables: torchvision documents these parameter counts.
    for name, table in tv.TORCHVISION_SHAPES.items():
        count = sum(
            math.prod(shape)
            for key, shape in table.items()
            if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
        )
        assert count == tv.TORCHVISION_NUM_PARAMS[name], name
    assert len(tv.TORCHVISION_SHAPES["resnet50"]) == 320  # keys of resnet50().state_dict()


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("return_indices", [False, True])
def test_vgg16_backbone_has_torchvisions_names_and_shapes(on_meta, batch_norm, return_indices):
    backbone = on_meta(lambda: VGG16Backbone(batch_norm=batch_norm, return_indices=return_indices))
    reference = tv.TORCHVISION_SHAPES["vgg16_bn" if batch_norm else "vgg16"]
    assert shapes(backbone) == tv.without_classifier(reference)


@pytest.mark.parametrize("name", RESNETS)
@pytest.mark.parametrize(
    "dilation", [(False, False, False), (False, False, True), (False, True, True)]
)
def test_resnet_backbone_has_torchvisions_names_and_shapes(on_meta, name, dilation):
    # Dilation (DeepLab's output stride) changes strides and padding, never parameter shapes.
    backbone = on_meta(lambda: ResNetBackbone(name, replace_stride_with_dilation=dilation))
    assert shapes(backbone) == tv.without_classifier(tv.TORCHVISION_SHAPES[name])


@pytest.mark.parametrize(("model_name", "kwargs", "weights"), USERS)
def test_model_backbone_keys_are_torchvisions(on_meta, model_name, kwargs, weights):
    model = on_meta(lambda: create_model(model_name, num_classes=21, **kwargs))
    inside = {
        key.removeprefix("backbone."): shape
        for key, shape in shapes(model).items()
        if key.startswith("backbone.")
    }
    assert inside == tv.without_classifier(tv.TORCHVISION_SHAPES[weights])


def fake_checkpoint(name: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """A torchvision-style state dict with random values, classifier included."""
    generator = torch.Generator().manual_seed(len(name))
    state = {}
    for key, shape in tv.TORCHVISION_SHAPES[name].items():
        if key.startswith(("classifier.", "fc.")):
            # Real shape at no disk cost: an expanded view saves a one-element storage.
            state[prefix + key] = torch.zeros(()).expand(shape)
        elif key.endswith("num_batches_tracked"):
            state[prefix + key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[prefix + key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[prefix + key] = torch.randn(shape, generator=generator)
    return state


@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory):
    """``name -> path`` of a fake torchvision checkpoint, written once per module."""
    folder = tmp_path_factory.mktemp("weights")
    files: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in files:
            files[name] = folder / f"{name}.pth"
            torch.save(fake_checkpoint(name, prefix="module."), files[name])
        return files[name]

    return get


@pytest.mark.parametrize(
    ("model_name", "kwargs", "weights"),
    [
        pytest.param(*user, marks=[pytest.mark.slow] if user[2] in SLOW_FILES else [])
        for user in USERS
    ],
)
def test_load_backbone_weights_round_trip(on_meta, checkpoint_files, model_name, kwargs, weights):
    # The file is what torchvision's state_dict() would be, saved from a DataParallel model
    # ("module." prefix), with the ImageNet classifier that the loader must skip.
    model = on_meta(lambda: create_model(model_name, num_classes=21, **kwargs))
    model.backbone.to_empty(device="cpu")
    path = checkpoint_files(weights)
    result = load_backbone_weights(model, path, strict=True)
    expected = fake_checkpoint(weights)
    backbone_keys = set(tv.without_classifier(tv.TORCHVISION_SHAPES[weights]))
    assert set(result.loaded) == backbone_keys
    assert result.missing == [] and result.unexpected == []
    state = model.backbone.state_dict()
    for key in backbone_keys:
        assert torch.equal(state[key], expected[key]), key


@pytest.fixture
def resnet18_state() -> dict[str, torch.Tensor]:
    return fake_checkpoint("resnet18")


@pytest.fixture
def resnet18_model(on_meta) -> nn.Module:
    model = on_meta(lambda: create_model("deeplabv3plus", num_classes=2, backbone="resnet18"))
    model.backbone.to_empty(device="cpu")
    with torch.no_grad():
        for tensor in model.backbone.state_dict().values():
            tensor.zero_()  # to_empty leaves whatever was in memory, NaNs included
    return model


@pytest.mark.parametrize(
    "wrap",
    [
        lambda state: {"state_dict": state, "epoch": 90},
        lambda state: {"model": {f"backbone.{k}": v for k, v in state.items()}},
        lambda state: {f"module.backbone.{k}": v for k, v in state.items()},
    ],
    ids=["state_dict-wrapper", "segmentation-model-file", "module-backbone-prefix"],
)
def test_load_backbone_weights_opens_wrappers(tmp_path, resnet18_state, resnet18_model, wrap):
    path = tmp_path / "weights.pt"
    torch.save(wrap(resnet18_state), path)
    result = load_backbone_weights(resnet18_model, path)
    assert result.missing == [] and result.unexpected == []
    assert torch.equal(resnet18_model.backbone.conv1.weight, resnet18_state["conv1.weight"])


def test_load_backbone_weights_reports_missing_and_unexpected(
    tmp_path, resnet18_state, resnet18_model
):
    before = resnet18_model.backbone.layer4[1].bn2.weight.clone()
    partial = {k: v for k, v in resnet18_state.items() if not k.startswith("layer4.1.bn2.")}
    partial["head.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save(partial, path)
    result = load_backbone_weights(resnet18_model, path)
    assert sorted(result.missing) == sorted(
        f"layer4.1.bn2.{n}"
        for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    )
    assert result.unexpected == ["head.weight"]
    assert torch.equal(resnet18_model.backbone.layer4[1].bn2.weight, before)  # left as it was
    assert torch.equal(resnet18_model.backbone.conv1.weight, resnet18_state["conv1.weight"])
    with pytest.raises(
        ValueError,
        match=r"strict loading failed: 5 missing key\(s\) .*1 unexpected key\(s\) \['head.weight'\]",
    ):
        load_backbone_weights(resnet18_model, path, strict=True)


def test_load_backbone_weights_shape_mismatch_names_the_key(tmp_path, resnet18_state):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_state, path)
    narrow = create_model("deeplabv3plus", num_classes=2, backbone="resnet18", width=0.5)
    with pytest.raises(
        ValueError,
        match=r"shape mismatch for conv1.weight: file has \(64, 3, 7, 7\), model has \(32, 3, 7, 7\)",
    ):
        load_backbone_weights(narrow, path)
    grey = create_model(
        "deeplabv3plus", num_classes=2, backbone="resnet18", width=0.125, in_channels=1
    )
    with pytest.raises(ValueError, match=r"file has \(64, 3, 7, 7\), model has \(8, 1, 7, 7\)"):
        load_backbone_weights(grey, path)


def test_load_backbone_weights_needs_a_backbone(tmp_path):
    unet = create_model("unet", num_classes=2, base_channels=4)
    with pytest.raises(ValueError, match=r"UNet has no torchvision-compatible backbone"):
        load_backbone_weights(unet, tmp_path / "any.pth")


def test_load_backbone_weights_missing_file(tmp_path, resnet18_model):
    with pytest.raises(FileNotFoundError, match=r"no such weights file: .*nowhere\.pth"):
        load_backbone_weights(resnet18_model, tmp_path / "nowhere.pth")
    with pytest.raises(FileNotFoundError, match=r"no such weights file"):
        load_backbone_weights(resnet18_model, tmp_path)  # a folder is not a file


class _NotAStateDict:
    pass


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a checkpoint", r"cannot read weights file .*bad\.pth: "),
        (_NotAStateDict(), r"cannot read weights file .*bad\.pth: "),  # refused by weights_only
        ([torch.zeros(3)], r"bad\.pth does not hold a state dict \(a dict of name -> tensor\)"),
        ({"conv1.weight": torch.zeros(3), "epoch": 3}, r"does not hold a state dict"),
        ({"state_dict": {"conv1.weight": [1, 2]}}, r"does not hold a state dict"),
        (torch.zeros(3), r"does not hold a state dict"),
    ],
    ids=["text", "pickled-object", "list", "non-tensor-value", "wrapped-non-tensor", "tensor"],
)
def test_load_backbone_weights_rejects_non_state_dicts(tmp_path, resnet18_model, content, message):
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        load_backbone_weights(resnet18_model, path)
