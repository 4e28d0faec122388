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
        ("epochs", 0, "epochs must be >= 1"),
        ("batch_size", 0, "batch_size must be >= 1"),
        ("img_size", 16, "img_size must be >= 32"),
        ("lr", 0.0, "lr must be > 0"),
        ("val_fraction", 1.0, "val_fraction must be in \\(0, 1\\)"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(data="x", **{field: value})


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
