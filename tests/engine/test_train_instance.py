"""A tiny instance training run: checkpoint reload, CSV log, exact resume, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from seglab.checkpoint import load_checkpoint
from seglab.data.dsb2018 import NucleiSample
from seglab.engine.train_instance import train_instance
from seglab.models.panoptic_deeplab import instance_model_from_checkpoint


def synthetic_samples(count: int = 3, size: int = 24) -> list[NucleiSample]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    samples = []
    for k in range(count):
        labels = np.zeros((size, size), np.int32)
        for instance in range(1, 4):
            cy, cx = rng.integers(4, size - 4, size=2)
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = instance
        image = np.where(labels[..., None] > 0, 200, 30) + rng.integers(0, 20, (size, size, 3))
        samples.append(NucleiSample(f"img{k}", image.astype(np.uint8), labels))
    return samples


SETTINGS = {"base_channels": 2, "crop_size": 16, "batch_size": 2, "progress": False, "log_every": 1}


def test_two_steps_write_a_checkpoint_that_reloads(tmp_path):
    result = train_instance(
        None, tmp_path / "run", samples=synthetic_samples(), steps=2, **SETTINGS
    )
    assert result.steps == 2 and result.checkpoint == tmp_path / "run" / "last.pt"
    state = load_checkpoint(result.checkpoint)
    assert state["task"] == "instance" and state["step"] == 2
    assert state["train_args"]["image_ids"] == ["img0", "img1", "img2"]
    model = instance_model_from_checkpoint(state)
    out = model(torch.zeros(1, 3, 20, 20))
    assert out["offset"].shape == (1, 2, 20, 20)
    with (tmp_path / "run" / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["1", "2"] and all(
        float(r["train_loss"]) > 0 for r in rows
    )

    # Fine-tuning starts from those weights (a near-zero learning rate keeps them).
    tuned = train_instance(
        None,
        tmp_path / "tune",
        samples=synthetic_samples(),
        steps=1,
        lr=1e-12,
        init_from=result.checkpoint,
        **SETTINGS,
    )
    tuned_state = load_checkpoint(tuned.checkpoint)
    assert tuned_state["step"] == 1 and tuned_state["train_args"]["init_from"].endswith("last.pt")
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(tuned_state["state_dict"][name], parameter.detach())


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, monkeypatch):
    samples = synthetic_samples()
    settings = {**SETTINGS, "steps": 3, "save_every": 1}
    straight = train_instance(None, tmp_path / "a", samples=samples, **settings)

    import seglab.engine.train_instance as module

    real_loss, calls = module.instance_loss, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the process dies during step 3; last.pt holds step 2
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(module, "instance_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_instance(None, tmp_path / "b", samples=samples, **settings)
    monkeypatch.setattr(module, "instance_loss", real_loss)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 2
    resumed = train_instance(None, tmp_path / "b", samples=samples, resume=True, **settings)
    assert resumed.steps == 3
    a = load_checkpoint(straight.checkpoint)["state_dict"]
    b = load_checkpoint(resumed.checkpoint)["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    with (tmp_path / "b" / "log.csv").open() as handle:
        assert [row["step"] for row in csv.DictReader(handle)] == ["1", "2", "3"]


def test_train_errors(tmp_path):
    samples = synthetic_samples(1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train_instance(None, tmp_path, samples=samples, steps=0)
    with pytest.raises(ValueError, match="time_budget must be a positive number"):
        train_instance(None, tmp_path, samples=samples, time_budget=0)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        train_instance(None, tmp_path, samples=samples, schedule="step")
    with pytest.raises(ValueError, match="give either data"):
        train_instance(None, tmp_path)
    with pytest.raises(ValueError, match="no training images"):
        train_instance(None, tmp_path, samples=[])
    with pytest.raises(FileNotFoundError, match="cannot resume: no checkpoint"):
        train_instance(None, tmp_path / "empty", samples=samples, resume=True)


def test_validation_scores_each_epoch_and_keeps_the_best(tmp_path):
    samples = synthetic_samples(4)
    result = train_instance(
        None,
        tmp_path / "run",
        samples=samples[:2],
        val_samples=samples[2:],
        steps=2,
        ema=0.5,
        **SETTINGS,
    )
    with (tmp_path / "run" / "log.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("dsb")]
    assert [row["epoch"] for row in rows] == ["1", "2"]  # one step per epoch: 2 images, batch 2
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    scores = [float(row["dsb"]) for row in rows]
    assert best["epoch"] == scores.index(max(scores))  # the first epoch with the best score
    last = load_checkpoint(result.checkpoint)
    assert last["best_metrics"]["dsb"] == pytest.approx(max(scores))
    assert best["train_args"]["val_ids"] == ["img2", "img3"]
    assert result.history  # the rows in memory too
    with pytest.raises(
        ValueError, match="1 validation image.* are also training images, e.g. img1"
    ):
        train_instance(None, tmp_path / "x", samples=samples[:2], val_samples=samples[1:3])


def test_score_instance_maps_against_hand_counts():
    from seglab.engine.train_instance import score_instance_maps

    target = np.array([[1, 1, 0, 2, 2]])
    pred = np.array([[3, 3, 0, 0, 4]])  # object 1 exact; object 2 half covered (IoU 0.5, no match)
    scores = score_instance_maps([pred, np.zeros((2, 2), int)], [target, np.zeros((2, 2), int)])
    # DSB: 1 TP, 1 FP, 1 FN at every threshold -> 1/3 (the empty pair is NaN and skipped).
    assert scores["dsb"] == pytest.approx(1 / 3)
    assert scores["recall50"] == 0.5
    # AJI: (2 + 1) / (2 + 2) for the first image.
    assert scores["aji"] == pytest.approx(3 / 4)
