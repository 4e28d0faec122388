"""A real multi-label task on the shared pets: "pet" and "head", sigmoid + BCE (+ Dice).

Label "pet" is the pet mask (trimap pet + border, the binary mapping); label "head" is the pet
mask inside the head box of ``annotations/xmls/<stem>.xml``. Both labels are true on head
pixels, so the classes are not exclusive (the notes' case 2). This is
``OxfordPetDataset(mode="pet_head")``: targets are ``(2, H, W)`` float in {0, 1}.

Only images with a head-box xml can be labelled: the others are left out of both splits and
counted here. The split is seglab's own cut of trainval (val_fraction 0.15, seed 0); the
validation images are never trained on, and ``best.pt`` is picked by validation mIoU (the mean
of the two per-label IoUs), so the reported figures are validation figures, not a test score.

    OMP_NUM_THREADS=1 python benchmarks/train_multilabel.py --budget 8  # CPU minutes, BCE + Dice

Besides the trained model's per-label IoU, the script measures on the validation targets what
an exclusive (softmax + argmax) labelling could reach at best: with one label per pixel, each
head pixel must drop either "pet" or "head".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from seglab.data import OxfordPetDataset
from seglab.engine.config import TrainConfig
from seglab.engine.evaluate import evaluate_checkpoint
from seglab.engine.train import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-iiit-pet"


def exclusive_bounds(dataset: OxfordPetDataset) -> dict[str, float]:
    """Best per-label IoU that a one-label-per-pixel decoder could reach, with perfect knowledge.

    A pixel that is both pet and head gets one label only. Labelling it "head" keeps head IoU
    at 1 and costs pet IoU ``|pet and not head| / |pet|``; labelling it "pet" keeps pet IoU at 1
    and makes head IoU 0.
    """
    pet = head = 0
    for index in range(len(dataset)):
        target = dataset[index][1].numpy()
        pet += int(target[0].sum())
        head += int((target[0] * target[1]).sum())
    return {
        "pet_pixels": pet,
        "head_pixels": head,
        "head_share_of_pet": head / pet,
        "pet_iou_if_head_wins": (pet - head) / pet,
        "head_iou_if_pet_wins": 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--budget", type=float, default=8.0, help="training minutes of this process's CPU time"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--loss", default="ce+dice", choices=["bce", "ce+dice"], help="ce+dice is BCE + Dice here"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/multilabel"))
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"Oxford-IIIT Pet data not found at {args.data}")
    torch.set_num_threads(args.threads)

    counts = {}
    for split in ("train", "val"):
        dataset = OxfordPetDataset(
            args.data, split, "pet_head", size=128, val_fraction=0.15, seed=0
        )
        counts[split] = {"images": len(dataset), "skipped": dataset.skipped}
        if split == "val":
            val_dataset = dataset
    print(json.dumps({"counts": counts}), flush=True)

    config = TrainConfig(
        data=str(args.data),
        dataset="oxford-pet",
        mode="pet_head",
        model="unet",
        model_kwargs={"base_channels": 16},
        out=str(args.out),
        img_size=128,
        batch_size=16,
        epochs=1000,
        time_budget=args.budget,
        budget_clock="cpu",
        loss=args.loss,
        lr=2e-3,
        val_fraction=0.15,
        seed=0,
        monitor="miou",
        device="cpu",
    )
    started = time.perf_counter()
    result = train(config, progress=False)
    wall = time.perf_counter() - started
    # Re-evaluate best.pt from the file alone, as `seglab evaluate` would.
    metrics = evaluate_checkpoint(
        args.out / "best.pt", args.data, split="val", device="cpu", progress=False
    )
    bounds = exclusive_bounds(val_dataset)
    row = {
        "counts": counts,
        "epochs": len(result.history),
        "best_epoch": result.best["epoch"],
        "wall_s": wall,
        "train_images": sum(r["train_images"] for r in result.history),
        "train_cpu_s": sum(r["train_cpu_seconds"] for r in result.history),
        "loss": args.loss,
        "budget_min": args.budget,
        "val": {
            name: {
                "iou": float(metrics["iou"][index]),
                "dice": float(metrics["dice"][index]),
                "precision": float(metrics["precision"][index]),
                "recall": float(metrics["recall"][index]),
            }
            for index, name in enumerate(["pet", "head"])
        },
        "val_miou": metrics["miou"],
        "final_train_loss": result.history[-1]["train_loss"],
        "best_val_loss": result.best.get("loss"),
        "exclusive_bounds_val": bounds,
    }
    (args.out / "result.json").write_text(json.dumps(row, indent=2))
    print(json.dumps(row), flush=True)
    print("\n| label | IoU | Dice | precision | recall |")
    print("|---|---:|---:|---:|---:|")
    for name, scores in row["val"].items():
        print(
            f"| {name} | {scores['iou']:.3f} | {scores['dice']:.3f} | "
            f"{scores['precision']:.3f} | {scores['recall']:.3f} |"
        )


if __name__ == "__main__":
    main()
