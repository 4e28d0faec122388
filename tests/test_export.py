"""ONNX export: onnxruntime matches PyTorch for every model, metadata, atomic writes, errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from seglab.checkpoint import save_checkpoint
from seglab.export import (
    OPSET_RANGE,
    export_model,
    export_onnx,
    parse_metadata,
    read_onnx_metadata,
)
from seglab.models import create_model, list_models
from seglab.models.blocks import _pad_to_multiple_traceable, pad_to_multiple

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# CPU-sized variants of each registered model.
SMALL = {
    "fcn32s": {"width": 0.0625},
    "fcn16s": {"width": 0.0625},
    "fcn8s": {"width": 0.0625},
    "deconvnet": {"width": 0.0625},
    "unet": {"base_channels": 8},
    "deeplabv3plus": {"backbone": "resnet18", "width": 0.25},
}
# Batch 2 at 64x64 (a multiple of every stride) and 96x128, plus sizes that need reflect and
# replicate padding, all through ONE graph traced at 64x64: a graph that froze the traced
# size's padding (none) would fail the odd sizes.
SHAPES = [(2, 3, 64, 64), (1, 3, 96, 128), (1, 3, 37, 50), (1, 3, 5, 7)]


def _calibrated(name: str, num_classes: int = 3) -> nn.Module:
    """A small model whose batch-norm statistics come from data, as after training.

    At random initialisation the running statistics are (0, 1), so eval-mode activations grow
    layer after layer (DeepLabv3+ logits reach ~100) and float32 rounding alone exceeds 1e-4.
    """
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, **SMALL.get(name, {}))
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.momentum = None  # the statistics of the calibration batch, not 10% of them
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 64, 64))
    return model.eval()


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _assert_matches_pytorch(model: nn.Module, image: torch.Tensor, actual: np.ndarray) -> None:
    """onnxruntime's logits equal PyTorch's to 1e-4, or are at least as accurate as them.

    Random-init DeconvNet/DeepLabv3+ logits reach ~200 on some inputs, where PyTorch's own
    float32 result is ~4e-3 away from float64. There, a flat 1e-4 would test rounding, so the
    reference becomes the float64 PyTorch model: onnxruntime must be as close to it as PyTorch's
    float32 result is (within a factor 2).
    """
    with torch.no_grad():
        expected = model(image).numpy()
    assert actual.shape == expected.shape
    assert (actual.argmax(1) == expected.argmax(1)).mean() > 0.999
    if np.abs(actual - expected).max() <= 1e-4:
        return
    with torch.no_grad():
        exact = copy.deepcopy(model).double()(image.double()).numpy()
    torch_error = np.abs(expected - exact).max()
    assert np.abs(actual - exact).max() <= max(1e-4, 2 * torch_error)


@pytest.mark.parametrize("name", list_models())
def test_onnxruntime_matches_pytorch_at_several_sizes(name, tmp_path):
    model = _calibrated(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx", input_size=(64, 64))
    onnx.checker.check_model(str(path))
    session = _session(path)
    generator = torch.Generator().manual_seed(1)
    for shape in SHAPES:
        image = torch.rand(shape, generator=generator)
        (actual,) = session.run(None, {"image": image.numpy()})
        _assert_matches_pytorch(model, image, actual)
    assert model.training is False  # the export restored the mode it found


def test_traceable_padding_equals_eager_padding():
    # The export path pads by gathering rows and columns; it must equal F.pad exactly.
    generator = torch.Generator().manual_seed(0)
    for height, width, multiple in [
        (1, 1, 32),
        (5, 7, 32),
        (16, 17, 16),
        (37, 50, 32),
        (64, 64, 32),
    ]:
        image = torch.rand(2, 3, height, width, generator=generator)
        torch.testing.assert_close(
            _pad_to_multiple_traceable(image, multiple),
            pad_to_multiple(image, multiple),
            rtol=0,
            atol=0,
        )


def test_metadata_round_trip_from_a_checkpoint(tmp_path):
    model = create_model("unet", num_classes=3, base_channels=4)
    save_checkpoint(
        tmp_path / "c.pt",
        {
            "model": dict(model.config),
            "state_dict": model.state_dict(),
            "class_names": ["background", "cat", "dog"],
            "task": "multiclass",
            "preprocess": {"size": [48, 40], "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]},
        },
    )
    path = export_model(tmp_path / "c.pt", tmp_path / "out" / "c.onnx", format="onnx", opset=17)
    metadata = read_onnx_metadata(path)
    assert metadata["model_name"] == "unet"
    assert metadata["model_config"] == model.config
    assert metadata["class_names"] == ["background", "cat", "dog"]
    assert metadata["task"] == "multiclass"
    assert metadata["input_size"] == [48, 40]
    assert metadata["mean"] == [0.4, 0.5, 0.6] and metadata["std"] == [0.2, 0.25, 0.3]
    assert metadata["dynamic"] is True and metadata["opset"] == "17"
    from seglab import __version__

    assert metadata["seglab_version"] == __version__
    # The same values through the onnx package, straight from metadata_props.
    proto = onnx.load(str(path))
    props = {prop.key: prop.value for prop in proto.metadata_props}
    assert json.loads(props["model_config"]) == model.config
    assert proto.opset_import[0].version == 17
    onnx.checker.check_model(proto)
    # Traced at the training size (48x40); the dynamic graph still takes other sizes.
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, "H", "W"]


def test_model_object_gets_generic_class_names_and_no_normalisation(tmp_path):
    model = create_model("fcn32s", num_classes=2, width=0.0625)
    metadata = read_onnx_metadata(export_onnx(model, tmp_path / "m.onnx", input_size=(32, 32)))
    assert metadata["class_names"] == ["class_0", "class_1"]
    assert metadata["mean"] is None and metadata["std"] is None
    assert metadata["input_size"] == [32, 32]


def test_static_export_has_fixed_shape_and_matches(tmp_path):
    model = create_model("unet", num_classes=2, base_channels=4).eval()
    path = export_onnx(model, tmp_path / "s.onnx", dynamic=False, input_size=(40, 56))
    session = _session(path)
    assert session.get_inputs()[0].shape == [1, 3, 40, 56]
    image = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        expected = model(image).numpy()
    np.testing.assert_allclose(session.run(None, {"image": image.numpy()})[0], expected, atol=1e-4)
    assert read_onnx_metadata(path)["dynamic"] is False
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session.run(None, {"image": np.zeros((1, 3, 64, 64), np.float32)})


@pytest.mark.parametrize("opset", OPSET_RANGE)
def test_lowest_and_highest_opset_export_faithfully(opset, tmp_path):
    model = create_model("unet", num_classes=2, base_channels=4).eval()
    path = export_onnx(model, tmp_path / "o.onnx", opset=opset, input_size=(32, 32))
    image = torch.rand(1, 3, 45, 33)
    with torch.no_grad():
        expected = model(image).numpy()
    np.testing.assert_allclose(
        _session(path).run(None, {"image": image.numpy()})[0], expected, atol=1e-4
    )


def test_a_failed_check_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model = create_model("unet", num_classes=2, base_channels=4)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")

    def broken(_proto):
        raise onnx.checker.ValidationError("broken graph")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(onnx.checker.ValidationError, match="broken graph"):
        export_onnx(model, target, input_size=(32, 32))
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left behind


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'tflite'; valid formats: onnx"):
        export_model(None, tmp_path / "m.tflite", format="tflite")


@pytest.mark.parametrize("opset", [12, 21, "17", 17.0, True])
def test_bad_opset_is_rejected(opset, tmp_path):
    with pytest.raises(ValueError, match=r"opset must be an int in 13\.\.20"):
        export_onnx(None, tmp_path / "m.onnx", opset=opset)


def test_missing_checkpoint_is_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        export_onnx(tmp_path / "missing.pt", tmp_path / "m.onnx")


@pytest.mark.parametrize("size", [(0, 32), (32,), (32.0, 32), "32x32", (10**6, 32)])
def test_bad_input_size_is_rejected(size, tmp_path):
    model = create_model("unet", num_classes=2, base_channels=4)
    with pytest.raises(ValueError, match=r"input_size must be two integers \(H, W\) in 1..4096"):
        export_onnx(model, tmp_path / "m.onnx", input_size=size)


def test_static_graph_must_take_the_training_size(tmp_path):
    model = create_model("unet", num_classes=2, base_channels=4)
    checkpoint = {
        "model": dict(model.config),
        "state_dict": model.state_dict(),
        "class_names": ["a", "b"],
        "task": "multiclass",
        "preprocess": {"size": [48, 40], "mean": None, "std": None},
    }
    with pytest.raises(
        ValueError, match=r"static graph .* training size \[48, 40\]; got input_size \[64, 64\]"
    ):
        export_onnx(checkpoint, tmp_path / "m.onnx", dynamic=False, input_size=(64, 64))


def test_sources_that_are_not_seglab_models_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="cannot export a Conv2d: expected a seglab model"):
        export_onnx(nn.Conv2d(3, 2, 1), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="source must be None .* got int"):
        export_onnx(3, tmp_path / "m.onnx")


def test_reading_metadata_of_files_that_are_not_seglab_exports(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        read_onnx_metadata(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot read ONNX file"):
        read_onnx_metadata(tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match="has no seglab metadata .*missing model_config"):
        parse_metadata({"producer": "x"}, "other.onnx")


def test_missing_onnx_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    model = create_model("unet", num_classes=2, base_channels=4)
    with pytest.raises(ImportError, match=r"pip install seglab\[onnx\]"):
        export_onnx(model, tmp_path / "m.onnx")


def test_seglab_imports_without_onnx_packages():
    code = (
        "import sys; sys.modules['onnx'] = None; sys.modules['onnxruntime'] = None\n"
        "import seglab, seglab.export, seglab.engine.onnx_predict, seglab.cli\n"
        "seglab.cli.build_parser()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cli_export_writes_the_shipped_model_and_reports_errors(tmp_path, capsys):
    from seglab.cli import main

    out = tmp_path / "pet.onnx"
    assert main(["export", "--format", "onnx", "--opset", "17", "--out", str(out)]) == 0
    assert "exported the shipped pet model" in capsys.readouterr().out
    assert read_onnx_metadata(out)["class_names"] == ["background", "pet"]
    assert main(["export", "--format", "tflite", "--out", str(tmp_path / "x")]) == 2
    assert "unknown export format 'tflite'" in capsys.readouterr().err
    assert main(["export", "--opset", "9", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "opset must be an int in 13..20" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "no.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
