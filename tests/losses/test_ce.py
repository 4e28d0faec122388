"""Cross-entropy: against torch built-ins and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seglab.losses import (
    CrossEntropyLoss,
    cross_entropy,
)

K = 4  # classes of the `batch` fixture (conftest.py)


def _log1p_exp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_matches_torch(batch, reduction, use_weight, label_smoothing):
    logits, target = batch
    weight = torch.tensor([0.5, 1.0, 2.0, 3.0]) if use_weight else None
    expected = F.cross_entropy(
        logits,
        target,
        weight=weight,
        ignore_index=255,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    got = cross_entropy(
        logits, target, weight=weight, label_smoothing=label_smoothing, reduction=reduction
    )
    torch.testing.assert_close(got, expected)
    module = CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing, reduction=reduction)
    torch.testing.assert_close(module(logits, target), expected)


def test_cross_entropy_without_ignore_index_matches_torch(batch):
    logits, target = batch
    target = target.clamp_max(K - 1)
    expected = F.cross_entropy(logits, target)
    torch.testing.assert_close(cross_entropy(logits, target, ignore_index=None), expected)


def test_cross_entropy_hand_computed():
    # Pixel 0: scores (1, 0), class 0 -> log(1 + e^-1). Pixel 1: scores (0, 2), class 0 ->
    # log(1 + e^2).
    logits = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # (1, 2, 1, 2)
    target = torch.tensor([[[0, 0]]])
    pixel0, pixel1 = _log1p_exp(-1.0), _log1p_exp(2.0)
    assert cross_entropy(logits, target).item() == pytest.approx((pixel0 + pixel1) / 2, rel=1e-6)
    ignored = torch.tensor([[[0, 255]]])
    assert cross_entropy(logits, ignored).item() == pytest.approx(pixel0, rel=1e-6)
    # Class weights (1, 3) on targets (0, 1): mean = (1 * l0 + 3 * l1) / (1 + 3).
    mixed = torch.tensor([[[0, 1]]])
    loss1 = _log1p_exp(-2.0)  # pixel 1, class 1: -log(e^2 / (1 + e^2))
    assert cross_entropy(logits, mixed, weight=[1.0, 3.0]).item() == pytest.approx(
        (pixel0 + 3 * loss1) / 4, rel=1e-6
    )


def test_cross_entropy_accepts_uint8_target(batch):
    logits, target = batch
    expected = cross_entropy(logits, target)
    torch.testing.assert_close(cross_entropy(logits, target.to(torch.uint8)), expected)


def test_cross_entropy_errors(batch):
    logits, target = batch
    with pytest.raises(ValueError, match="unknown reduction 'avg'; choose one of mean, sum, none"):
        cross_entropy(logits, target, reduction="avg")
    with pytest.raises(ValueError, match="unknown reduction"):
        CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        cross_entropy(logits, target, label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"target shape \(2, 5, 5\) does not match"):
        cross_entropy(logits, target[..., :5])
    with pytest.raises(ValueError, match=r"values \[4, 7\] outside \[0, 4\)"):
        bad = target.clone()
        bad[0, 0, 0], bad[1, 0, 0] = 4, 7
        cross_entropy(logits, bad)
    with pytest.raises(ValueError, match=r"values \[255\] outside"):
        cross_entropy(logits, target, ignore_index=None)
    with pytest.raises(ValueError, match=r"weight must have one value per class \(4\), got 3"):
        cross_entropy(logits, target, weight=[1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        cross_entropy(logits, target.float())
    with pytest.raises(TypeError, match="target must be a torch.Tensor"):
        cross_entropy(logits, target.numpy())
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        cross_entropy(logits.numpy(), target)
    with pytest.raises(TypeError, match="logits must be floating point"):
        cross_entropy(logits.long(), target)
    with pytest.raises(ValueError, match=r"logits must be \(N, K, H, W\)"):
        cross_entropy(torch.zeros(3), target)
