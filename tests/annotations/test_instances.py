"""Tests of the instance types: label map <-> Instances, score-ordered rasterisation."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from skimage.measure import regionprops

from seglab.annotations.instances import (
    Instances,
    instances_to_labels,
    labels_to_instances,
    mean_per_instance,
)


def test_round_trip_keeps_ids_classes_and_scores():
    labels = np.array([[0, 3, 3], [7, 7, 0], [7, 0, 9]])
    instances = labels_to_instances(
        labels, category_ids={3: 1, 7: 2, 9: 1}, scores=np.linspace(0, 1, 10)
    )
    assert len(instances) == 3
    assert instances.category_ids.tolist() == [1, 2, 1]
    np.testing.assert_allclose(instances.scores, [3 / 9, 7 / 9, 1.0])
    np.testing.assert_array_equal(instances.masks[1], labels == 7)
    back = instances_to_labels(instances)
    # Ids become 1..N in list order; the partition is unchanged.
    np.testing.assert_array_equal(back, np.array([[0, 1, 1], [2, 2, 0], [2, 0, 3]]))
    assert back.dtype == np.int32


def test_torch_labels_and_empty_maps():
    instances = labels_to_instances(torch.tensor([[0, 1], [1, 1]]))
    assert instances.areas.tolist() == [3]
    empty = labels_to_instances(np.zeros((3, 4), int))
    assert len(empty) == 0 and empty.image_size == (3, 4)
    assert instances_to_labels(empty).tolist() == np.zeros((3, 4)).tolist()
    assert len(Instances.empty(2, 5)) == 0


def test_overlaps_go_to_the_higher_score_and_ties_to_the_first():
    a = np.zeros((1, 4), bool)
    a[0, :3] = True
    b = np.zeros((1, 4), bool)
    b[0, 1:] = True
    low_first = Instances(np.stack([a, b]), scores=[0.2, 0.9])
    assert instances_to_labels(low_first).tolist() == [[1, 2, 2, 2]]
    high_first = Instances(np.stack([a, b]), scores=[0.9, 0.2])
    assert instances_to_labels(high_first).tolist() == [[1, 1, 1, 2]]
    tie = Instances(np.stack([a, b]), scores=[0.5, 0.5])
    assert instances_to_labels(tie).tolist() == [[1, 1, 1, 2]]
    # An instance covered entirely by a better one vanishes from the map.
    hidden = Instances(np.stack([a, a]), scores=[0.9, 0.1])
    assert set(np.unique(instances_to_labels(hidden))) == {0, 1}


def test_boxes_and_areas_match_skimage_regionprops():
    rng = np.random.default_rng(0)
    labels = np.zeros((20, 30), int)
    for k in range(1, 6):
        y, x = rng.integers(0, 15), rng.integers(0, 25)
        labels[y : y + rng.integers(1, 6), x : x + rng.integers(1, 6)] = k
    instances = labels_to_instances(labels)
    regions = regionprops(labels)
    assert instances.areas.tolist() == [int(r.area) for r in regions]
    expected = [
        [r.bbox[1], r.bbox[0], r.bbox[3] - r.bbox[1], r.bbox[2] - r.bbox[0]] for r in regions
    ]
    assert instances.boxes.tolist() == expected
    with_empty = Instances(np.concatenate([instances.masks, np.zeros((1, 20, 30), bool)]))
    assert with_empty.boxes[-1].tolist() == [0, 0, 0, 0]


def test_indexing():
    instances = Instances(np.ones((3, 2, 2), bool), category_ids=[1, 2, 3], scores=[0.1, 0.2, 0.3])
    assert instances[1].category_ids.tolist() == [2]
    assert instances[[0, 2]].scores.tolist() == [0.1, 0.3]
    assert len(instances[instances.scores > 0.15]) == 2


def test_mean_per_instance_against_a_loop():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, size=(10, 12))
    values = rng.random((10, 12))
    expected = [values[labels == i].mean() for i in range(1, 5) if (labels == i).any()]
    np.testing.assert_allclose(mean_per_instance(labels, values), expected)
    assert mean_per_instance(np.zeros((2, 2), int), np.ones((2, 2))).shape == (0,)


def test_errors():
    with pytest.raises(ValueError, match=r"masks must be \(N, H, W\)"):
        Instances(np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="one entry per mask"):
        Instances(np.ones((2, 2, 2), bool), category_ids=[1])
    with pytest.raises(ValueError, match=r"must be an \(H, W\) label map"):
        labels_to_instances(np.zeros((2, 2, 2), int))
    with pytest.raises(TypeError, match="integer instance ids"):
        labels_to_instances(np.zeros((2, 2), float))
    with pytest.raises(ValueError, match="must be >= 0"):
        labels_to_instances(np.array([[-1, 0]]))
    with pytest.raises(ValueError, match=r"has no entry for instance ids \[2\]"):
        labels_to_instances(np.array([[1, 2]]), category_ids={1: 5})
    with pytest.raises(ValueError, match="indexed by instance id"):
        labels_to_instances(np.array([[1, 5]]), scores=np.ones(3))
    with pytest.raises(ValueError, match="values shape"):
        mean_per_instance(np.zeros((2, 2), int), np.zeros((3, 3)))


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.annotations.instances"))
    assert results.attempted > 0 and results.failed == 0
