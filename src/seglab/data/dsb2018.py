"""The 2018 Data Science Bowl nuclei (BBBC038) in the Kaggle layout, for instance segmentation.

Layout (one folder per image, one binary PNG per nucleus)::

    ROOT/stage1_test/<id>/images/<id>.png          (or ROOT/stage1_train/...)
    ROOT/stage1_test/<id>/masks/<anything>.png     255 (or any value > 0) = this nucleus

``ROOT`` may also be the stage folder itself (the one holding the ``<id>`` folders). Images are
read as RGB (the alpha channel of the RGBA files is dropped). Masks are read in sorted file-name
order and the ``k``-th mask with any pixels gets instance id ``k`` (1, 2, ...); a mask with no
pixels holds no nucleus and is skipped, so the ids stay contiguous. Where two masks overlap (a
few Kaggle training masks do) the later one wins.

Splits (:data:`DSB_SPLITS`) are deterministic. With the ids sorted:

- ``"train"`` / ``"test"``: the images at even / odd positions (0, 2, 4, ... / 1, 3, 5, ...),
  the halves of the 47-image stage-1 test set that ``benchmarks/bench_instance.py`` uses;
- ``"fit"`` / ``"val"``: every position but multiples of 10 / the multiples of 10 (0, 10,
  20, ...): a 90 / 10 split of the 664-image stage-1 training set for training and model
  selection, so that the stage-1 test images serve for reporting only;
- ``"all"``: every image.

:class:`NucleiCrops` yields random square crops with flips and transposes, and the training
targets of each crop from a ``targets`` function the engine passes in (Panoptic-DeepLab:
:func:`seglab.instance.targets.instance_target_tensors`, built after the augmentation, so the
offsets always point at the centre of what is visible); :class:`NucleiImages` yields whole
images padded to a multiple of 32 for evaluation. The data layer builds no model targets
itself: the model code sits above it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from seglab.io import read_image

__all__ = [
    "DSB_SPLITS",
    "NucleiSample",
    "NucleiCrops",
    "NucleiImages",
    "dsb_image_folders",
    "load_dsb2018",
    "normalize_image",
    "read_dsb_sample",
]

DSB_SPLITS = ("train", "test", "fit", "val", "all")
# The stage folders of the Kaggle layout, looked for under ROOT in this order.
_STAGE_FOLDERS = ("stage1_test", "stage1_train")


@dataclass
class NucleiSample:
    """One image and its instance label map.

    Attributes:
        image_id: the Kaggle image id (the folder name), or the file name.
        image: ``(H, W, 3)`` uint8 RGB.
        labels: ``(H, W)`` int32 instance label map, 0 = background.
        classes: ``(M + 1,)`` int64 class of each instance id (``classes[0] = 0``, the
            background), for data with several thing classes; None: every instance is
            class 1 (a nucleus).
    """

    image_id: str
    image: np.ndarray
    labels: np.ndarray
    classes: np.ndarray | None = None


def dsb_image_folders(root: str | os.PathLike, *, split: str = "all") -> list[Path]:
    """The image folders of a split, sorted by id.

    Raises:
        FileNotFoundError: if ``root`` holds neither ``stage1_test/``, ``stage1_train/`` nor
            image folders.
        ValueError: for an unknown split (the message lists the valid ones).
    """
    if split not in DSB_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(DSB_SPLITS)}")
    root = Path(root)
    stage = next((root / name for name in _STAGE_FOLDERS if (root / name).is_dir()), root)
    folders = (
        sorted(p for p in stage.iterdir() if p.is_dir() and (p / "images").is_dir())
        if stage.is_dir()
        else []
    )
    if not folders:
        raise FileNotFoundError(
            f"no DSB 2018 image folders under {root}: expected "
            f"{root}/stage1_test/<id>/images/<id>.png (or {root}/<id>/images/<id>.png)"
        )
    if split == "train":
        return folders[0::2]
    if split == "test":
        return folders[1::2]
    if split == "val":
        return folders[0::10]
    if split == "fit":
        return [folder for position, folder in enumerate(folders) if position % 10]
    return folders


def read_dsb_sample(folder: str | os.PathLike, *, require_masks: bool = True) -> NucleiSample:
    """Read one ``<id>/images/<id>.png`` and its ``<id>/masks/*.png`` into a label map.

    Raises:
        FileNotFoundError: if the image is missing, or the masks folder when ``require_masks``.
        ValueError: for an unreadable file, one over Pillow's decompression-bomb limit, or a
            mask whose size differs from the image's (the message names the file), or more
            than 65535 masks. A mask with no pixels is skipped (see the module notes).
    """
    folder = Path(folder)
    image_path = folder / "images" / f"{folder.name}.png"
    if not image_path.is_file():
        raise FileNotFoundError(f"missing DSB image {image_path}")
    image = read_image(image_path)  # RGB; the alpha of RGBA files (always 255) is dropped
    labels = np.zeros(image.shape[:2], np.int32)
    mask_dir = folder / "masks"
    if not mask_dir.is_dir():
        if require_masks:
            raise FileNotFoundError(f"missing masks folder {mask_dir}")
        return NucleiSample(folder.name, image, labels)
    paths = sorted(mask_dir.glob("*.png"))
    if len(paths) > 65535:
        raise ValueError(f"{mask_dir} holds {len(paths)} masks; at most 65535 are supported")
    count = 0
    for path in paths:
        try:
            with Image.open(path) as handle:
                mask = np.asarray(handle.convert("L"))
        except Image.DecompressionBombError as error:
            raise ValueError(f"refusing to read mask {path}: {error}") from error
        except (UnidentifiedImageError, OSError, SyntaxError) as error:
            raise ValueError(f"cannot read mask {path}: {error}") from error
        if mask.shape != labels.shape:
            raise ValueError(
                f"mask {path} has size {mask.shape[::-1]} but the image is {labels.shape[::-1]}"
            )
        foreground = mask > 0
        if foreground.any():
            count += 1
            labels[foreground] = count
    return NucleiSample(folder.name, image, labels)


def load_dsb2018(root: str | os.PathLike, *, split: str = "all") -> list[NucleiSample]:
    """Read every image of a split (see the module docstring), sorted by id.

    Example:
        >>> samples = load_dsb2018("../shared/data/dsb2018-stage1-test", split="test")  # doctest: +SKIP
        >>> len(samples)  # doctest: +SKIP
        23
    """
    return [read_dsb_sample(folder) for folder in dsb_image_folders(root, split=split)]


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 image to a float tensor standardised per image.

    DSB images mix dark-background fluorescence and bright-background bright-field/H&E with
    very different intensity ranges, so each image is centred on its own per-channel mean and
    scaled by its own standard deviation rather than by fixed dataset statistics.

    Shape:
        - Input: ``(H, W, 3)`` uint8
        - Output: ``(3, H, W)`` float32

    Raises:
        ValueError: if the image is not ``(H, W, 3)``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    array = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    array = array - array.reshape(-1, 3).mean(axis=0)
    array = array / max(float(array.std()), 1e-3)  # a flat image stays flat, not NaN
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class NucleiCrops(Dataset):
    """Random square crops with flips and transposes, and their training targets.

    Item ``i`` of epoch ``e`` is drawn from image ``i % len(samples)`` with a generator seeded
    by ``(seed, e, i)``, so a run is reproducible and a resumed run sees the same crops; call
    :meth:`set_epoch` at the start of each epoch. Images smaller than the crop are padded with
    zeros (background).

    Args:
        samples: the training images.
        crop_size: side of the square crops.
        length: items per epoch (default: one per image).
        seed: base seed.
        targets: turns a crop's ``(S, S)`` int64 label map into the model's target tensors,
            e.g. ``functools.partial(seglab.instance.targets.instance_target_tensors,
            sigma=3)`` for Panoptic-DeepLab; ``None`` gives the label map only. The data
            layer knows no model, so the engine passes this in.

    Raises:
        ValueError: for no samples or a crop size < 1.

    Shape:
        Each item: ``image (3, S, S)`` float and ``labels (S, S)`` int64, plus what
        ``targets`` returns (Panoptic-DeepLab: ``semantic (S, S)`` int64, ``center (S, S)``,
        ``offset (2, S, S)`` float).
    """

    def __init__(
        self,
        samples: list[NucleiSample],
        *,
        crop_size: int = 128,
        length: int | None = None,
        seed: int = 0,
        targets: Callable[[np.ndarray], dict[str, torch.Tensor]] | None = None,
    ) -> None:
        if not samples:
            raise ValueError("NucleiCrops needs at least one sample")
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1:
            raise ValueError(f"crop_size must be a positive int, got {crop_size!r}")
        self.samples = samples
        self.crop_size = crop_size
        self.targets = targets
        self.length = len(samples) if length is None else int(length)
        self.seed = seed
        self.epoch = 0
        self._normalized: list[torch.Tensor | None] = [None] * len(samples)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crops of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        k = index % len(self.samples)
        # Normalised once per whole image, so that a crop sees the statistics it will see at
        # test time (a crop of empty background would otherwise get its noise blown up).
        if self._normalized[k] is None:
            self._normalized[k] = normalize_image(self.samples[k].image)
        image, labels = self._normalized[k], torch.from_numpy(self.samples[k].labels)
        size = self.crop_size
        pad_h, pad_w = max(0, size - image.shape[1]), max(0, size - image.shape[2])
        if pad_h or pad_w:
            image = torch.nn.functional.pad(image, (0, pad_w, 0, pad_h))
            labels = torch.nn.functional.pad(labels, (0, pad_w, 0, pad_h))
        y = int(rng.integers(0, image.shape[1] - size + 1))
        x = int(rng.integers(0, image.shape[2] - size + 1))
        image = image[:, y : y + size, x : x + size]
        labels = labels[y : y + size, x : x + size]
        # The 8 symmetries of the square: nuclei have no preferred orientation.
        if rng.random() < 0.5:
            image, labels = image.flip(-1), labels.flip(-1)
        if rng.random() < 0.5:
            image, labels = image.flip(-2), labels.flip(-2)
        if rng.random() < 0.5:
            image, labels = image.transpose(-1, -2), labels.T
        labels = labels.numpy().astype(np.int64)
        item = dict(self.targets(labels)) if self.targets is not None else {}
        classes = self.samples[k].classes
        if classes is not None and "semantic" in item:
            # Several thing classes: each instance's pixels take its class, not just 1.
            item["semantic"] = torch.from_numpy(classes[labels])
        item["labels"] = torch.from_numpy(labels)
        item["image"] = image.contiguous()
        return item


class NucleiImages(Dataset):
    """Whole images for evaluation, padded at the bottom and right to a multiple of 32.

    The image is padded by reflection (it looks like tissue to the network) and the labels by
    0; ``size`` gives the original ``(H, W)`` to crop predictions back to.

    Args:
        samples: the images.
        pad_multiple: pad height and width up to a multiple of this.
        targets: as for :class:`NucleiCrops`: label map -> target tensors, or ``None``.

    Shape:
        Each item: ``image (3, H', W')`` float, ``labels (H', W')`` int64, ``size`` ``(2,)``
        int64, plus what ``targets`` returns at ``(H', W')``.
    """

    def __init__(
        self,
        samples: list[NucleiSample],
        *,
        pad_multiple: int = 32,
        targets: Callable[[np.ndarray], dict[str, torch.Tensor]] | None = None,
    ) -> None:
        if isinstance(pad_multiple, bool) or not isinstance(pad_multiple, int) or pad_multiple < 1:
            raise ValueError(f"pad_multiple must be a positive int, got {pad_multiple!r}")
        self.samples = samples
        self.pad_multiple = pad_multiple
        self.targets = targets

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        height, width = sample.labels.shape
        pad_h, pad_w = -height % self.pad_multiple, -width % self.pad_multiple
        # Normalise before padding: the statistics are those of the image alone.
        image = normalize_image(sample.image)[None]
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        image = torch.nn.functional.pad(image, (0, pad_w, 0, pad_h), mode=mode)[0]
        labels = np.pad(sample.labels, ((0, pad_h), (0, pad_w))).astype(np.int64)
        item = dict(self.targets(labels)) if self.targets is not None else {}
        item["labels"] = torch.from_numpy(labels)
        item["image"] = image
        item["size"] = torch.tensor([height, width])
        return item
