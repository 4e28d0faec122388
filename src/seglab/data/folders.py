"""Your own data: a folder of images and a folder of index masks, matched by file stem."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seglab.convert import image_to_tensor
from seglab.data.transforms import resize_pair
from seglab.io import read_image, read_mask

__all__ = ["MaskFolderDataset", "IMAGE_SUFFIXES", "read_class_names"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """One class name per line; blank lines and ``#`` comments are skipped."""
    lines = Path(path).read_text().splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not names:
        raise ValueError(f"{path} lists no class names")
    return names


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes:
            if path.stem in files:
                raise ValueError(
                    f"two files share the stem {path.stem!r}: {files[path.stem].name}, {path.name}"
                )
            files[path.stem] = path
    return files


class MaskFolderDataset(Dataset):
    """Images and index/palette PNG masks matched by file stem.

    ``images_dir/cat01.jpg`` goes with ``masks_dir/cat01.png``. Class names come from
    ``class_names`` (a list or a text file), else from ``classes.txt`` in the masks folder.

    Args:
        images_dir: folder of images (any common format).
        masks_dir: folder of ``.png`` index masks (palette or grayscale).
        size: resize to this size (int or (H, W)); images bilinear, masks nearest. None keeps
            each file's own size.
        class_names: list of names, or a path to a file with one name per line.
        num_classes: number of classes when no names are known (names become ``class_i``).
        ignore_index: mask value that means "void".

    Raises:
        FileNotFoundError: for a missing folder.
        ValueError: for unmatched files (a few are named), no files, or no class information.

    Each item is ``(image, mask)``: ``(3, H, W)`` float32 in [0, 1] and ``(H, W)`` int64.
    A mask whose size differs from its image, or with labels outside ``[0, K)`` other than
    ``ignore_index``, raises ``ValueError`` naming the file when the item is read.
    """

    def __init__(
        self,
        images_dir: str | os.PathLike,
        masks_dir: str | os.PathLike,
        *,
        size: int | tuple[int, int] | None = None,
        class_names: list[str] | str | os.PathLike | None = None,
        num_classes: int | None = None,
        ignore_index: int | None = 255,
    ) -> None:
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
            raise ValueError(f"no images found in {self.images_dir}")
        self.stems = sorted(images)
        self.image_paths = [images[stem] for stem in self.stems]
        self.mask_paths = [masks[stem] for stem in self.stems]
        if isinstance(class_names, str | os.PathLike):
            class_names = read_class_names(class_names)
        elif class_names is None and (self.masks_dir / "classes.txt").is_file():
            class_names = read_class_names(self.masks_dir / "classes.txt")
        if class_names is None:
            if num_classes is None:
                raise ValueError(
                    f"no class names: give class_names, num_classes, or a classes.txt in {self.masks_dir}"
                )
            class_names = [f"class_{index}" for index in range(num_classes)]
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(
                f"num_classes={num_classes} but {len(class_names)} class names are given"
            )
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.ignore_index = ignore_index
        self.size = size

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = read_image(self.image_paths[index])
        mask = read_mask(self.mask_paths[index]).astype(np.int64)
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"{self.mask_paths[index]} is {mask.shape[1]}x{mask.shape[0]} but its image is "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        bad = (mask >= self.num_classes) & (mask != self.ignore_index)
        if bad.any():
            raise ValueError(
                f"{self.mask_paths[index]} has labels {sorted(np.unique(mask[bad]).tolist())[:5]} "
                f"outside [0, {self.num_classes}) (ignore_index={self.ignore_index})"
            )
        tensor, target = image_to_tensor(image), torch.from_numpy(mask)
        if self.size is not None:
            tensor, target = resize_pair(tensor, target, self.size)
        return tensor, target
