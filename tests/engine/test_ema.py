"""The weight average: the update rule by hand, its buffers, and its use in a training run."""

from __future__ import annotations

import pytest
import torch

from seglab.checkpoint import load_checkpoint
from seglab.engine.config import TrainConfig
from seglab.engine.ema import ModelEma
from seglab.engine.train import train


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))


def test_update_follows_the_warmed_up_decay_by_hand():
    model = _model()
    ema = ModelEma(model, decay=0.5)
    start = model[0].weight.detach().clone()
    # Update 0 uses min(0.5, 1/10) = 0.1, update 1 uses min(0.5, 2/11) = 2/11.
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    ema.update(model)
    expected = 0.1 * start + 0.9 * 1.0
    torch.testing.assert_close(ema.module[0].weight, expected, rtol=0, atol=1e-7)
    with torch.no_grad():
        model[0].weight.fill_(3.0)
    ema.update(model)
    expected = 2 / 11 * expected + 9 / 11 * 3.0
    torch.testing.assert_close(ema.module[0].weight, expected, rtol=0, atol=1e-6)
    assert ema.updates == 2
    assert ema.current_decay() == pytest.approx(3 / 12)


def test_update_without_warmup_uses_the_decay_and_averages_buffers():
    model = _model()
    ema = ModelEma(model, decay=0.75, warmup=False)
    model.train()
    model(torch.randn(4, 1, 3, 3) * 2 + 5)  # moves running_mean, running_var and the counter
    ema.update(model)
    bn, ema_bn = model[1], ema.module[1]
    torch.testing.assert_close(ema_bn.running_mean, 0.25 * bn.running_mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        ema_bn.running_var, 0.75 * torch.ones(2) + 0.25 * bn.running_var, rtol=0, atol=1e-6
    )
    # An integer counter cannot be averaged: it is copied.
    assert int(ema_bn.num_batches_tracked) == int(bn.num_batches_tracked) == 1


def test_average_does_not_train_and_round_trips():
    model = _model()
    ema = ModelEma(model, decay=0.9)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training
    with torch.no_grad():
        model[0].bias.add_(1.0)
    ema.update(model)
    restored = ModelEma(_model(), decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 1
    torch.testing.assert_close(restored.module[0].bias, ema.module[0].bias, rtol=0, atol=0)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_bad_decay_is_refused(decay):
    with pytest.raises(ValueError, match=r"EMA decay must be in \(0, 1\)"):
        ModelEma(_model(), decay)
    with pytest.raises(ValueError, match=r"ema decay must be in \(0, 1\)"):
        TrainConfig(data="x", ema=decay)


def test_training_with_ema_saves_the_average_as_best(folder_dataset, tmp_path):
    config = TrainConfig(
        data=str(folder_dataset),
        dataset="folder",
        out=str(tmp_path / "run"),
        model="unet",
        model_kwargs={"base_channels": 8},
        img_size=32,
        batch_size=4,
        epochs=1,
        lr=3e-3,
        val_fraction=0.25,
        warmup_epochs=0.0,
        ema=0.9,
    )
    result = train(config, progress=False)
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    # 9 training images in batches of 4 with the last one dropped: 2 updates.
    assert last["ema"]["updates"] == 2
    key = "head.weight"
    torch.testing.assert_close(best["state_dict"][key], last["ema"]["state_dict"][key])
    assert not torch.equal(best["state_dict"][key], last["state_dict"][key])
    # The validation score is the average's: rebuild it and score it again.
    from seglab.checkpoint import model_from_checkpoint
    from seglab.engine.datasets import build_data, make_val_loader
    from seglab.engine.evaluate import evaluate_model

    data = build_data(config)
    metrics = evaluate_model(
        model_from_checkpoint(best),
        make_val_loader(data.val, config),
        task=data.task,
        num_classes=data.num_classes,
        ignore_index=data.ignore_index,
        device=torch.device("cpu"),
    )
    assert metrics["miou"] == pytest.approx(result.best["miou"], abs=1e-9)


def test_augmentation_settings_reach_the_transforms(folder_dataset, tmp_path):
    from seglab.data import transforms as T
    from seglab.engine.datasets import _augmentation

    config = TrainConfig(data="x", aug_scale=(0.5, 2), aug_rotation=0)
    steps = _augmentation(config, ignore_index=None).transforms
    assert steps[0].scale == (0.5, 2.0)
    assert not any(isinstance(step, T.RandomRotation) for step in steps)
    steps = _augmentation(TrainConfig(data="x", aug_rotation=25), ignore_index=None).transforms
    assert [s.degrees for s in steps if isinstance(s, T.RandomRotation)] == [(-25.0, 25.0)]
    with pytest.raises(ValueError, match="aug_scale must be a range"):
        TrainConfig(data="x", aug_scale=(1.5, 1.0))
    with pytest.raises(ValueError, match=r"aug_rotation must be in \[0, 180\] degrees"):
        TrainConfig(data="x", aug_rotation=-1)


def test_colour_settings_reach_the_transforms():
    from seglab.data import transforms as T
    from seglab.engine.datasets import _augmentation

    steps = _augmentation(TrainConfig(data="x"), ignore_index=None).transforms
    jitter = [step for step in steps if isinstance(step, T.ColorJitter)]
    assert [j.hue for j in jitter] == [0.02]  # the default, as the shipped model was trained
    assert not any(isinstance(step, T.RandomGrayscale) for step in steps)
    config = TrainConfig(data="x", aug_hue=0.5, aug_gray=0.25)
    steps = _augmentation(config, ignore_index=None).transforms
    assert [s.hue for s in steps if isinstance(s, T.ColorJitter)] == [0.5]
    assert [s.p for s in steps if isinstance(s, T.RandomGrayscale)] == [0.25]
    with pytest.raises(ValueError, match=r"aug_hue must be in \[0, 0.5\] turns, got 0.6"):
        TrainConfig(data="x", aug_hue=0.6)
    with pytest.raises(ValueError, match=r"aug_gray must be a probability in \[0, 1\], got -0.1"):
        TrainConfig(data="x", aug_gray=-0.1)
