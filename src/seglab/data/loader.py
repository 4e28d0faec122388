"""The input pipeline: decode and resize once, cache, then augment on every read.

This is what the notes' ``dataset.cache().shuffle(...).batch(16).prefetch(...)`` does, on
PyTorch: :class:`CachedDataset` is ``cache()`` (in memory, or on disk for large sets) followed
by the random transforms, and :func:`make_loader` is ``shuffle().batch().prefetch()`` with
worker processes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from seglab.io import atomic_write_bytes

__all__ = ["CachedDataset", "make_loader"]


def _pack(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # uint8 images take a quarter of float32's memory; the decoded source was 8-bit anyway.
    packed_image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    small_labels = mask.numel() and 0 <= int(mask.min()) and int(mask.max()) <= 255
    packed_mask = mask.to(torch.uint8) if small_labels else mask
    return packed_image, packed_mask


def _unpack(image: torch.Tensor, mask: torch.Tensor, mask_dtype: torch.dtype):
    return image.float() / 255.0, mask.to(mask_dtype)


class CachedDataset(Dataset):
    """Wrap a dataset so that each item is decoded once, then transformed on every read.

    Args:
        dataset: yields ``(image, mask)`` with a float image in [0, 1].
        cache: ``"memory"`` (uint8 tensors in RAM), ``"disk"`` (one file per item in
            ``cache_dir``, written atomically, reused by later runs) or ``None`` (no cache).
        cache_dir: folder for the disk cache.
        transform: ``(image, mask) -> (image, mask)`` applied after the cache, e.g. random
            augmentation and normalisation.

    Raises:
        ValueError: for an unknown cache kind, or ``"disk"`` without ``cache_dir``.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        cache: str | None = "memory",
        cache_dir: str | os.PathLike | None = None,
        transform: Callable | None = None,
    ) -> None:
        if cache not in ("memory", "disk", None):
            raise ValueError(f"unknown cache {cache!r}; choose one of memory, disk, or None")
        if cache == "disk" and cache_dir is None:
            raise ValueError("cache='disk' needs a cache_dir")
        self.dataset, self.cache, self.transform = dataset, cache, transform
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[int, tuple[torch.Tensor, torch.Tensor, torch.dtype]] = {}
        for name in ("class_names", "num_classes", "ignore_index"):
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))

    def __len__(self) -> int:
        return len(self.dataset)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache == "memory":
            if index not in self._memory:
                image, mask = self.dataset[index]
                self._memory[index] = (*_pack(image, mask), mask.dtype)
            return _unpack(*self._memory[index])
        if self.cache == "disk":
            path = self.cache_dir / f"{index:07d}.pt"
            if path.is_file():
                stored = torch.load(path, weights_only=True)
                return _unpack(stored["image"], stored["mask"], getattr(torch, stored["dtype"]))
            image, mask = self.dataset[index]
            packed_image, packed_mask = _pack(image, mask)
            buffer = io.BytesIO()
            torch.save(
                {
                    "image": packed_image,
                    "mask": packed_mask,
                    "dtype": str(mask.dtype).split(".")[1],
                },
                buffer,
            )
            atomic_write_bytes(path, buffer.getvalue())
            return _unpack(packed_image, packed_mask, mask.dtype)
        return self.dataset[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._load(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask

    def fill(self) -> CachedDataset:
        """Decode every item now (in the main process), so worker processes share the cache."""
        for index in range(len(self)):
            self._load(index)
        return self


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int = 16,
    shuffle: bool = True,
    num_workers: int = 0,
    prefetch_factor: int = 2,
    drop_last: bool = False,
) -> DataLoader:
    """Shuffled (every epoch), batched, prefetching loader.

    Shuffling draws from torch's global generator; seed it (or reseed per epoch) for
    reproducible order.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
    )
