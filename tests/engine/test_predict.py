"""Prediction at the original size, test-time flips, folders with bad files, resumable runs."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from skimage.measure import label as skimage_label

from seglab.checkpoint import save_checkpoint
from seglab.engine.predict import Predictor, iter_image_files, predict_files
from seglab.io import read_mask
from seglab.models import create_model


def _checkpoint(path, task="multiclass", num_classes=2, mean=None, std=None):
    torch.manual_seed(0)
    model = create_model("unet", num_classes=num_classes, base_channels=8)
    save_checkpoint(
        path,
        {
            "model": dict(model.config),
            "state_dict": model.state_dict(),
            "class_names": [f"c{index}" for index in range(num_classes)],
            "task": task,
            "preprocess": {"size": [32, 32], "mean": mean, "std": std},
        },
    )
    return model.eval()


def test_mask_has_original_size_and_matches_manual_pipeline(tmp_path):
    model = _checkpoint(tmp_path / "c.pt", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    predictor = Predictor(tmp_path / "c.pt", device="cpu")
    image = np.random.default_rng(0).integers(0, 256, size=(45, 70, 3), dtype=np.uint8)
    mask = predictor.predict(image)
    assert mask.shape == (45, 70) and mask.dtype == np.uint8
    # Independent re-computation of the documented pipeline.
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(
        x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False
    )
    x = (x - 0.5) / 0.25
    with torch.no_grad():
        probs = model(x).softmax(1)
    probs = torch.nn.functional.interpolate(
        probs, size=(45, 70), mode="bilinear", align_corners=False
    )
    np.testing.assert_array_equal(mask, probs.argmax(1)[0].numpy())


def test_tta_averages_with_the_flipped_prediction(tmp_path):
    model = _checkpoint(tmp_path / "c.pt")
    image = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    plain = Predictor(tmp_path / "c.pt", device="cpu").predict_proba(image)
    flipped = Predictor(tmp_path / "c.pt", device="cpu").predict_proba(image[:, ::-1].copy())[
        :, :, ::-1
    ]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        expected = (0.5 * (model(x) + model(x.flip(-1)).flip(-1))).softmax(1)[0].numpy()
    tta = Predictor(tmp_path / "c.pt", device="cpu", tta=True).predict_proba(image)
    np.testing.assert_allclose(tta, expected, atol=1e-5)
    assert not np.allclose(plain, flipped)  # the model is not flip-invariant, so TTA matters


def test_scales_average_the_logits_of_rescaled_images(tmp_path):
    model = _checkpoint(tmp_path / "c.pt")
    image = np.random.default_rng(2).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    resize = torch.nn.functional.interpolate
    x = resize(
        torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255,
        size=(32, 32),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    with torch.no_grad():
        half = model(resize(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False))
        half = resize(half, size=(32, 32), mode="bilinear", align_corners=False)
        probs = (0.5 * (half + model(x))).softmax(1)
    expected = resize(probs, size=(40, 50), mode="bilinear", align_corners=False)[0].numpy()
    predictor = Predictor(tmp_path / "c.pt", device="cpu", scales=(0.5, 1.0))
    np.testing.assert_allclose(predictor.predict_proba(image), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"test-time scales must be numbers in \[0.1, 4.0\]"):
        Predictor(tmp_path / "c.pt", device="cpu", scales=(0.0,))


def test_multilabel_predictions_are_per_label_booleans(tmp_path):
    _checkpoint(tmp_path / "c.pt", task="multilabel")
    labels = Predictor(tmp_path / "c.pt", device="cpu").predict(np.zeros((20, 30, 3), np.uint8))
    assert labels.shape == (2, 20, 30) and labels.dtype == bool


def test_predict_files_skips_bad_files_and_resumes(tmp_path):
    _checkpoint(tmp_path / "c.pt")
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(folder / "a.jpg")
    Image.fromarray(np.zeros((33, 21), np.uint8)).save(folder / "sub" / "b.png")  # grayscale
    Image.fromarray(np.zeros((10, 10, 4), np.uint8)).save(folder / "c.png")  # RGBA
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "notes.txt").write_text("not an image, not listed")
    predictor = Predictor(tmp_path / "c.pt", device="cpu")
    out = tmp_path / "out"
    summary = predict_files(predictor, [folder], out, progress=False)
    # Sub-folders are mirrored below the output folder.
    assert sorted(str(path.relative_to(out)) for path in summary.written) == [
        "a_mask.png",
        "c_mask.png",
        "sub/b_mask.png",
    ]
    assert [path.name for path, _ in summary.failed] == ["broken.png"]
    assert "cannot read image" in summary.failed[0][1]
    assert read_mask(out / "sub" / "b_mask.png").shape == (33, 21)
    assert (out / "a_overlay.png").is_file()
    again = predict_files(predictor, [folder], out, skip_existing=True, progress=False)
    assert not again.written and len(again.skipped_existing) == 3


def test_iter_image_files_keeps_explicit_files(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    assert list(iter_image_files([tmp_path / "x.txt"])) == [tmp_path / "x.txt"]
    assert list(iter_image_files([tmp_path])) == []


def test_predictor_errors(tmp_path):
    _checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="expected a grey, RGB or RGBA image, got 2 channels"):
        Predictor(tmp_path / "c.pt", device="cpu").predict(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        Predictor(tmp_path / "nope.pt")
    from seglab.engine.onnx_predict import create_predictor

    with pytest.raises(TypeError, match="unexpected keyword argument 'flip'"):
        create_predictor(tmp_path / "c.pt", device="cpu", flip=True)
    predictor = Predictor(tmp_path / "c.pt", device="cpu")
    with pytest.raises(TypeError, match=r"unknown option\(s\) flip; valid: tta, scales"):
        predictor._set_test_time_options(flip=True)  # what the ONNX predictor passes on


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_keep_largest_and_fill_holes_clean_the_full_size_mask(name):
    image = getattr(skimage.data, name)()
    plain = Predictor(device="cpu").predict(image)
    cleaned = Predictor(device="cpu", keep_largest=True, fill_holes=True).predict(image)
    regions = skimage_label(plain == 1, connectivity=2)
    assert regions.max() > 1  # the shipped model leaves stray regions on these images
    largest = regions == 1 + np.bincount(regions.ravel())[1:].argmax()
    # One pet region: the plain mask's largest one, plus what was enclosed by it.
    assert skimage_label(cleaned == 1, connectivity=2).max() == 1
    assert (cleaned[largest] == 1).all() and not (cleaned[(plain == 1) & ~largest] == 1).any()
    # Every background region reaches the image border: no holes are left.
    background = skimage_label(cleaned == 0, connectivity=1)
    border = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    assert set(np.unique(background)) - {0} <= set(np.unique(border))


def test_tiled_prediction_keeps_the_image_size_and_bounds_the_windows(tmp_path, monkeypatch):
    model = _checkpoint(tmp_path / "c.pt", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    image = np.random.default_rng(3).integers(0, 256, size=(100, 70, 3), dtype=np.uint8)
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        whole = model(x).softmax(1)[0]  # the network on the image at its own size
    # A tile as large as the image: one window, the same probabilities.
    big = Predictor(tmp_path / "c.pt", device="cpu", tile=128)
    torch.testing.assert_close(torch.from_numpy(big.predict_proba(image)), whole)
    # Small tiles: every window at most 32 x 32, the mask still at the image's size, and
    # inside a window (away from seams) the whole-image labels.
    small = Predictor(tmp_path / "c.pt", device="cpu", tile=32, overlap=8)
    shapes = []
    monkeypatch.setattr(small, "_forward", lambda b: shapes.append(b.shape[-2:]) or model(b))
    mask = small.predict(image)
    assert mask.shape == (100, 70) and max(max(s) for s in shapes) == 32
    assert len(shapes) == 4 * 3  # rows 0, 24, 48, 68; columns 0, 24, 38
    # A U-Net sees far beyond a 32-pixel window, so tiles only approximate the whole image.
    error = (torch.from_numpy(small.predict_proba(image)) - whole).abs().mean()
    shifted = (whole - whole.roll(7, dims=1)).abs().mean()  # what a misplaced window gives
    assert error < shifted / 2, (error, shifted)
    assert small.predict_batch([image, image[:40]])[1].shape == (40, 70)


def test_tiled_predict_files_and_cli(tmp_path):
    from seglab.cli import main

    _checkpoint(tmp_path / "c.pt")
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((90, 50, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((20, 130, 3), 200, np.uint8)).save(folder / "b.png")
    argv = ["predict", str(folder), "--checkpoint", str(tmp_path / "c.pt"), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "out"), "--tile", "32"]) == 0
    assert read_mask(tmp_path / "out" / "a_mask.png").shape == (90, 50)
    assert read_mask(tmp_path / "out" / "b_mask.png").shape == (20, 130)
    assert (
        main([*argv, "--out", str(tmp_path / "bad"), "--tile", "32", "--tile-overlap", "20"]) == 2
    )
    with pytest.raises(ValueError, match="tile must be >= 16 pixels, got 0"):
        Predictor(tmp_path / "c.pt", device="cpu", tile=0)
