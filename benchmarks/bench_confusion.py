"""Confusion-matrix speed: seglab's ``ConfusionMatrix`` against torchmetrics.

One evaluation step is ``update`` with a batch of predicted and true labels, then ``compute``
(seglab computes every score: PA, MPA, IoU, FWIoU, Dice; torchmetrics only the IoU). The batch is
16 x 512 x 512 with 21 classes (PASCAL VOC size), int64 CPU tensors, in four cases: no ignored
pixel, about 10 % of the target set to ``ignore_index=255``, NumPy arrays instead of tensors,
and uint8 masks (labels as read from PNG files).

The peer is torchmetrics' ``MulticlassJaccardIndex(num_classes=21, average="none")``, both
with its default ``validate_args=True`` (it checks the label values, as seglab always does)
and with ``validate_args=False`` (no checks at all). Each step re-creates nothing: ``reset``,
``update``, ``compute``. Before timing, the per-class IoU of both is checked to be equal.

The torchmetrics rows of the NumPy cases get int64 tensors of the same labels (torchmetrics
takes tensors only). Extra seglab rows: the torch code path that CUDA tensors take
(``torch.bincount``), run on the CPU tensors for comparison; one whole-batch NumPy pass instead
of cache-sized blocks; and per-image scores (vectorised over the batch) against a Python loop
of per-image matrices, for 16 large images and for 1024 small ones with the same pixel count.

Wall-clock time per step, median over ``--repeats`` runs after warm-up, methods interleaved
(round-robin) so that load changes on a shared machine hit all of them alike. Compare ratios
within one run, not absolute times across runs.

Usage:
    nice .venv/bin/python benchmarks/bench_confusion.py
    nice .venv/bin/python benchmarks/bench_confusion.py --batch 4 --size 256 --repeats 5

Needs no dataset: labels are synthetic piecewise-constant regions (a nearest-upsampled random
grid, every class present) with 15 % of the predictions replaced by random classes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from seglab.metrics import ConfusionMatrix, confusion, per_image_metrics
from seglab.metrics.confusion import count_pairs, scores_from_confusion


def make_labels(
    batch: int, size: int, num_classes: int, ignored_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant int64 target and a noisy prediction, ``(batch, size, size)``."""
    rng = np.random.default_rng(seed)
    cells = max(size // 16, 1)
    grid = rng.integers(0, num_classes, (batch, cells, cells))
    grid.flat[:num_classes] = np.arange(num_classes)  # every class present
    repeat = -(-size // cells)
    target = grid.repeat(repeat, axis=1).repeat(repeat, axis=2)[:, :size, :size]
    noise = rng.random(target.shape) < 0.15
    pred = np.where(noise, rng.integers(0, num_classes, target.shape), target)
    target = np.ascontiguousarray(target)
    target[rng.random(target.shape) < ignored_fraction] = 255
    return pred.astype(np.int64), target.astype(np.int64)


def seglab_step(num_classes: int, pred, target) -> Callable[[], object]:
    meter = ConfusionMatrix(num_classes, ignore_index=255)

    def step() -> object:
        meter.reset()
        meter.update(pred, target)
        return meter.compute()

    return step


def seglab_device_path_step(num_classes: int, pred, target) -> Callable[[], object]:
    def step() -> object:
        matrix = count_pairs(pred, target, num_classes, 255, per_image=False, keep_torch=True)
        return scores_from_confusion(matrix)

    return step


def seglab_unblocked_step(num_classes: int, pred, target) -> Callable[[], object]:
    """seglab with one whole-batch NumPy pass instead of cache-sized blocks."""
    step = seglab_step(num_classes, pred, target)

    def unblocked() -> object:
        saved, confusion._BLOCK = confusion._BLOCK, 1 << 62
        try:
            return step()
        finally:
            confusion._BLOCK = saved

    return unblocked


def torchmetrics_step(num_classes: int, pred, target, validate: bool) -> Callable[[], object]:
    from torchmetrics.classification import MulticlassJaccardIndex

    metric = MulticlassJaccardIndex(
        num_classes, average="none", ignore_index=255, validate_args=validate
    )

    def step() -> object:
        metric.reset()
        metric.update(pred, target)
        return metric.compute()

    return step


def per_image_loop_step(num_classes: int, pred, target) -> Callable[[], object]:
    def step() -> object:
        scores = []
        for image_pred, image_target in zip(pred, target, strict=True):
            meter = ConfusionMatrix(num_classes, ignore_index=255)
            meter.update(image_pred, image_target)
            scores.append(meter.compute()["miou"])
        return scores

    return step


def measure(steps: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median milliseconds per step, running the steps round-robin."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    k = args.classes

    cases = []
    for ignored in (0.0, 0.1):
        pred, target = make_labels(args.batch, args.size, k, ignored)
        pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
        label = f"torch int64, {ignored:.0%} ignored"
        # Same answer before timing: the comparison is only fair if both compute the same IoU.
        ours = seglab_step(k, pred_t, target_t)()["iou"]
        theirs = torchmetrics_step(k, pred_t, target_t, True)().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
        steps = {
            "seglab": seglab_step(k, pred_t, target_t),
            "torchmetrics": torchmetrics_step(k, pred_t, target_t, True),
            "torchmetrics (no checks)": torchmetrics_step(k, pred_t, target_t, False),
        }
        if ignored:
            steps["seglab, torch.bincount path"] = seglab_device_path_step(k, pred_t, target_t)
            steps["seglab, no cache blocks"] = seglab_unblocked_step(k, pred_t, target_t)
        cases.append((label, steps))
    pred, target = make_labels(args.batch, args.size, k, 0.1)
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target)
    cases.append(
        (
            "NumPy int64, 10% ignored",
            {
                "seglab": seglab_step(k, pred, target),
                "torchmetrics": torchmetrics_step(k, pred_t, target_t, True),
                "torchmetrics (no checks)": torchmetrics_step(k, pred_t, target_t, False),
            },
        )
    )
    pred8, target8 = pred.astype(np.uint8), target.astype(np.uint8)
    cases.append(
        (
            "NumPy uint8, 10% ignored",
            {
                "seglab": seglab_step(k, pred8, target8),
                "torchmetrics": torchmetrics_step(k, pred_t, target_t, True),
                "torchmetrics (no checks)": torchmetrics_step(k, pred_t, target_t, False),
            },
        )
    )
    cases.append(
        (
            "per-image mIoU, 10% ignored",
            {
                "seglab": lambda: per_image_metrics(pred_t, target_t, k),
                "seglab, loop over images": per_image_loop_step(k, pred_t, target_t),
            },
        )
    )
    # The same number of pixels as many small images, where a loop over images costs most.
    small = args.size // 8
    pred_s, target_s = (
        torch.from_numpy(x) for x in make_labels(args.batch * 64, small, k, 0.1, seed=1)
    )
    cases.append(
        (
            f"per-image mIoU, {args.batch * 64} images of {small}x{small}",
            {
                "seglab": lambda: per_image_metrics(pred_s, target_s, k),
                "seglab, loop over images": per_image_loop_step(k, pred_s, target_s),
            },
        )
    )

    print(
        f"{args.batch}x{args.size}x{args.size} labels, {k} classes, update + compute, "
        f"median of {args.repeats} (torch {torch.__version__}, {torch.get_num_threads()} threads)\n"
    )
    rows = ["| case | method | ms | time / seglab |", "|---|---|---:|---:|"]
    for label, steps in tqdm(cases, desc="cases"):
        timings = measure(steps, args.repeats, args.warmup)
        for name, ms in timings.items():
            rows.append(f"| {label} | {name} | {ms:.1f} | {ms / timings['seglab']:.2f}x |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
