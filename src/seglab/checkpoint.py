"""Atomic checkpoint files that rebuild their model from the file alone, loaded safely.

A checkpoint is a dict saved with :func:`torch.save`:

- ``format``: the format version (``CHECKPOINT_FORMAT``);
- ``model``: ``{"name": ..., **constructor kwargs}``, enough for ``create_model(**model)``;
- ``state_dict``: the model weights;
- ``class_names``, ``task`` (``"multiclass"``, ``"multilabel"`` or ``"instance"``),
  ``ignore_index``;
- ``preprocess``: ``{"size": [H, W], "mean": [...] | None, "std": [...] | None}``;
- ``train_args``: the training settings that produced it;
- optionally ``optimizer``, ``scheduler``, ``scaler``, ``epoch``, ``rng``, ``history``, ``best``.

**Safety.** A ``.pt`` file is a pickle, and unpickling can call any function the file names:
a downloaded checkpoint could run code on load. seglab therefore reads checkpoints with
``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers (dict,
list, tuple, str, numbers, None), plus the few NumPy types that checkpoints of earlier seglab
versions hold (arrays of numbers). :func:`save_checkpoint` writes plain data only, so every
seglab checkpoint loads this way. Any other file is refused with :class:`UnsafeCheckpointError`
unless the caller passes ``trust_checkpoint=True`` (``--trust-checkpoint`` on the command
line), which unpickles it fully: do that only for files from a source you trust.

Writing goes to a temporary file in the target folder that is renamed over the target, so a
crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seglab._checks import IGNORE_INDEX
from seglab.io import atomic_write_bytes
from seglab.limits import MAX_CLASSES, check_network_size

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "Preprocess",
    "TASKS",
    "UnsafeCheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_checkpoint",
]

CHECKPOINT_FORMAT = 1
TASKS = ("multiclass", "multilabel", "instance")
_REQUIRED_KEYS = ("format", "model", "state_dict", "class_names", "task")
_TRUST_HINT = (
    "If you trust its source, pass --trust-checkpoint (Python: trust_checkpoint=True), "
    "which lets the file run the code it holds"
)


class UnsafeCheckpointError(ValueError):
    """A checkpoint that cannot be read as plain data (it would need full unpickling)."""


def _numpy_globals() -> list:
    """The NumPy types that checkpoints of earlier seglab versions hold (RNG states, metric
    arrays), under both NumPy 1 and NumPy 2 module names.

    Each rebuilds an array or scalar of numbers; none can call other code.
    """
    dtypes = getattr(np, "dtypes", None)  # NumPy >= 1.25
    dtype_classes = [
        getattr(dtypes, name)
        for name in dir(dtypes)
        if name.endswith("DType") and name not in ("ObjectDType", "VoidDType", "StringDType")
    ]
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    entries: list = [np.ndarray, np.dtype, *dtype_classes]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries.append((multiarray._reconstruct, f"{module}._reconstruct"))
        entries.append((multiarray.scalar, f"{module}.scalar"))
    return entries


def _plain(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars turned into Python lists and numbers, so that
    the saved file needs no NumPy globals to load."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping) and not isinstance(value, torch.Tensor):
        plain = {key: _plain(item) for key, item in value.items()}
        return type(value)(plain) if type(value) is not dict else plain
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    return value


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint | dict[str, Any]) -> None:
    """Save a :class:`Checkpoint` (or its dict form) atomically, as plain data (see the
    module's Safety note).

    Raises:
        ValueError: if a required key (``model``, ``state_dict``, ``class_names``, ``task``) is
            missing, so that a file that cannot rebuild its model is never written.
    """
    if isinstance(checkpoint, Checkpoint):
        checkpoint = checkpoint.to_dict()
    checkpoint = {"format": CHECKPOINT_FORMAT, **checkpoint}
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint is missing required keys: {', '.join(missing)}")
    buffer = io.BytesIO()
    torch.save(_plain(checkpoint), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _why_not_plain(error: Exception) -> str:
    """The useful line of torch's weights-only error: which global or opcode it refused."""
    text = str(error)
    # torch's wording differs between releases: "WeightsUnpickler error: Unsupported global:
    # GLOBAL posix.system ..." (2.6) or a paragraph "Trying to load unsupported GLOBAL ..." (2.13).
    match = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\. Please use|\n\n|$)", text, re.S)
    match = match or re.search(r"^([^\n]*unsupported[^\n]*?)\.?$", text, re.M | re.I)
    reason = match.group(1) if match else text.split(". ")[0]
    return " ".join(reason.split())[:300]


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    *,
    trust_checkpoint: bool = False,
) -> Checkpoint:
    """Load and validate a checkpoint written by :func:`save_checkpoint`, once.

    Args:
        path: the ``.pt`` file.
        map_location: where tensors go, as for :func:`torch.load`.
        trust_checkpoint: also accept files that need full unpickling (they can run code on
            load). Only for files from a source you trust.

    Returns:
        A :class:`Checkpoint` (which also reads like the file's dict: ``ckpt["class_names"]``).

    Raises:
        FileNotFoundError: if the file does not exist.
        UnsafeCheckpointError: (a ``ValueError``) if the file is not plain data and
            ``trust_checkpoint`` is False; nothing in the file has run.
        ValueError: if it is not a seglab checkpoint, or a field has the wrong type (the
            message names the file and the field).

    Example:
        >>> from seglab.pretrained import default_checkpoint
        >>> ckpt = load_checkpoint(default_checkpoint())
        >>> ckpt.class_names, ckpt.preprocess.size
        (['background', 'pet'], (128, 128))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()), warnings.catch_warnings():
            # torch warns about pickle protocols it may not parse; a refusal follows anyway.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not _is_pickle(path):
            raise ValueError(f"cannot read checkpoint {path}: not a PyTorch file") from None
        if not trust_checkpoint:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it is not a plain-data checkpoint "
                f"({_why_not_plain(error)}); loading it could run code stored in the file. "
                + _TRUST_HINT
            ) from None
        checkpoint = _load_trusted(path, map_location)
    except Exception as error:  # torch raises many types for a corrupt file
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error
    return Checkpoint.from_dict(checkpoint, path)


def _is_pickle(path: Path) -> bool:
    """A torch zip archive, or a bare pickle (protocol 2+ starts with the PROTO opcode)."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as handle:
        return handle.read(1) == b"\x80"


def _load_trusted(path: Path, map_location: str | torch.device) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error


def validate_checkpoint(checkpoint: Any, source: str | os.PathLike = "checkpoint") -> None:
    """Check the fields every consumer reads, so that a malformed file fails here, once.

    Raises:
        ValueError: naming ``source`` and the first bad field.
    """
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in _REQUIRED_KEYS):
        raise ValueError(
            f"{source} is not a seglab checkpoint (missing model/state_dict/class_names/task keys)"
        )
    version = checkpoint["format"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{source}: format must be a positive integer, got {version!r}")
    if version > CHECKPOINT_FORMAT:
        raise ValueError(
            f"{source} has checkpoint format {version}, newer than this seglab "
            f"({CHECKPOINT_FORMAT}); upgrade seglab"
        )
    model = checkpoint["model"]
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise ValueError(f"{source}: model must be a dict with a 'name' string, got {model!r:.200}")
    if not all(isinstance(key, str) for key in model):
        raise ValueError(f"{source}: model arguments must have string names")
    state_dict = checkpoint["state_dict"]
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor)
        for key, value in state_dict.items()
    ):
        raise ValueError(f"{source}: state_dict must map parameter names to tensors")
    check_class_names(checkpoint["class_names"], source)
    if checkpoint["task"] not in TASKS:
        raise ValueError(
            f"{source}: unknown task {checkpoint['task']!r}; valid tasks: {', '.join(TASKS)}"
        )
    ignore_index = checkpoint.get("ignore_index")
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise ValueError(f"{source}: ignore_index must be an integer or None, got {ignore_index!r}")
    preprocess = checkpoint.get("preprocess")
    if preprocess is not None:
        check_preprocess(preprocess, source)


def check_class_names(names: Any, source: str | os.PathLike = "checkpoint") -> None:
    """Class names must be a list of 1 to :data:`~seglab.limits.MAX_CLASSES` distinct strings
    (a repeated name would merge two classes in every file written from them).

    Raises:
        ValueError: naming ``source``.
    """
    if (
        not isinstance(names, list)
        or not 1 <= len(names) <= MAX_CLASSES
        or not all(isinstance(name, str) for name in names)
    ):
        raise ValueError(
            f"{source}: class_names must be a list of 1 to {MAX_CLASSES} strings, "
            f"got {names!r:.100}"
        )
    seen, repeated = set(), []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise ValueError(f"{source}: class_names repeat {', '.join(map(repr, repeated))}")


def check_preprocess(preprocess: Any, source: str | os.PathLike = "checkpoint") -> None:
    """Check a ``preprocess`` entry: the network size within the limits, finite mean/std.

    Raises:
        ValueError: naming ``source`` and the bad field.
    """
    if not isinstance(preprocess, dict):
        raise ValueError(f"{source}: preprocess must be a dict, got {type(preprocess).__name__}")
    if preprocess.get("size") is not None:
        check_network_size(preprocess["size"], f"{source}: preprocess.size")
    for key in ("mean", "std"):
        values = preprocess.get(key)
        if values is None:
            continue
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= 4
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
            or (key == "std" and not all(v > 0 for v in values))
        ):
            rule = "positive " if key == "std" else ""
            raise ValueError(
                f"{source}: preprocess.{key} must be 1 to 4 finite {rule}numbers, got {values!r:.100}"
            )


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network's input, as training did it.

    Two kinds: semantic models resize to ``size`` and normalise with ``mean``/``std`` (or
    nothing); instance models normalise each image by its own statistics
    (``normalize="per_image"``) and pad it to a multiple of ``pad_multiple``.

    Example:
        >>> Preprocess.from_dict({"size": [128, 96], "mean": None, "std": None}).size
        (128, 96)
    """

    size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    normalize: str | None = None
    pad_multiple: int | None = None

    @classmethod
    def from_dict(cls, values: dict | None, source: str | os.PathLike = "checkpoint") -> Preprocess:
        """Read and check a checkpoint's ``preprocess`` entry (None: nothing recorded).

        Raises:
            ValueError: see :func:`check_preprocess`.
        """
        if values is None:
            return cls()
        check_preprocess(values, source)
        size, mean, std = values.get("size"), values.get("mean"), values.get("std")
        return cls(
            size=tuple(size) if size is not None else None,
            mean=tuple(mean) if mean is not None else None,
            std=tuple(std) if std is not None else None,
            normalize=values.get("normalize"),
            pad_multiple=values.get("pad_multiple"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored: ``size``/``mean``/``std`` for a semantic model (mean and std
        may be None), ``normalize``/``pad_multiple`` for an instance model."""
        stored: dict[str, Any] = {}
        if self.size is not None:
            stored = {
                "size": list(self.size),
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std),
            }
        for key in ("normalize", "pad_multiple"):
            if getattr(self, key) is not None:
                stored[key] = getattr(self, key)
        return stored


# The fields of a Checkpoint; every other key of the file is kept in ``extra``.
_FIELDS = ("format", "model", "state_dict", "class_names", "task", "ignore_index")


@dataclass
class Checkpoint(Mapping):
    """A checkpoint, read and validated once: the model, its weights, its classes, and how to
    prepare its input.

    It also reads like the dict stored in the file (``ckpt["class_names"]``, ``ckpt.get(
    "epoch")``), so that code written for earlier seglab versions keeps working; new code uses
    the attributes.

    Attributes:
        model: ``{"name": ..., **constructor arguments}``.
        state_dict: the model weights.
        class_names: one name per output.
        task: ``multiclass``, ``multilabel`` or ``instance``.
        ignore_index: the void label of its training masks (None: none).
        preprocess: see :class:`Preprocess`.
        train_args: the settings of the run that wrote it (``{}`` if unknown).
        extra: every other entry (``epoch``, ``optimizer``, ``history``, ``ema``, ``soup``,
            ``grouping``, ...).
        format: the file format version.
    """

    model: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    class_names: list[str]
    task: str
    ignore_index: int | None = IGNORE_INDEX
    preprocess: Preprocess = field(default_factory=Preprocess)
    train_args: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = CHECKPOINT_FORMAT

    @classmethod
    def from_dict(cls, values: Any, source: str | os.PathLike = "checkpoint") -> Checkpoint:
        """Validate a checkpoint dict (:func:`validate_checkpoint`) and type it.

        Raises:
            ValueError: naming ``source`` and the first bad field.
        """
        validate_checkpoint(values, source)
        train_args = values.get("train_args") or {}
        if not isinstance(train_args, dict):
            raise ValueError(f"{source}: train_args must be a dict")
        known = (*_FIELDS, "preprocess", "train_args")
        return cls(
            model=dict(values["model"]),
            state_dict=values["state_dict"],
            class_names=list(values["class_names"]),
            task=values["task"],
            # Files from before ignore_index was stored were trained with the default.
            ignore_index=values.get("ignore_index", IGNORE_INDEX),
            preprocess=Preprocess.from_dict(values.get("preprocess"), source),
            train_args=train_args,
            extra={key: value for key, value in values.items() if key not in known},
            format=values["format"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict that :func:`save_checkpoint` stores."""
        return {
            "format": self.format,
            "model": self.model,
            "state_dict": self.state_dict,
            "class_names": self.class_names,
            "task": self.task,
            "ignore_index": self.ignore_index,
            "preprocess": self.preprocess.to_dict(),
            "train_args": self.train_args,
            **self.extra,
        }

    @property
    def num_classes(self) -> int:
        """The number of outputs, one per class name."""
        return len(self.class_names)

    def build_model(self) -> torch.nn.Module:
        """:func:`model_from_checkpoint` of this checkpoint."""
        return model_from_checkpoint(self)

    # The read-only dict view, for code written against the file's dict.
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def model_from_checkpoint(checkpoint: Checkpoint | dict) -> torch.nn.Module:
    """Rebuild the model described by a checkpoint and load its weights (eval mode).

    Semantic checkpoints build a model of :func:`~seglab.models.create_model`; ``instance``
    checkpoints one of :func:`~seglab.models.panoptic_deeplab.create_instance_model`.

    Raises:
        ValueError: if the model arguments do not build a registered model, the weights do
            not fit it, or the number of class names differs from the model's outputs.
    """
    from seglab.models import create_model
    from seglab.models.panoptic_deeplab import create_instance_model

    if not isinstance(checkpoint, Checkpoint):
        checkpoint = Checkpoint.from_dict({"format": CHECKPOINT_FORMAT, **checkpoint})
    factory = create_instance_model if checkpoint.task == "instance" else create_model
    model = _build(factory, checkpoint)
    check_class_count(checkpoint, model)
    return model


def _build(factory, checkpoint: Checkpoint) -> torch.nn.Module:
    """``factory(**checkpoint.model)`` with its weights loaded; errors become ValueErrors."""
    arguments = checkpoint.model
    try:
        model = factory(**arguments)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"the checkpoint's model {arguments!r:.200} cannot be built: {error}"
        ) from None
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as error:
        raise ValueError(
            f"the checkpoint's weights do not fit its model {arguments['name']!r}: "
            f"{' '.join(str(error).split())[:400]}"
        ) from None
    return model.eval()


def check_class_count(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """The class names must name every output of the model, no more and no fewer.

    Raises:
        ValueError: if they do not.
    """
    outputs = getattr(model, "config", {}).get("num_classes")
    names = checkpoint.class_names
    if outputs is not None and outputs != len(names):
        raise ValueError(
            f"the checkpoint names {len(names)} classes ({', '.join(names)}) for a model with "
            f"{outputs} outputs"
        )
