"""Model size and CPU speed: parameters, inference and training images/s for each model.

For every registered model at two or three CPU-sized widths (those the training benchmarks
use, and neighbours), this measures at the Oxford-IIIT Pet practice size (batch 16, 128x128,
3 input channels, 2 classes):

* parameters (all trainable);
* forward images/s in evaluation mode under ``torch.no_grad()``;
* training images/s: forward, cross-entropy, backward and an ``AdamW`` step.

Each figure is the batch size divided by the median wall time of ``--repeats`` calls, after
``--warmup`` calls that are not timed (the first calls allocate memory and pick kernels).
Wall time, because throughput is what a user waits for; on a shared machine it also counts the
time other processes take the cores, so compare rows of one run rather than runs.

Usage:
    nice .venv/bin/python benchmarks/bench_models.py --out docs/bench/models.md
    nice .venv/bin/python benchmarks/bench_models.py --models unet fcn8s --repeats 3

Needs no dataset (random images and masks; speed does not depend on the pixel values).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seglab.models import create_model, list_models

# CPU-sized configurations per model; the middle or first one is what benchmarks/train_pets.py
# trains (fcn8s and deconvnet width 0.25, unet base_channels 16, deeplabv3plus resnet18 0.5).
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "fcn32s": [{"width": 0.25}, {"width": 0.5}],
    "fcn16s": [{"width": 0.25}, {"width": 0.5}],
    "fcn8s": [{"width": 0.25}, {"width": 0.5}],
    "deconvnet": [{"width": 0.25}, {"width": 0.5}],
    "unet": [{"base_channels": 8}, {"base_channels": 16}, {"base_channels": 32}],
    "deeplabv3plus": [
        {"backbone": "resnet18", "width": 0.5},
        {"backbone": "resnet18", "width": 1.0},
        {"backbone": "resnet50", "width": 0.5},
    ],
}


def median_seconds(function: Callable[[], object], warmup: int, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``function`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(
    name: str, kwargs: dict[str, Any], *, batch: int, size: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """Parameter count and forward / training throughput of one configuration."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **kwargs)
    images = torch.randn(batch, 3, size, size)
    masks = torch.randint(0, 2, (batch, size, size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def forward() -> None:
        with torch.no_grad():
            model(images)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), masks).backward()
        optimizer.step()

    model.eval()
    forward_s = median_seconds(forward, warmup, repeats)
    model.train()
    train_s = median_seconds(train_step, warmup, repeats)
    return {
        "model": name,
        "args": ", ".join(f"{key}={value}" for key, value in kwargs.items()),
        "params": sum(p.numel() for p in model.parameters()),
        "forward": batch / forward_s,
        "train": batch / train_s,
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | arguments | parameters (M) | forward img/s | train img/s |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['args']} | {row['params'] / 1e6:.2f} | "
            f"{row['forward']:.1f} | {row['train']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=sorted(CONFIGS), choices=list_models())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    header = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
        f"batch {args.batch}, {args.size}x{args.size}, 2 classes; median of {args.repeats} "
        f"after {args.warmup} warm-up; load average at start {os.getloadavg()[0]:.1f}"
    )
    print(header, flush=True)
    rows = []
    for name in args.models:
        for kwargs in CONFIGS.get(name, [{}]):
            row = measure(
                name,
                kwargs,
                batch=args.batch,
                size=args.size,
                warmup=args.warmup,
                repeats=args.repeats,
            )
            print(
                f"{name} {row['args']}: {row['params'] / 1e6:.2f} M, "
                f"{row['forward']:.1f} img/s forward, {row['train']:.1f} img/s train",
                flush=True,
            )
            rows.append(row)
    table = markdown_table(rows)
    print()
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
