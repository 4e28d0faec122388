"""Tests of COCO results files: RLE in and out with pycocotools, validation, atomic writes."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from seglab.annotations.coco_results import (
    decode_segmentations,
    encode_labels,
    encode_masks,
    group_results_by_image,
    instances_to_results,
    labels_to_results,
    read_coco_results,
    results_to_instances,
    validate_coco_results,
    write_coco_results,
)
from seglab.annotations.instances import Instances, labels_to_instances


@pytest.fixture
def instances() -> Instances:
    rng = np.random.default_rng(0)
    masks = rng.random((4, 9, 11)) > 0.5
    masks[3] = False  # an empty mask survives the round trip too
    return Instances(masks, category_ids=[1, 5, 5, 2], scores=[0.9, 0.5, 0.25, 0.1])


def test_round_trip(instances, tmp_path):
    results = instances_to_results(instances, image_id=42)
    assert [r["image_id"] for r in results] == [42] * 4
    assert all(isinstance(r["segmentation"]["counts"], str) for r in results)
    path = tmp_path / "sub" / "results.json"
    write_coco_results(path, results)
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write leaves no temporary file
    loaded = read_coco_results(path)
    assert loaded == json.loads(json.dumps(results))
    back = results_to_instances(loaded)
    np.testing.assert_array_equal(back.masks, instances.masks)
    np.testing.assert_array_equal(back.category_ids, instances.category_ids)
    np.testing.assert_array_equal(back.scores, instances.scores)


def test_rles_equal_pycocotools_and_load_in_coco(instances):
    results = instances_to_results(instances, image_id=1)
    for mask, record in zip(instances.masks, results, strict=True):
        reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert record["segmentation"]["counts"] == reference["counts"].decode()
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "height": 9, "width": 11}],
        "annotations": [],
        "categories": [{"id": c} for c in (1, 2, 5)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        loaded = coco.loadRes(results)
    areas = [loaded.anns[i]["area"] for i in sorted(loaded.anns)]
    assert areas == instances.areas.tolist()


def test_encode_labels_equals_dense_encoding():
    rng = np.random.default_rng(2)
    for _ in range(50):
        labels = rng.integers(0, 5, size=tuple(rng.integers(1, 20, size=2)))
        labels[rng.random(labels.shape) < 0.4] = 0
        ids, rles = encode_labels(labels * 3)
        dense = labels_to_instances(labels * 3)
        assert ids.tolist() == (np.unique(labels[labels > 0]) * 3).tolist()
        assert rles == encode_masks(dense.masks)
    assert encode_labels(np.zeros((3, 3), int))[1] == []
    assert encode_labels(np.zeros((0, 3), int))[1] == []


def test_labels_to_results():
    labels = np.array([[0, 4, 4], [9, 0, 0]])
    results = labels_to_results(labels, 3, category_ids={4: 1, 9: 2}, scores={4: 0.3, 9: 0.8})
    assert [(r["category_id"], r["score"]) for r in results] == [(1, 0.3), (2, 0.8)]
    np.testing.assert_array_equal(
        decode_segmentations([r["segmentation"] for r in results]), [labels == 4, labels == 9]
    )


def test_uncompressed_counts_and_grouping():
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    uncompressed = {"size": [3, 3], "counts": [4, 1, 4]}
    np.testing.assert_array_equal(decode_segmentations([uncompressed])[0], mask)
    records = [{"image_id": 2}, {"image_id": 1}, {"image_id": 2}]
    grouped = group_results_by_image(records)
    assert list(grouped) == [2, 1] and len(grouped[2]) == 2


def test_empty_results_need_a_size():
    assert results_to_instances([], height=4, width=5).image_size == (4, 5)
    with pytest.raises(ValueError, match="give height and width"):
        results_to_instances([])


def test_errors(instances):
    results = instances_to_results(instances, image_id=1)
    with pytest.raises(ValueError, match="use group_results_by_image"):
        results_to_instances([results[0], dict(results[1], image_id=2)])
    with pytest.raises(ValueError, match=r"masks must be \(N, H, W\)"):
        encode_masks(np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="cannot decode an empty list"):
        decode_segmentations([])
    other = encode_masks(np.ones((1, 2, 2), bool))[0]
    with pytest.raises(ValueError, match="must share one size"):
        decode_segmentations([results[0]["segmentation"], other])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("score"), r"\[0\]\.score: missing"),
        (lambda r: r.update(image_id="7"), r"\[0\]\.image_id: expected an integer"),
        (lambda r: r.update(category_id=True), r"\[0\]\.category_id: expected an integer"),
        (lambda r: r.update(score="high"), r"\[0\]\.score: expected a finite number"),
        (lambda r: r.update(score=float("nan")), "expected a finite number"),
        (lambda r: r.update(segmentation=[[0, 0, 1, 1]]), "expected an RLE object"),
        (lambda r: r["segmentation"].update(size=[3]), r"size: expected \[H, W\]"),
        (lambda r: r["segmentation"].update(counts=5), "expected an RLE string or list"),
    ],
)
def test_validation_names_the_field(instances, change, message):
    results = instances_to_results(instances, image_id=1)
    change(results[0])
    with pytest.raises(ValueError, match=message):
        validate_coco_results(results, "res.json")


def test_validation_of_the_file(tmp_path):
    with pytest.raises(ValueError, match="expected a JSON list"):
        validate_coco_results({"annotations": []})
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="bad.json: .*expected a JSON list"):
        read_coco_results(bad)
    with pytest.raises(FileNotFoundError):
        read_coco_results(tmp_path / "missing.json")
    with pytest.raises(ValueError, match=r"out.json: \[0\].category_id: missing"):
        write_coco_results(tmp_path / "out.json", [{"image_id": 1}])
    assert not (tmp_path / "out.json").exists()


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.annotations.coco_results"))
    assert results.attempted > 0 and results.failed == 0
