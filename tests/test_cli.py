"""The command line: each command on tiny inputs, and clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.measure import label as skimage_label

from seglab.cli import main
from seglab.io import read_mask


def test_version_and_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "seglab", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("seglab ")


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert {"fcn32s", "fcn16s", "fcn8s", "deconvnet", "unet", "deeplabv3plus"} <= set(names)


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("slic", ["--n-segments", "50"]),
        ("ncut", ["--n-segments", "4"]),
        ("grabcut", ["--rect", "8,8,40,40"]),
    ],
)
def test_classical_writes_labels_and_overlay(tmp_path, method, extra, capsys):
    yy, xx = np.mgrid[:48, :48]
    image = np.full((48, 48, 3), 90, np.uint8)
    image[(yy - 24) ** 2 + (xx - 24) ** 2 < 12**2] = (220, 40, 40)
    Image.fromarray(image).save(tmp_path / "disc.png")
    out = tmp_path / "out"
    assert main(["classical", method, str(tmp_path / "disc.png"), "--out", str(out), *extra]) == 0
    labels = read_mask(out / f"disc_{method}_labels.png")
    assert labels.shape == (48, 48)
    assert (out / f"disc_{method}_overlay.png").is_file()
    assert f"{method}: " in capsys.readouterr().out
    if method == "grabcut":
        # The disc is the foreground; the grey surround is not.
        assert labels[24, 24] == 1 and labels[2, 2] == 0


def test_classical_accepts_bundled_samples(tmp_path):
    assert (
        main(["classical", "slic", "sample:coins", "--out", str(tmp_path), "--n-segments", "100"])
        == 0
    )
    assert (tmp_path / "coins_slic_labels.png").is_file()


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["classical", "grabcut", "sample:chelsea", "--out", str(tmp_path)]) == 2
    assert "grabcut needs --rect x0,y0,x1,y1 or --trimap PNG" in capsys.readouterr().err
    assert main(["classical", "slic", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["classical", "slic", "sample:lena", "--out", str(tmp_path)]) == 2
    assert "unknown sample 'lena'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["classical", "grabcut", "sample:chelsea", "--rect", "1,2,3", "--out", str(tmp_path)])
    assert "expected 4 values x0,y0,x1,y1" in capsys.readouterr().err
    assert main(["train", "--data", "x", "--model-arg", "width"]) == 2
    assert "expected key=value, got 'width'" in capsys.readouterr().err


def test_train_evaluate_predict_round_trip(folder_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            str(folder_dataset),
            "--dataset",
            "folder",
            "--model",
            "unet",
            "--model-arg",
            "base_channels=8",
            "--img-size",
            "32",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--val-fraction",
            "0.25",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert code == 0
    assert "best epoch 1" in capsys.readouterr().out
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run / "best.pt"),
                "--data",
                str(folder_dataset),
                "--split",
                "val",
                "--tta",
                "--scales",
                "0.75",
                "1",
                "--keep-largest",
                "--fill-holes",
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "disc" in printed and "miou" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "val" and len(metrics["iou"]) == 3
    assert metrics["tta"] is True and metrics["scales"] == [0.75, 1.0]
    assert metrics["keep_largest"] is True and metrics["fill_holes"] is True
    out = tmp_path / "pred"
    assert (
        main(
            [
                "predict",
                str(folder_dataset / "images"),
                "--checkpoint",
                str(run / "best.pt"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(list(out.glob("*_mask.png"))) == 12
    cleaned = tmp_path / "cleaned"
    args = ["predict", str(folder_dataset / "images"), "--checkpoint", str(run / "best.pt")]
    assert main([*args, "--out", str(cleaned), "--keep-largest", "--quiet"]) == 0
    for path in cleaned.glob("*_mask.png"):
        mask = read_mask(path)
        for value in (1, 2):  # at most one region of each class
            assert skimage_label(mask == value, connectivity=2).max() <= 1


def test_convert_png_masks_to_coco_and_back(tmp_path, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((20, 30), np.uint8)
    mask[4:12, 5:15] = 1
    mask[14:18, 20:28] = 2
    Image.fromarray(mask).save(masks / "a.png")
    (masks / "classes.txt").write_text("background\ncat\ndog\n")
    coco = tmp_path / "coco.json"
    assert main(["convert", str(masks), str(coco), "--from", "png", "--to", "coco"]) == 0
    data = json.loads(coco.read_text())
    assert [category["name"] for category in data["categories"]] == ["cat", "dog"]
    back = tmp_path / "back"
    assert main(["convert", str(coco), str(back), "--from", "coco", "--to", "png"]) == 0
    np.testing.assert_array_equal(read_mask(back / "a.png"), mask)
    capsys.readouterr()
    (tmp_path / "bad.json").write_text('{"images": 3}')
    assert (
        main(["convert", str(tmp_path / "bad.json"), str(back), "--from", "coco", "--to", "png"])
        == 2
    )
    assert "bad.json" in capsys.readouterr().err
