"""Shared fixtures: tiny datasets built in ``tmp_path``, so no test needs ``../shared/data``."""

from __future__ import annotations

import os

# Threaded BLAS thrashes on 2 busy cores (dense eigh in the NCut tests ran up to 100x slower);
# set before NumPy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

# Two cores are all CI has; more threads than that only thrash.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shapes_sample(rng: np.random.Generator, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image with a bright disc (class 1) and a dark square (class 2) on grey.

    Returns:
        ``(H, W, 3)`` uint8 image and ``(H, W)`` uint8 mask in {0, 1, 2}.
    """
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
    radius = rng.integers(size // 8, size // 4)
    mask = np.zeros((size, size), np.uint8)
    x0, y0 = rng.integers(0, size // 2, size=2)
    mask[y0 : y0 + size // 4, x0 : x0 + size // 4] = 2
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
    colours = np.array([[120, 120, 120], [230, 60, 40], [30, 40, 160]], np.float64)
    image = colours[mask] + rng.normal(0, 12, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def square_image() -> np.ndarray:
    """A red square on a noisy blue-grey background: GrabCut's easy case (60 x 80 x 3)."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((90, 100, 120), 10, (60, 80, 3)), 0, 255)
    image[15:45, 20:60] = rng.normal((210, 50, 40), 10, (30, 40, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def folder_dataset(tmp_path: Path) -> Path:
    """``images/*.png`` + ``masks/*.png`` (palette) + ``masks/classes.txt``, 3 classes, 12 pairs."""
    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for index in range(12):
        image, mask = shapes_sample(rng)
        Image.fromarray(image).save(root / "images" / f"img{index:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{index:02d}.png")
    (root / "masks" / "classes.txt").write_text("background\ndisc\nsquare\n")
    return root


@pytest.fixture
def pet_dataset(tmp_path: Path) -> Path:
    """A tiny Oxford-IIIT Pet layout: jpg images, trimaps (1 pet, 2 background, 3 border),
    trainval/test/list files and head-box xmls."""
    rng = np.random.default_rng(1)
    root = tmp_path / "pets"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    (root / "annotations" / "xmls").mkdir()
    names = [f"Abyssinian_{index}" for index in range(1, 11)]
    for name in names:
        image, mask = shapes_sample(rng, size=64)
        pet = mask == 1
        trimap = np.where(pet, 1, 2).astype(np.uint8)
        # A one-pixel border band around the pet, as in the real trimaps.
        from scipy.ndimage import binary_dilation

        trimap[binary_dilation(pet) & ~pet] = 3
        Image.fromarray(image).save(root / "images" / f"{name}.jpg", quality=95)
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{name}.png")
        ys, xs = np.nonzero(pet)
        box = (xs.min(), ys.min(), (xs.min() + xs.max()) // 2 + 1, (ys.min() + ys.max()) // 2 + 1)
        (root / "annotations" / "xmls" / f"{name}.xml").write_text(
            "<annotation><object><name>cat</name><bndbox>"
            f"<xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>"
            "</bndbox></object></annotation>"
        )
    lines = [f"{name} 1 1 1" for name in names]
    (root / "annotations" / "trainval.txt").write_text("\n".join(lines[:8]) + "\n")
    (root / "annotations" / "test.txt").write_text("\n".join(lines[8:]) + "\n")
    (root / "annotations" / "list.txt").write_text(
        "#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(lines) + "\n"
    )
    return root


@pytest.fixture
def torchrun_command():
    """``torchrun_command(*args)``: the command line of a 2-process CPU torchrun job."""

    def command(*args: str) -> list[str]:
        import sys

        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            *args,
        ]

    return command
