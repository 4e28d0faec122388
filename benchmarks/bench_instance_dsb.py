"""The nuclei model trained on the 664 DSB stage-1 training images, on the 47 stage-1 test images.

Data and roles (nothing here is tuned on a reported image):

* ``../shared/data/dsb2018-stage1-train`` (664 images): the model was trained on its ``fit``
  split (every image but each tenth, sorted by id) and selected on its ``val`` split (each
  tenth: 67 images). This script picks the grouping settings (centre threshold x NMS window) on
  that ``val`` split too.
* ``../shared/data/dsb2018-stage1-test`` (47 images, 3,016 nuclei): reporting only.

Rows: the new model on all 47 images, whole and tiled (``--tile`` windows, to show that tiling
agrees with whole-image inference), split by modality (fluorescence, brightfield, stained
tissue: by colour and background brightness, see :func:`modality`); and on the 23 odd-position
images, the only ones that the previous shipped model and the tuned watershed did not see
(both were fitted on the 24 even ones), all three side by side. Metrics as in
``bench_instance_deep.py``: COCO mask AP / AP50 / AP75, AJI and the Kaggle DSB score (means over
images), PQ pooled.

Speed: ``seglab instance`` images per second at 256² and 1024², and the peak resident memory
(``VmHWM`` of a fresh process, reset after loading) of inference on a 4096 x 4096 image, in
tiles of 512 and whole.

Usage:
    nice .venv/bin/python benchmarks/bench_instance_dsb.py --checkpoint runs/dsb664/best.pt \\
        --ship src/seglab/weights/nuclei_instance.pt
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_instance import run_watershed, solidity_scores  # noqa: E402
from bench_instance_deep import (  # noqa: E402
    GROUPING_GRID,
    WATERSHED_PARAMS,
    compact,
    evaluate,
    group_all,
    ship_checkpoint,
)

from seglab.checkpoint import load_checkpoint  # noqa: E402
from seglab.data.dsb2018 import load_dsb2018, normalize_image  # noqa: E402
from seglab.instance.draw import overlay_instances  # noqa: E402
from seglab.metrics import dsb_score  # noqa: E402
from seglab.models.panoptic_deeplab import instance_model_from_checkpoint  # noqa: E402
from seglab.models.tiling import tiled_forward  # noqa: E402
from seglab.pretrained import default_instance_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MODALITIES = ("fluorescence", "brightfield", "stained tissue")


def modality(image: np.ndarray) -> str:
    """Stained tissue when the channels differ (H&E colours), else fluorescence on a dark
    background or brightfield on a bright one."""
    pixels = image.reshape(-1, 3).astype(np.float64)
    colour = np.abs(pixels - pixels.mean(axis=1, keepdims=True)).mean()
    if colour > 8:
        return "stained tissue"
    return "fluorescence" if np.median(pixels) < 100 else "brightfield"


@torch.no_grad()
def network_outputs(model, images: list, tile: int | None = None) -> tuple[list, float]:
    """(foreground prob, centre, offset) per image, and seconds per image."""
    outputs = []
    start = time.perf_counter()
    for image in images:
        tensor = normalize_image(image)[None]
        out = model(tensor) if tile is None else tiled_forward(model, tensor, tile=tile)
        outputs.append((out["semantic"].softmax(1)[0, 1], out["center"][0, 0], out["offset"][0]))
    return outputs, (time.perf_counter() - start) / max(1, len(images))


def pick_grouping(model, val) -> dict:
    outputs, _ = network_outputs(model, [s.image for s in val])
    best = None
    for values in itertools.product(*GROUPING_GRID.values()):
        grouping = dict(zip(GROUPING_GRID, values, strict=True))
        result = evaluate(*group_all(outputs, grouping), [s.labels for s in val])
        print(f"  grouping {grouping}: val AP {result['AP']:.4f}, DSB {result['DSB']:.4f}")
        if best is None or result["DSB"] > best[1]["DSB"]:
            best = (grouping, result)
    return best[0]


def table(rows: list[tuple[str, int, dict]]) -> None:
    print("| model | images | AP | AP50 | AP75 | AJI | PQ | DSB score |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, count, r in rows:
        print(
            f"| {name} | {count} | {r['AP']:.3f} | {r['AP50']:.3f} | {r['AP75']:.3f} "
            f"| {r['AJI']:.3f} | {r['PQ']:.3f} | {r['DSB']:.3f} |"
        )


def speed(checkpoint: Path, sizes=(256, 1024), repeats: int = 5) -> dict:
    """Images per second of the whole `seglab instance` path (network + grouping)."""
    from seglab.instance.grouping import checkpoint_grouping, predict_instances

    state = load_checkpoint(checkpoint)
    model = instance_model_from_checkpoint(state)
    grouping = checkpoint_grouping(state)
    test = load_dsb2018(DATA / "dsb2018-stage1-test")
    source = next(s.image for s in test if s.image.shape[:2] == (256, 256))
    rates = {}
    for size in sizes:
        image = np.tile(source, (size // 256, size // 256, 1))
        predict_instances(model, image, tile=512, **grouping)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            predict_instances(model, image, tile=512, **grouping)
            times.append(time.perf_counter() - start)
        rates[size] = 1.0 / float(np.median(times))
    return rates


PEAK_SCRIPT = """
import sys, numpy as np, torch
from seglab.checkpoint import load_checkpoint
from seglab.instance.grouping import checkpoint_grouping, predict_instances
from seglab.models.panoptic_deeplab import instance_model_from_checkpoint

def peak_mb():
    # VmHWM: this process's peak resident memory (ru_maxrss would include the parent's at fork).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

state = load_checkpoint(sys.argv[1])
model = instance_model_from_checkpoint(state)
base = np.load(sys.argv[2])
image = np.tile(base, (4096 // base.shape[0] + 1, 4096 // base.shape[1] + 1, 1))[:4096, :4096]
image = np.ascontiguousarray(image)
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset VmHWM to the current resident memory
before = peak_mb()
result = predict_instances(model, image, tile=int(sys.argv[3]) or None, **checkpoint_grouping(state))
print(f"{len(result)} {before:.0f} {peak_mb():.0f}")
"""


def peak_memory(checkpoint: Path, image: np.ndarray, tile: int) -> tuple[int, float, float]:
    """Instances, MB before inference and peak MB of tiled inference on a 4096² image."""
    path = Path("/tmp/seglab_peak_image.npy")
    np.save(path, image)
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(checkpoint), str(path), str(tile)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def _pad(array: np.ndarray, side: int) -> np.ndarray:
    """Pad an (h, w, 3) crop with white up to (side, side, 3)."""
    return np.pad(
        array,
        ((0, side - array.shape[0]), (0, side - array.shape[1]), (0, 0)),
        constant_values=255,
    )


def figure(samples, labels, scores, path: Path, side: int = 192) -> None:
    """Two best and two worst images by DSB score: ground truth | prediction (top-left crops)."""
    order = np.argsort(scores)
    picks = [*order[-2:][::-1], *order[:2]]
    gap = np.full((side, 6, 3), 255, np.uint8)
    rows = []
    for index in picks:
        sample = samples[index]
        truth = _pad(overlay_instances(sample.image, sample.labels)[:side, :side], side)
        pred = _pad(overlay_instances(sample.image, labels[index])[:side, :side], side)
        rows.append(np.concatenate([truth, gap, pred], axis=1))
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    panel = np.concatenate(rows[:-1], axis=0)
    buffer = io.BytesIO()
    Image.fromarray(panel).save(buffer, format="PNG", optimize=True)
    path.write_bytes(buffer.getvalue())
    names = [f"{samples[i].image_id[:8]} (DSB {scores[i]:.2f})" for i in picks]
    print(f"wrote {path}: rows {', '.join(names)}; left ground truth, right prediction")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="the new model")
    parser.add_argument("--old", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--tile", type=int, default=128, help="tile of the tiled rows")
    parser.add_argument("--image", type=Path, default=ROOT / "docs/images/instances_dsb664.png")
    parser.add_argument("--ship", type=Path, default=None, help="write the slim model here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not (DATA / "dsb2018-stage1-train").is_dir():
        print(f"DSB data not found under {DATA}: nothing to do.")
        return 0
    old_path = args.old or default_instance_checkpoint()
    state = load_checkpoint(args.checkpoint)
    model = instance_model_from_checkpoint(state).eval()
    last = args.checkpoint.with_name("last.pt")  # best.pt holds weights, last.pt the run
    run = load_checkpoint(last) if last.is_file() else state
    print(
        f"{args.checkpoint}: epoch {state.get('epoch', -1) + 1} of a run of {run.get('step')} "
        f"steps, {run.get('elapsed', float('nan')) / 3600:.2f} h on the "
        f"{state['train_args'].get('budget_clock', 'wall')} clock, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters"
    )
    val = load_dsb2018(DATA / "dsb2018-stage1-train", split="val")
    assert [s.image_id for s in val] == state["train_args"]["val_ids"], "validation split differs"
    grouping = pick_grouping(model, val)
    print(f"grouping picked on the 67 validation images: {grouping}")

    test = load_dsb2018(DATA / "dsb2018-stage1-test")
    targets = [s.labels for s in test]
    kinds = [modality(s.image) for s in test]
    whole, whole_seconds = network_outputs(model, [s.image for s in test])
    labels, scores = group_all(whole, grouping)
    tiled, tiled_seconds = network_outputs(model, [s.image for s in test], tile=args.tile)
    results = {"all": evaluate(labels, scores, targets)}
    rows = [("new, whole images", len(test), results["all"])]
    results["tiled"] = evaluate(*group_all(tiled, grouping), targets)
    rows.append(
        (f"new, tiles of {args.tile} (overlap {args.tile // 4})", len(test), results["tiled"])
    )
    for kind in MODALITIES:
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        if chosen:
            results[kind] = evaluate(
                [labels[i] for i in chosen],
                [scores[i] for i in chosen],
                [targets[i] for i in chosen],
            )
            rows.append((f"new, {kind}", len(chosen), results[kind]))
    print(f"\nall 47 stage-1 test images ({sum(len(np.unique(t)) - 1 for t in targets)} nuclei)")
    table(rows)
    print(f"seconds per image: whole {whole_seconds:.3f}, tiled {tiled_seconds:.3f} (network only)")

    odd = list(range(1, len(test), 2))
    old_state = load_checkpoint(old_path)
    old_model = instance_model_from_checkpoint(old_state).eval()
    from seglab.instance.grouping import checkpoint_grouping

    old_outputs, _ = network_outputs(old_model, [test[i].image for i in odd])
    odd_targets = [targets[i] for i in odd]
    shed = [compact(p) for p in run_watershed([test[i].image for i in odd], WATERSHED_PARAMS)]
    results["odd_new"] = evaluate([labels[i] for i in odd], [scores[i] for i in odd], odd_targets)
    results["odd_old"] = evaluate(
        *group_all(old_outputs, checkpoint_grouping(old_state)), odd_targets
    )
    results["odd_watershed"] = evaluate(shed, [solidity_scores(p) for p in shed], odd_targets)
    print("\nthe 23 odd-position images (unseen by the old model and the watershed's tuning)")
    table(
        [
            ("new (664 training images)", len(odd), results["odd_new"]),
            ("old (24 images of this set)", len(odd), results["odd_old"]),
            ("watershed (tuned on the even 24)", len(odd), results["odd_watershed"]),
        ]
    )

    per_image = [dsb_score(p, t) for p, t in zip(labels, targets, strict=True)]
    args.image.parent.mkdir(parents=True, exist_ok=True)
    figure(test, labels, np.nan_to_num(per_image), args.image)
    rates = speed(args.checkpoint)
    print(
        "seglab instance (network + grouping, tile 512): "
        + ", ".join(f"{size}²: {rate:.2f} images/s" for size, rate in rates.items())
    )
    big = test[kinds.index("fluorescence")].image
    peaks = {}
    for tile in (512, 0):  # 0: the whole image at once, for comparison
        count, before, peaks[tile] = peak_memory(args.checkpoint, big, tile)
        print(
            f"4096 x 4096 image, {f'tiles of {tile}' if tile else 'whole'}: {count} instances, "
            f"peak resident memory {peaks[tile]:.0f} MB ({before:.0f} MB before inference)"
        )
    results.update(speed={str(k): v for k, v in rates.items()}, peak_mb=peaks, grouping=grouping)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.ship:
        ship_checkpoint(state, grouping, args.ship)
    return 0


if __name__ == "__main__":
    sys.exit(main())
