"""Fixtures of the loss tests: a random softmax batch and a random multi-label batch."""

from __future__ import annotations

import pytest
import torch

K = 4  # classes of the `batch` fixture


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
