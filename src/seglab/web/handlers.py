"""What the web app's buttons do, as plain functions over NumPy arrays (no gradio here).

Each handler calls seglab's library and returns pictures and numbers; :mod:`seglab.web.app`
only wires them to components. Bad input raises :class:`~seglab.web.validate.InputError` (or
the library's ``ValueError``), whose message the app shows in the page.

GrabCut marks come from one drawing layer painted with three brush colours:

- **red** (:data:`RECT_COLOR`): drag across the object; the box around all red marks is the
  GrabCut rectangle;
- **green** (:data:`FOREGROUND_COLOR`): pixels that are surely object;
- **blue** (:data:`BACKGROUND_COLOR`): pixels that are surely background.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seglab._checks import IGNORE_INDEX
from seglab.classical import GrabCutState, grabcut, normalized_cut, refine_grabcut, slic
from seglab.instance.draw import overlay_instances
from seglab.viz import draw_boundaries, overlay_mask
from seglab.web.validate import (
    DEFAULT_MAX_MEGAPIXELS,
    GRABCUT_ITERS,
    MAX_WEB_CLASSES,
    NCUT_SEGMENTS,
    SLIC_COMPACTNESS,
    SLIC_SEGMENTS,
    InputError,
    check_ignore_index,
    check_num_classes,
    check_number,
    check_same_size,
    check_whole_number,
    load_image_file,
    load_mask_file,
)

__all__ = [
    "BACKGROUND_COLOR",
    "FOREGROUND_COLOR",
    "RECT_COLOR",
    "NUCLEI_MODEL",
    "PET_MODEL",
    "EvaluationResult",
    "GrabCutSession",
    "ModelOutput",
    "ModelRunner",
    "Marks",
    "cutout",
    "describe_marks",
    "evaluate_files",
    "evaluate_masks",
    "grabcut_views",
    "load_input",
    "marks_from_layer",
    "ncut_view",
    "refine_session",
    "slic_view",
    "start_grabcut",
]

RECT_COLOR = (220, 30, 30)
FOREGROUND_COLOR = (30, 190, 60)
BACKGROUND_COLOR = (30, 90, 230)
PET_MODEL = "pet model (shipped)"
NUCLEI_MODEL = "nuclei instances (shipped)"
# A painted pixel counts when at least this opaque: the brush's soft rim is left out.
_MARK_ALPHA = 96
# A drawing layer may have at most this many times the image's pixels (a 2x HiDPI canvas has
# 4x); anything larger is not a drawing of this image, and would only cost memory.
_MAX_LAYER_SCALE = 4


# ------------------------------------------------------------------------------ image input
def load_input(
    upload: str | os.PathLike | None,
    sample: str | None,
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[np.ndarray, str]:
    """The image to work on: the uploaded file if there is one, else a bundled sample.

    Args:
        upload: path of the uploaded file, or None.
        sample: a name from :data:`seglab.samples.SAMPLE_NAMES`, or None.
        max_megapixels: pixel limit of uploads.

    Returns:
        ``(image, description)``: ``(H, W, 3)`` uint8 RGB and a one-line description.

    Raises:
        InputError: for a bad upload (see :func:`~seglab.web.validate.load_image_file`), or
            when there is neither an upload nor a sample.
    """
    from seglab.samples import load_sample

    if upload:
        image = load_image_file(upload, max_megapixels=max_megapixels)
        source = Path(upload).name
    elif sample:
        image = load_sample(sample)
        source = f"sample '{sample}'"
    else:
        raise InputError("upload an image or pick a sample first")
    height, width = image.shape[:2]
    return image, f"{source}: {width} x {height} pixels"


# ----------------------------------------------------------------------- SLIC and NCut views
def slic_view(image: np.ndarray, n_segments: int, compactness: float) -> tuple[np.ndarray, str]:
    """SLIC superpixels with their boundaries drawn in yellow.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        n_segments: superpixels, in :data:`~seglab.web.validate.SLIC_SEGMENTS` (20..2000).
        compactness: in :data:`~seglab.web.validate.SLIC_COMPACTNESS` (1..60).

    Returns:
        ``(picture, info)``: ``(H, W, 3)`` uint8 and a summary line.

    Raises:
        InputError: for a superpixel count or compactness outside its range (or NaN).
    """
    n_segments = check_whole_number(n_segments, "superpixels", *SLIC_SEGMENTS)
    compactness = check_number(compactness, "compactness", *SLIC_COMPACTNESS)
    started = time.perf_counter()
    labels = slic(image, n_segments=n_segments, compactness=compactness)
    seconds = time.perf_counter() - started
    count = int(labels.max()) + 1
    # "inner": one-pixel lines, so that small superpixels stay visible under their outline.
    picture = draw_boundaries(image, labels, mode="inner")
    return picture, f"{count} superpixels in {seconds:.2f} s"


def ncut_view(image: np.ndarray, n_segments: int, method: str = "rag") -> tuple[np.ndarray, str]:
    """Normalized Cut segments, each in its own colour with its outline.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        n_segments: segments, in :data:`~seglab.web.validate.NCUT_SEGMENTS` (2..30): the
            time grows fast with the count (50 segments of a noise image take 15 s).
        method: ``"rag"`` or ``"pixel"``.

    Returns:
        ``(picture, info)``.

    Raises:
        InputError: for a segment count outside its range (or NaN).
        ValueError: from :func:`seglab.classical.normalized_cut`, e.g. an unknown method.
    """
    n_segments = check_whole_number(n_segments, "segments", *NCUT_SEGMENTS)
    started = time.perf_counter()
    labels = normalized_cut(image, n_segments=n_segments, method=method)
    seconds = time.perf_counter() - started
    # Instance colours: neighbouring segment ids get clearly different hues.
    picture = overlay_instances(image, labels + 1, alpha=0.45)
    return picture, f"{int(labels.max()) + 1} segments ({method}) in {seconds:.2f} s"


# -------------------------------------------------------------------------------- GrabCut
@dataclass
class Marks:
    """What the user painted: the rectangle and the two kinds of strokes, at image size."""

    rect: tuple[int, int, int, int] | None
    foreground: np.ndarray
    background: np.ndarray

    @property
    def has_strokes(self) -> bool:
        return bool(self.foreground.any() or self.background.any())


def _resize_nearest(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    rows = np.minimum((np.arange(shape[0]) * mask.shape[0]) // shape[0], mask.shape[0] - 1)
    cols = np.minimum((np.arange(shape[1]) * mask.shape[1]) // shape[1], mask.shape[1] - 1)
    return mask[rows][:, cols]


def marks_from_layer(layer: np.ndarray | None, shape: tuple[int, int]) -> Marks:
    """Split a painted RGBA layer into the GrabCut rectangle and the two stroke masks.

    Each opaque pixel goes to the nearest of the three brush colours; the rectangle is the
    bounding box of the red pixels (``x1``, ``y1`` exclusive), so one diagonal drag across the
    object is enough.

    Args:
        layer: ``(h, W, 4)`` uint8 RGBA drawing layer (``None`` or empty: no marks). A layer of
            another size than the image is resized to it with nearest neighbour.
        shape: ``(H, W)`` of the image.

    Returns:
        :class:`Marks`; ``rect`` is None without red marks.

    Raises:
        InputError: for a layer with more than four times the image's pixels (the editor's
            canvas has the image's size; a 2x high-DPI canvas has four times its pixels).
    """
    empty = np.zeros(shape, dtype=bool)
    if layer is None:
        return Marks(None, empty, empty.copy())
    layer = np.asarray(layer)
    if layer.ndim != 3 or layer.shape[2] != 4:
        return Marks(None, empty, empty.copy())
    if layer.shape[0] * layer.shape[1] > _MAX_LAYER_SCALE * max(1, shape[0] * shape[1]):
        raise InputError(
            f"the drawing layer is {layer.shape[1]} x {layer.shape[0]} pixels, far larger than "
            f"the {shape[1]} x {shape[0]} image; reload the page and draw again"
        )
    painted = layer[..., 3] >= _MARK_ALPHA
    colours = np.array([RECT_COLOR, FOREGROUND_COLOR, BACKGROUND_COLOR], dtype=np.int32)
    # Colours of the painted pixels only: a whole-layer distance table would take 36 bytes
    # per pixel (900 MB for a 25-megapixel image) for mostly transparent pixels.
    distances = ((layer[painted][:, None, :3].astype(np.int32) - colours) ** 2).sum(-1)
    nearest = np.full(painted.shape, -1, dtype=np.int8)
    nearest[painted] = distances.argmin(-1)
    kinds = [_resize_nearest(nearest == k, shape) for k in range(3)]
    rect = None
    if kinds[0].any():
        rows, cols = np.nonzero(kinds[0])
        rect = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return Marks(rect, kinds[1], kinds[2])


def describe_marks(marks: Marks) -> str:
    """One line on what was painted, e.g. ``rectangle (10, 5, 80, 60); 120 px foreground``."""
    parts = [f"rectangle {marks.rect}" if marks.rect else "no rectangle yet"]
    for name, stroke in (("foreground", marks.foreground), ("background", marks.background)):
        if stroke.any():
            parts.append(f"{int(stroke.sum())} px {name}")
    return "; ".join(parts)


@dataclass
class GrabCutSession:
    """A GrabCut run in progress: the image, its state and how many rounds ran.

    Kept in the page's session state between button presses, so that each refinement
    continues from the colour models and trimap of the last one.
    """

    image: np.ndarray
    state: GrabCutState
    rect: tuple[int, int, int, int] | None
    rounds: int = 1

    @property
    def labels(self) -> np.ndarray:
        return self.state.labels

    @property
    def foreground_fraction(self) -> float:
        return float(self.labels.mean())


def _check_rect(rect, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    height, width = shape
    if rect is None:
        raise InputError(
            "no rectangle: drag across the object with the red brush, or type the rectangle "
            "into x0, y0, x1, y1"
        )
    try:
        values = [float(v) for v in rect]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past any float
        values = []
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InputError(f"the rectangle must be four numbers x0, y0, x1, y1, got {rect!r:.80}")
    # Clipped to the image below, so huge coordinates cost nothing.
    x0, y0, x1, y1 = (int(round(min(max(v, -1.0), 1e9))) for v in values)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InputError(
            f"the rectangle ({x0}, {y0}, {x1}, {y1}) is too small or outside the "
            f"{width} x {height} image; drag across the whole object"
        )
    if (x0, y0, x1, y1) == (0, 0, width, height):
        raise InputError("the rectangle covers the whole image; leave some background outside it")
    return x0, y0, x1, y1


def start_grabcut(
    image: np.ndarray,
    rect,
    *,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    iters: int = 5,
) -> GrabCutSession:
    """First GrabCut round from a rectangle, then the strokes if there are any.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        rect: ``(x0, y0, x1, y1)``, ``x1``/``y1`` exclusive; clipped to the image.
        foreground, background: optional ``(H, W)`` bool strokes, applied as a refinement.
        iters: GrabCut iterations, in :data:`~seglab.web.validate.GRABCUT_ITERS` (1..10).

    Raises:
        InputError: for a missing, tiny, whole-image or non-numeric rectangle, or ``iters``
            outside its range.
        ValueError: from :func:`seglab.classical.grabcut` (e.g. no background left).
    """
    iters = check_whole_number(iters, "iterations", *GRABCUT_ITERS)
    rect = _check_rect(rect, image.shape[:2])
    _, state = grabcut(image, rect=rect, iters=iters, return_state=True)
    session = GrabCutSession(image=image, state=state, rect=rect)
    if (foreground is not None and foreground.any()) or (
        background is not None and background.any()
    ):
        session = refine_session(session, foreground=foreground, background=background)
        session.rounds = 1
    return session


def refine_session(
    session: GrabCutSession,
    *,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    iters: int = 2,
) -> GrabCutSession:
    """One more GrabCut round from the session's state, with the strokes as hard labels.

    Strokes painted in earlier rounds may be given again (they are already hard labels).
    Where a pixel is painted both colours, the background stroke wins: a user who paints
    over a stroke usually means to correct it.

    Each press is one bounded round (``iters`` in
    :data:`~seglab.web.validate.GRABCUT_ITERS`); the session keeps only the latest state, so
    many rounds cost no memory.

    Raises:
        InputError: if there are no strokes, they are not at the image's size, or ``iters``
            is outside its range.
    """
    iters = check_whole_number(iters, "iterations", *GRABCUT_ITERS)
    shape = session.image.shape[:2]
    strokes = []
    for name, stroke in (("foreground", foreground), ("background", background)):
        stroke = np.zeros(shape, bool) if stroke is None else np.asarray(stroke, bool)
        if stroke.shape != shape:
            raise InputError(f"{name} strokes are {stroke.shape}, the image is {shape}")
        strokes.append(stroke)
    if not (strokes[0].any() or strokes[1].any()):
        raise InputError(
            "no strokes to refine with: paint green on missed object parts or blue on wrongly "
            "included background, then press Refine"
        )
    fg = strokes[0] & ~strokes[1]
    _, state = refine_grabcut(
        session.image, session.state, fg_strokes=fg, bg_strokes=strokes[1], iters=iters
    )
    return GrabCutSession(session.image, state, session.rect, session.rounds + 1)


def cutout(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The foreground on a transparent background: ``(H, W, 4)`` uint8 RGBA."""
    alpha = np.where(labels > 0, 255, 0).astype(np.uint8)
    return np.concatenate([image, alpha[..., None]], axis=2)


def grabcut_views(session: GrabCutSession) -> tuple[np.ndarray, np.ndarray, str]:
    """Overlay (with the rectangle drawn), cut-out and a summary line of a session."""
    labels = session.labels
    overlay = overlay_mask(session.image, labels, palette=np.array([[0, 0, 0], [255, 60, 160]]))
    if session.rect is not None:
        x0, y0, x1, y1 = session.rect
        colour = np.array(RECT_COLOR, np.uint8)
        overlay[y0:y1, [x0, x1 - 1]] = colour
        overlay[[y0, y1 - 1], x0:x1] = colour
    info = (
        f"round {session.rounds}: {100 * session.foreground_fraction:.1f}% foreground, "
        f"rectangle {session.rect}"
    )
    return overlay, cutout(session.image, labels), info


# ----------------------------------------------------------------------------------- models
@dataclass
class ModelOutput:
    """What the model tab shows: a picture, files to download and a summary line."""

    picture: np.ndarray
    files: list[Path]
    info: str
    labels: np.ndarray = field(repr=False, default=None)


class ModelRunner:
    """The models of the app, loaded on first use and kept (one per checkpoint).

    Args:
        checkpoints: extra checkpoint paths (semantic or instance); the shipped pet model is
            always offered first, then the shipped nuclei instance model where it is installed.
        device: ``cpu`` (default), ``cuda`` or ``auto``.
        out_dir: folder for the downloadable files; default a fresh temporary folder.
        trust_checkpoint: also load checkpoints that are not plain data (they can run code
            stored in them; see :mod:`seglab.checkpoint`).

    The extra checkpoints are loaded here, before the app serves anything, so that a refused
    or malformed file stops the server at start rather than failing a request later.

    Raises:
        FileNotFoundError: if a checkpoint path does not exist.
        ValueError: if a checkpoint is refused as unsafe or is malformed.
    """

    def __init__(
        self,
        checkpoints: list[str | os.PathLike] | tuple = (),
        *,
        device: str = "cpu",
        out_dir: str | os.PathLike | None = None,
        trust_checkpoint: bool = False,
    ) -> None:
        self.paths: dict[str, Path | None] = {PET_MODEL: None}
        shipped_instances = _shipped_instance_checkpoint()
        if shipped_instances is not None:
            self.paths[NUCLEI_MODEL] = shipped_instances
        for checkpoint in checkpoints:
            path = Path(checkpoint)
            if not path.is_file():
                raise FileNotFoundError(f"no such checkpoint: {path}")
            self.paths[path.name if path.name not in self.paths else str(path)] = path
        self.device = device
        self.trust_checkpoint = trust_checkpoint
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="seglab-web-"))
        self._loaded: dict[str, object] = {
            name: _load_model(path, device, trust_checkpoint)
            for name, path in self.paths.items()
            if path is not None and name not in (PET_MODEL, NUCLEI_MODEL)
        }
        self._lock = threading.Lock()
        self.keep = 64  # result folders kept on disk (see _prune)

    @property
    def names(self) -> list[str]:
        return list(self.paths)

    def _prune(self) -> None:
        # Gradio copies each result into its own cache when it answers, so only the latest
        # folders need to stay; a long-running server must not fill the disk.
        with self._lock:
            folders = sorted(
                (entry for entry in self.out_dir.iterdir() if entry.is_dir()),
                key=lambda entry: entry.stat().st_mtime,
            )
            for old in folders[: max(0, len(folders) - self.keep)]:
                shutil.rmtree(old, ignore_errors=True)

    def _load(self, name: str):
        if name not in self.paths:
            raise InputError(f"unknown model {name!r}; choose one of {', '.join(self.paths)}")
        # One load per model even when requests arrive together.
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = _load_model(
                    self.paths[name], self.device, self.trust_checkpoint
                )
            return self._loaded[name]

    def run(self, name: str, image: np.ndarray, *, stem: str = "image") -> ModelOutput:
        """Run model ``name`` on ``image`` and write its downloadable files.

        Semantic models give an overlay and the index mask as a palette PNG; instance models
        (``task == "instance"``) give distinct colours per instance, the uint16 label PNG and
        a COCO results JSON.
        """
        model = self._load(name)
        folder = self.out_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        self._prune()
        started = time.perf_counter()
        if isinstance(model, _InstanceModel):
            output = model.run(image, folder, stem)
        else:
            output = _run_semantic(model, image, folder, stem)
        output.info += f" ({name}, {1000 * (time.perf_counter() - started):.0f} ms)"
        return output


@dataclass
class _InstanceModel:
    """Hook for bottom-up instance models (:mod:`seglab.instance.grouping`)."""

    model: object
    grouping: dict
    device: str
    category_ids: tuple[int, ...] = (1,)  # the COCO category id of each thing class

    def run(self, image: np.ndarray, folder: Path, stem: str) -> ModelOutput:
        from PIL import Image

        from seglab.annotations.coco_results import labels_to_results, write_coco_results
        from seglab.instance.grouping import predict_instances
        from seglab.io import atomic_write_bytes

        result = predict_instances(self.model, image, device=self.device, **self.grouping)
        labels = result.labels.numpy()
        label_path = folder / f"{stem}_instances.png"
        buffer = io.BytesIO()
        Image.fromarray(labels.astype(np.uint16)).save(buffer, format="PNG")
        atomic_write_bytes(label_path, buffer.getvalue())
        scores = np.concatenate([[0.0], result.scores.numpy()])  # indexed by instance id
        by_class = np.asarray([0, *self.category_ids], np.int64)
        categories = by_class[np.concatenate([[0], result.classes.numpy()])]
        coco_path = folder / f"{stem}_coco.json"
        records = labels_to_results(labels, 0, scores=scores, category_ids=categories)
        write_coco_results(coco_path, records)
        info = f"{len(result)} instances"
        return ModelOutput(overlay_instances(image, labels), [label_path, coco_path], info, labels)


def _shipped_instance_checkpoint() -> Path | None:
    """The shipped nuclei instance model, when this installation has one."""
    try:
        from seglab.pretrained import default_instance_checkpoint

        return default_instance_checkpoint()
    except (ImportError, FileNotFoundError):
        return None


def _load_model(path: Path | None, device: str, trust_checkpoint: bool = False):
    from seglab.checkpoint import load_checkpoint, model_from_checkpoint
    from seglab.engine.predict import Predictor

    if path is not None:
        state = load_checkpoint(path, trust_checkpoint=trust_checkpoint)
        if state["task"] == "instance":
            from seglab.engine.instance_predict import instance_category_ids
            from seglab.instance.grouping import checkpoint_grouping

            model = model_from_checkpoint(state).to(device)
            categories = tuple(instance_category_ids(state))
            return _InstanceModel(model, checkpoint_grouping(state), device, categories)
    return Predictor(path, device=device, trust_checkpoint=trust_checkpoint)


def _run_semantic(predictor, image: np.ndarray, folder: Path, stem: str) -> ModelOutput:
    from seglab.io import write_mask

    mask = predictor.predict(image)
    if mask.ndim == 3:
        # Multi-label: show and save the first label that fires per pixel (0 = none).
        fired = mask.any(0)
        mask = np.where(fired, mask.argmax(0) + 1, 0).astype(np.uint8)
    mask_path = folder / f"{stem}_mask.png"
    write_mask(mask_path, mask)
    names = predictor.class_names
    present = [
        f"{names[k] if k < len(names) else k}: {100 * (mask == k).mean():.1f}%"
        for k in np.unique(mask)
    ]
    return ModelOutput(overlay_mask(image, mask), [mask_path], ", ".join(present), mask)


# -------------------------------------------------------------------------------- evaluate
@dataclass
class EvaluationResult:
    """Scores of one prediction against its ground truth."""

    summary: dict[str, float]
    rows: list[list]
    matrix: np.ndarray
    class_names: list[str]

    def confusion_png(self) -> bytes:
        """The row-normalised confusion matrix as PNG bytes: the training report's figure
        (:func:`seglab.engine.report.plot_confusion`), whose cost is bounded for any K."""
        from seglab.engine.report import plot_confusion

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "confusion.png"
            plot_confusion(self.matrix, self.class_names, path)
            return path.read_bytes()

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary, "rows": self.rows}, allow_nan=True)


def evaluate_masks(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    num_classes: int | None = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> EvaluationResult:
    """PA, MPA, per-class IoU and Dice, mIoU and the confusion matrix of two index masks.

    Args:
        pred, target: ``(H, W)`` integer masks of the same size.
        num_classes: K, at most :data:`~seglab.web.validate.MAX_WEB_CLASSES` (256); ``None``
            or 0 infers it from the largest label in either mask (other than
            ``ignore_index``), which must then be below that limit too.
        ignore_index: target value that counts nowhere, 0..65535; ``None`` or -1 for none.

    Raises:
        InputError: for masks of different sizes, labels at or above ``num_classes``, a
            ``num_classes`` that is not a whole number in 0..``MAX_WEB_CLASSES``, masks whose
            largest label implies more than ``MAX_WEB_CLASSES`` classes, or an
            ``ignore_index`` outside -1..65535.
    """
    from seglab.metrics.confusion import ConfusionMatrix

    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    check_same_size(pred, target)
    pred, target = np.asarray(pred).astype(np.int64), np.asarray(target).astype(np.int64)
    if num_classes is None:
        keep = target != ignore_index if ignore_index is not None else np.ones_like(target, bool)
        top = max(int(pred[keep].max(initial=0)), int(target[keep].max(initial=0)))
        if top >= MAX_WEB_CLASSES:
            # Checked before the K x K matrix exists: a 16-bit mask could ask for 65,536².
            raise InputError(
                f"the masks hold label {top}, so they would have {top + 1} classes; the web "
                f"app evaluates at most {MAX_WEB_CLASSES} (MAX_WEB_CLASSES). If {top} marks "
                "unlabelled pixels, enter it as the ignore index; for more classes, use "
                "`seglab evaluate` on the command line"
            )
        num_classes = max(2, top + 1)
    meter = ConfusionMatrix(int(num_classes), ignore_index=ignore_index)
    try:
        meter.update(pred, target)
    except ValueError as error:
        raise InputError(f"the masks do not fit {num_classes} classes: {error}") from error
    scores = meter.compute()
    names = [str(k) for k in range(int(num_classes))]
    rows = [
        [
            names[k],
            _round(scores["iou"][k]),
            _round(scores["dice"][k]),
            _round(scores["accuracy"][k]),
        ]
        for k in range(int(num_classes))
    ]
    summary = {
        "pixel_accuracy": _round(scores["pixel_accuracy"]),
        "mean_pixel_accuracy": _round(scores["mean_pixel_accuracy"]),
        "miou": _round(scores["miou"]),
        "mean_dice": _round(scores["mean_dice"]),
    }
    return EvaluationResult(summary, rows, np.asarray(meter.matrix).copy(), names)


def _round(value) -> float:
    return round(float(value), 4)


def evaluate_files(
    pred_path: str | os.PathLike,
    target_path: str | os.PathLike,
    *,
    num_classes: int | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> EvaluationResult:
    """:func:`evaluate_masks` on two uploaded mask files (validated first).

    Raises:
        InputError: for a missing upload, the failures of
            :func:`~seglab.web.validate.load_mask_file`, and those of :func:`evaluate_masks`
            (``num_classes`` and ``ignore_index`` are checked before any file is decoded).
    """
    if not pred_path or not target_path:
        raise InputError("upload both a prediction and a ground-truth mask")
    # The form fields first: a bad number should not wait for two images to decode.
    check_num_classes(num_classes)
    check_ignore_index(ignore_index)
    pred = load_mask_file(pred_path, max_megapixels=max_megapixels)
    target = load_mask_file(target_path, max_megapixels=max_megapixels)
    return evaluate_masks(pred, target, num_classes=num_classes, ignore_index=ignore_index)
