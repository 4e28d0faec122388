"""Datasets and loaders for a training run, built from its :class:`TrainConfig`.

Images are decoded and resized once and cached (the notes' ``cache()``); augmentation runs
after the cache, so every epoch sees new random crops and flips (``shuffle()``). Loaders batch
and prefetch with worker processes (``batch().prefetch()``).

The order of each epoch and the augmentation of each sample are drawn from the run's seed and
the epoch alone (see :mod:`seglab.engine.distributed`): that is what makes a resumed run repeat
an uninterrupted one, and N processes repeat one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from seglab._checks import IGNORE_INDEX
from seglab.engine.config import TrainConfig

__all__ = [
    "DataBundle",
    "SplitData",
    "build_data",
    "build_split",
    "make_train_loader",
    "make_val_loader",
    "set_loader_epoch",
]


@dataclass
class SplitData:
    """One split of a dataset, with what the model and the metrics need to know about it."""

    dataset: Dataset
    class_names: list[str]
    task: str  # "multiclass" or "multilabel"
    ignore_index: int | None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class DataBundle:
    """Training and validation data of a run, and the preprocessing a checkpoint records."""

    train: Dataset
    val: Dataset
    class_names: list[str]
    task: str
    ignore_index: int | None
    preprocess: dict[str, Any]
    config: TrainConfig

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _normalisation(
    config: TrainConfig,
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    from seglab.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    if config.normalize is None:
        return None, None
    if config.normalize == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    raise ValueError(f"unknown normalize {config.normalize!r}; choose one of imagenet, or none")


def _augmentation(config: TrainConfig, ignore_index: int | None):
    from seglab.data import transforms as T

    fill = IGNORE_INDEX if ignore_index is None else ignore_index
    steps = [
        T.RandomScaleCrop(scale=config.aug_scale, size=config.img_size, ignore_index=fill),
        T.RandomHorizontalFlip(),
    ]
    if config.aug_rotation:
        steps.append(T.RandomRotation(config.aug_rotation, ignore_index=fill))
    steps.append(T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=config.aug_hue))
    if config.aug_gray:
        steps.append(T.RandomGrayscale(config.aug_gray))
    return T.Compose(steps)


def _folder_split(config: TrainConfig, split: str) -> SplitData:
    from seglab.data import MaskFolderDataset

    root = Path(config.data)
    size = config.img_size
    if (root / "train").is_dir() and (root / "val").is_dir():
        # An explicit split on disk wins over a random one.
        part = root / ("train" if split in ("train", "trainval") else split)
        dataset = MaskFolderDataset(
            part / "images", part / "masks", size=size, num_classes=config.num_classes
        )
    else:
        dataset = MaskFolderDataset(
            root / "images", root / "masks", size=size, num_classes=config.num_classes
        )
        if split in ("train", "val"):
            generator = torch.Generator().manual_seed(config.split_seed)
            order = torch.randperm(len(dataset), generator=generator).tolist()
            n_val = max(1, round(config.val_fraction * len(dataset)))
            indices = order[:n_val] if split == "val" else order[n_val:]
            subset = torch.utils.data.Subset(dataset, sorted(indices))
            return SplitData(subset, list(dataset.class_names), "multiclass", dataset.ignore_index)
        if split not in ("all", "test", "trainval"):
            raise ValueError(f"unknown split {split!r} for a folder; choose one of train, val, all")
    return SplitData(dataset, list(dataset.class_names), "multiclass", dataset.ignore_index)


def _pet_split(config: TrainConfig, split: str) -> SplitData:
    from seglab.data import OxfordPetDataset

    dataset = OxfordPetDataset(
        config.data,
        split=split,
        mode=config.mode,
        size=config.img_size,
        val_fraction=config.val_fraction,
        seed=config.split_seed,
    )
    task = "multilabel" if config.mode == "pet_head" else "multiclass"
    return SplitData(dataset, list(dataset.class_names), task, dataset.ignore_index)


def build_split(config: TrainConfig, split: str, *, augment: bool = False) -> SplitData:
    """One split, decoded once into the cache, with augmentation and normalisation after it."""
    from seglab.data import CachedDataset
    from seglab.data import transforms as T

    raw = (
        _pet_split(config, split)
        if config.dataset == "oxford-pet"
        else _folder_split(config, split)
    )
    steps = [_augmentation(config, raw.ignore_index)] if augment else []
    mean, std = _normalisation(config)
    if mean is not None:
        steps.append(T.Normalize(mean, std))
    transform = T.Compose(steps) if steps else None
    cache = None if config.cache == "none" else config.cache
    cache_dir = Path(config.out) / "cache" / split if cache == "disk" else None
    dataset = CachedDataset(raw.dataset, cache=cache, cache_dir=cache_dir, transform=transform)
    if cache == "memory":
        # Decode now, in this process, so that worker processes inherit the filled cache.
        dataset.fill()
    return SplitData(dataset, raw.class_names, raw.task, raw.ignore_index)


def build_data(config: TrainConfig) -> DataBundle:
    """Training (augmented) and validation data for a run.

    Raises:
        ValueError: if the split leaves no training or no validation image.
    """
    train = build_split(config, "train", augment=config.augment)
    val = build_split(config, "val")
    if not len(train.dataset) or not len(val.dataset):
        raise ValueError(
            f"{config.data}: training needs at least one training and one validation image; "
            f"the split gave {len(train.dataset)} and {len(val.dataset)}. Add images, or "
            "change --val-fraction"
        )
    mean, std = _normalisation(config)
    preprocess = {
        "size": [config.img_size, config.img_size],
        "mean": list(mean) if mean else None,
        "std": list(std) if std else None,
    }
    return DataBundle(
        train=train.dataset,
        val=val.dataset,
        class_names=train.class_names,
        task=train.task,
        ignore_index=train.ignore_index,
        preprocess=preprocess,
        config=config,
    )


def _loader(dataset: Dataset, config: TrainConfig, **batching: Any) -> DataLoader:
    workers = config.num_workers
    return DataLoader(
        dataset,
        num_workers=workers,
        # Workers restart each epoch and get the dataset with that epoch's seed; persistent
        # workers would keep an old copy.
        persistent_workers=False,
        prefetch_factor=2 if workers > 0 else None,
        pin_memory=torch.cuda.is_available(),
        **batching,
    )


def make_train_loader(
    dataset: Dataset, config: TrainConfig, *, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """Shuffled global batches of ``config.batch_size``, this process's slice of each.

    The last incomplete batch is dropped when there is more than one. Call
    :func:`set_loader_epoch` before each epoch: the permutation and every sample's
    augmentation are drawn from ``(config.seed, epoch)``, so they do not depend on the number
    of processes or workers, and a resumed run repeats an uninterrupted one.
    """
    from seglab.engine.distributed import GlobalBatchSampler, SampleSeededDataset

    sampler = GlobalBatchSampler(
        len(dataset),
        config.batch_size,
        rank=rank,
        world_size=world_size,
        shuffle=True,
        drop_last=len(dataset) > config.batch_size,
        seed=config.seed,
    )
    return _loader(SampleSeededDataset(dataset, config.seed), config, batch_sampler=sampler)


def set_loader_epoch(loader: DataLoader, epoch: int, *, start: int = 0) -> None:
    """Select the permutation and augmentation of ``epoch`` in a :func:`make_train_loader`,
    from its batch ``start`` on (a run resumed inside an epoch)."""
    loader.batch_sampler.set_epoch(epoch, start=start)
    loader.dataset.set_epoch(epoch)


def make_val_loader(
    dataset: Dataset, config: TrainConfig, *, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """Batches in order; with several processes, this process's shard (every index once)."""
    from seglab.engine.distributed import shard

    if world_size > 1:
        dataset = torch.utils.data.Subset(dataset, shard(len(dataset), rank, world_size))
    batch = max(1, config.batch_size // world_size)
    return _loader(dataset, config, batch_size=batch, shuffle=False, drop_last=False)
