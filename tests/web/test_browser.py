"""End-to-end: the app in headless Chromium, driven like a user with mouse and files.

Every wait is on an element or a result (60 s timeouts, set on the context); none is a sleep.
Screenshots of the tabs go to ``$SEGLAB_SCREENSHOTS/web_<tab>.png`` (default: a folder in the
system's temporary directory, so that a test run never edits tracked files). The pictures in
docs/ come from ``SEGLAB_SCREENSHOTS=docs/images python -m pytest tests/web/test_browser.py``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("playwright", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

from seglab.samples import load_sample

pytestmark = pytest.mark.browser

IMAGES = Path(
    os.environ.get("SEGLAB_SCREENSHOTS", Path(tempfile.gettempdir()) / "seglab_screenshots")
)
TIMEOUT = 60_000  # ms


def screenshot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"web_{name}.png"), full_page=True)


def wait_for_text(page, selector: str, pattern: str, timeout: int = TIMEOUT) -> str:
    """Wait until the textbox (or element) at ``selector`` matches ``pattern``; return its text."""
    page.wait_for_function(
        """([selector, pattern]) => {
            const node = document.querySelector(selector);
            if (!node) return false;
            const field = node.querySelector('textarea, input');
            const text = field ? field.value : node.innerText;
            return new RegExp(pattern).test(text);
        }""",
        arg=[selector, pattern],
        timeout=timeout,
    )
    field = page.locator(f"{selector} textarea, {selector} input")
    return field.first.input_value() if field.count() else page.locator(selector).inner_text()


def click_and_wait(page, button: str, selector: str, pattern: str) -> str:
    """Click ``button``, then wait for ``selector`` to match ``pattern`` or for an error toast.

    An error toast fails the test at once, with the app's message, instead of a timeout.
    """
    page.click(button)
    page.wait_for_function(
        """([selector, pattern]) => {
            if (document.querySelector('[data-testid="toast-body"]')) return true;
            const node = document.querySelector(selector);
            if (!node) return false;
            const field = node.querySelector('textarea, input');
            return new RegExp(pattern).test(field ? field.value : node.innerText);
        }""",
        arg=[selector, pattern],
        timeout=TIMEOUT,
    )
    toast = page.locator('[data-testid="toast-body"]')
    if toast.count():
        pytest.fail(f"the app showed an error: {toast.first.inner_text()}")
    return wait_for_text(page, selector, pattern)


def expect_error(page, text: str) -> None:
    """Wait for an error toast with ``text``, then until it has gone (gradio shows it 10 s).

    Waiting it out, rather than clicking its close button, avoids racing its fade-out; and a
    later :func:`click_and_wait` then only sees toasts of its own click.
    """
    page.locator('[data-testid="toast-body"]', has_text=text).first.wait_for(timeout=TIMEOUT)
    page.locator('[data-testid="toast-body"]').first.wait_for(state="detached", timeout=TIMEOUT)


def wait_for_image(page, selector: str) -> None:
    page.locator(f"{selector} img").first.wait_for(state="visible", timeout=TIMEOUT)


def drag(page, box: dict, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag between two points given as fractions of ``box``."""
    x0, y0 = box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"]
    x1, y1 = box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 16):
        page.mouse.move(x0 + (x1 - x0) * step / 15, y0 + (y1 - y0) * step / 15)
    page.mouse.up()


def draw_until_marked(page, box: dict, start, end, pattern: str, tries: int = 4) -> str:
    """Drag until the app reports the stroke in the marks box (matching ``pattern``).

    Right after an image is loaded the editor's canvas may not take input yet, and exporting
    the layers takes the browser a while (software WebGL); the server's description of the
    marks is the sign that a stroke landed and reached it. Clicking Run before that would
    send the editor's previous value. A lost first stroke is common, so each try waits 15 s
    (a stroke that lands shows in about a second) rather than the whole minute.
    """
    for _ in range(tries):
        drag(page, box, start, end)
        try:
            return wait_for_text(page, "#grabcut-marks", pattern, timeout=TIMEOUT // 4)
        except PlaywrightTimeoutError:
            continue
    pytest.fail(f"the editor did not take a stroke in {tries} drags")


def pick_brush_colour(page, rgb: tuple[int, int, int]) -> None:
    page.click("#grabcut-editor button[aria-label=Color]")
    page.click(f'#grabcut-editor button.color[style*="rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"]')


def test_classical_upload_draw_grabcut_refine(page, tmp_path):
    from seglab.web.handlers import BACKGROUND_COLOR

    # The start-up sample must be in before the upload, or it would replace the upload.
    wait_for_text(page, "#classical-source", "sample 'chelsea'")
    Image.fromarray(load_sample("chelsea")).save(tmp_path / "kitten.png")
    page.locator("#classical-upload input[type=file]").set_input_files(tmp_path / "kitten.png")
    wait_for_text(page, "#classical-source", r"kitten\.png: 451 x 300 pixels")

    # Draw the rectangle: one red diagonal drag across the cat's face on the editor canvas.
    canvas = page.locator("#grabcut-editor canvas").first
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    marks = draw_until_marked(page, box, (0.25, 0.3), (0.7, 0.75), r"rectangle \(")
    assert "rectangle" in marks
    info = click_and_wait(page, "#grabcut-run", "#grabcut-info", r"round 1: [0-9.]+% foreground")
    fraction = float(re.search(r"([0-9.]+)% foreground", info).group(1))
    assert 5 <= fraction <= 95, info
    x0, y0, x1, y1 = map(int, re.search(r"rectangle \((\d+), (\d+), (\d+), (\d+)\)", info).groups())
    assert 0 <= x0 < x1 <= 451 and 0 <= y0 < y1 <= 300 and (x1 - x0) * (y1 - y0) > 2000
    wait_for_image(page, "#grabcut-overlay")
    wait_for_image(page, "#grabcut-cutout")

    # Refine: a blue (background) stroke, continuing from the kept GrabCut state.
    pick_brush_colour(page, BACKGROUND_COLOR)
    draw_until_marked(page, box, (0.3, 0.35), (0.3, 0.7), r"px background")
    refined = click_and_wait(
        page, "#grabcut-refine", "#grabcut-info", r"round 2: [0-9.]+% foreground"
    )
    assert float(re.search(r"([0-9.]+)% foreground", refined).group(1)) <= fraction + 1
    page.evaluate("window.getSelection().removeAllRanges()")  # a drag may select the label
    screenshot(page, "classical")

    page.get_by_role("tab", name="SLIC").click()
    click_and_wait(page, "#slic-run", "#slic-info", r"\d+ superpixels")
    wait_for_image(page, "#slic-output")
    screenshot(page, "slic")


def test_model_tab_pet_model(page):
    page.get_by_role("tab", name="Model").click()
    info = click_and_wait(page, "#model-run", "#model-info", r"pet: [0-9.]+%")
    pet = float(re.search(r"pet: ([0-9.]+)%", info).group(1))
    assert 5 <= pet <= 95, info
    wait_for_image(page, "#model-output")
    page.locator('#model-files td.filename[aria-label="chelsea_mask.png"]').first.wait_for(
        timeout=TIMEOUT
    )
    screenshot(page, "model")


def test_evaluate_tab_and_bad_input(page, tmp_path):
    yy, xx = np.mgrid[:120, :160]
    target = ((yy - 60) ** 2 + (xx - 80) ** 2 < 40**2).astype(np.uint8)
    pred = ((yy - 66) ** 2 + (xx - 88) ** 2 < 38**2).astype(np.uint8)
    target[:4] = 255  # a void border row, ignored
    Image.fromarray(pred).save(tmp_path / "pred.png")
    Image.fromarray(target).save(tmp_path / "truth.png")
    Image.fromarray(target[:100]).save(tmp_path / "cropped.png")
    (tmp_path / "notes.txt").write_text("not a picture")

    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#evaluate-pred input[type=file]").set_input_files(tmp_path / "pred.png")
    # A mismatched pair: the message shows in the page...
    page.locator("#evaluate-target input[type=file]").set_input_files(tmp_path / "cropped.png")
    page.locator('#evaluate-target td.filename[aria-label="cropped.png"]').first.wait_for()
    page.click("#evaluate-run")
    expect_error(page, "the masks differ in size: prediction is 160 x 120")
    # ...and the server keeps serving: the right pair is scored.
    page.click("#evaluate-target button[aria-label=Clear]")
    page.locator("#evaluate-target input[type=file]").set_input_files(tmp_path / "truth.png")
    page.locator('#evaluate-target td.filename[aria-label="truth.png"]').first.wait_for()
    summary = click_and_wait(page, "#evaluate-run", "#evaluate-summary", r"mIoU[\s\S]*0\.\d{4}")
    assert "mIoU" in summary
    wait_for_image(page, "#evaluate-confusion")
    # The per-class table: two rows (classes 0 and 1) of four-decimal scores.
    page.wait_for_function(
        "() => (document.querySelector('#evaluate-table')?.textContent.match(/0\\.\\d{4}/g) || [])"
        ".length >= 6",
        timeout=TIMEOUT,
    )
    screenshot(page, "evaluate")

    # Not an image, in the model tab.
    page.get_by_role("tab", name="Model").click()
    page.locator("#model-upload input[type=file]").set_input_files(tmp_path / "notes.txt")
    page.locator('#model-upload td.filename[aria-label="notes.txt"]').first.wait_for()
    page.click("#model-run")
    expect_error(page, "notes.txt: not an image")
