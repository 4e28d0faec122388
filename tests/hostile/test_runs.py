"""Training runs: a finished run is never overwritten silently, a resume continues the same
experiment, a killed run leaves nothing behind, and degenerate data gives a clear message."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.cli import main
from seglab.engine.config import TrainConfig
from seglab.engine.train import train

TINY = ["--model-arg", "base_channels=4", "--img-size", "32", "--batch-size", "4", "--quiet"]


def _train_cli(capsys, data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(
        ["train", "--data", str(data), "--dataset", "folder", "--out", str(out), "--epochs", "1"]
        + TINY
        + list(extra)
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Eight image/mask pairs of the shapes data (3 classes), shared by the module."""
    from tests.conftest import shapes_sample

    root = tmp_path_factory.mktemp("shapes")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        image, mask = shapes_sample(rng, size=40)
        Image.fromarray(image).save(root / "images" / f"{index}.png")
        Image.fromarray(mask).save(root / "masks" / f"{index}.png")
    (root / "masks" / "classes.txt").write_text("background\ndisc\nsquare\n")
    return root


@pytest.fixture(scope="module")
def template_run(dataset, tmp_path_factory) -> Path:
    """One finished one-epoch run; tests get copies (training once keeps the module fast)."""
    out = tmp_path_factory.mktemp("template") / "run"
    assert main(["train", "--data", str(dataset), "--dataset", "folder", "--out", str(out),
                 "--epochs", "1", *TINY]) == 0  # fmt: skip
    return out


@pytest.fixture
def finished_run(template_run, tmp_path) -> Path:
    return Path(shutil.copytree(template_run, tmp_path / "run"))


def test_existing_run_is_not_overwritten_without_a_flag(finished_run, dataset, capsys):
    before = _snapshot(finished_run)
    code, _, err = _train_cli(capsys, dataset, finished_run)
    assert code == 2
    assert f"seglab train: error: {finished_run} already holds a run (best.pt, last.pt" in err
    assert "pass --resume to continue it, --overwrite to replace it" in err
    assert _snapshot(finished_run) == before  # every byte and every timestamp


def test_overwrite_replaces_the_run(finished_run, dataset, capsys):
    (finished_run / "notes.txt").write_text("mine")
    code, out, _ = _train_cli(capsys, dataset, finished_run, "--overwrite", "--epochs", "2")
    assert code == 0
    rows = (finished_run / "log.csv").read_text().splitlines()
    assert len(rows) == 3  # header + the new run's two epochs, not appended to the old log
    assert (finished_run / "notes.txt").read_text() == "mine"  # only the run's own files go
    assert "best.pt, last.pt, log.csv" in out


def test_resume_and_overwrite_together_are_refused(finished_run, dataset, capsys):
    code, _, err = _train_cli(capsys, dataset, finished_run, "--resume", "--overwrite")
    assert code == 2 and "resume continues the run in out, overwrite replaces it" in err


def test_resume_refuses_other_data_and_model(finished_run, dataset, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for sub in ("images", "masks"):
        (other / sub).symlink_to(dataset / sub)
    before = _snapshot(finished_run)
    code, _, err = _train_cli(
        capsys, other, finished_run, "--resume", "--epochs", "2", "--model-arg", "base_channels=8"
    )
    assert code == 2
    assert "cannot resume" in err and "this command differs from the run it would continue" in err
    assert f"data '{dataset}' there, '{other}' here" in err
    assert "model_kwargs {'base_channels': 4} there, {'base_channels': 8} here" in err
    assert _snapshot(finished_run) == before


def test_resume_with_the_same_settings_continues(finished_run, dataset, capsys):
    code, _, _ = _train_cli(capsys, dataset, finished_run, "--resume", "--epochs", "2")
    assert code == 0
    assert len((finished_run / "log.csv").read_text().splitlines()) == 3


def test_resume_without_last_pt_does_not_replace_best_pt(finished_run, dataset, capsys):
    (finished_run / "last.pt").unlink()
    before = _snapshot(finished_run)
    code, _, err = _train_cli(capsys, dataset, finished_run, "--resume")
    assert code == 2
    assert "cannot resume" in err and "it has no last.pt, only best.pt, log.csv" in err
    assert _snapshot(finished_run) == before


def test_init_from_inside_the_run_that_overwrite_deletes(finished_run, dataset, capsys):
    init = str(finished_run / "best.pt")
    code, _, err = _train_cli(capsys, dataset, finished_run, "--overwrite", "--init-from", init)
    assert code == 2 and "is a file of the run that --overwrite would delete" in err
    assert (finished_run / "best.pt").is_file()


def test_a_killed_runs_temporary_files_are_removed(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    # What an atomic write leaves when the process dies between create and rename (new and
    # old-style random parts), next to a user's file that merely looks similar.
    stale = [out / ".last.pt.0a1b2c3d.tmp", out / ".best.pt.k_9zq1x2.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    (out / ".notes.tmp").write_text("mine")
    code, _, _ = _train_cli(capsys, dataset, out)
    assert code == 0
    assert not any(path.exists() for path in stale)
    assert (out / ".notes.tmp").read_text() == "mine"
    assert not list(out.glob(".*.*.tmp"))


def test_out_that_is_a_file(dataset, tmp_path, capsys):
    (tmp_path / "run").write_text("not a folder")
    code, _, err = _train_cli(capsys, dataset, tmp_path / "run")
    assert code == 2 and f"--out {tmp_path / 'run'} is a file, not a run folder" in err


def _one_class_folder(root: Path, count: int, mask_value: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / f"{index}.png")
        Image.fromarray(np.full((40, 40), mask_value, np.uint8)).save(
            root / "masks" / f"{index}.png"
        )
    (root / "masks" / "classes.txt").write_text("background\nthing\n")
    return root


def test_one_image_folder_is_a_clear_error(tmp_path, capsys):
    data = _one_class_folder(tmp_path / "one", 1, 1)
    code, _, err = _train_cli(capsys, data, tmp_path / "run")
    assert code == 2
    assert "training needs at least one training and one validation image" in err
    assert "the split gave 0 and 1" in err and "Traceback" not in err


def test_all_ignore_masks_report_only_the_files_written(tmp_path, capsys):
    data = _one_class_folder(tmp_path / "void", 6, 255)
    with pytest.warns(UserWarning, match="no epoch had a finite validation miou"):
        code, out, _ = _train_cli(capsys, data, tmp_path / "run")
    assert code == 0
    assert not (tmp_path / "run" / "best.pt").exists()
    assert f"run folder: {tmp_path / 'run'} (last.pt, log.csv)" in out


def test_foreground_monitor_needs_two_classes(dataset, tmp_path):
    config = TrainConfig(
        data=str(dataset), dataset="folder", out=str(tmp_path / "run"), img_size=32,
        epochs=1, model_kwargs={"base_channels": 4}, monitor="fg_iou",
    )  # fmt: skip
    with pytest.raises(ValueError, match="--monitor fg_iou scores the one foreground class"):
        train(config, progress=False)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "nan"], "lr must be a finite number, got nan"),
        (["--img-size", "1000000"], "img_size must be at most 4096"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--model-arg", "bogus=1"], "model 'unet' got unexpected argument\\(s\\) bogus"),
        (["--model-arg", "nokey"], "expected key=value, got 'nokey'"),
        (["--class-weights", "1", "nan", "1"], "each class weight must be a finite number"),
    ],
)
def test_bad_numbers_and_model_arguments(flags, message, dataset, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, _, err = _train_cli(capsys, dataset, tmp_path / "run", *flags)
    assert code == 2
    assert err.startswith("seglab train: error: ")
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
