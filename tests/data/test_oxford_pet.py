"""Oxford-IIIT Pet: the notes' binary mapping, the other modes, splits and real-data quirks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import binary_dilation

from seglab.data import (
    OxfordPetDataset,
    read_head_box,
    read_split_list,
    split_train_val,
    trimap_to_labels,
)


def _find_real_pets() -> Path:
    # tests/data/<this file> -> repository root -> its sibling "shared" folder.
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data" / "oxford-iiit-pet"


REAL = _find_real_pets()

# Hand-written mappings of the trimap values 1 (pet), 2 (background), 3 (border).
BINARY = {1: 1, 2: 0, 3: 1}
BINARY_IGNORE = {1: 1, 2: 0, 3: 255}
TRIMAP = {1: 1, 2: 0, 3: 2}

# stem -> how its image file is written (all are named .jpg, as in the real data)
KINDS = {
    "Abyssinian_1": "jpeg",
    "Abyssinian_2": "gif",  # a GIF named .jpg, like the real Abyssinian_34
    "Abyssinian_3": "rgba_png",  # an RGBA PNG named .jpg, like Abyssinian_5
    "Abyssinian_4": "gray_jpeg",  # grayscale, like staffordshire_bull_terrier_2
    "Bengal_1": "jpeg",
    "Bengal_2": "palette_png",
    "Bengal_3": "jpeg",
    "Bengal_4": "jpeg",
    "beagle_1": "jpeg",
    "beagle_2": "jpeg",
    "beagle_3": "jpeg",
    "beagle_4": "jpeg",
}
TEST = ["beagle_4"]
NO_LIST = ["Abyssinian_4"]  # in no list file, like the real Abyssinian_34 and _82
NO_XML = ["Bengal_3"]  # trainval without a head box, like the real Bengal_111


def _apply(table: dict[int, int], trimap: np.ndarray) -> np.ndarray:
    out = np.zeros(trimap.shape, np.int64)
    for value, label in table.items():
        out[trimap == value] = label
    return out


def _write_image(path: Path, rgb: np.ndarray, kind: str) -> None:
    image = Image.fromarray(rgb)
    if kind == "jpeg":
        image.save(path, format="JPEG", quality=95)
    elif kind == "gif":
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path, format="GIF")
    elif kind == "rgba_png":
        image.convert("RGBA").save(path, format="PNG")
    elif kind == "gray_jpeg":
        image.convert("L").save(path, format="JPEG", quality=95)
    elif kind == "palette_png":
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path, format="PNG")


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """A tiny official layout: 12 images of 3 breeds in odd formats, trimaps, lists, xmls."""
    rng = np.random.default_rng(7)
    root = tmp_path / "pets"
    for folder in ("images", "annotations/trimaps", "annotations/xmls"):
        (root / folder).mkdir(parents=True)
    for number, (stem, kind) in enumerate(KINDS.items()):
        height, width = 20 + number, 26 + 2 * number
        yy, xx = np.mgrid[:height, :width]
        pet = ((yy - height / 2) / (height / 3)) ** 2 + ((xx - width / 2) / (width / 3)) ** 2 < 1
        trimap = np.where(pet, 1, 2).astype(np.uint8)
        trimap[binary_dilation(pet) & ~pet] = 3
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        _write_image(root / "images" / f"{stem}.jpg", rgb, kind)
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{stem}.png")
        if stem not in NO_XML + TEST + NO_LIST:
            # 1-based inclusive VOC box over the middle of the pet (so its edges cut the pet).
            box = (width // 3, height // 3, width // 2, height // 2)
            (root / "annotations" / "xmls" / f"{stem}.xml").write_text(
                "<annotation><size><width>{}</width></size><object><name>cat</name><bndbox>"
                "<xmin>{}</xmin><ymin>{}</ymin><xmax>{}</xmax><ymax>{}</ymax>"
                "</bndbox></object></annotation>".format(width, *box)
            )
    trainval = [stem for stem in KINDS if stem not in TEST + NO_LIST]
    line = "{} 1 1 1".format
    (root / "annotations" / "trainval.txt").write_text("\n".join(map(line, trainval)) + "\n")
    (root / "annotations" / "test.txt").write_text("\n".join(map(line, TEST)) + "\n")
    (root / "annotations" / "list.txt").write_text(
        "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
        + "\n".join(map(line, trainval + TEST))
        + "\n"
    )
    return root


def _trimap(root: Path, stem: str) -> np.ndarray:
    return np.asarray(Image.open(root / "annotations" / "trimaps" / f"{stem}.png"))


def _nearest_resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Independent nearest resize: each output pixel takes the input pixel under its centre,
    ``floor((i + 0.5) * in / out)``, in integer arithmetic."""
    rows = (2 * np.arange(size[0]) + 1) * array.shape[0] // (2 * size[0])
    cols = (2 * np.arange(size[1]) + 1) * array.shape[1] // (2 * size[1])
    return array[np.ix_(rows, cols)]


def test_trimap_mappings_match_hand_table():
    trimap = np.array([[1, 2, 3], [3, 2, 1]])
    for mode, table in (("binary", BINARY), ("binary_ignore", BINARY_IGNORE), ("trimap", TRIMAP)):
        np.testing.assert_array_equal(trimap_to_labels(trimap, mode), _apply(table, trimap))
    assert trimap_to_labels(trimap, "binary_ignore", ignore_index=9).tolist() == [
        [1, 0, 9],
        [9, 0, 1],
    ]
    assert trimap_to_labels(trimap).dtype == np.int64


def test_trimap_errors():
    with pytest.raises(
        ValueError, match="unknown mode 'soft'; choose one of binary, binary_ignore, trimap"
    ):
        trimap_to_labels(np.array([[1]]), "soft")
    with pytest.raises(ValueError, match=r"trimap values must be 1, 2 or 3; found \[0, 7\]"):
        trimap_to_labels(np.array([[0, 7, 1]]), "binary")


@pytest.mark.parametrize(
    ("mode", "table"), [("binary", BINARY), ("binary_ignore", BINARY_IGNORE), ("trimap", TRIMAP)]
)
def test_masks_at_original_size_follow_the_hand_mapping(pets, mode, table):
    dataset = OxfordPetDataset(pets, "all", mode, size=None)
    for index, stem in enumerate(dataset.stems):
        image, mask = dataset[index]
        trimap = _trimap(pets, stem)
        assert mask.dtype == torch.int64 and image.dtype == torch.float32
        np.testing.assert_array_equal(mask.numpy(), _apply(table, trimap))
        assert image.shape == (3, *trimap.shape)


def test_images_of_every_format_read_as_rgb(pets):
    dataset = OxfordPetDataset(pets, "all", size=None)
    for index, stem in enumerate(dataset.stems):
        # Independent reader: PIL opens by content; .convert("RGB") handles P, RGBA and L.
        reference = np.asarray(Image.open(pets / "images" / f"{stem}.jpg").convert("RGB"))
        image = dataset[index][0]
        np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), reference / 255.0, atol=1e-6)
    gif = Image.open(pets / "images" / "Abyssinian_2.jpg")
    assert gif.format == "GIF"  # the fixture really holds a disguised GIF


def test_resized_masks_are_nearest_and_images_antialiased(pets):
    dataset = OxfordPetDataset(pets, "trainval", "binary", size=(16, 20))
    for index in range(len(dataset)):
        image, mask = dataset[index]
        stem = dataset.stems[index]
        assert image.shape == (3, 16, 20) and mask.shape == (16, 20)
        # The notes' mapping on the raw trimap, then an independent nearest resize.
        expected = _nearest_resize(np.where(_trimap(pets, stem) == 2, 0, 1), (16, 20))
        np.testing.assert_array_equal(mask.numpy(), expected)
        assert 0.0 <= image.min() and image.max() <= 1.0
    # Antialiased bilinear agrees with PIL's (which filters over the whole footprint).
    stem = dataset.stems[0]
    pil = Image.open(pets / "images" / f"{stem}.jpg").convert("RGB")
    reference = np.asarray(pil.resize((20, 16), Image.Resampling.BILINEAR)) / 255.0
    ours = dataset[0][0].permute(1, 2, 0).numpy()
    assert np.abs(ours - reference).mean() < 2 / 255


def test_dataset_attributes(pets):
    dataset = OxfordPetDataset(pets, mode="trimap", ignore_index=99)
    assert dataset.class_names == ["background", "pet", "border"] and dataset.num_classes == 3
    assert dataset.ignore_index == 99 and dataset.task == "multiclass"
    assert dataset.stems == read_split_list(pets / "annotations" / "trainval.txt")
    assert dataset[0][0].shape == (3, 128, 128)  # the notes' default size
    binary = OxfordPetDataset(pets, mode="binary_ignore")
    assert binary.class_names == ["background", "pet"] and binary.num_classes == 2
    assert "split='trainval'" in repr(binary)


def test_official_splits_and_all(pets):
    trainval = OxfordPetDataset(pets, "trainval")
    test = OxfordPetDataset(pets, "test")
    everything = OxfordPetDataset(pets, "all")
    assert test.stems == TEST
    assert set(trainval.stems) == set(KINDS) - set(TEST) - set(NO_LIST)
    assert everything.stems == sorted(KINDS)  # includes the image that is in no list
    comments = read_split_list(pets / "annotations" / "list.txt")
    assert "#Image" not in comments and len(comments) == len(KINDS) - len(NO_LIST)


def test_train_val_is_deterministic_disjoint_complete_and_stratified(pets):
    train = OxfordPetDataset(pets, "train", val_fraction=0.3, seed=3)
    val = OxfordPetDataset(pets, "val", val_fraction=0.3, seed=3)
    again = OxfordPetDataset(pets, "val", val_fraction=0.3, seed=3)
    trainval = OxfordPetDataset(pets, "trainval")
    assert val.stems == again.stems
    assert not set(train.stems) & set(val.stems)
    assert sorted(train.stems + val.stems) == sorted(trainval.stems)
    assert {stem.rsplit("_", 1)[0] for stem in val.stems} == {"Abyssinian", "Bengal", "beagle"}
    # The cut depends on the set of stems, not their order; other seeds pick other images.
    stems = [f"Bengal_{i}" for i in range(40)] + [f"boxer_{i}" for i in range(20)]
    _, val_a = split_train_val(stems, val_fraction=0.25, seed=1)
    _, val_b = split_train_val(stems[::-1], val_fraction=0.25, seed=1)
    _, val_c = split_train_val(stems, val_fraction=0.25, seed=2)
    assert val_a == val_b and val_a != val_c
    assert sum(s.startswith("Bengal") for s in val_a) == 10
    assert sum(s.startswith("boxer") for s in val_a) == 5
    # Every breed with two or more images gives at least one to val, and keeps at least one.
    train, val = split_train_val(["Sphynx_1", "pug_1", "pug_2", "pug_3"], val_fraction=0.01)
    assert "Sphynx_1" in train and len(val) == 1 and val[0].startswith("pug")
    train, val = split_train_val(["pug_1", "pug_2"], val_fraction=0.99)
    assert len(train) == 1 and len(val) == 1


def test_pet_head_targets(pets):
    dataset = OxfordPetDataset(pets, "trainval", "pet_head", size=None)
    assert dataset.skipped == NO_XML and NO_XML[0] not in dataset.stems
    assert dataset.class_names == ["pet", "head"] and dataset.task == "multilabel"
    for index, stem in enumerate(dataset.stems):
        _, target = dataset[index]
        assert target.dtype == torch.float32 and target.shape[0] == 2
        pet = _apply(BINARY, _trimap(pets, stem))
        xmin, ymin, xmax, ymax = read_head_box(pets, stem)
        in_box = np.zeros_like(pet)
        in_box[ymin - 1 : ymax, xmin - 1 : xmax] = 1  # VOC: 1-based, inclusive
        np.testing.assert_array_equal(target[0].numpy(), pet)
        np.testing.assert_array_equal(target[1].numpy(), pet * in_box)
        head = target[1].bool()
        assert head.any() and not (head & ~target[0].bool()).any()  # head pixels are pet pixels
    resized = OxfordPetDataset(pets, "trainval", "pet_head", size=12)[0][1]
    assert resized.shape == (2, 12, 12) and set(resized.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(
        ValueError, match=r"split 'test' of .* has no images with a head box \(annotations/xmls\)"
    ):
        OxfordPetDataset(pets, "test", "pet_head")


def test_read_head_box(pets):
    assert read_head_box(pets, "Abyssinian_1") == (8, 6, 13, 10)  # 26 x 20 image
    assert read_head_box(pets, "Bengal_3") is None
    (pets / "annotations" / "xmls" / "Bengal_1.xml").write_text("<annotation/>")
    with pytest.raises(ValueError, match=r"cannot read the head box of .*Bengal_1\.xml"):
        read_head_box(pets, "Bengal_1")
    (pets / "annotations" / "xmls" / "Bengal_1.xml").write_text("<annotation><object")
    with pytest.raises(ValueError, match=r"cannot read the head box of .*Bengal_1\.xml"):
        read_head_box(pets, "Bengal_1")


def test_transform_and_normalize_are_applied_in_order(pets):
    plain = OxfordPetDataset(pets, size=16)
    flipped = OxfordPetDataset(pets, size=16, transform=lambda i, m: (i.flip(-1), m.flip(-1)))
    normalised = OxfordPetDataset(pets, size=16, normalize="imagenet")
    custom = OxfordPetDataset(pets, size=16, normalize=([0.5] * 3, [0.25] * 3))
    image, mask = plain[2]
    torch.testing.assert_close(flipped[2][0], image.flip(-1))
    torch.testing.assert_close(flipped[2][1], mask.flip(-1))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    torch.testing.assert_close(normalised[2][0], (image - mean) / std)
    torch.testing.assert_close(custom[2][0], (image - 0.5) / 0.25)
    torch.testing.assert_close(normalised[2][1], mask)


def test_argument_errors(pets, tmp_path):
    with pytest.raises(
        ValueError, match="unknown split 'dev'; choose one of trainval, test, train, val, all"
    ):
        OxfordPetDataset(pets, split="dev")
    with pytest.raises(
        ValueError,
        match="unknown mode 'soft'; choose one of binary, binary_ignore, trimap, pet_head",
    ):
        OxfordPetDataset(pets, mode="soft")
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 1.5"):
        OxfordPetDataset(pets, split="val", val_fraction=1.5)
    with pytest.raises(ValueError, match=r"size must be an int or a pair of ints \(H, W\)"):
        OxfordPetDataset(pets, size=(1, 2, 3))
    with pytest.raises(ValueError, match="size must be positive, got 0"):
        OxfordPetDataset(pets, size=0)
    with pytest.raises(
        ValueError, match="unknown normalize 'coco'; choose one of None, 'imagenet'"
    ):
        OxfordPetDataset(pets, normalize="coco")
    with pytest.raises(FileNotFoundError, match="no trimap folder: .*trimaps"):
        OxfordPetDataset(tmp_path, split="all")


def test_missing_lists_and_files_are_named(pets):
    (pets / "annotations" / "test.txt").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"split list not found: .*test\.txt\. This copy .* use split="
    ):
        OxfordPetDataset(pets, split="test")
    (pets / "images" / "Bengal_2.jpg").unlink()
    (pets / "annotations" / "trimaps" / "beagle_1.png").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"2 file\(s\) of split 'trainval' are missing, e.g. .*Bengal_2\.jpg",
    ):
        OxfordPetDataset(pets)
    # "all" is every image with a trimap, so the orphan trimap is simply not an item.
    everything = OxfordPetDataset(pets, "all")
    assert "Bengal_2" not in everything.stems and "beagle_1" not in everything.stems


def test_unreadable_and_inconsistent_files_are_named(pets):
    dataset = OxfordPetDataset(pets, size=None)
    index = {stem: i for i, stem in enumerate(dataset.stems)}
    (pets / "images" / "Bengal_1.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"cannot read image .*Bengal_1\.jpg"):
        dataset[index["Bengal_1"]]
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(
        pets / "annotations" / "trimaps" / "Bengal_2.png"
    )
    with pytest.raises(ValueError, match=r"Bengal_2\.png is 5x5 but its image Bengal_2\.jpg is"):
        dataset[index["Bengal_2"]]
    trimap = _trimap(pets, "beagle_1").copy()
    trimap[0, 0] = 0
    Image.fromarray(trimap).save(pets / "annotations" / "trimaps" / "beagle_1.png")
    with pytest.raises(ValueError, match=r"beagle_1\.png: trimap values must be 1, 2 or 3"):
        dataset[index["beagle_1"]]


@pytest.mark.skipif(not REAL.is_dir(), reason="shared Oxford-IIIT Pet data not present")
def test_real_binary_masks_match_the_notes_mapping():
    dataset = OxfordPetDataset(REAL, split="all", mode="binary", size=128)
    assert len(dataset) == 304
    for stem in ("Abyssinian_1", "Abyssinian_82", "Bengal_150", "american_bulldog_100"):
        _, mask = dataset[dataset.stems.index(stem)]
        trimap = np.asarray(Image.open(REAL / "annotations" / "trimaps" / f"{stem}.png"))
        expected = _nearest_resize(np.where(trimap == 2, 0, 1), (128, 128))
        np.testing.assert_array_equal(mask.numpy(), expected)
    # The real quirk: Abyssinian_34.jpg is a GIF (in no split list); it still reads as RGB.
    image, _ = dataset[dataset.stems.index("Abyssinian_34")]
    assert image.shape == (3, 128, 128) and image.std() > 0.05
    trainval = OxfordPetDataset(REAL, split="trainval", mode="pet_head", size=64)
    assert len(trainval) == 296 and len(trainval.skipped) == 4
