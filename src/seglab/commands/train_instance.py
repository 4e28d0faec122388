"""``seglab train-instance``: train a bottom-up instance model on DSB folders or COCO files.

The data is either a folder in the Kaggle DSB 2018 layout (``<id>/images/<id>.png`` and
``<id>/masks/*.png``, one nucleus per mask) or a COCO instance JSON file with ``--images``,
the folder its ``file_name`` entries are relative to (what CVAT and Label Studio export; each
category becomes a class). By default a tenth of the images (every tenth, sorted) is held out:
each epoch ends with their DSB score, and ``best.pt`` keeps the best epoch. The defaults are
the recipe of the shipped nuclei model (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seglab.commands._common import add_trust_argument, pick

__all__ = ["add_parser", "run"]

# Flag, type, default (the shipped model's recipe) and help of the numeric settings; each is
# the train_instance() argument of the same name.
_SETTINGS = (
    ("--base-channels", int, 16, "U-Net width"),
    ("--crop-size", int, 192, "side of the square training crops"),
    ("--batch-size", int, 8, "crops per step"),
    ("--steps", int, 100_000, "most steps"),
    ("--time-budget", float, None, "minutes of training on --budget-clock"),
    ("--lr", float, 2e-3, "peak AdamW learning rate"),
    ("--warmup", float, 0.03, "fraction of training in linear warm-up"),
    ("--ema", float, 0.998, "weight EMA decay, 0 for none"),
    ("--sigma", float, 3.0, "centre heatmap sigma in pixels"),
    ("--seed", int, 0, "seed of the initialisation and the crops"),
    ("--threads", int, None, "torch threads"),
    ("--save-every", int, 50, "steps between last.pt saves"),
)
# Passed to train_instance() as they are.
_PASSED = (
    *(flag[2:].replace("-", "_") for flag, *_ in _SETTINGS if flag != "--ema"),
    "split",
    "budget_clock",
    "resume",
    "overwrite",
    "init_from",
    "trust_checkpoint",
)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``train-instance`` subcommand to ``subparsers``."""
    parser = subparsers.add_parser(
        "train-instance",
        help="train an instance model (Panoptic-DeepLab heads on a U-Net) on DSB or COCO data",
        description="Train a bottom-up instance model on DSB 2018 folders or COCO instance files.",
    )
    parser.add_argument(
        "--data", required=True, help="a DSB 2018 folder, or a COCO instance JSON file"
    )
    parser.add_argument("--images", default=None, help="the images folder of a COCO file")
    parser.add_argument("--out", required=True, help="run folder (last.pt, best.pt, log.csv)")
    parser.add_argument(
        "--split",
        default="fit",
        help="images to train on: fit (all but every tenth, default), all, or for DSB folders "
        "train/test (even/odd positions)",
    )
    parser.add_argument(
        "--val-split",
        default="val",
        help="held-out images scored each epoch: val (every tenth, default) or none",
    )
    for flag, kind, default, text in _SETTINGS:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    parser.add_argument(
        "--budget-clock", default="wall", choices=("wall", "cpu"), help="clock of the budget"
    )
    parser.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run that OUT already holds"
    )
    parser.add_argument("--init-from", default=None, help="start from these weights (fine-tune)")
    add_trust_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _coco_data(args: argparse.Namespace) -> dict:
    """The ``train_instance`` keywords of a COCO file: samples, classes and category ids."""
    from seglab.data.coco_instances import load_coco_instances

    if args.images is None:
        raise ValueError("a COCO file needs --images, the folder its file names are relative to")
    train = load_coco_instances(args.data, args.images, split=args.split)
    val = (
        load_coco_instances(args.data, args.images, split=args.val_split).samples
        if args.val_split != "none"
        else []
    )
    return {
        "samples": train.samples,
        "val_samples": val,
        "class_names": train.class_names,
        "category_ids": train.category_ids,
    }


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.train_instance.train_instance` and print where the run went.

    Returns:
        The exit code, 0.
    """
    from seglab.engine.distributed import env_world
    from seglab.engine.train_instance import train_instance

    is_coco = Path(args.data).suffix.lower() == ".json"
    if not is_coco and args.images is not None:
        raise ValueError("--images goes with a COCO JSON --data; a DSB folder holds its images")
    data = _coco_data(args) if is_coco else {}
    result = train_instance(
        args.data,
        args.out,
        val_split=None if is_coco or args.val_split == "none" else args.val_split,
        ema=args.ema or None,
        progress=not args.quiet,
        **pick(args, *_PASSED),
        **data,
    )
    if env_world()[0] != 0:
        return 0  # under torchrun, rank 0 reports for all
    best = result.out / "best.pt"
    print(
        f"trained {result.steps} steps in {result.seconds / 60:.1f} min -> {result.checkpoint}"
        + (f", best epoch in {best}" if best.is_file() else "")
    )
    return 0
