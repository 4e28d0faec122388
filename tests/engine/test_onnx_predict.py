"""onnxruntime prediction gives the torch predictor's probabilities and masks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data
import torch

from seglab.checkpoint import save_checkpoint
from seglab.engine.onnx_predict import OnnxPredictor, create_predictor
from seglab.engine.predict import Predictor
from seglab.export import export_onnx
from seglab.io import read_mask
from seglab.models import create_model

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

IMAGES = {
    "chelsea": skimage.data.chelsea(),  # RGB cat
    "coffee": skimage.data.coffee(),  # RGB
    "camera": skimage.data.camera(),  # grayscale
}


@pytest.fixture(scope="module")
def pet_onnx(tmp_path_factory):
    """The shipped pet model, exported once."""
    return export_onnx(None, tmp_path_factory.mktemp("onnx") / "pet.onnx")


def _checkpoint(path, *, task="multiclass", num_classes=2, mean=None, std=None):
    torch.manual_seed(0)
    model = create_model("unet", num_classes=num_classes, base_channels=4)
    save_checkpoint(
        path,
        {
            "model": dict(model.config),
            "state_dict": model.state_dict(),
            "class_names": [f"c{index}" for index in range(num_classes)],
            "task": task,
            "preprocess": {"size": [48, 64], "mean": mean, "std": std},
        },
    )
    return path


def _assert_same_predictions(torch_predictor, onnx_predictor, image):
    expected = torch_predictor.predict_proba(image)
    actual = onnx_predictor.predict_proba(image)
    assert actual.shape == expected.shape == (expected.shape[0], *image.shape[:2])
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)
    expected_mask, mask = torch_predictor.predict(image), onnx_predictor.predict(image)
    assert mask.dtype == expected_mask.dtype
    # Probabilities agree to 1e-5; only a pixel at a near-exact tie could flip.
    assert (mask != expected_mask).mean() < 1e-4


@pytest.mark.parametrize("name", list(IMAGES))
def test_shipped_model_gives_the_same_masks_with_both_backends(name, pet_onnx):
    torch_predictor = Predictor(device="cpu")
    onnx_predictor = OnnxPredictor(pet_onnx, threads=1)
    assert onnx_predictor.class_names == torch_predictor.class_names == ["background", "pet"]
    assert onnx_predictor.size == torch_predictor.size
    _assert_same_predictions(torch_predictor, onnx_predictor, IMAGES[name])


def test_tta_and_rgba_match(pet_onnx):
    image = np.dstack([skimage.data.astronaut(), np.full((512, 512), 255, np.uint8)])
    _assert_same_predictions(
        Predictor(device="cpu", tta=True), OnnxPredictor(pet_onnx, tta=True), image
    )


def test_normalisation_and_multilabel_come_from_the_metadata(tmp_path):
    checkpoint = _checkpoint(
        tmp_path / "m.pt", task="multilabel", num_classes=3, mean=[0.4, 0.5, 0.6], std=[0.2] * 3
    )
    path = export_onnx(checkpoint, tmp_path / "m.onnx")
    onnx_predictor = OnnxPredictor(path)
    assert onnx_predictor.mean == [0.4, 0.5, 0.6] and onnx_predictor.task == "multilabel"
    image = IMAGES["chelsea"][:90, :130]
    torch_predictor = Predictor(checkpoint, device="cpu")
    _assert_same_predictions(torch_predictor, onnx_predictor, image)
    assert onnx_predictor.predict(image).shape == (3, 90, 130)


def test_static_export_runs_in_the_predictor(tmp_path):
    checkpoint = _checkpoint(tmp_path / "s.pt")
    path = export_onnx(checkpoint, tmp_path / "s.onnx", dynamic=False)
    _assert_same_predictions(
        Predictor(checkpoint, device="cpu"), OnnxPredictor(path), IMAGES["coffee"]
    )


def test_scales_match_torch_and_need_a_dynamic_graph(tmp_path, pet_onnx):
    _assert_same_predictions(
        Predictor(device="cpu", tta=True, scales=(0.75, 1.25)),
        OnnxPredictor(pet_onnx, tta=True, scales=(0.75, 1.25)),
        IMAGES["chelsea"],
    )
    static = export_onnx(_checkpoint(tmp_path / "s.pt"), tmp_path / "s.onnx", dynamic=False)
    # The clean-up options reach the onnxruntime predictor through create_predictor.
    cleanup = dict(keep_largest=True, fill_holes=True)
    _assert_same_predictions(
        Predictor(device="cpu", **cleanup),
        create_predictor(pet_onnx, threads=1, **cleanup),
        IMAGES["coffee"],
    )
    assert not np.array_equal(
        Predictor(device="cpu", **cleanup).predict(IMAGES["coffee"]),
        OnnxPredictor(pet_onnx).predict(IMAGES["coffee"]),
    )
    with pytest.raises(ValueError, match="static-size graph and takes only \\[48, 64\\]"):
        OnnxPredictor(static, scales=(0.5, 1.0))


def test_create_predictor_picks_the_backend(tmp_path, pet_onnx):
    checkpoint = _checkpoint(tmp_path / "c.pt")
    assert type(create_predictor(checkpoint, device="cpu")) is Predictor
    assert type(create_predictor(None, device="cpu")) is Predictor
    assert type(create_predictor(pet_onnx)) is OnnxPredictor
    assert type(create_predictor(pet_onnx, backend="onnxruntime", threads=1)) is OnnxPredictor
    with pytest.raises(
        ValueError, match="unknown backend 'tf'; valid backends: auto, torch, onnxruntime"
    ):
        create_predictor(checkpoint, backend="tf")
    with pytest.raises(ValueError, match="the onnxruntime backend runs an .onnx file; export one"):
        create_predictor(checkpoint, backend="onnxruntime")
    with pytest.raises(ValueError, match="the onnxruntime backend runs an .onnx file"):
        create_predictor(None, backend="onnxruntime")
    with pytest.raises(ValueError, match="is an ONNX file: use --backend onnxruntime"):
        create_predictor(pet_onnx, backend="torch")


def test_onnx_predictor_errors(tmp_path, pet_onnx, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        OnnxPredictor(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu', 'cuda'; got 'tpu'"):
        OnnxPredictor(pet_onnx, device="tpu")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read ONNX file"):
        OnnxPredictor(tmp_path / "junk.onnx")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ValueError, match="device='cuda' needs onnxruntime-gpu"):
            OnnxPredictor(pet_onnx, device="cuda")
    with pytest.raises(ValueError, match="expected a grey, RGB or RGBA image, got 2 channels"):
        OnnxPredictor(pet_onnx).predict(np.zeros((4, 4, 2), np.uint8))
    import onnx

    plain = onnx.load(str(pet_onnx))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ValueError, match="has no seglab metadata"):
        OnnxPredictor(tmp_path / "plain.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install seglab\[onnx\]"):
        OnnxPredictor(pet_onnx)


def test_cli_export_then_predict_with_both_backends(tmp_path, capsys):
    from PIL import Image

    from seglab.cli import main

    images = tmp_path / "images"
    images.mkdir()
    for name in ("chelsea", "coffee"):
        Image.fromarray(IMAGES[name]).save(images / f"{name}.png")
    onnx_path = tmp_path / "pet.onnx"
    assert main(["export", "--out", str(onnx_path)]) == 0
    common = [str(images), "--quiet", "--no-overlay"]
    assert main(["predict", *common, "--out", str(tmp_path / "t"), "--backend", "torch"]) == 0
    assert (
        main(
            ["predict", *common, "--out", str(tmp_path / "o"), "--backend", "onnxruntime"]
            + ["--checkpoint", str(onnx_path)]
        )
        == 0
    )
    for name in ("chelsea", "coffee"):
        torch_mask = read_mask(tmp_path / "t" / f"{name}_mask.png")
        onnx_mask = read_mask(tmp_path / "o" / f"{name}_mask.png")
        assert (torch_mask != onnx_mask).mean() < 1e-4
    capsys.readouterr()
    assert main(["predict", *common, "--out", str(tmp_path / "x"), "--backend", "onnxruntime"]) == 2
    assert "the onnxruntime backend runs an .onnx file" in capsys.readouterr().err
