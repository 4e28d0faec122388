"""``seglab instance`` on images of every mode and size: valid outputs, never a traceback."""

from __future__ import annotations

import json

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
