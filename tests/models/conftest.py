"""Fixtures for the model tests: one CPU-sized configuration per registered model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

from seglab.models import create_model

# Small enough that a forward + backward pass at 64x64 takes a few tens of milliseconds. A new
# model must add a line here (test_every_model_has_a_small_configuration says so).
SMALL_KWARGS: dict[str, dict[str, Any]] = {
    "fcn32s": {"width": 0.125},
    "fcn16s": {"width": 0.125},
    "fcn8s": {"width": 0.125},
    "deconvnet": {"width": 0.125},
    "unet": {"base_channels": 8},
    "deeplabv3plus": {"backbone": "resnet18", "width": 0.25},
}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run the model tests on one thread.

    These models are tiny, so each kernel is short and a second OpenMP thread mostly waits at
    barriers; on a loaded 2-core machine that made the suite several times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_kwargs() -> dict[str, dict[str, Any]]:
    """The table of CPU-sized model arguments, by registry name."""
    return SMALL_KWARGS


@pytest.fixture
def make_model() -> Callable[..., nn.Module]:
    """Factory: ``make_model(name, num_classes=3, in_channels=3, seed=0, **overrides)``.

    Builds the CPU-sized configuration of ``name`` after ``torch.manual_seed(seed)``.
    """

    def make(
        name: str, *, num_classes: int = 3, in_channels: int = 3, seed: int = 0, **overrides: Any
    ) -> nn.Module:
        if name not in SMALL_KWARGS:
            pytest.fail(f"add a CPU-sized configuration for {name!r} to tests/models/conftest.py")
        torch.manual_seed(seed)
        kwargs = {**SMALL_KWARGS[name], **overrides}
        return create_model(name, num_classes=num_classes, in_channels=in_channels, **kwargs)

    return make
