"""The subcommands of ``seglab``, one module each.

Every module has ``add_parser(subparsers) -> argparse.ArgumentParser``, which adds the command
and its flags, and ``run(args) -> int``, which calls the library and returns the exit code.
Their top-level imports stay light (no torch, no OpenCV) so that ``seglab --help`` is fast;
each ``run`` imports what it needs. A new command is one module here, named as the command
with ``_`` for ``-`` (``train_instance`` is ``seglab train-instance``), and one entry in
:data:`COMMANDS`.
"""

from __future__ import annotations

from seglab.commands import (
    classical,
    convert,
    demo,
    evaluate,
    export,
    instance,
    models,
    predict,
    serve,
    soup,
    train,
    train_instance,
)

__all__ = ["COMMANDS"]

# In the order `seglab --help` lists them.
COMMANDS = (
    demo,
    train,
    evaluate,
    predict,
    classical,
    convert,
    export,
    soup,
    instance,
    train_instance,
    serve,
    models,
)
