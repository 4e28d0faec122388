"""CachedDataset decodes once (memory or disk), then augments on every read; make_loader."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from seglab.data import CachedDataset, default_num_workers, make_loader
from seglab.data import transforms as T


class Counting(Dataset):
    """Deterministic items that count how often they are decoded (in this process)."""

    def __init__(self, length: int = 6, size: int = 8, *, multilabel: bool = False) -> None:
        self.length, self.size, self.multilabel, self.reads = length, size, multilabel, 0
        self.class_names, self.ignore_index = ["background", "thing"], 255

    @property
    def cache_key(self) -> dict:
        return {"length": self.length, "size": self.size, "multilabel": self.multilabel}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        self.reads += 1
        generator = torch.Generator().manual_seed(index)
        image = torch.rand(3, self.size, self.size, generator=generator)
        mask = torch.randint(0, 2, (self.size, self.size), generator=generator)
        mask[0, 0] = 255
        if self.multilabel:
            return image, torch.stack([mask == 1, mask == 0]).float()
        return image, mask


@pytest.mark.parametrize("cache", ["memory", "disk", None])
def test_items_match_the_wrapped_dataset_and_decode_once(tmp_path, cache):
    base = Counting()
    cached = CachedDataset(base, cache, tmp_path / "cache")
    for _ in range(3):
        for index in range(len(cached)):
            image, mask = cached[index]
            want_image, want_mask = Counting()[index]
            # uint8 storage: within half a grey level; masks exactly, in their own dtype.
            torch.testing.assert_close(image, want_image, atol=0.5 / 255 + 1e-7, rtol=0)
            torch.testing.assert_close(mask, want_mask)
            assert image.dtype == torch.float32
    assert base.reads == (len(base) if cache else 3 * len(base))
    assert cached.class_names == base.class_names and cached.ignore_index == 255
    assert len(cached) == 6 and "cache=" in repr(cached)


def test_disk_cache_is_reused_and_keyed_by_the_dataset(tmp_path):
    CachedDataset(Counting(), "disk", tmp_path).fill()
    again = CachedDataset(Counting(), "disk", tmp_path)
    assert again.cached_count == 6
    again[0]
    assert again.dataset.reads == 0  # a later run reads the files, not the images
    other = CachedDataset(Counting(size=4), "disk", tmp_path)
    assert other.cache_dir != again.cache_dir and other.cached_count == 0
    assert other[0][0].shape == (3, 4, 4)  # never a stale item of the other size
    assert (again.cache_dir / "key.json").read_text() == (
        '{"length": 6, "multilabel": false, "size": 8}'
    )
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no partial files
    # Subsets of one dataset (a random train/val cut) are keyed by their indices.
    first = CachedDataset(torch.utils.data.Subset(Counting(), [0, 1, 2]), "disk", tmp_path)
    second = CachedDataset(torch.utils.data.Subset(Counting(), [3, 4, 5]), "disk", tmp_path)
    assert first.cache_dir != second.cache_dir
    torch.testing.assert_close(second[0][1], Counting()[3][1])


def test_multilabel_and_soft_masks_survive_the_cache(tmp_path):
    for cache in ("memory", "disk"):
        cached = CachedDataset(Counting(multilabel=True), cache, tmp_path / "ml")
        mask = cached[2][1]
        torch.testing.assert_close(mask, Counting(multilabel=True)[2][1])
        assert mask.dtype == torch.float32

    class Soft(Counting):
        def __getitem__(self, index):
            image, _ = super().__getitem__(index)
            return image, torch.full((2, 8, 8), 0.3)

    stored = CachedDataset(Soft(), "memory")
    torch.testing.assert_close(stored[0][1], torch.full((2, 8, 8), 0.3))  # not truncated to 0


def test_in_place_transforms_cannot_change_the_cache():
    def scribble(image, mask):
        image.zero_()
        mask.fill_(7)
        return image, mask

    class WideLabels(Counting):
        def __getitem__(self, index):
            image, mask = super().__getitem__(index)
            return image, mask + 1000  # int64 labels that are stored as they are

    for dataset in (Counting(), Counting(multilabel=True), WideLabels()):
        cached = CachedDataset(dataset, transform=scribble).fill()
        cached[0]
        cached.transform = None
        assert not (cached[0][1] == 7).any()
        assert cached[0][0].abs().sum() > 0


def test_augmentation_runs_after_the_cache():
    base = Counting()
    cached = CachedDataset(base, transform=T.RandomHorizontalFlip(p=0.5)).fill()
    torch.manual_seed(0)
    views = {tuple(cached[0][1].flatten().tolist()) for _ in range(20)}
    assert len(views) == 2  # flipped and not flipped, from one cached decode
    assert base.reads == len(base)


def test_fill_with_workers_fills_the_main_process_cache(tmp_path):
    base = Counting()
    cached = CachedDataset(base, "memory").fill(num_workers=1)
    assert cached.cached_count == 6 and base.reads == 0  # decoded in the worker
    torch.testing.assert_close(cached[3][1], Counting()[3][1])
    assert CachedDataset(Counting(), None).fill().cached_count == 0
    disk = CachedDataset(Counting(), "disk", tmp_path).fill(num_workers=1)
    assert disk.cached_count == 6

    class Mixed(Dataset):
        """Items of different sizes and mask dtypes, some not storable as uint8."""

        def __len__(self):
            return 20

        def __getitem__(self, index):
            image = torch.full((3, 4 + index, 5), index / 40)
            masks = [
                torch.full((4 + index, 5), 300 + index),  # int64 beyond uint8
                torch.full((2, 4 + index, 5), 0.25),  # soft multi-label
                torch.ones(4 + index, 5, dtype=torch.bool),
            ]
            return image, masks[index % 3]

    mixed = CachedDataset(Mixed(), "memory").fill(num_workers=1)  # more than one batch of 16
    for index in range(20):
        image, mask = mixed[index]
        want_image, want_mask = Mixed()[index]
        torch.testing.assert_close(image, want_image, atol=0.5 / 255 + 1e-7, rtol=0)
        assert torch.equal(mask, want_mask) and mask.dtype == want_mask.dtype


def test_loader_shuffles_every_epoch_reproducibly():
    def orders(seed):
        loader = make_loader(
            torch.utils.data.TensorDataset(torch.arange(10)), batch_size=4, num_workers=0, seed=seed
        )
        return [torch.cat([batch[0] for batch in loader]).tolist() for _ in range(2)]

    first, second, other = orders(5), orders(5), orders(6)
    assert first == second and first != other
    assert first[0] != first[1]  # a new order every epoch
    assert sorted(first[0]) == list(range(10))
    loader = make_loader(torch.utils.data.TensorDataset(torch.arange(10)), 4, False, num_workers=0)
    assert [b[0].tolist() for b in loader][0] == [0, 1, 2, 3]
    assert [len(b[0]) for b in make_loader(loader.dataset, 4, drop_last=True, num_workers=0)] == [
        4,
        4,
    ]


def test_loader_with_workers_is_reproducible_and_fills_the_cache():
    def run():
        cached = CachedDataset(Counting(), "memory", transform=T.RandomRotation(40))
        loader = make_loader(cached, batch_size=3, num_workers=1, seed=11)
        assert cached.cached_count == 6  # filled before the workers started
        assert loader.persistent_workers and loader.prefetch_factor == 2
        return [batch[1] for _ in range(2) for batch in loader]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert any((batch == 255).sum() > 6 for batch in first)  # rotations did happen


def test_default_num_workers_leaves_a_cpu_free():
    assert 0 <= default_num_workers() <= 4


def test_errors():
    with pytest.raises(
        ValueError, match="unknown cache 'gpu'; choose one of memory, disk, or None"
    ):
        CachedDataset(Counting(), cache="gpu")
    with pytest.raises(ValueError, match="cache='disk' needs a cache_dir"):
        CachedDataset(Counting(), cache="disk")
    augmented = Counting()
    augmented.transform = T.RandomHorizontalFlip()
    with pytest.raises(ValueError, match="the wrapped dataset has its own transform"):
        CachedDataset(augmented)
    normalised = Counting()
    normalised.normalize = "imagenet"
    with pytest.raises(ValueError, match="the wrapped dataset has its own normalize"):
        CachedDataset(normalised)

    class Normalised(Counting):
        def __getitem__(self, index):
            image, mask = super().__getitem__(index)
            return image * 4 - 2, mask

    with pytest.raises(ValueError, match=r"needs them in \[0, 1\], got values in \[-2"):
        CachedDataset(Normalised())[0]
    data = torch.utils.data.TensorDataset(torch.arange(4))
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        make_loader(data, batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be 0 or more, got -1"):
        make_loader(data, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor must be at least 1, got 0"):
        make_loader(data, num_workers=1, prefetch_factor=0)
