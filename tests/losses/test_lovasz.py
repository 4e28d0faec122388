"""Lovász-Softmax: the extension by its definition (brute force), 1 - IoU on hard predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.losses import (
    CELovaszLoss,
    lovasz_softmax,
)


def _jaccard_loss(truth: set[int], mispredicted: set[int]) -> float:
    """1 - |G \\ M| / |G ∪ M| for class pixels G and mispredicted pixels M (sets)."""
    union = truth | mispredicted
    return 1.0 - len(truth - mispredicted) / len(union) if union else 0.0


def _brute_force(probs: np.ndarray, labels: np.ndarray, classes: str = "present") -> float:
    """The Lovász extension written from its definition, one Python set per prefix."""
    losses = []
    for c in range(probs.shape[1]):
        truth = {i for i, label in enumerate(labels) if label == c}
        if classes == "present" and not truth:
            continue
        errors = np.abs((labels == c).astype(float) - probs[:, c])
        order = sorted(range(len(labels)), key=lambda i: -errors[i])
        value, previous = 0.0, 0.0
        for k in range(1, len(order) + 1):
            current = _jaccard_loss(truth, set(order[:k]))
            value += errors[order[k - 1]] * (current - previous)
            previous = current
        losses.append(value)
    return float(np.mean(losses)) if losses else 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_matches_the_definition_by_brute_force(seed, classes):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 4, 3, 5, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 3, (2, 3, 5), generator=generator)  # class 3 absent
    probs = logits.softmax(1).movedim(1, -1).reshape(-1, 4).numpy()
    expected = _brute_force(probs, target.reshape(-1).numpy(), classes)
    value = lovasz_softmax(logits, target, classes=classes, ignore_index=None)
    assert value.item() == pytest.approx(expected, abs=1e-12)


def test_hard_predictions_give_one_minus_iou():
    # Class 0: truth {0, 1, 3}, predicted {0, 1, 2}: IoU 2/4. Class 1: truth {2, 4},
    # predicted {3, 4, 5}: IoU 1/4. Class 2: truth {5}, never predicted: IoU 0.
    pred = torch.tensor([[0, 0, 0, 1, 1, 1]])
    target = torch.tensor([[0, 0, 1, 0, 1, 2]])
    logits = torch.nn.functional.one_hot(pred, 3).movedim(-1, 1).float() * 50.0
    logits = logits.view(1, 3, 1, 6)
    value = lovasz_softmax(logits, target.view(1, 1, 6))
    iou = [2 / 4, 1 / 4, 0 / 1]
    assert value.item() == pytest.approx(np.mean([1 - v for v in iou]), abs=1e-6)


def test_void_pixels_count_nowhere():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 2, 4, 4, generator=generator)
    target = torch.randint(0, 2, (1, 4, 4), generator=generator)
    voided = target.clone()
    voided[0, 0] = 255
    kept = target[0, 1:].reshape(1, 3, 4)
    value = lovasz_softmax(logits, voided)
    assert value.item() == pytest.approx(lovasz_softmax(logits[..., 1:, :], kept).item())
    # All void: 0 with zero gradients.
    logits.requires_grad_(True)
    empty = lovasz_softmax(logits, torch.full((1, 4, 4), 255))
    empty.backward()
    assert empty.item() == 0.0 and torch.count_nonzero(logits.grad) == 0


def test_gradient_lowers_the_loss():
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 3, 8, 8, generator=generator, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8), generator=generator)
    before = lovasz_softmax(logits, target)
    before.backward()
    with torch.no_grad():
        after = lovasz_softmax(logits - 5.0 * logits.grad, target)
    assert after < before


def test_bad_input_is_refused():
    logits = torch.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="unknown classes 'some'"):
        lovasz_softmax(logits, torch.zeros(1, 2, 2, dtype=torch.long), classes="some")
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        lovasz_softmax(logits, torch.full((1, 2, 2), 7))
    with pytest.raises(ValueError, match="must be >= 0"):
        CELovaszLoss(lovasz_weight=-1.0)
    with pytest.raises(ValueError, match="one value per class"):
        lovasz_softmax(logits, torch.zeros(1, 2, 2, dtype=torch.long), weight=[1.0])


def test_class_weights_give_the_weighted_mean_over_present_classes():
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(1, 3, 4, 5, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 2, (1, 4, 5), generator=generator)  # class 2 absent
    per_class = [
        lovasz_softmax(logits, target, ignore_index=None, weight=[float(c == k) for k in range(3)])
        for c in range(2)
    ]
    value = lovasz_softmax(logits, target, ignore_index=None, weight=[1.0, 3.0, 5.0])
    assert value.item() == pytest.approx((per_class[0] + 3 * per_class[1]).item() / 4, abs=1e-12)
