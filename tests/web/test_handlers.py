"""The web app's handlers as plain functions: no gradio, no browser."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from seglab.web import handlers
from seglab.web.validate import InputError


def paint(layer: np.ndarray, colour, rows, cols) -> None:
    layer[rows, cols, :3] = colour
    layer[rows, cols, 3] = 255


# ----------------------------------------------------------------------------------- input
def test_load_input_sample_and_upload(tmp_path):
    image, info = handlers.load_input(None, "coins")
    assert image.shape == (303, 384, 3) and "sample 'coins': 384 x 303" in info
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "mine.png")
    image, info = handlers.load_input(str(tmp_path / "mine.png"), "coins")  # upload wins
    assert image.shape == (4, 5, 3) and info == "mine.png: 5 x 4 pixels"


def test_load_input_needs_something():
    with pytest.raises(InputError, match="upload an image or pick a sample"):
        handlers.load_input(None, None)


def test_load_input_unknown_sample():
    with pytest.raises(ValueError, match="unknown sample 'dog'"):
        handlers.load_input(None, "dog")


# ----------------------------------------------------------------------------- SLIC, NCut
def test_slic_view(square_image):
    picture, info = handlers.slic_view(square_image, 20, 10)
    assert picture.shape == square_image.shape and picture.dtype == np.uint8
    assert "superpixels" in info
    assert (picture == (255, 255, 0)).all(-1).any()  # yellow boundaries are drawn


def test_ncut_view(square_image):
    picture, info = handlers.ncut_view(square_image, 3, "rag")
    assert picture.shape == square_image.shape and "segments (rag)" in info


# ------------------------------------------------------------------------------- GrabCut
def test_marks_from_layer():
    layer = np.zeros((60, 80, 4), np.uint8)
    for k in range(30):  # a diagonal drag from (20, 15) to (59, 44)
        paint(layer, handlers.RECT_COLOR, slice(15 + k, 16 + k), slice(20 + k, 22 + k + 9))
    paint(layer, handlers.FOREGROUND_COLOR, slice(28, 31), slice(38, 41))
    paint(layer, handlers.BACKGROUND_COLOR, slice(2, 4), slice(2, 6))
    layer[50, 5] = (*handlers.FOREGROUND_COLOR, 40)  # the faint rim of a stroke: ignored
    marks = handlers.marks_from_layer(layer, (60, 80))
    assert marks.rect == (20, 15, 60, 45)
    assert marks.foreground.sum() == 9 and marks.foreground[29, 39]
    assert marks.background.sum() == 8 and marks.has_strokes
    assert handlers.describe_marks(marks) == (
        "rectangle (20, 15, 60, 45); 9 px foreground; 8 px background"
    )


def test_marks_resized_to_the_image():
    layer = np.zeros((30, 40, 4), np.uint8)
    paint(layer, handlers.RECT_COLOR, slice(5, 10), slice(10, 20))
    marks = handlers.marks_from_layer(layer, (60, 80))
    assert marks.rect == (20, 10, 40, 20)


def test_no_marks():
    for layer in (None, np.zeros((6, 8, 3), np.uint8), np.zeros((6, 8, 4), np.uint8)):
        marks = handlers.marks_from_layer(layer, (6, 8))
        assert marks.rect is None and not marks.has_strokes
        assert handlers.describe_marks(marks) == "no rectangle yet"


def test_grabcut_then_refine_continues_from_the_state(square_image):
    session = handlers.start_grabcut(square_image, (10, 8, 70, 52))
    truth = np.zeros(square_image.shape[:2], bool)
    truth[15:45, 20:60] = True
    assert session.rounds == 1
    assert (session.labels.astype(bool) == truth).mean() > 0.97
    assert 0.05 < session.foreground_fraction < 0.95

    strokes = np.zeros_like(truth)
    strokes[15:45, 20:30] = True  # "this part is background"
    refined = handlers.refine_session(session, background=strokes)
    assert refined.rounds == 2 and refined.rect == session.rect
    assert not refined.labels[strokes].any()
    assert refined.foreground_fraction < session.foreground_fraction
    # The first session is untouched: each round makes a new state.
    assert session.labels[strokes].all()

    again = handlers.refine_session(refined, foreground=strokes[:, ::-1] & truth)
    assert again.rounds == 3

    overlay, cut, info = handlers.grabcut_views(again)
    assert overlay.shape == square_image.shape and cut.shape == (*truth.shape, 4)
    np.testing.assert_array_equal(cut[..., 3] > 0, again.labels > 0)
    assert info.startswith("round 3:") and "% foreground" in info


def test_grabcut_with_strokes_in_the_first_round(square_image):
    fg = np.zeros(square_image.shape[:2], bool)
    fg[30, 40] = True
    session = handlers.start_grabcut(square_image, (10, 8, 70, 52), foreground=fg)
    assert session.rounds == 1 and session.labels[30, 40] == 1


def test_overlapping_strokes_background_wins(square_image):
    session = handlers.start_grabcut(square_image, (10, 8, 70, 52))
    both = np.zeros(square_image.shape[:2], bool)
    both[30:33, 40:43] = True
    refined = handlers.refine_session(session, foreground=both, background=both)
    assert not refined.labels[both].any()


def test_rect_errors(square_image):
    with pytest.raises(InputError, match="no rectangle: drag across the object"):
        handlers.start_grabcut(square_image, None)
    with pytest.raises(InputError, match="too small or outside"):
        handlers.start_grabcut(square_image, (5, 5, 6, 40))
    with pytest.raises(InputError, match="covers the whole image"):
        handlers.start_grabcut(square_image, (-3, 0, 500, 500))


def test_refine_errors(square_image):
    session = handlers.start_grabcut(square_image, (10, 8, 70, 52))
    with pytest.raises(InputError, match="no strokes to refine with"):
        handlers.refine_session(session)
    with pytest.raises(InputError, match="foreground strokes are"):
        handlers.refine_session(session, foreground=np.ones((3, 3), bool))


# -------------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return handlers.ModelRunner(out_dir=tmp_path_factory.mktemp("web_out"))


def test_pet_model(runner):
    from seglab.io import read_mask
    from seglab.samples import load_sample

    image = load_sample("chelsea")[::2, ::2]
    output = runner.run(handlers.PET_MODEL, image, stem="cat")
    assert output.picture.shape == image.shape
    (mask_path,) = output.files
    assert mask_path.name == "cat_mask.png"
    mask = read_mask(mask_path)
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 1}
    assert 0.05 < (mask == 1).mean() < 0.95  # the cat is found, not everything
    assert "pet model (shipped)" in output.info
    assert runner.names[0] == handlers.PET_MODEL


def test_unknown_model_and_missing_checkpoint(runner, tmp_path):
    with pytest.raises(InputError, match="unknown model 'nope'; choose one of pet model"):
        runner.run("nope", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        handlers.ModelRunner([tmp_path / "missing.pt"])


def test_instance_checkpoint_gives_colours_and_coco_json(tmp_path):
    """The instance hook: a (random) Panoptic-DeepLab checkpoint gives label PNG + COCO JSON."""
    import torch

    from seglab.checkpoint import save_checkpoint
    from seglab.models.panoptic_deeplab import create_instance_model

    torch.manual_seed(0)
    model = create_instance_model("panoptic_deeplab", base_channels=4)
    path = tmp_path / "nuclei.pt"
    save_checkpoint(
        path,
        {
            "model": model.config,
            "state_dict": model.state_dict(),
            "class_names": ["background", "nucleus"],
            "task": "instance",
            # A low threshold so that even random weights give some instances.
            "grouping": {"threshold": 0.0, "foreground_threshold": 0.0},
        },
    )
    runner = handlers.ModelRunner([path], out_dir=tmp_path / "out")
    assert runner.names[0] == handlers.PET_MODEL and runner.names[-1] == "nuclei.pt"
    image = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    output = runner.run("nuclei.pt", image, stem="cells")
    label_path, coco_path = output.files
    assert label_path.name == "cells_instances.png" and coco_path.name == "cells_coco.json"
    labels = np.asarray(Image.open(label_path))
    assert labels.shape == (32, 48)
    records = json.loads(coco_path.read_text())
    assert len(records) == len(np.unique(labels[labels > 0]))
    assert "instances" in output.info


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_masks_hand_computed():
    pred = np.array([[0, 1], [1, 1]])
    target = np.array([[0, 1], [0, 255]])
    result = handlers.evaluate_masks(pred, target)
    np.testing.assert_array_equal(result.matrix, [[1, 1], [0, 1]])
    assert result.summary == {
        "pixel_accuracy": round(2 / 3, 4),
        "mean_pixel_accuracy": 0.75,
        "miou": 0.5,
        "mean_dice": round((2 / 3 + 2 / 3) / 2, 4),
    }
    assert result.rows == [["0", 0.5, 0.6667, 0.5], ["1", 0.5, 0.6667, 1.0]]
    png = result.confusion_png()
    assert png.startswith(b"\x89PNG")
    assert json.loads(result.to_json())["summary"]["miou"] == 0.5


def test_evaluate_masks_class_count():
    pred = np.array([[0, 3]])
    result = handlers.evaluate_masks(pred, np.array([[0, 3]]))
    assert len(result.rows) == 4  # inferred from the largest label
    with pytest.raises(InputError, match="do not fit 2 classes"):
        handlers.evaluate_masks(pred, np.array([[0, 1]]), num_classes=2)


def test_evaluate_files_and_mismatch(tmp_path):
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "pred.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "gt.png")
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "other.png")
    result = handlers.evaluate_files(tmp_path / "pred.png", tmp_path / "gt.png")
    assert result.summary["pixel_accuracy"] == 1.0
    with pytest.raises(InputError, match="the masks differ in size: prediction is 6 x 4"):
        handlers.evaluate_files(tmp_path / "pred.png", tmp_path / "other.png")
    with pytest.raises(InputError, match="upload both"):
        handlers.evaluate_files(None, tmp_path / "gt.png")


def test_old_result_folders_are_pruned(tmp_path):
    runner = handlers.ModelRunner(out_dir=tmp_path)
    runner.keep = 2
    image = np.full((32, 32, 3), 128, np.uint8)
    outputs = [runner.run(handlers.PET_MODEL, image) for _ in range(4)]
    folders = [entry for entry in tmp_path.iterdir() if entry.is_dir()]
    assert len(folders) <= 3  # the keep limit, plus the newest folder being written
    assert outputs[-1].files[0].is_file()
