"""The ``seglab`` command line: finds the subcommand, runs it, and turns errors into one line.

Each subcommand is a module of :mod:`seglab.commands` (its flags and its ``run``); there is no
maths here nor there: every command is a thin wrapper over a function you can call from Python
(named in each command's help).

Errors: a failure the user can fix (a bad path, a bad setting, a refused checkpoint, a full
disk) prints one line, ``seglab COMMAND: error: ...``, on stderr and exits with 2; anything
else is a bug and prints one line that says so, exiting with 1. ``--debug`` (or the
environment variable ``SEGLAB_DEBUG=1``) shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from seglab.commands import COMMANDS

__all__ = ["EXPECTED_ERRORS", "build_parser", "describe_error", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seglab`` command.

    One subcommand per module of :mod:`seglab.commands`; the module's ``run`` is stored as the
    ``handler`` default of its arguments.
    """
    from seglab import __version__

    parser = argparse.ArgumentParser(
        prog="seglab", description="Image segmentation: classical methods, deep models, metrics."
    )
    parser.add_argument("--version", action="version", version=f"seglab {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (or SEGLAB_DEBUG=1)",
    )
    commands = _SubcommandsWithDebug(
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    )
    for module in COMMANDS:
        # Read when the parser is built, so that a test can replace a module's run first.
        module.add_parser(commands).set_defaults(handler=module.run)
    return parser


class _SubcommandsWithDebug:
    """``add_subparsers()``'s action, giving every subcommand the ``--debug`` flag too, so that
    it works before or after the command name."""

    def __init__(self, action) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        parser = self._action.add_parser(name, **kwargs)
        # SUPPRESS: when absent here, the top-level --debug value is kept.
        parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return parser


# Failures a user can fix: bad input, a refused file, a folder that cannot be written.
EXPECTED_ERRORS = (OSError, ValueError, TypeError, RuntimeError, ImportError, MemoryError)


def describe_error(error: BaseException) -> str:
    """One line for an error: OS errors as ``reason: file``, the others as their message."""
    if isinstance(error, MemoryError):
        return f"out of memory{': ' + str(error) if str(error) else ''}"
    if isinstance(error, OSError) and error.strerror:
        files = [str(name) for name in (error.filename, error.filename2) if name is not None]
        message = ": ".join(
            [error.strerror, *[name for name in files if name not in error.strerror]]
        )
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())  # one line, whatever the message holds


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seglab`` console script; returns the exit code.

    Returns:
        0 on success, 2 for an error the user can fix (one line on stderr), 1 for an
        unexpected error (a bug), 130 when interrupted with Ctrl+C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("SEGLAB_DEBUG", "") not in ("", "0")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"seglab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        if isinstance(error, EXPECTED_ERRORS):
            print(f"seglab {args.command}: error: {describe_error(error)}", file=sys.stderr)
            return 2
        print(
            f"seglab {args.command}: internal error, a bug in seglab: {type(error).__name__}: "
            f"{describe_error(error)} (rerun with --debug for the traceback, and report it)",
            file=sys.stderr,
        )
        return 1
