"""Label formats: one-hot, multi-label stacks and head decoding, against hand tables and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.labels import (
    from_one_hot,
    multilabel_to_index,
    one_hot,
    probabilities_to_labels,
    stack_labels,
)


def _random_mask(shape, num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, num_classes, size=shape)
    mask[rng.random(shape) < 0.2] = 255
    return mask


# ---------------------------------------------------------------------------- one-hot


def test_one_hot_hand_table():
    mask = np.array([[0, 2], [255, 1]])
    expected = np.array(
        [
            [[1, 0], [0, 0]],  # class 0
            [[0, 0], [0, 1]],  # class 1
            [[0, 1], [0, 0]],  # class 2
        ],
        dtype=np.float32,
    )
    got = one_hot(mask, 3)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    torch_got = one_hot(torch.from_numpy(mask), 3)
    assert isinstance(torch_got, torch.Tensor) and torch_got.dtype == torch.float32
    np.testing.assert_array_equal(torch_got.numpy(), expected)


def test_one_hot_matches_torch_one_hot_on_batches():
    mask = torch.from_numpy(_random_mask((2, 5, 6)))
    valid = mask != 255
    reference = F.one_hot(torch.where(valid, mask, 0), 4).permute(0, 3, 1, 2) * valid[:, None]
    got = one_hot(mask, 4, dtype=torch.int64)
    assert got.shape == (2, 4, 5, 6) and got.dtype == torch.int64
    torch.testing.assert_close(got, reference)
    np.testing.assert_array_equal(one_hot(mask.numpy(), 4, dtype=np.int64), reference.numpy())
    # Ignored pixels have every channel 0; others have exactly one 1.
    assert torch.equal(got.sum(1), valid.long())


def test_one_hot_in_range_ignore_index_lights_no_channel():
    mask = np.array([[0, 1, 2]])
    got = one_hot(mask, 3, ignore_index=0)
    np.testing.assert_array_equal(got[:, 0, 0], [0, 0, 0])
    torch_got = one_hot(torch.from_numpy(mask), 3, ignore_index=0)
    np.testing.assert_array_equal(torch_got.numpy(), got)


def test_one_hot_errors():
    mask = np.array([[0, 1], [3, 255]])
    with pytest.raises(ValueError, match=r"values \[3\] outside \[0, 3\)"):
        one_hot(mask, 3)
    with pytest.raises(ValueError, match=r"values \[255\] outside"):
        one_hot(np.array([[0, 255]]), 3, ignore_index=None)
    with pytest.raises(ValueError, match=r"values \[-1\] outside"):
        one_hot(torch.tensor([[0, -1]]), 3)
    with pytest.raises(TypeError, match="mask must hold integer class indices"):
        one_hot(mask.astype(float), 4)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        one_hot(mask, 0)
    with pytest.raises(ValueError, match=r"mask must be \(H, W\) or \(N, H, W\)"):
        one_hot(np.zeros((1, 1, 2, 2), np.int64), 3)
    with pytest.raises(TypeError, match="mask must be a NumPy array or a torch.Tensor"):
        one_hot([[0, 1]], 3)


@pytest.mark.parametrize("to_torch", [False, True])
def test_from_one_hot_round_trip(to_torch):
    mask = _random_mask((2, 5, 6))
    source = torch.from_numpy(mask) if to_torch else mask
    back = from_one_hot(one_hot(source, 4))
    assert type(back) is type(source)
    np.testing.assert_array_equal(np.asarray(back), mask)
    single = from_one_hot(one_hot(source[0], 4))
    np.testing.assert_array_equal(np.asarray(single), mask[0])


def test_from_one_hot_ties_and_no_ignore():
    onehot = np.array([[[1, 0, 0]], [[1, 1, 0]]], dtype=bool)  # (2, 1, 3): a tie, class 1, none
    assert from_one_hot(onehot).tolist() == [[0, 1, 255]]
    assert from_one_hot(onehot, ignore_index=None).tolist() == [[0, 1, 0]]
    assert from_one_hot(torch.from_numpy(onehot)).tolist() == [[0, 1, 255]]
    assert from_one_hot(torch.from_numpy(onehot), ignore_index=None).tolist() == [[0, 1, 0]]


def test_from_one_hot_errors():
    with pytest.raises(ValueError, match=r"onehot must be \(K, H, W\) or \(N, K, H, W\)"):
        from_one_hot(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="onehot must be a NumPy array or a torch.Tensor"):
        from_one_hot(None)


# ---------------------------------------------------------------------------- multi-label


def test_stack_labels_keeps_overlaps():
    pet = np.array([[1, 1, 1, 0]], dtype=np.uint8)
    head = np.array([[False, True, False, False]])
    labels = stack_labels([pet, head])
    assert labels.dtype == bool and labels.shape == (2, 1, 4)
    assert labels.astype(int).tolist() == [[[1, 1, 1, 0]], [[0, 1, 0, 0]]]


def test_stack_labels_errors():
    with pytest.raises(ValueError, match="needs at least one mask"):
        stack_labels([])
    with pytest.raises(ValueError, match=r"mask 0 must be \(H, W\)"):
        stack_labels([np.zeros((1, 2, 2))])
    with pytest.raises(ValueError, match=r"mask 1 has shape \(3, 2\), mask 0 has \(2, 2\)"):
        stack_labels([np.zeros((2, 2)), np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"mask 0 is not binary: values \[255\]; pass mask > 0"):
        stack_labels([np.array([[0, 255]])])


def test_multilabel_to_index_pet_and_head():
    pet = np.array([[1, 1, 1, 0], [0, 1, 1, 0]])
    head = np.array([[0, 1, 0, 0], [0, 1, 0, 0]])
    labels = stack_labels([pet, head])
    # Default: the later (inner) label wins.
    assert multilabel_to_index(labels).tolist() == [[1, 2, 1, 0], [0, 2, 1, 0]]
    # Pet most important: head pixels stay pet.
    assert multilabel_to_index(labels, priority=[0, 1]).tolist() == [[1, 1, 1, 0], [0, 1, 1, 0]]
    torch_index = multilabel_to_index(torch.from_numpy(labels))
    assert isinstance(torch_index, torch.Tensor) and torch_index.dtype == torch.int64
    assert torch_index.tolist() == [[1, 2, 1, 0], [0, 2, 1, 0]]


def test_multilabel_to_index_batches_match_brute_force():
    rng = np.random.default_rng(5)
    labels = rng.random((2, 3, 4, 5)) < 0.5
    priority = [1, 2, 0]
    expected = np.zeros((2, 4, 5), np.int64)
    for n in range(2):
        for y in range(4):
            for x in range(5):
                for label in priority:
                    if labels[n, label, y, x]:
                        expected[n, y, x] = label + 1
                        break
    np.testing.assert_array_equal(multilabel_to_index(labels, priority=priority), expected)
    torch_got = multilabel_to_index(torch.from_numpy(labels.astype(np.float32)), priority=priority)
    np.testing.assert_array_equal(torch_got.numpy(), expected)


def test_multilabel_to_index_errors():
    with pytest.raises(ValueError, match=r"labels must be \(K, H, W\) or \(N, K, H, W\)"):
        multilabel_to_index(np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"priority must be a permutation of range\(2\)"):
        multilabel_to_index(np.zeros((2, 2, 2), bool), priority=[0, 0])
    with pytest.raises(ValueError, match="labels must be binary"):
        multilabel_to_index(np.full((2, 2, 2), 2))
    with pytest.raises(ValueError, match="labels must be binary"):
        multilabel_to_index(torch.full((2, 2, 2), 0.5))


# ---------------------------------------------------------------------------- head decoding


def test_probabilities_to_labels_softmax_is_argmax_of_softmax():
    logits = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    got = probabilities_to_labels(logits)
    assert got.dtype == torch.int64 and got.shape == (2, 5, 6)
    torch.testing.assert_close(got, logits.softmax(1).argmax(1))
    torch.testing.assert_close(probabilities_to_labels(logits[0]), logits[0].softmax(0).argmax(0))


@pytest.mark.parametrize("threshold", [0.5, 0.2, 0.9])
def test_probabilities_to_labels_sigmoid_thresholds_probabilities(threshold):
    logits = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 3
    got = probabilities_to_labels(logits, "sigmoid", threshold=threshold)
    expected = torch.sigmoid(logits.double()) > threshold
    assert got.dtype == torch.bool and torch.equal(got, expected)
    assert 0 < got.sum() < got.numel()


def test_probabilities_to_labels_hand_values():
    logits = torch.tensor([[[[2.0, -1.0]], [[0.5, 3.0]]]])
    assert probabilities_to_labels(logits).tolist() == [[[0, 1]]]
    assert probabilities_to_labels(logits, "sigmoid").tolist() == [
        [[[True, False]], [[True, True]]]
    ]
    # sigmoid(0.5) = 0.62 and sigmoid(2) = 0.88: only 2 and 3 pass 0.7.
    assert probabilities_to_labels(logits, "sigmoid", 0.7).tolist() == [
        [[[True, False]], [[False, True]]]
    ]


def test_probabilities_to_labels_errors():
    logits = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match="unknown mode 'argmax'; choose one of softmax, sigmoid"):
        probabilities_to_labels(logits, "argmax")
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\)"):
        probabilities_to_labels(logits, "sigmoid", threshold=1.0)
    with pytest.raises(ValueError, match=r"logits must be \(N, K, H, W\) or \(K, H, W\)"):
        probabilities_to_labels(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        probabilities_to_labels(np.zeros((1, 2, 3, 3)))
