"""Tests of COCO mask AP: hand-computed cases and a randomized comparison with pycocotools."""

from __future__ import annotations

import contextlib
import copy
import doctest
import importlib
import io

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from seglab.annotations.instances import Instances
from seglab.metrics import MaskAP, mask_ap, mask_ap_coco

# Precision is tp / (tp + fp + eps) in COCO, so a perfect score is 1 - 2e-16, not 1.
EPS_ABS = 1e-12


def rle(mask: np.ndarray) -> dict:
    encoded = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode()}


def box_mask(height, width, y0, x0, y1, x1) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def gt(mask, category_id=1, iscrowd=0, area=None) -> dict:
    record = {"mask": mask, "category_id": category_id, "iscrowd": iscrowd}
    if area is not None:
        record["area"] = area
    return record


def det(mask, score, category_id=1) -> dict:
    return {"mask": mask, "category_id": category_id, "score": score}


# ---------------------------------------------------------------- hand-computed cases


def test_perfect_detection_is_one():
    mask = box_mask(20, 20, 2, 2, 8, 8)
    result = mask_ap([[det(mask, 0.7)]], [[gt(mask)]])
    for key in ("AP", "AP50", "AP75", "APs", "mAP"):
        assert result[key] == pytest.approx(1.0, abs=EPS_ABS)
    assert np.isnan(result["APm"]) and np.isnan(result["APl"])  # no medium or large GT
    assert result["per_class_AP"] == {1: pytest.approx(1.0, abs=EPS_ABS)}


def test_half_recall_gives_51_of_101_points():
    # Two GT objects, one found: precision 1 at recall 0.5, nothing beyond, so 51 of the 101
    # recall points (0.00 .. 0.50) have precision 1.
    a, b = box_mask(20, 20, 0, 0, 5, 5), box_mask(20, 20, 10, 10, 15, 15)
    result = mask_ap([[det(a, 0.9)]], [[gt(a), gt(b)]])
    assert result["AP"] == pytest.approx(51 / 101, abs=EPS_ABS)
    assert result["AR100"] == pytest.approx(0.5)


def test_false_positive_ranked_first_halves_precision():
    # Ranked list: FP (0.9), TP (0.8); 2 GT. Precision [0, 1/2], recall [0, 1/2]; the envelope
    # is 1/2 up to recall 1/2: AP = 0.5 * 51 / 101.
    a, b = box_mask(20, 20, 0, 0, 5, 5), box_mask(20, 20, 10, 10, 15, 15)
    far = box_mask(20, 20, 0, 15, 5, 20)
    result = mask_ap([[det(far, 0.9), det(a, 0.8)]], [[gt(a), gt(b)]])
    assert result["AP"] == pytest.approx(0.5 * 51 / 101, abs=EPS_ABS)


def test_iou_062_matches_three_of_ten_thresholds():
    target = box_mask(10, 10, 0, 0, 10, 10)  # 100 pixels
    pred = np.zeros((10, 10), bool)
    pred.ravel()[:62] = True  # inside the GT: IoU = 62 / 100
    result = mask_ap([[det(pred, 0.5)]], [[gt(target)]])
    assert result["AP50"] == pytest.approx(1.0, abs=EPS_ABS)
    assert result["AP75"] == pytest.approx(0.0)
    assert result["AP"] == pytest.approx(0.3, abs=EPS_ABS)  # t = 0.50, 0.55, 0.60


def test_crowd_region_swallows_detections_without_false_positives():
    person = box_mask(30, 30, 0, 0, 6, 6)
    crowd = box_mask(30, 30, 10, 10, 30, 30)
    inside = [box_mask(30, 30, 12 + 4 * k, 12, 15 + 4 * k, 15) for k in range(3)]
    # The three detections inside the crowd have IoU = 9 / 9 = 1 with it (intersection over
    # the detection's area) and are ignored; they outrank the true positive.
    preds = [det(m, 0.9) for m in inside] + [det(person, 0.5)]
    result = mask_ap([preds], [[gt(person), gt(crowd, iscrowd=1)]])
    assert result["AP"] == pytest.approx(1.0, abs=EPS_ABS)
    # Without the crowd flag, the region is one GT object: three false positives come first.
    plain = mask_ap([preds], [[gt(person), gt(crowd)]])
    assert plain["AP50"] < 0.5


def test_class_without_ground_truth_is_nan_and_left_out_of_map():
    a = box_mask(20, 20, 0, 0, 5, 5)
    result = mask_ap([[det(a, 0.9, 1), det(a, 0.8, 2)]], [[gt(a, 1)]])
    assert np.isnan(result["per_class_AP"][2])
    assert result["mAP"] == pytest.approx(1.0, abs=EPS_ABS)
    assert result["AP"] == pytest.approx(result["mAP"])
    declared = mask_ap([[det(a, 0.9, 1)]], [[gt(a, 1)]], category_ids=[1, 3])
    assert set(declared["per_class_AP"]) == {1, 3} and np.isnan(declared["per_class_AP"][3])


def test_images_without_predictions_or_ground_truth():
    a = box_mask(20, 20, 0, 0, 5, 5)
    # Image 2 has a GT object and no prediction (a miss); image 3 has a prediction and no GT
    # (a false positive, ranked last).
    result = mask_ap(
        [[det(a, 0.9)], [], [det(a, 0.1)]],
        [[gt(a)], [gt(a)], []],
    )
    # Ranked: TP (0.9), FP (0.1); 2 GT: precision 1 up to recall 0.5.
    assert result["AP"] == pytest.approx(51 / 101, abs=EPS_ABS)


def test_area_ranges_use_the_gt_area_field_and_the_detection_mask_area():
    small = box_mask(120, 120, 0, 0, 10, 10)  # 100 px
    large = box_mask(120, 120, 10, 10, 120, 120)  # 12100 px
    result = mask_ap([[det(small, 0.9)]], [[gt(small), gt(large)]])
    assert result["APs"] == pytest.approx(1.0, abs=EPS_ABS)
    assert result["APl"] == pytest.approx(0.0)
    assert np.isnan(result["APm"])
    # The same small mask declared as area 5000 counts as medium.
    declared = mask_ap([[det(small, 0.9)]], [[gt(small, area=5000.0)]])
    assert np.isnan(declared["APs"])
    assert declared["APm"] == pytest.approx(1.0, abs=EPS_ABS)


def test_equal_scores_keep_input_order():
    target = box_mask(20, 20, 0, 0, 5, 5)
    miss = box_mask(20, 20, 10, 10, 15, 15)
    hit_first = mask_ap([[det(target, 0.5), det(miss, 0.5)]], [[gt(target)]])
    miss_first = mask_ap([[det(miss, 0.5), det(target, 0.5)]], [[gt(target)]])
    assert hit_first["AP"] == pytest.approx(1.0, abs=EPS_ABS)
    assert miss_first["AP"] == pytest.approx(0.5, abs=EPS_ABS)


def test_max_dets_truncates_each_image():
    objects = [box_mask(20, 20, 4 * k, 0, 4 * k + 3, 3) for k in range(4)]
    preds = [det(m, 0.9 - 0.1 * k) for k, m in enumerate(objects)]
    result = mask_ap([preds], [[gt(m) for m in objects]], max_dets=(1, 2, 3))
    assert result["AR1"] == pytest.approx(0.25)
    assert result["AR2"] == pytest.approx(0.5)
    assert result["AR3"] == pytest.approx(0.75)
    assert result["AP"] == pytest.approx(76 / 101, abs=EPS_ABS)  # recall 0 .. 0.75


def test_instances_records_and_streaming_agree():
    rng = np.random.default_rng(3)
    masks = rng.random((5, 16, 16)) > 0.6
    pred = Instances(masks[:4], category_ids=[1, 1, 2, 2], scores=[0.9, 0.3, 0.8, 0.2])
    target = Instances(masks[1:], category_ids=[1, 1, 2, 2])
    from_instances = mask_ap([pred], [target])
    records = [
        {"segmentation": rle(m), "category_id": int(c), "score": float(s)}
        for m, c, s in zip(pred.masks, pred.category_ids, pred.scores, strict=True)
    ]
    gt_records = [
        {"segmentation": rle(m), "category_id": int(c)}
        for m, c in zip(target.masks, target.category_ids, strict=True)
    ]
    from_records = mask_ap([records], [gt_records])
    metric = MaskAP()
    metric.update(pred, target)
    streamed = metric.compute()
    for key in ("AP", "AP50", "AP75", "mAP"):
        np.testing.assert_equal(from_instances[key], from_records[key])
        np.testing.assert_equal(from_instances[key], streamed[key])
    metric.reset()
    assert metric.num_images == 0 and metric.compute()["per_class_AP"] == {}


# ---------------------------------------------------------------- pycocotools reference


def random_rectangle(rng, height, width) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    y0, x0 = rng.integers(0, height - 2), rng.integers(0, width - 2)
    scale = rng.choice([4, 16, 64, 200])  # small, medium and large objects
    h = min(int(rng.integers(1, height - y0 + 1)), scale)
    w = min(int(rng.integers(1, width - x0 + 1)), scale)
    mask[y0 : y0 + h, x0 : x0 + w] = 1
    return mask


def random_case(seed: int) -> tuple[dict, list]:
    """A COCO GT dict and results with crowds, odd area fields, ties and empty images."""
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(20, 200)), int(rng.integers(20, 200))
    num_categories = int(rng.integers(1, 4))
    # The last category never has GT (COCO's -1 case) but may get detections.
    categories = [{"id": c, "name": f"c{c}"} for c in range(1, num_categories + 2)]
    images, annotations, results = [], [], []
    for i in range(int(rng.integers(1, 6))):
        image_id = int(rng.integers(1, 1000)) * 10 + i  # ids not in insertion order
        images.append({"id": image_id, "height": height, "width": width, "file_name": "x.png"})
        objects = []
        for _ in range(int(rng.integers(0, 7))):
            if objects and rng.random() < 0.1:  # a duplicate GT: exact IoU ties
                mask, category = objects[int(rng.integers(len(objects)))]
            else:
                mask, category = random_rectangle(rng, height, width), int(rng.integers(1, 3))
                category = min(category, num_categories)
            area = float(mask.sum()) if rng.random() < 0.7 else float(mask.sum() * 3.5)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "segmentation": rle(mask),
                    "area": area,
                    "iscrowd": int(rng.random() < 0.15),
                    "bbox": [0, 0, 1, 1],
                }
            )
            objects.append((mask, category))
        for _ in range(int(rng.integers(0, 12))):
            if objects and rng.random() < 0.6:
                mask, category = objects[int(rng.integers(len(objects)))]
                shift = tuple(int(v) for v in rng.integers(-3, 4, size=2))
                mask = np.roll(mask, shift, axis=(0, 1))
                if rng.random() < 0.2:
                    category = int(rng.integers(1, num_categories + 2))
            else:
                mask = random_rectangle(rng, height, width)
                category = int(rng.integers(1, num_categories + 2))
            score = float(np.round(rng.random(), 1))  # coarse scores: many ties
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "segmentation": rle(mask),
                    "score": score,
                }
            )
    return {"images": images, "annotations": annotations, "categories": categories}, results


def cocoeval(gt_dict: dict, results: list, max_dets) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt_dict)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.params.maxDets = list(max_dets)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def assert_agrees(gt_dict, results, max_dets):
    reference = cocoeval(gt_dict, results, max_dets)
    ours = mask_ap_coco(gt_dict, results, max_dets=max_dets)
    # COCOeval's stats[0] always asks for maxDets=100 (a pycocotools quirk), so it is -1 unless
    # 100 is among the max_dets; ours uses the last max_dets. Compare it only in that case.
    first = 0 if tuple(max_dets) == (1, 10, 100) else 1
    np.testing.assert_allclose(ours["stats"][first:], reference.stats[first:], atol=1e-6)
    np.testing.assert_allclose(ours["precision"], reference.eval["precision"], atol=1e-9)
    np.testing.assert_allclose(ours["recall"], reference.eval["recall"], atol=1e-9)
    assert ours["category_ids"] == sorted(reference.params.catIds)
    valid = reference.eval["precision"][:, :, :, 0, -1]
    for k, category_id in enumerate(ours["category_ids"]):
        expected = valid[:, :, k].mean() if (valid[:, :, k] > -1).all() else np.nan
        np.testing.assert_allclose(ours["per_class_AP"][category_id], expected, atol=1e-6)


def run_seeds(seeds) -> int:
    checked = 0
    for seed in seeds:
        gt_dict, results = random_case(seed)
        if not results:  # COCO.loadRes cannot take an empty list
            continue
        max_dets = (1, 10, 100) if seed % 2 else (1, 2, 4)
        assert_agrees(gt_dict, results, max_dets)
        checked += 1
    return checked


def test_agrees_with_pycocotools_on_random_cases():
    assert run_seeds(range(80)) > 60


@pytest.mark.slow
def test_agrees_with_pycocotools_on_many_random_cases():
    assert run_seeds(range(80, 1500)) > 1200


def test_agrees_with_pycocotools_with_polygon_ground_truth():
    rng = np.random.default_rng(0)
    gt_dict, results = random_case(11)
    for annotation in gt_dict["annotations"]:
        if not annotation["iscrowd"] and rng.random() < 0.5:
            x, y = rng.uniform(0, 15, size=2)
            annotation["segmentation"] = [[x, y, x + 12.3, y, x + 6.1, y + 9.7]]
    assert_agrees(gt_dict, results, (1, 10, 100))


def test_stats_match_cocoeval_minus_one_convention():
    a = box_mask(20, 20, 0, 0, 5, 5)
    result = mask_ap([[det(a, 0.9)]], [[gt(a)]])
    assert result["stats"][4] == -1.0 and np.isnan(result["APm"])  # no medium GT
    assert result["precision"].shape == (10, 101, 1, 4, 3)
    assert result["recall"].shape == (10, 1, 4, 3)


# ---------------------------------------------------------------- errors


def test_bad_max_dets():
    with pytest.raises(ValueError, match="three increasing positive integers"):
        MaskAP(max_dets=(10, 1, 100))
    with pytest.raises(ValueError, match="three increasing positive integers"):
        MaskAP(max_dets=(1, 100))


def test_length_mismatch():
    with pytest.raises(ValueError, match="one entry per image"):
        mask_ap([[]], [[], []])


def test_bad_records():
    a = box_mask(8, 8, 0, 0, 2, 2)
    with pytest.raises(ValueError, match="convert polygons"):
        mask_ap([[]], [[{"segmentation": [[0, 0, 4, 0, 4, 4]], "category_id": 1}]])
    with pytest.raises(ValueError, match=r"mask must be \(H, W\)"):
        mask_ap([[{"mask": np.ones(4, bool), "category_id": 1, "score": 1.0}]], [[]])
    with pytest.raises(ValueError, match="needs a 'segmentation'"):
        mask_ap([[{"category_id": 1, "score": 1.0}]], [[]])
    with pytest.raises(ValueError, match="missing 'category_id'"):
        mask_ap([[{"mask": a, "score": 1.0}]], [[]])
    with pytest.raises(ValueError, match="iscrowd must be 0 or 1"):
        mask_ap([[]], [[gt(a, iscrowd=2)]])
    with pytest.raises(ValueError, match="needs a 'score'"):
        mask_ap([[{"mask": a, "category_id": 1}]], [[]])
    with pytest.raises(ValueError, match="different sizes"):
        mask_ap([[det(a, 0.5), det(np.ones((3, 3), bool), 0.4)]], [[]])
    with pytest.raises(TypeError, match="expected Instances or a list of records"):
        mask_ap([np.zeros((4, 4), int)], [[]])
    with pytest.raises(TypeError, match="expected a dict record"):
        mask_ap([[a]], [[]])


def test_prediction_and_target_sizes_must_match():
    with pytest.raises(ValueError, match="differs from target size"):
        mask_ap([[det(np.ones((4, 4), bool), 0.5)]], [[gt(np.ones((5, 5), bool))]])


def test_result_on_unknown_image():
    gt_dict = {
        "images": [{"id": 1, "height": 4, "width": 4}],
        "annotations": [],
        "categories": [{"id": 1}],
    }
    results = [{"image_id": 2, "category_id": 1, "segmentation": rle(np.ones((4, 4))), "score": 1}]
    with pytest.raises(ValueError, match="is not an image of the GT"):
        mask_ap_coco(gt_dict, results)


def test_docstring_examples():
    results = doctest.testmod(importlib.import_module("seglab.metrics.instance"))
    assert results.attempted > 0 and results.failed == 0
