"""``seglab classical``: SLIC, Normalized Cut or GrabCut on one image."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from seglab.commands._common import add_library_choice, load_input_image, rectangle
from seglab.samples import SAMPLE_NAMES

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``classical`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser("classical", help="SLIC, Normalized Cut or GrabCut on an image")
    add_library_choice(
        parser,
        "method_name",
        "seglab.classical.run",
        "CLASSICAL_METHODS",
        metavar="METHOD",
        help="the method: %(choices)s",
    )
    parser.add_argument("image", help=f"image file, or sample:NAME ({', '.join(SAMPLE_NAMES)})")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--n-segments",
        type=int,
        default=None,
        help="superpixels (slic, default 400) or segments (ncut, default 8)",
    )
    parser.add_argument("--compactness", type=float, default=10.0, help="slic compactness")
    add_library_choice(
        parser,
        "--method",
        "seglab.classical.ncut",
        "METHODS",
        default="pixel",
        metavar="FLAVOUR",
        help="ncut flavour: %(choices)s (default: %(default)s)",
    )
    parser.add_argument(
        "--rect",
        type=rectangle,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="grabcut rectangle (x1, y1 exclusive)",
    )
    parser.add_argument(
        "--trimap",
        default=None,
        help="grabcut trimap PNG: 0/64 background, 128 unknown, 255 foreground",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=5,
        help="grabcut iterations (0: the starting rectangle or trimap, no iteration)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.classical.run.run_classical` and print what it wrote.

    Returns:
        The exit code, 0.
    """
    from seglab.classical.run import run_classical

    image = load_input_image(args.image)
    name = Path(args.image.split(":", 1)[-1]).stem
    options = {
        "n_segments": args.n_segments,
        "compactness": args.compactness,
        "rect": args.rect,
        "trimap": args.trimap,
        "iters": args.iters,
        "ncut_method": args.method,
    }
    started = time.perf_counter()
    result = run_classical(args.method_name, image, out_dir=args.out, name=name, **options)
    print(
        f"{args.method_name}: {result.num_labels} labels in {time.perf_counter() - started:.2f} s; "
        f"wrote {', '.join(str(path) for path in result.files)}"
    )
    return 0
