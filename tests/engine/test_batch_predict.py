"""Streaming batch prediction: batches, decode workers, writer threads, shards, resuming a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.checkpoint import save_checkpoint
from seglab.engine.predict import Predictor, plan_outputs, predict_files
from seglab.io import read_mask
from seglab.models import create_model

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = create_model("unet", num_classes=3, base_channels=8)
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        {
            "model": dict(model.config),
            "state_dict": model.state_dict(),
            "class_names": ["a", "b", "c"],
            "task": "multiclass",
            "preprocess": {"size": [32, 32], "mean": None, "std": None},
        },
    )
    return path


def _mixed_folder(root: Path, count: int) -> Path:
    """``count`` images of mixed sizes and modes (RGB JPEG, grayscale PNG, RGBA PNG), nested."""
    rng = np.random.default_rng(0)
    for index in range(count):
        height, width = rng.integers(20, 90, size=2)
        folder = root / f"part{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
        kind = index % 3
        if kind == 0:
            Image.fromarray(pixels[..., :3]).save(folder / f"img{index:03d}.jpg")
        elif kind == 1:
            Image.fromarray(pixels[..., 0]).save(folder / f"img{index:03d}.png")
        else:
            Image.fromarray(pixels).save(folder / f"img{index:03d}.png")
    return root


def _masks(out: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(out)): read_mask(p) for p in sorted(out.rglob("*_mask.png"))}


def test_predict_batch_equals_one_image_at_a_time(checkpoint):
    predictor = Predictor(checkpoint, device="cpu")
    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 256, size=shape, dtype=np.uint8)
        for shape in [(40, 70, 3), (23, 31), (64, 64, 4)]
    ]
    batched = predictor.predict_batch(images)
    for image, mask in zip(images, batched, strict=True):
        assert mask.shape == image.shape[:2]
        np.testing.assert_array_equal(mask, predictor.predict(image))
    assert predictor.predict_batch([]) == []


def test_class_argmax_matches_torch_argmax_with_ties():
    from seglab.engine.predict import _argmax_classes

    probs = torch.rand(4, 30, 40, generator=torch.Generator().manual_seed(0))
    probs[2, :5] = probs[1, :5]  # ties go to the lower index, as in argmax
    probs[:, 5:8] = 0.25
    labels = _argmax_classes(probs)
    assert labels.dtype == torch.uint8
    torch.testing.assert_close(labels.long(), probs.argmax(0), rtol=0, atol=0)


def test_batches_workers_and_writer_threads_change_nothing(checkpoint, tmp_path):
    folder = _mixed_folder(tmp_path / "in", 14)
    (folder / "part0" / "broken.jpg").write_bytes(b"not a jpeg")
    predictor = Predictor(checkpoint, device="cpu")
    plain = predict_files(
        predictor, [folder], tmp_path / "plain", batch_size=1, workers=0, writers=0, progress=False
    )
    fast = predict_files(
        predictor, [folder], tmp_path / "fast", batch_size=4, workers=2, writers=2, progress=False
    )
    assert len(plain.written) == len(fast.written) == 14
    assert [path.name for path, _ in fast.failed] == ["broken.jpg"]
    expected = _masks(tmp_path / "plain")
    got = _masks(tmp_path / "fast")
    assert expected.keys() == got.keys()
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
    assert len(list((tmp_path / "fast").rglob("*_overlay.png"))) == 14


def test_shards_split_the_files_without_overlap(checkpoint, tmp_path):
    folder = _mixed_folder(tmp_path / "in", 9)
    predictor = Predictor(checkpoint, device="cpu")
    shards = [
        predict_files(predictor, [folder], tmp_path / "out", shard=(rank, 2), progress=False)
        for rank in range(2)
    ]
    written = [set(summary.written) for summary in shards]
    assert not written[0] & written[1]
    assert len(written[0]) == 5 and len(written[1]) == 4
    assert len(_masks(tmp_path / "out")) == 9
    with pytest.raises(ValueError, match="shard must be \\(rank, world_size\\)"):
        predict_files(predictor, [folder], tmp_path / "x", shard=(2, 2), progress=False)


def test_output_collisions_and_bad_settings_are_refused(checkpoint, tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / "x.jpg")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / "x.png")
    with pytest.raises(ValueError, match="would both write .*x_mask.png"):
        plan_outputs([tmp_path / "in"], tmp_path / "out")
    predictor = Predictor(checkpoint, device="cpu")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        predict_files(predictor, [tmp_path / "in" / "x.jpg"], tmp_path / "out", batch_size=0)


def _predict_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "seglab", "predict", *args, "--quiet"]


def test_killed_cli_run_resumes_to_the_same_outputs(checkpoint, tmp_path):
    """SIGKILL a `seglab predict` mid-folder, run it again: it skips done images, redoes none."""
    folder = _mixed_folder(tmp_path / "in", 150)
    args = [str(folder), "--checkpoint", str(checkpoint), "--batch-size", "2", "--workers", "0"]
    subprocess.run(
        _predict_cli(*args, "--out", str(tmp_path / "full")), check=True, env=ENV, timeout=600
    )

    cut = tmp_path / "cut"
    process = subprocess.Popen(_predict_cli(*args, "--out", str(cut)), env=ENV)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(cut.rglob("*_mask.png"))) < 20:
        if process.poll() is not None:
            pytest.fail("prediction finished before it could be interrupted")
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len(list(cut.rglob("*_mask.png")))
    assert 20 <= done < 150
    # Atomic writes: every mask on disk is a whole PNG.
    for mask in cut.rglob("*_mask.png"):
        read_mask(mask)

    resumed = subprocess.run(
        _predict_cli(*args, "--out", str(cut)),
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
        text=True,
    )
    assert f"{150 - done} masks written" in resumed.stdout
    assert f"{done} already there" in resumed.stdout
    expected, got = _masks(tmp_path / "full"), _masks(cut)
    assert expected.keys() == got.keys()
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)


def test_torchrun_shards_a_folder_over_two_processes(checkpoint, tmp_path, torchrun_command):
    folder = _mixed_folder(tmp_path / "in", 12)
    args = [str(folder), "--checkpoint", str(checkpoint), "--workers", "0", "--no-overlay"]
    subprocess.run(
        _predict_cli(*args, "--out", str(tmp_path / "one")), check=True, env=ENV, timeout=600
    )
    finished = subprocess.run(
        torchrun_command(
            "-m", "seglab", "predict", *args, "--out", str(tmp_path / "two"), "--quiet"
        ),
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
        text=True,
    )
    assert "rank 0/2: 6 masks written" in finished.stdout
    assert "rank 1/2: 6 masks written" in finished.stdout
    expected, got = _masks(tmp_path / "one"), _masks(tmp_path / "two")
    assert expected.keys() == got.keys() and len(got) == 12
    for name, mask in expected.items():
        np.testing.assert_array_equal(got[name], mask, err_msg=name)
