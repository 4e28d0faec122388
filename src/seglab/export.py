"""Export a trained model to ONNX, with the metadata that an ONNX runtime needs to use it.

:func:`export_onnx` writes a single ``.onnx`` file from a checkpoint (or the shipped pet model,
or a model object). The graph has one input ``image`` ``(N, C, H, W)`` float32, already resized
to the training size and normalised as in training, and one output ``logits``
``(N, K, H, W)``. By default N, H and W are dynamic; the padding to the network stride and the
cropping back happen inside the graph, so any ``H, W >= 1`` works, as in PyTorch.

The file's ``metadata_props`` hold (all strings, JSON where noted):

- ``seglab_version``, ``model_name``, ``model_config`` (JSON: ``create_model`` arguments);
- ``class_names`` (JSON list), ``task`` (``multiclass`` or ``multilabel``);
- ``input_size`` (JSON ``[H, W]``: the size images are resized to before the network);
- ``mean`` and ``std`` (JSON lists, or ``null`` when images are only scaled to ``[0, 1]``);
- ``dynamic`` (``"true"``/``"false"``) and ``opset``.

:func:`read_onnx_metadata` parses them back. :class:`seglab.engine.onnx_predict.OnnxPredictor`
runs the file with onnxruntime.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``).
The newer ``torch.export``-based exporter (``dynamo=True``, which needs ``onnxscript``) rejects
these models' data-dependent padding with dynamic H and W (torch 2.13), whereas the traced
graph is exact once the padding and DeconvNet's unpooling take their trace-friendly paths
(see :func:`seglab.models.blocks.pad_to_multiple`).

Example:
    >>> from seglab.export import export_onnx, read_onnx_metadata
    >>> path = export_onnx(None, "pet_unet.onnx")  # doctest: +SKIP
    >>> read_onnx_metadata(path)["class_names"]  # doctest: +SKIP
    ['background', 'pet']
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seglab.io import atomic_write_bytes
from seglab.limits import DEFAULT_IMG_SIZE, check_network_size

__all__ = [
    "EXPORT_FORMATS",
    "DEFAULT_OPSET",
    "OPSET_RANGE",
    "export_model",
    "export_onnx",
    "read_onnx_metadata",
    "parse_metadata",
]

EXPORT_FORMATS = ("onnx",)
DEFAULT_OPSET = 17
# 13 is the first opset with Resize/Pad/Slice as the graph needs them and ScatterElements with
# dynamic shapes; 20 is the newest the TorchScript exporter writes.
OPSET_RANGE = (13, 20)
_JSON_KEYS = ("model_config", "class_names", "input_size", "mean", "std")


def require_module(module: str):
    """Import ``onnx`` or ``onnxruntime``, or say how to install them."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is not installed; ONNX export and inference need `pip install seglab[onnx]`"
        ) from error


def _resolve_source(
    source: str | os.PathLike | dict | nn.Module | None,
    class_names: list[str] | None,
    task: str | None,
    trust_checkpoint: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model and its metadata (class names, task, preprocess) from any accepted source."""
    from seglab.checkpoint import CHECKPOINT_FORMAT, Checkpoint, load_checkpoint

    if source is None:
        from seglab.pretrained import default_checkpoint

        source = default_checkpoint()
    if isinstance(source, (str, os.PathLike)):
        source = load_checkpoint(source, trust_checkpoint=trust_checkpoint)
    if isinstance(source, dict):
        source = Checkpoint.from_dict({"format": CHECKPOINT_FORMAT, **source})
    if isinstance(source, Checkpoint):
        info = {
            "class_names": list(class_names or source.class_names),
            "task": task or source.task,
            "preprocess": source.preprocess.to_dict(),
        }
        return source.build_model(), info
    if isinstance(source, nn.Module):
        if not isinstance(getattr(source, "config", None), dict):
            raise TypeError(
                f"cannot export a {type(source).__name__}: expected a seglab model (with "
                "`config`, built by create_model), a checkpoint dict or a checkpoint path"
            )
        num_classes = source.config["num_classes"]
        info = {
            "class_names": list(class_names or [f"class_{i}" for i in range(num_classes)]),
            "task": task or "multiclass",
            "preprocess": {},
        }
        return source, info
    raise TypeError(
        "source must be None (the shipped pet model), a checkpoint path, a checkpoint dict or "
        f"a seglab model; got {type(source).__name__}"
    )


def export_onnx(
    source: str | os.PathLike | dict | nn.Module | None,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
    input_size: tuple[int, int] | None = None,
    class_names: list[str] | None = None,
    task: str | None = None,
    trust_checkpoint: bool = False,
) -> Path:
    """Export a model to an ONNX file (written atomically) that passes ``onnx.checker``.

    Args:
        source: a checkpoint path, a checkpoint dict, a seglab model (``create_model``), or
            None for the shipped Oxford-IIIT Pet model.
        path: the ``.onnx`` file to write (its folder is created).
        opset: ONNX opset, in :data:`OPSET_RANGE` (default 17).
        dynamic: dynamic batch, height and width (default). With ``dynamic=False`` the graph
            takes exactly ``(1, C, *input_size)``, which some runtimes optimise further.
        input_size: ``(H, W)`` of the example input that is traced, and of the static graph.
            Default: the checkpoint's training size (``preprocess.size``), else 128x128. The
            metadata's ``input_size`` is the training size when the checkpoint has one (that
            is what predictors resize to), else this size.
        class_names: override the checkpoint's class names (a model object has none: the
            default is ``class_0``, ``class_1``, ...).
        task: override the checkpoint's task (default for a model object: ``multiclass``).
        trust_checkpoint: also load a checkpoint that is not plain data (it can run code
            stored in it; :mod:`seglab.checkpoint`).

    Returns:
        The path written.

    Shape:
        - Graph input ``image``: ``(N, in_channels, H, W)`` float32, preprocessed
        - Graph output ``logits``: ``(N, num_classes, H, W)`` float32

    Raises:
        ValueError: for an opset outside :data:`OPSET_RANGE`, a bad ``input_size``, or a static
            graph whose ``input_size`` is not the checkpoint's training size.
        FileNotFoundError: if the checkpoint file does not exist.
        TypeError: if ``source`` is not one of the accepted kinds.
        ImportError: if ``onnx`` is not installed (``pip install seglab[onnx]``).

    Example:
        >>> from seglab.models import create_model
        >>> model = create_model("unet", num_classes=2, base_channels=8)
        >>> export_onnx(model, "unet.onnx", input_size=(64, 64))  # doctest: +SKIP
        PosixPath('unet.onnx')
    """
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ValueError(
            f"opset must be an int in {OPSET_RANGE[0]}..{OPSET_RANGE[1]}, got {opset!r}"
        )
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise ValueError(f"opset must be an int in {OPSET_RANGE[0]}..{OPSET_RANGE[1]}, got {opset}")
    onnx = require_module("onnx")
    model, info = _resolve_source(source, class_names, task, trust_checkpoint)
    preprocess = info["preprocess"]
    training_size = preprocess.get("size")
    if input_size is None:
        input_size = tuple(training_size or (DEFAULT_IMG_SIZE, DEFAULT_IMG_SIZE))
    size = check_network_size(input_size, "input_size")
    if not dynamic and training_size and list(size) != list(training_size):
        # Predictors resize images to the training size; a static graph must take that size.
        raise ValueError(
            f"a static graph (dynamic=False) takes only the training size {list(training_size)}; "
            f"got input_size {list(size)}"
        )
    config = dict(model.config)
    device = next(model.parameters()).device
    example = torch.randn(1, config.get("in_channels", 3), *size, device=device)

    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose (see the module docstring).
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message="The feature will be removed")
            # The branches left in the traced seglab code test the channel count, which is
            # fixed in the graph; the size-dependent ones take tensor paths while tracing.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            axes = {0: "N", 2: "H", 3: "W"}
            torch.onnx.export(
                model,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": axes, "logits": axes} if dynamic else None,
                do_constant_folding=True,
            )
    finally:
        model.train(was_training)

    proto = onnx.load_from_string(buffer.getvalue())
    from seglab import __version__

    metadata = {
        "seglab_version": __version__,
        "model_name": config["name"],
        "model_config": json.dumps(config),
        "class_names": json.dumps(info["class_names"]),
        "task": info["task"],
        "input_size": json.dumps(list(training_size or size)),
        "mean": json.dumps(preprocess.get("mean")),
        "std": json.dumps(preprocess.get("std")),
        "dynamic": json.dumps(bool(dynamic)),
        "opset": str(opset),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"seglab {config['name']} segmentation model: image -> logits"
    # Check before writing, so that a broken graph never replaces a good file.
    onnx.checker.check_model(proto)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def export_model(
    source: str | os.PathLike | dict | nn.Module | None,
    path: str | os.PathLike,
    *,
    format: str = "onnx",
    **options: Any,
) -> Path:
    """Export to one of :data:`EXPORT_FORMATS` (only ``"onnx"`` for now; see :func:`export_onnx`).

    Raises:
        ValueError: for an unknown format (the message lists the valid ones).
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(
            f"unknown export format {format!r}; valid formats: {', '.join(EXPORT_FORMATS)}"
        )
    return export_onnx(source, path, **options)


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The seglab metadata of an exported file, with JSON values parsed.

    The file is opened with onnxruntime (without graph optimisation), which also checks that
    it is a valid model.

    Returns:
        ``{"model_name": "unet", "model_config": {...}, "class_names": [...], "task": ...,
        "input_size": [H, W], "mean": None | [...], "std": ..., "dynamic": bool, ...}``

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not an ONNX file written by :func:`export_onnx`.
        ImportError: if onnxruntime is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ONNX file: {path}")
    ort = require_module("onnxruntime")
    try:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ValueError(f"cannot read ONNX file {path}: {error}") from error
    return parse_metadata(session.get_modelmeta().custom_metadata_map, path)


def parse_metadata(raw: dict[str, str], path: str | os.PathLike = "<model>") -> dict[str, Any]:
    """Parse ``metadata_props`` strings (as written by :func:`export_onnx`) into values.

    Raises:
        ValueError: if seglab's keys are missing, a value is not valid JSON, or a value is
            out of bounds (class names not unique strings, an unknown task, an input size
            over :data:`~seglab.limits.MAX_NETWORK_SIDE`, a non-finite mean or std).
    """
    missing = [
        key for key in ("model_config", "class_names", "task", "input_size") if key not in raw
    ]
    if missing:
        raise ValueError(
            f"{path} has no seglab metadata (missing {', '.join(missing)}); export it with "
            "`seglab export`"
        )
    metadata: dict[str, Any] = dict(raw)
    for key in (*_JSON_KEYS, "dynamic"):
        if key in raw:
            try:
                metadata[key] = json.loads(raw[key])
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: metadata {key!r} is not valid JSON: {error}") from None
    from seglab.checkpoint import TASKS, check_class_names, check_preprocess

    check_class_names(metadata["class_names"], f"{path}: metadata")
    if metadata["task"] not in TASKS:
        raise ValueError(f"{path}: metadata task {metadata['task']!r} is not one of {TASKS}")
    preprocess = {key: metadata.get(key) for key in ("mean", "std")}
    check_preprocess({"size": metadata["input_size"], **preprocess}, f"{path}: metadata")
    return metadata
