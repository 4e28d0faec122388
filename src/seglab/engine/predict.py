"""Prediction: masks at each image's original size, from a checkpoint or the shipped pet model.

The image is resized to the checkpoint's training size (bilinear, antialiased), normalised as in
training, and the class probabilities are resized back to the original size bilinearly *before*
the argmax, so that the mask edges are smooth rather than blocky.

:func:`predict_files` streams folders of any size: worker processes decode and resize images
a few batches ahead, the network runs on batches, and threads write the PNGs. Memory stays
bounded by the batches in flight, outputs are written atomically (the mask last, so that a
mask on disk means a finished image), existing outputs can be skipped to resume a killed run,
and ``shard=(rank, world_size)`` splits the files over processes (``torchrun``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from seglab._checks import channels_last
from seglab.checkpoint import load_checkpoint
from seglab.convert import image_to_tensor
from seglab.engine.evaluate import tta_logits
from seglab.engine.postprocess import clean_labels, clean_multilabel
from seglab.io import read_image, remove_stale_temp_files, write_mask
from seglab.limits import DEFAULT_IMG_SIZE, check_test_scales
from seglab.models.tiling import check_tiling, tiled_forward
from seglab.pretrained import default_checkpoint

__all__ = [
    "IMAGE_EXTENSIONS",
    "OutputPlan",
    "Predictor",
    "PredictionSummary",
    "default_checkpoint",
    "iter_image_files",
    "iter_sources",
    "plan_outputs",
    "predict_files",
    "prepare_image",
]

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


def prepare_image(
    image: np.ndarray,
    size: tuple[int, int] | None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> torch.Tensor:
    """The network input for one image: RGB in [0, 1], resized (antialiased), normalised.

    Args:
        image: ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``: grey is repeated, alpha dropped
            (:func:`seglab._checks.channels_last`); uint8, or any dtype by the rule of
            :mod:`seglab.convert` (floats in [0, 1]).
        size: ``(h, w)`` the model was trained at; None keeps the image's own size (tiled
            inference).
        mean, std: per-channel normalisation, or None.

    Returns:
        ``(3, h, w)`` float32 tensor.

    Raises:
        ValueError: for any other image shape, an empty image, one over
            :data:`~seglab.limits.MAX_IMAGE_PIXELS`, or values that break the dtype rule of
            :mod:`seglab.convert` (e.g. a float image holding 0..255, or NaN).
    """
    tensor = image_to_tensor(channels_last(image, colour=True))[None]
    if size is not None:
        tensor = F.interpolate(
            tensor, size=size, mode="bilinear", align_corners=False, antialias=True
        )
    if mean is not None:
        tensor = (tensor - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(
            1, -1, 1, 1
        )
    return tensor[0]


# The test-time options of every predictor backend and their defaults.
TEST_TIME_DEFAULTS: dict[str, Any] = {
    "tta": False,
    "scales": (1.0,),
    "keep_largest": False,
    "fill_holes": False,
    "tile": None,
    "overlap": None,
}


class Predictor:
    """Runs a trained checkpoint on NumPy images of any size.

    Args:
        checkpoint: a checkpoint path, or None for the shipped Oxford-IIIT Pet model.
        device: ``auto``, ``cpu`` or ``cuda``.
        tta: average the prediction with that of the horizontally flipped image.
        scales: also average over these scales of the network-size image, e.g.
            ``(0.75, 1.0, 1.25)`` (see :func:`~seglab.engine.evaluate.tta_logits`).
        keep_largest: keep only the largest region of each class but 0, the background (of
            each label, multilabel), in the mask at the image's size; see
            :mod:`seglab.engine.postprocess`.
        fill_holes: fill the holes of those regions with their class, after ``keep_largest``.
        tile: sliding-window inference: the image keeps its own size and the network runs on
            overlapping ``tile x tile`` windows whose logits are blended
            (:mod:`seglab.models.tiling`), for models trained on crops at the images'
            resolution and for images too large to go through whole. None (default): the
            whole image is resized to the training size.
        overlap: pixels shared by neighbouring windows (default ``tile // 4``).
        trust_checkpoint: also load a checkpoint that is not plain data, which can run code
            stored in it (see :mod:`seglab.checkpoint`); only for files you trust.

    Example:
        >>> from seglab.samples import load_sample
        >>> mask = Predictor(device="cpu").predict(load_sample("chelsea"))
        >>> mask.shape, round(float(mask.mean()), 2)
        ((300, 451), 0.93)
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        tta: bool = False,
        scales: Sequence[float] = (1.0,),
        keep_largest: bool = False,
        fill_holes: bool = False,
        tile: int | None = None,
        overlap: int | None = None,
        trust_checkpoint: bool = False,
    ) -> None:
        from seglab.engine.device import resolve_device

        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        state = load_checkpoint(self.checkpoint_path, trust_checkpoint=trust_checkpoint)
        self.device = resolve_device(device)
        self.model = state.build_model().to(self.device)
        self.class_names: list[str] = list(state.class_names)
        self.task: str = state.task
        self.size = state.preprocess.size or (DEFAULT_IMG_SIZE, DEFAULT_IMG_SIZE)
        self.mean = state.preprocess.mean
        self.std = state.preprocess.std
        self._set_test_time_options(
            tta=tta,
            scales=scales,
            keep_largest=keep_largest,
            fill_holes=fill_holes,
            tile=tile,
            overlap=overlap,
        )

    def _set_test_time_options(self, **options: Any) -> None:
        """Store the test-time augmentation, tiling and mask clean-up settings (shared by
        backends): the keys of :data:`TEST_TIME_DEFAULTS`.

        Raises:
            TypeError: for an unknown option.
            ValueError: for bad scales or tiling settings.
        """
        unknown = sorted(set(options) - set(TEST_TIME_DEFAULTS))
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(TEST_TIME_DEFAULTS)}"
            )
        options = {**TEST_TIME_DEFAULTS, **options}
        self.tta = bool(options["tta"])
        self.scales = check_test_scales(options["scales"])
        self.keep_largest = bool(options["keep_largest"])
        self.fill_holes = bool(options["fill_holes"])
        tile, overlap = options["tile"], options["overlap"]
        self.tile, self.overlap = (None, None) if tile is None else check_tiling(tile, overlap)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The size images are resized to before the network; None when tiling keeps theirs."""
        return None if self.tile else self.size

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K, h, w)`` of a prepared batch; the one step other backends replace."""
        return self.model(batch)

    @torch.no_grad()
    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Class probabilities of a batch of prepared images, at the network's size (at the
        images' own size when tiling).

        Args:
            batch: ``(N, 3, h, w)`` from :func:`prepare_image`.

        Returns:
            ``(N, K, h, w)`` float32 on the CPU: softmax (multiclass) or sigmoid (multilabel).
        """

        def forward(window: torch.Tensor) -> torch.Tensor:
            return tta_logits(self._forward, window, flip=self.tta, scales=self.scales)

        if self.tile:
            logits = tiled_forward(
                forward, batch, tile=self.tile, overlap=self.overlap, device=self.device
            )
        else:
            logits = forward(batch.to(self.device))
        probs = logits.softmax(1) if self.task == "multiclass" else logits.sigmoid()
        return probs.cpu()

    def labels(self, probs: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        """Labels of one image at its own size from its network-size probabilities.

        Args:
            probs: ``(K, h, w)`` from :meth:`probabilities`.
            shape: the image's ``(H, W)``.

        Returns:
            ``(H, W)`` uint8 index mask (multiclass), or ``(K, H, W)`` bool (multilabel).
        """
        probs = _resize_probs(probs, shape)
        multiclass = self.task == "multiclass"
        labels = _argmax_classes(probs).numpy() if multiclass else (probs > 0.5).numpy()
        if not (self.keep_largest or self.fill_holes):
            return labels
        clean = clean_labels if multiclass else clean_multilabel
        return clean(labels, keep_largest=self.keep_largest, fill=self.fill_holes)

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities at the image's own size.

        Args:
            image: ``(H, W, 3)`` RGB, uint8 or as :mod:`seglab.convert`'s dtype rule says
                (grayscale and RGBA are accepted).

        Returns:
            ``(K, H, W)`` float32: softmax probabilities (multiclass) or per-label sigmoid
            probabilities (multilabel).
        """
        image = np.asarray(image)
        batch = prepare_image(image, self.input_size, self.mean, self.std)[None]
        return _resize_probs(self.probabilities(batch)[0], image.shape[:2]).numpy()

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Labels at the image's own size.

        Returns:
            ``(H, W)`` uint8 index mask (multiclass), or ``(K, H, W)`` bool (multilabel).
        """
        image = np.asarray(image)
        batch = prepare_image(image, self.input_size, self.mean, self.std)[None]
        return self.labels(self.probabilities(batch)[0], image.shape[:2])

    def predict_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Labels for several images of any sizes with one network call.

        Returns:
            One mask per image, as :meth:`predict` gives.
        """
        images = [np.asarray(image) for image in images]
        if not images:
            return []
        if self.tile:  # images keep their own sizes: one network pass each
            return [self.predict(image) for image in images]
        batch = torch.stack(
            [prepare_image(image, self.input_size, self.mean, self.std) for image in images]
        )
        probs = self.probabilities(batch)
        return [self.labels(p, image.shape[:2]) for p, image in zip(probs, images, strict=True)]


def _resize_probs(probs: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``(K, h, w)`` -> ``(K, H, W)`` bilinear, before any argmax (smooth mask edges)."""
    return F.interpolate(probs[None], size=tuple(shape), mode="bilinear", align_corners=False)[0]


def _argmax_classes(probs: torch.Tensor) -> torch.Tensor:
    """``probs.argmax(0)`` as uint8, one comparison per class (ties: the lower index).

    torch's argmax over the outer axis of a ``(K, H, W)`` tensor runs about 50x slower than
    these K element-wise passes for the few classes a segmentation model has.
    """
    best, labels = probs[0], torch.zeros(probs.shape[1:], dtype=torch.uint8)
    for index in range(1, probs.shape[0]):
        better = probs[index] > best
        labels[better] = index
        best = torch.maximum(best, probs[index])
    return labels


def iter_image_files(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Expand files and folders (recursively, sorted) into image file paths.

    Files named explicitly are yielded whatever their extension, so that a bad file gets a
    clear message later instead of being skipped silently.
    """
    for _, path in iter_sources(inputs):
        yield path


def iter_sources(
    inputs: Iterable[str | os.PathLike],
    *,
    out_dir: str | os.PathLike | None = None,
    output_suffixes: Sequence[str] = (),
    skipped: list[Path] | None = None,
) -> Iterator[tuple[Path, Path]]:
    """``(relative output stem, image path)`` for every image in ``inputs``.

    With ``out_dir``, a run's own outputs are never read back as inputs, so that a rerun
    finds the same images: inside ``out_dir``, files whose names end with one of
    ``output_suffixes`` are skipped, and when ``out_dir`` lies inside an input folder (and is
    not that folder itself) everything below ``out_dir`` is skipped.

    Args:
        inputs: image files and folders (searched recursively, in sorted order).
        out_dir: the folder the run writes to, or None.
        output_suffixes: the endings of the names the run writes, e.g. ``("_mask.png",)``.
        skipped: if given, receives the files skipped as outputs.
    """
    out = Path(out_dir).resolve() if out_dir is not None else None

    def is_output(path: Path, root: Path | None) -> bool:
        if out is None:
            return False
        resolved = path.resolve()
        if not resolved.is_relative_to(out):
            return False
        if root is not None and out != root.resolve():
            return True  # a separate output folder below an input folder: all of it is ours
        return resolved.name.endswith(tuple(output_suffixes))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if not child.is_file() or child.suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                if not is_output(child, path):
                    yield child.relative_to(path).with_suffix(""), child
                elif skipped is not None:
                    skipped.append(child)
        elif not is_output(path, None):
            yield Path(path.stem), path
        elif skipped is not None:
            skipped.append(path)


@dataclass(frozen=True)
class OutputPlan:
    """Where one input image's results go.

    Attributes:
        source: the image file.
        mask: ``<stem>_mask.png``; written last, so it marks a finished image.
        overlay: ``<stem>_overlay.png``, or None without overlays.
    """

    source: Path
    mask: Path
    overlay: Path | None

    def label_mask(self, name: str) -> Path:
        """``<stem>_<label>_mask.png`` of a multi-label model."""
        return self.mask.with_name(self.mask.name.replace("_mask.png", f"_{name}_mask.png"))


MASK_SUFFIX, OVERLAY_SUFFIX = "_mask.png", "_overlay.png"


def plan_outputs(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overlay: bool = True,
    skipped: list[Path] | None = None,
) -> list[OutputPlan]:
    """Output paths for every image in ``inputs``.

    Images in a folder keep their sub-folder below ``out_dir`` (``in/a/x.jpg`` ->
    ``out/a/x_mask.png``), so equal names in different folders do not collide; files named
    directly go to ``out_dir/<stem>_mask.png``. Earlier outputs in ``out_dir`` are not
    inputs (see :func:`iter_sources`); ``skipped`` receives them.

    Raises:
        ValueError: if two inputs would write the same output (e.g. ``x.jpg`` and ``x.png``).
    """
    out_dir = Path(out_dir)
    plans, owners = [], {}
    sources = iter_sources(
        inputs, out_dir=out_dir, output_suffixes=(MASK_SUFFIX, OVERLAY_SUFFIX), skipped=skipped
    )
    for stem, source in sources:
        mask = out_dir / stem.parent / f"{stem.name}{MASK_SUFFIX}"
        if mask in owners:
            raise ValueError(
                f"{owners[mask]} and {source} would both write {mask}: rename one, or predict "
                "them into different --out folders"
            )
        owners[mask] = source
        overlay_path = mask.with_name(f"{stem.name}{OVERLAY_SUFFIX}") if overlay else None
        plans.append(OutputPlan(source, mask, overlay_path))
    return plans


@dataclass
class PredictionSummary:
    """What :func:`predict_files` did: written outputs and skipped files with reasons."""

    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped_outputs: list[Path] = field(default_factory=list)


class _DecodedImages(torch.utils.data.Dataset):
    """Reads and prepares one image per item, in a DataLoader worker; errors are returned."""

    def __init__(self, plans: list[OutputPlan], predictor: Predictor, keep_image: bool) -> None:
        self.plans = plans
        self.size, self.mean, self.std = predictor.input_size, predictor.mean, predictor.std
        self.keep_image = keep_image

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, index: int) -> dict:
        plan = self.plans[index]
        try:
            image = read_image(plan.source)
            tensor = prepare_image(image, self.size, self.mean, self.std)
        except (OSError, ValueError) as error:
            return {"plan": plan, "error": str(error)}
        return {
            "plan": plan,
            "tensor": tensor,
            "shape": image.shape[:2],
            # The decoded image crosses to the main process only when an overlay needs it.
            "image": image if self.keep_image else None,
        }


def _write_outputs(predictor: Predictor, item: dict, probs: torch.Tensor) -> Path:
    """Resize, label and write one image's outputs; the mask goes last."""
    from seglab.viz import save_overlay

    plan: OutputPlan = item["plan"]
    labels = predictor.labels(probs, item["shape"])
    if predictor.task == "multilabel":
        # One index PNG per label keeps the format simple: 1 where the label is true.
        for index, name in enumerate(predictor.class_names):
            write_mask(plan.label_mask(name), labels[index].astype(np.uint8))
        # The combined mask shows the highest true label at each pixel (0 = none).
        labels = (labels * np.arange(1, len(labels) + 1)[:, None, None]).max(0).astype(np.uint8)
    if plan.overlay is not None:
        # Overlays are previews: fast zlib level (4x faster to write a photo, 10 % larger).
        save_overlay(plan.overlay, item["image"], labels, compress_level=1)
    write_mask(plan.mask, labels)
    return plan.mask


def predict_files(
    predictor: Predictor,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    overlay: bool = True,
    skip_existing: bool = False,
    progress: bool = True,
    batch_size: int = 8,
    workers: int = 0,
    writers: int = 2,
    shard: tuple[int, int] | None = None,
) -> PredictionSummary:
    """Predict every image in ``inputs`` and write ``<stem>_mask.png`` (+ ``<stem>_overlay.png``).

    Masks are palette PNGs of class indices at the original image size (see
    :func:`plan_outputs` for the names). A file that cannot be read is reported and skipped;
    the run goes on.

    Args:
        predictor: a :class:`Predictor` (or the onnxruntime one).
        inputs: image files and folders (searched recursively).
        out_dir: output folder.
        overlay: also write overlays.
        skip_existing: skip images whose mask is already there, so that a killed run
            continues where it stopped.
        progress: show a progress bar.
        batch_size: images per network call (images of any sizes share a batch: the network
            sees them at its training size).
        workers: decoding processes (0: decode in this process).
        writers: threads that resize, label and write PNGs while the network runs.
        shard: ``(rank, world_size)``: take every ``world_size``-th image from ``rank`` on,
            to split a folder over processes (``seglab predict`` does this under torchrun).

    Returns:
        A :class:`PredictionSummary` of this process's images.

    Raises:
        ValueError: for two inputs with the same output, or bad ``batch_size``/``workers``/
            ``shard`` values.
        FileNotFoundError: if ``inputs`` hold no image at all (an empty folder, a typo).
    """
    if batch_size < 1 or workers < 0 or writers < 0:
        raise ValueError(
            f"batch_size must be >= 1 and workers, writers >= 0; got {batch_size}, {workers}, "
            f"{writers}"
        )
    inputs = list(inputs)
    summary = PredictionSummary()
    plans = plan_outputs(inputs, out_dir, overlay=overlay, skipped=summary.skipped_outputs)
    if not plans:
        where = ", ".join(str(item) for item in inputs) or "(no inputs)"
        raise FileNotFoundError(
            f"no images to predict in {where} (image extensions: {', '.join(IMAGE_EXTENSIONS)})"
            + (
                f"; {len(summary.skipped_outputs)} earlier outputs skipped"
                if summary.skipped_outputs
                else ""
            )
        )
    if shard is None:
        # Only a single process may clean: under torchrun the others are writing there.
        remove_stale_temp_files(out_dir)
    if shard is not None:
        rank, world_size = shard
        if not 0 <= rank < world_size:
            raise ValueError(
                f"shard must be (rank, world_size) with 0 <= rank < world_size: {shard}"
            )
        plans = plans[rank::world_size]
    if skip_existing:
        summary.skipped_existing = [plan.source for plan in plans if plan.mask.is_file()]
        plans = [plan for plan in plans if not plan.mask.is_file()]
    if not plans:
        return summary
    loader = torch.utils.data.DataLoader(
        _DecodedImages(plans, predictor, keep_image=overlay),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=list,  # items of different sizes stay a list of dicts
        # At most prefetch_factor batches per worker wait decoded: memory stays bounded.
        prefetch_factor=2 if workers else None,
    )
    pool = ThreadPoolExecutor(writers) if writers else None
    pending: deque[Future] = deque()
    bar = tqdm(total=len(plans), desc="predict", unit="img", disable=not progress)

    def finish(future_or_path: Future | Path) -> None:
        path = future_or_path.result() if isinstance(future_or_path, Future) else future_or_path
        summary.written.append(path)
        bar.update()

    try:
        for items in loader:
            good = []
            for item in items:
                if "error" in item:
                    summary.failed.append((item["plan"].source, item["error"]))
                    tqdm.write(f"skipped {item['plan'].source}: {item['error']}")
                    bar.update()
                else:
                    good.append(item)
            if not good:
                continue
            if predictor.tile:  # full-size inputs of different sizes: one at a time
                probs = [predictor.probabilities(item["tensor"][None])[0] for item in good]
            else:
                probs = predictor.probabilities(torch.stack([item["tensor"] for item in good]))
            for item, item_probs in zip(good, probs, strict=True):
                item["tensor"] = None  # the decoded input is no longer needed
                if pool is None:
                    finish(_write_outputs(predictor, item, item_probs))
                    continue
                pending.append(pool.submit(_write_outputs, predictor, item, item_probs))
            # Bounded memory: wait for writes rather than let finished images pile up.
            while len(pending) > 2 * batch_size:
                finish(pending.popleft())
        while pending:
            finish(pending.popleft())
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True)
    return summary
