"""LabelMe JSON: shapes, painting order, round trips and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from seglab.annotations.labelme import (
    labelme_to_mask,
    mask_to_labelme,
    read_labelme,
    shape_to_mask,
    validate_labelme,
    write_labelme,
)

NAMES = ["_background_", "cat", "dog"]


def document(*shapes, height=6, width=8):
    return {
        "version": "5.0.1",
        "flags": {},
        "shapes": list(shapes),
        "imagePath": "a.jpg",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


def shape(label, points, shape_type="polygon"):
    return {
        "label": label,
        "points": points,
        "shape_type": shape_type,
        "group_id": None,
        "flags": {},
    }


def test_shape_types_rasterise_as_expected():
    rectangle = shape("cat", [[5, 4], [1, 1]], "rectangle")  # corners in any order
    expected = np.zeros((6, 8), bool)
    expected[1:4, 1:5] = True
    assert np.array_equal(shape_to_mask(rectangle, 6, 8), expected)
    four_corners = shape("cat", [[1, 1], [5, 1], [5, 4], [1, 4]], "rectangle")
    assert np.array_equal(shape_to_mask(four_corners, 6, 8), expected)
    # A circle: pixel centres within the radius, centre (4, 3), radius 2.
    circle = shape("cat", [[4, 3], [6, 3]], "circle")
    ys, xs = np.mgrid[:6, :8] + 0.5
    assert np.array_equal(shape_to_mask(circle, 6, 8), (xs - 4) ** 2 + (ys - 3) ** 2 <= 4)
    # A missing shape_type means polygon (old LabelMe files).
    triangle = {"label": "cat", "points": [[0, 0], [8, 0], [0, 6]]}
    assert np.array_equal(shape_to_mask(triangle, 6, 8), xs / 8 + ys / 6 < 1)


def test_later_shapes_paint_over_earlier_ones_and_background_cuts():
    data = document(
        shape("cat", [[0, 0], [8, 0], [8, 6], [0, 6]]),
        shape("dog", [[2, 2], [6, 2], [6, 4], [2, 4]], "polygon"),
        shape("_background_", [[3, 2], [4, 2], [4, 3], [3, 3]]),
    )
    expected = np.ones((6, 8), np.uint8)
    expected[2:4, 2:6] = 2
    expected[2, 3] = 0
    assert np.array_equal(labelme_to_mask(data, NAMES), expected)


def test_mask_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    blobs = ndimage.gaussian_filter(rng.random((30, 40)), 2.5)
    mask = np.zeros((30, 40), np.uint8)
    mask[blobs > 0.52] = 1
    mask[blobs < 0.47] = 2
    mask[5:15, 5:15] = 1
    mask[8:12, 8:12] = 0  # a hole, written as a keyhole polygon
    mask[20:22, 0:2] = 255  # void: no shape
    data = mask_to_labelme(mask, NAMES, image_path="../images/a.jpg")
    write_labelme(tmp_path / "a.json", data)
    back = read_labelme(tmp_path / "a.json")
    assert back["imagePath"] == "../images/a.jpg" and back["imageData"] is None
    assert {s["label"] for s in back["shapes"]} == {"cat", "dog"}
    assert np.array_equal(labelme_to_mask(back, NAMES), np.where(mask == 255, 0, mask))
    simplified = mask_to_labelme(mask, NAMES, image_path="a.jpg", max_vertices=6)
    assert all(len(s["points"]) <= 6 + 2 * 3 for s in simplified["shapes"])


def test_validation_names_file_and_field(tmp_path):
    cases = [
        (
            document(shape("cat", [[0, 0], [1, 1], [2]])),
            r"bad.json: shapes\[0\].points: expected a list of \[x, y\] pairs",
        ),
        (document(shape("cat", "0,0")), r"shapes\[0\].points: expected a list of \[x, y\] pairs"),
        (document(shape("cat", [[0, 0], [1, True]])), r"shapes\[0\].points: expected a list"),
        (
            document(shape("cat", [[0, 0], [1, 1]])),
            r"shapes\[0\].points: a polygon needs at least 3 points, got 2",
        ),
        (
            document(shape("cat", [[0, 0], [1, 1], [2, 2]], "rectangle")),
            r"a rectangle needs 2 or 4 points, got 3",
        ),
        (document(shape("cat", [[0, 0]], "circle")), r"a circle needs 2 points, got 1"),
        (
            document(shape("cat", [[0, 0], [1, 0], [0, float("inf")]])),
            r"points: coordinates must be finite",
        ),
        (
            document(shape("cat", [[0, 0], [1, 1]], "line")),
            r"shapes\[0\].shape_type: 'line' is not supported; supported: circle, polygon, rectangle",
        ),
        (
            document(shape("", [[0, 0], [1, 0], [0, 1]])),
            r"shapes\[0\].label: expected a non-empty string",
        ),
        (document({"points": []}), r"shapes\[0\].label: missing"),
        (document(5), r"shapes\[0\]: expected an object"),
        ({**document(), "imageHeight": -1}, r"imageHeight: expected a positive integer, got -1"),
        ({**document(), "imageWidth": "8"}, r"imageWidth: expected a positive integer"),
        ({**document(), "imagePath": 3}, r"imagePath: expected a string"),
        ({**document(), "shapes": {}}, r"shapes: expected a list"),
        ({"imageHeight": 2, "imageWidth": 2}, r"bad.json: shapes: missing"),
        ([], r"bad.json: \(top level\): expected a JSON object"),
    ]
    for data, message in cases:
        (tmp_path / "bad.json").write_text(json.dumps(data))
        with pytest.raises(ValueError, match=message):
            read_labelme(tmp_path / "bad.json")


def test_other_errors(tmp_path):
    with pytest.raises(ValueError, match=r"x.json: shapes: expected a list"):
        write_labelme(tmp_path / "x.json", {**document(), "shapes": None})
    data = document(shape("bird", [[0, 0], [1, 0], [0, 1]]))
    with pytest.raises(
        ValueError, match=r"a.json: shapes\[0\].label: 'bird' is not in class_names"
    ):
        labelme_to_mask(data, NAMES, source="a.json")
    with pytest.raises(ValueError, match="at most 256 classes fit a uint8 mask"):
        labelme_to_mask(document(), [str(i) for i in range(300)])
    with pytest.raises(ValueError, match=r"a.jpg: mask value 5 has no class name"):
        mask_to_labelme(np.full((2, 2), 5), NAMES, image_path="a.jpg")
    with pytest.raises(ValueError, match=r"a.jpg: mask must be 2-D"):
        mask_to_labelme(np.zeros(4), NAMES, image_path="a.jpg")
    assert validate_labelme(document())["imageWidth"] == 8
