"""evaluate_model: flip test-time augmentation against a hand-computed case."""

from __future__ import annotations

import pytest
import torch

from seglab.engine.evaluate import evaluate_model


class _RampModel(torch.nn.Module):
    """Logits that ignore the image: class 1 is a ramp from -1 (left) to 2 (right)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        ramp = torch.linspace(-1.0, 2.0, w).expand(n, 1, h, w)
        return torch.cat([torch.zeros_like(ramp), ramp], dim=1)


def test_flip_tta_averages_with_the_mirrored_prediction():
    images = torch.zeros(2, 3, 4, 7)
    targets = torch.ones(2, 4, 7, dtype=torch.long)
    loader = [(images, targets)]
    # Without TTA the ramp -1, -0.5, 0, 0.5, ..., 2 is above 0 in 4 of 7 columns
    # (0 itself ties with class 0, and argmax takes the first).
    plain = evaluate_model(_RampModel(), loader, task="multiclass", num_classes=2)
    assert plain["fg_iou"] == pytest.approx(4 / 7)
    # With TTA every column averages to (-1 + 2) / 2 = 0.5 > 0: all pet.
    flipped = evaluate_model(_RampModel(), loader, task="multiclass", num_classes=2, tta=True)
    assert flipped["fg_iou"] == pytest.approx(1.0)
    assert flipped["pixel_accuracy"] == pytest.approx(1.0)
