"""convert_annotations: png <-> coco <-> labelme round trips and file/field errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from scipy import ndimage

from seglab.annotations.folders import convert_annotations
from seglab.annotations.labelme import labelme_to_mask, read_labelme
from seglab.io import read_mask, write_mask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")

NAMES = ["background", "disc", "square"]


@pytest.fixture
def mask_folder(tmp_path: Path) -> Path:
    """Four 3-class index masks with holes, several parts and a void pixel block."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "masks"
    for index in range(4):
        blobs = ndimage.gaussian_filter(rng.random((32, 40)), 2.5)
        mask = np.zeros((32, 40), np.uint8)
        mask[blobs > 0.52] = 1
        mask[blobs < 0.47] = 2
        mask[4:14, 4:14] = 1
        mask[7:11, 7:11] = 0
        write_mask(folder / f"img{index}.png", mask)
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n")
    return folder


def read_folder(folder: Path) -> dict[str, np.ndarray]:
    return {path.stem: read_mask(path) for path in sorted(folder.glob("*.png"))}


def polygon(label, points):
    return {
        "label": label,
        "points": points,
        "shape_type": "polygon",
        "group_id": None,
        "flags": {},
    }


def labelme_doc(*shapes, path="a.jpg"):
    return {
        "shapes": list(shapes),
        "imagePath": path,
        "imageData": None,
        "imageHeight": 10,
        "imageWidth": 12,
    }


@pytest.mark.parametrize("encoding", ["polygon", "rle"])
def test_png_to_coco_to_png_is_lossless(tmp_path, mask_folder, encoding):
    convert_annotations(
        mask_folder, tmp_path / "ann.json", src_format="png", dst_format="coco", encoding=encoding
    )
    api = COCO(str(tmp_path / "ann.json"))
    assert [c["name"] for c in api.dataset["categories"]] == ["disc", "square"]
    assert api.dataset["images"][0]["file_name"] == "img0.jpg"
    written = convert_annotations(
        tmp_path / "ann.json", tmp_path / "back", src_format="coco", dst_format="png"
    )
    assert written[-1].name == "classes.txt"
    assert (tmp_path / "back" / "classes.txt").read_text().split() == NAMES
    original, back = read_folder(mask_folder), read_folder(tmp_path / "back")
    assert original.keys() == back.keys()
    for stem in original:
        assert np.array_equal(original[stem], back[stem])


def test_png_to_labelme_to_png_is_lossless(tmp_path, mask_folder):
    written = convert_annotations(
        mask_folder, tmp_path / "lm", src_format="png", dst_format="labelme", image_ext=".png"
    )
    assert sorted(path.name for path in written) == [f"img{i}.json" for i in range(4)]
    data = read_labelme(tmp_path / "lm" / "img0.json")
    assert data["imagePath"] == "img0.png"
    assert np.array_equal(labelme_to_mask(data, NAMES), read_mask(mask_folder / "img0.png"))
    convert_annotations(
        tmp_path / "lm",
        tmp_path / "back",
        src_format="labelme",
        dst_format="png",
        class_names=NAMES,
    )
    for stem, mask in read_folder(mask_folder).items():
        assert np.array_equal(read_folder(tmp_path / "back")[stem], mask)


def test_labelme_polygons_reach_coco_and_back_unchanged(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    cat = [[1.25, 1.5], [7.5, 1.0], [6.0, 8.75]]
    dog = [[8, 2], [11, 2], [11, 9], [8, 9]]
    (folder / "a.json").write_text(
        json.dumps(labelme_doc(polygon("cat", cat), polygon("dog", dog)))
    )
    (folder / "b.json").write_text(json.dumps(labelme_doc(polygon("dog", dog), path=None)))
    convert_annotations(folder, tmp_path / "ann.json", src_format="labelme", dst_format="coco")
    coco = json.loads((tmp_path / "ann.json").read_text())
    # Default class names: _background_ + sorted labels; polygons are copied, not re-traced.
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "cat"), (2, "dog")]
    assert [i["file_name"] for i in coco["images"]] == ["a.jpg", "b.jpg"]
    assert coco["annotations"][0]["segmentation"] == [sum(cat, [])]
    convert_annotations(
        tmp_path / "ann.json", tmp_path / "lm2", src_format="coco", dst_format="labelme"
    )
    back = read_labelme(tmp_path / "lm2" / "a.json")
    assert [s["label"] for s in back["shapes"]] == ["cat", "dog"]
    assert back["shapes"][0]["points"] == cat
    # With a budget every written polygon is simplified.
    convert_annotations(
        folder, tmp_path / "small.json", src_format="labelme", dst_format="coco", max_vertices=3
    )
    small = json.loads((tmp_path / "small.json").read_text())
    assert all(len(a["segmentation"][0]) == 6 for a in small["annotations"])


def test_coco_rle_and_circles_are_traced(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    circle = {"label": "ball", "points": [[6, 5], [9, 5]], "shape_type": "circle"}
    (folder / "a.json").write_text(json.dumps(labelme_doc(circle)))
    convert_annotations(
        folder, tmp_path / "rle.json", src_format="labelme", dst_format="coco", encoding="rle"
    )
    convert_annotations(
        tmp_path / "rle.json", tmp_path / "lm2", src_format="coco", dst_format="labelme"
    )
    expected = labelme_to_mask(read_labelme(folder / "a.json"), ["_background_", "ball"])
    back = read_labelme(tmp_path / "lm2" / "a.json")
    assert back["shapes"][0]["shape_type"] == "polygon"
    assert np.array_equal(labelme_to_mask(back, ["_background_", "ball"]), expected)


def test_class_names_map_labels_by_name(tmp_path, mask_folder):
    convert_annotations(mask_folder, tmp_path / "ann.json", src_format="png", dst_format="coco")
    # Reorder the classes: COCO categories are matched by name.
    names = ["background", "square", "disc"]
    convert_annotations(
        tmp_path / "ann.json",
        tmp_path / "back",
        src_format="coco",
        dst_format="png",
        class_names=names,
    )
    for stem, mask in read_folder(mask_folder).items():
        swapped = np.choose(mask, [0, 2, 1]).astype(np.uint8)
        assert np.array_equal(read_folder(tmp_path / "back")[stem], swapped)


def test_png_without_classes_txt_gets_generic_names(tmp_path, mask_folder):
    (mask_folder / "classes.txt").unlink()
    convert_annotations(mask_folder, tmp_path / "ann.json", src_format="png", dst_format="coco")
    names = [c["name"] for c in json.loads((tmp_path / "ann.json").read_text())["categories"]]
    assert names == ["class_1", "class_2"]


def test_errors(tmp_path, mask_folder):
    folder = tmp_path / "lm"
    folder.mkdir()
    good = labelme_doc(polygon("cat", [[0, 0], [1, 0], [1, 1]]))
    bad = labelme_doc(
        polygon("cat", [[0, 0], [1, 0], [1, 1]]),
        polygon("cat", [[0, 0], [1, 0], [1, 1]]),
        polygon("cat", [[0, 0], [1], [1, 1]]),
    )
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "bad.json").write_text(json.dumps(bad))
    kwargs = {"src_format": "labelme", "dst_format": "png"}
    with pytest.raises(
        ValueError, match=r"^bad.json: shapes\[2\].points: expected a list of \[x, y\] pairs$"
    ):
        convert_annotations(folder, tmp_path / "out", **kwargs)
    (folder / "bad.json").write_text(
        json.dumps(labelme_doc(polygon("bird", [[0, 0], [1, 0], [1, 1]])))
    )
    with pytest.raises(
        ValueError, match=r"bad.json: shapes\[0\].label: 'bird' is not in class_names"
    ):
        convert_annotations(folder, tmp_path / "out", class_names=["_background_", "cat"], **kwargs)
    (folder / "bad.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        convert_annotations(folder, tmp_path / "out", **kwargs)
    with pytest.raises(ValueError, match="src_format must be one of png, coco, labelme; got 'voc'"):
        convert_annotations(folder, tmp_path / "out", src_format="voc", dst_format="png")
    with pytest.raises(
        ValueError, match="dst_format must be one of png, coco, labelme; got 'yolo'"
    ):
        convert_annotations(folder, tmp_path / "out", src_format="png", dst_format="yolo")
    with pytest.raises(
        ValueError, match="src_format and dst_format are both 'png'; nothing to convert"
    ):
        convert_annotations(mask_folder, tmp_path / "out", src_format="png", dst_format="png")
    with pytest.raises(ValueError, match="encoding must be one of polygon, rle; got 'bitmap'"):
        convert_annotations(
            mask_folder, tmp_path / "a.json", src_format="png", dst_format="coco", encoding="bitmap"
        )
    with pytest.raises(ValueError, match="max_vertices must be an integer >= 3"):
        convert_annotations(
            mask_folder, tmp_path / "a.json", src_format="png", dst_format="coco", max_vertices=2
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no \*.png files in .*empty"):
        convert_annotations(empty, tmp_path / "a.json", src_format="png", dst_format="coco")
    with pytest.raises(NotADirectoryError, match=r"expected a folder of \*.json files"):
        convert_annotations(
            tmp_path / "nowhere", tmp_path / "a.json", src_format="labelme", dst_format="coco"
        )
    with pytest.raises(FileNotFoundError, match="no such file"):
        convert_annotations(
            tmp_path / "nowhere.json", tmp_path / "out", src_format="coco", dst_format="png"
        )
    with pytest.raises(ValueError, match=r"img0.png: mask value 2 has no class name"):
        convert_annotations(
            mask_folder,
            tmp_path / "a.json",
            src_format="png",
            dst_format="coco",
            class_names=["bg", "disc"],
        )


def test_duplicate_output_names_and_oversized_classes(tmp_path):
    images = [
        {"id": 1, "file_name": "a/x.jpg", "height": 4, "width": 4},
        {"id": 2, "file_name": "b/x.jpg", "height": 4, "width": 4},
    ]
    coco = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    with pytest.raises(
        ValueError, match=r"images 'a/x.jpg' and 'b/x.jpg' would both be written as 'x'"
    ):
        convert_annotations(
            tmp_path / "ann.json", tmp_path / "out", src_format="coco", dst_format="png"
        )
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(labelme_doc()))
    names = ["bg"] + [f"c{i}" for i in range(300)]
    with pytest.raises(ValueError, match="class index 300 does not fit a mask"):
        convert_annotations(
            folder, tmp_path / "out", src_format="labelme", dst_format="png", class_names=names
        )
