"""Learning-rate schedules with linear warm-up, as multiplicative factors of the base rate."""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "lr_factor"]

SCHEDULES = ("cosine", "poly", "constant")


def lr_factor(
    progress: float, *, schedule: str = "cosine", warmup: float = 0.0, power: float = 0.9
) -> float:
    """Multiplier of the base learning rate at a point of training.

    Args:
        progress: fraction of training done, in [0, 1] (values outside are clipped).
        schedule: ``"cosine"`` (half cosine to 0), ``"poly"`` ((1 - p)^power, DeepLab's
            schedule) or ``"constant"``.
        warmup: fraction of training spent in linear warm-up from 0 to the base rate.
        power: exponent of the poly schedule.

    Raises:
        ValueError: for an unknown schedule or a warm-up outside [0, 1).

    Example:
        >>> lr_factor(0.5, schedule="cosine")
        0.5
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be a fraction in [0, 1), got {warmup}")
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        # Start above zero so that the very first step already learns something.
        return max(progress / warmup, 1e-3)
    rest = (progress - warmup) / (1.0 - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    if schedule == "poly":
        return (1.0 - rest) ** power
    return 1.0
