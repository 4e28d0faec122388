"""Sample images bundled with scikit-image, used by the demo, the CLI and the docs.

No dataset image ships with seglab: these come from ``skimage.data``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLE_NAMES", "load_sample", "sample_rect"]

SAMPLE_NAMES = ("chelsea", "astronaut", "coffee", "coins")

# A box around the main object of each sample, as (x0, y0, x1, y1) with x1, y1 exclusive.
# Chosen by eye once; they give GrabCut a realistic user rectangle.
_RECTS = {
    "chelsea": (0, 0, 390, 300),
    "astronaut": (60, 20, 430, 512),
    "coffee": (60, 20, 480, 300),
    "coins": (10, 10, 374, 293),
}


def load_sample(name: str) -> np.ndarray:
    """Return a bundled sample image as ``(H, W, 3)`` uint8 RGB.

    Args:
        name: one of :data:`SAMPLE_NAMES`.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).

    Example:
        >>> load_sample("chelsea").shape
        (300, 451, 3)
    """
    import skimage.data

    if name not in SAMPLE_NAMES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}")
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def sample_rect(name: str) -> tuple[int, int, int, int]:
    """A GrabCut rectangle ``(x0, y0, x1, y1)`` around the main object of a sample."""
    if name not in _RECTS:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}")
    return _RECTS[name]
