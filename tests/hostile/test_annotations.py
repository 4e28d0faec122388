"""Hostile annotation files: every size, coordinate, run length and name a file gives is checked
before any work is done, so a bad file is one clear error naming the file and the field, never a
MemoryError, a hang, a traceback from inside NumPy or pycocotools, or two classes merged."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab.annotations import (
    MAX_ANNOTATION_COORDINATE,
    MAX_ANNOTATION_PIXELS,
    coco_to_masks,
    convert_annotations,
    keyhole_ring,
    labelme_to_mask,
    mask_to_polygons,
    masks_to_coco,
    polygons_to_mask,
    read_coco,
    read_labelme,
    read_panoptic_json,
    segmentation_to_mask,
)
from seglab.annotations.coco import segmentation_window, validate_coco
from seglab.annotations.coco_results import decode_segmentations, read_coco_results
from seglab.annotations.polygons import polygons_window, trace_values
from seglab.io import read_mask, write_mask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")

LIMIT = "178,956,970"


def coco(**image) -> dict:
    """A valid one-image, one-category, one-triangle COCO dict; ``image`` overrides fields."""
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 5, **image}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4]]}
        ],
    }


def labelme(points=((0, 0), (4, 0), (4, 4)), label="cat", **fields) -> dict:
    return {
        "shapes": [{"label": label, "points": [list(p) for p in points], "shape_type": "polygon"}],
        "imagePath": "a.jpg",
        "imageData": None,
        "imageHeight": 4,
        "imageWidth": 5,
        **fields,
    }


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# -- image sizes -------------------------------------------------------------------------------


def test_limit_is_pillows_decompression_bomb_threshold():
    assert MAX_ANNOTATION_PIXELS == 2 * Image.MAX_IMAGE_PIXELS == 178_956_970
    assert MAX_ANNOTATION_COORDINATE == 2**31


def test_coco_image_of_10_to_the_12_pixels_is_refused_by_convert_and_nothing_is_written(tmp_path):
    src = write_json(tmp_path / "ann.json", coco(height=10**6, width=10**6))
    out = tmp_path / "out"
    with pytest.raises(
        ValueError,
        match=rf"^ann.json: images\[0\]: 1000000 x 1000000 = 1,000,000,000,000 pixels is over "
        rf"the limit of {LIMIT} pixels \(seglab.annotations.MAX_ANNOTATION_PIXELS\)$",
    ):
        convert_annotations(src, out, src_format="coco", dst_format="png")
    assert not out.exists()


def test_coco_image_of_10_to_the_12_pixels_is_refused_by_coco_to_masks():
    with pytest.raises(ValueError, match=rf"bad.json: images\[0\]: .* over the limit of {LIMIT}"):
        coco_to_masks(coco(height=10**6, width=10**6), source="bad.json")


def test_coco_image_one_pixel_over_the_limit_is_refused_and_at_the_limit_is_valid():
    with pytest.raises(ValueError, match=r"images\[0\]: 1 x 178956971 = 178,956,971 pixels"):
        validate_coco(coco(height=1, width=MAX_ANNOTATION_PIXELS + 1))
    assert validate_coco(coco(height=1, width=MAX_ANNOTATION_PIXELS))["images"][0]["height"] == 1


def test_labelme_image_of_10_to_the_12_pixels_is_refused_and_nothing_is_written(tmp_path):
    write_json(tmp_path / "src" / "bad.json", labelme(imageHeight=10**6, imageWidth=10**6))
    out = tmp_path / "out"
    with pytest.raises(
        ValueError,
        match=rf"^bad.json: imageHeight x imageWidth: 1000000 x 1000000 = 1,000,000,000,000 "
        rf"pixels is over the limit of {LIMIT} pixels",
    ):
        convert_annotations(tmp_path / "src", out, src_format="labelme", dst_format="png")
    assert not out.exists()


def test_library_rasterisers_refuse_a_huge_size_before_allocating():
    square = [np.array([[0, 0], [2, 0], [2, 2]])]
    with pytest.raises(ValueError, match=r"^image size 1000000 x 1000000 = .* over the limit"):
        polygons_to_mask(square, 10**6, 10**6)
    with pytest.raises(ValueError, match=r"^image size 1000000 x 1000000"):
        polygons_window(square, 10**6, 10**6)
    with pytest.raises(ValueError, match=r"^RLE: size: 1000000 x 1000000 = .* over the limit"):
        segmentation_to_mask({"size": [10**6, 10**6], "counts": "0"}, 10**6, 10**6)


def test_results_file_with_a_huge_rle_size_is_refused(tmp_path):
    record = {
        "image_id": 1,
        "category_id": 1,
        "score": 0.5,
        "segmentation": {"size": [10**6, 10**6], "counts": "0"},
    }
    path = write_json(tmp_path / "res.json", [record])
    with pytest.raises(
        ValueError, match=rf"res.json: \[0\].segmentation.size: .* limit of {LIMIT}"
    ):
        read_coco_results(path)
    with pytest.raises(ValueError, match=r"^RLE: size: 1000000 x 1000000"):
        decode_segmentations([record["segmentation"]])


# -- coordinates and vertex counts -------------------------------------------------------------


def test_coco_polygon_at_1e12_is_refused_with_file_and_field(tmp_path):
    data = coco()
    data["annotations"][0]["segmentation"] = [[0, 0, 1e12, 0, 4, 4]]
    src = write_json(tmp_path / "ann.json", data)
    with pytest.raises(
        ValueError,
        match=r"^ann.json: annotations\[0\].segmentation\[0\]: coordinate 1e\+12 is beyond the "
        r"limit of 2,147,483,648 pixels",
    ):
        convert_annotations(src, tmp_path / "out", src_format="coco", dst_format="png")
    assert not (tmp_path / "out").exists()


def test_labelme_point_at_minus_1e12_is_refused_with_file_and_field(tmp_path):
    path = write_json(tmp_path / "bad.json", labelme(points=[(0, 0), (-1e12, 0), (4, 4)]))
    with pytest.raises(ValueError, match=r"^bad.json: shapes\[0\].points: coordinate 1e\+12"):
        read_labelme(path)


@pytest.mark.parametrize("value", ["10" + "0" * 400, "1e400"])
def test_json_number_beyond_float64_is_refused_not_an_overflow_traceback(tmp_path, value):
    text = json.dumps(coco()).replace("[[0, 0, 4, 0, 4, 4]]", f"[[0, 0, {value}, 0, 4, 4]]")
    (tmp_path / "ann.json").write_text(text)
    with pytest.raises(ValueError, match=r"segmentation\[0\]: coordinates must be finite"):
        read_coco(tmp_path / "ann.json")


def test_labelme_number_beyond_float64_is_refused_not_an_overflow_traceback(tmp_path):
    text = json.dumps(labelme()).replace("[4, 0]", "[1" + "0" * 400 + ", 0]")
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ValueError, match=r"^bad.json: shapes\[0\].points: coordinates must be"):
        read_labelme(tmp_path / "bad.json")


def test_library_refuses_a_vertex_at_1e300_instead_of_overflowing():
    with pytest.raises(ValueError, match=r"polygons\[0\]: coordinate 1e\+300 is beyond"):
        polygons_to_mask([np.array([[-1e300, 0.0], [1e300, 3.0], [0.0, 1e300]])], 6, 6)


def test_far_but_allowed_coordinates_are_clipped_exactly():
    far = 1e9
    band = np.array([[-far, -far], [far, -far], [far, 2.0], [-far, 2.0]])
    expected = np.zeros((6, 7), bool)
    expected[:2] = True
    assert np.array_equal(polygons_to_mask([band], 6, 7), expected)


def test_polygon_that_zig_zags_across_every_row_is_refused_quickly():
    # 20,000 vertices, each edge across all 2,000 rows inside 10 columns: 4e7 crossings.
    xs = np.linspace(0, 10, 20_000)
    ys = np.where(np.arange(20_000) % 2, 2_000.0, 0.0)
    started = time.perf_counter()
    with pytest.raises(
        ValueError,
        match=r"^the polygon crosses pixel rows 40,000,000 times inside its 2000 x 10 window, "
        r"more than 16 x \(window pixels \+ 20000 vertices\) = 640,000",
    ):
        polygons_to_mask([np.stack([xs, ys], axis=1)], 2_000, 10)
    assert time.perf_counter() - started < 2


def test_coco_zig_zag_error_names_the_annotation(tmp_path):
    flat = np.stack([np.linspace(0, 4, 400), np.where(np.arange(400) % 2, 300.0, 0.0)], 1)
    data = coco(height=300, width=5)
    data["annotations"][0]["segmentation"] = [flat.ravel().tolist()]
    with pytest.raises(
        ValueError, match=r"^ann.json: annotations\[0\].segmentation: the polygon crosses pixel"
    ):
        coco_to_masks(data, source="ann.json")


def test_polygon_with_a_million_vertices_is_linear_not_refused():
    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    circle = np.stack([100 + 80 * np.cos(angles), 100 + 80 * np.sin(angles)], axis=1)
    started = time.perf_counter()
    mask = polygons_to_mask([circle], 200, 200)
    assert time.perf_counter() - started < 5
    assert abs(int(mask.sum()) - np.pi * 80**2) < 80


def test_many_small_objects_on_a_large_image_cost_the_objects_not_the_image():
    # 2,000 one-pixel triangles on a 16-megapixel image: painting each through a full-size
    # mask used 2,000 x 16 MB = 32 GB.
    corners = [[x, 0, x + 1, 0, x, 1] for x in range(0, 4_000, 2)]
    data = coco(height=4_000, width=4_000)
    data["annotations"] = [
        {"id": k + 1, "image_id": 1, "category_id": 1, "segmentation": [flat]}
        for k, flat in enumerate(corners)
    ]
    tracemalloc.start()
    try:
        mask = coco_to_masks(data)["a.jpg"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20  # the 16 MB canvas and small change
    assert int(mask.sum()) == 2_000 and mask[0, ::2].all()


def test_part_with_thousands_of_holes_becomes_one_keyhole_ring_in_near_linear_time():
    # A 160x160 grid of single-pixel holes: 6,241 holes. Bridging each hole to a growing ring
    # copied the ring and rebuilt a k-d tree per hole: 5 s at 120x120, 2 minutes at 240x240,
    # growing with the fourth power of the side.
    mask = np.ones((160, 160), bool)
    mask[1:-1:2, 1:-1:2] = False
    (part,) = mask_to_polygons(mask)
    assert len(part) == 1 + 79 * 79
    started = time.perf_counter()
    ring = keyhole_ring(part)
    assert time.perf_counter() - started < 5
    assert len(ring) == sum(len(r) for r in part) + 2 * (len(part) - 1)
    assert np.array_equal(polygons_to_mask([ring], 160, 160), mask)


def test_png_with_many_values_is_traced_value_by_value_in_windows(tmp_path):
    # A 16-bit mask with 2,000 labels: one full-image comparison per value would be 2,000
    # images of work; windows make it one image.
    labels = np.arange(1, 2_001, dtype=np.uint16).reshape(40, 50).repeat(2, 0).repeat(2, 1)
    (tmp_path / "masks").mkdir()
    Image.fromarray(labels).save(tmp_path / "masks" / "a.png")
    assert read_mask(tmp_path / "masks" / "a.png").max() == 2_000
    out = tmp_path / "ann.json"
    convert_annotations(
        tmp_path / "masks", out, src_format="png", dst_format="coco", ignore_index=None
    )
    data = json.loads(out.read_text())
    assert len(data["categories"]) == 2_000 and len(data["annotations"]) == 2_000
    assert np.array_equal(coco_to_masks_uint16(data), labels)


def coco_to_masks_uint16(data: dict) -> np.ndarray:
    """Paint a one-image COCO dict with more than 254 categories (coco_to_masks is uint8)."""
    image = data["images"][0]
    canvas = np.zeros((image["height"], image["width"]), np.int32)
    for annotation in data["annotations"]:
        row0, col0, inside = segmentation_window(
            annotation["segmentation"], image["height"], image["width"]
        )
        canvas[row0 : row0 + inside.shape[0], col0 : col0 + inside.shape[1]][inside] = annotation[
            "category_id"
        ]
    return canvas


def test_trace_values_refuses_the_background_value():
    with pytest.raises(ValueError, match="values to trace must be positive, got 0"):
        list(trace_values(np.zeros((2, 2), np.uint8), [0, 1]))


# -- run-length encoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ("0~", r"compressed RLE counts hold a character outside '0'..'o'"),
        ("P", r"compressed RLE counts end in the middle of a number"),
        ("@", r"run lengths must not be negative, got -16"),
        ("0ooooooo0", r"a compressed RLE count is longer than 6 characters"),
        ("0:0:0:", r"sum 60 != H\*W = 20"),
        ("0\u00e9", r"compressed RLE counts must be ASCII"),
        ([10**30], r"sum 1000000000000000000000000000000 != H\*W = 20"),
        ([25, -5], r"expected non-negative integers"),
        ([20.0], r"expected non-negative integers"),
    ],
)
def test_malformed_rle_counts_are_refused_with_file_and_field(tmp_path, counts, message):
    data = coco()
    data["annotations"][0]["segmentation"] = {"size": [4, 5], "counts": counts}
    path = write_json(tmp_path / "ann.json", data)
    with pytest.raises(ValueError, match=r"^ann.json: annotations\[0\].segmentation.counts: "):
        read_coco(path)
    with pytest.raises(ValueError, match=message):
        read_coco(path)


def test_malformed_rle_is_refused_by_the_library_decoder_too():
    with pytest.raises(ValueError, match=r"^RLE: counts: run lengths must not be negative"):
        segmentation_to_mask({"size": [4, 5], "counts": "@"}, 4, 5)
    with pytest.raises(ValueError, match=r"^RLE: \[0\].counts: sum 60 != H\*W = 20"):
        decode_segmentations([{"size": [4, 5], "counts": "0:0:0:"}])
    with pytest.raises(ValueError, match=r"RLE size must be \[H, W\], got 4"):
        segmentation_to_mask({"size": 4, "counts": "4"}, 4, 5)
    with pytest.raises(ValueError, match=r"height must be a positive integer, got 0"):
        segmentation_window({"size": [0, 5], "counts": ""}, 0, 5)


def test_results_file_with_rle_counts_that_overrun_the_image_is_refused(tmp_path):
    record = {"image_id": 1, "category_id": 1, "score": 0.5}
    path = write_json(
        tmp_path / "res.json", [{**record, "segmentation": {"size": [2, 2], "counts": "0:"}}]
    )
    with pytest.raises(
        ValueError, match=r"^res.json: \[0\].segmentation.counts: sum 10 != H\*W = 4$"
    ):
        read_coco_results(path)


def test_rle_size_that_is_not_a_list_is_refused_not_a_type_error():
    data = coco()
    data["annotations"][0]["segmentation"] = {"size": 20, "counts": "4"}
    with pytest.raises(ValueError, match=r"segmentation.size: 20 differs from the image size"):
        validate_coco(data)


def test_valid_rle_still_decodes_exactly_like_pycocotools():
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(0)
    mask = rng.random((13, 17)) < 0.4
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    segmentation = {"size": [13, 17], "counts": rle["counts"].decode("ascii")}
    assert np.array_equal(segmentation_to_mask(segmentation, 13, 17), mask)


# -- ids and names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["images"].append({**d["images"][0], "file_name": "b.jpg"}),
            r"images\[1\].id: expected a unique integer, got 1 \(also images\[0\]\)",
        ),
        (
            lambda d: d["categories"].append({"id": 1, "name": "dog"}),
            r"categories\[1\].id: expected a unique integer, got 1 \(also categories\[0\]\)",
        ),
        (
            lambda d: d["annotations"].append(dict(d["annotations"][0])),
            r"annotations\[1\].id: expected a unique integer, got 1 \(also annotations\[0\]\)",
        ),
        (
            lambda d: d["images"].append({**d["images"][0], "id": 2}),
            r"images\[1\].file_name: 'a.jpg' is also the file of images\[0\]",
        ),
        (
            lambda d: d["images"][0].update(file_name=""),
            r"images\[0\].file_name: expected a non-empty string",
        ),
        (lambda d: d["images"][0].update(id=True), r"images\[0\].id: expected a unique integer"),
        (
            lambda d: d["annotations"][0].update(image_id=[1]),
            r"annotations\[0\].image_id: \[1\] is not an image id",
        ),
        (
            lambda d: d["annotations"][0].update(category_id={"id": 1}),
            r"annotations\[0\].category_id: \{'id': 1\} is not a category id",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=7),
            r"annotations\[0\].image_id: 7 is not an image id",
        ),
        (
            lambda d: d["annotations"][0].update(iscrowd=[1]),
            r"annotations\[0\].iscrowd: expected 0 or 1, got \[1\]",
        ),
    ],
)
def test_repeated_and_dangling_coco_ids_are_clear_errors(tmp_path, change, message):
    data = coco()
    change(data)
    path = write_json(tmp_path / "ann.json", data)
    with pytest.raises(ValueError, match=rf"^ann.json: {message}"):
        read_coco(path)


def test_duplicate_coco_category_names_would_merge_on_a_round_trip_and_are_refused(tmp_path):
    data = coco()
    data["categories"].append({"id": 2, "name": "cat "})
    data["annotations"].append(
        {"id": 2, "image_id": 1, "category_id": 2, "segmentation": [[0, 4, 4, 4, 0, 0]]}
    )
    src = write_json(tmp_path / "ann.json", data)
    with pytest.raises(
        ValueError,
        match=r"^ann.json: categories\[1\].name: 'cat ' is also the name of categories\[0\]; "
        r"category names must be unique, or the two classes would merge",
    ):
        convert_annotations(src, tmp_path / "labelme", src_format="coco", dst_format="labelme")
    assert not (tmp_path / "labelme").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("", r"expected a non-empty string, got ''"), ("a\nb", r"contains a line break")],
)
def test_coco_category_name_that_cannot_be_a_line_of_classes_txt_is_refused(name, message):
    data = coco()
    data["categories"][0]["name"] = name
    with pytest.raises(ValueError, match=rf"ann.json: categories\[0\].name: .*{message}"):
        validate_coco(data, "ann.json")


def test_coco_category_named_like_the_background_is_refused_before_writing(tmp_path):
    data = coco()
    data["categories"][0]["name"] = "background"
    src = write_json(tmp_path / "ann.json", data)
    with pytest.raises(
        ValueError, match=r"^ann.json: class names: 'background' is given twice \(classes 0 and 1\)"
    ):
        convert_annotations(src, tmp_path / "out", src_format="coco", dst_format="png")
    assert not (tmp_path / "out").exists()


def test_duplicate_class_names_argument_is_refused_everywhere(tmp_path):
    names = ["background", "cat", "cat"]
    message = r"^class_names: class names: 'cat' is given twice \(classes 1 and 2\)"
    with pytest.raises(ValueError, match=message):
        convert_annotations(
            write_json(tmp_path / "ann.json", coco()),
            tmp_path / "out",
            src_format="coco",
            dst_format="png",
            class_names=names,
        )
    with pytest.raises(ValueError, match=message):
        coco_to_masks(coco(), class_names=names)
    with pytest.raises(ValueError, match=message):
        labelme_to_mask(labelme(), names)
    with pytest.raises(ValueError, match=message):
        masks_to_coco({"a.jpg": np.zeros((2, 2), np.uint8)}, names)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["background", ""], r"class_names: class 1: expected a non-empty string, got ''"),
        (["background", "  "], r"class_names: class 1: expected a non-empty string"),
        (["background", "a\nb"], r"class_names: class 1: class name 'a\\nb' contains a line"),
    ],
)
def test_empty_or_multi_line_class_names_are_refused(names, message):
    with pytest.raises(ValueError, match=message):
        coco_to_masks(coco(), class_names=names)


def test_duplicate_names_in_classes_txt_are_refused_before_writing(tmp_path):
    write_mask(tmp_path / "masks" / "a.png", np.ones((3, 3), np.uint8))
    (tmp_path / "masks" / "classes.txt").write_text("background\ncat\ncat\n")
    with pytest.raises(
        ValueError, match=r"^classes.txt: class names: 'cat' is given twice \(classes 1 and 2\)"
    ):
        convert_annotations(
            tmp_path / "masks", tmp_path / "lm", src_format="png", dst_format="labelme"
        )
    assert not (tmp_path / "lm").exists()


def test_classes_txt_with_a_million_lines_is_refused(tmp_path):
    write_mask(tmp_path / "masks" / "a.png", np.ones((3, 3), np.uint8))
    (tmp_path / "masks" / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10**6)))
    with pytest.raises(
        ValueError,
        match=r"^classes.txt: lists 1,000,000 class names; a PNG mask holds at most 65,536",
    ):
        convert_annotations(
            tmp_path / "masks", tmp_path / "a.json", src_format="png", dst_format="coco"
        )
    assert not (tmp_path / "a.json").exists()


def test_classes_txt_that_is_not_utf8_is_refused(tmp_path):
    write_mask(tmp_path / "masks" / "a.png", np.ones((3, 3), np.uint8))
    (tmp_path / "masks" / "classes.txt").write_bytes(b"background\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"^classes.txt: not UTF-8 text"):
        convert_annotations(
            tmp_path / "masks", tmp_path / "a.json", src_format="png", dst_format="coco"
        )


def test_classes_txt_without_names_is_refused(tmp_path):
    write_mask(tmp_path / "masks" / "a.png", np.ones((3, 3), np.uint8))
    (tmp_path / "masks" / "classes.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match=r"^classes.txt: lists no class names"):
        convert_annotations(
            tmp_path / "masks", tmp_path / "a.json", src_format="png", dst_format="coco"
        )


def test_labelme_label_with_a_line_break_is_refused(tmp_path):
    path = write_json(tmp_path / "bad.json", labelme(label="cat\ndog"))
    with pytest.raises(ValueError, match=r"^bad.json: shapes\[0\].label: class name 'cat\\ndog'"):
        read_labelme(path)


def test_labelme_labels_differing_only_in_white_space_are_one_class(tmp_path):
    write_json(tmp_path / "src" / "a.json", labelme(label="cat"))
    write_json(tmp_path / "src" / "b.json", labelme(label="cat ", points=[(0, 4), (4, 4), (0, 0)]))
    written = convert_annotations(
        tmp_path / "src", tmp_path / "png", src_format="labelme", dst_format="png"
    )
    assert [p.name for p in written] == ["a.png", "b.png", "classes.txt"]
    assert (tmp_path / "png" / "classes.txt").read_text() == "_background_\ncat\n"
    assert set(np.unique(read_mask(tmp_path / "png" / "b.png")).tolist()) == {0, 1}


def test_coco_class_beyond_a_uint8_mask_is_refused_not_an_overflow():
    names = ["background", *(f"c{i}" for i in range(1, 299)), "cat"]
    with pytest.raises(
        ValueError, match=r"categories\[0\].name: 'cat' is class 299 of class_names; a uint8 mask"
    ):
        coco_to_masks(coco(), class_names=names)


# -- other files -------------------------------------------------------------------------------


def test_deeply_nested_json_is_an_error_not_a_recursion_traceback(tmp_path):
    (tmp_path / "ann.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"^ann.json: not valid JSON: nested too deeply"):
        read_coco(tmp_path / "ann.json")


def panoptic(**change) -> dict:
    data = {
        "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": []}],
        "categories": [{"id": 1, "name": "cat", "isthing": 1}],
    }
    for key, value in change.items():
        data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            panoptic(categories=[{"id": 1, "isthing": 1}, {"id": 1, "isthing": 0}]),
            r"categories\[1\].id: 1 is also the id of categories\[0\]",
        ),
        (
            panoptic(
                categories=[
                    {"id": 1, "name": "cat", "isthing": 1},
                    {"id": 2, "name": "cat", "isthing": 0},
                ]
            ),
            r"categories\[1\].name: 'cat' is also the name of categories\[0\]",
        ),
        (
            panoptic(categories=[{"id": 1, "name": "", "isthing": 1}]),
            r"categories\[0\].name: expected a non-empty string",
        ),
        (
            panoptic(
                annotations=[{"image_id": 1, "file_name": "../../a.png", "segments_info": []}]
            ),
            r"annotations\[0\].file_name: '../../a.png' must be a path inside the PNG folder",
        ),
        (
            panoptic(annotations=[{"image_id": 1, "file_name": "/etc/a.png", "segments_info": []}]),
            r"annotations\[0\].file_name: '/etc/a.png' must be a path inside the PNG folder",
        ),
        (
            panoptic(categories=[{"id": 1, "isthing": True}]),
            r"categories\[0\].isthing: expected 0 or 1, got True",
        ),
    ],
)
def test_hostile_panoptic_json_is_refused(tmp_path, data, message):
    path = write_json(tmp_path / "pan.json", data)
    with pytest.raises(ValueError, match=rf"^pan.json: {message}"):
        read_panoptic_json(path)


def test_two_labelme_files_of_one_image_are_refused_for_a_coco_file(tmp_path):
    write_json(tmp_path / "src" / "a.json", labelme())
    write_json(tmp_path / "src" / "b.json", labelme())
    out = tmp_path / "ann.json"
    with pytest.raises(
        ValueError,
        match=r"^'a' and 'b' both describe the image 'a.jpg'; a COCO file lists each image once",
    ):
        convert_annotations(tmp_path / "src", out, src_format="labelme", dst_format="coco")
    assert not out.exists()
