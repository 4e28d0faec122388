"""GrabCut on the GrabCut database: seglab against OpenCV's cv2.grabCut, in one run.

Two protocols, both started from the database's own trimaps so that every method sees the same
input (an OpenCV mask, ``GC_INIT_WITH_MASK``):

- ``rect``: ``rect/<name>.bmp``; 0 and 64 -> GC_BGD, 128 (inside the rectangle) -> GC_PR_FGD.
  This is exactly what ``GC_INIT_WITH_RECT`` builds from the bounding box of the 128 region.
  ``cross`` is skipped: its rectangle covers the whole image, so there is no background
  (cv2.grabCut fails on it with an assertion, seglab with a ValueError).
- ``lasso``: ``lasso/<name>.bmp``; 0 and 64 -> GC_BGD, 255 -> GC_FGD, 128 -> GC_PR_FGD.

Error = mislabelled pixels in the trimap's 128 region, ground-truth 128 pixels excluded
(:func:`seglab.metrics.interactive.grabcut_error_rate`), per image; the table gives the mean
over images and the pooled ratio. Time: per image, the median of ``--repeats`` runs of each
method, interleaved on the same image; the table gives the median and the total over images,
and "speed-up" is cv2's median over the method's (the median of per-image ratios is also
printed). One warm-up image first (numba compilation). OpenCV is limited to one thread, as
seglab is single-threaded. cv2's k-means start is seeded with ``cv2.setRNGSeed(0)``.

Usage:
    nice .venv/bin/python benchmarks/bench_grabcut.py
    nice .venv/bin/python benchmarks/bench_grabcut.py --protocols lasso --limit 5 --repeats 1

Reads ``../shared/data/grabcut`` (relative to the project root) unless ``--data`` says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from seglab.classical.grabcut import grabcut, trimap_from_grabcut_database
from seglab.io import read_image, read_mask
from seglab.metrics.interactive import grabcut_error_counts
from seglab.samples import load_sample, sample_rect

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "grabcut"
PROTOCOLS = ("rect", "lasso")


def opencv_grabcut(image: np.ndarray, mask: np.ndarray, iters: int, seed: int) -> np.ndarray:
    """cv2.grabCut from an OpenCV trimap; returns 0/1 labels."""
    cv2.setRNGSeed(seed)
    bgr = np.ascontiguousarray(image[..., ::-1])
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    result, _, _ = cv2.grabCut(
        bgr, mask.copy(), None, background, foreground, iters, cv2.GC_INIT_WITH_MASK
    )
    return (result % 2).astype(np.uint8)  # GC_FGD = 1 and GC_PR_FGD = 3 are odd


def make_methods(iters: int, exact: bool) -> dict:
    methods = {
        "cv2.grabCut": lambda image, mask, seed: opencv_grabcut(image, mask, iters, seed),
        "seglab grabcut": lambda image, mask, seed: grabcut(
            image, mask=mask, iters=iters, seed=seed
        ),
    }
    if exact:
        methods["seglab grabcut, downscale=1"] = lambda image, mask, seed: grabcut(
            image, mask=mask, iters=iters, downscale=1, seed=seed
        )
    return methods


def load_items(root: Path, limit: int | None) -> list[tuple[str, Path]]:
    images = sorted(path for path in (root / "data").iterdir() if path.is_file())
    return [(path.stem, path) for path in images[:limit]]


def timed(method, image: np.ndarray, mask: np.ndarray, seed: int):
    start = time.perf_counter()
    labels = method(image, mask, seed)
    return labels, time.perf_counter() - start


def run_protocol(root: Path, protocol: str, items, methods: dict, seeds: list[int]) -> dict:
    """Per method: per-image median time, and per seed the error counts of every image."""
    results = {
        name: {"times": [], "errors": [[] for _ in seeds], "counts": [[] for _ in seeds]}
        for name in methods
    }
    for stem, path in tqdm(items, desc=protocol, file=sys.stderr):
        image = read_image(path)
        gt = read_mask(root / "segmentation" / f"{stem}.bmp")
        trimap = read_mask(root / protocol / f"{stem}.bmp")
        mask = trimap_from_grabcut_database(trimap)
        if not (mask == 0).any():
            tqdm.write(f"skip {protocol}/{stem}: the rectangle covers the whole image")
            continue
        times = {name: [] for name in methods}
        for index, seed in enumerate(seeds):
            for name, method in methods.items():  # interleaved: same load for every method
                labels, seconds = timed(method, image, mask, seed)
                errors, counted = grabcut_error_counts(labels, gt, trimap)
                times[name].append(seconds)
                results[name]["errors"][index].append(errors)
                results[name]["counts"][index].append(counted)
        for name in methods:
            results[name]["times"].append(statistics.median(times[name]))
    return results


def protocol_table(protocol: str, results: dict, seeds: list[int]) -> str:
    reference = np.asarray(results["cv2.grabCut"]["times"])
    lines = [
        f"### {protocol} protocol ({len(reference)} images, seeds {seeds[0]}-{seeds[-1]})",
        "",
        "| method | mean error % (sd over seeds) | pooled error % | median s/image | total s | "
        "speed-up vs cv2 (ratio of medians) | median per-image speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in results.items():
        times = np.asarray(row["times"])
        errors, counts = np.asarray(row["errors"], float), np.asarray(row["counts"], float)
        per_seed = 100 * (errors / counts).mean(axis=1)
        pooled = 100 * errors.sum(axis=1) / counts.sum(axis=1)
        lines.append(
            f"| {name} | {per_seed.mean():.2f} ({per_seed.std():.2f}) | {pooled.mean():.2f} | "
            f"{np.median(times):.3f} | {times.sum():.1f} | "
            f"{np.median(reference) / np.median(times):.2f}x | "
            f"{np.median(reference / times):.2f}x |"
        )
    return "\n".join(lines)


def sample_table(methods: dict, repeats: int) -> str:
    """Time (median of ``repeats``, seed 0) and agreement with cv2 on the bundled samples."""
    lines = [
        "### Bundled samples (rectangle from `seglab.samples.sample_rect`, no ground truth)",
        "",
        "| sample | size | method | median s | foreground % | IoU with cv2 |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name in ("chelsea", "astronaut"):
        image = load_sample(name)
        x0, y0, x1, y1 = sample_rect(name)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[y0:y1, x0:x1] = 3  # GC_PR_FGD inside the rectangle
        outputs = {}
        for method_name, method in methods.items():
            runs = [timed(method, image, mask, 0) for _ in range(repeats)]
            labels, seconds = runs[0][0], statistics.median(run[1] for run in runs)
            outputs[method_name] = labels.astype(bool)
            reference = outputs["cv2.grabCut"]
            iou = (labels.astype(bool) & reference).sum() / (labels.astype(bool) | reference).sum()
            lines.append(
                f"| {name} | {image.shape[1]}x{image.shape[0]} | {method_name} | {seconds:.3f} | "
                f"{100 * labels.mean():.1f} | {iou:.3f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument(
        "--seeds", type=int, default=5, help="k-means seeds 0..N-1 (cv2.setRNGSeed for OpenCV)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per bundled sample")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument(
        "--no-exact", action="store_true", help="skip seglab's full-resolution-only variant"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    methods = make_methods(args.iters, not args.no_exact)
    seeds = list(range(args.seeds))
    # Warm-up: numba compiles (or loads its cache) on the first call.
    warm = load_sample("chelsea")
    warm_mask = np.zeros(warm.shape[:2], np.uint8)
    warm_mask[20:-20, 20:-20] = 3
    for method in methods.values():
        method(warm, warm_mask, 0)

    print(
        f"GrabCut, {args.iters} iterations; error = mean over images, then mean (sd) over "
        f"{args.seeds} seeds; time = per-image median over the seeds, methods interleaved; "
        "1 thread each; shared machine (ratios are the robust figure)\n"
    )
    if not (args.data / "data").is_dir():
        print(f"GrabCut database not found at {args.data}: skipping the database protocols.\n")
    else:
        items = load_items(args.data, args.limit)
        for protocol in args.protocols.split(","):
            if protocol not in PROTOCOLS:
                parser.error(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
            results = run_protocol(args.data, protocol, items, methods, seeds)
            print(protocol_table(protocol, results, seeds) + "\n", flush=True)
    print(sample_table(methods, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
