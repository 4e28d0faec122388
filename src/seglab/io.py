"""Reading images, and reading and writing index masks as (palette) PNG files.

Masks follow the Pascal VOC convention: a palette PNG whose pixel values are class indices,
with 255 meaning void (ignored). Writes are atomic: a temporary file in the same folder is
renamed over the target, so an interrupted run never leaves a half-written mask.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "read_image",
    "read_mask",
    "write_mask",
    "write_labels",
    "write_image",
    "voc_palette",
    "atomic_write_bytes",
    "remove_stale_temp_files",
    "ensure_folder",
]


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """The Pascal VOC colour map: class 0 is black, 255 (void) is (224, 224, 192).

    Returns:
        ``(num_colors, 3)`` uint8 array.
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        label, r, g, b = index, 0, 0, 0
        # Bit-interleaving spreads neighbouring class indices over distant colours.
        for shift in range(7, -1, -1):
            r |= ((label >> 0) & 1) << shift
            g |= ((label >> 1) & 1) << shift
            b |= ((label >> 2) & 1) << shift
            label >>= 3
        palette[index] = (r, g, b)
    return palette[:num_colors]


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        # The with-block closes the file once the pixels are loaded: GIF and TIFF files would
        # otherwise stay open until garbage collection (a leak over a long predict run).
        with Image.open(path) as image:
            image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"refusing to read {path}: {error}") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image file PIL understands as ``(H, W, 3)`` uint8 RGB.

    The format is detected from the content, not the extension (some Oxford-IIIT Pet ``.jpg``
    files are really GIF or PNG). Palette, grayscale, 16-bit, float, CMYK and alpha images are
    converted to RGB; alpha is dropped; 16-bit, 32-bit and float images are scaled by their
    maximum (negative values clip to 0). EXIF orientation is deliberately not applied, because
    the masks that go with an image are stored in the raw orientation.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is not a readable image (the message names the file).
    """
    image = _open(path)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scale 16/32-bit integer and float images to 8 bits by their own maximum rather than
        # clipping (PIL's own conversion would turn a float image in [0, 1] black).
        array = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64)), 0.0, None)
        top = array.max()
        array = (array / top * 255.0) if top > 0 else array
        gray = np.round(array).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode != "RGB":
        image = image.convert("RGBA").convert("RGB") if image.mode == "P" else image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read an index mask: palette (``P``), grayscale (``L``) or 16-bit PNG.

    For palette PNGs the stored indices are returned, not the colours.

    Returns:
        ``(H, W)`` array, uint8 for 8-bit masks and int32 for 16/32-bit ones.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is unreadable or a colour (RGB) image, which has no indices.
    """
    image = _open(path)
    if image.mode in ("P", "L", "1"):
        return np.asarray(image, dtype=np.uint8).copy()
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image).astype(np.int32)
    raise ValueError(
        f"mask {path} has mode {image.mode!r}; expected an index mask (palette 'P', grayscale 'L' "
        "or 16-bit). Convert colour masks to class indices first."
    )


TEMP_SUFFIX = ".tmp"
# Hex digits now; older seglab versions used mkstemp's eight letters, digits and underscores.
_TEMP_NAME = re.compile(r"\..+\.[0-9a-z_]{8}" + re.escape(TEMP_SUFFIX))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    The file gets the permissions any new file gets (``0o666`` less the umask: ``0o644``
    under the usual umask 022), not the ``0o600`` of :func:`tempfile.mkstemp`.

    Raises:
        OSError: (``PermissionError``, ``NotADirectoryError``, ``IsADirectoryError``, ...)
            with a message that names ``path``, when the folder or the file cannot be written.
    """
    path = Path(path)
    ensure_folder(path.parent, purpose=f"write {path}")
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        # O_EXCL on a fresh random name: the kernel applies the umask to 0o666, as for any
        # file a program creates, and no other writer can share the temporary file.
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise


def ensure_folder(folder: str | os.PathLike, *, purpose: str | None = None) -> Path:
    """Create ``folder`` (and its parents) unless it exists.

    Raises:
        NotADirectoryError: if it, or a folder above it, is an existing file.
        OSError: (e.g. ``PermissionError``) if it cannot be created; the message names it.
    """
    folder = Path(folder)
    what = purpose or f"create {folder}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        raise NotADirectoryError(
            errno.ENOTDIR, f"cannot {what}: {blocker} is a file, not a folder"
        ) from None
    except OSError as error:
        raise type(error)(error.errno, f"cannot {what}: {error.strerror or error}") from None
    return folder


def _naming(error: OSError, path: Path) -> OSError:
    """The same kind of OSError, with a message about ``path`` rather than a temporary file."""
    message = f"cannot write {path}: {error.strerror or error}"
    return type(error)(error.errno, message) if error.errno else type(error)(message)


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that an interrupted :func:`atomic_write_bytes` left behind.

    Only files named like ours (``.<name>.<8 random characters>.tmp``) are touched. Call it before
    writing into ``folder``, never while another process writes there.

    Returns:
        The deleted files.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for candidate in folder.glob(f".*{TEMP_SUFFIX}"):
        if _TEMP_NAME.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def write_mask(
    path: str | os.PathLike, mask: np.ndarray, palette: np.ndarray | None = None
) -> None:
    """Write an index mask as a palette PNG (VOC colours by default), atomically.

    Args:
        path: target file; parent folders are created.
        mask: ``(H, W)`` int array with values in [0, 255] (255 = void by convention).
        palette: optional ``(P, 3)`` uint8 colour table, P <= 256; default :func:`voc_palette`.

    Raises:
        ValueError: if the mask is not 2-D or has values outside [0, 255].
    """
    import io as _io

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(
            f"mask values must be in [0, 255] for a palette PNG, got [{mask.min()}, {mask.max()}]"
        )
    colours = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    if colours.ndim != 2 or colours.shape[1] != 3 or len(colours) > 256:
        raise ValueError(f"palette must be (P, 3) with P <= 256, got shape {colours.shape}")
    # putpalette turns the 8-bit "L" image into a "P" image without touching its indices.
    image = Image.fromarray(mask.astype(np.uint8))
    image.putpalette(colours.reshape(-1).tolist())
    buffer = _io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def write_labels(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write a label map of any count (e.g. 800 superpixels) as a PNG, atomically.

    Up to 256 labels give an 8-bit palette PNG (:func:`write_mask`); more give a 16-bit
    grayscale PNG, which :func:`read_mask` reads back as int32.

    Raises:
        ValueError: if the map is not 2-D or has labels outside [0, 65535].
    """
    import io as _io

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError(f"labels must be in [0, 65535], got [{labels.min()}, {labels.max()}]")
    if not labels.size or labels.max() <= 255:
        write_mask(path, labels)
        return
    buffer = _io.BytesIO()
    Image.fromarray(labels.astype(np.uint16)).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def write_image(path: str | os.PathLike, image: np.ndarray, *, compress_level: int = 6) -> None:
    """Write an ``(H, W)`` or ``(H, W, 3)`` uint8 image as PNG, atomically.

    ``compress_level`` is zlib's 0-9: 1 writes a photo-like image about 4x faster than the
    default 6, for files about 10 % larger.
    """
    import io as _io

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"expected a uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}"
        )
    buffer = _io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=compress_level)
    atomic_write_bytes(path, buffer.getvalue())
