"""MaskFolderDataset: matching by stem, class names, and errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.data import MaskFolderDataset, read_class_names


def test_items_and_class_names(folder_dataset):
    dataset = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks")
    assert len(dataset) == 12 and dataset.class_names == ["background", "disc", "square"]
    image, mask = dataset[3]
    expected = np.asarray(Image.open(folder_dataset / "masks" / "img03.png")).astype(np.int64)
    torch.testing.assert_close(mask, torch.from_numpy(expected))
    assert image.shape == (3, 48, 48)
    resized = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks", size=(24, 32))
    assert resized[0][0].shape == (3, 24, 32) and resized[0][1].shape == (24, 32)
    assert set(resized[0][1].unique().tolist()) <= {0, 1, 2}


def test_class_names_from_argument_file_or_count(folder_dataset, tmp_path):
    (folder_dataset / "masks" / "classes.txt").unlink()
    with pytest.raises(
        ValueError, match="no class names: give class_names, num_classes, or a classes.txt"
    ):
        MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks")
    counted = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks", num_classes=3)
    assert counted.class_names == ["class_0", "class_1", "class_2"]
    names = tmp_path / "names.txt"
    names.write_text("# comment\nbg\n\nround\nsquare\n")
    assert read_class_names(names) == ["bg", "round", "square"]
    assert (
        MaskFolderDataset(
            folder_dataset / "images", folder_dataset / "masks", class_names=names
        ).num_classes
        == 3
    )
    with pytest.raises(ValueError, match="num_classes=4 but 3 class names are given"):
        MaskFolderDataset(
            folder_dataset / "images", folder_dataset / "masks", class_names=names, num_classes=4
        )
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="lists no class names"):
        read_class_names(tmp_path / "empty.txt")


def test_unmatched_files_and_missing_folders(folder_dataset, tmp_path):
    (folder_dataset / "images" / "img00.png").rename(folder_dataset / "images" / "other.png")
    with pytest.raises(
        ValueError,
        match=r"1 image\(s\) without a mask \(e.g. \['other'\]\), 1 mask\(s\) without an image \(e.g. \['img00'\]\)",
    ):
        MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        MaskFolderDataset(tmp_path / "nope", folder_dataset / "masks")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        MaskFolderDataset(tmp_path / "a", tmp_path / "b", num_classes=2)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "x.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "x.jpg")
    with pytest.raises(ValueError, match="two files share the stem 'x'"):
        MaskFolderDataset(tmp_path / "a", tmp_path / "b", num_classes=2)


def test_size_mismatch_and_bad_labels_name_the_file(folder_dataset):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(folder_dataset / "masks" / "img01.png")
    mask = np.zeros((48, 48), np.uint8)
    mask[0, 0], mask[1, 1] = 7, 255  # 255 is void and allowed; 7 is not a class
    Image.fromarray(mask).save(folder_dataset / "masks" / "img02.png")
    dataset = MaskFolderDataset(folder_dataset / "images", folder_dataset / "masks")
    with pytest.raises(ValueError, match="img01.png is 10x10 but its image is 48x48"):
        dataset[1]
    with pytest.raises(ValueError, match=r"img02.png has labels \[7\] outside \[0, 3\)"):
        dataset[2]
