"""All four model families trained with one recipe and one CPU time budget on the shared pets.

Each run uses seglab's own train/val split of the Oxford-IIIT Pet trainval list (val_fraction
0.15, seed 0: 255 training and 45 validation images); the validation images are never trained
on. Every run writes ``<out>/<model>_<mode>/result.json``; ``--table`` prints the Markdown table
of every result found under ``--out`` (so runs can be spread over several processes).

    OMP_NUM_THREADS=1 python benchmarks/train_pets.py --budget 4 --modes binary trimap

``--budget`` counts CPU minutes of the training process by default (``--clock cpu``): on a
machine shared with other jobs, every run then gets the same compute whatever ran beside it.
With one torch thread, one CPU minute is one core-minute.
    python benchmarks/train_pets.py --table

Metrics are those of ``best.pt`` (the epoch with the best validation ``fg_iou`` in binary mode,
``miou`` in trimap mode), on the 45 validation images at 128x128. "pet IoU" is the IoU of the
pet class; in trimap mode "pet+border IoU" merges the pet and border classes, which makes the
figure comparable with binary mode (where border counts as pet).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from seglab.engine.config import TrainConfig
from seglab.engine.train import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-iiit-pet"
# One CPU-sized configuration per family; widths chosen so that one epoch takes about a minute
# on one thread.
MODELS = {
    "fcn8s": {"width": 0.25},
    "deconvnet": {"width": 0.25},
    "unet": {"base_channels": 16},
    "deeplabv3plus": {"backbone": "resnet18", "width": 0.5},
}
RECIPE = {
    "img_size": 128,
    "batch_size": 16,
    "loss": "ce+dice",
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "schedule": "cosine",
    "val_fraction": 0.15,
    "seed": 0,
}


def _merged_iou(confusion: np.ndarray, classes: list[int]) -> float:
    """IoU of the union of ``classes`` against the rest, from a (true, pred) confusion matrix."""
    inside = np.zeros(len(confusion), dtype=bool)
    inside[classes] = True
    tp = confusion[np.ix_(inside, inside)].sum()
    fp = confusion[np.ix_(~inside, inside)].sum()
    fn = confusion[np.ix_(inside, ~inside)].sum()
    return float(tp / max(tp + fp + fn, 1))


def run_one(data: Path, name: str, mode: str, budget: float, clock: str, out: Path) -> dict:
    config = TrainConfig(
        data=str(data),
        dataset="oxford-pet",
        mode=mode,
        model=name,
        model_kwargs=MODELS[name],
        out=str(out / f"{name}_{mode}"),
        epochs=1000,
        time_budget=budget,
        budget_clock=clock,
        monitor="fg_iou" if mode == "binary" else "miou",
        device="cpu",
        **RECIPE,
    )
    started = time.perf_counter()
    result = train(config, progress=False)
    wall = time.perf_counter() - started
    state = torch.load(Path(config.out) / "best.pt", weights_only=False, map_location="cpu")
    params = sum(
        value.numel()
        for key, value in state["state_dict"].items()
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    images = sum(row["train_images"] for row in result.history)
    cpu = sum(row["train_cpu_seconds"] for row in result.history)
    wall_train = sum(row["train_images"] / row["train_images_per_s"] for row in result.history)
    best = result.best
    confusion = np.asarray(best["confusion"])
    row = {
        "model": name,
        "mode": mode,
        "model_kwargs": MODELS[name],
        "params": params,
        "epochs": len(result.history),
        "best_epoch": best["epoch"],
        "train_images": images,
        "train_cpu_s": cpu,
        "train_img_per_cpu_s": images / cpu,
        "train_img_per_wall_s": images / wall_train,
        "wall_s": wall,
        "pa": best["pixel_accuracy"],
        "mpa": best["mean_pixel_accuracy"],
        "miou": best["miou"],
        "pet_iou": float(best["iou"][1]),
        "pet_border_iou": _merged_iou(confusion, [1, 2]) if mode == "trimap" else float("nan"),
        "mean_dice": best["mean_dice"],
        "pet_dice": float(best["dice"][1]),
        "val_loss": best.get("loss", float("nan")),
        "final_train_loss": result.history[-1]["train_loss"],
        "budget_min": budget,
        "budget_clock": clock,
        "recipe": RECIPE,
    }
    (Path(config.out) / "result.json").write_text(json.dumps(row, indent=2))
    return row


def table(out: Path) -> str:
    rows = [json.loads(path.read_text()) for path in sorted(out.glob("*/result.json"))]
    order = {name: index for index, name in enumerate(MODELS)}
    rows.sort(key=lambda row: (row["mode"] != "binary", order.get(row["model"], 99)))
    lines = [
        "| model | mode | params | epochs (best) | train img/CPU-s | train img/s (wall) "
        "| wall s | PA | MPA | mIoU "
        "| pet IoU | pet+border IoU | mean Dice | pet Dice |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(value: float) -> str:
        return "–" if value is None or value != value else f"{value:.3f}"

    for row in rows:
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['params'] / 1e6:.2f} M | "
            f"{row['epochs']} ({row['best_epoch']}) | {row['train_img_per_cpu_s']:.1f} | "
            f"{row['train_img_per_wall_s']:.1f} | "
            f"{row['wall_s']:.0f} | {fmt(row['pa'])} | {fmt(row['mpa'])} | {fmt(row['miou'])} | "
            f"{fmt(row['pet_iou'])} | {fmt(row['pet_border_iou'])} | {fmt(row['mean_dice'])} | "
            f"{fmt(row['pet_dice'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budget", type=float, default=4.0, help="training minutes per run")
    parser.add_argument("--modes", nargs="+", default=["binary", "trimap"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--clock",
        default="cpu",
        choices=["cpu", "wall"],
        help="what --budget counts: this process's CPU minutes (fair on a shared machine) or "
        "wall minutes",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train_pets"))
    parser.add_argument("--table", action="store_true", help="only print the table of --out")
    args = parser.parse_args()
    if args.table:
        print(table(args.out))
        return
    if not args.data.is_dir():
        raise SystemExit(f"Oxford-IIIT Pet data not found at {args.data}")
    torch.set_num_threads(args.threads)
    for mode in args.modes:
        for name in args.models:
            row = run_one(args.data, name, mode, args.budget, args.clock, args.out)
            print(json.dumps(row), flush=True)
    print()
    print(table(args.out))


if __name__ == "__main__":
    main()
