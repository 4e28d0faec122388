"""The Oxford-IIIT Pet dataset in its official on-disk layout.

Layout (as extracted from the official ``images.tar.gz`` and ``annotations.tar.gz``)::

    root/images/<stem>.jpg               a few are really GIF or PNG; read by content
    root/annotations/trimaps/<stem>.png  1 = pet, 2 = background, 3 = border
    root/annotations/trainval.txt        official split lists: "<stem> class species breed"
    root/annotations/test.txt
    root/annotations/list.txt            both lists together (lines with # are comments)
    root/annotations/xmls/<stem>.xml     Pascal VOC head boxes (most trainval images only)

Label modes:

============== ====================================================== =====================
mode           trimap 1 (pet) / 2 (background) / 3 (border)           classes
============== ====================================================== =====================
binary         1 / 0 / **1**: the notes' mapping, border counts as pet background, pet
binary_ignore  1 / 0 / ``ignore_index``                               background, pet
trimap         1 / 0 / 2                                              background, pet, border
pet_head       multi-label ``(2, H, W)``: channel 0 = pet (binary      pet, head
               mapping), channel 1 = pet pixels inside the head box,
               so both labels are true on head pixels
============== ====================================================== =====================

Splits: ``trainval`` and ``test`` follow the official list files. ``train`` and ``val`` cut
trainval deterministically (see :func:`split_train_val`). ``all`` is every image that has a
trimap, including the few that are in no list (e.g. ``Abyssinian_34`` and ``Abyssinian_82``).

Resizing: images bilinearly with antialiasing, masks with **nearest neighbour**. The notes
resize masks bilinearly, which blends labels (a border pixel between 1 and 2 would become
1.5); seglab never blends labels.

Quirks of the real data, and what this reader does about them:

- ``.jpg`` files that are really GIF, PNG, RGBA, grayscale or palette images
  (``Abyssinian_5``, ``Abyssinian_34``, several ``Egyptian_Mau``, two
  ``staffordshire_bull_terrier``) are read by content and converted to RGB;
- images in no list file (``Abyssinian_34`` and ``Abyssinian_82``) are only in ``all``;
  the trimap of ``Abyssinian_34`` is entirely background (value 2), so its binary mask is
  all 0;
- a few trainval images have no head-box xml (``Abyssinian_104``, ``Bengal_111``,
  ``Bengal_175``, ``american_bulldog_202`` among the shared 3 breeds); ``pet_head`` mode
  skips them and lists them in ``dataset.skipped``. The official test split has no xmls
  at all, so ``pet_head`` with ``split="test"`` is an error;
- VOC head boxes are 1-based and inclusive (the smallest ``xmin`` in the data is 1).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seglab._checks import IGNORE_INDEX
from seglab.data.transforms import make_normalize, size_pair, to_tensor_pair
from seglab.io import read_image, read_mask
from seglab.limits import DEFAULT_IMG_SIZE

__all__ = [
    "OxfordPetDataset",
    "PET_MODES",
    "PET_SPLITS",
    "trimap_to_labels",
    "read_head_box",
    "read_split_list",
    "split_train_val",
]

PET_MODES = ("binary", "binary_ignore", "trimap", "pet_head")
PET_SPLITS = ("trainval", "test", "train", "val", "all")

_CLASS_NAMES = {
    "binary": ["background", "pet"],
    "binary_ignore": ["background", "pet"],
    "trimap": ["background", "pet", "border"],
    "pet_head": ["pet", "head"],
}
_LABEL_MODES = ("binary", "binary_ignore", "trimap")


def trimap_to_labels(
    trimap: np.ndarray, mode: str = "binary", *, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Map an Oxford-IIIT Pet trimap (1 pet, 2 background, 3 border) to class labels.

    Args:
        trimap: integer array with values in {1, 2, 3}.
        mode: ``binary`` (border is pet), ``binary_ignore`` (border is ``ignore_index``) or
            ``trimap`` (0 background, 1 pet, 2 border).
        ignore_index: the border label of ``binary_ignore``.

    Returns:
        int64 array of the same shape.

    Raises:
        ValueError: for an unknown mode or trimap values other than 1, 2, 3.

    Example:
        >>> trimap_to_labels(np.array([[1, 2, 3]]), "binary").tolist()
        [[1, 0, 1]]
        >>> trimap_to_labels(np.array([[1, 2, 3]]), "trimap").tolist()
        [[1, 0, 2]]
    """
    if mode not in _LABEL_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(_LABEL_MODES)}")
    trimap = np.asarray(trimap)
    if trimap.size and (trimap.min() < 1 or trimap.max() > 3):
        bad = np.unique(trimap[(trimap < 1) | (trimap > 3)])
        raise ValueError(f"trimap values must be 1, 2 or 3; found {bad[:5].tolist()}")
    # One table lookup per pixel; index 0 is never used (checked above).
    table = {
        "binary": [0, 1, 0, 1],
        "binary_ignore": [0, 1, 0, ignore_index],
        "trimap": [0, 1, 0, 2],
    }[mode]
    return np.asarray(table, dtype=np.int64)[trimap]


def read_head_box(root: str | os.PathLike, stem: str) -> tuple[int, int, int, int] | None:
    """The head box of ``annotations/xmls/<stem>.xml``, or None if there is no such file.

    Returns:
        ``(xmin, ymin, xmax, ymax)`` as stored: Pascal VOC pixel coordinates, 1-based and
        inclusive (the top-left pixel is (1, 1)).

    Raises:
        ValueError: if the file exists but has no readable ``object/bndbox``, a coordinate is
            not a finite number, or the box is empty or inverted (``xmax < xmin``,
            ``ymax < ymin``, or ``xmax``/``ymax`` below 1): a negative ``xmax`` would
            otherwise slice from the far side of the image.

    Example:
        >>> read_head_box("/nonexistent", "Abyssinian_1") is None
        True
    """
    path = Path(root) / "annotations" / "xmls" / f"{stem}.xml"
    if not path.is_file():
        return None
    try:
        box = ET.parse(path).getroot().find("object/bndbox")
        xmin, ymin, xmax, ymax = (
            int(float(box.find(key).text)) for key in ("xmin", "ymin", "xmax", "ymax")
        )
    except (ET.ParseError, AttributeError, TypeError, ValueError, OverflowError) as error:
        # OverflowError: "inf" parses as a float but is no pixel.
        raise ValueError(f"cannot read the head box of {path}: {error}") from error
    if xmax < max(xmin, 1) or ymax < max(ymin, 1):
        raise ValueError(
            f"cannot read the head box of {path}: ({xmin}, {ymin}, {xmax}, {ymax}) is empty or "
            "inverted (VOC boxes are 1-based, xmin <= xmax and ymin <= ymax)"
        )
    return xmin, ymin, xmax, ymax


def read_split_list(path: str | os.PathLike) -> list[str]:
    """The image stems of an official list file (first column; ``#`` lines are comments).

    Raises:
        FileNotFoundError: if the list does not exist (the path is named).
        ValueError: if a stem is not a plain file name (``..``, ``/`` or ``\\`` in it would
            point outside ``images/``); the message names the list and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"split list not found: {path}. This copy of Oxford-IIIT Pet has no such list "
            "(subsets often ship without test.txt); use split='trainval', 'train', 'val' or 'all'"
        )
    stems = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            stem = line.split()[0]
            if "/" in stem or "\\" in stem or stem in (".", ".."):
                raise ValueError(
                    f"{path}: line {number}: {stem!r:.100} is not an image name (a stem must "
                    "not contain '/', '\\' or be '..')"
                )
            stems.append(stem)
    return stems


def _breed(stem: str) -> str:
    # Stems are "<Breed_Name>_<number>"; cat breeds are capitalised, dog breeds are not.
    return stem.rsplit("_", 1)[0]


def split_train_val(
    stems: list[str], *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Cut a list of stems into disjoint ``(train, val)`` lists, stratified by breed.

    Each breed gives ``round(val_fraction * count)`` images to val (at least one when it
    has two or more), chosen by a NumPy generator seeded with ``seed``. The result depends only
    on the set of stems, the fraction and the seed, not on their order or the platform.

    Raises:
        ValueError: if ``val_fraction`` is not in (0, 1).

    Example:
        >>> train, val = split_train_val([f"Bengal_{i}" for i in range(10)], val_fraction=0.2)
        >>> len(train), len(val)
        (8, 2)
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    breeds: dict[str, list[str]] = {}
    for stem in sorted(set(stems)):
        breeds.setdefault(_breed(stem), []).append(stem)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for breed in sorted(breeds):
        members = breeds[breed]
        count = round(val_fraction * len(members))
        count = min(max(count, 1), len(members) - 1) if len(members) > 1 else 0
        picked = {members[index] for index in rng.permutation(len(members))[:count]}
        for stem in members:
            (val if stem in picked else train).append(stem)
    return train, val


class OxfordPetDataset(Dataset):
    """Oxford-IIIT Pet images with masks in one of four label modes (see the module notes).

    Args:
        root: folder with ``images/`` and ``annotations/``.
        split: ``trainval`` or ``test`` (official lists), ``train`` / ``val`` (a stratified,
            seeded cut of trainval), or ``all`` (every image that has a trimap).
        mode: ``binary``, ``binary_ignore``, ``trimap`` or ``pet_head``.
        size: output size, int or (H, W); images bilinear (antialiased), masks nearest.
            ``None`` keeps each image's own size (then batches need a cropping transform).
        val_fraction: share of trainval that ``val`` gets.
        seed: seed of the train/val cut.
        transform: paired transform ``(image, mask) -> (image, mask)`` applied after the
            resize, e.g. :mod:`seglab.data.transforms` augmentation.
        normalize: ``None`` (images in [0, 1]), ``"imagenet"`` or ``(mean, std)``; applied
            last. Leave it None when wrapping in :class:`~seglab.data.CachedDataset` and
            normalise in the cache's transform instead.
        ignore_index: the border label of ``binary_ignore``.

    Raises:
        ValueError: for an unknown mode, split or ``normalize``, or an empty split.
        FileNotFoundError: for a missing split list, or listed images / trimaps that are not
            on disk (a few are named).

    Reading an item raises ``ValueError`` naming the file for unreadable images, trimaps with
    values outside {1, 2, 3}, or a trimap whose size differs from its image.

    Attributes:
        stems: file stem of each item, in order (``dataset.stems[i]`` is item ``i``).
        class_names, num_classes, ignore_index: what a model and the metrics need.
        task: ``"multiclass"`` or, for ``pet_head``, ``"multilabel"``.
        skipped: stems left out because they have no head box (``pet_head`` mode only).

    Shape:
        - image: ``(3, H, W)`` float32, in [0, 1] unless normalised.
        - mask: ``(H, W)`` int64, or ``(2, H, W)`` float32 in {0, 1} for ``pet_head``.

    Example:
        >>> dataset = OxfordPetDataset("../shared/data/oxford-iiit-pet", "val")  # doctest: +SKIP
        >>> image, mask = dataset[0]  # doctest: +SKIP
        >>> image.shape, mask.shape, dataset.class_names  # doctest: +SKIP
        (torch.Size([3, 128, 128]), torch.Size([128, 128]), ['background', 'pet'])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "trainval",
        mode: str = "binary",
        size: int | tuple[int, int] | None = DEFAULT_IMG_SIZE,
        *,
        val_fraction: float = 0.1,
        seed: int = 0,
        transform: Callable | None = None,
        normalize: str | tuple | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        if mode not in PET_MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(PET_MODES)}")
        if split not in PET_SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(PET_SPLITS)}")
        if size is not None:
            size_pair(size)  # fail early on a bad size, not at the first item
        self.root = Path(root)
        self.split, self.mode, self.size = split, mode, size
        self.val_fraction, self.seed = val_fraction, seed
        self.ignore_index = ignore_index
        self.transform = transform
        self._normalize = make_normalize(normalize)
        self.normalize = normalize

        stems = self._split_stems()
        self._check_files(stems)
        self.skipped: list[str] = []
        if mode == "pet_head":
            # Only images with a head box can be labelled; the official test split has none.
            xmls = self.root / "annotations" / "xmls"
            has_box = {stem: (xmls / f"{stem}.xml").is_file() for stem in stems}
            self.skipped = [stem for stem in stems if not has_box[stem]]
            stems = [stem for stem in stems if has_box[stem]]
        if not stems:
            detail = " with a head box (annotations/xmls)" if mode == "pet_head" else ""
            raise ValueError(f"split {split!r} of {self.root} has no images{detail}")
        self.stems = stems
        self.class_names = list(_CLASS_NAMES[mode])
        self.num_classes = len(self.class_names)
        self.task = "multilabel" if mode == "pet_head" else "multiclass"

    def _split_stems(self) -> list[str]:
        annotations = self.root / "annotations"
        if self.split in ("trainval", "test"):
            return read_split_list(annotations / f"{self.split}.txt")
        if self.split in ("train", "val"):
            train, val = split_train_val(
                read_split_list(annotations / "trainval.txt"),
                val_fraction=self.val_fraction,
                seed=self.seed,
            )
            return train if self.split == "train" else val
        trimaps = annotations / "trimaps"
        if not trimaps.is_dir():
            raise FileNotFoundError(f"no trimap folder: {trimaps}")
        # Trimaps, not list.txt, decide "all": a few images are in no list at all. Names
        # starting with "." are macOS metadata files that ship in some archives.
        return sorted(
            path.stem
            for path in trimaps.glob("*.png")
            if not path.name.startswith(".")
            and (self.root / "images" / f"{path.stem}.jpg").exists()
        )

    def _check_files(self, stems: list[str]) -> None:
        missing = [
            str(path)
            for stem in stems
            for path in (self.image_path(stem), self.trimap_path(stem))
            if not path.is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} file(s) of split {self.split!r} are missing, e.g. {missing[:3]}"
            )

    def image_path(self, stem: str) -> Path:
        """The image file of ``stem``."""
        return self.root / "images" / f"{stem}.jpg"

    def trimap_path(self, stem: str) -> Path:
        """The trimap file of ``stem``."""
        return self.root / "annotations" / "trimaps" / f"{stem}.png"

    @property
    def cache_key(self) -> dict:
        """Everything that decides the decoded items, for :class:`~seglab.data.CachedDataset`."""
        return {
            "dataset": "oxford-pet",
            "root": str(self.root.resolve()),
            "mode": self.mode,
            "size": self.size,
            "ignore_index": self.ignore_index,
            "stems": self.stems,
        }

    def __len__(self) -> int:
        return len(self.stems)

    def __repr__(self) -> str:
        return (
            f"OxfordPetDataset(root={str(self.root)!r}, split={self.split!r}, "
            f"mode={self.mode!r}, size={self.size!r}, items={len(self)})"
        )

    def _layers(self, stem: str, shape: tuple[int, int] | None) -> np.ndarray:
        """``(L, H, W)`` uint8: the checked trimap, and for ``pet_head`` the head-box layer."""
        path = self.trimap_path(stem)
        trimap = read_mask(path)
        if shape is not None and trimap.shape != tuple(shape):
            raise ValueError(
                f"{path} is {trimap.shape[1]}x{trimap.shape[0]} but its image "
                f"{self.image_path(stem).name} is {shape[1]}x{shape[0]}"
            )
        if trimap.size and (trimap.min() < 1 or trimap.max() > 3):
            bad = np.unique(trimap[(trimap < 1) | (trimap > 3)])[:5].tolist()
            raise ValueError(f"{path}: trimap values must be 1, 2 or 3; found {bad}")
        if self.mode != "pet_head":
            return trimap[None]
        head = np.zeros_like(trimap)
        xmin, ymin, xmax, ymax = read_head_box(self.root, stem)
        # VOC: 1-based, inclusive; read_head_box guarantees xmax, ymax >= 1, so no slice end is
        # negative (which would count from the far side), and a box past the image is clipped.
        head[max(ymin - 1, 0) : ymax, max(xmin - 1, 0) : xmax] = 1
        return np.stack([trimap, head])

    def _target(self, layers: np.ndarray) -> torch.Tensor:
        label_mode = "binary" if self.mode == "pet_head" else self.mode
        labels = trimap_to_labels(layers[0], label_mode, ignore_index=self.ignore_index)
        if self.mode != "pet_head":
            return torch.from_numpy(labels)
        return torch.from_numpy(np.stack([labels, labels * layers[1]]).astype(np.float32))

    def load_target(self, stem: str) -> torch.Tensor:
        """The target of ``stem`` at the original resolution (see the mode table).

        Raises:
            ValueError: naming the trimap, if its values are not in {1, 2, 3}.
        """
        return self._target(self._layers(stem, None))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        stem = self.stems[index]
        image = read_image(self.image_path(stem))
        layers = self._layers(stem, image.shape[:2])
        # Nearest resampling commutes with the value mapping, so the trimap is resized first
        # and mapped at the small size.
        tensor, layers = to_tensor_pair(image, layers, self.size)
        target = self._target(layers.numpy())
        if self.transform is not None:
            tensor, target = self.transform(tensor, target)
        if self._normalize is not None:
            tensor, target = self._normalize(tensor, target)
        return tensor, target
