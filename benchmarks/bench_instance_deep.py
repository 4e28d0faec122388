"""Deep bottom-up instances (Panoptic-DeepLab heads on a U-Net) against the watershed, DSB 2018.

Both methods see the same split as ``benchmarks/bench_instance.py``: the 47 shared images of the
DSB 2018 stage-1 test set with ids sorted; the 24 images at even positions train the network
(and tune the watershed and the grouping thresholds), the 23 at odd positions are held out and
are the only ones the quality table reports.

* Deep: :func:`seglab.engine.train_instance.train_instance` (with ``--train``; otherwise an
  existing checkpoint is evaluated), then :func:`seglab.instance.grouping.predict_instances`
  on whole images. Each nucleus is scored by its centre heatmap value times its mean nucleus
  probability. The grouping's centre threshold and NMS window are picked on the training half
  (objective AP), like the watershed's parameters.
* Watershed: :func:`seglab.classical.watershed_instances` with the setting that
  ``bench_instance``'s grid search on the even half picks (``--tune-watershed`` re-runs that
  search here with its own grid and functions), solidity as the score.

Metrics on the held-out half: COCO mask AP / AP50 / AP75 (``seglab.metrics.mask_ap``, max
detections (10, 100, 1000)), AJI and the DSB score (means over images), and PQ / SQ / RQ
(``seglab.metrics.panoptic_quality``, pooled over images) of the "nucleus" class; the
background is a labelled "stuff" segment, not void, so false nuclei on it count.

Usage (the two runs behind docs/bench/instance_deep.md: 20 minutes from scratch, then 20
minutes of fine-tuning from those weights; each call evaluates what it trained):
    nice .venv/bin/python benchmarks/bench_instance_deep.py --train --run runs/nuclei_a \
        --time-budget 20
    nice .venv/bin/python benchmarks/bench_instance_deep.py --train --run runs/nuclei_b \
        --time-budget 20 --init-from runs/nuclei_a/last.pt --lr 1e-3 --warmup 0.01 --seed 1 \
        --ship src/seglab/weights/nuclei_instance.pt
    nice .venv/bin/python benchmarks/bench_instance_deep.py --checkpoint runs/nuclei_b/last.pt

``--ship PATH`` also writes the checkpoint without its optimiser state and with the tuned
grouping settings (what ``seglab instance`` uses) to ``PATH``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_instance import GRID, run_watershed, solidity_scores  # noqa: E402

from seglab.annotations.coco_results import labels_to_results  # noqa: E402
from seglab.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from seglab.data.dsb2018 import load_dsb2018, normalize_image  # noqa: E402
from seglab.engine.train_instance import train_instance  # noqa: E402
from seglab.instance.draw import overlay_instances  # noqa: E402
from seglab.instance.grouping import group_instances  # noqa: E402
from seglab.metrics import aggregated_jaccard_index, dsb_score, mask_ap, panoptic_quality  # noqa: E402
from seglab.models.panoptic_deeplab import instance_model_from_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dsb2018-stage1-test"
MAX_DETS = (10, 100, 1000)
# Grouping settings tried on the training half: centre threshold x NMS window.
GROUPING_GRID = {"threshold": [0.1, 0.2], "nms_kernel": [5, 7, 9]}
# The watershed setting that bench_instance.py's grid search (same split, objective AP) picks,
# recorded in docs/bench/instance.md; --tune-watershed re-runs that search here.
WATERSHED_PARAMS = {
    "threshold": "li",
    "sigma": 1.0,
    "min_distance": 3,
    "distance_sigma": 1.0,
    "min_size": 50,
}


def evaluate(predictions: list[np.ndarray], scores: list[np.ndarray], targets: list) -> dict:
    """AP / AP50 / AP75 (pooled), AJI and DSB (means over images), PQ / SQ / RQ (pooled).

    ``scores[i]`` holds one score per instance id ``1..M`` of ``predictions[i]``.
    """
    pred_records, gt_records, pred_maps, gt_maps, pred_segments, gt_segments = (
        [] for _ in "123456"
    )
    for image_id, (pred, score, target) in enumerate(
        zip(predictions, scores, targets, strict=True)
    ):
        by_id = np.concatenate([[0.0], np.asarray(score, np.float64)])
        pred_records.append(labels_to_results(pred, image_id, scores=by_id))
        gt_records.append(labels_to_results(target, image_id))
        # In the panoptic format id 0 is *void*, where predictions are not penalised; here the
        # background is known, so it becomes a "background" stuff segment and a nucleus
        # predicted on it lowers PQ.
        for labels, maps, segments in (
            (pred, pred_maps, pred_segments),
            (target, gt_maps, gt_segments),
        ):
            background = int(labels.max()) + 1
            maps.append(np.where(labels > 0, labels, background).astype(np.int64))
            segments.append(
                [{"id": int(i), "category_id": 1} for i in np.unique(labels) if i]
                + [{"id": background, "category_id": 2}]
            )
    ap = mask_ap(pred_records, gt_records, max_dets=MAX_DETS)
    pq = panoptic_quality(
        pred_maps,
        gt_maps,
        pred_segments=pred_segments,
        target_segments=gt_segments,
        categories={1: True, 2: False},
    )["per_class"][1]
    pairs = list(zip(predictions, targets, strict=True))
    return {
        "AP": ap["AP"],
        "AP50": ap["AP50"],
        "AP75": ap["AP75"],
        "AJI": float(np.nanmean([aggregated_jaccard_index(p, t) for p, t in pairs])),
        "DSB": float(np.nanmean([dsb_score(p, t) for p, t in pairs])),
        "PQ": pq["PQ"],
        "SQ": pq["SQ"],
        "RQ": pq["RQ"],
    }


def compact(labels: np.ndarray) -> np.ndarray:
    """Relabel to ids 1..M in increasing-id order (watershed ids may have gaps)."""
    ids, inverse = np.unique(labels, return_inverse=True)
    offset = 0 if ids[0] == 0 else 1
    return (inverse.reshape(labels.shape) + offset).astype(np.int64)


def tune_watershed(images: list, targets: list) -> dict:
    """``bench_instance``'s grid search (objective AP with solidity scores) on ``images``."""
    cache: dict = {}
    best = None
    configs = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    for params in tqdm(configs, desc="tune watershed (train half)"):
        predictions = [compact(p) for p in run_watershed(images, params, cache)]
        scores = [solidity_scores(p) for p in predictions]
        result = evaluate(predictions, scores, targets)
        if best is None or result["AP"] > best[1]["AP"]:
            best = (params, result)
    return best[0]


def deep_outputs(model, images: list) -> tuple[list, float]:
    """Raw model outputs (CPU) per image, and the mean seconds per image."""
    outputs = []
    start = time.perf_counter()
    with torch.no_grad():
        for image in tqdm(images, desc="network", leave=False):
            out = model(normalize_image(image)[None])
            outputs.append(
                (
                    out["semantic"].softmax(dim=1)[0, 1],
                    out["center"][0, 0],
                    out["offset"][0],
                )
            )
    return outputs, (time.perf_counter() - start) / max(1, len(images))


def group_all(outputs: list, grouping: dict) -> tuple[list, list]:
    labels, scores = [], []
    for prob, center, offset in outputs:
        result = group_instances(prob, center, offset, **grouping)
        labels.append(result.labels.numpy())
        scores.append(result.scores.numpy())
    return labels, scores


def ship_checkpoint(state, grouping: dict, path: Path) -> None:
    """Write ``state`` without its training state (optimiser, EMA, history) and with the
    tuned ``grouping``: what ``seglab instance`` loads."""
    slim = {
        key: value
        for key, value in state.items()
        if key not in ("optimizer", "history", "format", "ema")
    }
    slim["grouping"] = grouping
    save_checkpoint(path, slim)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--checkpoint", type=Path, default=None, help="evaluate this checkpoint")
    parser.add_argument("--train", action="store_true", help="train first, into --run")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "nuclei_instance")
    parser.add_argument("--time-budget", type=float, default=20.0, help="training minutes")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", type=Path, default=None, help="fine-tune these weights")
    parser.add_argument("--base-channels", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--tune-watershed",
        action="store_true",
        help="re-run bench_instance's watershed grid search on the training half (slow)",
    )
    parser.add_argument(
        "--image", type=Path, default=ROOT / "docs" / "images" / "instances_deep.png"
    )
    parser.add_argument("--ship", type=Path, default=None, help="write a slim checkpoint here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if not (args.data / "stage1_test").is_dir():
        print(f"DSB 2018 data not found at {args.data}: nothing to do.")
        return 0
    if args.train:
        result = train_instance(
            args.data,
            args.run,
            split="train",
            base_channels=args.base_channels,
            steps=args.steps,
            time_budget=args.time_budget,
            lr=args.lr,
            warmup=args.warmup,
            seed=args.seed,
            init_from=args.init_from,
            threads=args.threads,
            resume=args.resume,
        )
        print(
            f"trained {result.steps} steps in {result.seconds / 60:.1f} min -> {result.checkpoint}"
        )
        args.checkpoint = result.checkpoint
    if args.checkpoint is None:
        parser.error("give --checkpoint, or --train")

    train = load_dsb2018(args.data, split="train")
    test = load_dsb2018(args.data, split="test")
    print(f"{len(train)} training images (even positions), {len(test)} held out (odd positions)")
    state = load_checkpoint(args.checkpoint)
    model = instance_model_from_checkpoint(state)
    train_args = state["train_args"]
    assert train_args["image_ids"] == [s.image_id for s in train], "checkpoint split differs"
    print(
        f"checkpoint {args.checkpoint}: {state['step']} steps, {state['elapsed'] / 60:.1f} min, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )

    # Grouping thresholds: picked on the training half only.
    train_outputs, _ = deep_outputs(model, [s.image for s in train])
    best = None
    for values in itertools.product(*GROUPING_GRID.values()):
        grouping = dict(zip(GROUPING_GRID, values, strict=True))
        labels, scores = group_all(train_outputs, grouping)
        result = evaluate(labels, scores, [s.labels for s in train])
        print(f"  grouping {grouping}: train-half AP {result['AP']:.4f}")
        if best is None or result["AP"] > best[1]["AP"]:
            best = (grouping, result)
    grouping = best[0]
    print(f"grouping picked on the training half: {grouping}")

    if args.tune_watershed:
        params = tune_watershed([s.image for s in train], [s.labels for s in train])
    else:
        params = WATERSHED_PARAMS
    print(f"watershed parameters (tuned on the training half): {params}")

    targets = [s.labels for s in test]
    test_outputs, net_seconds = deep_outputs(model, [s.image for s in test])
    start = time.perf_counter()
    deep_labels, deep_scores = group_all(test_outputs, grouping)
    group_seconds = (time.perf_counter() - start) / len(test)
    start = time.perf_counter()
    shed = [compact(p) for p in run_watershed([s.image for s in test], params)]
    shed_seconds = (time.perf_counter() - start) / len(test)
    rows = [
        ("deep (Panoptic-DeepLab heads, U-Net)", evaluate(deep_labels, deep_scores, targets)),
        (
            "deep, default grouping (threshold 0.1, NMS 7)",
            evaluate(*group_all(test_outputs, {"threshold": 0.1, "nms_kernel": 7}), targets),
        ),
        (
            "watershed (tuned), solidity score",
            evaluate(shed, [solidity_scores(p) for p in shed], targets),
        ),
    ]
    print(
        f"\nheld-out half ({len(test)} images, {sum(len(np.unique(t[t > 0])) for t in targets)} nuclei)"
    )
    print("| method | AP | AP50 | AP75 | AJI | PQ | SQ | RQ | DSB score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AP75']:.3f} | {r['AJI']:.3f} "
            f"| {r['PQ']:.3f} | {r['SQ']:.3f} | {r['RQ']:.3f} | {r['DSB']:.3f} |"
        )
    print(
        f"\nseconds per held-out image: network {net_seconds:.3f} + grouping {group_seconds:.3f} "
        f"(deep), watershed {shed_seconds:.3f}"
    )

    # The picture: the same held-out image as bench_instance's (first 256x256 fluorescence one
    # with 20-60 nuclei): ground truth, watershed, deep.
    index = next(
        k
        for k, s in enumerate(test)
        if s.image.shape[:2] == (256, 256) and 20 <= len(np.unique(s.labels)) - 1 <= 60
    )
    sample = test[index]
    crop = (slice(32, 224), slice(32, 224))
    gap = np.full((192, 6, 3), 255, np.uint8)
    panel = np.concatenate(
        [
            overlay_instances(sample.image, sample.labels)[crop],
            gap,
            overlay_instances(sample.image, shed[index])[crop],
            gap,
            overlay_instances(sample.image, deep_labels[index])[crop],
        ],
        axis=1,
    )
    args.image.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(panel).save(buffer, format="PNG", optimize=True)
    args.image.write_bytes(buffer.getvalue())
    print(
        f"wrote {args.image} (left: ground truth, middle: watershed, right: deep; "
        f"image {sample.image_id[:12]})"
    )

    if args.ship:
        ship_checkpoint(state, grouping, args.ship)
    return 0


if __name__ == "__main__":
    sys.exit(main())
