"""What every loss shares: ordering, finite gradients, void and empty batches, refused NaN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seglab.losses import (
    binary_cross_entropy,
    cross_entropy,
    dice_loss,
    get_loss,
)


def _softmax_cases():
    return [
        ("ce", {}),
        ("dice", {}),
        ("ce+dice", {}),
        ("dice", {"mode": "softmax", "smooth": 0.0}),
    ]


def _sigmoid_cases():
    return [
        ("bce", {}),
        ("dice", {"mode": "sigmoid"}),
        ("bce+dice", {}),
        ("ce+dice", {"mode": "sigmoid"}),
    ]


def _targets(mode: str):
    generator = torch.Generator().manual_seed(3)
    index = torch.randint(0, 3, (2, 6, 6), generator=generator)
    if mode == "softmax":
        return index, F.one_hot(index, 3).permute(0, 3, 1, 2).float()
    labels = (torch.rand(2, 3, 6, 6, generator=generator) < 0.5).float()
    return labels, labels


@pytest.mark.parametrize(("name", "kwargs"), _softmax_cases() + _sigmoid_cases())
def test_better_prediction_gives_lower_loss(name, kwargs):
    sigmoid = name.startswith("bce") or kwargs.get("mode") == "sigmoid"
    target, onehot = _targets("sigmoid" if sigmoid else "softmax")
    criterion = get_loss(name, **kwargs)
    good = 6.0 * onehot - 3.0
    losses = [criterion(scale * good, target).item() for scale in (1.0, 0.3, 0.0, -1.0)]
    assert losses == sorted(losses), losses
    assert losses[0] < losses[-1]


@pytest.mark.parametrize(("name", "kwargs"), _softmax_cases() + _sigmoid_cases())
@pytest.mark.parametrize("all_ignored", [False, True])
def test_gradients_are_finite(name, kwargs, all_ignored):
    sigmoid = name.startswith("bce") or kwargs.get("mode") == "sigmoid"
    target, _ = _targets("sigmoid" if sigmoid else "softmax")
    if all_ignored:
        target = torch.full_like(target, 255)
    logits = (
        torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(4)) * 50
    ).requires_grad_()
    loss = get_loss(name, **kwargs)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if all_ignored:
        # An all-void batch teaches nothing: loss and gradient are exactly 0, not NaN.
        assert loss.item() == 0.0
        assert torch.count_nonzero(logits.grad) == 0


@pytest.mark.parametrize(("name", "kwargs"), _softmax_cases() + _sigmoid_cases())
def test_empty_batch_gives_zero(name, kwargs):
    sigmoid = name.startswith("bce") or kwargs.get("mode") == "sigmoid"
    logits = torch.zeros(0, 3, 4, 4, requires_grad=True)
    target = torch.zeros(0, 3, 4, 4) if sigmoid else torch.zeros(0, 4, 4, dtype=torch.long)
    loss = get_loss(name, **kwargs)(logits, target)
    loss.backward()
    assert loss.item() == 0.0


def test_nan_targets_are_refused():
    logits = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"multi-label target has values \[nan\] outside \[0, 1\]"):
        binary_cross_entropy(logits, target)
    with pytest.raises(ValueError, match=r"values \[nan\]"):
        dice_loss(logits, target, mode="sigmoid")


def test_all_void_batch_with_class_weights_gives_zero():
    logits = torch.randn(2, 3, 4, 4).requires_grad_()
    target = torch.full((2, 4, 4), 255)
    loss = cross_entropy(logits, target, weight=[1.0, 2.0, 3.0], label_smoothing=0.1)
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(logits.grad) == 0
    assert dice_loss(logits, target, weight=[1.0, 2.0, 3.0]).item() == 0.0
