"""``seglab predict``: masks for image files and folders, resumable, optionally sharded."""

from __future__ import annotations

import argparse
import os

from seglab.commands._common import (
    add_library_choice,
    add_test_time_arguments,
    add_trust_argument,
    pick,
    report_failures,
    skipped_outputs_note,
    test_time_options,
)
from seglab.engine.config import DEVICES

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``predict`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser("predict", help="predict masks for images or folders")
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument(
        "--checkpoint", default=None, help="a .pt checkpoint or an .onnx file (default: pet model)"
    )
    add_library_choice(
        parser,
        "--backend",
        "seglab.engine.onnx_predict",
        "BACKENDS",
        default="auto",
        metavar="BACKEND",
        help="%(choices)s (auto: onnxruntime for an .onnx file, else torch)",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    add_test_time_arguments(parser, tta_help="average with a horizontal flip")
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="sliding-window inference: keep each image's size and run the network on "
        "overlapping TILE x TILE windows (for models trained on crops, and for images too "
        "large to go through whole); default: resize each image to the training size",
    )
    parser.add_argument(
        "--tile-overlap", type=int, default=None, help="pixels shared by windows (default TILE/4)"
    )
    parser.add_argument("--no-overlay", action="store_true")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo images whose mask exists (default: skip them, so a killed run resumes)",
    )
    # Skipping is the default now; the old flag stays accepted.
    parser.add_argument("--skip-existing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=8, help="images per network call")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, max(0, (os.cpu_count() or 1) - 2)),
        help="image-decoding processes (0: decode in the main process; default: up to 2, "
        "none on 2 cores, where the writer threads already use the second core)",
    )
    parser.add_argument("--quiet", action="store_true")
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.predict.predict_files`, sharded over torchrun processes.

    Returns:
        0 when something was written or nothing failed, else 1.
    """
    from seglab.engine.distributed import env_world
    from seglab.engine.onnx_predict import create_predictor
    from seglab.engine.predict import predict_files

    rank, world_size, local_rank = env_world()
    if world_size > 1 and args.device != "cpu":
        import torch

        if torch.cuda.is_available():
            # One GPU per process on each machine; "cuda" then means this process's GPU.
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
    predictor = create_predictor(
        args.checkpoint,
        **pick(args, "backend", "device", "trust_checkpoint"),
        **test_time_options(args),
        tile=args.tile,
        overlap=args.tile_overlap,
    )
    summary = predict_files(
        predictor,
        args.inputs,
        args.out,
        overlay=not args.no_overlay,
        skip_existing=not args.overwrite,
        progress=not args.quiet and rank == 0,
        batch_size=args.batch_size,
        workers=args.workers,
        shard=(rank, world_size) if world_size > 1 else None,
    )
    where = f"rank {rank}/{world_size}: " if world_size > 1 else ""
    print(
        f"{where}{len(summary.written)} masks written to {args.out}, "
        f"{len(summary.skipped_existing)} already there"
        f"{' (--overwrite redoes them)' if summary.skipped_existing else ''}, "
        f"{len(summary.failed)} failed" + skipped_outputs_note(summary.skipped_outputs)
    )
    report_failures(summary.failed)
    return 0 if summary.written or summary.skipped_existing or not summary.failed else 1
