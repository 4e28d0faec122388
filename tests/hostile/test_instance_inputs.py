"""``seglab instance`` on images of every mode and size: valid outputs, never a traceback."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from seglab.cli import main


def _nuclei(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((size, size), np.uint8)
    for cy, cx in ((16, 16), (40, 44)):
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 200
    return image


@pytest.mark.parametrize(
    ("name", "picture"),
    [
        (
            "rgba.png",
            lambda: Image.fromarray(
                np.dstack([_nuclei()] * 3 + [np.full((64, 64), 255, np.uint8)])
            ),
        ),
        ("grey.png", lambda: Image.fromarray(_nuclei())),
        ("sixteen.png", lambda: Image.fromarray(_nuclei().astype(np.uint16) * 257)),
        ("one.png", lambda: Image.fromarray(np.zeros((1, 1, 3), np.uint8))),
        ("flat.png", lambda: Image.fromarray(np.zeros((48, 80, 3), np.uint8))),
        ("bright.png", lambda: Image.fromarray(np.full((40, 40, 3), 255, np.uint8))),
    ],
)
def test_every_image_mode_gives_a_label_map(tmp_path, capsys, name, picture):
    picture().save(tmp_path / name)
    out = tmp_path / "out"
    assert main(["instance", str(tmp_path / name), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    labels = np.asarray(Image.open(out / name.replace(".png", "_instances.png")))
    with Image.open(tmp_path / name) as original:
        assert labels.shape == original.size[::-1]
    results = json.loads((out / "results.json").read_text())
    assert len(results) == labels.max()  # one record per instance, none for empty images
    if name in ("one.png", "flat.png", "bright.png"):
        assert labels.max() == 0  # no nuclei: zero instances, not noise


def test_an_unreadable_file_is_reported_and_the_rest_written(tmp_path, capsys):
    Image.fromarray(_nuclei()).save(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["instance", str(tmp_path), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "1 label maps" in captured.out and "1 failed" in captured.out
    assert "empty.png" in captured.err and "Traceback" not in captured.err
    assert (out / "good_instances.png").is_file() and not (out / "empty_instances.png").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--crop-size", "1000000"], "crop_size"),
        (["--crop-size", "0"], "crop_size"),
        (["--lr", "nan"], "lr must be > 0 and finite, got nan"),
        (["--ema", "2"], r"ema decay must be in \(0, 1\), got 2.0"),
        (["--warmup", "0.9"], "warmup must be >= 0 and <= 0.5, got 0.9"),
        (["--sigma", "0"], "sigma must be > 0 and finite, got 0.0"),
        (["--steps", "0"], "steps must be a positive int, got 0"),
        (["--time-budget", "nan"], "time_budget must be a positive number of minutes"),
    ],
)
def test_train_instance_refuses_bad_numbers_before_reading_data(tmp_path, capsys, flags, message):
    # The data folder does not even exist: the numbers are checked first, and nothing is
    # written to --out.
    out = tmp_path / "run"
    argv = ["train-instance", "--data", str(tmp_path / "none"), "--out", str(out), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize(
    ("tile", "overlap"), [("-1", None), ("8", None), ("64", "40"), ("64", "-1")]
)
def test_instance_refuses_bad_tiles(tmp_path, capsys, tile, overlap):
    Image.fromarray(_nuclei()).save(tmp_path / "a.png")
    argv = ["instance", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"), "--tile", tile]
    assert main(argv + (["--tile-overlap", overlap] if overlap else [])) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
