"""Key-point localisation on synthetic heatmaps with known sub-pixel peaks.

The notes' "old way" (Gaussian + least squares around the brightest pixel) against the "new
way" (soft-argmax) and the plain argmax. Each heatmap is a Gaussian of height 1 and width
sigma at a random sub-pixel position (uniform in the central half of a 64 x 64 map), plus
optional white noise (standard deviation relative to the peak height) and optional distractor:
a second Gaussian of height 0.6 at least 12 px away. The score is the mean Euclidean error in
pixels. Soft-argmax treats the heatmap as logits (softmax(heatmap / T)); the Gaussian fit uses
seglab's ``gaussian_peak_fit`` with a 3 x 3 and a 5 x 5 window.

The data are synthetic, made from a fixed seed: no split is involved.

Usage:
    nice .venv/bin/python benchmarks/bench_keypoints.py
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import torch
from tqdm import tqdm

from seglab.annotations.keypoints import argmax_2d, gaussian_peak_fit, soft_argmax_2d

SIZE = 64
SIGMAS = [1.0, 2.0, 3.0]
NOISES = [0.0, 0.05, 0.1]
TEMPERATURES = [1.0, 0.3, 0.1, 0.03, 0.01]


def methods() -> dict:
    table = {
        "argmax": argmax_2d,
        "Gaussian fit 3x3": lambda h: gaussian_peak_fit(h, window=3),
        "Gaussian fit 5x5": lambda h: gaussian_peak_fit(h, window=5),
    }
    for temperature in TEMPERATURES:
        table[f"soft-argmax T={temperature:g}"] = lambda h, t=temperature: soft_argmax_2d(h, t)
    return table


def render(peaks: torch.Tensor, sigma: float, amplitude: float = 1.0) -> torch.Tensor:
    """(N, 2) peak positions -> (N, 1, SIZE, SIZE) Gaussians (pixel centres at integers)."""
    axis = torch.arange(SIZE, dtype=torch.float64)
    dx = axis[None, None, :] - peaks[:, 0, None, None]
    dy = axis[None, :, None] - peaks[:, 1, None, None]
    return (amplitude * torch.exp(-(dx**2 + dy**2) / (2 * sigma**2)))[:, None]


def make_batch(
    count: int, sigma: float, noise: float, distractor: bool, generator: torch.Generator
):
    peaks = SIZE / 4 + torch.rand(count, 2, generator=generator, dtype=torch.float64) * SIZE / 2
    heatmaps = render(peaks, sigma)
    if distractor:
        # Rejection sampling: a second peak 12 px or more from the true one, inside the map.
        others = torch.empty_like(peaks)
        for index in range(count):
            while True:
                candidate = 4 + torch.rand(2, generator=generator, dtype=torch.float64) * (SIZE - 8)
                if (candidate - peaks[index]).norm() >= 12:
                    others[index] = candidate
                    break
        heatmaps = heatmaps + render(others, sigma, amplitude=0.6)
    if noise:
        heatmaps = heatmaps + noise * torch.randn(
            heatmaps.shape, generator=generator, dtype=torch.float64
        )
    return heatmaps, peaks


def accuracy_table(count: int, seed: int) -> str:
    table = methods()
    generator = torch.Generator().manual_seed(seed)
    header = "| sigma | noise | distractor | " + " | ".join(table) + " |"
    lines = [header, "|" + "---|" * (3 + len(table))]
    settings = list(itertools.product(SIGMAS, NOISES, [False, True]))
    for sigma, noise, distractor in tqdm(settings, desc="settings", unit="setting"):
        heatmaps, peaks = make_batch(count, sigma, noise, distractor, generator)
        errors = []
        for function in table.values():
            estimate = function(heatmaps)[:, 0]
            errors.append((estimate - peaks).norm(dim=-1).mean().item())
        best = min(errors)
        cells = [f"**{e:.3f}**" if e == best else f"{e:.3f}" for e in errors]
        lines.append(
            f"| {sigma:g} | {noise:g} | {'yes' if distractor else 'no'} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def timing_table(repeats: int) -> str:
    # A COCO-pose-sized batch: 32 images x 17 key points, 64 x 48 heatmaps, float32.
    generator = torch.Generator().manual_seed(1)
    heatmaps = torch.rand(32, 17, 64, 48, generator=generator)
    lines = ["| method | median ms per batch (32 x 17 x 64 x 48, float32, CPU) |", "|---|---|"]
    for name, function in methods().items():
        if name.startswith("soft-argmax") and name != "soft-argmax T=1":
            continue
        function(heatmaps)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function(heatmaps)
            times.append(time.perf_counter() - start)
        lines.append(f"| {name.replace(' T=1', '')} | {1000 * statistics.median(times):.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500, help="heatmaps per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20, help="timing repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Mean localisation error in pixels ({args.count} heatmaps per row, {SIZE}x{SIZE}):\n")
    print(accuracy_table(args.count, args.seed))
    print("\nSpeed (1 thread):\n")
    print(timing_table(args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
