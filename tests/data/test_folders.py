"""MaskFolderDataset: matching by stem, class names, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.data import MaskFolderDataset, read_class_names
from seglab.io import write_mask


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """``images/`` in mixed formats, ``masks/`` as palette and grayscale PNGs, classes.txt."""
    rng = np.random.default_rng(0)
    root = tmp_path / "shapes"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    suffixes = [".png", ".jpg", ".bmp", ".PNG", ".tif", ".png"]
    for index, suffix in enumerate(suffixes):
        height, width = 24 + index, 30
        mask = np.zeros((height, width), np.uint8)
        mask[2 : 10 + index, 3:12] = 1
        mask[12:20, 15:27] = 2
        mask[0, 0] = 255  # void pixel
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "images" / f"img{index}{suffix}")
        if index % 2:
            write_mask(root / "masks" / f"img{index}.png", mask)  # palette PNG
        else:
            Image.fromarray(mask).save(root / "masks" / f"img{index}.png")  # grayscale PNG
    (root / "masks" / "classes.txt").write_text("background\ndisc\nsquare\n")
    (root / "images" / ".DS_Store").write_bytes(b"junk")  # metadata files are ignored
    (root / "images" / "notes.txt").write_text("not an image")
    return root


def test_items_follow_the_files(shapes):
    dataset = MaskFolderDataset(shapes / "images", shapes / "masks")
    assert len(dataset) == 6 and dataset.stems == [f"img{i}" for i in range(6)]
    assert dataset.class_names == ["background", "disc", "square"] and dataset.num_classes == 3
    assert dataset.ignore_index == 255 and dataset.task == "multiclass"
    for index in range(6):
        image, mask = dataset[index]
        reference_mask = np.asarray(Image.open(dataset.mask_paths[index])).astype(np.int64)
        reference_image = np.asarray(Image.open(dataset.image_paths[index]).convert("RGB"))
        np.testing.assert_array_equal(mask.numpy(), reference_mask)  # palette indices, not colours
        np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), reference_image / 255, atol=1e-6)
        assert mask.dtype == torch.int64 and image.dtype == torch.float32
    assert "num_classes=3" in repr(dataset)


def test_resize_transform_and_normalize(shapes):
    resized = MaskFolderDataset(shapes / "images", shapes / "masks", size=(12, 15))
    image, mask = resized[1]
    assert image.shape == (3, 12, 15) and mask.shape == (12, 15)
    full = MaskFolderDataset(shapes / "images", shapes / "masks")[1][1]
    torch.testing.assert_close(mask, full[1::2, 1::2])  # nearest: every other pixel centre
    flipped = MaskFolderDataset(
        shapes / "images",
        shapes / "masks",
        size=(12, 15),
        transform=lambda i, m: (i.flip(-1), m.flip(-1)),
        normalize=([0.5] * 3, [0.5] * 3),
    )
    flipped_image, flipped_mask = flipped[1]
    torch.testing.assert_close(flipped_mask, mask.flip(-1))
    torch.testing.assert_close(flipped_image, (image.flip(-1) - 0.5) / 0.5)


def test_class_names_from_argument_file_or_count(shapes, tmp_path):
    (shapes / "masks" / "classes.txt").unlink()
    with pytest.raises(
        ValueError, match="no class names: give class_names, num_classes, or a classes.txt"
    ):
        MaskFolderDataset(shapes / "images", shapes / "masks")
    counted = MaskFolderDataset(shapes / "images", shapes / "masks", num_classes=3)
    assert counted.class_names == ["class_0", "class_1", "class_2"]
    listed = MaskFolderDataset(shapes / "images", shapes / "masks", class_names=["a", "b", "c"])
    assert listed.class_names == ["a", "b", "c"]
    names = tmp_path / "names.txt"
    names.write_text("# comment\nbg\n\nround\nsquare\n")
    assert read_class_names(names) == ["bg", "round", "square"]
    assert (
        MaskFolderDataset(shapes / "images", shapes / "masks", class_names=names).num_classes == 3
    )
    with pytest.raises(ValueError, match="num_classes=4 but 3 class names are given"):
        MaskFolderDataset(shapes / "images", shapes / "masks", class_names=names, num_classes=4)


def test_class_name_file_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("\n# only a comment\n")
    with pytest.raises(ValueError, match="lists no class names"):
        read_class_names(tmp_path / "empty.txt")
    (tmp_path / "twice.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(ValueError, match=r"lists class names more than once: \['cat'\]"):
        read_class_names(tmp_path / "twice.txt")
    with pytest.raises(FileNotFoundError, match="class-name file not found: .*missing.txt"):
        read_class_names(tmp_path / "missing.txt")


def test_unmatched_files_and_missing_folders(shapes, tmp_path):
    (shapes / "images" / "img0.png").rename(shapes / "images" / "other.png")
    with pytest.raises(
        ValueError,
        match=r"1 image\(s\) without a mask \(e.g. \['other'\]\), "
        r"1 mask\(s\) without an image \(e.g. \['img0'\]\)",
    ):
        MaskFolderDataset(shapes / "images", shapes / "masks")
    with pytest.raises(FileNotFoundError, match="no such folder: .*nope"):
        MaskFolderDataset(tmp_path / "nope", shapes / "masks")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="no images found in .*a"):
        MaskFolderDataset(tmp_path / "a", tmp_path / "b", num_classes=2)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "x.jpg")
    with pytest.raises(ValueError, match="two files share the stem 'x' in .*: x.jpg, x.png"):
        MaskFolderDataset(tmp_path / "a", tmp_path / "b", num_classes=2)
    with pytest.raises(ValueError, match="size must be positive"):
        MaskFolderDataset(shapes / "images", shapes / "masks", size=-3)


def test_size_mismatch_and_bad_labels_name_the_file(shapes):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(shapes / "masks" / "img1.png")
    mask = np.zeros((26, 30), np.uint8)
    mask[0, 0], mask[1, 1], mask[2, 2] = 7, 255, 3  # 255 is void and allowed; 7 and 3 are not
    Image.fromarray(mask).save(shapes / "masks" / "img2.png")
    dataset = MaskFolderDataset(shapes / "images", shapes / "masks")
    with pytest.raises(ValueError, match=r"img1\.png is 10x10 but its image img1\.jpg is 30x25"):
        dataset[1]
    with pytest.raises(ValueError, match=r"img2\.png has labels \[3, 7\] outside \[0, 3\)"):
        dataset[2]
    strict = MaskFolderDataset(shapes / "images", shapes / "masks", ignore_index=None)
    with pytest.raises(ValueError, match=r"img0\.png has labels \[255\] outside \[0, 3\)"):
        strict[0]
