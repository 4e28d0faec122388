"""The name -> factory table and get_loss: names, errors, buffers."""

from __future__ import annotations

import pytest
import torch

from seglab.losses import (
    LOSS_FACTORIES,
    LOSS_NAMES,
    TRAINING_LOSS_NAMES,
    BinaryCrossEntropyLoss,
    CEDiceLoss,
    CrossEntropyLoss,
    DiceLoss,
    ce_dice_loss,
    get_loss,
)

K = 4  # classes of the `batch` fixture (conftest.py)


def test_get_loss_builds_each_module(batch):
    logits, target = batch
    assert isinstance(get_loss("ce"), CrossEntropyLoss)
    assert isinstance(get_loss("BCE"), BinaryCrossEntropyLoss)
    assert isinstance(get_loss("dice", mode="sigmoid"), DiceLoss)
    combined = get_loss("ce+dice", weight=torch.ones(K), ignore_index=255)
    assert isinstance(combined, CEDiceLoss) and combined.mode == "softmax"
    assert get_loss("bce+dice").mode == "sigmoid"
    torch.testing.assert_close(get_loss("ce+dice")(logits, target), ce_dice_loss(logits, target))
    assert set(LOSS_NAMES) == {"ce", "bce", "dice", "ce+dice", "bce+dice", "lovasz", "ce+lovasz"}


def test_get_loss_errors():
    with pytest.raises(
        ValueError, match="unknown loss 'focal'; choose one of ce, bce, dice, ce\\+dice, bce\\+dice"
    ):
        get_loss("focal")
    with pytest.raises(ValueError, match="'bce\\+dice' is the sigmoid loss"):
        get_loss("bce+dice", mode="softmax")


def test_module_weights_are_buffers_that_follow_to():
    criterion = get_loss("ce+dice", weight=[1.0, 2.0], mode="sigmoid", pos_weight=[1.0, 3.0])
    assert set(dict(criterion.named_buffers())) == {"weight", "pos_weight"}
    criterion = criterion.to(torch.float64)
    assert criterion.weight.dtype == torch.float64
    logits = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    assert criterion(logits, torch.ones(1, 2, 2, 2)).dtype == torch.float64


def test_every_name_comes_from_the_one_table():
    assert LOSS_NAMES == tuple(LOSS_FACTORIES)
    # Training offers every name but bce+dice, which it picks itself for ce+dice on multi-label
    # data; the CLI's --loss choices are this tuple.
    assert TRAINING_LOSS_NAMES == ("ce", "bce", "dice", "ce+dice", "lovasz", "ce+lovasz")
    for name in LOSS_NAMES:
        assert isinstance(get_loss(name), torch.nn.Module)
