"""SLIC superpixels on BSDS500: seglab against scikit-image, for speed and quality.

For every image of a split and every requested superpixel count, both methods run with the same
``compactness`` (``skimage.segmentation.slic(image, n_segments, compactness=10, start_label=0)``
and ``seglab.classical.slic(image, n_segments, compactness=10)``). Reported per method and
count: the median time per image (one warm-up image first; ``--repeats`` timed runs per image,
the methods interleaved within each repeat so that all see the same machine load), the speed-up over skimage, the mean number of
superpixels delivered, and boundary recall (tolerance 2 px, square), undersegmentation error
(Neubert & Protzel) and achievable segmentation accuracy, each averaged over all human
segmentations of an image, then over images.

skimage delivers fewer superpixels than requested, and fewer superpixels score worse. So a third
row, "skimage, count-matched", runs skimage again on each image with ``n_segments`` scaled by
(seglab's count / skimage's count), which brings its delivered count to about seglab's: that row
compares quality at equal delivered counts. It also times a cold start: a fresh Python process
that imports seglab and segments one image, with the numba cache warm and with it empty.

OpenCV's SLIC (``cv2.ximgproc``) needs opencv-contrib, which seglab does not depend on. Pass
``--opencv-python`` with the interpreter of a separate virtual environment that has
``opencv-contrib-python-headless``: a worker process in that environment segments the same RGB
arrays, image by image between the other methods, and reports the time of its own call
(RGB -> Lab with ``cv2.cvtColor``, ``createSuperpixelSLIC(SLIC, region_size=sqrt(HW/n),
ruler=compactness)``, ``iterate(max_num_iter)``, ``enforceLabelConnectivity(25)``; OpenCV's
own thread count).

Usage:
    nice .venv/bin/python benchmarks/bench_slic.py --split val
    nice .venv/bin/python benchmarks/bench_slic.py --split val --limit 10   # quick look
    python3 -m venv /tmp/cvenv && /tmp/cvenv/bin/pip install opencv-contrib-python-headless numpy
    nice .venv/bin/python benchmarks/bench_slic.py --split val --opencv-python /tmp/cvenv/bin/python

Reads ``../shared/data/bsds500`` (relative to the project root) unless ``--data`` says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io
from tqdm import tqdm

from seglab.classical.slic import slic
from seglab.io import read_image
from seglab.metrics.superpixel import (
    achievable_segmentation_accuracy,
    boundary_recall,
    mean_over_ground_truths,
    undersegmentation_error,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"
REPO_ROOT = Path(__file__).resolve().parents[1]


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


def timed(function):
    """Wrap ``function(image, n) -> labels`` to return ``(labels, seconds)``."""

    def run(image: np.ndarray, n: int) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        labels = function(image, n)
        return labels, time.perf_counter() - start

    return run


def make_methods(compactness: float) -> dict:
    from skimage.segmentation import slic as skimage_slic

    return {
        "seglab": timed(lambda image, n: slic(image, n, compactness=compactness)),
        "skimage": timed(
            lambda image, n: skimage_slic(
                image, n_segments=n, compactness=compactness, start_label=0
            )
        ),
    }


OPENCV_WORKER = """
import sys, time
import cv2, numpy as np
compactness, iterations = float(sys.argv[1]), int(sys.argv[2])
print(cv2.__version__, flush=True)
for line in sys.stdin:
    image_path, n, out_path = line.rstrip("\\n").split("\\t")
    image = np.load(image_path)
    start = time.perf_counter()
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2Lab)
    size = max(1, round((image.shape[0] * image.shape[1] / int(n)) ** 0.5))
    slic = cv2.ximgproc.createSuperpixelSLIC(
        lab, algorithm=cv2.ximgproc.SLIC, region_size=size, ruler=compactness
    )
    slic.iterate(iterations)
    slic.enforceLabelConnectivity(25)
    labels = slic.getLabels()
    seconds = time.perf_counter() - start
    np.save(out_path, labels)
    print(seconds, flush=True)
"""


class OpenCVWorker:
    """OpenCV SLIC in another interpreter (one with opencv-contrib), driven over a pipe."""

    def __init__(self, python: str, compactness: float, iterations: int = 10) -> None:
        self.folder = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [python, "-c", OPENCV_WORKER, str(compactness), str(iterations)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.version = self.process.stdout.readline().strip()
        self.image_path = Path(self.folder.name) / "image.npy"
        self.labels_path = Path(self.folder.name) / "labels.npy"
        self.current = None

    def __call__(self, image: np.ndarray, n: int) -> tuple[np.ndarray, float]:
        if self.current is not image:
            np.save(self.image_path, image)
            self.current = image
        self.process.stdin.write(f"{self.image_path}\t{n}\t{self.labels_path}\n")
        self.process.stdin.flush()
        seconds = float(self.process.stdout.readline())
        return np.load(self.labels_path), seconds

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
        self.folder.cleanup()


def cold_start_seconds(image_path: Path, n_segments: int, cache_dir: str | None) -> float:
    """Wall time of a fresh process: import seglab's slic, read nothing else, segment once."""
    code = (
        "import time; start = time.perf_counter()\n"
        "from seglab.classical import slic\n"
        "from seglab.io import read_image\n"
        f"image = read_image({str(image_path)!r})\n"
        f"slic(image, {n_segments})\n"
        "print(time.perf_counter() - start)\n"
    )
    env = None
    if cache_dir is not None:
        import os

        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--limit", type=int, default=None, help="use the first N images only")
    parser.add_argument("--segments", type=int, nargs="+", default=[200, 400, 800])
    parser.add_argument("--compactness", type=float, default=10.0)
    parser.add_argument("--tolerance", type=int, default=2, help="boundary recall tolerance")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per image and count")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per cold test")
    parser.add_argument(
        "--no-matched", action="store_true", help="skip the count-matched skimage rows"
    )
    parser.add_argument(
        "--opencv-python", default=None, help="python of a venv with opencv-contrib (optional)"
    )
    args = parser.parse_args()

    items = load_split(args.data, args.split, args.limit)
    if not items:
        sys.exit(
            f"BSDS500 not found: no images under {args.data}/BSDS500/data/images/{args.split}. "
            "Put the dataset there or pass --data."
        )
    methods = make_methods(args.compactness)
    worker = None
    if args.opencv_python:
        worker = OpenCVWorker(args.opencv_python, args.compactness)
        methods[f"OpenCV {worker.version} ximgproc"] = worker
    rows = list(methods) if args.no_matched else [*methods, "skimage, count-matched"]

    # Warm-up: numba loads its cache (or compiles) and skimage imports its modules.
    warm_image = read_image(items[0][1])
    for run in methods.values():
        run(warm_image, args.segments[0])

    times = {(m, n): [] for m in rows for n in args.segments}
    counts = {(m, n): [] for m in rows for n in args.segments}
    scores = {(m, n): {"br": [], "ue": [], "asa": []} for m in rows for n in args.segments}

    def record(name: str, n: int, labels: np.ndarray, seconds: float, gts: list) -> None:
        times[name, n].append(seconds)
        counts[name, n].append(len(np.unique(labels)))
        score = scores[name, n]
        score["br"].append(
            mean_over_ground_truths(boundary_recall, labels, gts, tolerance=args.tolerance)
        )
        score["ue"].append(mean_over_ground_truths(undersegmentation_error, labels, gts))
        score["asa"].append(mean_over_ground_truths(achievable_segmentation_accuracy, labels, gts))

    for _, image_path, gt_path in tqdm(items, desc=f"BSDS500 {args.split}", unit="img"):
        image = read_image(image_path)
        ground_truths = load_ground_truths(gt_path)
        for n in args.segments:
            # Methods interleaved within each repeat, so that a change of machine load hits
            # every method alike; the image's time is the median of its repeats.
            runs = {name: [] for name in methods}
            for _ in range(args.repeats):
                for name, run in methods.items():
                    runs[name].append(run(image, n))
            for name, results in runs.items():
                seconds = statistics.median(result[1] for result in results)
                record(name, n, results[0][0], seconds, ground_truths)
            if not args.no_matched:
                scaled = round(n * counts["seglab", n][-1] / counts["skimage", n][-1])
                record(rows[-1], n, *methods["skimage"](image, scaled), ground_truths)
    if worker is not None:
        worker.close()

    print(
        f"\nBSDS500 {args.split}, {len(items)} images, compactness {args.compactness:g}, "
        f"boundary recall tolerance {args.tolerance} px\n"
    )
    print(
        "| method | n_segments | median ms / image | speed-up vs skimage (ratio of medians / "
        "median per-image ratio) | mean count "
        "| boundary recall ↑ | undersegmentation error ↓ | ASA ↑ |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.segments:
        reference = np.asarray(times["skimage", n])
        for name in rows:
            median = statistics.median(times[name, n])
            per_image = np.median(reference / np.asarray(times[name, n]))
            score = scores[name, n]
            print(
                f"| {name} | {n} | {median * 1000:.1f} | {np.median(reference) / median:.1f}x / "
                f"{per_image:.1f}x "
                f"| {np.mean(counts[name, n]):.1f} | {np.mean(score['br']):.4f} "
                f"| {np.mean(score['ue']):.4f} | {np.mean(score['asa']):.4f} |"
            )

    if args.cold_runs > 0:
        image_path, n = items[0][1], args.segments[0]
        warm = [cold_start_seconds(image_path, n, None) for _ in range(args.cold_runs)]
        with tempfile.TemporaryDirectory() as empty_cache:
            # The first process with an empty cache compiles everything; later ones reuse it.
            compile_run = cold_start_seconds(image_path, n, empty_cache)
        print(
            f"\nCold start (fresh process: import + read + one {n}-superpixel call), "
            f"median of {args.cold_runs}: {statistics.median(warm):.2f} s with the numba cache "
            f"warm; {compile_run:.2f} s with an empty cache (full compile)."
        )


if __name__ == "__main__":
    main()
