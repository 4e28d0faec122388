"""``seglab train``: a training run, its flags generated from :class:`TrainConfig`'s fields.

Each field of :class:`~seglab.engine.config.TrainConfig` is one flag, so a setting is written
once: its name, type and default in the dataclass, its help text (and, where the name and
type do not say it, flags, metavar, choices, action, or the flag value that means None) in the
field's ``metadata``. The type decides the rest:

- ``bool``: a switch, ``--name`` (default False) or ``--no-name`` (default True);
- ``X | None``: a value of type X, None when the flag is not given (and its default is None);
- ``list[X]``: one or more values (``nargs="+"``), or a repeatable flag with ``"action":
  "append"``;
- ``tuple[X, X]``: exactly two values;
- ``dict[str, Any]``: a repeatable ``KEY=VALUE`` flag, values read as JSON when possible.

A field with ``"cli": False`` in its metadata is a Python-only setting and gets no flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import types
import typing
from typing import Any

from seglab.commands._common import key_values
from seglab.engine.config import TrainConfig

__all__ = ["add_parser", "cli_fields", "config_from_args", "run"]


def cli_fields() -> list[dataclasses.Field]:
    """The fields of :class:`TrainConfig` that are ``seglab train`` flags, in field order."""
    return [item for item in dataclasses.fields(TrainConfig) if item.metadata.get("cli", True)]


@functools.cache
def _type_hints() -> dict[str, Any]:
    # The annotations are strings (postponed evaluation); this evaluates them once.
    return typing.get_type_hints(TrainConfig)


def _value_type(config_field: dataclasses.Field) -> Any:
    """The field's annotation without its ``| None``."""
    hint = _type_hints()[config_field.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _default(config_field: dataclasses.Field) -> Any:
    if config_field.default_factory is not dataclasses.MISSING:
        return config_field.default_factory()
    return config_field.default


def _flag(config_field: dataclasses.Field) -> tuple[list[str], dict[str, Any]]:
    """The option strings and ``add_argument`` keywords of one field's flag.

    Raises:
        TypeError: for an annotation this generator does not know (a bug in a new field).
    """
    meta = config_field.metadata
    name = config_field.name.replace("_", "-")
    kind = _value_type(config_field)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    default = _default(config_field)
    options: dict[str, Any] = {"dest": config_field.name, "help": meta.get("help")}
    options.update({key: meta[key] for key in ("metavar", "choices", "action") if key in meta})
    if default is dataclasses.MISSING:
        options["required"] = True
    else:
        options["default"] = default
    flags = [f"--{name}"]
    if kind is bool:
        # A switch turns the default around: --name for a False default, --no-name for True.
        options["action"] = "store_false" if default else "store_true"
        flags = [f"--no-{name}"] if default else flags
    elif origin is dict:
        options["action"] = "append"
        # The flag collects KEY=VALUE texts; config_from_args reads them with key_values.
        options["default"] = [f"{key}={json.dumps(value)}" for key, value in default.items()]
    elif origin is list:
        options["type"] = None if args[0] is str else args[0]
        if options.get("action") != "append":
            options["nargs"] = "+"
    elif origin is tuple:
        options.update(type=args[0], nargs=len(args))
    elif kind in (int, float):
        options["type"] = kind
    elif kind is not str:
        raise TypeError(f"TrainConfig.{config_field.name}: no flag for the type {kind!r}")
    return list(meta.get("flags", flags)), options


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand, one flag per :func:`cli_fields` entry plus ``--quiet``."""
    parser = subparsers.add_parser("train", help="train a model (seglab.engine.train)")
    for config_field in cli_fields():
        flags, options = _flag(config_field)
        parser.add_argument(*flags, **options)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``seglab train`` arguments.

    Raises:
        ValueError: for a bad ``--model-arg`` or a setting :class:`TrainConfig` refuses.
    """
    values = {}
    for config_field in cli_fields():
        value = getattr(args, config_field.name)
        origin = typing.get_origin(_value_type(config_field))
        meta = config_field.metadata
        if origin is dict:
            value = key_values(value)
        elif origin is tuple:
            value = tuple(value)
        elif "none_value" in meta and value == meta["none_value"]:
            value = None  # e.g. --clip-grad 0: no clipping
        values[config_field.name] = value
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> int:
    """Run :func:`seglab.engine.train.train` and print the best epoch's metrics.

    Returns:
        The exit code, 0.
    """
    from seglab.engine.distributed import env_world
    from seglab.engine.train import train

    result = train(config_from_args(args), progress=not args.quiet)
    if env_world()[0] != 0:
        return 0  # under torchrun, rank 0 reports for all
    best = {key: value for key, value in result.best.items() if isinstance(value, int | float)}
    print(f"finished in {result.seconds:.1f} s; best epoch {best.get('epoch')}:")
    for key, value in best.items():
        if key != "epoch":
            print(f"  {key:<20} {value:.4f}")
    print(f"run folder: {result.out} ({', '.join(result.files) or 'no files'})")
    return 0
