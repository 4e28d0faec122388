"""Training end to end on tiny data: metrics, checkpoints, resume after a kill, NaN stop."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from seglab.checkpoint import load_checkpoint, model_from_checkpoint
from seglab.engine.config import TrainConfig
from seglab.engine.datasets import build_split
from seglab.engine.train import NonFiniteLossError, train

TINY_UNET = {"base_channels": 8}


def _config(data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        data=str(data),
        dataset="folder",
        out=str(out),
        model="unet",
        model_kwargs=TINY_UNET,
        img_size=32,
        batch_size=4,
        epochs=2,
        lr=3e-3,
        val_fraction=0.25,
        monitor="miou",
        warmup_epochs=0.0,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_train_writes_checkpoints_log_and_plots(folder_dataset, tmp_path):
    result = train(_config(folder_dataset, tmp_path / "run"), progress=False)
    out = tmp_path / "run"
    for name in ("best.pt", "last.pt", "log.csv", "curves.png", "samples.png", "confusion.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert {"train_loss", "loss", "miou", "pixel_accuracy", "mean_dice"} <= set(rows[0])
    assert result.epochs_run == 2
    assert 0.0 <= result.best["miou"] <= 1.0
    # best.pt rebuilds its model from the file alone.
    state = load_checkpoint(out / "best.pt")
    assert state["class_names"] == ["background", "disc", "square"]
    model = model_from_checkpoint(state)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_loss_falls_on_learnable_data(folder_dataset, tmp_path):
    result = train(_config(folder_dataset, tmp_path / "run", epochs=6, lr=1e-2), progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.6 * losses[0]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(folder_dataset, tmp_path, monkeypatch):
    import seglab.engine.train as train_module

    real_build = train_module._build_loss
    calls = {"n": 0}

    def poisoned(config, data):
        loss = real_build(config, data)

        class Poisoned(torch.nn.Module):
            def forward(self, logits, target):
                calls["n"] += 1
                value = loss(logits, target)
                # 9 training images in batches of 4 (last dropped) + 1 validation batch:
                # the 3 calls of epoch 1 are fine, the first step of epoch 2 blows up.
                return value * float("nan") if calls["n"] > 3 else value

        return Poisoned()

    monkeypatch.setattr(train_module, "_build_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 2"):
        train(_config(folder_dataset, tmp_path / "run", epochs=3), progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 0  # the last good epoch (0-based) is kept
    assert all(
        torch.isfinite(value).all()
        for value in state["state_dict"].values()
        if value.is_floating_point()
    )


def test_resume_after_kill_matches_uninterrupted_run(folder_dataset, tmp_path):
    """Really interrupt a training subprocess with SIGKILL, resume it, compare the weights.

    The run keeps a weight average (``--ema``), so its restore is checked as well.
    """
    epochs = 4
    args = [
        sys.executable,
        "-m",
        "seglab",
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
        str(epochs),
        "--val-fraction",
        "0.25",
        "--warmup-epochs",
        "0",
        "--ema",
        "0.9",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run([*args, "--out", str(full)], check=True, env=env, timeout=600)

    cut = tmp_path / "cut"
    process = subprocess.Popen([*args, "--out", str(cut)], env=env)
    log = cut / "log.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.is_file() and len(log.read_text().strip().splitlines()) >= 3:  # header + 2 epochs
            break
        if process.poll() is not None:
            pytest.fail("training finished before it could be interrupted")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = load_checkpoint(cut / "last.pt")["epoch"] + 1
    assert 2 <= interrupted_at < epochs

    subprocess.run([*args, "--out", str(cut), "--resume"], check=True, env=env, timeout=600)
    a = load_checkpoint(full / "last.pt")
    b = load_checkpoint(cut / "last.pt")
    assert a["epoch"] == b["epoch"] == epochs - 1
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)
    # The weight average is restored too, with its update count.
    assert a["ema"]["updates"] == b["ema"]["updates"] > 0
    for key, value in a["ema"]["state_dict"].items():
        torch.testing.assert_close(b["ema"]["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)
    assert [row["epoch"] for row in b["history"]] == list(range(1, epochs + 1))


def test_multilabel_pet_head_trains_with_bce(pet_dataset, tmp_path):
    config = TrainConfig(
        data=str(pet_dataset),
        dataset="oxford-pet",
        mode="pet_head",
        out=str(tmp_path / "ml"),
        model="unet",
        model_kwargs=TINY_UNET,
        img_size=32,
        batch_size=4,
        epochs=1,
        loss="bce",
        val_fraction=0.25,
    )
    result = train(config, progress=False)
    assert len(result.best["iou"]) == 2  # one IoU per label: pet, head
    # log.csv has one IoU column per label.
    assert {"iou_pet", "iou_head"} <= set(result.history[0])
    state = load_checkpoint(tmp_path / "ml" / "best.pt")
    assert state["task"] == "multilabel"


@pytest.mark.parametrize("loss", ["ce", "lovasz", "ce+lovasz"])
def test_softmax_losses_on_multilabel_data_are_refused(pet_dataset, tmp_path, loss):
    config = TrainConfig(
        data=str(pet_dataset),
        dataset="oxford-pet",
        mode="pet_head",
        out=str(tmp_path / "x"),
        model="unet",
        model_kwargs=TINY_UNET,
        img_size=32,
        epochs=1,
        loss=loss,
    )
    with pytest.raises(ValueError, match=f"loss '{re.escape(loss)}' is .*for exclusive classes"):
        train(config, progress=False)


def test_ce_lovasz_trains_and_lowers_the_loss(folder_dataset, tmp_path):
    config = _config(folder_dataset, tmp_path / "run", epochs=6, lr=1e-2, loss="ce+lovasz")
    result = train(config, progress=False)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.8 * losses[0]


def test_bce_on_exclusive_classes_is_refused(folder_dataset, tmp_path):
    with pytest.raises(ValueError, match="loss 'bce' is for multi-label data"):
        train(_config(folder_dataset, tmp_path / "x", loss="bce"), progress=False)


def test_class_weights_length_is_checked(folder_dataset, tmp_path):
    with pytest.raises(ValueError, match="class_weights has 2 values for 3 classes"):
        train(_config(folder_dataset, tmp_path / "x", class_weights=[1.0, 2.0]), progress=False)


def test_early_stopping(folder_dataset, tmp_path, monkeypatch):
    import seglab.engine.train as train_module

    real_evaluate = train_module.evaluate_model
    scripted = iter([0.5, 0.6, 0.55, 0.58, 0.9, 0.95])

    def scripted_evaluate(*args, **kwargs):
        metrics = real_evaluate(*args, **kwargs)
        return {**metrics, "miou": next(scripted)}

    monkeypatch.setattr(train_module, "evaluate_model", scripted_evaluate)
    # Best mIoU at epoch 2; epochs 3 and 4 do not beat it, so patience 2 stops after epoch 4.
    config = _config(folder_dataset, tmp_path / "run", epochs=6, patience=2)
    result = train(config, progress=False)
    assert result.stopped_early
    assert result.epochs_run == 4
    assert result.best["epoch"] == 2 and result.best["miou"] == 0.6
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == 1  # 0-based epoch 2


def test_time_budget_stops_inside_an_epoch(folder_dataset, tmp_path):
    # 9 training images in batches of 1; a budget of ~0 s is spent after the first step, so
    # the epoch stops there instead of training the remaining steps at learning rate 0.
    config = _config(folder_dataset, tmp_path / "run", batch_size=1, epochs=5, time_budget=1e-6)
    result = train(config, progress=False)
    assert result.epochs_run == 1
    assert result.stopped_early
    assert result.history[0]["train_images"] == 1
    assert (tmp_path / "run" / "best.pt").is_file()


def test_cpu_budget_clock_counts_process_cpu_time(folder_dataset, tmp_path, monkeypatch):
    # A CPU-time budget ignores wall time: a frozen process clock never spends the budget,
    # so all epochs run; each epoch logs the CPU seconds it trained.
    monkeypatch.setattr("seglab.engine.loop.time.process_time", lambda: 0.0)
    config = _config(
        folder_dataset, tmp_path / "run", epochs=2, time_budget=1e-6, budget_clock="cpu"
    )
    result = train(config, progress=False)
    assert result.epochs_run == 2
    assert not result.stopped_early
    assert all(row["train_cpu_seconds"] == 0.0 for row in result.history)


def test_init_from_starts_from_another_runs_weights(folder_dataset, tmp_path):
    train(_config(folder_dataset, tmp_path / "a", epochs=1), progress=False)
    start = load_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    # A learning rate of 1e-12 leaves the weights where they started.
    train(
        _config(
            folder_dataset,
            tmp_path / "b",
            epochs=1,
            lr=1e-12,
            init_from=str(tmp_path / "a" / "last.pt"),
        ),
        progress=False,
    )
    tuned = load_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    weights = [key for key in start if key.endswith("weight") and start[key].dim() == 4]
    for key in weights:
        torch.testing.assert_close(tuned[key], start[key], rtol=0, atol=1e-6)
    # Without init_from the same seed starts from the random initialisation instead.
    train(_config(folder_dataset, tmp_path / "c", epochs=1, lr=1e-12), progress=False)
    fresh = load_checkpoint(tmp_path / "c" / "last.pt")["state_dict"]
    assert any(not torch.allclose(fresh[key], start[key]) for key in weights)


def test_init_from_refuses_another_architecture(folder_dataset, tmp_path):
    train(_config(folder_dataset, tmp_path / "a", epochs=1), progress=False)
    source = str(tmp_path / "a" / "last.pt")
    with pytest.raises(ValueError, match="holds a 'unet' model, this run trains 'fcn32s'"):
        train(
            _config(
                folder_dataset,
                tmp_path / "b",
                model="fcn32s",
                model_kwargs={"width": 0.125},
                init_from=source,
            ),
            progress=False,
        )
    with pytest.raises(ValueError, match="does not fit this model"):
        train(
            _config(
                folder_dataset, tmp_path / "c", model_kwargs={"base_channels": 4}, init_from=source
            ),
            progress=False,
        )


def _val_stems(data: Path, **overrides) -> list[str]:
    config = TrainConfig(
        data=str(data), dataset="oxford-pet", cache="none", val_fraction=0.3, **overrides
    )
    return list(build_split(config, "val").dataset.dataset.stems)


def test_training_seed_leaves_the_validation_split_alone(pet_dataset):
    held_out = _val_stems(pet_dataset)
    assert held_out
    assert _val_stems(pet_dataset, seed=5) == held_out
    assert any(_val_stems(pet_dataset, split_seed=s) != held_out for s in (1, 2, 3))


def test_init_from_another_split_warns_of_leaked_validation_images(folder_dataset, tmp_path):
    train(_config(folder_dataset, tmp_path / "a", epochs=1), progress=False)
    source = str(tmp_path / "a" / "last.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same split, another training seed: no warning
        train(
            _config(folder_dataset, tmp_path / "b", epochs=1, seed=4, init_from=source),
            progress=False,
        )
    with pytest.warns(UserWarning, match="split_seed=0, val_fraction=0.25; this run validates on"):
        train(
            _config(folder_dataset, tmp_path / "c", epochs=1, split_seed=1, init_from=source),
            progress=False,
        )


def test_split_warning_skips_arguments_it_cannot_read(tmp_path):
    from seglab.engine.train import _warn_if_split_differs

    config = TrainConfig(data=str(tmp_path), split_seed=1, init_from="init.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_split_differs({"data": str(tmp_path), "loss": "from-a-later-version"}, config)
    with pytest.warns(UserWarning, match="split_seed=0, val_fraction=0.1; this run"):
        _warn_if_split_differs({"data": str(tmp_path)}, config)


def test_copy_paste_runs_on_every_training_batch(folder_dataset, tmp_path, monkeypatch):
    import seglab.engine.train as train_module

    calls = []
    real = train_module.copy_paste

    def counting(images, targets, **kwargs):
        calls.append((images.shape[0], kwargs["p"]))
        return real(images, targets, **kwargs)

    monkeypatch.setattr(train_module, "copy_paste", counting)
    train(_config(folder_dataset, tmp_path / "run", epochs=1, copy_paste=0.7), progress=False)
    assert calls == [(4, 0.7), (4, 0.7)]  # 9 training images, batches of 4, last dropped
    with pytest.raises(ValueError, match=r"copy_paste must be a probability in \[0, 1\]"):
        _config(folder_dataset, tmp_path / "bad", copy_paste=2.0)
