"""``seglab serve``: the gradio web app (needs ``seglab[web]``)."""

from __future__ import annotations

import argparse

from seglab.commands._common import add_trust_argument, pick, port
from seglab.engine.config import DEVICES

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    parser = subparsers.add_parser(
        "serve", help="the web app: classical methods, models, evaluation (needs seglab[web])"
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        help="extra model checkpoint for the model tab (repeatable); the pet model is built in",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: loopback only)"
    )
    parser.add_argument("--port", type=port, default=7860, help="1..65535 (default 7860)")
    parser.add_argument(
        "--max-megapixels",
        type=float,
        default=25.0,
        help="largest accepted upload, at most 89 (default 25)",
    )
    parser.add_argument("--device", default="cpu", choices=DEVICES)
    add_trust_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.web.app.serve` until Ctrl+C; returns the exit code, 0."""
    # Without gradio this raises ImportError("... pip install 'seglab[web]'"), which main()
    # prints as one line.
    from seglab.web.app import serve

    print(f"seglab web app on http://{args.host}:{args.port} (Ctrl+C to stop)")
    options = ("host", "port", "max_megapixels", "device", "trust_checkpoint")
    serve(args.checkpoint, **pick(args, *options))
    return 0
