"""Normalized Cut on BSDS500: seglab (pixel grid and superpixel graph) against scikit-image.

Each method segments every image of a split; covering, probabilistic Rand index and variation of
information are computed against all human segmentations of the image (mean over annotators,
then mean over images). Time is the median per image, after one warm-up image. Seed stability
is the mean adjusted Rand index between the results with seeds 0 and 1 on the first
``--stability-limit`` images. scikit-image follows its documented recipe: ``slic(compactness=30,
n_segments=400)`` -> ``rag_mean_color(mode="similarity")`` -> ``cut_normalized``; its exceptions
are caught and counted as failures (the image then scores as a single segment).

Usage:
    nice .venv/bin/python benchmarks/bench_ncut.py --split val
    nice .venv/bin/python benchmarks/bench_ncut.py --split train --limit 20   # for tuning
    nice .venv/bin/python benchmarks/bench_ncut.py --stress 200   # synthetic failure sweep

Reads ``../shared/data/bsds500`` (relative to the project root) unless ``--data`` says otherwise.
"""

# ruff: noqa: E402 - the BLAS thread variables must be set before NumPy is imported.
from __future__ import annotations

import os

# One BLAS thread: on a small shared machine OpenBLAS threads spin against other processes and
# a 700x700 eigendecomposition went from 0.03 s to 3 s. Set before NumPy loads; applies to all
# methods alike.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.io
from tqdm import tqdm

from seglab.classical.ncut import normalized_cut
from seglab.io import read_image
from seglab.metrics.segmentation import (
    adjusted_rand_index,
    probabilistic_rand_index,
    segmentation_covering,
    variation_of_information,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"


def load_split(root: Path, split: str, limit: int | None) -> list[tuple[str, Path, Path]]:
    images = sorted((root / "BSDS500" / "data" / "images" / split).glob("*.jpg"))
    items = [
        (path.stem, path, root / "BSDS500" / "data" / "groundTruth" / split / f"{path.stem}.mat")
        for path in images
    ]
    return items[:limit] if limit else items


def load_ground_truths(path: Path) -> list[np.ndarray]:
    cells = scipy.io.loadmat(path)["groundTruth"]
    return [cells[0, k]["Segmentation"][0, 0].astype(np.int64) for k in range(cells.shape[1])]


def skimage_ncut(image: np.ndarray, seed: int) -> np.ndarray:
    """scikit-image's documented Normalized Cut recipe (gallery example "Normalized Cut")."""
    from skimage import graph, segmentation

    superpixels = segmentation.slic(image, compactness=30, n_segments=400, start_label=1)
    rag = graph.rag_mean_color(image, superpixels, mode="similarity")
    return graph.cut_normalized(superpixels, rag, rng=seed)


def make_methods(args: argparse.Namespace) -> dict:
    k, cap = args.n_segments, args.max_segments
    methods = {
        "seglab pixel, k-way": lambda im, s: normalized_cut(im, k, method="pixel", seed=s),
        "seglab pixel, recursive": lambda im, s: normalized_cut(
            im, cap, method="pixel", partition="recursive", seed=s
        ),
        "seglab RAG, k-way": lambda im, s: normalized_cut(im, k, method="rag", seed=s),
        "seglab RAG, recursive": lambda im, s: normalized_cut(
            im, cap, method="rag", partition="recursive", seed=s
        ),
        "skimage cut_normalized (SLIC RAG)": skimage_ncut,
    }
    if args.methods:
        methods = {name: fn for name, fn in methods.items() if any(m in name for m in args.methods)}
    return methods


def synthetic_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Small awkward images: 1x1 to 40x40; noise, flat, two halves, binary noise, ramps."""
    rng = np.random.default_rng(seed)
    images = [np.full((1, 1, 3), 0.5), np.full((1, 5, 3), 0.5), np.zeros((2, 2, 3))]
    while len(images) < count:
        height, width = (int(v) for v in rng.integers(1, 41, size=2))
        kind = len(images) % 5
        if kind == 0:
            image = rng.random((height, width, 3))
        elif kind == 1:
            image = np.full((height, width, 3), rng.random())
        elif kind == 2:
            image = np.zeros((height, width, 3))
            image[:, width // 2 :] = 1.0
        elif kind == 3:
            image = (rng.random((height, width, 3)) > 0.5).astype(float)
        else:
            image = np.linspace(0, 1, height * width * 3).reshape(height, width, 3)
        images.append(image)
    return images


def run_stress(args: argparse.Namespace) -> None:
    """Failure counts on synthetic images, seeds 0 and 1 each."""
    images = synthetic_images(args.stress)
    print(f"\nSynthetic robustness sweep: {len(images)} images x seeds 0 and 1\n")
    print("| method | runs | failures | first error |")
    print("|---|---:|---:|---|")
    for name, segment in make_methods(args).items():
        failures, first = 0, ""
        for image in tqdm(images, desc=name, leave=False):
            for seed in (0, 1):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        segment(image, seed)
                except Exception as error:  # noqa: BLE001 - failures are what we count
                    failures += 1
                    first = first or f"{type(error).__name__} on a {image.shape[:2]} image"
        print(f"| {name} | {2 * len(images)} | {failures} | {first or '-'} |")


def run(args: argparse.Namespace) -> None:
    if not (args.data / "BSDS500").is_dir():
        sys.exit(f"BSDS500 not found at {args.data}: nothing to benchmark (see --data)")
    items = load_split(args.data, args.split, args.limit)
    methods = make_methods(args)
    images = [read_image(path) for _, path, _ in items]
    truths = [load_ground_truths(gt) for _, _, gt in items]
    rows = []
    for name, segment in methods.items():
        segment(images[0], 0)  # warm-up: imports, caches, first-call overheads
        times, covering, pri, vi, counts, failures, stability = [], [], [], [], [], 0, []
        for index, (image, gts) in enumerate(
            tqdm(list(zip(images, truths, strict=True)), desc=name, leave=False)
        ):
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    labels = segment(image, 0)
            except Exception as error:  # noqa: BLE001 - failures are what we count
                failures += 1
                tqdm.write(f"{name} failed on {items[index][0]}: {error!r}")
                labels = np.zeros(image.shape[:2], dtype=np.int64)
            times.append(time.perf_counter() - start)
            covering.append(segmentation_covering(labels, gts))
            pri.append(probabilistic_rand_index(labels, gts))
            vi.append(variation_of_information(labels, gts))
            counts.append(len(np.unique(labels)))
            if index < args.stability_limit:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        other = segment(image, 1)
                except Exception as error:  # noqa: BLE001
                    failures += 1
                    tqdm.write(f"{name} (seed 1) failed on {items[index][0]}: {error!r}")
                    other = np.zeros(image.shape[:2], dtype=np.int64)
                stability.append(adjusted_rand_index(labels, other))
        rows.append(
            (
                name,
                statistics.median(times),
                float(np.mean(covering)),
                float(np.mean(pri)),
                float(np.mean(vi)),
                float(np.mean(counts)),
                failures,
                float(np.mean(stability)) if stability else float("nan"),
            )
        )
        tqdm.write(f"done: {name}")
    print(
        f"\nBSDS500 {args.split}, {len(items)} images; k-way n_segments={args.n_segments}, "
        f"recursive n_segments={args.max_segments} (a cap) with the default thresholds; "
        f"seed stability on {min(args.stability_limit, len(items))} images\n"
    )
    print(
        "| method | median s / image | covering ↑ | PRI ↑ | VI (nats) ↓ | mean segments "
        "| failures | ARI seed 0 vs 1 ↑ |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, seconds, cov, rand, info, segs, fails, ari in rows:
        print(
            f"| {name} | {seconds:.3f} | {cov:.3f} | {rand:.3f} | {info:.3f} | {segs:.1f} "
            f"| {fails} | {ari:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BSDS500 folder")
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--n-segments", type=int, default=10, help="segments for k-way")
    parser.add_argument("--max-segments", type=int, default=20, help="cap for recursive")
    parser.add_argument("--stability-limit", type=int, default=20)
    parser.add_argument("--methods", nargs="*", help="substrings of method names to run")
    parser.add_argument(
        "--stress", type=int, default=0, help="instead: failure sweep on N synthetic images"
    )
    args = parser.parse_args()
    if args.stress:
        run_stress(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
