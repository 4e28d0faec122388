"""Prediction inputs: outputs never become inputs, empty inputs are errors, and image values
follow one rule (no silent rescaling, no NaN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.cli import main
from seglab.convert import image_to_unit_float
from seglab.engine.predict import Predictor, plan_outputs
from seglab.samples import load_sample


def _images(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / name)
    return folder


def _predict(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv, "--quiet", "--workers", "0"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_out_equal_to_the_input_folder_is_idempotent(checkpoint, tmp_path, capsys):
    photos = _images(tmp_path / "photos", ["a.png", "b.jpg"])
    code, out, _ = _predict(
        capsys, str(photos), "--checkpoint", str(checkpoint), "--out", str(photos)
    )
    assert code == 0 and "2 masks written" in out
    after_first = _files(photos)
    assert after_first == [
        "a.png",
        "a_mask.png",
        "a_overlay.png",
        "b.jpg",
        "b_mask.png",
        "b_overlay.png",
    ]
    for flags in ([], ["--overwrite"]):
        code, out, _ = _predict(
            capsys, str(photos), "--checkpoint", str(checkpoint), "--out", str(photos), *flags
        )
        assert code == 0
        assert "4 earlier output file(s) in the input were not read as images" in out
        assert _files(photos) == after_first  # no a_mask_mask.png, ever
    assert "2 masks written" in out  # --overwrite redid the two images, and only them


def test_out_inside_the_input_folder_is_skipped_whole(checkpoint, tmp_path, capsys):
    photos = _images(tmp_path / "photos", ["a.png"])
    out = photos / "masks"
    _predict(capsys, str(photos), "--checkpoint", str(checkpoint), "--out", str(out))
    (out / "copy_of_a.png").write_bytes((photos / "a.png").read_bytes())  # any file in out
    code, text, _ = _predict(
        capsys, str(photos), "--checkpoint", str(checkpoint), "--out", str(out), "--overwrite"
    )
    assert code == 0 and "1 masks written" in text
    assert _files(out) == ["a_mask.png", "a_overlay.png", "copy_of_a.png"]


def test_a_shell_glob_that_catches_outputs(checkpoint, tmp_path, capsys):
    """`seglab predict photos/* --out photos` names the earlier outputs explicitly."""
    photos = _images(tmp_path / "photos", ["a.png"])
    _predict(capsys, str(photos / "a.png"), "--checkpoint", str(checkpoint), "--out", str(photos))
    everything = [str(path) for path in sorted(photos.iterdir())]
    code, out, _ = _predict(
        capsys, *everything, "--checkpoint", str(checkpoint), "--out", str(photos)
    )
    assert code == 0 and "2 earlier output file(s)" in out
    assert _files(photos) == ["a.png", "a_mask.png", "a_overlay.png"]


def test_plan_outputs_reports_what_it_skipped(tmp_path):
    photos = _images(tmp_path / "p", ["x.png", "x_mask.png", "x_overlay.png", "y_mask.jpg"])
    skipped: list[Path] = []
    plans = plan_outputs([photos], photos, skipped=skipped)
    # Only names this run writes are outputs; a user's y_mask.jpg is an input.
    assert [plan.source.name for plan in plans] == ["x.png", "y_mask.jpg"]
    assert [path.name for path in skipped] == ["x_mask.png", "x_overlay.png"]


@pytest.mark.parametrize("command", ["predict", "instance"])
def test_empty_inputs_are_an_error(command, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code = main([command, str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"seglab {command}: error: no images" in err and str(tmp_path / "empty") in err
    assert not (tmp_path / "out").exists()


def test_instance_outputs_keep_sub_folders_and_are_not_reread(tmp_path, capsys):
    photos = tmp_path / "photos"
    _images(photos / "a", ["x.png"])
    _images(photos / "b", ["x.png"])  # same name in another folder: used to overwrite
    code = main(["instance", str(photos), "--out", str(photos), "--quiet", "--no-overlay"])
    assert code == 0
    assert (photos / "a" / "x_instances.png").is_file() and (
        photos / "b" / "x_instances.png"
    ).is_file()
    code = main(["instance", str(photos), "--out", str(photos), "--quiet", "--no-overlay"])
    assert code == 0
    assert "2 earlier output file(s)" in capsys.readouterr().out
    assert not list(photos.rglob("*_instances_instances.png"))


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(device="cpu")


def test_int_images_holding_8_bit_values_predict_as_uint8(predictor):
    cat = load_sample("chelsea")[::4, ::4]
    expected = predictor.predict(cat)
    np.testing.assert_array_equal(predictor.predict(cat.astype(np.int32)), expected)
    np.testing.assert_array_equal(predictor.predict(cat.astype(np.int64)), expected)
    np.testing.assert_array_equal(predictor.predict(cat.astype(np.float32) / 255), expected)
    np.testing.assert_array_equal(predictor.predict(cat.astype(np.uint16) * 257), expected)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            np.full((8, 8, 3), 200.0, np.float32),
            r"float images must be in \[0, 1\]; "
            r"this one spans \[200, 200\]: divide by 255 or pass uint8",
        ),
        (np.full((8, 8, 3), 3000.0), r"this one spans \[3000, 3000\]$"),
        (np.full((8, 8, 3), -0.5), r"float images must be in \[0, 1\]"),
        (np.full((8, 8, 3), np.nan, np.float32), "image holds NaN or infinite values"),
        (np.full((8, 8, 3), np.inf), "image holds NaN or infinite values"),
        (np.full((8, 8, 3), 4000, np.int32), r"int32 images must hold 8-bit values 0..255.*uint16"),
        (np.full((8, 8, 3), -1, np.int8), r"int8 images must hold 8-bit values 0..255"),
        (np.zeros((0, 8, 3), np.uint8), r"image is empty \(height 0, width 8\)"),
        (np.zeros((8, 8, 2), np.uint8), "expected a grey, RGB or RGBA image, got 2 channels"),
        (np.array([["a"]]), "image must hold numbers .*, got dtype <U1"),
    ],  # fmt: skip
)
def test_bad_image_values_are_errors_not_wrong_masks(predictor, image, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict(image)


def test_float_rounding_overshoot_is_clipped_not_refused():
    image = np.array([[-1e-4, 0.5, 1.0 + 1e-4]])
    np.testing.assert_allclose(image_to_unit_float(image), [[0.0, 0.5, 1.0]], atol=1e-7)


def test_oversized_images_are_refused_before_any_work(predictor, monkeypatch):
    monkeypatch.setattr("seglab._checks.MAX_IMAGE_PIXELS", 63)
    with pytest.raises(ValueError, match="image is 8 x 8 = 0 megapixels; the limit is 0 mega"):
        predictor.predict(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("scales", [["1000"], ["0.001"], ["nan"], [str(s) for s in [1.0] * 17]])
def test_test_time_scales_are_bounded(scales, tmp_path, capsys):
    photos = _images(tmp_path / "p", ["a.png"])
    code, _, err = _predict(capsys, str(photos), "--out", str(tmp_path / "o"), "--scales", *scales)
    assert code == 2
    assert "test-time scales must be numbers in [0.1, 4.0]" in err or "at most 16 test-time" in err
    assert not (tmp_path / "o").exists()
