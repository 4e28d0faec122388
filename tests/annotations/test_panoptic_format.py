"""Tests of the COCO panoptic format: id <-> RGB encoding, segments_info, PNG and JSON files."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from PIL import Image

from seglab.annotations.panoptic_format import (
    MAX_SEGMENT_ID,
    ids_to_rgb,
    make_segments_info,
    read_panoptic,
    read_panoptic_json,
    read_panoptic_png,
    rgb_to_ids,
    validate_panoptic_json,
    write_panoptic_json,
    write_panoptic_png,
)


def test_encoding_matches_the_panopticapi_formula():
    ids = np.array([[0, 1, 255, 256], [65536, 1000000, MAX_SEGMENT_ID, 7]])
    rgb = ids_to_rgb(ids)
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    np.testing.assert_array_equal(r + 256 * g + 256 * 256 * b, ids)  # panopticapi's rgb2id
    assert rgb[0, 3].tolist() == [0, 1, 0] and rgb[1, 0].tolist() == [0, 0, 1]
    np.testing.assert_array_equal(rgb_to_ids(rgb), ids)


def test_segments_info_against_a_loop():
    rng = np.random.default_rng(0)
    ids = rng.choice([0, 3, 17, 300], size=(9, 13))
    segments = make_segments_info(ids, {3: 1, 17: 2, 300: 1, 99: 5}, iscrowd={17: 1})
    assert [s["id"] for s in segments] == [3, 17, 300]
    for segment in segments:
        ys, xs = np.nonzero(ids == segment["id"])
        assert segment["area"] == len(ys)
        assert segment["bbox"] == [
            xs.min(),
            ys.min(),
            xs.max() - xs.min() + 1,
            ys.max() - ys.min() + 1,
        ]
    assert [s["iscrowd"] for s in segments] == [0, 1, 0]
    assert [s["category_id"] for s in segments] == [1, 2, 1]


def test_png_and_json_round_trip(tmp_path):
    ids = np.array([[0, 5, 5], [70000, 70000, 5]])
    write_panoptic_png(tmp_path / "pan" / "0001.png", ids)
    assert Image.open(tmp_path / "pan" / "0001.png").mode == "RGB"
    np.testing.assert_array_equal(read_panoptic_png(tmp_path / "pan" / "0001.png"), ids)
    data = {
        "images": [{"id": 1, "file_name": "0001.jpg", "height": 2, "width": 3}],
        "annotations": [
            {
                "image_id": 1,
                "file_name": "0001.png",
                "segments_info": make_segments_info(ids, {5: 1, 70000: 2}),
            }
        ],
        "categories": [
            {"id": 1, "name": "person", "isthing": 1},
            {"id": 2, "name": "sky", "isthing": 0},
        ],
    }
    write_panoptic_json(tmp_path / "panoptic.json", data)
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = read_panoptic_json(tmp_path / "panoptic.json")
    assert loaded == data
    panoptic, segments = read_panoptic(loaded["annotations"][0], tmp_path / "pan")
    np.testing.assert_array_equal(panoptic, ids)
    assert segments == data["annotations"][0]["segments_info"]


def test_read_panoptic_checks_png_against_json(tmp_path):
    ids = np.array([[1, 2]])
    write_panoptic_png(tmp_path / "a.png", ids)
    only_one = {"file_name": "a.png", "segments_info": [{"id": 1, "category_id": 1}]}
    with pytest.raises(ValueError, match=r"ids \[2\] are in the PNG but not in segments_info"):
        read_panoptic(only_one, tmp_path)
    three = {
        "file_name": "a.png",
        "segments_info": [{"id": i, "category_id": 1} for i in (1, 2, 3)],
    }
    with pytest.raises(ValueError, match=r"ids \[3\] are in segments_info but not in the PNG"):
        read_panoptic(three, tmp_path)


def test_id_map_errors():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB array"):
        rgb_to_ids(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"panoptic map must be \(H, W\)"):
        ids_to_rgb(np.zeros((2, 2, 2), int))
    with pytest.raises(TypeError, match="integer segment ids"):
        ids_to_rgb(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="segment ids must be in"):
        ids_to_rgb(np.array([[MAX_SEGMENT_ID + 1]]))
    with pytest.raises(ValueError, match=r"segment ids \[4\] have no entry"):
        make_segments_info(np.array([[4, 0]]), {})


def valid_json() -> dict:
    return {
        "annotations": [
            {
                "image_id": 1,
                "file_name": "1.png",
                "segments_info": [{"id": 1, "category_id": 1, "iscrowd": 0}],
            }
        ],
        "categories": [{"id": 1, "isthing": 1}],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("categories"), "categories: missing"),
        (lambda d: d.update(annotations={}), "annotations: expected a list"),
        (lambda d: d["categories"][0].update(id="1"), r"categories\[0\].id: expected an integer"),
        (lambda d: d["categories"][0].update(isthing=2), r"isthing: expected 0 or 1"),
        (lambda d: d["annotations"][0].update(file_name=3), "file_name: expected a string"),
        (lambda d: d["annotations"][0].update(segments_info={}), "expected a list of segment"),
        (
            lambda d: d["annotations"][0]["segments_info"][0].update(category_id=1.5),
            r"segments_info\[0\].category_id: expected an integer",
        ),
        (
            lambda d: d["annotations"][0]["segments_info"].append({"id": 1, "category_id": 1}),
            r"segments_info\[1\].id: expected a unique id",
        ),
        (
            lambda d: d["annotations"][0]["segments_info"][0].update(id=0),
            "expected a unique id in",
        ),
        (
            lambda d: d["annotations"][0]["segments_info"][0].update(iscrowd=3),
            "iscrowd: expected 0 or 1",
        ),
        (
            lambda d: d["annotations"][0]["segments_info"][0].update(category_id=9),
            "9 is not a category id",
        ),
    ],
)
def test_json_validation_names_the_field(change, message):
    data = valid_json()
    change(data)
    with pytest.raises(ValueError, match=message):
        validate_panoptic_json(data, "pan.json")


def test_json_top_level():
    with pytest.raises(ValueError, match="expected an object with annotations and categories"):
        validate_panoptic_json([], "pan.json")
    assert validate_panoptic_json(valid_json()) == valid_json()


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.annotations.panoptic_format"))
    assert results.attempted > 0 and results.failed == 0
