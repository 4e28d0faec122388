"""Hostile dataset folders: masks with labels the model cannot have, masks of another size or
in colour, 16-bit masks, huge or repeated class lists, broken trimaps, head boxes and DSB
masks. Each is either read correctly or refused with an error that names the file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglab.data import MaskFolderDataset, OxfordPetDataset, read_class_names
from seglab.data.dsb2018 import read_dsb_sample
from seglab.data.oxford_pet import read_head_box, read_split_list
from seglab.limits import MAX_CLASSES


def mask_folder(root: Path, masks: dict[str, np.ndarray], *, sizes: dict | None = None) -> Path:
    """``root/images/<stem>.png`` (grey, the mask's size unless ``sizes`` says otherwise) and
    ``root/masks/<stem>.png`` written as given (uint8 -> 8-bit, uint16 -> 16-bit, HxWx3 ->
    RGB)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem, mask in masks.items():
        height, width = (sizes or {}).get(stem, mask.shape[:2])
        Image.fromarray(np.full((height, width, 3), 100, np.uint8)).save(
            root / "images" / f"{stem}.png"
        )
        Image.fromarray(mask).save(root / "masks" / f"{stem}.png")
    return root


def labels(*values: int, dtype=np.uint8) -> np.ndarray:
    mask = np.zeros((4, 6), dtype)
    mask.flat[: len(values)] = values
    return mask


# -- mask folders ------------------------------------------------------------------------------


def test_mask_label_at_num_classes_is_refused_naming_the_mask(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(0, 1), "b": labels(0, 3)})
    dataset = MaskFolderDataset(root / "images", root / "masks", num_classes=3)
    assert dataset[0][1].tolist()[0][:2] == [0, 1]
    with pytest.raises(ValueError, match=r"masks/b.png has labels \[3\] outside \[0, 3\)"):
        dataset[1]


def test_void_255_is_kept_unless_no_ignore_index_is_set(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(1, 255)})
    assert MaskFolderDataset(root / "images", root / "masks", num_classes=2)[0][1][0, 1] == 255
    strict = MaskFolderDataset(root / "images", root / "masks", num_classes=2, ignore_index=None)
    with pytest.raises(ValueError, match=r"masks/a.png has labels \[255\] outside \[0, 2\)"):
        strict[0]


def test_mask_of_another_size_than_its_image_is_refused_naming_both(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(1)}, sizes={"a": (5, 6)})
    dataset = MaskFolderDataset(root / "images", root / "masks", num_classes=2)
    with pytest.raises(ValueError, match=r"masks/a.png is 6x4 but its image a.png is 6x5"):
        dataset[0]


def test_rgb_colour_mask_is_refused_naming_the_mask(tmp_path):
    colour = np.zeros((4, 6, 3), np.uint8)
    colour[0, 0] = (128, 0, 0)
    root = mask_folder(tmp_path, {"a": colour})
    dataset = MaskFolderDataset(root / "images", root / "masks", num_classes=2)
    with pytest.raises(ValueError, match=r"masks/a.png has mode 'RGB'; expected an index mask"):
        dataset[0]


def test_16_bit_mask_with_valid_labels_reads_like_an_8_bit_one(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(0, 1, 2, 255, dtype=np.uint16)})
    image, mask = MaskFolderDataset(root / "images", root / "masks", num_classes=3)[0]
    assert mask.dtype == torch.int64
    assert mask[0, :4].tolist() == [0, 1, 2, 255]


def test_16_bit_mask_with_a_label_past_the_classes_is_refused_naming_the_mask(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(1, 300, 65535, dtype=np.uint16)})
    dataset = MaskFolderDataset(root / "images", root / "masks", num_classes=3)
    with pytest.raises(ValueError, match=r"masks/a.png has labels \[300, 65535\] outside \[0, 3\)"):
        dataset[0]


def test_classes_txt_with_a_million_lines_is_refused_in_linear_time(tmp_path):
    # The duplicate check counted each name with list.count: 10**12 steps for 10**6 lines.
    root = mask_folder(tmp_path, {"a": labels(1)})
    (root / "masks" / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10**6)))
    started = time.perf_counter()
    with pytest.raises(
        ValueError, match=rf"classes.txt lists 1,000,000 class names; at most {MAX_CLASSES}"
    ):
        MaskFolderDataset(root / "images", root / "masks")
    assert time.perf_counter() - started < 5


def test_classes_txt_at_the_class_limit_is_read(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("\n".join(f"c{i}" for i in range(MAX_CLASSES)))
    assert len(read_class_names(path)) == MAX_CLASSES


def test_classes_txt_repeating_a_name_is_refused(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("background\ncat\ndog\ncat\n")
    with pytest.raises(
        ValueError, match=r"classes.txt lists class names more than once: \['cat'\]"
    ):
        read_class_names(path)


def test_classes_txt_that_is_not_utf8_is_refused_naming_it(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes(b"background\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"classes.txt is not UTF-8 text"):
        read_class_names(path)


@pytest.mark.parametrize(
    ("class_names", "message"),
    [
        (["bg", "cat", "cat"], r"class names must be unique; repeated: \['cat'\]"),
        (["bg", ""], r"class names must be non-empty strings, got ''"),
        (["bg", 3], r"class names must be non-empty strings, got 3"),
        ([], r"expected 1..1024 class names \(seglab.limits.MAX_CLASSES\), got 0"),
        ([f"c{i}" for i in range(MAX_CLASSES + 1)], r"expected 1..1024 class names .* got 1,025"),
    ],
)
def test_bad_class_names_argument_is_refused(tmp_path, class_names, message):
    root = mask_folder(tmp_path, {"a": labels(1)})
    with pytest.raises(ValueError, match=message):
        MaskFolderDataset(root / "images", root / "masks", class_names=class_names)


@pytest.mark.parametrize("num_classes", [0, -1, 10**6, True, 2.0])
def test_num_classes_outside_the_model_limit_is_refused(tmp_path, num_classes):
    root = mask_folder(tmp_path, {"a": labels(1)})
    with pytest.raises(ValueError, match=r"num_classes must be an integer in 1..1024"):
        MaskFolderDataset(root / "images", root / "masks", num_classes=num_classes)


def test_empty_folders_are_refused(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match=r"no images found in .*images"):
        MaskFolderDataset(tmp_path / "images", tmp_path / "masks", num_classes=2)


def test_images_without_masks_are_refused_with_their_names(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(1)})
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(root / "images" / "b.png")
    with pytest.raises(ValueError, match=r"1 image\(s\) without a mask \(e.g. \['b'\]\)"):
        MaskFolderDataset(root / "images", root / "masks", num_classes=2)


def test_mask_that_is_not_an_image_is_refused_naming_it(tmp_path):
    root = mask_folder(tmp_path, {"a": labels(1)})
    (root / "masks" / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*masks/a.png"):
        MaskFolderDataset(root / "images", root / "masks", num_classes=2)[0]


# -- Oxford-IIIT Pet ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 4, 255])
def test_trimap_value_outside_1_2_3_is_refused_naming_the_trimap(pet_dataset, bad):
    path = pet_dataset / "annotations" / "trimaps" / "Abyssinian_1.png"
    trimap = np.asarray(Image.open(path)).copy()
    trimap[0, 0] = bad
    Image.fromarray(trimap).save(path)
    dataset = OxfordPetDataset(pet_dataset, "trainval", size=None)
    with pytest.raises(
        ValueError, match=rf"Abyssinian_1.png: trimap values must be 1, 2 or 3; found \[{bad}\]"
    ):
        dataset[dataset.stems.index("Abyssinian_1")]


def test_trimap_of_another_size_is_refused_naming_it(pet_dataset):
    path = pet_dataset / "annotations" / "trimaps" / "Abyssinian_1.png"
    Image.fromarray(np.full((10, 12), 2, np.uint8)).save(path)
    dataset = OxfordPetDataset(pet_dataset, "trainval", size=None)
    with pytest.raises(ValueError, match=r"Abyssinian_1.png is 12x10 but its image"):
        dataset[dataset.stems.index("Abyssinian_1")]


def write_box(root: Path, stem: str, xmin, ymin, xmax, ymax) -> None:
    (root / "annotations" / "xmls" / f"{stem}.xml").write_text(
        f"<annotation><object><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object></annotation>"
    )


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((1, 1, -5, 10), r"\(1, 1, -5, 10\) is empty or inverted"),
        ((10, 1, 5, 10), r"\(10, 1, 5, 10\) is empty or inverted"),
        ((1, 1, 10, 0), r"\(1, 1, 10, 0\) is empty or inverted"),
        ((1, 1, "inf", 10), r"cannot read the head box of .*Abyssinian_1.xml: cannot convert"),
        ((1, 1, "nan", 10), r"cannot read the head box of .*Abyssinian_1.xml: cannot convert"),
    ],
)
def test_hostile_head_box_is_refused_naming_the_xml(pet_dataset, box, message):
    # A negative xmax sliced the head layer from the far side of the image.
    write_box(pet_dataset, "Abyssinian_1", *box)
    with pytest.raises(ValueError, match=message):
        read_head_box(pet_dataset, "Abyssinian_1")


def test_head_box_past_the_image_is_clipped(pet_dataset):
    write_box(pet_dataset, "Abyssinian_1", 60, 60, 10**9, 10**9)
    dataset = OxfordPetDataset(pet_dataset, "trainval", mode="pet_head", size=None)
    _, target = dataset[dataset.stems.index("Abyssinian_1")]
    head = target[1] > 0
    pet = target[0] > 0
    assert torch.equal(head[59:, 59:], pet[59:, 59:]) and not head[:59].any()


@pytest.mark.parametrize("stem", ["../../etc/passwd", "a/b", "..", "a\\b"])
def test_split_list_stem_that_leaves_the_images_folder_is_refused(tmp_path, stem):
    path = tmp_path / "trainval.txt"
    path.write_text(f"Abyssinian_1 1 1 1\n{stem} 1 1 1\n")
    with pytest.raises(ValueError, match=r"trainval.txt: line 2: .* is not an image name"):
        read_split_list(path)


# -- DSB 2018 ----------------------------------------------------------------------------------


def dsb_folder(tmp_path: Path, masks: list[np.ndarray], size=(8, 10)) -> Path:
    folder = tmp_path / "abc"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    Image.fromarray(np.full((*size, 3), 50, np.uint8)).save(folder / "images" / "abc.png")
    for k, mask in enumerate(masks):
        Image.fromarray(mask).save(folder / "masks" / f"m{k}.png")
    return folder


def nucleus(row: int, col: int, size=(8, 10)) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    mask[row : row + 2, col : col + 2] = 255
    return mask


def test_dsb_empty_mask_holds_no_nucleus_and_ids_stay_contiguous(tmp_path):
    folder = dsb_folder(tmp_path, [nucleus(0, 0), np.zeros((8, 10), np.uint8), nucleus(5, 5)])
    sample = read_dsb_sample(folder)
    assert sorted(np.unique(sample.labels).tolist()) == [0, 1, 2]
    assert sample.labels[0, 0] == 1 and sample.labels[5, 5] == 2


def test_dsb_mask_of_another_size_is_refused_naming_it(tmp_path):
    folder = dsb_folder(tmp_path, [nucleus(0, 0), nucleus(0, 0, size=(8, 11))])
    with pytest.raises(ValueError, match=r"mask .*masks/m1.png has size \(11, 8\) but the image"):
        read_dsb_sample(folder)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_dsb_mask_over_the_decompression_bomb_limit_is_refused_naming_it(tmp_path, monkeypatch):
    # Pillow raises its own DecompressionBombError (not an OSError) on open, before the size
    # check; a 10 x 9 mask stands in for a huge one: 90 pixels > 2 x 41, the 80-pixel image
    # passes.
    folder = dsb_folder(tmp_path, [nucleus(0, 0, size=(10, 9))])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 41)
    with pytest.raises(ValueError, match=r"refusing to read mask .*masks/m0.png"):
        read_dsb_sample(folder)


def test_dsb_mask_that_is_not_an_image_is_refused_naming_it(tmp_path):
    folder = dsb_folder(tmp_path, [nucleus(0, 0)])
    (folder / "masks" / "m0.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"cannot read mask .*masks/m0.png"):
        read_dsb_sample(folder)
