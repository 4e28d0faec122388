"""Tests of panoptic fusion (semantic stuff + instance things), scored with PQ."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from seglab.annotations.instances import Instances
from seglab.instance.panoptic import fuse
from seglab.metrics import panoptic_quality

SKY, ROAD, CAR, PERSON = 0, 1, 2, 3
CATEGORIES = {SKY: 0, ROAD: 0, CAR: 1, PERSON: 1}


def street_scene():
    """Sky over road, two cars and a person; returns semantic map, instance map, GT panoptic."""
    semantic = np.full((20, 30), SKY)
    semantic[10:] = ROAD
    instances = np.zeros((20, 30), np.int32)
    instances[12:17, 2:10] = 1
    instances[12:17, 12:20] = 2
    instances[4:16, 24:27] = 3
    semantic[instances == 1] = CAR
    semantic[instances == 2] = CAR
    semantic[instances == 3] = PERSON
    panoptic = np.where(instances > 0, instances, np.where(semantic == SKY, 10, 11))
    segments = [
        {"id": 1, "category_id": CAR},
        {"id": 2, "category_id": CAR},
        {"id": 3, "category_id": PERSON},
        {"id": 10, "category_id": SKY},
        {"id": 11, "category_id": ROAD},
    ]
    return semantic, instances, panoptic, segments


def score(panoptic, segments, target, target_segments):
    return panoptic_quality(
        panoptic,
        target,
        pred_segments=segments,
        target_segments=target_segments,
        categories=CATEGORIES,
    )


def test_perfect_inputs_give_pq_one():
    semantic, instances, target, target_segments = street_scene()
    panoptic, segments = fuse(
        semantic, instances, thing_classes=[CAR, PERSON], stuff_classes=[SKY, ROAD]
    )
    assert panoptic.dtype == np.int32
    assert sorted(s["category_id"] for s in segments) == [SKY, ROAD, CAR, CAR, PERSON]
    # Things first (ids 1..3), then stuff in class order.
    assert [s["category_id"] for s in segments] == [CAR, CAR, PERSON, SKY, ROAD]
    assert score(panoptic, segments, target, target_segments)["PQ"] == 1.0
    # A torch semantic map and Instances with scores give the same map.
    masks = np.stack([instances == k for k in (1, 2, 3)])
    again, _ = fuse(
        torch.from_numpy(semantic),
        Instances(masks, scores=[0.9, 0.8, 0.7]),
        thing_classes=[CAR, PERSON],
        stuff_classes=[SKY, ROAD],
    )
    np.testing.assert_array_equal(again, panoptic)


def test_degraded_inputs_give_the_hand_computed_pq():
    semantic, instances, target, target_segments = street_scene()
    degraded = instances.copy()
    degraded[degraded == 2] = 0  # the second car is missed: its pixels are void (car, no id)
    degraded[12:17, 10] = 1  # the first car grows by one column of road (5 px)
    panoptic, segments = fuse(
        semantic, degraded, thing_classes=[CAR, PERSON], stuff_classes=[SKY, ROAD]
    )
    result = score(panoptic, segments, target, target_segments)
    # Car: TP car 1 with IoU 40/45, FN car 2: PQ = (40/45) / 1.5. Person and sky: 1.
    # Road: 300 px of the lower half minus 2 cars (40 px each) and the person's lower 6 x 3 px
    # is the GT; the prediction loses the 5 px the first car took: IoU = (X - 5) / X.
    road_gt = target == 11
    road_pred = panoptic == [s["id"] for s in segments if s["category_id"] == ROAD][0]
    road_iou = (road_gt & road_pred).sum() / (road_gt | road_pred).sum()
    road_area = 300 - 40 - 40 - 18
    assert road_iou == pytest.approx((road_area - 5) / road_area)
    expected_car = (40 / 45) / 1.5
    assert result["per_class"][CAR]["PQ"] == pytest.approx(expected_car)
    assert result["PQ"] == pytest.approx((expected_car + 1 + 1 + road_iou) / 4)
    assert result["PQ_th"] == pytest.approx((expected_car + 1) / 2)


def test_overlaps_are_resolved_by_score_and_mostly_hidden_instances_dropped():
    semantic = np.full((4, 10), CAR)
    a = np.zeros((4, 10), bool)
    a[:, :6] = True
    b = np.zeros((4, 10), bool)
    b[:, 4:] = True
    c = np.zeros((4, 10), bool)
    c[:, 3:7] = True  # mostly under a and b
    panoptic, segments = fuse(
        semantic,
        Instances(np.stack([a, b, c]), scores=[0.5, 0.9, 0.7]),
        thing_classes=[CAR],
        stuff_classes=[],
    )
    # b (best) keeps columns 4-9; c keeps only column 3 (1/4 < 0.5: dropped); a keeps 0-3.
    assert panoptic[0].tolist() == [2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    assert [s["area"] for s in segments] == [24, 16]
    kept, _ = fuse(
        semantic,
        Instances(np.stack([a, b, c]), scores=[0.5, 0.9, 0.7]),
        thing_classes=[CAR],
        stuff_classes=[],
        overlap_threshold=0.2,
    )
    assert kept[0].tolist() == [3, 3, 3, 2, 1, 1, 1, 1, 1, 1]
    low, low_segments = fuse(
        semantic,
        Instances(np.stack([a, b]), scores=[0.5, 0.9]),
        thing_classes=[CAR],
        stuff_classes=[],
        score_threshold=0.6,
    )
    assert len(low_segments) == 1 and low[0, 0] == 0


def test_instance_class_is_the_majority_thing_vote():
    semantic = np.array([[CAR, CAR, PERSON, PERSON, PERSON, SKY, SKY, SKY, SKY]])
    instance = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1]])
    _, segments = fuse(semantic, instance, thing_classes=[CAR, PERSON], stuff_classes=[SKY])
    # Sky has the most pixels but is stuff: it gets no vote. Person wins 3 to 2.
    assert [s["category_id"] for s in segments] == [PERSON]
    tie = np.array([[CAR, CAR, PERSON, PERSON]])
    _, tie_segments = fuse(tie, np.ones((1, 4), int), thing_classes=[CAR, PERSON], stuff_classes=[])
    assert tie_segments[0]["category_id"] == CAR  # ties go to the smaller class id
    only_stuff, none = fuse(
        np.full((2, 2), SKY), np.ones((2, 2), int), thing_classes=[CAR], stuff_classes=[]
    )
    assert none == [] and not only_stuff.any()


def test_small_stuff_void_and_unknown_classes():
    semantic = np.array([[SKY] * 5 + [ROAD] * 2 + [255, 9, CAR]])
    panoptic, segments = fuse(
        semantic,
        np.zeros_like(semantic),
        thing_classes=[CAR],
        stuff_classes=[SKY, ROAD, 255],
        min_stuff_area=3,
    )
    # Road (2 px) is too small; 255 is void; class 9 is neither thing nor stuff; the car has
    # no instance: all void.
    assert panoptic[0].tolist() == [1] * 5 + [0] * 5
    assert segments == [
        {"id": 1, "category_id": SKY, "iscrowd": 0, "area": 5, "bbox": [0, 0, 5, 1]}
    ]


def test_errors():
    semantic = np.zeros((2, 2), int)
    with pytest.raises(ValueError, match=r"semantic must be an \(H, W\) class map"):
        fuse(np.zeros(4, int), semantic, thing_classes=[1], stuff_classes=[0])
    with pytest.raises(TypeError, match="integer class ids"):
        fuse(np.zeros((2, 2)), semantic, thing_classes=[1], stuff_classes=[0])
    with pytest.raises(ValueError, match=r"classes \[1\] are listed as both thing and stuff"):
        fuse(semantic, semantic, thing_classes=[1], stuff_classes=[0, 1])
    with pytest.raises(ValueError, match="overlap_threshold must be in"):
        fuse(semantic, semantic, thing_classes=[1], stuff_classes=[0], overlap_threshold=2)
    with pytest.raises(ValueError, match="instances are"):
        fuse(semantic, np.zeros((3, 3), int), thing_classes=[1], stuff_classes=[0])


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.instance.panoptic"))
    assert results.attempted > 0 and results.failed == 0
