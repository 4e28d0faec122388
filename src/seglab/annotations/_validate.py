"""Small checks for annotation files; every error names the file and the field.

Messages look like ``bad.json: shapes[2].points: expected a list of [x, y] pairs`` so that a
user with a folder of hundreds of files knows which file and which entry to fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def fail(source: str, field: str, message: str) -> ValueError:
    """Build (not raise) the error, so that callers write ``raise fail(...)``."""
    return ValueError(f"{source}: {field}: {message}")


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name}: not valid JSON: {error}") from error


def dump_json(data: Any) -> bytes:
    return json.dumps(data, indent=1).encode("utf-8")


def require(mapping: Any, key: str, source: str, field: str) -> Any:
    if not isinstance(mapping, dict):
        raise fail(source, field, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise fail(source, f"{field}.{key}" if field else key, "missing")
    return mapping[key]


def positive_int(value: Any, source: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise fail(source, field, f"expected a positive integer, got {value!r}")
    return value


def points_array(value: Any, source: str, field: str) -> np.ndarray:
    """A list of [x, y] pairs of finite numbers, as an (M, 2) float64 array."""
    message = "expected a list of [x, y] pairs"
    if not isinstance(value, list) or not value:
        raise fail(source, field, message)
    for pair in value:
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
        ):
            raise fail(source, field, message)
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise fail(source, field, "coordinates must be finite numbers")
    return array
