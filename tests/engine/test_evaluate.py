"""evaluate_model and tta_logits: test-time flips and scales against hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from seglab.engine.evaluate import evaluate_model, tta_logits
from seglab.limits import check_test_scales


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


class _SizeModel(torch.nn.Module):
    """Constant logits that depend on the input height: class 1 is H / 10; records sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        self.sizes.append((h, w))
        return torch.stack([torch.zeros(n, h, w), torch.full((n, h, w), h / 10)], dim=1)


def test_tta_logits_average_over_scales_at_the_input_size():
    model = _SizeModel()
    logits = tta_logits(model, torch.zeros(2, 3, 8, 10), scales=(0.5, 1.0, 1.5))
    assert model.sizes == [(4, 5), (8, 10), (12, 15)]
    assert logits.shape == (2, 2, 8, 10)
    # (0.4 + 0.8 + 1.2) / 3; a constant map resizes to the same constant.
    torch.testing.assert_close(logits[:, 1], torch.full((2, 8, 10), 0.8))
    model.sizes.clear()
    tta_logits(model, torch.zeros(1, 3, 8, 10), flip=True, scales=(0.5, 1.0))
    assert model.sizes == [(4, 5), (4, 5), (8, 10), (8, 10)]  # each scale and its mirror


def test_evaluate_model_with_scales_scores_the_averaged_logits():
    # Class 1 logit H / 10 - 0.65: at H = 8 it is 0.15 (all pet); at scales 0.5 and 0.75
    # (H = 4, 6) the average is 0.5 - 0.65 = -0.15 (all background).
    class Shifted(_SizeModel):
        def forward(self, images):
            return super().forward(images) - torch.tensor([0.0, 0.65]).view(1, 2, 1, 1)

    loader = [(torch.zeros(1, 3, 8, 8), torch.ones(1, 8, 8, dtype=torch.long))]
    kwargs = dict(task="multiclass", num_classes=2)
    assert evaluate_model(Shifted(), loader, **kwargs)["fg_iou"] == pytest.approx(1.0)
    small = evaluate_model(Shifted(), loader, scales=(0.5, 0.75), **kwargs)
    assert small["fg_iou"] == pytest.approx(0.0)


@pytest.mark.parametrize("scales", [[], [0.0], [-1.0], [float("nan")], [1000.0], [0.01]])
def test_bad_scales_are_refused(scales):
    with pytest.raises(ValueError, match=r"test-time scales must be numbers in \[0.1, 4.0\]"):
        check_test_scales(scales)


class _TwoBlobModel(torch.nn.Module):
    """Pet logits on a 4x4 blob (with a hole) and a separate 1x2 blob, whatever the image."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        pet = torch.zeros(h, w)
        pet[1:5, 1:5] = 1
        pet[2, 2] = 0  # a hole
        pet[7, 6:8] = 1  # a stray blob
        return torch.stack([torch.zeros(n, h, w), (2 * pet - 1).expand(n, h, w)], dim=1)


def test_evaluate_model_scores_the_cleaned_masks():
    targets = torch.zeros(1, 8, 8, dtype=torch.long)
    targets[0, 1:5, 1:5] = 1  # the 16-pixel square, no hole, no stray blob
    loader = [(torch.zeros(1, 3, 8, 8), targets)]
    kwargs = dict(task="multiclass", num_classes=2)
    # Plain: 15 of the 16 square pixels, plus 2 stray: IoU 15 / 18.
    assert evaluate_model(_TwoBlobModel(), loader, **kwargs)["fg_iou"] == pytest.approx(15 / 18)
    largest = evaluate_model(_TwoBlobModel(), loader, keep_largest=True, **kwargs)
    assert largest["fg_iou"] == pytest.approx(15 / 16)
    both = evaluate_model(_TwoBlobModel(), loader, keep_largest=True, fill_holes=True, **kwargs)
    assert both["fg_iou"] == pytest.approx(1.0)
    filled = evaluate_model(_TwoBlobModel(), loader, fill_holes=True, **kwargs)
    assert filled["fg_iou"] == pytest.approx(16 / 18)
    # Multilabel: label 1 alone is cleaned the same way (label 0 has logits 0: all false).
    multilabel = evaluate_model(
        _TwoBlobModel(),
        [(torch.zeros(1, 3, 8, 8), torch.stack([torch.zeros_like(targets), targets], dim=1))],
        task="multilabel",
        num_classes=2,
        keep_largest=True,
        fill_holes=True,
    )
    assert multilabel["iou"][1] == pytest.approx(1.0)
