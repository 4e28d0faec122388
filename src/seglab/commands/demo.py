"""``seglab demo``: the shipped pet model and the classical methods on a bundled sample."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "demo", help="run the shipped pet model and the classical methods on a bundled sample image"
    )
    parser.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--sample", default="chelsea", help="bundled sample image (default: %(default)s)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.demo.run_demo` and print what it found; returns the exit code."""
    from seglab.engine.demo import run_demo

    result = run_demo(args.out, sample=args.sample)
    for line in result.lines:
        print(line)
    print(f"outputs written to {result.out}")
    return 0
