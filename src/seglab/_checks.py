"""Small checks shared across seglab: the image value rule, image size, numeric arguments.

NumPy only (no torch), so that the classical methods can use it; the deep path reaches the
same rule through :func:`seglab.convert.image_to_unit_float`.

**The image value rule**:

- ``uint8`` holds 0..255 and ``uint16`` 0..65535, by dtype;
- other integer dtypes (``int8`` ... ``int64``, ``uint32``, ``uint64``) are accepted only when
  their values lie in 0..255, and are read as 8-bit values;
- ``bool`` is {0, 1};
- floats must be finite and in [0, 1] (an overshoot of up to half an 8-bit step, from a
  resize or a colour conversion, is clipped).

Anything else is a ``ValueError`` that says what to do: a guessed scale would give a wrong
segmentation without a word.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from seglab.limits import MAX_IMAGE_PIXELS

__all__ = [
    "IGNORE_INDEX",
    "MAX_IMAGE_PIXELS",
    "channels_last",
    "check_choice",
    "check_image_size",
    "check_real",
    "is_finite_number",
    "unit_float_image",
]

#: The void label of index masks (the Pascal VOC convention): pixels no loss or metric counts.
#: Every ``ignore_index`` argument defaults to it.
IGNORE_INDEX = 255

# Float images may overshoot [0, 1] by rounding: up to half a uint8 step is clipped.
_FLOAT_SLACK = 0.5 / 255


def check_choice(name: str, value: Any, choices: Sequence) -> None:
    """Refuse a value outside a closed set, listing the valid ones.

    Raises:
        ValueError: ``unknown NAME 'value'; choose one of a, b, c``.

    Example:
        >>> check_choice("mode", "binary", ("binary", "trimap"))
    """
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


def check_image_size(height: int, width: int) -> None:
    """Refuse an empty image, or one over :data:`seglab.limits.MAX_IMAGE_PIXELS` pixels.

    Raises:
        ValueError: naming the size and the limit.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image is empty (height {height}, width {width})")
    if height * width > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"image is {width} x {height} = {height * width / 1e6:.0f} megapixels; the limit "
            f"is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (seglab.limits.MAX_IMAGE_PIXELS): "
            "shrink or tile it first"
        )


def channels_last(
    image: np.ndarray, channel_axis: int | None = -1, *, colour: bool = False
) -> np.ndarray:
    """The one intake of an image's layout, for every classical method and the predictor.

    Rules:

    - an ``(H, W)`` image is one grey channel, whatever ``channel_axis`` says;
    - a 3-D image needs ``channel_axis`` (``None`` is an error) within its three axes;
    - four channels are RGBA: the alpha channel (transparency, not content) is dropped;
    - ``colour=True`` (methods that work on RGB colours, e.g. GrabCut and the networks): a
      grey image is repeated into three channels, and any count but 1, 3 or 4 is an error;
    - the image may not be empty, nor over :data:`~seglab.limits.MAX_IMAGE_PIXELS` pixels.

    The dtype is unchanged: the values follow :func:`unit_float_image` where a method reads
    them as intensities.

    Args:
        image: ``(H, W)`` or 3-D array.
        channel_axis: the axis of the channels of a 3-D image.
        colour: return exactly three channels.

    Returns:
        ``(H, W, C)`` view or copy, ``C == 3`` with ``colour``.

    Raises:
        ValueError: for any other shape, a bad ``channel_axis``, or an empty or oversized image.

    Example:
        >>> channels_last(np.zeros((4, 5, 4), np.uint8)).shape  # RGBA -> RGB
        (4, 5, 3)
        >>> channels_last(np.zeros((4, 5), np.uint8), colour=True).shape
        (4, 5, 3)
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    elif image.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    elif channel_axis is None:
        raise ValueError(
            f"got a 3-D image of shape {image.shape} with channel_axis=None; pass channel_axis "
            "for a multichannel image (3-D volumes are not supported)"
        )
    elif not -3 <= channel_axis <= 2:
        raise ValueError(f"channel_axis={channel_axis} is out of range for a 3-D image")
    else:
        image = np.moveaxis(image, channel_axis, -1)
    check_image_size(*image.shape[:2])
    if image.shape[-1] == 4:
        image = image[..., :3]
    if colour and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if colour and image.shape[-1] != 3:
        raise ValueError(
            f"expected a grey, RGB or RGBA image, got {image.shape[-1]} channels "
            f"(image shape {image.shape})"
        )
    if image.shape[-1] == 0:
        raise ValueError(f"image has no channels (shape {image.shape})")
    return image


def unit_float_image(image: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """The image's values as floats in [0, 1], by the rule of this module.

    Args:
        image: any-shaped array of pixel values.
        dtype: the float type of the result (float64 for the classical methods' maths,
            float32 for networks).

    Raises:
        ValueError: for NaN or infinite values, floats outside [0, 1], other integer dtypes
            with values outside 0..255, or a dtype that is not a number.

    Example:
        >>> unit_float_image(np.array([0, 51, 255], np.int64)).tolist()
        [0.0, 0.2, 1.0]
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(dtype) / dtype(255.0)
    if image.dtype == np.uint16:
        return image.astype(dtype) / dtype(65535.0)
    if image.dtype == np.bool_:
        return image.astype(dtype)
    if np.issubdtype(image.dtype, np.integer):
        if image.size and (image.min() < 0 or image.max() > 255):
            raise ValueError(
                f"{image.dtype} images must hold 8-bit values 0..255; this one spans "
                f"[{image.min()}, {image.max()}]: scale it to 0..255, or pass 16-bit images "
                "as uint16"
            )
        return image.astype(dtype) / dtype(255.0)
    if np.issubdtype(image.dtype, np.floating):
        array = image.astype(dtype)
        if not np.isfinite(array).all():
            raise ValueError("image holds NaN or infinite values")
        if array.size:
            low, high = float(array.min()), float(array.max())
            if low < -_FLOAT_SLACK or high > 1.0 + _FLOAT_SLACK:
                hint = ": divide by 255 or pass uint8" if 1.0 < high <= 255.5 else ""
                raise ValueError(
                    f"float images must be in [0, 1]; this one spans [{low:.4g}, {high:.4g}]{hint}"
                )
            if low < 0.0 or high > 1.0:
                np.clip(array, 0.0, 1.0, out=array)
        return array
    raise ValueError(
        f"image must hold numbers (uint8, uint16, other integers in 0..255, bool, or floats in "
        f"[0, 1]), got dtype {image.dtype}"
    )


def is_finite_number(value) -> bool:
    """True for a finite real number that is not a bool (``10**400`` is not: no float holds it).

    Example:
        >>> is_finite_number(3), is_finite_number(float("nan")), is_finite_number(True)
        (True, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    note: str = "",
) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``).

    Raises:
        ValueError: naming ``name`` and the valid range, for NaN, infinity, a non-number or a
            value out of range; ``note`` follows the range (e.g. the constant that sets
            ``high``).

    Example:
        >>> check_real("sigma", 2, low=0)
        2.0
    """
    valid = (
        is_finite_number(value)
        and (low is None or (value > low if low_open else value >= low))
        and (high is None or value <= high)
    )
    if not valid:
        # The bound leads ("sigma must be >= 0 ..."): the words users of earlier versions saw.
        parts = [] if low is None else [f"{'>' if low_open else '>='} {low:g}"]
        parts.append("finite" if high is None else f"<= {high:g}")
        raise ValueError(f"{name} must be {' and '.join(parts)}{note}, got {value!r}")
    return float(value)
