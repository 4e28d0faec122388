"""``seglab soup``: the weight average of fine-tuned checkpoints of one model."""

from __future__ import annotations

import argparse

from seglab.commands._common import add_trust_argument

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``soup`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "soup", help="average the weights of fine-tuned checkpoints of one model (a model soup)"
    )
    parser.add_argument("checkpoints", nargs="+", help="two or more checkpoints of one model")
    parser.add_argument("--out", required=True, help="the averaged checkpoint")
    parser.add_argument(
        "--weights", type=float, nargs="+", default=None, help="mixing weights (default: equal)"
    )
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.soup.average_checkpoints` and save the result.

    Returns:
        The exit code, 0.
    """
    from seglab.checkpoint import save_checkpoint
    from seglab.engine.soup import average_checkpoints

    soup = average_checkpoints(
        args.checkpoints, weights=args.weights, trust_checkpoint=args.trust_checkpoint
    )
    save_checkpoint(args.out, soup)
    mix = ", ".join(f"{w:.3g}" for w in soup["soup"]["weights"])
    print(f"averaged {len(args.checkpoints)} checkpoints (weights {mix}) into {args.out}")
    return 0
