"""``seglab export``: a checkpoint (or the shipped pet model) as an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path

from seglab.commands._common import add_trust_argument

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (seglab.export.export_onnx)"
    )
    parser.add_argument("--checkpoint", default=None, help="default: the shipped pet model")
    # No argparse choices: export_model checks the format against EXPORT_FORMATS itself, and
    # its error names the valid ones without importing torch into `seglab --help`.
    parser.add_argument("--format", default="onnx", help="export format (onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, 13..20 (default 17)")
    parser.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="dynamic batch, height and width (default); --no-dynamic: fixed (1, C, H, W)",
    )
    parser.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="traced (and, with --no-dynamic, fixed) size; default: the training size",
    )
    parser.add_argument(
        "--out", default=None, help="output file (default: the checkpoint's path with .onnx)"
    )
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.export.export_model`; returns the exit code, 0."""
    from seglab.export import export_model

    if args.out is None:
        # Next to the checkpoint, or in the current folder for the shipped model.
        source = Path(args.checkpoint) if args.checkpoint else Path("pet_unet.pt")
        args.out = source.with_suffix(f".{args.format}")
    path = export_model(
        args.checkpoint,
        args.out,
        format=args.format,
        opset=args.opset,
        dynamic=args.dynamic,
        input_size=tuple(args.input_size) if args.input_size else None,
        trust_checkpoint=args.trust_checkpoint,
    )
    shape = "dynamic N, H, W" if args.dynamic else "static shape"
    print(f"exported {args.checkpoint or 'the shipped pet model'} to {path} ({shape})")
    return 0
