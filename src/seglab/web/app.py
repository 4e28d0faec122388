"""The gradio app: three tabs wired to the plain handlers of :mod:`seglab.web.handlers`.

Each tab is one function (:func:`_classical_tab`, :func:`_model_tab`, :func:`_evaluate_tab`)
that lays out its controls and wires its events; :func:`build_app` only assembles them.

Only this module imports gradio. Build the app with :func:`build_app` (for tests, or to mount
it in your own server) or run it with :func:`serve` (what ``seglab serve`` calls).

Every handler error (:class:`~seglab.web.validate.InputError` and the library's
``ValueError``) becomes a ``gr.Error``: the message shows in the page and in the HTTP API's
response, and the server keeps serving.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from io import BytesIO
from types import SimpleNamespace

import numpy as np
from PIL import Image

from seglab.io import write_image
from seglab.samples import SAMPLE_NAMES
from seglab.web import handlers
from seglab.web.validate import (
    DEFAULT_MAX_MEGAPIXELS,
    GRABCUT_ITERS,
    IGNORE_INDEX_RANGE,
    MAX_WEB_CLASSES,
    NCUT_SEGMENTS,
    SLIC_COMPACTNESS,
    SLIC_SEGMENTS,
    InputError,
    check_max_megapixels,
)

try:
    import gradio as gr
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the seglab web app needs gradio; install it with: pip install 'seglab[web]'"
    ) from error

__all__ = ["build_app", "serve", "THEME", "CSS"]

logger = logging.getLogger(__name__)

# System fonts only: the default theme's web fonts would be fetched from the network.
_FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
THEME = gr.themes.Default(
    primary_hue="indigo",
    secondary_hue="slate",
    font=_FONTS,
    font_mono=["ui-monospace", "Consolas", "monospace"],
)
CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
#seglab-title h1 {margin-bottom: 0;}
#seglab-title p {margin-top: 4px; color: var(--body-text-color-subdued);}
.seglab-help {font-size: 0.9em;}
"""
_RGB = "rgb({}, {}, {})"
STATE_TTL_S = 3600


def _swatch(color) -> str:
    return f'<span style="color: {_RGB.format(*color)}; font-size: 1.2em;">&#9632;</span>'


_GRABCUT_HELP = (
    "**GrabCut marks**: paint on the image with the brush "
    "(pick the colour with the palette button).\n\n"
    f"{_swatch(handlers.RECT_COLOR)} **red**: drag across the object; "
    "the box around the red marks is the rectangle  \n"
    f"{_swatch(handlers.FOREGROUND_COLOR)} **green**: surely object  \n"
    f"{_swatch(handlers.BACKGROUND_COLOR)} **blue**: surely background"
    "\n\nThen **Run GrabCut**; paint green/blue and **Refine** as "
    "often as needed."
)


def _shown(function: Callable) -> Callable:
    """Turn the handlers' expected errors into a message in the page."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, ValueError, FileNotFoundError) as error:
            raise gr.Error(str(error), print_exception=False) from error
        except Exception as error:  # noqa: BLE001 - the server must keep serving
            logger.exception("handler %s failed", function.__name__)
            raise gr.Error(f"internal error ({type(error).__name__}): {error}") from error

    return wrapper


def _layer(editor_value) -> np.ndarray | None:
    """The painted RGBA layer of an ImageEditor value (None when nothing was drawn)."""
    if not editor_value:
        return None
    layers = [layer for layer in editor_value.get("layers") or [] if layer is not None]
    if not layers:
        return None
    stacked = np.asarray(layers[0])
    for layer in layers[1:]:
        # Later layers paint over earlier ones, as in the editor.
        layer = np.asarray(layer)
        if layer.shape == stacked.shape:
            stacked = np.where(layer[..., 3:4] > 0, layer, stacked)
    return stacked


def _editor_value(image: np.ndarray):
    """The editor showing ``image`` with no marks, its canvas fitted to the image."""
    height, width = image.shape[:2]
    # A canvas of the image's own size makes the editor zoom the image to fill the view.
    return gr.ImageEditor(
        value={"background": image, "layers": [], "composite": image},
        canvas_size=(width, height),
    )


def _result_image(label: str, elem_id: str, *, height: int, **options):
    """A read-only PNG output image, as every tab shows its results."""
    return gr.Image(
        label=label, interactive=False, format="png", height=height, elem_id=elem_id, **options
    )


def _image_source(elem_id: str) -> tuple[gr.File, gr.Dropdown]:
    """The image-loading pair every image tab starts with: an upload box and a sample list."""
    upload = gr.File(label="Upload an image", type="filepath", height=120, elem_id=elem_id)
    sample = gr.Dropdown(list(SAMPLE_NAMES), value="chelsea", label="…or a bundled sample")
    return upload, sample


# ------------------------------------------------------------------------- handlers
# Their names and docstrings are part of the page: gradio names an event's endpoint after its
# function unless the event gives an ``api_name`` (``load_image``, ``pick_sample``,
# ``show_marks``), and shows a docstring as the endpoint's description in the API page. So
# they keep their names, and have comments instead of docstrings.


def _need(image):
    """``image``, or an error asking for one when no image is loaded yet."""
    if image is None:
        raise InputError("upload an image or pick a sample first")
    return image


def _image_handlers(limit: float) -> tuple[Callable, Callable]:
    """The classical tab's image loaders, bound to the app's upload limit."""

    @_shown
    def load_image(upload, sample):
        image, description = handlers.load_input(upload, sample, max_megapixels=limit)
        return image, _editor_value(image), description, None

    @_shown
    def pick_sample(sample):
        image, description = handlers.load_input(None, sample, max_megapixels=limit)
        return image, _editor_value(image), description, None, None

    return load_image, pick_sample


@_shown
def run_slic(image, n_segments, compactness):
    return handlers.slic_view(_need(image), n_segments, compactness)


@_shown
def run_ncut(image, n_segments, method):
    return handlers.ncut_view(_need(image), n_segments, method)


@_shown
def show_marks(image, editor):
    # Live feedback while drawing: the rectangle goes into the number boxes.
    if image is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""
    marks = handlers.marks_from_layer(_layer(editor), image.shape[:2])
    text = handlers.describe_marks(marks)
    if marks.rect is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), text
    return (*marks.rect, text)


@_shown
def run_grabcut(image, editor, x0, y0, x1, y1, iters):
    image = _need(image)
    marks = handlers.marks_from_layer(_layer(editor), image.shape[:2])
    rect = marks.rect
    if rect is None and None not in (x0, y0, x1, y1) and (x1 or 0) > (x0 or 0):
        rect = (x0, y0, x1, y1)
    session = handlers.start_grabcut(
        image, rect, foreground=marks.foreground, background=marks.background, iters=iters
    )
    overlay, cut, info = handlers.grabcut_views(session)
    return (overlay, cut, info, session, *session.rect)


@_shown
def run_refine(session, editor):
    if session is None:
        raise InputError("run GrabCut first, then paint strokes and refine")
    marks = handlers.marks_from_layer(_layer(editor), session.image.shape[:2])
    session = handlers.refine_session(
        session, foreground=marks.foreground, background=marks.background
    )
    overlay, cut, info = handlers.grabcut_views(session)
    return overlay, cut, info, session


def _model_handler(runner: handlers.ModelRunner, limit: float) -> Callable:
    """The model tab's prediction, bound to the app's models and upload limit."""

    @_shown
    def run_model(name, upload, sample):
        image, description = handlers.load_input(upload, sample, max_megapixels=limit)
        stem = os.path.splitext(os.path.basename(upload))[0] if upload else sample
        output = runner.run(name, image, stem=stem)
        # A file in the request's own folder, not an array: gradio copies a file into its cache
        # once (atomically) and reuses it, while it rewrites an array's cache file for every
        # request with the same picture, so that a download running meanwhile got a truncated
        # image (tests/web/test_load.py, ten identical requests).
        picture = output.files[0].with_name(f"{stem}_overlay.png")
        write_image(picture, output.picture, compress_level=1)
        files = [str(path) for path in output.files]
        return str(picture), files, f"{description}; {output.info}"

    return run_model


def _summary_table(summary: dict) -> str:
    """The evaluation's headline numbers as a one-row Markdown table."""
    return (
        "| PA | MPA | mIoU | mean Dice |\n|---|---|---|---|\n"
        f"| {summary['pixel_accuracy']:.4f} | {summary['mean_pixel_accuracy']:.4f} "
        f"| {summary['miou']:.4f} | {summary['mean_dice']:.4f} |"
    )


def _evaluate_handler(limit: float) -> Callable:
    """The evaluate tab's scoring, bound to the app's upload limit."""

    @_shown
    def run_evaluate(pred_file, target_file, num_classes, ignore_index):
        # The handler checks both numbers (0 classes: from the masks; -1: no ignore index).
        result = handlers.evaluate_files(
            pred_file,
            target_file,
            num_classes=num_classes,
            ignore_index=ignore_index,
            max_megapixels=limit,
        )
        picture = np.asarray(Image.open(BytesIO(result.confusion_png())).convert("RGB"))
        return _summary_table(result.summary), result.rows, picture

    return run_evaluate


# ------------------------------------------------------------------------ classical tab
def _grabcut_editor() -> gr.ImageEditor:
    """The image editor where GrabCut marks are painted, with the three mark colours."""
    return gr.ImageEditor(
        label="Image (draw GrabCut marks here)",
        type="numpy",
        image_mode="RGBA",
        sources=(),
        transforms=(),
        layers=False,
        eraser=gr.Eraser(),
        brush=gr.Brush(
            colors=[
                _RGB.format(*handlers.RECT_COLOR),
                _RGB.format(*handlers.FOREGROUND_COLOR),
                _RGB.format(*handlers.BACKGROUND_COLOR),
            ],
            default_color=_RGB.format(*handlers.RECT_COLOR),
            color_mode="fixed",
            default_size=6,
        ),
        format="png",
        height=460,
        elem_id="grabcut-editor",
    )


def _grabcut_tab() -> SimpleNamespace:
    """The GrabCut sub-tab's controls (``rect``: the x0, y0, x1, y1 boxes), not yet wired."""
    with gr.Tab("GrabCut", id="grabcut"):
        with gr.Row():
            rect = [
                gr.Number(label="x0", precision=0, minimum=0),
                gr.Number(label="y0", precision=0, minimum=0),
                gr.Number(label="x1 (exclusive)", precision=0, minimum=0),
                gr.Number(label="y1 (exclusive)", precision=0, minimum=0),
            ]
            iters = gr.Slider(*GRABCUT_ITERS, value=5, step=1, label="iterations")
        with gr.Row():
            run = gr.Button("Run GrabCut", variant="primary", elem_id="grabcut-run")
            refine = gr.Button("Refine with strokes", elem_id="grabcut-refine")
        marks = gr.Textbox(label="Marks", interactive=False, elem_id="grabcut-marks")
        info = gr.Textbox(label="GrabCut", interactive=False, elem_id="grabcut-info")
        with gr.Row():
            overlay = _result_image("Mask overlay", "grabcut-overlay", height=360)
            cutout = _result_image("Cut-out", "grabcut-cutout", height=360, image_mode="RGBA")
    return SimpleNamespace(
        rect=rect,
        iters=iters,
        run=run,
        refine=refine,
        marks=marks,
        info=info,
        overlay=overlay,
        cutout=cutout,
    )


def _slic_tab() -> tuple[gr.Button, list, list]:
    """The SLIC sub-tab: its button, its parameter inputs and its outputs, not yet wired."""
    with gr.Tab("SLIC", id="slic"):
        with gr.Row():
            segments = gr.Slider(*SLIC_SEGMENTS, value=400, step=10, label="superpixels")
            compactness = gr.Slider(*SLIC_COMPACTNESS, value=10, step=1, label="compactness")
        button = gr.Button("Run SLIC", variant="primary", elem_id="slic-run")
        info = gr.Textbox(label="SLIC", interactive=False, elem_id="slic-info")
        output = _result_image("Superpixel boundaries", "slic-output", height=400)
    return button, [segments, compactness], [output, info]


def _ncut_tab() -> tuple[gr.Button, list, list]:
    """The Normalized Cut sub-tab: its button, its inputs and its outputs, not yet wired."""
    with gr.Tab("Normalized Cut", id="ncut"):
        with gr.Row():
            segments = gr.Slider(*NCUT_SEGMENTS, value=8, step=1, label="segments")
            method = gr.Radio(
                ["rag", "pixel"],
                value="rag",
                label="graph",
                info="rag: superpixel graph (sharper); pixel: pixel grid",
            )
        button = gr.Button("Run Normalized Cut", variant="primary", elem_id="ncut-run")
        info = gr.Textbox(label="NCut", interactive=False, elem_id="ncut-info")
        output = _result_image("Segments", "ncut-output", height=400)
    return button, [segments, method], [output, info]


def _wire_grabcut(image_state, session_state, editor, grabcut: SimpleNamespace) -> None:
    """Connect the editor and the GrabCut sub-tab's buttons to their handlers."""
    editor.change(
        show_marks,
        [image_state, editor],
        [*grabcut.rect, grabcut.marks],
        api_visibility="private",
        trigger_mode="always_last",
        show_progress="hidden",
    )
    views = [grabcut.overlay, grabcut.cutout, grabcut.info, session_state]
    grabcut.run.click(
        run_grabcut,
        [image_state, editor, *grabcut.rect, grabcut.iters],
        [*views, *grabcut.rect],
        api_name="grabcut",
        api_visibility="private",
    )
    grabcut.refine.click(
        run_refine,
        [session_state, editor],
        views,
        api_name="refine",
        api_visibility="private",
    )


def _classical_tab(app: gr.Blocks, limit: float) -> None:
    """The classical tab: one image, shared by the GrabCut, SLIC and Normalized Cut sub-tabs.

    The image lives in session state, so every event here is for the page only (private);
    the model and evaluate tabs take files and are the public HTTP API.
    """
    with gr.Tab("Classical", id="classical"):
        # Per-tab-session data; gradio drops it when the tab closes, and the time to
        # live bounds what forgotten tabs hold (a 25-megapixel image is ~75 MB).
        image_state = gr.State(None, time_to_live=STATE_TTL_S)
        session_state = gr.State(None, time_to_live=STATE_TTL_S)
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                upload, sample = _image_source("classical-upload")
                source_info = gr.Textbox(
                    label="Image", interactive=False, elem_id="classical-source"
                )
                gr.Markdown(_GRABCUT_HELP, elem_classes="seglab-help")
            with gr.Column(scale=3):
                editor = _grabcut_editor()
        with gr.Tabs():
            grabcut = _grabcut_tab()
            slic_button, slic_inputs, slic_outputs = _slic_tab()
            ncut_button, ncut_inputs, ncut_outputs = _ncut_tab()

    load_image, pick_sample = _image_handlers(limit)
    image_outputs = [image_state, editor, source_info, session_state]
    upload.upload(load_image, [upload, sample], image_outputs, api_visibility="private")
    sample.change(pick_sample, [sample], [*image_outputs, upload], api_visibility="private")
    app.load(pick_sample, [sample], [*image_outputs, upload], api_visibility="private")
    slic_button.click(
        run_slic,
        [image_state, *slic_inputs],
        slic_outputs,
        api_name="slic",
        api_visibility="private",
    )
    ncut_button.click(
        run_ncut,
        [image_state, *ncut_inputs],
        ncut_outputs,
        api_name="ncut",
        api_visibility="private",
    )
    _wire_grabcut(image_state, session_state, editor, grabcut)


# ---------------------------------------------------------------------------- model tab
def _model_tab(runner: handlers.ModelRunner, limit: float) -> None:
    """The model tab: a shipped or given model predicts on an upload or a sample (public API)."""
    with gr.Tab("Model", id="model"):
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                name = gr.Dropdown(runner.names, value=runner.names[0], label="Model")
                upload, sample = _image_source("model-upload")
                button = gr.Button("Predict", variant="primary", elem_id="model-run")
                info = gr.Textbox(label="Result", interactive=False, elem_id="model-info")
                files = gr.File(
                    label="Download (mask PNG; instance models add COCO JSON)",
                    file_count="multiple",
                    interactive=False,
                    elem_id="model-files",
                )
            with gr.Column(scale=3):
                output = _result_image("Prediction overlay", "model-output", height=480)
    button.click(
        _model_handler(runner, limit),
        [name, upload, sample],
        [output, files, info],
        api_name="predict",
    )


# ------------------------------------------------------------------------- evaluate tab
def _class_numbers() -> tuple[gr.Number, gr.Number]:
    """The number of classes and the ignore index boxes, bounded by the limits."""
    with gr.Row():
        classes = gr.Number(
            value=0,
            precision=0,
            minimum=0,
            maximum=MAX_WEB_CLASSES,
            label="classes (0: from the masks)",
            info=f"at most {MAX_WEB_CLASSES}",
        )
        ignore = gr.Number(
            value=255,
            precision=0,
            minimum=IGNORE_INDEX_RANGE[0],
            maximum=IGNORE_INDEX_RANGE[1],
            label="ignore index (-1: none)",
        )
    return classes, ignore


def _evaluate_tab(limit: float) -> None:
    """The evaluate tab: score a predicted index mask against the ground truth (public API)."""
    with gr.Tab("Evaluate", id="evaluate"):
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                pred_file = gr.File(
                    label="Prediction mask (index PNG)",
                    type="filepath",
                    height=110,
                    elem_id="evaluate-pred",
                )
                target_file = gr.File(
                    label="Ground-truth mask (index PNG)",
                    type="filepath",
                    height=110,
                    elem_id="evaluate-target",
                )
                classes, ignore = _class_numbers()
                button = gr.Button("Evaluate", variant="primary", elem_id="evaluate-run")
            with gr.Column(scale=2):
                summary = gr.Markdown(elem_id="evaluate-summary")
                table = gr.Dataframe(
                    headers=["class", "IoU", "Dice", "accuracy"],
                    interactive=False,
                    label="Per class",
                    elem_id="evaluate-table",
                )
                picture = _result_image(
                    "Confusion matrix (rows: ground truth)", "evaluate-confusion", height=360
                )
    button.click(
        _evaluate_handler(limit),
        [pred_file, target_file, classes, ignore],
        [summary, table, picture],
        api_name="evaluate",
    )


# ------------------------------------------------------------------------------ the app


def build_app(
    checkpoints: Sequence[str | os.PathLike] = (),
    *,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    device: str = "cpu",
    trust_checkpoint: bool = False,
) -> gr.Blocks:
    """Build the seglab web app (not launched).

    Args:
        checkpoints: extra model checkpoints for the model tab (semantic or instance); the
            shipped pet model is always there.
        max_megapixels: largest accepted upload, in millions of pixels: a number > 0 and at
            most :data:`~seglab.web.validate.MAX_WEB_MEGAPIXELS` (89, PIL's bomb limit).
        device: where models run: ``cpu``, ``cuda`` or ``auto``.
        trust_checkpoint: also load checkpoints that are not plain data (they can run code
            stored in them; see :mod:`seglab.checkpoint`).

    Every number a request carries is bounded (see :mod:`seglab.web.validate`): the sliders
    and number boxes refuse values outside their ranges, and the handlers check again.

    Returns:
        A ``gr.Blocks``; launch it with ``app.launch(theme=THEME, css=CSS)`` or :func:`serve`.

    Raises:
        FileNotFoundError: if a checkpoint does not exist.
        ValueError: for a checkpoint that is refused or malformed (before anything is served),
            or (an :class:`~seglab.web.validate.InputError`) for a ``max_megapixels``
            that is NaN, infinite, not above 0 or above ``MAX_WEB_MEGAPIXELS``.
    """
    limit = check_max_megapixels(max_megapixels)
    runner = handlers.ModelRunner(
        list(checkpoints), device=device, trust_checkpoint=trust_checkpoint
    )
    # delete_cache: gradio's copies of uploads and results older than a day go, hourly.
    with gr.Blocks(title="seglab", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown(
            "# seglab\nClassical segmentation, the shipped pet model, and mask evaluation. "
            f"Uploads up to {limit:g} megapixels.",
            elem_id="seglab-title",
        )
        # Each tab wires its own events, so the endpoints are numbered in tab order.
        with gr.Tabs():
            _classical_tab(app, limit)
            _model_tab(runner, limit)
            _evaluate_tab(limit)
    # One job at a time: a model run uses both cores anyway. (Gradio 6.31 re-encodes an
    # output array into its cache on every request, even when the same file is being
    # downloaded; the model tab therefore returns its picture as a file, see run_model.)
    app.queue(default_concurrency_limit=1, max_size=256)
    app.seglab_runner = runner  # for tests and embedding
    return app


def serve(
    checkpoints: Sequence[str | os.PathLike] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    device: str = "cpu",
    prevent_thread_lock: bool = False,
    trust_checkpoint: bool = False,
):
    """Build the app and serve it on ``host:port`` (loopback by default).

    Args:
        checkpoints: extra model checkpoints.
        host: interface to bind; ``127.0.0.1`` keeps the app private to this machine, and
            ``0.0.0.0`` exposes it to the network.
        port: TCP port.
        max_megapixels: largest accepted upload (> 0, at most
            :data:`~seglab.web.validate.MAX_WEB_MEGAPIXELS`).
        device: where models run.
        prevent_thread_lock: return at once (the server runs in a thread), for embedding.
        trust_checkpoint: also load checkpoints that are not plain data (see
            :func:`build_app`).

    Returns:
        The launched ``gr.Blocks``.

    Raises:
        ValueError: for a bad ``max_megapixels`` (see :func:`build_app`), before anything
            is started.
    """
    # No telemetry or version checks: seglab makes no network calls at run time.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = build_app(
        checkpoints,
        max_megapixels=max_megapixels,
        device=device,
        trust_checkpoint=trust_checkpoint,
    )
    app.launch(
        server_name=host,
        server_port=int(port),
        theme=THEME,
        css=CSS,
        show_error=True,
        ssr_mode=False,
        max_file_size="100mb",
        footer_links=["api"],
        prevent_thread_lock=prevent_thread_lock,
    )
    return app
