"""CachedDataset decodes once (memory or disk), then augments on every read."""

from __future__ import annotations

import pytest
import torch

from seglab.data import CachedDataset, MaskFolderDataset, make_loader
from seglab.data import transforms as T


class CountingDataset(torch.utils.data.Dataset):
    def __init__(self, base):
        self.base, self.reads = base, 0
        self.class_names = base.class_names

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        self.reads += 1
        return self.base[index]


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_cache_decodes_once_and_returns_the_same_items(folder_dataset, tmp_path, cache):
    base = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks", size=32)
    counting = CountingDataset(base)
    cached = CachedDataset(counting, cache=cache, cache_dir=tmp_path / "cache")
    for _ in range(3):
        for index in range(len(cached)):
            image, mask = cached[index]
            want_image, want_mask = base[index]
            torch.testing.assert_close(image, want_image, atol=0.51 / 255, rtol=0)  # uint8 storage
            torch.testing.assert_close(mask, want_mask)
    assert counting.reads == len(base)
    assert cached.class_names == base.class_names
    if cache == "disk":
        again = CachedDataset(CountingDataset(base), cache="disk", cache_dir=tmp_path / "cache")
        again[0]
        assert again.dataset.reads == 0  # a later run reuses the files


def test_augmentation_runs_after_the_cache(folder_dataset):
    base = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks", size=32)
    cached = CachedDataset(base, transform=T.RandomHorizontalFlip(p=0.5)).fill()
    torch.manual_seed(0)
    views = {tuple(cached[0][1].flatten().tolist()) for _ in range(20)}
    assert len(views) == 2  # flipped and not flipped, from one cached decode


def test_loader_shuffles_reproducibly(folder_dataset):
    base = CachedDataset(
        MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks", size=32)
    )
    loader = make_loader(base, batch_size=4)
    torch.manual_seed(5)
    first = [batch[1].sum().item() for batch in loader]
    torch.manual_seed(5)
    second = [batch[1].sum().item() for batch in loader]
    torch.manual_seed(6)
    third = [batch[1].sum().item() for batch in loader]
    assert first == second and first != third


def test_cache_errors():
    with pytest.raises(
        ValueError, match="unknown cache 'gpu'; choose one of memory, disk, or None"
    ):
        CachedDataset([], cache="gpu")
    with pytest.raises(ValueError, match="cache='disk' needs a cache_dir"):
        CachedDataset([], cache="disk")
