"""``seglab evaluate``: a checkpoint's metrics on a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from seglab.commands._common import (
    add_test_time_arguments,
    add_trust_argument,
    pick,
    test_time_options,
)
from seglab.engine.config import DATASETS, DEVICES

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``evaluate`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a dataset split")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test", help="test, val, train, trainval or all")
    parser.add_argument(
        "--dataset", default=None, choices=DATASETS, help="override the checkpoint's dataset kind"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    add_test_time_arguments(parser, tta_help="average with a horizontal flip, as predict --tta")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument(
        "--out", default=None, help="folder for metrics.json (default: next to the checkpoint)"
    )
    parser.add_argument("--quiet", action="store_true")
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.evaluate.evaluate_checkpoint`, printing the metrics table.

    Returns:
        The exit code, 0.
    """
    from seglab.engine.evaluate import evaluate_checkpoint, format_metrics_table

    def show(metrics: dict, class_names: list[str]) -> None:
        # Printed before metrics.json is written: an unwritable folder loses nothing.
        print(format_metrics_table(metrics, class_names), flush=True)

    out = Path(args.out) if args.out else Path(args.checkpoint).parent
    options = pick(args, "split", "dataset", "batch_size", "device", "trust_checkpoint")
    evaluate_checkpoint(
        args.checkpoint,
        args.data,
        out=out,
        progress=not args.quiet,
        report=show,
        **options,
        **test_time_options(args),
    )
    print(f"metrics written to {out / 'metrics.json'}")
    return 0
