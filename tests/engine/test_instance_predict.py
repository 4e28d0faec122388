"""The instance file driver: label maps, overlays, COCO results, and the ``instance`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.checkpoint import save_checkpoint
from seglab.engine.instance_predict import predict_instance_files
from seglab.models.panoptic_deeplab import PanopticDeepLab


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = PanopticDeepLab(base_channels=2)
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        {
            "model": model.config,
            "state_dict": model.state_dict(),
            "class_names": ["background", "nucleus"],
            "task": "instance",
            # Centre threshold below everything: the random model still yields instances.
            "grouping": {"threshold": -1e9, "nms_kernel": 3, "foreground_threshold": -1.0},
        },
    )
    return path


def test_predict_instance_files_and_cli(tmp_path, tiny_checkpoint):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
            images / f"{name}.png"
        )
    (images / "broken.png").write_bytes(b"not a png")
    summary = predict_instance_files(
        [images], tmp_path / "out", checkpoint=tiny_checkpoint, progress=False
    )
    assert [p.name for p in summary.written] == ["a_instances.png", "b_instances.png"]
    assert [p.name for p, _ in summary.failed] == ["broken.png"]
    label_png = Image.open(tmp_path / "out" / "a_instances.png")
    assert label_png.mode.startswith("I;16") and label_png.size == (30, 20)
    labels = np.asarray(label_png)
    assert labels.max() >= 1 and (tmp_path / "out" / "a_overlay.png").is_file()
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results) == summary.num_instances > 0
    assert {r["image_id"] for r in results} <= {0, 1} and results[0]["category_id"] == 1
    names = json.loads((tmp_path / "out" / "images.json").read_text())
    assert names["0"].endswith("a.png") and names["1"].endswith("b.png")

    from seglab.cli import main

    code = main(
        [
            "instance",
            str(images / "a.png"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--out",
            str(tmp_path / "cli"),
            "--quiet",
        ]
    )
    assert code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "cli" / "a_instances.png")), labels)
    assert (
        main(
            [
                "instance",
                str(images / "a.png"),
                "--checkpoint",
                str(tmp_path / "none.pt"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_large_images_go_through_in_tiles(tmp_path, tiny_checkpoint, monkeypatch):
    import seglab.models.tiling as tiling
    from seglab.cli import main

    Image.fromarray(np.full((150, 70, 3), 90, np.uint8)).save(tmp_path / "big.png")
    windows = []
    real = tiling.tiled_forward

    def spy(forward, image, **kwargs):
        return real(lambda w: windows.append(tuple(w.shape[-2:])) or forward(w), image, **kwargs)

    monkeypatch.setattr(tiling, "tiled_forward", spy)
    args = [str(tmp_path / "big.png"), "--checkpoint", str(tiny_checkpoint), "--quiet"]
    assert main(["instance", *args, "--out", str(tmp_path / "t"), "--tile", "64"]) == 0
    assert windows and max(max(w) for w in windows) == 64  # never more than a tile at once
    assert len(windows) == 3 * 2  # rows start at 0, 48, 86; columns at 0, 6
    tiled = np.asarray(Image.open(tmp_path / "t" / "big_instances.png"))
    assert tiled.shape == (150, 70)
    windows.clear()
    assert main(["instance", *args, "--out", str(tmp_path / "w"), "--tile", "0"]) == 0
    assert windows == []  # --tile 0: the whole image at once
    assert main(["instance", *args, "--out", str(tmp_path / "x"), "--tile", "8"]) == 2
