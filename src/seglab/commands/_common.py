"""Options and small argument parsers that several commands share, each written once here.

Only light imports at the top: every command module imports this one while ``seglab --help``
builds the parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

__all__ = [
    "LibraryChoices",
    "add_library_choice",
    "pick",
    "report_failures",
    "add_test_time_arguments",
    "add_trust_argument",
    "key_values",
    "load_input_image",
    "port",
    "rectangle",
    "skipped_outputs_note",
    "test_time_options",
]


class LibraryChoices(Sequence):
    """The valid values of an option, read from a library constant when first needed.

    Some lists live next to the code that uses them, in modules that import torch or OpenCV
    (``seglab.engine.onnx_predict.BACKENDS``). Importing them while the parser is built would
    make every ``seglab --help`` pay for torch; argparse reads ``choices`` only to check a
    value the user gave or to print help, when the command is about to need the module anyway.

    Give the option a ``metavar`` too: without one argparse lists the choices in the usage
    line, which it formats as soon as the option is added. Put ``%(choices)s`` in the help to
    show them.

    Args:
        module: dotted module name, e.g. ``"seglab.engine.onnx_predict"``.
        name: the constant in that module, e.g. ``"BACKENDS"``.

    Example:
        >>> "torch" in LibraryChoices("seglab.engine.onnx_predict", "BACKENDS")
        True
    """

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name

    @cached_property
    def _values(self) -> tuple:
        return tuple(getattr(importlib.import_module(self._module), self._name))

    def __getitem__(self, index):
        return self._values[index]

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"LibraryChoices({self._module}.{self._name})"


def rectangle(text: str) -> tuple[int, int, int, int]:
    """Parse ``x0,y0,x1,y1`` (a rectangle) into four integers.

    Raises:
        argparse.ArgumentTypeError: for anything else; argparse prints it as a usage error.
    """
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected x0,y0,x1,y1 integers, got {text!r}") from error
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 values x0,y0,x1,y1, got {text!r}")
    return values  # type: ignore[return-value]


def key_values(items: list[str]) -> dict:
    """Parse ``key=value`` pairs; values are read as JSON when possible (numbers, booleans).

    Raises:
        ValueError: for an item without ``=``.

    Example:
        >>> key_values(["width=0.5", "name=small"])
        {'width': 0.5, 'name': 'small'}
    """
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {item!r}")
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def port(text: str) -> int:
    """Parse a TCP port, 1..65535.

    Raises:
        argparse.ArgumentTypeError: for anything else.
    """
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer in 1..65535, got {text!r}")
    return number


def load_input_image(spec: str):
    """A file path, or ``sample:NAME`` for a bundled scikit-image sample, as a NumPy image."""
    from seglab.io import read_image
    from seglab.samples import load_sample

    if spec.startswith("sample:"):
        return load_sample(spec.split(":", 1)[1])
    return read_image(spec)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-checkpoint``, the opt-in to load checkpoints that are not plain data."""
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="also load checkpoints that are not plain data; such a file can run any code "
        "when loaded, so only for files from a source you trust (see README: Safety)",
    )


def add_test_time_arguments(parser: argparse.ArgumentParser, *, tta_help: str) -> None:
    """Add the test-time augmentation and mask clean-up flags of evaluate and predict."""
    parser.add_argument("--tta", action="store_true", help=tta_help)
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[1.0],
        metavar="S",
        help="test-time scales to average over, e.g. 0.75 1 1.25 (default: 1)",
    )
    parser.add_argument(
        "--keep-largest",
        action="store_true",
        help="keep only the largest region of each class (one-object images such as pets)",
    )
    parser.add_argument(
        "--fill-holes", action="store_true", help="fill the holes of each class's regions"
    )


def test_time_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of the flags that :func:`add_test_time_arguments` added."""
    return {
        "tta": args.tta,
        "scales": args.scales,
        "keep_largest": args.keep_largest,
        "fill_holes": args.fill_holes,
    }


def skipped_outputs_note(skipped: Sequence[Path]) -> str:
    """The end of a summary line about earlier outputs found among the inputs, or ``""``."""
    if not skipped:
        return ""
    return f"; {len(skipped)} earlier output file(s) in the input were not read as images"


def add_library_choice(
    parser: argparse.ArgumentParser,
    flag: str,
    module: str,
    constant: str,
    *,
    metavar: str,
    help: str,
    **options,
) -> None:
    """An option whose valid values are a library constant (:class:`LibraryChoices`).

    ``help`` may use ``%(choices)s`` and ``%(default)s``.
    """
    parser.add_argument(
        flag, choices=LibraryChoices(module, constant), metavar=metavar, help=help, **options
    )


def pick(args: argparse.Namespace, *names: str) -> dict:
    """``{name: args.name}`` for the options a library function takes under the same names.

    Example:
        >>> pick(argparse.Namespace(out="o", quiet=True), "out")
        {'out': 'o'}
    """
    return {name: getattr(args, name) for name in names}


def report_failures(failed: Sequence[tuple[Path, str]]) -> None:
    """One stderr line per input that could not be processed."""
    for path, reason in failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
