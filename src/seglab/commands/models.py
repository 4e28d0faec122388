"""``seglab models``: the names of the registered models."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``models`` subcommand to ``subparsers`` (``add_subparsers()``'s result)."""
    return subparsers.add_parser("models", help="list the registered models")


def run(args: argparse.Namespace) -> int:
    """Print :func:`seglab.models.list_models`, one name a line; returns the exit code."""
    from seglab.models import list_models

    print("\n".join(list_models()))
    return 0
