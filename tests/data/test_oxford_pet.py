"""Oxford-IIIT Pet: the notes' binary mapping, the other modes, splits and real-data quirks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.data import OxfordPetDataset, read_head_box, trimap_to_labels

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "oxford-iiit-pet"


def test_trimap_mappings_match_hand_table():
    trimap = np.array([[1, 2, 3]])
    assert trimap_to_labels(trimap, "binary").tolist() == [[1, 0, 1]]
    assert trimap_to_labels(trimap, "binary_ignore").tolist() == [[1, 0, 255]]
    assert trimap_to_labels(trimap, "binary_ignore", ignore_index=9).tolist() == [[1, 0, 9]]
    assert trimap_to_labels(trimap, "trimap").tolist() == [[1, 0, 2]]


def test_trimap_errors():
    with pytest.raises(
        ValueError, match="unknown mode 'soft'; choose one of binary, binary_ignore, trimap"
    ):
        trimap_to_labels(np.array([[1]]), "soft")
    with pytest.raises(ValueError, match="trimap values must be 1, 2 or 3; found \\[0, 7\\]"):
        trimap_to_labels(np.array([[0, 7, 1]]), "binary")


def test_items_are_float_images_and_nearest_resized_masks(pet_dataset):
    dataset = OxfordPetDataset(pet_dataset, split="trainval", mode="binary", size=32)
    image, mask = dataset[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert mask.shape == (32, 32) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= {0, 1}  # nearest resizing: no blended labels
    # Independent path: the notes' mapping on the raw trimap, then nearest resize.
    trimap = np.asarray(
        Image.open(pet_dataset / "annotations" / "trimaps" / f"{dataset.stems[0]}.png")
    )
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(np.where(trimap == 2, 0, 1)).float()[None, None],
        size=(32, 32),
        mode="nearest-exact",
    )[0, 0].long()
    torch.testing.assert_close(mask, expected)


def test_modes_and_class_names(pet_dataset):
    full = OxfordPetDataset(pet_dataset, mode="trimap", size=None)
    assert full.class_names == ["background", "pet", "border"]
    _, mask = full[0]
    assert set(mask.unique().tolist()) == {0, 1, 2}
    ignore = OxfordPetDataset(pet_dataset, mode="binary_ignore", size=None)
    assert set(ignore[0][1].unique().tolist()) == {0, 1, 255}


def test_pet_head_targets_have_both_labels_on_head_pixels(pet_dataset):
    dataset = OxfordPetDataset(pet_dataset, mode="pet_head", size=None)
    _, target = dataset[0]
    assert target.shape[0] == 2 and target.dtype == torch.float32
    pet, head = target[0].bool(), target[1].bool()
    assert head.any() and (head & ~pet).sum() == 0  # head pixels are pet pixels
    assert (pet & head).sum() == head.sum() and pet.sum() > head.sum()
    box = read_head_box(pet_dataset, dataset.stems[0])
    ys, xs = torch.nonzero(head, as_tuple=True)
    assert box[0] <= xs.min() and xs.max() <= box[2] and box[1] <= ys.min() and ys.max() <= box[3]


def test_train_val_split_is_deterministic_disjoint_and_complete(pet_dataset):
    train = OxfordPetDataset(pet_dataset, split="train", val_fraction=0.25, seed=3)
    val = OxfordPetDataset(pet_dataset, split="val", val_fraction=0.25, seed=3)
    again = OxfordPetDataset(pet_dataset, split="val", val_fraction=0.25, seed=3)
    trainval = OxfordPetDataset(pet_dataset, split="trainval")
    assert val.stems == again.stems
    assert not set(train.stems) & set(val.stems)
    assert sorted(train.stems + val.stems) == sorted(trainval.stems)
    assert len(val) == 2


def test_errors_name_the_file(pet_dataset, tmp_path):
    with pytest.raises(
        ValueError, match="unknown split 'dev'; choose one of trainval, test, train, val, all"
    ):
        OxfordPetDataset(pet_dataset, split="dev")
    with pytest.raises(
        ValueError,
        match="unknown mode 'soft'; choose one of binary, binary_ignore, trimap, pet_head",
    ):
        OxfordPetDataset(pet_dataset, mode="soft")
    with pytest.raises(FileNotFoundError, match="split list not found: .*test.txt"):
        OxfordPetDataset(tmp_path, split="test")
    with pytest.raises(ValueError, match="val_fraction must be in \\(0, 1\\)"):
        OxfordPetDataset(pet_dataset, split="val", val_fraction=1.5)
    dataset = OxfordPetDataset(pet_dataset)
    (pet_dataset / "images" / f"{dataset.stems[0]}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=f"no such file: .*{dataset.stems[0]}.jpg"):
        dataset[0]
    (pet_dataset / "annotations" / "xmls" / f"{dataset.stems[1]}.xml").write_text("<annotation/>")
    with pytest.raises(ValueError, match="cannot read the head box of .*xml"):
        read_head_box(pet_dataset, dataset.stems[1])


def test_gif_disguised_as_jpg_and_odd_modes_are_read(pet_dataset):
    dataset = OxfordPetDataset(pet_dataset, size=None)
    stem = dataset.stems[0]
    trimap = np.asarray(Image.open(pet_dataset / "annotations" / "trimaps" / f"{stem}.png"))
    gray = Image.fromarray(np.full(trimap.shape, 77, np.uint8)).convert("P")
    gray.save(pet_dataset / "images" / f"{stem}.jpg", format="GIF")  # a GIF named .jpg
    image, _ = dataset[0]
    assert image.shape == (3, *trimap.shape)
    assert torch.allclose(image, torch.full_like(image, 77 / 255), atol=1e-6)


@pytest.mark.skipif(not REAL.is_dir(), reason="shared Oxford-IIIT Pet data not present")
def test_real_binary_masks_match_the_notes_mapping():
    dataset = OxfordPetDataset(REAL, split="all", mode="binary", size=128)
    assert len(dataset) == 304
    for index in (0, 57, 151, 303):
        _, mask = dataset[index]
        trimap = np.asarray(
            Image.open(REAL / "annotations" / "trimaps" / f"{dataset.stems[index]}.png")
        )
        expected = torch.nn.functional.interpolate(
            torch.from_numpy((trimap != 2).astype(np.float32))[None, None],
            size=(128, 128),
            mode="nearest-exact",
        )[0, 0].long()
        torch.testing.assert_close(mask, expected)
    # The real quirk: Abyssinian_34.jpg is a GIF; it still reads as RGB.
    index = dataset.stems.index("Abyssinian_34")
    assert dataset[index][0].shape == (3, 128, 128)
