"""Your own data: a folder of images and a folder of index masks, matched by file stem.

::

    images/cat01.jpg   masks/cat01.png   (palette or grayscale PNG of class indices)
    images/cat02.png   masks/cat02.png
                       masks/classes.txt (optional: one class name per line, index 0 first)

Mask pixels are class indices in ``[0, num_classes)``, or ``ignore_index`` (255 by default,
the Pascal VOC "void") for pixels that no loss or metric should count.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seglab._checks import IGNORE_INDEX
from seglab.data.transforms import make_normalize, size_pair, to_tensor_pair
from seglab.io import read_image, read_mask
from seglab.limits import MAX_CLASSES

__all__ = ["MaskFolderDataset", "IMAGE_SUFFIXES", "read_class_names"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """One class name per line, index 0 first; blank lines and ``#`` comments are skipped.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not UTF-8 text, lists no names, a name twice (two classes would
            merge), or more than :data:`~seglab.limits.MAX_CLASSES` (1024) names (a model
            cannot have more classes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-name file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text: {error}") from error
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise ValueError(f"{path} lists no class names")
    if len(names) > MAX_CLASSES:
        raise ValueError(
            f"{path} lists {len(names):,} class names; at most {MAX_CLASSES} are supported "
            "(seglab.limits.MAX_CLASSES)"
        )
    # Counter, not names.count per name: that is quadratic in the number of lines.
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"{path} lists class names more than once: {repeated[:10]}")
    return names


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        # Names starting with "." are editor or macOS metadata files, not data.
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() in suffixes:
            if path.stem in files:
                raise ValueError(
                    f"two files share the stem {path.stem!r} in {folder}: "
                    f"{files[path.stem].name}, {path.name}"
                )
            files[path.stem] = path
    return files


class MaskFolderDataset(Dataset):
    """Images and index masks matched by file stem (see the module notes for the layout).

    Args:
        images_dir: folder of images in any common format (read by content, as RGB).
        masks_dir: folder of ``.png`` index masks (palette or grayscale; 16-bit works too).
        size: output size, int or (H, W); images bilinear (antialiased), masks nearest.
            ``None`` keeps each file's own size.
        class_names: list of names, or a path to a file with one name per line. ``None``
            reads ``classes.txt`` in ``masks_dir`` when it exists.
        num_classes: number of classes when no names are known (they become ``class_0``...).
            With names it must agree with their count.
        ignore_index: mask value that means "void"; ``None`` allows no such value.
        transform: paired transform applied after the resize.
        normalize: ``None``, ``"imagenet"`` or ``(mean, std)``; applied last.

    Raises:
        FileNotFoundError: for a missing folder or class-name file.
        ValueError: for unmatched files (counts and a few names), two files with one stem, no
            files, no class information, ``num_classes`` disagreeing with the names, class
            names that are empty or repeat, or more than
            :data:`~seglab.limits.MAX_CLASSES` (1024) classes.

    Reading an item raises ``ValueError`` naming the file when the image or mask cannot be
    read, the mask is a colour (RGB) image, its size differs from its image's, or it holds
    labels outside ``[0, num_classes)`` other than ``ignore_index`` (16-bit masks included).

    Shape:
        - image: ``(3, H, W)`` float32, in [0, 1] unless normalised.
        - mask: ``(H, W)`` int64.

    Example:
        >>> dataset = MaskFolderDataset("data/images", "data/masks", size=256)  # doctest: +SKIP
        >>> dataset.class_names  # doctest: +SKIP
        ['background', 'cat', 'dog']
    """

    def __init__(
        self,
        images_dir: str | os.PathLike,
        masks_dir: str | os.PathLike,
        *,
        size: int | tuple[int, int] | None = None,
        class_names: list[str] | str | os.PathLike | None = None,
        num_classes: int | None = None,
        ignore_index: int | None = IGNORE_INDEX,
        transform: Callable | None = None,
        normalize: str | tuple | None = None,
    ) -> None:
        if size is not None:
            size_pair(size)  # fail early on a bad size, not at the first item
        self.images_dir, self.masks_dir = Path(images_dir), Path(masks_dir)
        images = _by_stem(self.images_dir, IMAGE_SUFFIXES)
        masks = _by_stem(self.masks_dir, (".png",))
        only_images = sorted(set(images) - set(masks))
        only_masks = sorted(set(masks) - set(images))
        if only_images or only_masks:
            raise ValueError(
                f"images and masks do not match: {len(only_images)} image(s) without a mask "
                f"(e.g. {only_images[:3]}), {len(only_masks)} mask(s) without an image "
                f"(e.g. {only_masks[:3]})"
            )
        if not images:
            raise ValueError(f"no images found in {self.images_dir} (suffixes {IMAGE_SUFFIXES})")
        self.stems = sorted(images)
        self.image_paths = [images[stem] for stem in self.stems]
        self.mask_paths = [masks[stem] for stem in self.stems]
        self.class_names = self._class_names(class_names, num_classes)
        self.num_classes = len(self.class_names)
        self.ignore_index = ignore_index
        self.size = size
        self.task = "multiclass"
        self.transform = transform
        self.normalize = normalize
        self._normalize = make_normalize(normalize)

    def _class_names(
        self, class_names: list[str] | str | os.PathLike | None, num_classes: int | None
    ) -> list[str]:
        if isinstance(class_names, str | os.PathLike):
            class_names = read_class_names(class_names)
        elif class_names is None and (self.masks_dir / "classes.txt").is_file():
            class_names = read_class_names(self.masks_dir / "classes.txt")
        if num_classes is not None and (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, int)
            or not 1 <= num_classes <= MAX_CLASSES
        ):
            raise ValueError(
                f"num_classes must be an integer in 1..{MAX_CLASSES} (seglab.limits.MAX_CLASSES), "
                f"got {num_classes!r:.100}"
            )
        if class_names is None:
            if num_classes is None:
                raise ValueError(
                    "no class names: give class_names, num_classes, or a classes.txt in "
                    f"{self.masks_dir}"
                )
            class_names = [f"class_{index}" for index in range(num_classes)]
        class_names = list(class_names)
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(
                f"num_classes={num_classes} but {len(class_names)} class names are given"
            )
        if not class_names or len(class_names) > MAX_CLASSES:
            raise ValueError(
                f"expected 1..{MAX_CLASSES} class names (seglab.limits.MAX_CLASSES), "
                f"got {len(class_names):,}"
            )
        bad = [name for name in class_names if not isinstance(name, str) or not name.strip()]
        if bad:
            raise ValueError(f"class names must be non-empty strings, got {bad[0]!r:.100}")
        repeated = sorted(name for name, count in Counter(class_names).items() if count > 1)
        if repeated:
            raise ValueError(f"class names must be unique; repeated: {repeated[:10]}")
        return class_names

    @property
    def cache_key(self) -> dict:
        """Everything that decides the decoded items, for :class:`~seglab.data.CachedDataset`."""
        return {
            "dataset": "mask-folder",
            "images": str(self.images_dir.resolve()),
            "masks": str(self.masks_dir.resolve()),
            "size": self.size,
            "stems": self.stems,
        }

    def __len__(self) -> int:
        return len(self.stems)

    def __repr__(self) -> str:
        return (
            f"MaskFolderDataset(images_dir={str(self.images_dir)!r}, "
            f"masks_dir={str(self.masks_dir)!r}, size={self.size!r}, items={len(self)}, "
            f"num_classes={self.num_classes})"
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = read_image(self.image_paths[index])
        path = self.mask_paths[index]
        mask = read_mask(path).astype(np.int64)
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"{path} is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{self.image_paths[index].name} is {image.shape[1]}x{image.shape[0]}"
            )
        bad = (mask < 0) | (mask >= self.num_classes)
        if self.ignore_index is not None:
            bad &= mask != self.ignore_index
        if bad.any():
            raise ValueError(
                f"{path} has labels {np.unique(mask[bad])[:5].tolist()} outside "
                f"[0, {self.num_classes}) (ignore_index={self.ignore_index})"
            )
        tensor, target = to_tensor_pair(image, mask, self.size)
        if self.transform is not None:
            tensor, target = self.transform(tensor, target)
        if self._normalize is not None:
            tensor, target = self._normalize(tensor, target)
        return tensor, target
