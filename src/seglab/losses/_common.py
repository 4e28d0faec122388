"""The checks and reductions that every loss of :mod:`seglab.losses` shares.

Private to the package: the loss modules import from here, and nothing outside them should.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

REDUCTIONS = ("mean", "sum", "none")


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim < 2:
        raise ValueError(f"logits must be (N, K, H, W), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")


def _void_mask(
    target: torch.Tensor, low: float, high: float, ignore_index: int | None, what: str
) -> torch.Tensor | None:
    """Check that ``target`` is in ``[low, high]`` or ``ignore_index``; return where it is valid.

    Returns None when no entry is void, so callers can take torch's plain (fused) path: one
    ``aminmax`` pass and one host sync decide that in the common case.
    """
    if target.numel() == 0:
        return torch.ones_like(target, dtype=torch.bool)
    lowest, highest = torch.stack(torch.aminmax(target)).tolist()
    if lowest >= low and highest <= high:
        return None
    valid = None if ignore_index is None else target != ignore_index
    bad = (target < low) | (target > high)
    if target.is_floating_point():
        bad |= target.isnan()
    if valid is not None:
        bad &= valid
    if bool(bad.any()):
        values = torch.unique(target[bad])[:5].tolist()
        raise ValueError(
            f"{what} has values {values} outside {_range_text(low, high, target)} that are not "
            f"ignore_index={ignore_index}"
        )
    return valid


def _range_text(low: float, high: float, target: torch.Tensor) -> str:
    """``[0, 1]`` for float targets, ``[0, K)`` for class indices."""
    if target.is_floating_point():
        return f"[{low:g}, {high:g}]"
    return f"[{int(low)}, {int(high) + 1})"


def _check_index_target(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> torch.Tensor | None:
    """Target of the softmax head: (N, H, W) integer class indices. Returns the valid mask."""
    _check_logits(logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.is_floating_point() or target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}; "
            f"expected {expected} (logits are (N, K, H, W), target (N, H, W))"
        )
    return _void_mask(target, 0, logits.shape[1] - 1, ignore_index, "target")


def _check_multilabel_target(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None
) -> torch.Tensor | None:
    """Target of the sigmoid head: (N, K, H, W) in [0, 1] or ignore_index. Returns the valid
    mask."""
    _check_logits(logits)
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}; "
            "multi-label targets are (N, K, H, W), one {0, 1} channel per label"
        )
    if target.dtype == torch.bool:
        return None
    return _void_mask(target, 0, 1, ignore_index, "multi-label target")


def _per_class(
    values: torch.Tensor | Sequence[float] | None,
    num_classes: int,
    name: str,
    reference: torch.Tensor,
) -> torch.Tensor | None:
    """A (K,) tensor on ``reference``'s device and dtype, or None."""
    if values is None:
        return None
    values = torch.as_tensor(values, dtype=reference.dtype, device=reference.device).reshape(-1)
    if values.numel() != num_classes:
        raise ValueError(
            f"{name} must have one value per class ({num_classes}), got {values.numel()}"
        )
    return values


def _reduce(loss: torch.Tensor, reduction: str, denominator: torch.Tensor) -> torch.Tensor:
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    # clamp: an all-ignored batch has total 0 and denominator 0; 0 / tiny = 0, not NaN.
    return total / denominator.clamp_min(torch.finfo(total.dtype).tiny)


# Keyword arguments that hold per-class tensors: kept as buffers, so that .to(device) moves them.
_TENSOR_OPTIONS = ("weight", "pos_weight")


class LossModule(nn.Module):
    """The Module form of a loss function: it keeps the function's keyword arguments and calls
    the function with them (kornia's function + Module pattern, written once).

    A subclass sets :attr:`function`, checks its arguments in its own ``__init__`` (so that a
    bad setting fails when the loss is built, not at the first batch) and passes them on.
    """

    function: Callable[..., torch.Tensor]

    def __init__(self, **options) -> None:
        super().__init__()
        self._options = tuple(options)
        for name, value in options.items():
            if name in _TENSOR_OPTIONS:
                tensor = None if value is None else torch.as_tensor(value, dtype=torch.float32)
                self.register_buffer(name, tensor)
            else:
                setattr(self, name, value)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        options = {name: getattr(self, name) for name in self._options}
        return type(self).function(logits, target, **options)
