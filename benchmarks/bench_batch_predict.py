"""Batch prediction on a large generated folder: images/s and peak memory per setting.

Generates ``--count`` images of mixed sizes and modes (JPEG RGB, PNG grayscale, PNG RGBA;
sides 64-1600 px) from scikit-image's bundled photos, then runs ``predict_files`` with the
shipped pet model in a fresh process per setting and reports images/s and the peak resident
memory of the main process and of its decode workers. Peak memory at 1/10 of the folder is
measured too: a streaming run has the same peak whatever the folder size. Every setting
runs on the first tenth of the folder; the CLI default also runs on all of it.

Usage:
    python benchmarks/bench_batch_predict.py --count 2000 --out docs/bench/batch_predict.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = [
    # (label, batch_size, workers, writers, run on the whole folder too)
    ("one image at a time (batch 1, no workers, no writer threads)", 1, 0, 0, False),
    ("batch 8", 8, 0, 0, False),
    ("batch 8 + 2 writer threads (CLI default on 2 cores)", 8, 0, 2, True),
    ("batch 8 + 1 decode worker + 2 writer threads", 8, 1, 2, False),
    ("batch 8 + 2 decode workers + 2 writer threads (CLI default on 4+ cores)", 8, 2, 2, False),
]


def generate(folder: Path, count: int, seed: int = 0) -> float:
    """Write ``count`` mixed images below ``folder``; returns their decoded size in GB."""
    from PIL import Image
    from skimage import data

    photos = [
        data.chelsea(),
        data.astronaut(),
        data.coffee(),
        data.rocket(),
        data.immunohistochemistry(),
    ]
    rng = np.random.default_rng(seed)
    total = 0
    for index in range(count):
        photo = photos[index % len(photos)]
        side = int(rng.integers(64, 1601))
        aspect = float(rng.uniform(0.6, 1.6))
        size = (side, max(32, int(side / aspect)))  # PIL (width, height)
        image = Image.fromarray(photo).resize(size, Image.BILINEAR)
        sub = folder / f"batch{index // 500:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        kind = index % 4
        if kind == 1:
            image.convert("L").save(sub / f"img{index:05d}.png")
        elif kind == 2:
            image.convert("RGBA").save(sub / f"img{index:05d}.png")
        else:
            image.save(sub / f"img{index:05d}.jpg", quality=90)
        total += size[0] * size[1] * 3
    return total / 1e9


def run_one(folder: str, out: str, batch: int, workers: int, writers: int, limit: int) -> dict:
    """Child process: one predict_files run; prints a JSON line with speed and peak memory."""
    import resource

    import torch

    from seglab.engine.predict import Predictor, iter_image_files, predict_files

    torch.set_num_threads(2)
    files = list(iter_image_files([folder]))[:limit]
    predictor = Predictor(device="cpu")
    predictor.predict(np.zeros((64, 64, 3), np.uint8))  # warm-up
    started = time.perf_counter()
    summary = predict_files(
        predictor,
        files,
        out,
        batch_size=batch,
        workers=workers,
        writers=writers,
        progress=False,
    )
    seconds = time.perf_counter() - started
    return {
        "images": len(summary.written),
        "failed": len(summary.failed),
        "seconds": seconds,
        "images_per_s": len(summary.written) / seconds,
        # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest finished child.
        "peak_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--data-dir", default=None, help="reuse/keep the generated folder here")
    parser.add_argument("--out", default=None, help="write a Markdown table here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, out, batch, workers, writers_limit = args.child
        writers, limit = map(int, writers_limit.split(","))
        print(json.dumps(run_one(folder, out, int(batch), int(workers), writers, limit)))
        return

    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="seglab_batch_"))
    if not any(folder.rglob("*.jpg")):
        started = time.perf_counter()
        gigabytes = generate(folder, args.count)
        print(
            f"generated {args.count} images ({gigabytes:.2f} GB decoded) in "
            f"{time.perf_counter() - started:.0f} s at {folder}"
        )
    else:
        gigabytes = None
    rows = []
    for label, batch, workers, writers, whole in SETTINGS:
        for limit in (args.count // 10, args.count) if whole else (args.count // 10,):
            with tempfile.TemporaryDirectory() as out:
                child = [
                    sys.executable,
                    __file__,
                    "--child",
                    str(folder),
                    out,
                    str(batch),
                    str(workers),
                    f"{writers},{limit}",
                ]
                env = {**os.environ, "OMP_NUM_THREADS": "2"}
                result = json.loads(
                    subprocess.run(child, check=True, capture_output=True, text=True, env=env)
                    .stdout.strip()
                    .splitlines()[-1]
                )
            result.update(label=label, limit=limit, workers=workers)
            rows.append(result)
            print(json.dumps(result), flush=True)
    if args.out:
        lines = [
            f"# Batch prediction: {args.count} generated mixed-size images",
            "",
            "Shipped pet model (U-Net, 128² input), torch on the CPU (2 threads), masks + overlays "
            "at each image's own size. Sides 64-1600 px, 1/4 grayscale PNG, 1/4 RGBA PNG, 1/2 JPEG"
            + (f"; {gigabytes:.2f} GB if all were decoded at once." if gigabytes else "."),
            "",
            "| setting | images | images/s | peak RSS main (MB) | peak RSS per worker (MB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in rows:
            worker = f"{row['peak_worker_mb']:.0f}" if row["workers"] else "-"
            lines.append(
                f"| {row['label']} | {row['limit']} | {row['images_per_s']:.1f} | "
                f"{row['peak_main_mb']:.0f} | {worker} |"
            )
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
