"""Losses: against torch built-ins, hand-computed values and a brute-force NumPy Dice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.losses import (
    LOSS_NAMES,
    BinaryCrossEntropyLoss,
    CEDiceLoss,
    CrossEntropyLoss,
    DiceLoss,
    binary_cross_entropy,
    ce_dice_loss,
    cross_entropy,
    dice_loss,
    get_loss,
)

K = 4


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Random (2, K, 5, 6) logits and an index target with about 20 % ignored pixels."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, K, 5, 6, generator=generator) * 2
    target = torch.randint(0, K, (2, 5, 6), generator=generator)
    target[torch.rand(2, 5, 6, generator=generator) < 0.2] = 255
    return logits, target


@pytest.fixture
def multilabel_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Random (2, 3, 5, 6) logits and a {0, 1, 255} float multi-label target."""
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 5, 6, generator=generator) * 2
    target = (torch.rand(2, 3, 5, 6, generator=generator) < 0.4).float()
    target[torch.rand(2, 3, 5, 6, generator=generator) < 0.2] = 255
    return logits, target


def _log1p_exp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


# ---------------------------------------------------------------------------- cross-entropy


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


# ---------------------------------------------------------------------------- binary CE


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


# ---------------------------------------------------------------------------- Dice


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


# ---------------------------------------------------------------------------- CE + Dice


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


# ---------------------------------------------------------------------------- all losses


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
