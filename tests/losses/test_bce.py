"""Binary cross-entropy: against torch built-ins and hand-computed values, per-entry void."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seglab.losses import (
    BinaryCrossEntropyLoss,
    binary_cross_entropy,
)


def _log1p_exp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_matches_torch_without_ignored(multilabel_batch, reduction):
    logits, target = multilabel_batch
    target = (target == 1).float()
    weight = torch.tensor([1.0, 2.0, 0.5])
    pos_weight = torch.tensor([3.0, 1.0, 0.25])
    expected = F.binary_cross_entropy_with_logits(
        logits,
        target,
        weight=weight.view(1, 3, 1, 1),
        pos_weight=pos_weight.view(3, 1, 1),
        reduction=reduction,
    )
    got = binary_cross_entropy(
        logits, target, weight=weight, pos_weight=pos_weight, reduction=reduction
    )
    torch.testing.assert_close(got, expected)
    module = BinaryCrossEntropyLoss(weight=weight, pos_weight=pos_weight, reduction=reduction)
    torch.testing.assert_close(module(logits, target), expected)
    # bool targets and ignore_index=None are the same thing here.
    torch.testing.assert_close(
        binary_cross_entropy(
            logits, target.bool(), weight=weight, pos_weight=pos_weight, reduction=reduction
        ),
        expected,
    )
    torch.testing.assert_close(
        binary_cross_entropy(
            logits,
            target,
            weight=weight,
            pos_weight=pos_weight,
            reduction=reduction,
            ignore_index=None,
        ),
        expected,
    )


def test_binary_cross_entropy_ignores_entries(multilabel_batch):
    logits, target = multilabel_batch
    valid = target != 255
    pos_weight = torch.tensor([2.0, 1.0, 0.5]).view(1, 3, 1, 1).expand_as(logits)
    per_entry = F.binary_cross_entropy_with_logits(
        logits[valid], target[valid], pos_weight=pos_weight[valid], reduction="none"
    )
    got = binary_cross_entropy(logits, target, pos_weight=[2.0, 1.0, 0.5])
    torch.testing.assert_close(got, per_entry.mean())
    assert binary_cross_entropy(logits, target, reduction="sum").item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits[valid], target[valid], reduction="sum").item(),
        rel=1e-6,
    )
    none = binary_cross_entropy(logits, target, reduction="none")
    assert torch.all(none[~valid] == 0)


def test_binary_cross_entropy_hand_computed():
    # Label 0: logits (0, 2), targets (1, 0); label 1: logits (-1, 1), targets (0, ignored).
    logits = torch.tensor([[[[0.0, 2.0]], [[-1.0, 1.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[[1, 0]], [[0, 255]]]])
    entries = [math.log(2.0), _log1p_exp(2.0), _log1p_exp(-1.0)]
    assert binary_cross_entropy(logits, target).item() == pytest.approx(sum(entries) / 3, rel=1e-6)


def test_binary_cross_entropy_accepts_soft_targets():
    logits = torch.tensor([[[[0.5]]]])
    expected = F.binary_cross_entropy_with_logits(logits, torch.tensor([[[[0.3]]]]))
    torch.testing.assert_close(binary_cross_entropy(logits, torch.tensor([[[[0.3]]]])), expected)


def test_binary_cross_entropy_errors(multilabel_batch):
    logits, target = multilabel_batch
    with pytest.raises(ValueError, match=r"target shape \(2, 3, 5\) does not match"):
        binary_cross_entropy(logits, target[:, :, :, 0])
    with pytest.raises(ValueError, match=r"values \[2.0\] outside \[0, 1\]"):
        bad = target.clone()
        bad[0, 0, 0, 0] = 2
        binary_cross_entropy(logits, bad)
    with pytest.raises(ValueError, match=r"pos_weight must have one value per class \(3\), got 2"):
        binary_cross_entropy(logits, target, pos_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="unknown reduction"):
        BinaryCrossEntropyLoss(reduction="max")
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        binary_cross_entropy(logits, target.numpy())
