"""Mask -> polygon with k vertices -> mask: how much IoU does each vertex buy?

The notes claim that fewer polygon points are cheaper to label and more points are more
accurate. This script puts numbers on it. For every real mask it traces the exact boundary
(``mask_to_polygons``, which rasterises back to the same mask), simplifies it to a budget of
k vertices for the whole object (all parts and holes; Visvalingam-Whyatt, seglab's default)
and scores the rasterised polygon against the mask with IoU. As a baseline it also runs
Douglas-Peucker with a bisection on its tolerance to meet the same budget.

Masks (all of them, no split is involved since nothing is trained):
    * Oxford-IIIT Pet trimaps, binary pet mask = trimap 1 (pet) or 3 (border), the notes' mask;
    * Weizmann horse ``figure_ground`` masks, binarised at 128 (they are JPEG files).
Every connected component is kept; the budget counts all vertices.

Usage:
    nice .venv/bin/python benchmarks/bench_polygon_fidelity.py \
        --plot docs/images/polygon_fidelity.png

Reads ``../shared/data/{oxford-iiit-pet,weizmann-horse}`` (relative to the project root)
unless ``--data`` says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from seglab.annotations.coco import polygons_to_segmentation
from seglab.annotations.polygons import count_vertices, mask_to_polygons, polygons_to_mask
from seglab.annotations.simplify import simplify_polygons, simplify_to_budgets

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BUDGETS = [4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
THRESHOLDS = [0.95, 0.99]


def pet_masks(root: Path, limit: int | None):
    paths = sorted((root / "oxford-iiit-pet" / "annotations" / "trimaps").glob("*.png"))[:limit]
    for path in paths:
        yield path.stem, np.asarray(Image.open(path)) != 2  # 1 pet, 3 border -> pet


def horse_masks(root: Path, limit: int | None):
    paths = sorted((root / "weizmann-horse" / "weizmann_horse_db" / "figure_ground").glob("*.jpg"))
    for path in paths[:limit]:
        yield path.stem, np.asarray(Image.open(path).convert("L")) >= 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def douglas_peucker_budget(parts: list, budget: int, iterations: int = 30) -> list:
    """Douglas-Peucker with a bisection on the tolerance: the smallest one that meets the budget.

    A tolerance so large that every ring collapses counts as too large, so the bisection
    settles on the finest polygon within the budget that still exists.
    """
    low, high, best = 0.0, 4096.0, []
    for _ in range(iterations):
        middle = (low + high) / 2
        candidate = simplify_polygons(parts, tolerance=middle)
        if not candidate:
            high = middle
        elif count_vertices(candidate) <= budget:
            high, best = middle, candidate
        else:
            low = middle
    return best


def pycocotools_mask(parts: list, height: int, width: int) -> np.ndarray:
    from pycocotools import mask as coco_mask

    segmentation = polygons_to_segmentation(parts)
    return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))) > 0


def skimage_mask(parts: list, height: int, width: int) -> np.ndarray:
    from skimage.draw import polygon

    result = np.zeros((height, width), bool)
    for part in parts:
        filled = np.zeros((height, width), bool)
        for ring in part:  # even-odd within a part; skimage's centres are at integers
            rows, cols = polygon(ring[:, 1] - 0.5, ring[:, 0] - 0.5, shape=(height, width))
            filled[rows, cols] ^= True
        result |= filled
    return result


def timed(function, *args) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def edge_distance(differ: np.ndarray, parts: list) -> float:
    """Largest distance from the centre of a differing pixel to the polygon's edges (0 if none)."""
    rows, cols = np.nonzero(differ)
    if rows.size == 0:
        return 0.0
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    nearest = np.full(len(centres), np.inf)
    for ring in (ring for part in parts for ring in part):
        start, edge = ring, np.roll(ring, -1, axis=0) - ring
        t = ((centres[:, None] - start[None]) * edge[None]).sum(-1) / np.maximum(
            (edge**2).sum(-1), 1e-12
        )
        closest = start[None] + np.clip(t, 0, 1)[..., None] * edge[None]
        nearest = np.minimum(nearest, np.sqrt(((centres[:, None] - closest) ** 2).sum(-1)).min(1))
    return float(nearest.max())


def rasteriser_check(parts: list, shape: tuple[int, int]) -> dict:
    """Our rasteriser against pycocotools and skimage on one real polygon: agreement and time."""
    ours_time, ours = timed(polygons_to_mask, parts, *shape)
    coco_time, coco = timed(pycocotools_mask, parts, *shape)
    skimage_time, reference = timed(skimage_mask, parts, *shape)
    return {
        "iou_pycocotools": iou(ours, coco),
        "differing_pycocotools": int((ours != coco).sum()),
        "distance_pycocotools": edge_distance(ours != coco, parts),
        "differing_skimage": int((ours != reference).sum()),
        "distance_skimage": edge_distance(ours != reference, parts),
        "seconds": (ours_time, coco_time, skimage_time),
    }


def evaluate(name: str, masks, with_dp: bool) -> dict:
    scores_vw, scores_dp, raw_vertices, sizes, seconds, empty = [], [], [], [], [], []
    checks = []
    for stem, mask in tqdm(list(masks), desc=name, unit="mask"):
        if not mask.any():
            empty.append(stem)  # IoU is undefined (Abyssinian_34's trimap is all background)
            continue
        sizes.append(mask.shape)
        start = time.perf_counter()
        parts = mask_to_polygons(mask)
        per_budget = simplify_to_budgets(parts, BUDGETS)
        seconds.append(time.perf_counter() - start)
        assert np.array_equal(polygons_to_mask(parts, *mask.shape), mask)  # exact trace
        raw_vertices.append(count_vertices(parts))
        # Real polygons for the rasteriser check: the traced one and its 32-vertex version.
        checks.append(
            [rasteriser_check(p, mask.shape) for p in (parts, per_budget[BUDGETS.index(32)])]
        )
        scores_vw.append([iou(polygons_to_mask(p, *mask.shape), mask) for p in per_budget])
        if with_dp:
            scores_dp.append(
                [
                    iou(polygons_to_mask(douglas_peucker_budget(parts, k), *mask.shape), mask)
                    for k in BUDGETS
                ]
            )
    return {
        "name": name,
        "vw": np.array(scores_vw),
        "dp": np.array(scores_dp) if with_dp else None,
        "raw_vertices": np.array(raw_vertices),
        "sizes": np.array(sizes),
        "seconds": np.array(seconds),
        "empty": empty,
        "checks": checks,
    }


def first_budget(curve: np.ndarray, threshold: float) -> str:
    reached = np.flatnonzero(curve >= threshold)
    return str(BUDGETS[reached[0]]) if reached.size else f"> {BUDGETS[-1]}"


def report(results: list[dict]) -> str:
    lines = []
    header = "| k |" + "".join(
        f" {r['name']} median | {r['name']} p10 |"
        + (f" {r['name']} median (DP) |" if r["dp"] is not None else "")
        for r in results
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for column, k in enumerate(BUDGETS):
        cells = []
        for r in results:
            scores = r["vw"][:, column]
            cells.append(f" {np.median(scores):.4f} | {np.percentile(scores, 10):.4f} |")
            if r["dp"] is not None:
                cells.append(f" {np.median(r['dp'][:, column]):.4f} |")
        lines.append(f"| {k} |" + "".join(cells))
    lines += [
        "",
        "| dataset | masks | median size (H x W) | median traced vertices | "
        + " | ".join(f"k for IoU {t} (median / 90% of masks)" for t in THRESHOLDS)
        + " | median ms per mask (trace + 13 budgets) |",
        "|---|---|---|---|" + "---|" * len(THRESHOLDS) + "---|",
    ]
    for r in results:
        size = np.median(r["sizes"], axis=0).astype(int)
        needed = [
            f"{first_budget(np.median(r['vw'], axis=0), t)} / {first_budget(np.percentile(r['vw'], 10, axis=0), t)}"
            for t in THRESHOLDS
        ]
        lines.append(
            f"| {r['name']} | {len(r['vw'])} | {size[0]} x {size[1]} | {int(np.median(r['raw_vertices']))} | "
            + " | ".join(needed)
            + f" | {1000 * np.median(r['seconds']):.1f} |"
        )
    lines += [
        "",
        "Rasteriser check on the same real polygons (traced / 32-vertex): seglab's pixel-centre "
        "rasteriser against pycocotools (frPyObjects + merge + decode) and skimage.draw.polygon.",
        "",
        "| dataset | polygon | IoU vs pycocotools: mean / min | differing px vs pycocotools: mean (max centre-edge distance) | differing px vs skimage: mean (max distance) | median ms seglab / pycocotools / skimage |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for column, label in enumerate(("traced", "k = 32")):
            checks = [c[column] for c in r["checks"]]
            ious = [c["iou_pycocotools"] for c in checks]
            times = np.median([c["seconds"] for c in checks], axis=0) * 1000
            differing = {
                ref: f"{np.mean([c['differing_' + ref] for c in checks]):.1f} "
                f"({max(c['distance_' + ref] for c in checks):.3f} px)"
                for ref in ("pycocotools", "skimage")
            }
            lines.append(
                f"| {r['name']} | {label} | {np.mean(ious):.5f} / {np.min(ious):.5f} | "
                f"{differing['pycocotools']} | {differing['skimage']} | "
                + " / ".join(f"{t:.2f}" for t in times)
                + " |"
            )
    for r in results:
        if r["empty"]:
            lines.append(f"\n{r['name']}: skipped empty masks: {', '.join(r['empty'])}")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    colours = {"pets": "tab:orange", "horses": "tab:blue"}
    for r in results:
        colour = colours.get(r["name"], None)
        axis.plot(
            BUDGETS, np.median(r["vw"], axis=0), "-o", color=colour, label=f"{r['name']}: median"
        )
        axis.plot(
            BUDGETS,
            np.percentile(r["vw"], 10, axis=0),
            "--s",
            color=colour,
            label=f"{r['name']}: 10th percentile",
        )
    for threshold in THRESHOLDS:
        axis.axhline(threshold, color="grey", linewidth=0.8, linestyle=":")
        axis.text(4, threshold - 0.004, f"IoU {threshold}", color="grey", fontsize=7, va="top")
    axis.set_xscale("log")
    axis.set_xticks(BUDGETS)
    axis.set_xticklabels([str(k) for k in BUDGETS])
    axis.set_xlabel("vertex budget k (whole object, log scale)")
    axis.set_ylabel("IoU(mask, rasterised polygon)")
    axis.set_ylim(0.4, 1.0)
    axis.set_title("Polygon fidelity: mask -> k-vertex polygon -> mask")
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--limit", type=int, default=None, help="masks per dataset (for a quick run)"
    )
    parser.add_argument("--no-dp", action="store_true", help="skip the Douglas-Peucker baseline")
    parser.add_argument(
        "--plot", type=Path, default=None, help="write the IoU-vs-k plot (PNG) here"
    )
    args = parser.parse_args()
    sources = [
        ("pets", args.data / "oxford-iiit-pet", pet_masks),
        ("horses", args.data / "weizmann-horse", horse_masks),
    ]
    results = []
    for name, folder, reader in sources:
        if not folder.is_dir():
            print(f"dataset folder missing, skipped: {folder}", file=sys.stderr)
            continue
        results.append(evaluate(name, reader(args.data, args.limit), with_dp=not args.no_dp))
    if not results:
        print(f"no data found under {args.data}; nothing to measure", file=sys.stderr)
        return 1
    print(report(results))
    if args.plot:
        plot(results, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
