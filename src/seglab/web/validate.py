"""Checks on what a web user uploads, before any pixel is decoded.

Plain Python (no gradio), so the rules are unit-tested on their own and the same messages
reach the page, the HTTP API and the tests. Every failure is an :class:`InputError` (a
``ValueError``) whose message is meant for the person who uploaded the file: it names the file
by the name they gave it, not by the server's temporary path, and says what to do instead.

The pixel limit is checked from the file header, so a small file that declares a huge canvas
(a decompression bomb) is refused before it is decoded. PIL's own bomb guard
(:class:`PIL.Image.DecompressionBombError`, and its warning, which is turned into an error
here) backs this up.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_MEGAPIXELS",
    "InputError",
    "check_pixel_limit",
    "check_same_size",
    "load_image_file",
    "load_mask_file",
]

DEFAULT_MAX_MEGAPIXELS = 25.0


class InputError(ValueError):
    """An upload the app refuses; the message is shown to the user as it is."""


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
            the pixel limit, a decompression bomb, or a damaged or truncated file.
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
