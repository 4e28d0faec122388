"""All four model families trained with one recipe and one CPU time budget on the shared pets.

Each run uses seglab's own train/val split of the Oxford-IIIT Pet trainval list (val_fraction
0.15, seed 0): the validation images are never trained on. Prints a Markdown table.

    python benchmarks/train_pets.py --budget 5 --modes binary trimap
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from seglab.engine.config import TrainConfig
from seglab.engine.train import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-iiit-pet"
# One CPU-sized configuration per family; widths chosen so that one epoch takes well under a
# minute on 2 cores.
MODELS = {
    "fcn8s": {"width": 0.25},
    "deconvnet": {"width": 0.25},
    "unet": {"base_channels": 16},
    "deeplabv3plus": {"backbone": "resnet18", "width": 0.5},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--budget", type=float, default=5.0, help="training minutes per run")
    parser.add_argument("--modes", nargs="+", default=["binary", "trimap"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train_pets"))
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"Oxford-IIIT Pet data not found at {args.data}")
    torch.set_num_threads(2)
    rows = []
    for mode in args.modes:
        for name in args.models:
            config = TrainConfig(
                data=str(args.data),
                dataset="oxford-pet",
                mode=mode,
                model=name,
                model_kwargs=MODELS[name],
                out=str(args.out / f"{name}_{mode}"),
                img_size=128,
                batch_size=16,
                epochs=1000,
                time_budget=args.budget,
                loss="ce+dice",
                lr=2e-3,
                val_fraction=0.15,
                monitor="fg_iou" if mode == "binary" else "miou",
            )
            started = time.perf_counter()
            result = train(config)
            wall = time.perf_counter() - started
            params = sum(
                value.numel()
                for key, value in torch.load(Path(config.out) / "best.pt", weights_only=False)[
                    "state_dict"
                ].items()
                if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
            )
            speed = sum(row["train_images_per_s"] for row in result.history) / len(result.history)
            best = result.best
            rows.append(
                {
                    "model": name,
                    "mode": mode,
                    "params": params,
                    "epochs": len(result.history),
                    "train_img_s": speed,
                    "wall_s": wall,
                    "pa": best["pixel_accuracy"],
                    "mpa": best["mean_pixel_accuracy"],
                    "miou": best["miou"],
                    "fg_iou": best.get("fg_iou", float("nan")),
                    "dice": best["mean_dice"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| model | mode | params | epochs | train img/s | wall s | PA | MPA | mIoU | fg IoU | mean Dice |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['model']} | {row['mode']} | {row['params'] / 1e6:.2f} M | {row['epochs']} | "
            f"{row['train_img_s']:.1f} | {row['wall_s']:.0f} | {row['pa']:.4f} | {row['mpa']:.4f} | "
            f"{row['miou']:.4f} | {row['fg_iou']:.4f} | {row['dice']:.4f} |"
        )


if __name__ == "__main__":
    main()
