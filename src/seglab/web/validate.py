"""Checks on what a web user uploads, before any pixel is decoded.

Plain Python (no gradio), so the rules are unit-tested on their own and the same messages
reach the page, the HTTP API and the tests. Every failure is an :class:`InputError` (a
``ValueError``) whose message is meant for the person who uploaded the file: it names the file
by the name they gave it, not by the server's temporary path, and says what to do instead.

The pixel limit is checked from the file header, so a small file that declares a huge canvas
(a decompression bomb) is refused before it is decoded. PIL's own bomb guard
(:class:`PIL.Image.DecompressionBombError`, and its warning, which is turned into an error
here) backs this up.

Every number a web request carries has a range, stated here once: the app's sliders and
number boxes are built from these ranges, and the handlers check them again, because the HTTP
API (or a tampered page) can send any value. A request outside them gets an
:class:`InputError` that names the field and its range, never minutes of CPU:

==========================  =========================  =========================================
field                       range                      why
==========================  =========================  =========================================
SLIC superpixels            :data:`SLIC_SEGMENTS`      the slider's range
SLIC compactness            :data:`SLIC_COMPACTNESS`   the slider's range
Normalized Cut segments     :data:`NCUT_SEGMENTS`      the slider; time grows fast with the count
GrabCut iterations          :data:`GRABCUT_ITERS`      the slider; each is a graph cut
evaluate classes            0 (from the masks) or      the confusion matrix and its picture
                            1..:data:`MAX_WEB_CLASSES` grow with K squared
evaluate ignore index       -1 (none) or 0..65535      a mask holds at most 16-bit values
``max_megapixels`` (server) (0, :data:`MAX_WEB_MEGAPIXELS`]  PIL refuses larger images anyway
==========================  =========================  =========================================
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from seglab._checks import is_finite_number

__all__ = [
    "DEFAULT_MAX_MEGAPIXELS",
    "GRABCUT_ITERS",
    "IGNORE_INDEX_RANGE",
    "MAX_WEB_CLASSES",
    "MAX_WEB_MEGAPIXELS",
    "NCUT_SEGMENTS",
    "SLIC_COMPACTNESS",
    "SLIC_SEGMENTS",
    "InputError",
    "check_ignore_index",
    "check_max_megapixels",
    "check_num_classes",
    "check_pixel_limit",
    "check_same_size",
    "check_whole_number",
    "check_number",
    "load_image_file",
    "load_mask_file",
]

DEFAULT_MAX_MEGAPIXELS = 25.0
#: Largest ``max_megapixels`` a server may set: PIL's decompression-bomb threshold
#: (``PIL.Image.MAX_IMAGE_PIXELS``, 89.5 million pixels), rounded down. Larger images raise
#: PIL's bomb warning, which the app refuses, so a higher setting would only mislead.
MAX_WEB_MEGAPIXELS = 89.0
#: Most classes an evaluation request may ask for, or imply by its largest label. The
#: confusion matrix has K x K cells: at K = 256 scoring takes milliseconds and the picture
#: under a second, while a 16-bit mask could imply K = 65,536 (a 34 GB matrix). Well above
#: the usual benchmarks (Pascal VOC 21, Cityscapes 19, ADE20K 150).
MAX_WEB_CLASSES = 256
#: Ignore index values: -1 means none; otherwise a label value a 16-bit mask can hold.
IGNORE_INDEX_RANGE = (-1, 65535)
#: Inclusive ranges of the classical tab's controls (the sliders are built from them).
SLIC_SEGMENTS = (20, 2000)
SLIC_COMPACTNESS = (1.0, 60.0)
NCUT_SEGMENTS = (2, 30)
GRABCUT_ITERS = (1, 10)


class InputError(ValueError):
    """An upload the app refuses; the message is shown to the user as it is."""


def check_number(value, name: str, low: float, high: float) -> float:
    """A form field's value as a finite float in ``[low, high]``.

    Raises:
        InputError: naming the field and its range, for a value outside it, NaN, infinity,
            a boolean or anything that is not a number.

    Example:
        >>> check_number(2, "compactness", 1, 60)
        2.0
    """
    if not is_finite_number(value) or not low <= value <= high:
        raise InputError(f"{name} must be a number from {low:g} to {high:g}, got {value!r:.40}")
    return float(value)


def check_whole_number(value, name: str, low: int, high: int) -> int:
    """A form field's value as an int in ``low..high`` (``3.0`` is 3; ``2.5`` is refused).

    Raises:
        InputError: naming the field and its range, for a value outside it, a fraction, NaN,
            infinity, a boolean or anything that is not a number.

    Example:
        >>> check_whole_number(8.0, "segments", 2, 30)
        8
    """
    if not is_finite_number(value) or int(value) != value or not low <= value <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}, got {value!r:.40}")
    return int(value)


def check_num_classes(value) -> int | None:
    """The evaluate tab's class count: ``None`` to infer it from the masks, else 1..K.

    ``None``, ``""`` and 0 mean "from the masks" (the number box shows 0 for that).

    Raises:
        InputError: for anything but a whole number in 0..:data:`MAX_WEB_CLASSES`.

    Example:
        >>> check_num_classes(0) is None, check_num_classes(21.0)
        (True, 21)
    """
    if value is None or value == "":
        return None
    try:
        count = check_whole_number(value, "classes", 0, MAX_WEB_CLASSES)
    except InputError:
        raise InputError(
            f"classes must be 0 (from the masks) or a whole number up to {MAX_WEB_CLASSES} "
            f"(MAX_WEB_CLASSES: the confusion matrix grows with the square of the count), "
            f"got {value!r:.40}"
        ) from None
    return count or None


def check_ignore_index(value) -> int | None:
    """The evaluate tab's ignore index: ``None`` for none, else a 16-bit label value.

    ``None``, ``""`` and -1 mean "no ignore index".

    Raises:
        InputError: for anything but a whole number in -1..65535.

    Example:
        >>> check_ignore_index(-1) is None, check_ignore_index(255)
        (True, 255)
    """
    if value is None or value == "":
        return None
    index = check_whole_number(value, "ignore index (-1: none)", *IGNORE_INDEX_RANGE)
    return None if index == -1 else index


def check_max_megapixels(value) -> float:
    """A server's upload limit in megapixels: a finite number in (0, MAX_WEB_MEGAPIXELS].

    Raises:
        InputError: for NaN (which would silently disable the limit), infinity, zero, a
            negative number or more than :data:`MAX_WEB_MEGAPIXELS`.

    Example:
        >>> check_max_megapixels(25)
        25.0
    """
    if not is_finite_number(value) or not 0 < value <= MAX_WEB_MEGAPIXELS:
        raise InputError(
            f"max_megapixels must be a number > 0 and <= {MAX_WEB_MEGAPIXELS:g} "
            f"(MAX_WEB_MEGAPIXELS: PIL refuses larger images as decompression bombs), "
            f"got {value!r:.40}"
        )
    return float(value)


def _display_name(path: str | os.PathLike, name: str | None) -> str:
    # Gradio hands over a temporary path; the user knows their file by its own name.
    return name if name else Path(path).name


def check_pixel_limit(
    width: int, height: int, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS, *, name: str = ""
) -> None:
    """Refuse images with more than ``max_megapixels`` million pixels.

    Raises:
        InputError: if ``width * height`` is over the limit (the message states the limit).

    Example:
        >>> check_pixel_limit(640, 480)
        >>> check_pixel_limit(6000, 6000, 25)
        Traceback (most recent call last):
        ...
        seglab.web.validate.InputError: image is 6000 x 6000 = 36.0 megapixels; the limit is 25 megapixels
    """
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        prefix = f"{name}: " if name else ""
        raise InputError(
            f"{prefix}image is {width} x {height} = {megapixels:.1f} megapixels; "
            f"the limit is {max_megapixels:g} megapixels"
        )


def _open_checked(path: str | os.PathLike, name: str, max_megapixels: float) -> Image.Image:
    """Open ``path``, check its header size, then decode it; every failure is an InputError."""
    # NaN would pass every comparison below and disable the limit. (Only the server's setting
    # is capped, by check_max_megapixels: PIL's own guard is tested here with a huge limit.)
    if isinstance(max_megapixels, bool) or not max_megapixels > 0:
        raise InputError(f"max_megapixels must be a number > 0, got {max_megapixels!r}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{name}: the upload did not arrive (no file); please upload it again")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty")
    with warnings.catch_warnings():
        # PIL only *warns* between MAX_IMAGE_PIXELS and twice that; refuse those too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)  # lazy: reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise InputError(
                f"{name}: refused as a decompression bomb (its header declares far more "
                f"pixels than its size suggests; the limit is {max_megapixels:g} megapixels): "
                f"{error}"
            ) from error
        except UnidentifiedImageError as error:
            raise InputError(
                f"{name}: not an image (or a format PIL cannot read); upload a PNG, JPEG, "
                "BMP, TIFF, GIF or WebP file"
            ) from error
        except (OSError, SyntaxError, ValueError) as error:
            raise InputError(f"{name}: cannot read the file: {error}") from error
        with image:
            check_pixel_limit(*image.size, max_megapixels, name=name)
            try:
                image.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
                raise InputError(f"{name}: refused as a decompression bomb: {error}") from error
            except (OSError, SyntaxError, ValueError, EOFError) as error:
                # PIL says "image file is truncated" or "broken data stream" here.
                raise InputError(
                    f"{name}: the file is damaged or truncated ({error}); upload it again"
                ) from error
    return image


def load_image_file(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> np.ndarray:
    """Read an uploaded image as ``(H, W, 3)`` uint8 RGB, after the checks above.

    Args:
        path: where the upload was stored.
        name: the file name the user gave (for messages); default the path's name.
        max_megapixels: largest accepted image, in millions of pixels.

    Returns:
        ``(H, W, 3)`` uint8 RGB (alpha dropped, grey and palette images expanded), as
        :func:`seglab.io.read_image` returns it.

    Raises:
        InputError: for a missing or empty file, a file that is not an image, an image over
            the pixel limit, a decompression bomb, or a damaged or truncated file; and for a
            ``max_megapixels`` that is not a number > 0 (NaN would disable the limit).
    """
    from seglab.io import read_image

    label = _display_name(path, name)
    _open_checked(path, label, max_megapixels)
    try:
        # The same conversions as the CLI (16-bit scaling, palette, CMYK), now that the file
        # is known to be safe to decode.
        return read_image(path)
    except (ValueError, OSError) as error:
        raise InputError(f"{label}: cannot read the image: {error}") from error


def load_mask_file(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> np.ndarray:
    """Read an uploaded index mask (palette, grey or 16-bit PNG) as ``(H, W)`` integers.

    Raises:
        InputError: for the failures of :func:`load_image_file`, and for a colour (RGB) image,
            which holds colours rather than class indices.
    """
    from seglab.io import read_mask

    label = _display_name(path, name)
    _open_checked(path, label, max_megapixels)
    try:
        return read_mask(path)
    except (ValueError, OSError) as error:
        raise InputError(
            f"{label}: not an index mask; upload a palette or greyscale PNG whose pixel values "
            f"are class indices (a colour picture of a mask does not work) [{error}]"
        ) from error


def check_same_size(
    pred: np.ndarray, target: np.ndarray, *, names: tuple[str, str] = ("prediction", "ground truth")
) -> None:
    """Refuse a prediction and a ground-truth mask of different sizes.

    Raises:
        InputError: if the ``(H, W)`` shapes differ (the message gives both, as width x height).

    Example:
        >>> check_same_size(np.zeros((2, 3)), np.zeros((2, 3)))
    """
    if pred.shape[:2] != target.shape[:2]:
        (ph, pw), (th, tw) = pred.shape[:2], target.shape[:2]
        raise InputError(
            f"the masks differ in size: {names[0]} is {pw} x {ph}, {names[1]} is {tw} x {th} "
            "(width x height); upload masks of the same image"
        )
