"""``seglab instance``: nucleus instances as label PNGs, overlays and COCO results."""

from __future__ import annotations

import argparse

from seglab.commands._common import (
    add_trust_argument,
    pick,
    report_failures,
    skipped_outputs_note,
)
from seglab.engine.config import DEVICES
from seglab.limits import DEFAULT_TILE

__all__ = ["add_parser", "run"]

# predict_instance_files moves the model with .to(device): it has no "auto".
_DEVICES = tuple(device for device in DEVICES if device != "auto")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``instance`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "instance", help="nucleus instances: label PNG, overlay, COCO results (Panoptic-DeepLab)"
    )
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument("--checkpoint", default=None, help="default: the shipped nuclei model")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="cpu", choices=_DEVICES)
    parser.add_argument(
        "--tile",
        type=int,
        default=DEFAULT_TILE,
        help="run the network on overlapping TILE x TILE windows of larger images, so that "
        f"memory stays bounded (default {DEFAULT_TILE}; 0: every image whole)",
    )
    parser.add_argument(
        "--tile-overlap", type=int, default=None, help="pixels shared by windows (default TILE/4)"
    )
    parser.add_argument("--no-overlay", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.instance_predict.predict_instance_files`.

    Returns:
        0 when something was written or nothing failed, else 1.
    """
    from seglab.engine.instance_predict import predict_instance_files

    summary = predict_instance_files(
        args.inputs,
        args.out,
        overlay=not args.no_overlay,
        tile=args.tile or None,
        overlap=args.tile_overlap,
        progress=not args.quiet,
        **pick(args, "checkpoint", "device", "trust_checkpoint"),
    )
    print(
        f"{len(summary.written)} label maps ({summary.num_instances} instances) written to "
        f"{args.out}, COCO results in {summary.results_path}, {len(summary.failed)} failed"
        + skipped_outputs_note(summary.skipped_outputs)
    )
    report_failures(summary.failed)
    return 0 if summary.written or not summary.failed else 1
