"""Soft Dice: against a brute-force NumPy Dice and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seglab.losses import (
    DiceLoss,
    dice_loss,
)

K = 4  # classes of the `batch` fixture (conftest.py)


def _dice_reference(probs, truth, valid, smooth):
    """Brute force: per class, sums over batch and pixels of the non-ignored entries."""
    losses, present = [], []
    for k in range(probs.shape[1]):
        p, t, v = probs[:, k], truth[:, k], valid[:, k]
        inter = float((p * t * v).sum())
        card = float((p * v).sum() + (t * v).sum())
        losses.append(1.0 - (2 * inter + smooth) / (card + smooth))
        present.append(float((t * v).sum()) > 0)
    losses, present = np.array(losses), np.array(present)
    return losses, present


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_softmax_matches_brute_force(batch, smooth):
    logits, target = batch
    probs = torch.softmax(logits, 1).numpy().astype(np.float64)
    t = target.numpy()
    truth = np.stack([(t == k) for k in range(K)], axis=1).astype(np.float64)
    valid = np.repeat((t != 255)[:, None], K, axis=1).astype(np.float64)
    losses, present = _dice_reference(probs, truth, valid, smooth)
    assert present.all()
    got = dice_loss(logits, target, smooth=smooth)
    assert got.item() == pytest.approx(losses.mean(), rel=1e-5)
    np.testing.assert_allclose(
        dice_loss(logits, target, smooth=smooth, reduction="none").numpy(), losses, rtol=1e-5
    )
    assert dice_loss(logits, target, smooth=smooth, reduction="sum").item() == pytest.approx(
        losses.sum(), rel=1e-5
    )
    weight = np.array([1.0, 2.0, 3.0, 4.0])
    assert dice_loss(logits, target, smooth=smooth, weight=weight).item() == pytest.approx(
        (losses * weight).sum() / weight.sum(), rel=1e-5
    )
    assert dice_loss(logits, target, smooth=smooth, classes=[1, 3]).item() == pytest.approx(
        losses[[1, 3]].mean(), rel=1e-5
    )
    assert DiceLoss(smooth=smooth, classes=[2])(logits, target).item() == pytest.approx(
        losses[2], rel=1e-5
    )


def test_dice_sigmoid_matches_brute_force(multilabel_batch):
    logits, target = multilabel_batch
    probs = torch.sigmoid(logits).numpy().astype(np.float64)
    t = target.numpy()
    valid = (t != 255).astype(np.float64)
    truth = np.where(t == 255, 0, t).astype(np.float64)
    losses, present = _dice_reference(probs, truth, valid, 1.0)
    assert present.all()
    got = dice_loss(logits, target, mode="sigmoid")
    assert got.item() == pytest.approx(losses.mean(), rel=1e-5)
    assert DiceLoss(mode="sigmoid")(logits, target.bool() & (target == 1)).item() == pytest.approx(
        _dice_reference(probs, (t == 1).astype(np.float64), np.ones_like(valid), 1.0)[0].mean(),
        rel=1e-5,
    )


def test_dice_hand_computed():
    # Pixel 0 scores (0, 0) -> p = (1/2, 1/2), class 0. Pixel 1 scores (log 3, 0) -> p = (3/4, 1/4),
    # class 1. Class 0: I = 1/2, sum p = 5/4, sum t = 1. Class 1: I = 1/4, sum p = 3/4, sum t = 1.
    logits = torch.tensor([[[[0.0, math.log(3.0)]], [[0.0, 0.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    class0 = 1 - (2 * 0.5 + 1) / (1.25 + 1 + 1)
    class1 = 1 - (2 * 0.25 + 1) / (0.75 + 1 + 1)
    assert dice_loss(logits, target).item() == pytest.approx((class0 + class1) / 2, rel=1e-6)
    no_smooth = ((1 - 1 / 2.25) + (1 - 0.5 / 1.75)) / 2
    assert dice_loss(logits, target, smooth=0.0).item() == pytest.approx(no_smooth, rel=1e-6)
    # Ignoring pixel 1 leaves class 0 alone: I = 1/2, sum p = 1/2, sum t = 1; class 1 is absent.
    ignored = torch.tensor([[[0, 255]]])
    assert dice_loss(logits, ignored).item() == pytest.approx(1 - 2 / 2.5, rel=1e-6)
    torch.testing.assert_close(
        dice_loss(logits, ignored, reduction="none"), torch.tensor([1 - 2 / 2.5, 0.0])
    )


def test_dice_leaves_absent_classes_out_of_the_mean():
    logits = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    target = torch.zeros(1, 4, 4, dtype=torch.long)  # only class 0 present
    per_class = dice_loss(logits, target, reduction="none")
    assert per_class[1].item() == 0 and per_class[2].item() == 0
    assert dice_loss(logits, target).item() == pytest.approx(per_class[0].item(), rel=1e-6)


def test_dice_errors(batch):
    logits, target = batch
    with pytest.raises(ValueError, match="unknown mode 'softmaxx'; choose one of softmax, sigmoid"):
        dice_loss(logits, target, mode="softmaxx")
    with pytest.raises(ValueError, match="unknown mode"):
        DiceLoss(mode="tanh")
    with pytest.raises(ValueError, match="unknown reduction"):
        DiceLoss(reduction="avg")
    with pytest.raises(ValueError, match="smooth must be >= 0"):
        dice_loss(logits, target, smooth=-1.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        dice_loss(logits, target, eps=0.0)
    with pytest.raises(ValueError, match=r"classes must be non-empty indices in \[0, 4\)"):
        dice_loss(logits, target, classes=[0, 4])
    with pytest.raises(ValueError, match="classes must be non-empty"):
        dice_loss(logits, target, classes=[])
    with pytest.raises(ValueError, match="multi-label targets are"):
        dice_loss(logits, target, mode="sigmoid")
