"""``seglab train``'s flags are generated from TrainConfig: each setting is written once, and
the flags users' scripts hold keep their names, defaults, choices and errors."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from seglab.cli import main
from seglab.commands import train as train_command
from seglab.engine.config import (
    AMP_MODES,
    BUDGET_CLOCKS,
    CACHES,
    DATASETS,
    DEVICES,
    LOGGERS,
    LOSSES,
    MONITORS,
    NORMALIZATIONS,
    SCHEDULES,
    TrainConfig,
)

# TrainConfig fields with no flag, on purpose. A new field is a flag unless it is listed here
# (and marked with metadata={"cli": False}).
PYTHON_ONLY: set[str] = set()

# Every option of `seglab train`, spelled as before the flags were generated.
TRAIN_FLAGS = {
    "--data", "--dataset", "--out", "--model", "--model-arg", "--mode", "--num-classes",
    "--img-size", "--batch-size", "--epochs", "--loss", "--lr", "--weight-decay", "--schedule",
    "--warmup-epochs", "--clip-grad", "--class-weights", "--ema", "--device", "--amp",
    "--channels-last", "--compile", "--sync-bn", "--seed", "--split-seed", "--deterministic",
    "--val-fraction", "--best-metric", "--monitor", "--patience", "--time-budget",
    "--init-from", "--budget-clock", "--resume", "--overwrite", "--trust-checkpoint",
    "--logger", "--num-workers", "--cache", "--no-augment", "--aug-scale", "--aug-rotation",
    "--aug-hue", "--aug-gray", "--copy-paste", "--normalize", "--quiet",
}  # fmt: skip

# Sets every field away from its default (resume is tested apart: it excludes --overwrite).
FULL_ARGV = [
    "--data", "d", "--dataset", "folder", "--out", "o", "--model", "fcn8s",
    "--model-arg", "width=0.5", "--model-arg", "name=small", "--mode", "trimap",
    "--num-classes", "3", "--img-size", "64", "--batch-size", "4", "--epochs", "3",
    "--loss", "dice", "--lr", "0.01", "--weight-decay", "0", "--schedule", "poly",
    "--warmup-epochs", "0.5", "--clip-grad", "0", "--ema", "0.99",
    "--class-weights", "1", "2", "0.5", "--device", "cpu", "--amp", "off", "--channels-last",
    "--compile", "--sync-bn", "--seed", "7", "--split-seed", "8", "--deterministic",
    "--val-fraction", "0.2", "--monitor", "loss", "--patience", "2", "--time-budget", "1.5",
    "--budget-clock", "cpu", "--overwrite", "--trust-checkpoint", "--init-from", "init.pt",
    "--logger", "tensorboard", "--logger", "wandb", "--num-workers", "1", "--cache", "disk",
    "--no-augment", "--aug-scale", "0.5", "2", "--aug-rotation", "0", "--aug-hue", "0.1",
    "--aug-gray", "0.3", "--copy-paste", "0.4", "--normalize", "imagenet", "--quiet",
]  # fmt: skip

FULL_CONFIG = TrainConfig(
    data="d",
    dataset="folder",
    out="o",
    model="fcn8s",
    model_kwargs={"width": 0.5, "name": "small"},
    mode="trimap",
    num_classes=3,
    img_size=64,
    batch_size=4,
    epochs=3,
    loss="dice",
    lr=0.01,
    weight_decay=0.0,
    schedule="poly",
    warmup_epochs=0.5,
    clip_grad=None,
    ema=0.99,
    class_weights=[1.0, 2.0, 0.5],
    device="cpu",
    amp="off",
    channels_last=True,
    compile=True,
    sync_bn=True,
    seed=7,
    split_seed=8,
    deterministic=True,
    val_fraction=0.2,
    monitor="loss",
    patience=2,
    time_budget=1.5,
    budget_clock="cpu",
    resume=False,
    overwrite=True,
    trust_checkpoint=True,
    init_from="init.pt",
    loggers=["tensorboard", "wandb"],
    num_workers=1,
    cache="disk",
    augment=False,
    aug_scale=(0.5, 2.0),
    aug_rotation=0.0,
    aug_hue=0.1,
    aug_gray=0.3,
    copy_paste=0.4,
    normalize="imagenet",
)


@pytest.fixture
def train_parser() -> argparse.ArgumentParser:
    return train_command.add_parser(argparse.ArgumentParser().add_subparsers())


@pytest.fixture
def fake_train(monkeypatch):
    """Replaces seglab.engine.train.train; records its arguments and stops before any data."""
    import seglab.engine.train as train_module

    seen = {}

    def fake(config, **options):
        seen.update(config=config, **options)
        raise SystemExit(0)

    monkeypatch.setattr(train_module, "train", fake)
    return seen


def _train(*argv: str) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", *argv])
    assert stop.value.code == 0


def test_every_field_is_a_flag_or_python_only(train_parser):
    fields = dataclasses.fields(TrainConfig)
    assert {f.name for f in fields if not f.metadata.get("cli", True)} == PYTHON_ONLY
    by_dest = {action.dest: action for action in train_parser._actions}
    for config_field in fields:
        if config_field.name in PYTHON_ONLY:
            assert config_field.name not in by_dest
            continue
        action = by_dest[config_field.name]
        assert action.option_strings, config_field.name
        assert action.help and action.help.strip(), f"{config_field.name} has no help text"
    options = {option for action in train_parser._actions for option in action.option_strings}
    assert options - {"-h", "--help"} == TRAIN_FLAGS


def test_full_argv_sets_every_field(fake_train):
    defaults = TrainConfig(data="d")
    for config_field in dataclasses.fields(TrainConfig):
        if config_field.name not in ("data", "resume"):
            value = getattr(FULL_CONFIG, config_field.name)
            assert value != getattr(defaults, config_field.name), config_field.name
    _train(*FULL_ARGV)
    assert fake_train["config"] == FULL_CONFIG
    assert fake_train["progress"] is False
    _train("--data", "d", "--resume", "--best-metric", "fg_iou", "--clip-grad", "0.5")
    assert fake_train["config"] == TrainConfig(
        data="d", resume=True, monitor="fg_iou", clip_grad=0.5
    )


def test_no_flags_give_the_dataclass_defaults(fake_train, tmp_path):
    _train("--data", str(tmp_path))
    assert fake_train["config"] == TrainConfig(data=str(tmp_path))
    assert fake_train["progress"] is True


def test_help_lists_every_flag(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per flag, whatever the terminal
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    for flag in TRAIN_FLAGS:
        assert f"{flag} " in shown or f"{flag}\n" in shown, flag
    assert "(default: runs/exp)" in shown  # %(default)s comes from the dataclass


@pytest.mark.parametrize(
    ("dest", "choices"),
    [
        ("dataset", DATASETS),
        ("loss", LOSSES),
        ("schedule", SCHEDULES),
        ("device", DEVICES),
        ("amp", AMP_MODES),
        ("monitor", MONITORS),
        ("budget_clock", BUDGET_CLOCKS),
        ("loggers", LOGGERS),
        ("cache", CACHES),
        ("normalize", NORMALIZATIONS),
    ],
)
def test_choices_are_the_library_lists(train_parser, dest, choices):
    (action,) = [action for action in train_parser._actions if action.dest == dest]
    assert tuple(action.choices) == tuple(choices)


def test_flags_without_choices_stay_open(train_parser):
    listed = {"dataset", "loss", "schedule", "device", "amp", "monitor", "budget_clock"}
    listed |= {"loggers", "cache", "normalize"}
    for action in train_parser._actions:
        if action.dest not in listed:
            assert action.choices is None, action.dest


@pytest.mark.parametrize(
    "argv",
    [
        ["--cache", "ram"],
        ["--logger", "mlflow"],
        ["--aug-scale", "1"],
        ["--epochs", "two"],
        ["--class-weights"],
        ["--best-metric", "dice"],
    ],
)
def test_bad_flags_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", "d", *argv])
    assert stop.value.code == 2
    assert "seglab train: error: argument" in capsys.readouterr().err


def test_refused_settings_are_one_line(capsys, tmp_path):
    assert main(["train", "--data", str(tmp_path), "--epochs", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "seglab train: error: epochs must be an integer >= 1, got 0"
    )
    assert main(["train", "--data", str(tmp_path), "--model-arg", "width"]) == 2
    assert "expected key=value, got 'width'" in capsys.readouterr().err


def test_an_unknown_field_type_is_a_clear_bug(monkeypatch):
    hints = dict(train_command._type_hints())
    hints["seed"] = set[int]
    monkeypatch.setattr(train_command, "_type_hints", lambda: hints)
    (seed,) = [f for f in dataclasses.fields(TrainConfig) if f.name == "seed"]
    with pytest.raises(TypeError, match=r"TrainConfig.seed: no flag for the type set\[int\]"):
        train_command._flag(seed)


def test_train_passes_the_budget_clock_and_colour_options(monkeypatch, tmp_path):
    import seglab.engine.train as train_module

    seen = {}

    def fake_train(config, **options):
        seen["config"] = config
        raise SystemExit(0)  # stop before any data is read

    monkeypatch.setattr(train_module, "train", fake_train)
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--time-budget", "2", "--budget-clock", "cpu"])
    assert seen["config"].budget_clock == "cpu" and seen["config"].time_budget == 2.0
    assert (seen["config"].aug_hue, seen["config"].aug_gray) == (0.02, 0.0)
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--aug-hue", "0.5", "--aug-gray", "0.2"])
    assert (seen["config"].aug_hue, seen["config"].aug_gray) == (0.5, 0.2)
    with pytest.raises(SystemExit) as error:  # argparse: invalid choice
        main(["train", "--data", str(tmp_path), "--budget-clock", "gpu"])
    assert error.value.code == 2
