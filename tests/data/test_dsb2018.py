"""DSB 2018 reader on tiny synthetic Kaggle folders; crops, evaluation padding, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.data.dsb2018 import (
    NucleiCrops,
    NucleiImages,
    dsb_image_folders,
    load_dsb2018,
    normalize_image,
    read_dsb_sample,
)


def write_sample(stage, image_id: str, labels: np.ndarray, *, rgba: bool = False) -> np.ndarray:
    """One Kaggle folder: an image and one 0/255 PNG per nucleus. Returns the RGB image."""
    rng = np.random.default_rng(len(image_id))
    rgb = rng.integers(0, 255, (*labels.shape, 3), dtype=np.uint8)
    folder = stage / image_id
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    pixels = np.dstack([rgb, np.full(labels.shape, 255, np.uint8)]) if rgba else rgb
    Image.fromarray(pixels).save(folder / "images" / f"{image_id}.png")
    for k in range(1, int(labels.max()) + 1):
        mask = np.where(labels == k, 255, 0).astype(np.uint8)
        Image.fromarray(mask).save(folder / "masks" / f"{image_id}_{k - 1}.png")
    return rgb


@pytest.fixture
def dsb_root(tmp_path):
    stage = tmp_path / "stage1_test"
    labels = np.zeros((20, 24), np.int64)
    labels[2:6, 2:7], labels[10:15, 12:20] = 1, 2
    for k, image_id in enumerate(["c3", "a1", "e5", "b2", "d4"]):
        write_sample(stage, image_id, labels if k % 2 == 0 else labels[:, ::-1].copy(), rgba=k == 0)
    return tmp_path


def test_reads_labels_rgb_and_the_even_odd_split(dsb_root):
    samples = load_dsb2018(dsb_root)
    assert [s.image_id for s in samples] == ["a1", "b2", "c3", "d4", "e5"]
    assert [s.image_id for s in load_dsb2018(dsb_root, split="train")] == ["a1", "c3", "e5"]
    assert [s.image_id for s in load_dsb2018(dsb_root, split="test")] == ["b2", "d4"]
    c3 = samples[2]
    assert c3.image.shape == (20, 24, 3) and c3.image.dtype == np.uint8  # RGBA -> RGB
    assert c3.labels.dtype == np.int32 and c3.labels[3, 3] == 1 and c3.labels[12, 15] == 2
    assert np.unique(c3.labels).tolist() == [0, 1, 2]
    # The stage folder itself is accepted as the root.
    assert len(dsb_image_folders(dsb_root / "stage1_test")) == 5


def test_stage1_train_layout_and_the_fit_val_split(tmp_path):
    labels = np.zeros((8, 8), np.int64)
    labels[2:5, 2:5] = 1
    ids = [f"id{k:02d}" for k in range(23)]
    for image_id in ids:
        write_sample(tmp_path / "stage1_train", image_id, labels)
    val = [folder.name for folder in dsb_image_folders(tmp_path, split="val")]
    fit = [folder.name for folder in dsb_image_folders(tmp_path, split="fit")]
    assert val == ["id00", "id10", "id20"]  # every tenth sorted id
    assert fit == [i for i in ids if i not in val] and len(fit) == 20


def test_reader_errors(dsb_root, tmp_path):
    with pytest.raises(
        ValueError, match="unknown split 'valid'; choose one of train, test, fit, val, all"
    ):
        dsb_image_folders(dsb_root, split="valid")
    with pytest.raises(FileNotFoundError, match="no DSB 2018 image folders under"):
        dsb_image_folders(tmp_path / "nowhere")
    folder = dsb_root / "stage1_test" / "a1"
    (folder / "masks" / "a1_9.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot read mask .*a1_9\.png"):
        read_dsb_sample(folder)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(folder / "masks" / "a1_9.png")
    with pytest.raises(
        ValueError, match=r"mask .*a1_9\.png has size \(3, 3\) but the image is \(24, 20\)"
    ):
        read_dsb_sample(folder)
    for path in (folder / "masks").iterdir():
        path.unlink()
    (folder / "masks").rmdir()
    with pytest.raises(FileNotFoundError, match="missing masks folder"):
        read_dsb_sample(folder)
    assert not read_dsb_sample(folder, require_masks=False).labels.any()
    (folder / "images" / "a1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing DSB image .*a1\.png"):
        read_dsb_sample(folder)


def test_normalize_image():
    image = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    tensor = normalize_image(image)
    assert tensor.shape == (3, 5, 6) and tensor.dtype == torch.float32
    assert (
        tensor.mean(dim=(1, 2)).abs().max() < 1e-5
        and abs(float(tensor.std(unbiased=False)) - 1) < 1e-4
    )
    assert not normalize_image(np.full((4, 4, 3), 7, np.uint8)).any()  # flat stays flat
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB image"):
        normalize_image(np.zeros((4, 4), np.uint8))


def test_crops_are_deterministic_and_targets_follow_the_augmented_labels(dsb_root):
    samples = load_dsb2018(dsb_root, split="train")
    from functools import partial

    from seglab.instance.targets import instance_target_tensors

    targets = partial(instance_target_tensors, sigma=1.0)
    crops = NucleiCrops(samples, crop_size=16, length=6, seed=3, targets=targets)
    first = [crops[i] for i in range(len(crops))]
    again = crops[4]
    assert all(torch.equal(again[key], first[4][key]) for key in again)
    crops.set_epoch(1)
    assert any(not torch.equal(crops[i]["image"], first[i]["image"]) for i in range(6))
    from seglab.instance.targets import instance_targets

    for item in first:
        assert item["image"].shape == (3, 16, 16) and item["offset"].shape == (2, 16, 16)
        expected = instance_targets(item["labels"].numpy(), sigma=1.0)
        assert np.array_equal(item["offset"].numpy(), expected["offset"])
        assert np.array_equal(item["semantic"].numpy(), expected["semantic"])
    # A crop larger than the image is padded with background.
    big = NucleiCrops(samples, crop_size=32)[0]
    assert big["image"].shape == (3, 32, 32)
    assert int((big["labels"] > 0).sum()) == int((samples[0].labels > 0).sum())
    with pytest.raises(ValueError, match="crop_size must be a positive int"):
        NucleiCrops(samples, crop_size=0)
    with pytest.raises(ValueError, match="needs at least one sample"):
        NucleiCrops([])


def test_evaluation_images_are_padded_to_32(dsb_root):
    samples = load_dsb2018(dsb_root, split="test")
    item = NucleiImages(samples)[0]
    assert item["image"].shape == (3, 32, 32) and item["labels"].shape == (32, 32)
    assert item["size"].tolist() == [20, 24]
    assert torch.equal(
        item["labels"][:20, :24], torch.from_numpy(samples[0].labels.astype(np.int64))
    )
    assert torch.allclose(item["image"][:, :20, :24], normalize_image(samples[0].image))
    with pytest.raises(ValueError, match="pad_multiple must be a positive int"):
        NucleiImages(samples, pad_multiple=0)
