"""The input pipeline: decode and resize once, cache, then augment on every read.

This is what the notes' ``dataset.cache().shuffle(...).batch(16).prefetch(...)`` does, on
PyTorch:

- :class:`CachedDataset` is ``cache()``: each item is decoded and resized once, then kept in
  memory (as uint8, a quarter of float32) or in files on disk; random augmentation runs
  *after* the cache, so every epoch still sees new crops and flips;
- :func:`make_loader` is ``shuffle().batch().prefetch()``: a :class:`~torch.utils.data.DataLoader`
  that reshuffles every epoch from a seeded generator, and prepares batches ahead of time in
  worker processes.

Example:
    >>> from seglab.data import OxfordPetDataset, transforms as T  # doctest: +SKIP
    >>> pets = OxfordPetDataset("../shared/data/oxford-iiit-pet", "train")  # doctest: +SKIP
    >>> train = CachedDataset(pets, "memory", transform=T.RandomHorizontalFlip())  # doctest: +SKIP
    >>> loader = make_loader(train, batch_size=16, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from seglab.io import atomic_write_bytes

__all__ = ["CACHE_KINDS", "CachedDataset", "make_loader", "default_num_workers"]

CACHE_KINDS = ("memory", "disk", None)

# Attributes of the wrapped dataset that a training run asks the cached one for.
_FORWARDED = ("class_names", "num_classes", "ignore_index", "task", "stems")

Packed = tuple[torch.Tensor, torch.Tensor, str]


def _pack(image: torch.Tensor, mask: torch.Tensor) -> Packed:
    """Store the image as uint8 and the mask as uint8 when that loses nothing."""
    low, high = float(image.min()), float(image.max())
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(
            f"CachedDataset stores images as uint8 and needs them in [0, 1], got values in "
            f"[{low:.3g}, {high:.3g}]; normalise in the cache's transform, not in the dataset"
        )
    packed_image = (image * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    mask_dtype = str(mask.dtype).removeprefix("torch.")
    lossless = mask.numel() > 0 and 0 <= float(mask.min()) and float(mask.max()) <= 255
    if lossless and mask.is_floating_point():
        lossless = bool(torch.equal(mask, mask.round()))  # soft labels would be truncated
    packed_mask = mask.to(torch.uint8) if lossless else mask
    return packed_image, packed_mask, mask_dtype


def _unpack(image: torch.Tensor, mask: torch.Tensor, mask_dtype: str):
    # Always copies, so that a transform editing its input in place cannot change the cache.
    return image.float().div_(255.0), mask.to(getattr(torch, mask_dtype), copy=True)


class CachedDataset(Dataset):
    """Wrap a dataset so that each item is decoded once, then transformed on every read.

    Args:
        dataset: yields ``(image, mask)`` with a float image in [0, 1] (not normalised, and
            with no random transform of its own, which the cache would freeze).
        cache: ``"memory"`` (uint8 tensors in RAM), ``"disk"`` (one ``.npz`` file per item,
            written atomically, reused by later runs), or ``None`` (no cache: decode on every
            read, the naive pipeline).
        cache_dir: folder of the disk cache. Items go into a subfolder named after a hash of
            the dataset's ``cache_key`` (root, split, mode, size, file list, ...; a ``Subset``
            adds its indices), so a changed dataset never reads stale files. Datasets without
            ``cache_key`` are keyed by class name and length only: empty the folder when their
            data change.
        transform: paired ``(image, mask) -> (image, mask)`` applied after the cache on every
            read: random augmentation, then :class:`~seglab.data.transforms.Normalize`.

    Raises:
        ValueError: for an unknown cache kind, ``"disk"`` without ``cache_dir``, or a wrapped
            dataset that has its own ``transform`` or ``normalize``.

    Images come back within 0.5/255 of the wrapped dataset's (uint8 storage); masks exactly.
    With worker processes, fill a memory cache first (:meth:`fill`, or let
    :func:`make_loader` do it): each worker would otherwise decode and keep its own copy.

    Shape:
        - image: ``(C, H, W)`` float32; mask: as the wrapped dataset gives it.

    Example:
        >>> class Tiny(Dataset):
        ...     def __len__(self): return 2
        ...     def __getitem__(self, i): return torch.full((3, 2, 2), i / 2), torch.zeros(2, 2)
        >>> cached = CachedDataset(Tiny(), "memory").fill()
        >>> round(cached[1][0].mean().item(), 4)  # stored as uint8: 128 / 255
        0.502
    """

    def __init__(
        self,
        dataset: Dataset,
        cache: str | None = "memory",
        cache_dir: str | os.PathLike | None = None,
        *,
        transform: Callable | None = None,
    ) -> None:
        if cache not in CACHE_KINDS:
            raise ValueError(f"unknown cache {cache!r}; choose one of memory, disk, or None")
        if cache == "disk" and cache_dir is None:
            raise ValueError("cache='disk' needs a cache_dir")
        for name in ("transform", "normalize"):
            if cache is not None and getattr(dataset, name, None) is not None:
                raise ValueError(
                    f"the wrapped dataset has its own {name}; the cache would freeze it. Build "
                    f"the dataset with {name}=None and pass it as CachedDataset(transform=...)"
                )
        self.dataset, self.cache, self.transform = dataset, cache, transform
        self._memory: list[Packed | None] = [None] * len(dataset) if cache == "memory" else []
        self.cache_dir: Path | None = None
        if cache == "disk":
            self.cache_dir = _keyed_folder(Path(cache_dir), dataset)
        for name in _FORWARDED:
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))

    def __len__(self) -> int:
        return len(self.dataset)

    def __repr__(self) -> str:
        return (
            f"CachedDataset({self.dataset!r}, cache={self.cache!r}, transform={self.transform!r})"
        )

    def _disk_path(self, index: int) -> Path:
        return self.cache_dir / f"{index:07d}.npz"

    def _packed(self, index: int) -> Packed:
        """The stored item, decoding it (and storing it) on a miss."""
        if self.cache == "memory":
            stored = self._memory[index]
            if stored is None:
                stored = self._memory[index] = _pack(*self.dataset[index])
            return stored
        path = self._disk_path(index)
        if path.is_file():
            with np.load(path) as files:
                return (
                    torch.from_numpy(files["image"]),
                    torch.from_numpy(files["mask"]),
                    str(files["dtype"]),
                )
        image, mask, dtype = _pack(*self.dataset[index])
        buffer = io.BytesIO()
        np.savez(buffer, image=image.numpy(), mask=mask.numpy(), dtype=np.array(dtype))
        # Atomic, so a crash or a second worker never leaves half a file to read back.
        atomic_write_bytes(path, buffer.getvalue())
        return image, mask, dtype

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is None:
            image, mask = self.dataset[index]
        else:
            image, mask = _unpack(*self._packed(index))
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask

    @property
    def cached_count(self) -> int:
        """How many items are already decoded (memory) or stored (disk)."""
        if self.cache == "memory":
            return sum(stored is not None for stored in self._memory)
        if self.cache == "disk":
            return sum(self._disk_path(index).is_file() for index in range(len(self)))
        return 0

    def fill(self, num_workers: int = 0, *, progress: bool = False) -> CachedDataset:
        """Decode every missing item now, in ``num_workers`` processes (0: this process).

        A memory cache filled here, before a loader starts its workers, is shared with them
        (forked workers see it without copying; spawned ones receive it in shared memory).

        Returns:
            ``self``, so that ``CachedDataset(...).fill()`` chains.
        """
        if self.cache is None:
            return self
        if self.cache == "memory":
            missing = [index for index, stored in enumerate(self._memory) if stored is None]
        else:
            missing = [index for index in range(len(self)) if not self._disk_path(index).is_file()]
        if not missing:
            return self
        from tqdm import tqdm

        if num_workers == 0:
            for index in tqdm(missing, desc="caching", disable=not progress, leave=False):
                self._packed(index)
            return self
        loader = DataLoader(
            _Decoder(self, missing),
            batch_size=16,
            num_workers=num_workers,
            collate_fn=_join_packed,
        )
        with tqdm(total=len(missing), desc="caching", disable=not progress, leave=False) as bar:
            for indices, layout, buffer in loader:
                if self.cache == "memory":
                    for index, packed in zip(indices, _split_packed(layout, buffer), strict=True):
                        self._memory[index] = packed
                bar.update(len(indices))
        return self


def _cache_key(dataset: Dataset) -> dict:
    """What identifies a dataset's decoded items (see ``CachedDataset``'s ``cache_dir``)."""
    if isinstance(dataset, Subset):
        # The engine's random train/val cut of a folder is a Subset: key it by its indices.
        return {"subset_of": _cache_key(dataset.dataset), "indices": list(dataset.indices)}
    key = getattr(dataset, "cache_key", None)
    if key is None:
        key = {"dataset": type(dataset).__qualname__, "length": len(dataset)}
    return key


def _keyed_folder(cache_dir: Path, dataset: Dataset) -> Path:
    """``cache_dir/<hash of the dataset's cache_key>``, with the key itself saved beside."""
    text = json.dumps(_cache_key(dataset), sort_keys=True, default=str)
    folder = cache_dir / hashlib.sha1(text.encode()).hexdigest()[:16]
    if not (folder / "key.json").is_file():
        atomic_write_bytes(folder / "key.json", text.encode())
    return folder


def _identity(item):
    return item


class _Decoder(Dataset):
    """Decodes listed items of a cache for :meth:`CachedDataset.fill`.

    For a memory cache the packed item is returned to the main process (and not kept in the
    worker); a disk cache is written by the worker itself and nothing is returned.
    """

    def __init__(self, cached: CachedDataset, indices: list[int]) -> None:
        self.cached, self.indices = cached, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, Packed | None]:
        index = self.indices[position]
        if self.cached.cache == "memory":
            return index, _pack(*self.cached.dataset[index])
        self.cached._packed(index)
        return index, None


def _join_packed(items: list[tuple[int, Packed | None]]):
    """Collate packed items into one flat byte buffer.

    One tensor per batch crosses the process boundary instead of two per item: each tensor
    sent from a worker costs a shared-memory segment and a file descriptor.
    """
    indices = [index for index, _ in items]
    if items[0][1] is None:
        return indices, None, None
    layout, chunks = [], []
    for _, (image, mask, dtype) in items:
        layout.append((tuple(image.shape), tuple(mask.shape), mask.dtype, dtype))
        chunks += [image.reshape(-1), mask.contiguous().reshape(-1).view(torch.uint8)]
    return indices, layout, torch.cat(chunks)


def _split_packed(layout: list, buffer: torch.Tensor) -> list[Packed]:
    """Undo :func:`_join_packed`, copying each item out of the shared buffer."""
    packed, offset = [], 0
    for image_shape, mask_shape, stored_dtype, dtype in layout:
        size = math.prod(image_shape)
        image = buffer[offset : offset + size].clone().view(image_shape)
        offset += size
        size = math.prod(mask_shape) * stored_dtype.itemsize
        mask = buffer[offset : offset + size].clone().view(stored_dtype).view(mask_shape)
        offset += size
        packed.append((image, mask, dtype))
    return packed


def default_num_workers() -> int:
    """Worker processes for a loader: the CPUs this process may use, less one, at most 4.

    One CPU stays free for the training loop itself; beyond four, decoding cached 128x128
    items is no longer the bottleneck.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def make_loader(
    dataset: Dataset,
    batch_size: int = 16,
    shuffle: bool = True,
    *,
    num_workers: int | None = None,
    prefetch_factor: int = 2,
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
    seed: int | None = None,
    drop_last: bool = False,
    fill_cache: bool = True,
) -> DataLoader:
    """Shuffled (anew every epoch), batched, prefetching loader.

    Args:
        dataset: any map-style dataset, typically a :class:`CachedDataset`.
        batch_size: items per batch.
        shuffle: draw a new order every epoch.
        num_workers: worker processes; ``None`` means :func:`default_num_workers`. Workers
            pay off when decoding or augmentation is heavy and cores are idle; for a memory
            cache with light augmentation 0 is often fastest, since every batch a worker
            sends is copied between processes (see ``docs/bench/loader.md``).
        prefetch_factor: batches each worker prepares ahead.
        pin_memory: page-locked batches for faster GPU copies; ``None`` means "when CUDA is
            available".
        persistent_workers: keep workers alive between epochs (saves their start-up and keeps
            their caches); ``None`` means "when there are workers".
        seed: seeds the loader's own generator. It decides the order of every epoch and the
            seeds of the workers, hence their augmentations, so a run repeats exactly. With
            ``num_workers=0`` augmentations draw from the global generator instead: also call
            ``torch.manual_seed``. ``None`` draws from the global generator.
        drop_last: drop the last incomplete batch.
        fill_cache: fill a memory :class:`CachedDataset` in parallel before the workers
            start, so that they share one cache instead of each building its own.

    Raises:
        ValueError: for a batch size below 1 or a negative ``num_workers`` or
            ``prefetch_factor`` below 1.

    Example:
        >>> data = torch.utils.data.TensorDataset(torch.rand(10, 3, 4, 4))
        >>> loader = make_loader(data, batch_size=4, num_workers=0, seed=0)
        >>> [len(batch[0]) for batch in loader]
        [4, 4, 2]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if num_workers is None:
        num_workers = default_num_workers()
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}")
    if prefetch_factor < 1:
        raise ValueError(f"prefetch_factor must be at least 1, got {prefetch_factor}")
    if fill_cache and num_workers > 0 and isinstance(dataset, CachedDataset):
        if dataset.cache == "memory":
            dataset.fill(num_workers)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=(num_workers > 0) if persistent_workers is None else persistent_workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=drop_last,
        generator=generator,
    )
