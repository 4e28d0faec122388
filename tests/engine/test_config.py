"""TrainConfig validation and the learning-rate schedules."""

from __future__ import annotations

import math

import pytest

from seglab.engine.config import TrainConfig
from seglab.engine.schedule import lr_factor


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dataset", "coco", "unknown dataset 'coco'; choose one of oxford-pet, folder"),
        ("loss", "focal", "unknown loss 'focal'; choose one of ce, bce, dice, ce\\+dice"),
        ("monitor", "ap", "unknown monitor 'ap'"),
        ("device", "tpu", "unknown device 'tpu'; choose one of auto, cpu, cuda"),
        ("amp", "fp8", "unknown amp 'fp8'"),
        ("budget_clock", "gpu", "unknown budget_clock 'gpu'; choose one of wall, cpu"),
        ("loggers", ["mlflow"], "unknown logger 'mlflow'; choose one of tensorboard, wandb"),
        ("epochs", 0, "epochs must be an integer >= 1, got 0"),
        ("epochs", 2.5, "epochs must be an integer >= 1, got 2.5"),
        ("batch_size", 0, "batch_size must be an integer >= 1"),
        ("img_size", 16, "img_size must be an integer >= 32"),
        ("img_size", 100_000, "img_size must be at most 4096, got 100000"),
        ("num_classes", 0, "num_classes must be an integer >= 1"),
        ("num_classes", 10**6, "num_classes must be at most 1024"),
        ("num_workers", -1, "num_workers must be an integer >= 0"),
        ("patience", 0, "patience must be an integer >= 1"),
        ("seed", -1, "seed must be an integer >= 0"),
        ("lr", 0.0, "lr must be > 0"),
        ("lr", float("nan"), "lr must be a finite number, got nan"),
        ("lr", float("inf"), "lr must be a finite number, got inf"),
        ("weight_decay", -0.1, "weight_decay must be >= 0"),
        ("warmup_epochs", float("nan"), "warmup_epochs must be a finite number"),
        ("clip_grad", -1.0, "clip_grad must be > 0"),
        ("time_budget", 0.0, "time_budget must be > 0"),
        ("class_weights", [1.0, float("nan")], "each class weight must be a finite number"),
        ("class_weights", [1.0, -2.0], "each class weight must be >= 0"),
        ("aug_rotation", float("nan"), "aug_rotation must be in \\[0, 180\\] degrees"),
        ("aug_scale", (0.5, 1e9), "aug_scale must be a range 0 < low <= high <= 10"),
        ("val_fraction", 1.0, "val_fraction must be in \\(0, 1\\)"),
        ("val_fraction", float("nan"), "val_fraction must be in \\(0, 1\\)"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(data="x", **{field: value})


def test_resume_and_overwrite_exclude_each_other():
    with pytest.raises(ValueError, match="resume continues the run in out, overwrite replaces"):
        TrainConfig(data="x", resume=True, overwrite=True)


def test_config_round_trips_through_dict():
    config = TrainConfig(data="d", model="fcn8s", model_kwargs={"width": 0.5}, epochs=3)
    again = TrainConfig.from_dict({**config.to_dict(), "unknown_future_key": 1})
    assert again == config


def test_schedules_match_their_formulas():
    assert lr_factor(0.0, schedule="cosine") == pytest.approx(1.0)
    assert lr_factor(0.5, schedule="cosine") == pytest.approx(0.5)
    assert lr_factor(1.0, schedule="cosine") == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0.25, schedule="cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(0.5, schedule="poly", power=0.9) == pytest.approx(0.5**0.9)
    assert lr_factor(0.7, schedule="constant") == 1.0
    # Linear warm-up over the first 10%, then the schedule over the remaining 90%.
    assert lr_factor(0.05, schedule="cosine", warmup=0.1) == pytest.approx(0.5)
    assert lr_factor(0.55, schedule="cosine", warmup=0.1) == pytest.approx(0.5)


def test_schedule_errors():
    with pytest.raises(
        ValueError, match="unknown schedule 'step'; choose one of cosine, poly, constant"
    ):
        lr_factor(0.1, schedule="step")
    with pytest.raises(ValueError, match="warmup must be a fraction in \\[0, 1\\)"):
        lr_factor(0.1, warmup=1.0)


def test_old_checkpoints_draw_their_split_from_the_training_seed():
    # Before split_seed existed, the validation split came from ``seed``.
    assert TrainConfig.from_dict({"data": "d", "seed": 3}).split_seed == 3
    assert TrainConfig.from_dict({"data": "d", "seed": 3, "split_seed": 0}).split_seed == 0
    assert TrainConfig(data="d", seed=3).split_seed == 0
