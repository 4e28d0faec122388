"""Instance segmentation: the classical watershed on DSB 2018 nuclei, and mask AP speed.

Part 1 (quality): :func:`seglab.classical.watershed_instances` on the 47 shared images of the
DSB 2018 stage-1 test set (fluorescence, bright-field and H&E; one PNG mask per nucleus).
Parameters are tuned on a deterministic half (image ids sorted, even positions: 24 images)
with COCO mask AP as the objective, and reported on the other half (odd positions: 23 images);
full-set figures are given for reference. Metrics: COCO mask AP / AP50 / AP75 (seglab's
``mask_ap``, max detections (10, 100, 1000) per image since images hold up to 329 nuclei), AJI
and the Kaggle DSB score (both averaged over images). A watershed has no confidence, so each
nucleus is scored by its **solidity** (area / convex-hull area: a clump of merged nuclei is
less convex); a constant score is reported too, for comparison.

Part 2 (speed): ``seglab.metrics.mask_ap_coco`` against ``pycocotools`` ``COCOeval`` (loadRes +
evaluate + accumulate + summarize) on the same in-memory COCO dicts: the watershed results on
the full DSB set, and a synthetic COCO-like set. The summaries are checked to agree (max
absolute difference printed). Medians of repeated runs after one warm-up.

Usage:
    nice .venv/bin/python benchmarks/bench_instance.py

Reads ``../shared/data/dsb2018-stage1-test`` (relative to the project root) unless ``--data``
says otherwise; part 1 is skipped with a message when the folder is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import itertools
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from skimage.measure import regionprops
from tqdm import tqdm

from seglab.annotations.coco_results import encode_labels, labels_to_results
from seglab.classical import foreground_mask, watershed_instances
from seglab.instance.draw import overlay_instances
from seglab.io import read_image
from seglab.metrics import aggregated_jaccard_index, dsb_score, mask_ap, mask_ap_coco

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dsb2018-stage1-test"
MAX_DETS = (10, 100, 1000)
# Tuning grid: foreground (threshold method, smoothing) x splitting (marker spacing, distance
# smoothing) x cleaning (minimum size).
GRID = {
    "threshold": ["otsu", "li"],
    "sigma": [1.0],
    "min_distance": [2, 3, 4, 5],
    "distance_sigma": [1.0, 2.0, 3.0],
    "min_size": [15, 30, 50],
}


def load_dsb(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(image id, RGB image, instance label map) for every image, ids sorted."""
    samples = []
    for folder in tqdm(sorted((root / "stage1_test").iterdir()), desc="load DSB", leave=False):
        image = read_image(folder / "images" / f"{folder.name}.png")
        labels = np.zeros(image.shape[:2], np.int32)
        for path in (folder / "masks").glob("*.png"):
            k = int(path.stem.rsplit("_", 1)[1])
            labels[np.asarray(Image.open(path)) > 0] = k + 1
        samples.append((folder.name, image, labels))
    return samples


def solidity_scores(labels: np.ndarray) -> np.ndarray:
    """Area / convex-hull area of each instance, in increasing id order."""
    return np.array([region.solidity for region in regionprops(labels)], np.float64)


def evaluate(predictions: list[np.ndarray], targets: list[np.ndarray], score: str) -> dict:
    """AP / AP50 / AP75 (pooled), AJI and DSB score (means over images)."""
    pred_records, gt_records = [], []
    for image_id, (pred, target) in enumerate(zip(predictions, targets, strict=True)):
        scores = 1.0
        if score == "solidity":
            ids = np.unique(pred)
            scores = dict(zip(ids[ids > 0].tolist(), solidity_scores(pred).tolist(), strict=True))
        pred_records.append(labels_to_results(pred, image_id, scores=scores))
        gt_records.append(labels_to_results(target, image_id))
    ap = mask_ap(pred_records, gt_records, max_dets=MAX_DETS)
    pairs = list(zip(predictions, targets, strict=True))
    return {
        "AP": ap["AP"],
        "AP50": ap["AP50"],
        "AP75": ap["AP75"],
        "AJI": float(np.nanmean([aggregated_jaccard_index(p, t) for p, t in pairs])),
        "DSB": float(np.nanmean([dsb_score(p, t) for p, t in pairs])),
    }


def run_watershed(images: list[np.ndarray], params: dict, masks: dict | None = None) -> list:
    """Label maps for ``images``; ``masks`` caches foregrounds by (index, threshold, sigma)."""
    results = []
    for index, image in enumerate(images):
        key = (index, params["threshold"], params["sigma"])
        if masks is not None and key in masks:
            foreground = masks[key]
        else:
            foreground = foreground_mask(
                image, threshold=params["threshold"], sigma=params["sigma"]
            )
            if masks is not None:
                masks[key] = foreground
        results.append(
            watershed_instances(
                image,
                foreground=foreground,
                min_distance=params["min_distance"],
                distance_sigma=params["distance_sigma"],
                min_size=params["min_size"],
            )
        )
    return results


def quality(root: Path, image_path: Path) -> tuple[list, list] | None:
    if not (root / "stage1_test").is_dir():
        print(f"DSB 2018 data not found at {root}: skipping the watershed quality part.")
        return None
    samples = load_dsb(root)
    tune = samples[0::2]
    test = samples[1::2]
    print(
        f"\n{len(samples)} images: tuning on {len(tune)} (even positions of the sorted ids), "
        f"reporting on {len(test)} (odd positions)."
    )
    tune_images = [s[1] for s in tune]
    tune_targets = [s[2] for s in tune]
    cache: dict = {}
    best = None
    configs = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    for params in tqdm(configs, desc="tune (even half)"):
        scores = evaluate(run_watershed(tune_images, params, cache), tune_targets, "solidity")
        if best is None or scores["AP"] > best[1]["AP"]:
            best = (params, scores)
    params = best[0]
    default = {
        "threshold": "otsu",
        "sigma": 1.0,
        "min_distance": 5,
        "distance_sigma": 1.0,
        "min_size": 20,
    }
    print(f"best on the tuning half (AP {best[1]['AP']:.4f}): {params}")

    rows = []
    for name, subset in (
        ("test half (odd)", test),
        ("tuning half (even)", tune),
        ("all 47", samples),
    ):
        images = [s[1] for s in subset]
        targets = [s[2] for s in subset]
        for label, setting in (("tuned", params), ("defaults", default)):
            predictions = run_watershed(images, setting)
            for score in ("solidity", "constant"):
                if label == "defaults" and score == "constant":
                    continue
                rows.append((name, label, score, evaluate(predictions, targets, score)))
    print("\n| images | parameters | score | AP | AP50 | AP75 | AJI | DSB score |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, label, score, r in rows:
        print(
            f"| {name} | {label} | {score} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AP75']:.3f} "
            f"| {r['AJI']:.3f} | {r['DSB']:.3f} |"
        )

    # The picture: ground truth and the tuned watershed on one test-half fluorescence image.
    name, image, target = next(
        s for s in test if s[1].shape[:2] == (256, 256) and 20 <= s[2].max() <= 60
    )
    prediction = run_watershed([image], params)[0]
    crop = (slice(32, 224), slice(32, 224))
    gap = np.full((192, 8, 3), 255, np.uint8)
    panel = np.concatenate(
        [overlay_instances(image, target)[crop], gap, overlay_instances(image, prediction)[crop]],
        axis=1,
    )
    image_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(image_path, optimize=True)
    print(f"\nwrote {image_path} (left: ground truth, right: watershed; image {name[:12]})")
    predictions = run_watershed([s[1] for s in samples], params)
    return samples, predictions


def coco_dicts(targets: list[np.ndarray], predictions: list[np.ndarray], scores: list[np.ndarray]):
    """A COCO GT dict and a results list for label maps (one category)."""
    images, annotations, results = [], [], []
    for image_id, (target, pred, score) in enumerate(
        zip(targets, predictions, scores, strict=True), start=1
    ):
        height, width = target.shape
        images.append(
            {"id": image_id, "height": height, "width": width, "file_name": f"{image_id}.png"}
        )
        _, rles = encode_labels(target)
        for rle in rles:
            compressed = {"size": rle["size"], "counts": rle["counts"].encode()}
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "segmentation": rle,
                    "area": float(coco_mask.area(compressed)),
                    "iscrowd": 0,
                    "bbox": [float(v) for v in coco_mask.toBbox(compressed)],
                }
            )
        results += labels_to_results(pred, image_id, scores=np.concatenate([[0.0], score]))
    categories = [{"id": 1, "name": "nucleus"}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def synthetic_coco(num_images: int, seed: int = 0):
    """COCO-like random data: 3 categories, ~12 GT and ~25 detections per image, 1 % crowd."""
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    height, width = 240, 320
    for image_id in range(1, num_images + 1):
        images.append(
            {"id": image_id, "height": height, "width": width, "file_name": f"{image_id}.png"}
        )
        gts = []
        for _ in range(int(rng.integers(4, 20))):
            mask = np.zeros((height, width), np.uint8)
            h, w = (int(v) for v in rng.integers(6, 120, size=2))
            y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
            mask[y : y + h, x : x + w] = 1
            category = int(rng.integers(1, 4))
            gts.append((mask, category))
            rle = coco_mask.encode(np.asfortranarray(mask))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode()},
                    "area": float(mask.sum()),
                    "iscrowd": int(rng.random() < 0.01),
                    "bbox": [x, y, w, h],
                }
            )
        for _ in range(int(rng.integers(10, 40))):
            if rng.random() < 0.6:
                mask, category = gts[int(rng.integers(len(gts)))]
                mask = np.roll(
                    mask, tuple(int(v) for v in rng.integers(-8, 9, size=2)), axis=(0, 1)
                )
            else:
                mask = np.zeros((height, width), np.uint8)
                h, w = (int(v) for v in rng.integers(6, 120, size=2))
                y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
                mask[y : y + h, x : x + w] = 1
                category = int(rng.integers(1, 4))
            rle = coco_mask.encode(np.asfortranarray(mask))
            results.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode()},
                    "score": float(rng.random()),
                }
            )
    categories = [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def run_cocoeval(gt_dict: dict, results: list, max_dets) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_dict)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        evaluator = COCOeval(gt, dt, iouType="segm")
        evaluator.params.maxDets = list(max_dets)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def run_seglab(gt_dict: dict, results: list, max_dets) -> np.ndarray:
    return mask_ap_coco(gt_dict, results, max_dets=max_dets)["stats"]


def timing(cases: list[tuple[str, dict, list, tuple]], repeats: int) -> None:
    print("\n| data | images | GT | detections | COCOeval s | seglab s | speed-up | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, gt_dict, results, max_dets in cases:
        times = defaultdict(list)
        stats = {}
        runners = {"cocoeval": run_cocoeval, "seglab": run_seglab}
        for key, runner in runners.items():
            stats[key] = runner(gt_dict, results, max_dets)  # warm-up
        for _ in tqdm(range(repeats), desc=f"time {name}", leave=False):
            for key, runner in runners.items():  # alternate, so load changes hit both
                start = time.perf_counter()
                runner(gt_dict, results, max_dets)
                times[key].append(time.perf_counter() - start)
        # COCOeval's stats[0] ignores custom maxDets (it always asks for 100), so compare the
        # rest when maxDets is not (1, 10, 100).
        first = 0 if tuple(max_dets) == (1, 10, 100) else 1
        diff = float(np.max(np.abs(stats["cocoeval"][first:] - stats["seglab"][first:])))
        coco_s = statistics.median(times["cocoeval"])
        seglab_s = statistics.median(times["seglab"])
        print(
            f"| {name} | {len(gt_dict['images'])} | {len(gt_dict['annotations'])} | {len(results)} "
            f"| {coco_s:.3f} | {seglab_s:.3f} | {coco_s / seglab_s:.1f}x | {diff:.1e} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--image", type=Path, default=ROOT / "docs" / "images" / "instances_watershed.png"
    )
    parser.add_argument("--synthetic-images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)

    cases = []
    if not args.skip_quality:
        outcome = quality(args.data, args.image)
        if outcome is not None:
            samples, predictions = outcome
            scores = [solidity_scores(p) for p in predictions]
            gt_dict, results = coco_dicts([s[2] for s in samples], predictions, scores)
            cases.append(("DSB watershed, maxDets (10, 100, 1000)", gt_dict, results, MAX_DETS))
    gt_dict, results = synthetic_coco(args.synthetic_images)
    cases.append(("synthetic COCO-like, 3 classes, 240x320", gt_dict, results, (1, 10, 100)))
    timing(cases, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
