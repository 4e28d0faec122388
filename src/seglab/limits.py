"""The limits on sizes that a user, a file or a web request controls, stated once.

Every size-like number that reaches seglab from outside (a CLI flag, a field of an annotation
or checkpoint file, a web form) is checked against one of these before any work is done, so
that a typo or a hostile file gets a clear error instead of minutes of CPU or an exhausted
memory. The values are far above anything a normal run uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DEFAULT_IMG_SIZE",
    "DEFAULT_TILE",
    "MAX_IMAGE_PIXELS",
    "MAX_NETWORK_SIDE",
    "MAX_CLASSES",
    "TEST_SCALE_RANGE",
    "MAX_TEST_SCALES",
    "check_network_size",
    "check_test_scales",
]

#: Largest image (height x width) read from a file or described by an annotation file:
#: Pillow's decompression-bomb threshold (2 x ``PIL.Image.MAX_IMAGE_PIXELS``), about 179 MP.
MAX_IMAGE_PIXELS = 178_956_970

#: The square network size that training uses unless told otherwise (the notes' 128), and that
#: a model without a recorded size is run at.
DEFAULT_IMG_SIZE = 128

#: The window of tiled (sliding-window) inference on large images: 512 x 512 keeps a U-Net's
#: activations at a few hundred MB, while the usual microscopy tile (256 to 1024 pixels) still
#: goes through whole or in few windows.
DEFAULT_TILE = 512

#: Largest side of a network input (``--img-size``, a checkpoint's ``preprocess.size``, ONNX
#: ``input_size``, ``export --input-size``): a 16-image batch of 4096² RGB floats is 3 GB.
MAX_NETWORK_SIDE = 4096

#: Most classes of a model or an evaluation: metrics keep a K x K confusion matrix.
MAX_CLASSES = 1024

#: Smallest and largest test-time scale (``--scales``), relative to the training size.
TEST_SCALE_RANGE = (0.1, 4.0)

#: Most test-time scales in one run: each is a full forward pass.
MAX_TEST_SCALES = 16


def check_network_size(size: Any, name: str = "size") -> tuple[int, int]:
    """``size`` as ``(H, W)`` ints in ``1..MAX_NETWORK_SIDE``.

    Raises:
        ValueError: naming ``name``, for anything else (bools, floats, NaN, 0, 10**6, ...).

    Example:
        >>> check_network_size([128, 96])
        (128, 96)
    """
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in size)
        or not all(1 <= v <= MAX_NETWORK_SIDE for v in size)
    ):
        raise ValueError(
            f"{name} must be two integers (H, W) in 1..{MAX_NETWORK_SIDE}, got {size!r:.100}"
        )
    return int(size[0]), int(size[1])


def check_test_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, each in :data:`TEST_SCALE_RANGE`, at most
    :data:`MAX_TEST_SCALES` of them.

    Raises:
        ValueError: if there are none, too many, or one is NaN or out of range.

    Example:
        >>> check_test_scales([0.75, 1, 1.25])
        (0.75, 1.0, 1.25)
    """
    low, high = TEST_SCALE_RANGE
    scales = tuple(float(scale) for scale in scales)
    if not scales or not all(math.isfinite(s) and low <= s <= high for s in scales):
        raise ValueError(f"test-time scales must be numbers in [{low}, {high}], got {list(scales)}")
    if len(scales) > MAX_TEST_SCALES:
        raise ValueError(f"at most {MAX_TEST_SCALES} test-time scales, got {len(scales)}")
    return scales
