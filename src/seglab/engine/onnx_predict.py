"""Prediction with onnxruntime from a file written by :func:`seglab.export.export_onnx`.

:class:`OnnxPredictor` is a :class:`~seglab.engine.predict.Predictor` whose network runs in
onnxruntime instead of PyTorch. The resizing, normalisation, test-time flips and scales,
probabilities and argmax are the torch predictor's own code, read from the file's metadata
(training size, mean and std, class names, task), so both backends give the same masks up to
float rounding.
:func:`create_predictor` picks the backend for a checkpoint or ``.onnx`` path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seglab.engine.predict import Predictor

__all__ = ["BACKENDS", "OnnxPredictor", "create_predictor"]

BACKENDS = ("auto", "torch", "onnxruntime")


class OnnxPredictor(Predictor):
    """Runs an exported ``.onnx`` model with onnxruntime on NumPy images of any size.

    Args:
        path: an ``.onnx`` file written by :func:`seglab.export.export_onnx`.
        device: ``auto`` (CUDA execution provider when onnxruntime has it, else CPU), ``cpu``
            or ``cuda``.
        threads: onnxruntime intra-op threads (None: onnxruntime's default, one per core).
        **test_time: the test-time options of :class:`Predictor`: ``tta``, ``scales``,
            ``keep_largest``, ``fill_holes``, ``tile``, ``overlap`` (scales other than 1 and
            tiling need a graph exported with dynamic height and width).

    Attributes:
        session: the ``onnxruntime.InferenceSession`` (graph optimisation ``ORT_ENABLE_ALL``).
        metadata: the parsed metadata (see :func:`seglab.export.read_onnx_metadata`).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if it is not an ONNX file with seglab metadata, for a bad ``device``, or
            for ``scales`` or ``tile`` with a static-size graph.
        ImportError: if onnxruntime is not installed (``pip install seglab[onnx]``).

    Example:
        >>> from seglab.samples import load_sample
        >>> predictor = OnnxPredictor("pet_unet.onnx")  # doctest: +SKIP
        >>> predictor.predict(load_sample("chelsea")).shape  # doctest: +SKIP
        (300, 451)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str = "auto",
        threads: int | None = None,
        **test_time: Any,
    ) -> None:
        from seglab.export import parse_metadata, require_module

        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be one of 'auto', 'cpu', 'cuda'; got {device!r}")
        self.checkpoint_path = Path(path)
        if not self.checkpoint_path.is_file():
            raise FileNotFoundError(f"no such ONNX file: {self.checkpoint_path}")
        ort = require_module("onnxruntime")
        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise ValueError(
                "device='cuda' needs onnxruntime-gpu (CUDAExecutionProvider); this onnxruntime "
                f"has {', '.join(available)}"
            )
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(self.checkpoint_path), options, providers=providers
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot read ONNX file {self.checkpoint_path}: {error}") from error
        self.metadata = parse_metadata(
            self.session.get_modelmeta().custom_metadata_map, self.checkpoint_path
        )
        self._input_name = self.session.get_inputs()[0].name
        # Pre- and post-processing stay in torch on the CPU; only the network runs in onnxruntime.
        self.device = torch.device("cpu")
        self.model = None
        self.class_names = list(self.metadata["class_names"])
        self.task = self.metadata["task"]
        size = self.metadata["input_size"]
        self.size = (int(size[0]), int(size[1]))
        self.mean = self.metadata.get("mean")
        self.std = self.metadata.get("std")
        self._set_test_time_options(**test_time)
        if (self.scales != (1.0,) or self.tile) and not self.metadata.get("dynamic", True):
            raise ValueError(
                f"{self.checkpoint_path} is a static-size graph and takes only "
                f"{list(self.size)} inputs; test-time scales and tiling need an export with "
                "dynamic=True"
            )

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        image = np.ascontiguousarray(batch.numpy(), dtype=np.float32)
        (logits,) = self.session.run(None, {self._input_name: image})
        return torch.from_numpy(logits)


def create_predictor(
    checkpoint: str | os.PathLike | None = None,
    *,
    backend: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    trust_checkpoint: bool = False,
    **test_time: Any,
) -> Predictor:
    """A predictor for a checkpoint (``.pt``) or an exported ``.onnx`` file.

    Args:
        checkpoint: a ``.pt`` checkpoint, an ``.onnx`` file, or None for the shipped pet model
            (torch backend only).
        backend: ``auto`` (onnxruntime for a ``.onnx`` file, else torch), ``torch`` or
            ``onnxruntime``.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: onnxruntime intra-op threads (ignored by the torch backend, which uses
            ``torch.get_num_threads()``).
        trust_checkpoint: let the torch backend load a ``.pt`` that is not plain data (it can
            run code stored in it; :mod:`seglab.checkpoint`). ONNX files hold no code.
        **test_time: ``tta`` (average with the horizontally flipped image), ``scales`` (also
            average over these image scales, 1.0 being the network's size), ``keep_largest``,
            ``fill_holes``, ``tile`` and ``overlap`` (sliding-window inference at the images'
            own resolution): see :class:`~seglab.engine.predict.Predictor`.

    Raises:
        ValueError: for an unknown backend (the message lists the valid ones), or a backend
            that cannot read that file (the message says how to get the right one).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    is_onnx = checkpoint is not None and Path(checkpoint).suffix.lower() == ".onnx"
    options = {"device": device, **test_time}
    if backend == "auto":
        backend = "onnxruntime" if is_onnx else "torch"
    if backend == "onnxruntime":
        if not is_onnx:
            raise ValueError(
                "the onnxruntime backend runs an .onnx file; export one with "
                "`seglab export --checkpoint CKPT --format onnx --out model.onnx` and pass "
                "--checkpoint model.onnx"
            )
        return OnnxPredictor(checkpoint, threads=threads, **options)
    if is_onnx:
        raise ValueError(
            f"{checkpoint} is an ONNX file: use --backend onnxruntime (or auto), "
            "or pass a .pt checkpoint to the torch backend"
        )
    return Predictor(checkpoint, trust_checkpoint=trust_checkpoint, **options)
