"""COCO JSON: polygons and RLE checked against pycocotools' own COCO API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from scipy import ndimage

from seglab.annotations.coco import (
    coco_to_masks,
    mask_to_rle,
    masks_to_coco,
    object_annotation,
    read_coco,
    segmentation_to_mask,
    validate_coco,
    write_coco,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")

NAMES = ["background", "cat", "dog"]


def sample_masks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = {}
    for index in range(3):
        mask = np.zeros((40, 50), np.uint8)
        blobs = ndimage.gaussian_filter(rng.random((40, 50)), 3)
        mask[blobs > 0.52] = 1
        mask[blobs < 0.47] = 2
        mask[10:20, 10:20] = 1
        mask[13:17, 13:17] = 0  # a hole
        mask[0:3, 0:3] = 255  # void: not annotated
        masks[f"img{index}.jpg"] = mask
    return masks


def pycocotools_masks(path) -> dict[str, np.ndarray]:
    """The reference: pycocotools' COCO API, objects painted largest first."""
    api = COCO(str(path))
    result = {}
    for image in api.dataset["images"]:
        canvas = np.zeros((image["height"], image["width"]), np.uint8)
        annotations = api.loadAnns(api.getAnnIds(imgIds=image["id"]))
        for annotation in sorted(annotations, key=lambda a: -a["area"]):
            canvas[api.annToMask(annotation).astype(bool)] = annotation["category_id"]
        result[image["file_name"]] = canvas
    return result


@pytest.mark.parametrize("encoding", ["polygon", "rle"])
def test_masks_round_trip_through_pycocotools(tmp_path, encoding):
    masks = sample_masks()
    coco = masks_to_coco(masks, NAMES, encoding=encoding)
    write_coco(tmp_path / "ann.json", coco)
    expected = {name: np.where(mask == 255, 0, mask) for name, mask in masks.items()}
    theirs = pycocotools_masks(tmp_path / "ann.json")
    ours = coco_to_masks(read_coco(tmp_path / "ann.json"))
    for name in masks:
        assert np.array_equal(theirs[name], expected[name])
        assert np.array_equal(ours[name], expected[name])
    # area and bbox are what pycocotools computes from the mask.
    api = COCO(str(tmp_path / "ann.json"))
    for annotation in coco["annotations"]:
        rle = api.annToRLE(annotation)
        assert annotation["area"] == int(coco_mask.area(rle))
        assert annotation["bbox"] == pytest.approx(coco_mask.toBbox(rle).tolist())
        assert annotation["iscrowd"] == 0
    assert coco["categories"] == [
        {"id": 1, "name": "cat", "supercategory": ""},
        {"id": 2, "name": "dog", "supercategory": ""},
    ]


def test_one_annotation_per_connected_component_and_holes_survive():
    mask = np.zeros((20, 20), np.uint8)
    mask[2:12, 2:12] = 1
    mask[5:9, 5:9] = 0
    mask[15:18, 15:18] = 1
    coco = masks_to_coco({"a.png": mask}, ["bg", "thing"])
    assert len(coco["annotations"]) == 2
    assert [a["area"] for a in coco["annotations"]] == [100 - 16, 9]
    # A part with a hole is one keyhole polygon: COCO unions separate polygons.
    assert all(len(a["segmentation"]) == 1 for a in coco["annotations"])


def test_budget_limits_every_object():
    masks = sample_masks()
    coco = masks_to_coco(masks, NAMES, max_vertices=8)
    for annotation in coco["annotations"]:
        assert sum(len(flat) // 2 for flat in annotation["segmentation"]) <= 8 + 2 * 4
    fields = object_annotation([np.array([[0, 0], [4, 0], [4, 4], [0, 4]])], 6, 6, max_vertices=3)
    assert len(fields["segmentation"][0]) == 6


def test_reads_uncompressed_and_compressed_rle_and_crowds():
    mask = np.zeros((6, 7), bool)
    mask[1:4, 2:6] = True
    compressed = mask_to_rle(mask)
    assert isinstance(compressed["counts"], str)
    # Uncompressed: column-major run lengths, starting with a background run.
    runs = [int(v) for v in np.diff(np.flatnonzero(np.diff(np.r_[-1, mask.T.ravel(), -1])))]
    uncompressed = {"size": [6, 7], "counts": runs if mask.T.ravel()[0] == 0 else [0, *runs]}
    assert np.array_equal(segmentation_to_mask(compressed, 6, 7), mask)
    assert np.array_equal(segmentation_to_mask(uncompressed, 6, 7), mask)
    data = {
        "images": [{"id": 7, "file_name": "x.jpg", "height": 6, "width": 7}],
        "categories": [{"id": 3, "name": "crowd"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "segmentation": uncompressed, "iscrowd": 1}
        ],
    }
    assert np.array_equal(coco_to_masks(data)["x.jpg"], mask * 3)
    assert np.array_equal(coco_to_masks(data, class_names=["bg", "crowd"])["x.jpg"], mask * 1)


def test_small_objects_are_painted_over_large_ones():
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 6, "width": 6}],
        "categories": [{"id": 1, "name": "small"}, {"id": 2, "name": "large"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 4, 2, 4, 4, 2, 4]]},
            {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [[0, 0, 6, 0, 6, 6, 0, 6]]},
        ],
    }
    expected = np.full((6, 6), 2, np.uint8)
    expected[2:4, 2:4] = 1
    assert np.array_equal(coco_to_masks(data)["a.jpg"], expected)


def valid():
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2]]}
        ],
    }


def broken(path: str, value):
    """A valid COCO dict with one field replaced (path like 'annotations.0.segmentation')."""
    data = valid()
    keys = path.split(".")
    target = data
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("images", {}, r"ann.json: images: expected a list"),
        ("categories", KeyError, r"ann.json: categories: missing"),
        ("images.0.id", "1", r"images\[0\].id: expected a unique integer"),
        ("images.0.file_name", 3, r"images\[0\].file_name: expected a string"),
        ("images.0.height", 0, r"images\[0\].height: expected a positive integer, got 0"),
        ("images.0.width", KeyError, r"images\[0\].width: missing"),
        ("categories.0.id", None, r"categories\[0\].id: expected a unique integer"),
        ("categories.0.name", 1, r"categories\[0\].name: expected a string"),
        ("annotations.0.image_id", 9, r"annotations\[0\].image_id: 9 is not an image id"),
        ("annotations.0.category_id", 5, r"annotations\[0\].category_id: 5 is not a category id"),
        ("annotations.0.iscrowd", 2, r"annotations\[0\].iscrowd: expected 0 or 1, got 2"),
        ("annotations.0.segmentation", KeyError, r"annotations\[0\].segmentation: missing"),
        ("annotations.0.segmentation", "x", r"segmentation: expected a list of polygons or an RLE"),
        ("annotations.0.segmentation", [[0, 0, 1]], r"segmentation\[0\]: expected a flat list"),
        (
            "annotations.0.segmentation",
            [[0, 0, "a", 1]],
            r"segmentation\[0\]: expected a flat list",
        ),
        ("annotations.0.segmentation", [[0, 0, 1, float("nan")]], r"segmentation\[0\]: .*finite"),
        ("annotations.0.segmentation", {"size": [4, 4]}, r"segmentation.counts: missing"),
        (
            "annotations.0.segmentation",
            {"size": [4, 5], "counts": "0"},
            r"segmentation.size: \[4, 5\] differs",
        ),
        (
            "annotations.0.segmentation",
            {"size": [4, 4], "counts": 3},
            r"segmentation.counts: expected a string",
        ),
        (
            "annotations.0.segmentation",
            {"size": [4, 4], "counts": [3, -1]},
            r"counts: expected non-negative",
        ),
        (
            "annotations.0.segmentation",
            {"size": [4, 4], "counts": [3, 4]},
            r"counts: sum 7 != H\*W = 16",
        ),
    ],
)
def test_validation_names_file_and_field(tmp_path, path, value, message):
    (tmp_path / "ann.json").write_text(json.dumps(broken(path, value)))
    with pytest.raises(ValueError, match=message):
        read_coco(tmp_path / "ann.json")


def test_other_errors(tmp_path):
    with pytest.raises(ValueError, match=r"ann.json: \(top level\): expected a JSON object"):
        validate_coco([], "ann.json")
    duplicate = valid()
    duplicate["images"].append(dict(duplicate["images"][0]))
    with pytest.raises(ValueError, match=r"images\[1\].id: expected a unique integer, got 1"):
        validate_coco(duplicate)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_coco(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_coco(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="out.json: images: expected a list"):
        write_coco(tmp_path / "out.json", {"images": 1, "annotations": [], "categories": []})
    with pytest.raises(ValueError, match="encoding must be one of polygon, rle; got 'png'"):
        masks_to_coco({}, NAMES, encoding="png")
    with pytest.raises(ValueError, match="encoding must be one of polygon, rle"):
        object_annotation([np.eye(3)], 4, 4, encoding="bitmap")
    with pytest.raises(ValueError, match=r"a.jpg: mask value 3 has no class name \(3 names given"):
        masks_to_coco({"a.jpg": np.full((2, 2), 3)}, NAMES)
    with pytest.raises(ValueError, match=r"a.jpg: mask must be 2-D"):
        masks_to_coco({"a.jpg": np.zeros((2, 2, 3))}, NAMES)
    with pytest.raises(ValueError, match=r"mask must be 2-D"):
        mask_to_rle(np.zeros(3))
    with pytest.raises(ValueError, match=r"RLE size \[2, 2\] differs from the image size \[3, 3\]"):
        segmentation_to_mask(mask_to_rle(np.zeros((2, 2))), 3, 3)
    with pytest.raises(ValueError, match=r"categories\[0\].name: 'cat' is not in class_names"):
        coco_to_masks(valid(), class_names=["bg", "dog"])
    big_id = valid()
    big_id["categories"][0]["id"] = big_id["annotations"][0]["category_id"] = 300
    with pytest.raises(ValueError, match=r"categories\[0\].id: 300 cannot be a mask index"):
        coco_to_masks(big_id)
