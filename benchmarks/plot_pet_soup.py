"""Plot the validation curves of the pet-model fine-tunes and the score of their soup.

Reads each run's ``log.csv`` (val pet IoU per epoch), scores the uniform soup of the runs'
``best.pt`` files (and of their ``last.pt`` weights, which no validation score picked) with
``seglab evaluate``'s code on the same split, and draws one figure: the curves, and the soups
as horizontal lines. docs/benchmarks.md shows the figure and the commands that made the runs.

Usage:
    nice .venv/bin/python benchmarks/plot_pet_soup.py --runs runs/pet_ft4 runs/pet_ema \\
        --base runs/pet_ft3/best.pt --out docs/images/pet_soup.png
    # a later round, whose soup leaves out the model it started from:
    nice .venv/bin/python benchmarks/plot_pet_soup.py --runs runs/pet_s2_a runs/pet_s2_b \\
        --base runs/soup8.pt --soup-without-base --out docs/images/pet_soup_round2.png
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from seglab.checkpoint import save_checkpoint  # noqa: E402
from seglab.engine.evaluate import evaluate_checkpoint  # noqa: E402
from seglab.engine.soup import average_checkpoints  # noqa: E402


def _curve(run: Path) -> list[float]:
    with (run / "log.csv").open() as handle:
        return [float(row["fg_iou"]) for row in csv.DictReader(handle)]


def _soup_score(paths: list[Path], data: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        soup_path = Path(folder) / "soup.pt"
        save_checkpoint(soup_path, average_checkpoints(paths))
        return evaluate_checkpoint(soup_path, data, split="val", progress=False)["fg_iou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="run folders (fine-tunes)")
    parser.add_argument("--base", required=True, help="the checkpoint they were tuned from")
    parser.add_argument("--data", default="../shared/data/oxford-iiit-pet")
    parser.add_argument("--out", default="docs/images/pet_soup.png")
    parser.add_argument(
        "--soup-without-base", action="store_true", help="average the fine-tunes only"
    )
    parser.add_argument("--ylim", type=float, nargs=2, default=(0.70, 0.84))
    parser.add_argument(
        "--title", default="Fine-tunes of the stage-3 U-Net and the average of their weights"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [Path(run) for run in args.runs]
    base = Path(args.base)

    base_score = evaluate_checkpoint(base, args.data, split="val", progress=False)["fg_iou"]
    start = [] if args.soup_without_base else [base]
    best_soup = _soup_score([*start, *[run / "best.pt" for run in runs]], args.data)
    last_soup = _soup_score([*start, *[run / "last.pt" for run in runs]], args.data)
    print(f"base {base}: {base_score:.4f}")
    for run in runs:
        curve = _curve(run)
        print(f"{run}: {len(curve)} epochs, best {max(curve):.4f}, last {curve[-1]:.4f}")
    print(f"soup of best.pt files: {best_soup:.4f}; soup of last weights: {last_soup:.4f}")

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        curve = _curve(run)
        axis.plot(range(1, len(curve) + 1), curve, linewidth=1.2, label=run.name)
    axis.axhline(base_score, color="grey", linestyle=":", label=f"start ({base_score:.3f})")
    axis.axhline(best_soup, color="black", linestyle="--", label=f"soup of best ({best_soup:.3f})")
    axis.axhline(last_soup, color="black", linestyle="-.", label=f"soup of last ({last_soup:.3f})")
    axis.set_xlabel("epoch of the fine-tune")
    axis.set_ylabel("val pet IoU (45 held-out images)")
    axis.set_ylim(*args.ylim)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right", ncol=2)
    axis.set_title(args.title)
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
