"""Two-term losses: CE + Dice, BCE + Dice and CE + Lovász are the weighted sums."""

from __future__ import annotations

import pytest
import torch

from seglab.losses import (
    CEDiceLoss,
    CELovaszLoss,
    LovaszSoftmaxLoss,
    binary_cross_entropy,
    ce_dice_loss,
    ce_lovasz_loss,
    cross_entropy,
    dice_loss,
    get_loss,
    lovasz_softmax,
)

K = 4  # classes of the `batch` fixture (conftest.py)


def test_ce_dice_is_the_weighted_sum(batch, multilabel_batch):
    logits, target = batch
    expected = 0.7 * cross_entropy(logits, target, label_smoothing=0.1) + 0.3 * dice_loss(
        logits, target
    )
    got = ce_dice_loss(logits, target, ce_weight=0.7, dice_weight=0.3, label_smoothing=0.1)
    torch.testing.assert_close(got, expected)
    module = CEDiceLoss(ce_weight=0.7, dice_weight=0.3, label_smoothing=0.1)
    torch.testing.assert_close(module(logits, target), expected)

    logits, target = multilabel_batch
    expected = binary_cross_entropy(logits, target, pos_weight=[2.0, 1.0, 1.0]) + dice_loss(
        logits, target, mode="sigmoid"
    )
    module = CEDiceLoss(mode="sigmoid", pos_weight=[2.0, 1.0, 1.0])
    torch.testing.assert_close(module(logits, target), expected)


def test_ce_dice_errors(batch):
    logits, target = batch
    with pytest.raises(ValueError, match="unknown mode"):
        ce_dice_loss(logits, target, mode="argmax")
    with pytest.raises(ValueError, match="unknown mode"):
        CEDiceLoss(mode="argmax")
    with pytest.raises(ValueError, match="ce_weight and dice_weight must be >= 0"):
        ce_dice_loss(logits, target, dice_weight=-1.0)
    with pytest.raises(ValueError, match="pos_weight is for mode='sigmoid'"):
        ce_dice_loss(logits, target, pos_weight=[1.0] * K)
    multilabel = torch.zeros_like(logits)
    with pytest.raises(ValueError, match="label_smoothing is for mode='softmax'"):
        ce_dice_loss(logits, multilabel, mode="sigmoid", label_smoothing=0.1)


def test_ce_lovasz_is_the_weighted_sum_and_factory_names():
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 4, 4, generator=generator)
    target = torch.randint(0, 3, (2, 4, 4), generator=generator)
    ce = torch.nn.functional.cross_entropy(logits, target)
    lovasz = lovasz_softmax(logits, target)
    combined = ce_lovasz_loss(logits, target, ce_weight=0.5, lovasz_weight=2.0)
    assert combined.item() == pytest.approx(0.5 * ce.item() + 2.0 * lovasz.item(), rel=1e-6)
    assert isinstance(get_loss("lovasz"), LovaszSoftmaxLoss)
    module = get_loss("ce+lovasz", ignore_index=255)
    assert isinstance(module, CELovaszLoss)
    assert module(logits, target).item() == pytest.approx(ce.item() + lovasz.item(), rel=1e-6)
