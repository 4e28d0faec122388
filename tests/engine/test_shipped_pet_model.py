"""The pet model that ships inside the package: size, classes, a sample photo, held-out pets."""

from __future__ import annotations

from pathlib import Path

import pytest

from seglab.checkpoint import load_checkpoint
from seglab.engine.predict import Predictor
from seglab.pretrained import default_checkpoint
from seglab.samples import load_sample

PETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "oxford-iiit-pet"


def test_shipped_model_is_small_binary_and_inside_the_package():
    path = default_checkpoint()
    assert path.parent.name == "weights" and path.parent.parent.name == "seglab"
    assert path.stat().st_size < 10 * 1024 * 1024
    state = load_checkpoint(path)
    assert state["class_names"] == ["background", "pet"]
    assert state["preprocess"]["size"] == [128, 128]


def test_the_sample_cat_is_mostly_pet():
    cat = load_sample("chelsea")  # a close-up: the cat fills most of the frame
    mask = Predictor().predict(cat)
    assert mask.shape == cat.shape[:2]
    assert 0.6 < float((mask == 1).mean()) < 0.95


@pytest.mark.skipif(not PETS.is_dir(), reason="the shared Oxford-IIIT Pet data is not here")
def test_held_out_pets_reach_the_recorded_quality():
    from seglab.engine.evaluate import evaluate_checkpoint

    metrics = evaluate_checkpoint(default_checkpoint(), PETS, split="val", progress=False)
    # docs/benchmarks.md records the figure on these 45 images; a regression shows here.
    assert metrics["fg_iou"] >= 0.82
