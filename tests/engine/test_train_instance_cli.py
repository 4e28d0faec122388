"""``seglab train-instance`` on a COCO file with two classes and on a DSB folder, then
``seglab instance`` with what it trained."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from seglab.checkpoint import load_checkpoint
from seglab.cli import main

TINY = ["--base-channels", "2", "--crop-size", "32", "--batch-size", "2", "--quiet"]


def coco_dataset(tmp_path, images: int = 11):
    """Blobs on a dark background: squares are 'cell' (id 7), discs 'nucleus' (id 3)."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    records, annotations = [], []
    yy, xx = np.mgrid[:40, :40]
    for k in range(images):
        picture = rng.integers(0, 30, (40, 40, 3)).astype(np.uint8)
        cy, cx = rng.integers(10, 30, size=2)
        picture[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] = 220
        picture[2:10, 2:10] = 150
        Image.fromarray(picture).save(folder / f"{k}.png")
        records.append({"id": k + 1, "file_name": f"{k}.png", "height": 40, "width": 40})
        disc = [
            float(v)
            for a in np.linspace(0, 2 * np.pi, 12, endpoint=False)
            for v in (cx + 5 * np.cos(a), cy + 5 * np.sin(a))
        ]
        annotations += [
            {"id": 2 * k + 1, "image_id": k + 1, "category_id": 3, "segmentation": [disc]},
            {
                "id": 2 * k + 2,
                "image_id": k + 1,
                "category_id": 7,
                "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10]],
            },
        ]
    path = tmp_path / "ann.json"
    path.write_text(
        json.dumps(
            {
                "images": records,
                "annotations": annotations,
                "categories": [{"id": 7, "name": "cell"}, {"id": 3, "name": "nucleus"}],
            }
        )
    )
    return path, folder


def test_coco_training_gives_classes_and_category_ids(tmp_path):
    path, folder = coco_dataset(tmp_path)
    run = tmp_path / "run"
    argv = ["train-instance", "--data", str(path), "--images", str(folder), "--out", str(run)]
    assert main([*argv, *TINY, "--steps", "10"]) == 0
    state = load_checkpoint(run / "last.pt")
    assert state["class_names"] == ["background", "nucleus", "cell"]
    assert state["category_ids"] == [3, 7] and state.model["num_classes"] == 3
    assert state["train_args"]["val_ids"] == ["0.png", "10.png"]  # ids 1 and 11: every tenth
    assert len(state["train_args"]["image_ids"]) == 9
    assert (run / "best.pt").is_file() and (run / "curves.png").is_file()
    with (run / "log.csv").open() as handle:
        assert any(row["dsb"] for row in csv.DictReader(handle))
    # A rerun into the same folder needs --resume or --overwrite.
    assert main([*argv, *TINY, "--steps", "10"]) == 2
    assert main([*argv, *TINY, "--steps", "12", "--resume"]) == 0
    assert load_checkpoint(run / "last.pt")["step"] == 12

    # Inference: results carry the file's category ids, never a made-up 1 or 2.
    grouping = {"threshold": -1e9, "nms_kernel": 3, "foreground_threshold": -1.0}
    payload = dict(load_checkpoint(run / "last.pt"))
    payload["grouping"] = grouping
    from seglab.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "model.pt", payload)
    out = tmp_path / "pred"
    image = str(folder / "3.png")
    assert (
        main(
            [
                "instance",
                image,
                "--checkpoint",
                str(tmp_path / "model.pt"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    assert results and {r["category_id"] for r in results} <= {3, 7}


def test_coco_errors(tmp_path, capsys):
    path, folder = coco_dataset(tmp_path, images=2)
    run = str(tmp_path / "run")
    assert main(["train-instance", "--data", str(path), "--out", run, *TINY]) == 2
    assert "a COCO file needs --images" in capsys.readouterr().err
    data = json.loads(path.read_text())
    data["annotations"][1]["category_id"] = 99
    path.write_text(json.dumps(data))
    code = main(["train-instance", "--data", str(path), "--images", str(folder), "--out", run])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "annotations[1].category_id: 99 is not a category id (annotation id 2)" in err


def test_dsb_folder_training(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for k in range(11):
        image_id = f"id{k:02d}"
        (tmp_path / "dsb" / image_id / "images").mkdir(parents=True)
        (tmp_path / "dsb" / image_id / "masks").mkdir()
        picture = rng.integers(0, 20, (36, 36, 4)).astype(np.uint8)
        picture[..., 3] = 255  # RGBA, as in the Kaggle files
        picture[8:18, 8:18, :3] = 200
        Image.fromarray(picture).save(tmp_path / "dsb" / image_id / "images" / f"{image_id}.png")
        mask = np.zeros((36, 36), np.uint8)
        mask[8:18, 8:18] = 255
        Image.fromarray(mask).save(tmp_path / "dsb" / image_id / "masks" / "m.png")
    run = tmp_path / "run"
    argv = ["train-instance", "--data", str(tmp_path / "dsb"), "--out", str(run), *TINY]
    assert main([*argv, "--steps", "6"]) == 0
    assert "trained 6 steps" in capsys.readouterr().out
    state = load_checkpoint(run / "last.pt")
    assert state["train_args"]["val_ids"] == ["id00", "id10"]
    assert state["class_names"] == ["background", "nucleus"] and state["category_ids"] == [1]
    assert main([*argv, "--images", str(tmp_path), "--overwrite"]) == 2


def test_bad_split(tmp_path, capsys):
    path, folder = coco_dataset(tmp_path, images=2)
    argv = ["train-instance", "--data", str(path), "--images", str(folder), "--split", "nope"]
    assert main([*argv, "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "unknown split 'nope'; choose one of fit, val, all" in capsys.readouterr().err


def test_torchrun_trains_an_instance_model(tmp_path, torchrun_command):
    import os
    import subprocess

    path, folder = coco_dataset(tmp_path, images=11)
    args = ["--data", str(path), "--images", str(folder), *TINY, "--steps", "4"]
    assert main(["train-instance", *args, "--out", str(tmp_path / "one")]) == 0
    finished = subprocess.run(
        torchrun_command("-m", "seglab", "train-instance", *args, "--out", str(tmp_path / "two")),
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    state = load_checkpoint(tmp_path / "two" / "last.pt")
    assert state["step"] == 4 and state["class_names"] == ["background", "nucleus", "cell"]
    assert state["train_args"]["batch_size"] == 2  # the global batch: one crop per process
    assert (tmp_path / "two" / "best.pt").is_file() and (tmp_path / "two" / "curves.png").is_file()

    def steps(run: str) -> list[str]:
        with (tmp_path / run / "log.csv").open() as handle:
            return [row["step"] for row in csv.DictReader(handle)]

    assert steps("two") == steps("one")  # one process wrote the log, row for row
    assert finished.stdout.count("trained 4 steps") == 1  # rank 0 reports for all
