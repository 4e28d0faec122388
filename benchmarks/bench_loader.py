"""Input-pipeline speed: seglab's cached, prefetching loader against a naive one.

The notes build their pipeline as ``dataset.cache().shuffle().batch(16).prefetch()``. seglab's
equivalent is ``make_loader(CachedDataset(OxfordPetDataset(...)))``. The naive peer is a plain
``torch.utils.data.DataLoader`` over ``OxfordPetDataset``, which decodes and resizes every JPEG
again in every epoch.

Data: the shared Oxford-IIIT Pet subset (``../shared/data/oxford-iiit-pet``, trainval split,
300 images), binary masks at 128 x 128, batch 16, shuffled. Augmentation (after the cache for
the cached loaders, so every epoch still differs): ``--augment flip`` (default) is a random
horizontal flip; ``--augment full`` is what ``seglab train`` uses (random scale-crop, flip,
rotation, colour jitter).

Rows:
- naive, 0 or W workers: decode every epoch;
- memory cache, 0 workers: decoded once in the main process;
- memory cache, W workers: ``make_loader`` fills the cache in W processes before training,
  then the workers share it;
- memory cache, W workers, no prefill: each worker builds its own cache (what happens
  without the prefill; shown to justify it);
- disk cache, W workers: ``.npz`` files written during the first epoch by the workers, read
  in later epochs (an empty cache folder at the start of each repeat).

Figures: images per second of the first epoch (including building the loader, starting the
workers and filling the cache) and of the steady state (median over epochs 2..E). Each
repeat runs every configuration in turn; the table shows medians over repeats. All images are
read once before timing so that every row finds them in the OS file cache. The main process
uses ``--threads`` torch threads (default 1, as in DataLoader workers): on a busy machine,
intra-op threads slow the small per-image ops of the 0-worker rows a lot.

Usage:
    nice .venv/bin/python benchmarks/bench_loader.py
    nice .venv/bin/python benchmarks/bench_loader.py --epochs 5 --workers 2 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from seglab.data import CachedDataset, OxfordPetDataset, make_loader
from seglab.data import transforms as T

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "oxford-iiit-pet"


def time_epochs(build: Callable[[], DataLoader], epochs: int) -> list[float]:
    """Seconds per epoch; the first includes ``build()`` (loader, workers, cache fill)."""
    times = []
    start = time.perf_counter()
    loader = build()
    for _ in range(epochs):
        for images, masks in loader:
            assert len(images) == len(masks)  # touch every batch, as a training loop would
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    del loader  # stops persistent workers before the next configuration
    return times


def augmentation(kind: str, size: int) -> T.Compose:
    """``flip``: the cheap case; ``full``: what ``seglab train --augment`` uses."""
    steps = [T.RandomHorizontalFlip()]
    if kind == "full":
        steps = [
            T.RandomScaleCrop(scale=(0.75, 1.33), size=size),
            T.RandomHorizontalFlip(),
            T.RandomRotation(10),
            T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        ]
    return T.Compose(steps)


def configurations(
    root: Path, size: int, batch: int, workers: int, cache_root: Path, augment: str
) -> dict:
    flip = augmentation(augment, size)

    def pets(**kwargs) -> OxfordPetDataset:
        return OxfordPetDataset(root, "trainval", "binary", size, **kwargs)

    def naive(num_workers: int) -> Callable[[], DataLoader]:
        return lambda: DataLoader(
            pets(transform=flip),
            batch_size=batch,
            shuffle=True,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            prefetch_factor=2 if num_workers else None,
        )

    def cached(cache: str | None, num_workers: int, **kwargs) -> Callable[[], DataLoader]:
        def build() -> DataLoader:
            cache_dir = tempfile.mkdtemp(dir=cache_root) if cache == "disk" else None
            dataset = CachedDataset(pets(), cache, cache_dir, transform=flip)
            return make_loader(dataset, batch, num_workers=num_workers, seed=0, **kwargs)

        return build

    return {
        "naive DataLoader, 0 workers": naive(0),
        f"naive DataLoader, {workers} workers": naive(workers),
        "seglab memory cache, 0 workers": cached("memory", 0),
        f"seglab memory cache, {workers} workers": cached("memory", workers),
        f"seglab memory cache, {workers} workers, no prefill": cached(
            "memory", workers, fill_cache=False
        ),
        f"seglab disk cache, {workers} workers": cached("disk", workers),
    }


def check_same_items(root: Path, size: int) -> None:
    """The cached pipeline returns the naive pipeline's items (images within 0.5/255)."""
    plain = OxfordPetDataset(root, "trainval", "binary", size)
    cached = CachedDataset(plain, "memory")
    for index in (0, 150, 299):
        torch.testing.assert_close(cached[index][0], plain[index][0], atol=0.5 / 255 + 1e-6, rtol=0)
        torch.testing.assert_close(cached[index][1], plain[index][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--augment", choices=("flip", "full"), default="flip")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads of the main process (workers use 1)"
    )
    args = parser.parse_args()
    if not (args.root / "images").is_dir():
        sys.exit(
            f"Oxford-IIIT Pet not found at {args.root}: this benchmark needs the shared data "
            "(images/ and annotations/); pass --root."
        )
    torch.set_num_threads(args.threads)
    check_same_items(args.root, args.size)
    warm = OxfordPetDataset(args.root, "trainval", "binary", args.size)
    for index in tqdm(range(len(warm)), desc="warm-up (file cache)", leave=False):
        warm[index]
    results: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory() as cache_root:
        configs = configurations(
            args.root, args.size, args.batch_size, args.workers, Path(cache_root), args.augment
        )
        with tqdm(total=args.repeats * len(configs), desc="timing") as bar:
            for _ in range(args.repeats):
                for name, build in configs.items():
                    results.setdefault(name, []).append(time_epochs(build, args.epochs))
                    bar.update()
    count = len(warm)
    rows = []
    for name, runs in results.items():
        first = statistics.median(count / times[0] for times in runs)
        steady = statistics.median(count / statistics.median(times[1:]) for times in runs)
        rows.append((name, first, steady))
    base = rows[0][2]
    print(
        f"\n{count} images (trainval), {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.epochs} epochs, median of {args.repeats} repeats, "
        f"{args.threads} torch thread(s) in the main process, augmentation: {args.augment}\n"
    )
    print("| loader | first epoch (img/s) | steady state (img/s) | steady vs naive, 0 workers |")
    print("|---|---:|---:|---:|")
    for name, first, steady in rows:
        print(f"| {name} | {first:.0f} | {steady:.0f} | {steady / base:.1f}x |")


if __name__ == "__main__":
    main()
