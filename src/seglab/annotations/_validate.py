"""Small checks for annotation files; every error names the file and the field.

Messages look like ``bad.json: shapes[2].points: expected a list of [x, y] pairs`` so that a
user with a folder of hundreds of files knows which file and which entry to fix.

The limits on what a file may describe are stated here, once:

* :data:`MAX_ANNOTATION_PIXELS`: the largest image (height x width) an annotation may claim.
  Rasterising allocates height x width bytes, so a file that says ``10**6 x 10**6`` would
  otherwise ask for a terabyte.
* :data:`MAX_ANNOTATION_COORDINATE`: the largest polygon coordinate (in absolute value).
* Class names (COCO categories, ``classes.txt``, LabelMe labels, ``class_names=[...]``) are
  non-empty, single-line and unique, so that no two classes merge on a round trip.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seglab.io import atomic_write_bytes
from seglab.limits import MAX_IMAGE_PIXELS

#: Largest image (height x width) that an annotation file may describe (COCO
#: ``images[].height/width``, LabelMe ``imageHeight/imageWidth``, an RLE ``size``): the same
#: 178,956,970 pixels as :data:`seglab.limits.MAX_IMAGE_PIXELS`, which is Pillow's
#: decompression-bomb threshold (2 x ``PIL.Image.MAX_IMAGE_PIXELS``). An image larger than that
#: cannot be read by seglab anyway, and its ``uint8`` mask would take 179 MB.
MAX_ANNOTATION_PIXELS = MAX_IMAGE_PIXELS

#: Largest absolute polygon coordinate, in pixels (2**31). It is 12 times the longest side an
#: image within :data:`MAX_ANNOTATION_PIXELS` can have, and small enough that float64 edge
#: crossings stay exact to 1e-6 px; a vertex at 1e300 would overflow them.
MAX_ANNOTATION_COORDINATE = float(2**31)

#: Longest compressed-RLE count, in characters: 6 characters hold 30 bits, more than any count
#: of an image within :data:`MAX_ANNOTATION_PIXELS` needs (pycocotools never writes more).
_MAX_RLE_CHARS = 6


def fail(source: str, field: str, message: str) -> ValueError:
    """Build (not raise) the error, so that callers write ``raise fail(...)``."""
    return ValueError(f"{source}: {field}: {message}")


@contextlib.contextmanager
def naming(source: str, field: str) -> Iterator[None]:
    """Prefix a ``ValueError`` raised inside the block with the file and field it came from.

    Rasterising code does not know which file its polygon came from; the reader does.
    """
    try:
        yield
    except ValueError as error:
        raise fail(source, field, str(error)) from error


def load_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name}: not valid JSON: {error}") from error
    except RecursionError as error:
        # ``[[[[...]]]]`` nested a few thousand deep exhausts the parser's stack.
        raise ValueError(f"{path.name}: not valid JSON: nested too deeply") from error


def dump_json(data: Any) -> bytes:
    return json.dumps(data, indent=1).encode("utf-8")


def read_validated(path: str | os.PathLike, validate) -> Any:
    """Read a JSON annotation file and check it with ``validate(data, file_name)``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for invalid JSON or a bad field (the message names the file and field).
    """
    path = os.fspath(path)
    return validate(load_json(path), os.path.basename(path))


def write_validated(path: str | os.PathLike, data: Any, validate) -> None:
    """Check ``data`` with ``validate(data, file_name)`` and write it as JSON, atomically, so
    that seglab never writes a file it would refuse to read."""
    validate(data, os.path.basename(os.fspath(path)))
    atomic_write_bytes(path, dump_json(data))


def require(mapping: Any, key: str, source: str, field: str) -> Any:
    if not isinstance(mapping, dict):
        raise fail(source, field, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise fail(source, f"{field}.{key}" if field else key, "missing")
    return mapping[key]


def is_int(value: Any) -> bool:
    """An int that is not a bool (JSON ``true`` would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, source: str, field: str) -> int:
    if not is_int(value) or value <= 0:
        raise fail(source, field, f"expected a positive integer, got {value!r:.100}")
    return value


def check_pixels(height: int, width: int, source: str, field: str) -> None:
    """Raise unless ``height * width`` is within :data:`MAX_ANNOTATION_PIXELS`.

    Raises:
        ValueError: e.g. ``bad.json: images[0]: 1000000 x 1000000 = 1,000,000,000,000 pixels
            is over the limit of 178,956,970 pixels (seglab.annotations.MAX_ANNOTATION_PIXELS)``.
    """
    if height * width > MAX_ANNOTATION_PIXELS:
        raise fail(source, field, pixels_message(height, width))


def pixels_message(height: int, width: int) -> str:
    return (
        f"{height} x {width} = {height * width:,} pixels is over the limit of "
        f"{MAX_ANNOTATION_PIXELS:,} pixels (seglab.annotations.MAX_ANNOTATION_PIXELS)"
    )


def _check_coordinates(array: np.ndarray, source: str, field: str) -> None:
    if not np.isfinite(array).all():
        raise fail(source, field, "coordinates must be finite numbers")
    if array.size and np.abs(array).max() > MAX_ANNOTATION_COORDINATE:
        raise fail(
            source,
            field,
            f"coordinate {np.abs(array).max():g} is beyond the limit of "
            f"{MAX_ANNOTATION_COORDINATE:,.0f} pixels (seglab.annotations."
            "MAX_ANNOTATION_COORDINATE)",
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def points_array(value: Any, source: str, field: str) -> np.ndarray:
    """A list of [x, y] pairs of finite numbers, as an (M, 2) float64 array.

    Raises:
        ValueError: for anything else, or a coordinate beyond
            :data:`MAX_ANNOTATION_COORDINATE`.
    """
    message = "expected a list of [x, y] pairs"
    if not isinstance(value, list) or not value:
        raise fail(source, field, message)
    for pair in value:
        if (
            not isinstance(pair, (list, tuple))
            or len(pair) != 2
            or not (_is_number(pair[0]) and _is_number(pair[1]))
        ):
            raise fail(source, field, message)
    try:
        array = np.asarray(value, dtype=np.float64)
    except OverflowError as error:  # a JSON integer beyond float64, e.g. 10**400
        raise fail(source, field, "coordinates must be finite numbers") from error
    _check_coordinates(array, source, field)
    return array


def flat_coordinates(value: Any, source: str, field: str) -> np.ndarray:
    """A flat list ``[x1, y1, x2, y2, ...]`` of finite numbers, as an (M, 2) float64 array.

    Raises:
        ValueError: for anything else, or a coordinate beyond
            :data:`MAX_ANNOTATION_COORDINATE`.
    """
    if (
        not isinstance(value, list)
        or not value
        or len(value) % 2
        or not all(_is_number(v) for v in value)
    ):
        raise fail(
            source, field, "expected a flat list [x1, y1, x2, y2, ...] of an even number of numbers"
        )
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1, 2)
    except OverflowError as error:
        raise fail(source, field, "coordinates must be finite numbers") from error
    _check_coordinates(array, source, field)
    return array


def _decode_rle_string(text: str, source: str, field: str) -> np.ndarray:
    """pycocotools' compressed counts (``rleFrString``) as int64, vectorised.

    Each count is a group of characters ``48 + (5 bits | 0x20 if more follow)``; the last
    character's bit 0x10 is the sign, and from the fourth count on a count is stored as the
    difference to the count two before it.
    """
    try:
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError as error:
        raise fail(source, field, "compressed RLE counts must be ASCII") from error
    if not codes.size:
        return np.zeros(0, np.int64)
    if codes.min() < 0 or codes.max() > 63:
        raise fail(source, field, "compressed RLE counts hold a character outside '0'..'o'")
    last = (codes & 0x20) == 0
    if not last[-1]:
        raise fail(source, field, "compressed RLE counts end in the middle of a number")
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > _MAX_RLE_CHARS:
        raise fail(
            source, field, f"a compressed RLE count is longer than {_MAX_RLE_CHARS} characters"
        )
    position = np.arange(codes.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((codes & 0x1F) << (5 * position), starts)
    negative = (codes[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * lengths[negative])
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])
    counts[2::2] = np.cumsum(values[2::2])
    return counts


def rle_counts(counts: Any, height: int, width: int, source: str, field: str) -> np.ndarray:
    """Check COCO RLE ``counts`` (a compressed string or a list of ints) against the size.

    Returns:
        The run lengths as int64, alternating background and foreground, starting with
        background.

    Raises:
        ValueError: if ``counts`` is neither a string nor a list of ints, a string is malformed,
            a run is negative, or the runs do not add up to ``height * width`` (pycocotools would
            read or write past its buffer, or refuse with no hint of which file is wrong).
    """
    total = height * width
    if isinstance(counts, str):
        runs = _decode_rle_string(counts, source, field)
        if runs.size and runs.min() < 0:
            raise fail(source, field, f"run lengths must not be negative, got {int(runs.min())}")
        found = int(runs.sum())
    elif isinstance(counts, list):
        if not all(is_int(c) and c >= 0 for c in counts):
            raise fail(source, field, "expected non-negative integers")
        found = sum(counts)  # Python ints: a huge count cannot overflow here
        runs = None
    else:
        raise fail(source, field, "expected a string (compressed) or a list of ints")
    if found != total:
        raise fail(source, field, f"sum {found} != H*W = {total}")
    return np.asarray(counts, dtype=np.int64) if runs is None else runs


def class_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a class name, or None when it can."""
    if not isinstance(name, str) or not name.strip():
        return f"expected a non-empty string, got {name!r:.100}"
    if name.splitlines() != [name]:
        # classes.txt holds one name per line: a line break would shift every later class.
        return f"class name {name!r:.100} contains a line break"
    return None


def add_category_name(
    name: Any, names: dict[str, int], index: int, source: str, field: str
) -> None:
    """Record ``categories[index].name`` in ``names`` (stripped name -> index).

    Raises:
        ValueError: (:func:`fail`) for a name that cannot be a class name, or one that an
            earlier category already has (the two classes would merge on conversion).
    """
    problem = class_name_problem(name)
    if problem:
        raise fail(source, field, problem)
    key = name.strip()
    if key in names:
        raise fail(
            source,
            field,
            f"{name!r:.100} is also the name of categories[{names[key]}]; "
            "category names must be unique, or the two classes would merge",
        )
    names[key] = index


def check_class_names(names: Sequence[Any], source: str) -> list[str]:
    """Check that class names are non-empty, single-line strings, unique after stripping.

    Args:
        names: class names in index order.
        source: where they come from, for the message (a file name or ``class_names``).

    Returns:
        The names as a list.

    Raises:
        ValueError: for an empty or multi-line name, or a duplicate (names that differ only in
            surrounding white space are duplicates: ``classes.txt`` would merge them), e.g.
            ``classes.txt: class names: 'cat' is given twice (classes 1 and 3)``.
    """
    names = list(names)
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        problem = class_name_problem(name)
        if problem:
            raise fail(source, f"class {index}", problem)
        key = name.strip()
        if key in first:
            raise fail(
                source,
                "class names",
                f"{key!r:.100} is given twice (classes {first[key]} and {index}); class names "
                "must be unique, or the two classes would merge",
            )
        first[key] = index
    return names
