"""The Oxford-IIIT Pet dataset in its official on-disk layout.

Layout::

    root/images/<stem>.jpg              (some are really GIF or PNG; read by content)
    root/annotations/trimaps/<stem>.png 1 = pet, 2 = background, 3 = border
    root/annotations/{trainval,test,list}.txt
    root/annotations/xmls/<stem>.xml    head boxes (trainval images only)

Label modes (see the notes' ``normalize``):

- ``binary`` (default): pet **and border** are 1, background is 0, exactly as in the notes;
- ``binary_ignore``: pet 1, background 0, border ``ignore_index``;
- ``trimap``: three classes, 0 background, 1 pet, 2 border;
- ``pet_head``: multi-label ``(2, H, W)`` target, channel 0 = pet (binary mapping), channel 1 =
  pet pixels inside the head box, so both labels are true on head pixels.

Masks are resized with nearest neighbour (the notes resize them bilinearly, which blends labels).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seglab.convert import image_to_tensor
from seglab.data.transforms import resize_pair
from seglab.io import read_image, read_mask

__all__ = ["OxfordPetDataset", "PET_MODES", "PET_SPLITS", "trimap_to_labels", "read_head_box"]

PET_MODES = ("binary", "binary_ignore", "trimap", "pet_head")
PET_SPLITS = ("trainval", "test", "train", "val", "all")


def trimap_to_labels(
    trimap: np.ndarray, mode: str = "binary", *, ignore_index: int = 255
) -> np.ndarray:
    """Map an Oxford-IIIT Pet trimap (1 pet, 2 background, 3 border) to class labels.

    Example:
        >>> trimap_to_labels(np.array([[1, 2, 3]]), "binary").tolist()
        [[1, 0, 1]]
    """
    if mode not in ("binary", "binary_ignore", "trimap"):
        raise ValueError(f"unknown mode {mode!r}; choose one of binary, binary_ignore, trimap")
    bad = ~np.isin(trimap, (1, 2, 3))
    if bad.any():
        raise ValueError(
            f"trimap values must be 1, 2 or 3; found {sorted(np.unique(trimap[bad]).tolist())[:5]}"
        )
    if mode == "binary":
        return (trimap != 2).astype(np.int64)
    if mode == "binary_ignore":
        return np.select([trimap == 1, trimap == 2], [1, 0], default=ignore_index).astype(np.int64)
    return np.select([trimap == 2, trimap == 1], [0, 1], default=2).astype(np.int64)


def read_head_box(root: str | os.PathLike, stem: str) -> tuple[int, int, int, int] | None:
    """The head box ``(xmin, ymin, xmax, ymax)`` of ``annotations/xmls/<stem>.xml``, or None.

    Raises:
        ValueError: if the file exists but has no readable ``bndbox``.
    """
    path = Path(root) / "annotations" / "xmls" / f"{stem}.xml"
    if not path.is_file():
        return None
    try:
        box = ET.parse(path).getroot().find("object/bndbox")
        return tuple(int(float(box.find(key).text)) for key in ("xmin", "ymin", "xmax", "ymax"))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as error:
        raise ValueError(f"cannot read the head box of {path}: {error}") from error


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split list not found: {path}")
    stems = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            stems.append(line.split()[0])
    return stems


class OxfordPetDataset(Dataset):
    """Oxford-IIIT Pet images with masks in one of four label modes.

    Args:
        root: folder with ``images/`` and ``annotations/``.
        split: ``trainval`` or ``test`` (official lists), ``train``/``val`` (a deterministic
            split of trainval), or ``all`` (every image that has a trimap, including the few
            that are in no list).
        mode: ``binary``, ``binary_ignore``, ``trimap`` or ``pet_head``.
        size: resize to ``size`` (int or (H, W)), images bilinear and masks nearest; None
            keeps the original size.
        val_fraction: share of trainval that ``val`` gets.
        seed: seed of the train/val split.
        ignore_index: the void label of ``binary_ignore``.

    Raises:
        ValueError: for an unknown mode or split.
        FileNotFoundError: for a missing split list, image or trimap (the path is named).

    Each item is ``(image, mask)``: ``(3, H, W)`` float32 in [0, 1], and ``(H, W)`` int64 or,
    in ``pet_head`` mode, ``(2, H, W)`` float32 in {0, 1}.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "trainval",
        mode: str = "binary",
        size: int | tuple[int, int] | None = 128,
        *,
        val_fraction: float = 0.1,
        seed: int = 0,
        ignore_index: int = 255,
    ) -> None:
        if mode not in PET_MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(PET_MODES)}")
        if split not in PET_SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(PET_SPLITS)}")
        self.root = Path(root)
        self.split, self.mode, self.size, self.ignore_index = split, mode, size, ignore_index
        annotations = self.root / "annotations"
        if split == "all":
            stems = sorted(
                path.stem
                for path in (annotations / "trimaps").glob("*.png")
                if not path.name.startswith(".")
            )
        elif split in ("trainval", "test"):
            stems = _read_list(annotations / f"{split}.txt")
        else:
            stems = self._train_val(
                _read_list(annotations / "trainval.txt"), val_fraction, seed, split
            )
        if mode == "pet_head":
            # Head boxes exist only for some images; the others cannot be labelled.
            stems = [stem for stem in stems if (annotations / "xmls" / f"{stem}.xml").is_file()]
        if not stems:
            raise ValueError(f"split {split!r} of {self.root} has no images")
        self.stems = stems
        self.class_names = {
            "binary": ["background", "pet"],
            "binary_ignore": ["background", "pet"],
            "trimap": ["background", "pet", "border"],
            "pet_head": ["pet", "head"],
        }[mode]
        self.num_classes = len(self.class_names)

    @staticmethod
    def _train_val(stems: list[str], val_fraction: float, seed: int, split: str) -> list[str]:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        # Stratify by breed (the stem without its number) so that val has every breed.
        breeds: dict[str, list[str]] = {}
        for stem in sorted(set(stems)):
            breeds.setdefault(stem.rsplit("_", 1)[0], []).append(stem)
        rng = np.random.default_rng(seed)
        chosen = []
        for breed in sorted(breeds):
            members = breeds[breed]
            order = rng.permutation(len(members))
            count = max(1, round(val_fraction * len(members)))
            picked = {members[index] for index in order[:count]}
            chosen += [stem for stem in members if (stem in picked) == (split == "val")]
        return chosen

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        stem = self.stems[index]
        image = read_image(self.root / "images" / f"{stem}.jpg")
        trimap = read_mask(self.root / "annotations" / "trimaps" / f"{stem}.png")
        if trimap.shape != image.shape[:2]:
            raise ValueError(f"trimap of {stem} is {trimap.shape}, its image is {image.shape[:2]}")
        if self.mode == "pet_head":
            pet = trimap_to_labels(trimap, "binary")
            head = np.zeros_like(pet)
            x0, y0, x1, y1 = read_head_box(self.root, stem)
            head[y0 : y1 + 1, x0 : x1 + 1] = 1  # VOC boxes are inclusive
            target = torch.from_numpy(np.stack([pet, pet * head]).astype(np.float32))
        else:
            target = torch.from_numpy(
                trimap_to_labels(trimap, self.mode, ignore_index=self.ignore_index)
            )
        tensor = image_to_tensor(image)
        if self.size is not None:
            tensor, target = resize_pair(tensor, target, self.size)
        return tensor, target
