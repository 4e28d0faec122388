"""How much a pet checkpoint relies on coat colour: IoU on colour-changed images and on horses.

The shared pets are three breeds (ruddy Abyssinians, spotted Bengals, white and brown
bulldogs), so a model trained on them can learn "orange fur is pet" instead of the shape of an
animal, and then fail on a black cat or a grey dog. This script measures that with data we have:

    * ``val``: the held-out pet images as they are;
    * ``gray``: the same images in grey (the luma in all three channels): no colour at all;
    * ``hue 0.25`` / ``hue 0.5``: the same images with their hue turned a quarter and half a
      turn of the colour wheel (greys stay grey; an orange coat becomes green or blue);
    * ``horses``: the 233 Weizmann horses (``figure_ground`` masks resized to the ``rgb``
      images, as the data's SOURCE.md says): animals of other shapes and coats that no pet
      model trained on.

Each figure is the pooled foreground IoU at the images' own size, of the masks that
``seglab predict`` writes (the same :class:`~seglab.engine.predict.Predictor` code path).
The val images are the split of ``seglab train --val-fraction 0.15 --split-seed 0``.

Usage:
    nice .venv/bin/python benchmarks/pet_colour_robustness.py shipped runs/pet_col_a/best.pt \
        --figure docs/images/pet_colour_robustness.png
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from seglab.convert import image_to_tensor, tensor_to_image
from seglab.data import OxfordPetDataset
from seglab.data.transforms import luma, rotate_hue
from seglab.engine.predict import Predictor

Pair = tuple[np.ndarray, np.ndarray]


def to_gray(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB → the same image in grey, the luma in all three channels."""
    return tensor_to_image(luma(image_to_tensor(image)).expand(3, -1, -1))


def turn_hue(image: np.ndarray, turns: float) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB with its hue turned by ``turns`` of the colour wheel."""
    return tensor_to_image(rotate_hue(image_to_tensor(image), turns))


def pet_val_pairs(root: Path, val_fraction: float, split_seed: int) -> list[Pair]:
    """The held-out pet images and their binary masks (pet and border = 1), at full size."""
    dataset = OxfordPetDataset(
        root, split="val", mode="binary", size=128, val_fraction=val_fraction, seed=split_seed
    )
    pairs = []
    for stem in dataset.stems:
        image = np.asarray(Image.open(dataset.image_path(stem)).convert("RGB"))
        pairs.append((image, np.asarray(Image.open(dataset.trimap_path(stem))) != 2))
    return pairs


def horse_pairs(root: Path) -> list[Pair]:
    """Weizmann horses: ``rgb`` images with their ``figure_ground`` masks resized to them."""
    pairs = []
    for path in sorted((root / "rgb").glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        mask = Image.open(root / "figure_ground" / path.name).convert("L")
        mask = mask.resize(image.size, Image.Resampling.NEAREST)
        pairs.append((np.asarray(image), np.asarray(mask) >= 128))
    return pairs


def pooled_iou(
    predictor: Predictor,
    pairs: Iterable[Pair],
    change: Callable[[np.ndarray], np.ndarray] | None = None,
    batch: int = 16,
) -> float:
    """Foreground IoU over all pixels of all images (class 1 of the predicted masks)."""
    pairs = list(pairs)
    inter = union = 0
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        images = [change(image) if change else image for image, _ in chunk]
        for labels, (_, truth) in zip(predictor.predict_batch(images), chunk, strict=True):
            predicted = labels == 1
            inter += int((predicted & truth).sum())
            union += int((predicted | truth).sum())
    return inter / union if union else float("nan")


def draw_figure(
    path: Path, predictors: dict[str, Predictor], examples: list[tuple[str, np.ndarray]]
) -> None:
    """One row per example image, one column per checkpoint: its mask over the image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seglab.viz import overlay_mask

    rows, cols = len(examples), len(predictors)
    figure, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
    for row, (label, image) in enumerate(examples):
        # Thumbnails keep the PNG small; the masks are predicted on them, as on any image.
        thumb = Image.fromarray(image)
        thumb.thumbnail((200, 200), Image.Resampling.LANCZOS)
        image = np.asarray(thumb)
        for col, (name, predictor) in enumerate(predictors.items()):
            axis = axes[row, col]
            axis.imshow(overlay_mask(image, predictor.predict(image)))
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=8)
            if col == 0:
                axis.set_ylabel(label, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=80)
    plt.close(figure)
    # 256 colours are plenty for overlays and keep the PNG in the docs about 4x smaller.
    buffer.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(buffer).convert("RGB").quantize(256).save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint paths, or 'shipped'")
    parser.add_argument("--data", default="../shared/data", help="folder of the shared data")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--figure", type=Path, help="also draw example masks into this PNG")
    args = parser.parse_args(argv)

    data = Path(args.data)
    val = pet_val_pairs(data / "oxford-iiit-pet", args.val_fraction, args.split_seed)
    horses = horse_pairs(data / "weizmann-horse" / "weizmann_horse_db")
    tests = {
        "val": (val, None),
        "gray": (val, to_gray),
        "hue 0.25": (val, lambda image: turn_hue(image, 0.25)),
        "hue 0.5": (val, lambda image: turn_hue(image, 0.5)),
        "horses": (horses, None),
    }
    print(f"| checkpoint | {' | '.join(tests)} |")
    print(f"|---|{'---:|' * len(tests)}")
    predictors = {}
    for name in tqdm(args.checkpoints, desc="checkpoints", file=sys.stderr):
        predictor = predictors[name] = Predictor(None if name == "shipped" else name, device="cpu")
        scores = [pooled_iou(predictor, pairs, change) for pairs, change in tests.values()]
        print(f"| `{name}` | {' | '.join(f'{score:.3f}' for score in scores)} |", flush=True)
    if args.figure:
        # Fixed examples, not picked by score: the first two val images, and two horses.
        examples = [("val", val[0][0]), ("val, gray", to_gray(val[1][0]))]
        examples += [("val, hue 0.25", turn_hue(val[0][0], 0.25)), ("horse", horses[0][0])]
        examples += [("horse", horses[1][0])]
        draw_figure(args.figure, predictors, examples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
