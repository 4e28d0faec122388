"""Prediction: masks at each image's original size, from a checkpoint or the shipped pet model.

The image is resized to the checkpoint's training size (bilinear, antialiased), normalised as in
training, and the class probabilities are resized back to the original size bilinearly *before*
the argmax, so that the mask edges are smooth rather than blocky.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seglab.checkpoint import load_checkpoint, model_from_checkpoint
from seglab.convert import image_to_tensor
from seglab.io import read_image, write_mask

__all__ = [
    "DEFAULT_WEIGHTS",
    "IMAGE_EXTENSIONS",
    "Predictor",
    "PredictionSummary",
    "default_checkpoint",
    "iter_image_files",
    "predict_files",
]

DEFAULT_WEIGHTS = "pet_unet.pt"
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)


def default_checkpoint() -> Path:
    """Path of the pet model that ships inside the package.

    Raises:
        FileNotFoundError: if this installation has no shipped weights.
    """
    path = Path(str(resources.files("seglab") / "weights" / DEFAULT_WEIGHTS))
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped pet model is missing ({path}); pass --checkpoint or reinstall seglab"
        )
    return path


class Predictor:
    """Runs a trained checkpoint on NumPy images of any size.

    Args:
        checkpoint: a checkpoint path, or None for the shipped Oxford-IIIT Pet model.
        device: ``auto``, ``cpu`` or ``cuda``.
        tta: average the prediction with that of the horizontally flipped image.

    Example:
        >>> from seglab.samples import load_sample
        >>> mask = Predictor().predict(load_sample("chelsea"))  # doctest: +SKIP
        >>> mask.shape
        (300, 451)
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        tta: bool = False,
    ) -> None:
        from seglab.engine.train import resolve_device

        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        state = load_checkpoint(self.checkpoint_path)
        self.device = resolve_device(device)
        self.model = model_from_checkpoint(state).to(self.device)
        self.class_names: list[str] = list(state["class_names"])
        self.task: str = state["task"]
        preprocess = state.get("preprocess") or {}
        size = preprocess.get("size") or [128, 128]
        self.size = (int(size[0]), int(size[1]))
        self.mean = preprocess.get("mean")
        self.std = preprocess.get("std")
        self.tta = tta

    def _prepare(self, image: np.ndarray) -> torch.Tensor:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {image.shape}")
        tensor = image_to_tensor(image[..., :3])[None]
        tensor = F.interpolate(
            tensor, size=self.size, mode="bilinear", align_corners=False, antialias=True
        )
        if self.mean is not None:
            mean = torch.tensor(self.mean).view(1, -1, 1, 1)
            tensor = (tensor - mean) / torch.tensor(self.std).view(1, -1, 1, 1)
        return tensor.to(self.device)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits ``(1, K, h, w)`` of a prepared batch; the one step other backends replace."""
        return self.model(batch)

    @torch.no_grad()
    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the image's own size.

        Args:
            image: ``(H, W, 3)`` uint8 RGB (grayscale and RGBA are accepted).

        Returns:
            ``(K, H, W)`` float32: softmax probabilities (multiclass) or per-label sigmoid
            probabilities (multilabel).
        """
        batch = self._prepare(np.asarray(image))
        logits = self._forward(batch)
        if self.tta:
            logits = 0.5 * (logits + self._forward(batch.flip(-1)).flip(-1))
        probs = logits.float().softmax(1) if self.task == "multiclass" else logits.float().sigmoid()
        probs = F.interpolate(probs, size=image.shape[:2], mode="bilinear", align_corners=False)
        return probs[0].cpu().numpy()

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Labels at the image's own size.

        Returns:
            ``(H, W)`` uint8 index mask (multiclass), or ``(K, H, W)`` bool (multilabel).
        """
        probs = self.predict_proba(image)
        if self.task == "multiclass":
            return probs.argmax(0).astype(np.uint8)
        return probs > 0.5


def iter_image_files(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Expand files and folders (recursively, sorted) into image file paths.

    Files named explicitly are yielded whatever their extension, so that a bad file gets a
    clear message later instead of being skipped silently.
    """
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in IMAGE_EXTENSIONS:
                    yield child
        else:
            yield path


@dataclass
class PredictionSummary:
    """What :func:`predict_files` did: written outputs and skipped files with reasons."""

    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def predict_files(
    predictor: Predictor,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overlay: bool = True,
    skip_existing: bool = False,
    progress: bool = True,
) -> PredictionSummary:
    """Predict every image in ``inputs`` and write ``<stem>_mask.png`` (+ ``<stem>_overlay.png``).

    Masks are palette PNGs of class indices at the original image size. A file that cannot be
    read is reported and skipped; the run goes on. With ``skip_existing``, images whose mask is
    already there are skipped, so a killed run can continue where it stopped.
    """
    from seglab.viz import save_overlay

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = PredictionSummary()
    files = list(iter_image_files(inputs))
    for path in tqdm(files, desc="predict", disable=not progress):
        mask_path = out_dir / f"{path.stem}_mask.png"
        if skip_existing and mask_path.is_file():
            summary.skipped_existing.append(path)
            continue
        try:
            image = read_image(path)
        except (OSError, ValueError) as error:
            summary.failed.append((path, str(error)))
            tqdm.write(f"skipped {path}: {error}")
            continue
        labels = predictor.predict(image)
        if predictor.task == "multilabel":
            # One index PNG per label keeps the format simple: 1 where the label is true.
            for index, name in enumerate(predictor.class_names):
                write_mask(out_dir / f"{path.stem}_{name}_mask.png", labels[index].astype(np.uint8))
            # The combined mask shows the highest true label at each pixel (0 = none).
            labels = (labels * np.arange(1, len(labels) + 1)[:, None, None]).max(0).astype(np.uint8)
        write_mask(mask_path, labels)
        if overlay:
            save_overlay(out_dir / f"{path.stem}_overlay.png", image, labels)
        summary.written.append(mask_path)
    return summary
