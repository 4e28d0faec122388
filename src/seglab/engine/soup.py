"""Model soups: one checkpoint whose weights are the mean of several fine-tuned checkpoints.

Wortsman et al. (ICML 2022) observed that models fine-tuned from the same starting weights
with different settings stay in one basin of the loss, so the average of their weights works
as a model, and usually better than each of them: it behaves like an ensemble of the
ingredients at the cost of one model. seglab's ingredients are runs that start from one
checkpoint with ``--init-from`` (different losses, augmentation or learning rates).

Every floating-point tensor is averaged, BatchNorm's running statistics included (a uniform
soup); integer counters are taken from the first ingredient. All ingredients must have the
same architecture, classes, task and preprocessing, or the average would mean nothing. The
``last.pt`` of a run trained with ``--ema`` contributes its averaged weights, the ones that
run validated.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence

import torch

from seglab.checkpoint import Checkpoint, load_checkpoint

__all__ = ["average_checkpoints"]

# What must agree between ingredients for their weights to be averaged.
_SAME_KEYS = ("model", "class_names", "task", "ignore_index", "preprocess")


def average_checkpoints(
    paths: Sequence[str | os.PathLike],
    *,
    weights: Sequence[float] | None = None,
    trust_checkpoint: bool = False,
) -> Checkpoint:
    """A checkpoint holding the (weighted) mean of the checkpoints' weights.

    Args:
        paths: two or more checkpoints of one architecture, e.g. fine-tunes of one model.
        weights: optional finite, non-negative mixing weights, one per checkpoint (normalised
            to sum to 1); the default is the uniform mean.
        trust_checkpoint: also load checkpoints that are not plain data (they can run code
            stored in them; :mod:`seglab.checkpoint`).

    Returns:
        A checkpoint dict (the first ingredient's settings, the averaged ``state_dict`` and a
        ``soup`` entry listing the ingredients and weights), ready for
        :func:`~seglab.checkpoint.save_checkpoint`.

    Raises:
        ValueError: for fewer than two checkpoints, bad weights (NaN, infinite, negative or
            all zero), checkpoints whose model, classes, task, preprocessing or tensor names
            and shapes differ, or weights that hold NaN or infinite values.
    """
    if len(paths) < 2:
        raise ValueError(f"a soup needs at least two checkpoints, got {len(paths)}")
    if weights is None:
        weights = [1.0] * len(paths)
    weights = [float(w) for w in weights]
    if (
        len(weights) != len(paths)
        or not all(math.isfinite(w) and w >= 0 for w in weights)
        or not sum(weights) > 0
        or not math.isfinite(sum(weights))
    ):
        raise ValueError(
            f"weights must be {len(paths)} finite, non-negative numbers with a positive sum, "
            f"got {weights}"
        )
    total = float(sum(weights))
    mix = [float(w) / total for w in weights]
    states = [load_checkpoint(path, trust_checkpoint=trust_checkpoint) for path in paths]
    for path, state in zip(paths, states, strict=True):
        if "ema" in state.extra:
            ema = state.extra["ema"]
            if not isinstance(ema, dict) or not isinstance(ema.get("state_dict"), dict):
                raise ValueError(f"{path}: its 'ema' entry holds no state_dict")
            state.state_dict = ema["state_dict"]
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        for key in _SAME_KEYS:
            if getattr(state, key) != getattr(first, key):
                raise ValueError(
                    f"{path} differs from {paths[0]} in {key!r} ({getattr(state, key)!r} vs "
                    f"{getattr(first, key)!r}): only checkpoints of one model can be averaged"
                )
        if state.state_dict.keys() != first.state_dict.keys():
            raise ValueError(f"{path} has other tensor names than {paths[0]}")
    averaged: dict[str, torch.Tensor] = {}
    for name, reference in first.state_dict.items():
        tensors = [state.state_dict[name] for state in states]
        for path, tensor in zip(paths, tensors, strict=True):
            if tensor.shape != reference.shape:
                raise ValueError(
                    f"tensor {name} is {tuple(tensor.shape)} in {path}, "
                    f"{tuple(reference.shape)} in {paths[0]}"
                )
        if reference.is_floating_point():
            for path, tensor in zip(paths, tensors, strict=True):
                if not torch.isfinite(tensor).all():
                    raise ValueError(f"tensor {name} of {path} holds NaN or infinite values")
            # Sum in float64: the mean of float32 weights is then exact to float32 rounding.
            mean = sum(w * t.double() for w, t in zip(mix, tensors, strict=True))
            averaged[name] = mean.to(reference.dtype)
        else:
            averaged[name] = reference.clone()
    # Training state (optimizer, history, EMA) belongs to one run, not to the soup.
    run_state = ("optimizer", "scaler", "history", "rng", "ema", "best_value", "best_metrics")
    extra = {key: value for key, value in first.extra.items() if key not in run_state}
    extra["soup"] = {"checkpoints": [str(path) for path in paths], "weights": mix}
    return dataclasses.replace(first, state_dict=averaged, extra=extra)
