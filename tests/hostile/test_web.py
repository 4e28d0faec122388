"""Hostile web requests: every number a form or the HTTP API carries is bounded.

The handlers are tested directly (plain functions, no browser). Each case gets an
:class:`InputError` that names the field and its limit, fast, or a result in bounded time.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from seglab.web import handlers
from seglab.web.validate import (
    GRABCUT_ITERS,
    MAX_WEB_CLASSES,
    MAX_WEB_MEGAPIXELS,
    NCUT_SEGMENTS,
    SLIC_COMPACTNESS,
    SLIC_SEGMENTS,
    InputError,
    check_max_megapixels,
    load_image_file,
)

NAN, INF = float("nan"), float("inf")


def random_masks(num_classes: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A target using every class and a prediction that is right 70 % of the time."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, num_classes, (size, size))
    target.ravel()[:num_classes] = np.arange(num_classes)
    wrong = rng.integers(0, num_classes, (size, size))
    return np.where(rng.random((size, size)) < 0.7, target, wrong), target


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


# ---------------------------------------------------------------------- evaluate: classes
def test_explicit_classes_over_the_limit():
    pred, target = random_masks(3)
    with pytest.raises(
        InputError,
        match=r"classes must be 0 \(from the masks\) or a whole number up to 256 "
        r"\(MAX_WEB_CLASSES.*got 1000",
    ):
        handlers.evaluate_masks(pred, target, num_classes=1000)


@pytest.mark.parametrize("value", [-3, NAN, INF, 2.5, True, "7", 10**400])
def test_classes_that_are_not_a_whole_number_in_range(value):
    pred, target = random_masks(3)
    with pytest.raises(InputError, match=r"classes must be 0 \(from the masks\) or a whole number"):
        handlers.evaluate_masks(pred, target, num_classes=value)


def test_sixteen_bit_label_implies_too_many_classes():
    pred, target = random_masks(3)
    target[0, 0] = 65535  # a 16-bit mask: inferring K would allocate a 65536² matrix
    started = time.perf_counter()
    with pytest.raises(
        InputError,
        match=r"the masks hold label 65535, so they would have 65536 classes; the web app "
        r"evaluates at most 256 \(MAX_WEB_CLASSES\)",
    ):
        handlers.evaluate_masks(pred, target)
    assert time.perf_counter() - started < 5


def test_inferred_classes_just_over_the_limit():
    pred, target = random_masks(3)
    pred[0, 0] = MAX_WEB_CLASSES  # labels 0..256: 257 classes
    with pytest.raises(InputError, match="so they would have 257 classes"):
        handlers.evaluate_masks(pred, target, ignore_index=None)


def test_a_huge_label_as_ignore_index_is_fine():
    pred, target = random_masks(3)
    target[:4] = 65535
    result = handlers.evaluate_masks(pred, target, ignore_index=65535)
    assert result.class_names == ["0", "1", "2"]


def test_sixteen_bit_mask_files_are_refused_too(tmp_path):
    pred, target = random_masks(3, size=32)
    target[0, 0] = 40000
    Image.fromarray(pred.astype(np.uint16)).save(tmp_path / "pred.png")
    Image.fromarray(target.astype(np.uint16)).save(tmp_path / "target.png")
    with pytest.raises(InputError, match="the masks hold label 40000"):
        handlers.evaluate_files(tmp_path / "pred.png", tmp_path / "target.png")


def test_form_numbers_are_checked_before_the_files_are_read(tmp_path):
    missing = tmp_path / "not-there.png"  # would be an upload error if it were read first
    with pytest.raises(InputError, match="classes must be 0"):
        handlers.evaluate_files(missing, missing, num_classes=10**6)
    with pytest.raises(InputError, match="ignore index"):
        handlers.evaluate_files(missing, missing, ignore_index=NAN)


# ------------------------------------------------------------------ evaluate: ignore index
@pytest.mark.parametrize("value", [70_000, -2, NAN, 1.5])
def test_ignore_index_out_of_range(value):
    pred, target = random_masks(3)
    with pytest.raises(
        InputError, match=r"ignore index \(-1: none\) must be a whole number from -1 to 65535"
    ):
        handlers.evaluate_masks(pred, target, ignore_index=value)


def test_ignore_index_minus_one_means_none():
    pred, target = random_masks(3)
    target[0, 0] = 255
    # Without an ignore index, 255 is a label: 256 classes, at the limit.
    result = handlers.evaluate_masks(pred, target, ignore_index=-1)
    assert len(result.class_names) == MAX_WEB_CLASSES


# ----------------------------------------------------------------- evaluate: the picture
def test_confusion_picture_at_the_class_limit_is_fast_and_small():
    pred, target = random_masks(MAX_WEB_CLASSES, size=256)
    started = time.perf_counter()
    result = handlers.evaluate_masks(pred, target, num_classes=MAX_WEB_CLASSES, ignore_index=None)
    picture = result.confusion_png()
    # Before: 87 s, 7 GB and a 9 MB PNG of 28,000 pixels a side.
    assert time.perf_counter() - started < 10
    width, height = png_size(picture)
    assert width < 2000 and height < 2000 and len(picture) < 1_000_000


def test_up_to_30_classes_keep_the_annotated_report_figure(monkeypatch):
    import seglab.engine.report as report

    calls = []
    original = report.plot_confusion

    def spy(matrix, names, path):
        calls.append(len(names))
        original(matrix, names, path)

    monkeypatch.setattr(report, "plot_confusion", spy)
    for count in (30, 31):
        pred, target = random_masks(count, size=64)
        handlers.evaluate_masks(pred, target, num_classes=count).confusion_png()
    assert calls == [30, 31] and report.ANNOTATED_CONFUSION_MAX_CLASSES == 30


def test_report_figure_writes_cell_values_up_to_30_classes(monkeypatch, tmp_path):
    """The per-cell text is what grows with K squared: drawn up to 30 classes, never above."""
    import matplotlib.axes

    import seglab.engine.report as report

    texts = []
    original = matplotlib.axes.Axes.text

    def count_text(self, *args, **kwargs):
        texts.append(args[2] if len(args) > 2 else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "text", count_text)
    for count in (30, 31):
        matrix = np.eye(count, dtype=np.int64)
        report.plot_confusion(matrix, [str(k) for k in range(count)], tmp_path / f"{count}.png")
    assert len(texts) == 30 * 30 and texts[0] == "1.00"


# ---------------------------------------------------------------------- classical tab
@pytest.mark.parametrize("value", [10**6, 19, 2001, NAN, INF, 400.5, True])
def test_slic_superpixels_out_of_range(square_image, value):
    with pytest.raises(InputError, match="superpixels must be a whole number from 20 to 2000"):
        handlers.slic_view(square_image, value, 10)


@pytest.mark.parametrize("value", [0, 0.5, 61, 1e300, NAN, INF])
def test_slic_compactness_out_of_range(square_image, value):
    with pytest.raises(InputError, match="compactness must be a number from 1 to 60"):
        handlers.slic_view(square_image, 100, value)


def test_slic_at_its_limits(square_image):
    picture, info = handlers.slic_view(square_image, SLIC_SEGMENTS[1], SLIC_COMPACTNESS[1])
    assert picture.shape == square_image.shape and "superpixels" in info


@pytest.mark.parametrize("value", [100_000, 31, 1, NAN, 8.5])
def test_ncut_segments_out_of_range(square_image, value):
    with pytest.raises(InputError, match="segments must be a whole number from 2 to 30"):
        handlers.ncut_view(square_image, value)


def test_ncut_at_its_limit(square_image):
    started = time.perf_counter()
    picture, info = handlers.ncut_view(square_image, NCUT_SEGMENTS[1], "rag")
    assert time.perf_counter() - started < 10 and picture.shape == square_image.shape


@pytest.mark.parametrize("value", [10**6, 0, 11, NAN, 2.5])
def test_grabcut_iterations_out_of_range(square_image, value):
    with pytest.raises(InputError, match="iterations must be a whole number from 1 to 10"):
        handlers.start_grabcut(square_image, (20, 15, 60, 45), iters=value)


def test_refine_iterations_out_of_range(square_image):
    session = handlers.start_grabcut(square_image, (20, 15, 60, 45), iters=1)
    strokes = np.zeros(square_image.shape[:2], bool)
    strokes[2, 2] = True
    with pytest.raises(InputError, match="iterations must be a whole number from 1 to 10"):
        handlers.refine_session(session, background=strokes, iters=10**6)
    assert GRABCUT_ITERS == (1, 10)


@pytest.mark.parametrize(
    "rect", [(NAN, 15, 60, 45), (20, 15, INF, 45), ("a", 1, 2, 3), (1, 2, 3), None]
)
def test_grabcut_rectangle_that_is_not_four_numbers(square_image, rect):
    with pytest.raises(InputError, match="rectangle"):
        handlers.start_grabcut(square_image, rect)


def test_grabcut_huge_rectangle_coordinates_are_clipped(square_image):
    session = handlers.start_grabcut(square_image, (20, 15, 1e300, 10**9), iters=1)
    assert session.rect == (20, 15, 80, 60)


def test_drawing_layer_far_larger_than_the_image():
    layer = np.zeros((300, 300, 4), np.uint8)  # 90,000 pixels for a 100-pixel image
    with pytest.raises(InputError, match="the drawing layer is 300 x 300 pixels, far larger"):
        handlers.marks_from_layer(layer, (10, 10))


def test_drawing_layer_of_a_high_dpi_canvas_is_fine():
    layer = np.zeros((20, 20, 4), np.uint8)  # twice the image's size on each side
    layer[4:8, 4:8] = (*handlers.RECT_COLOR, 255)
    assert handlers.marks_from_layer(layer, (10, 10)).rect == (2, 2, 4, 4)


# ----------------------------------------------------------------------- server settings
@pytest.mark.parametrize("value", [NAN, INF, 0, -5, MAX_WEB_MEGAPIXELS + 1, True])
def test_max_megapixels_out_of_range(value):
    with pytest.raises(InputError, match=r"max_megapixels must be a number > 0 and <= 89"):
        check_max_megapixels(value)


def test_nan_pixel_limit_does_not_disable_the_check(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(InputError, match="max_megapixels must be a number > 0, got nan"):
        load_image_file(tmp_path / "x.png", max_megapixels=NAN)


gradio = pytest.importorskip("gradio", reason="gradio is not installed (pip install 'seglab[web]')")


def test_build_app_refuses_a_bad_pixel_limit():
    from seglab.web.app import build_app

    with pytest.raises(ValueError, match="max_megapixels must be a number > 0 and <= 89"):
        build_app(max_megapixels=NAN)


@pytest.fixture(scope="module")
def app_components():
    from seglab.web.app import build_app

    config = build_app().get_config_file()
    return {
        component["props"].get("label"): component["props"]
        for component in config["components"]
        if component["props"].get("label")
    }


@pytest.mark.parametrize(
    ("label", "bounds"),
    [
        ("superpixels", SLIC_SEGMENTS),
        ("compactness", SLIC_COMPACTNESS),
        ("segments", NCUT_SEGMENTS),
        ("iterations", GRABCUT_ITERS),
        ("classes (0: from the masks)", (0, MAX_WEB_CLASSES)),
        ("ignore index (-1: none)", (-1, 65535)),
    ],
)
def test_controls_are_built_from_the_limits(app_components, label, bounds):
    props = app_components[label]
    assert (props["minimum"], props["maximum"]) == bounds
