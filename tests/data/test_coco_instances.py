"""COCO instance files as instance training data: classes, overlaps, crowds, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from seglab.data.coco_instances import load_coco_instances


def square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def write_dataset(tmp_path, annotations, *, images=3, categories=None):
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    records = []
    for k in range(images):
        Image.fromarray(np.full((20, 30, 3), 40 * k, np.uint8)).save(folder / f"im{k}.png")
        records.append({"id": 10 + k, "file_name": f"im{k}.png", "height": 20, "width": 30})
    data = {
        "images": records,
        "categories": categories or [{"id": 7, "name": "cell"}, {"id": 3, "name": "nucleus"}],
        "annotations": annotations,
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path, folder


def ann(id_, image_id, category_id, segmentation, **extra):
    return {
        "id": id_,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": segmentation,
        **extra,
    }


def test_instances_classes_and_overlaps(tmp_path):
    path, folder = write_dataset(
        tmp_path,
        [
            ann(1, 10, 7, square(0, 0, 20, 20)),  # a big cell ...
            ann(2, 10, 3, square(5, 5, 10, 10)),  # ... with a nucleus on top: stays whole
            ann(3, 10, 3, square(22, 2, 28, 8)),
            ann(4, 11, 3, square(0, 0, 4, 4), iscrowd=1),  # crowd: no instance
        ],
    )
    data = load_coco_instances(path, folder)
    # Classes in increasing category id: nucleus (3) is class 1, cell (7) class 2.
    assert data.class_names == ["background", "nucleus", "cell"] and data.category_ids == [3, 7]
    first = data.samples[0]
    assert first.image_id == "im0.png" and first.image.shape == (20, 30, 3)
    assert np.unique(first.labels).tolist() == [0, 1, 2, 3]
    nucleus_id = first.labels[7, 7]
    assert (first.labels[5:10, 5:10] == nucleus_id).all()  # the small object on top, whole
    assert first.classes[nucleus_id] == 1 and first.classes[first.labels[1, 1]] == 2
    assert first.classes[first.labels[4, 24]] == 1 and first.classes[0] == 0
    assert (data.samples[1].labels == 0).all() and data.samples[1].classes.tolist() == [0]
    # The fit / val split: every tenth image (sorted by id) is held out.
    assert [s.image_id for s in load_coco_instances(path, folder, split="val").samples] == [
        "im0.png"
    ]
    assert len(load_coco_instances(path, folder, split="fit").samples) == 2


def test_crops_carry_the_instance_classes(tmp_path):
    import functools

    from seglab.data.dsb2018 import NucleiCrops
    from seglab.instance.targets import instance_target_tensors

    path, folder = write_dataset(
        tmp_path,
        [ann(1, 10, 7, square(0, 0, 12, 12)), ann(2, 10, 3, square(15, 5, 25, 15))],
        images=1,
    )
    sample = load_coco_instances(path, folder).samples[0]
    crops = NucleiCrops(
        [sample], crop_size=32, targets=functools.partial(instance_target_tensors, sigma=2.0)
    )
    item = crops[0]
    semantic, labels = item["semantic"].numpy(), item["labels"].numpy()
    assert set(np.unique(semantic)) == {0, 1, 2}
    assert (semantic == sample.classes[labels]).all()


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            [ann(17, 10, 9, square(0, 0, 4, 4))],
            r"ann\.json: annotations\[0\]\.category_id: 9 is not a category id "
            r"\(annotation id 17\)",
        ),
        (
            [{"id": 5, "image_id": 10, "category_id": 3}],
            r"ann\.json: annotations\[0\]\.segmentation: missing \(annotation id 5\)",
        ),
        (
            [ann(1, 10, 3, square(0, 0, 4, 4)), ann(8, 10, 3, [[0, 0, 4, 0]])],
            r"annotations\[1\]\.segmentation\[0\]: a polygon needs at least 3 points "
            r"\(6 numbers\), got 4 numbers \(annotation id 8\)",
        ),
    ],
    ids=["unknown-category", "missing-field", "two-point-polygon"],
)
def test_bad_files_name_the_field_and_the_annotation(tmp_path, annotations, message):
    path, folder = write_dataset(tmp_path, annotations)
    with pytest.raises(ValueError, match=message):
        load_coco_instances(path, folder)


def test_missing_images_and_wrong_sizes(tmp_path):
    path, folder = write_dataset(tmp_path, [])
    (folder / "im1.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"image 'im1\.png' not found in"):
        load_coco_instances(path, folder)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(folder / "im1.png")
    with pytest.raises(ValueError, match=r"im1\.png is 5 x 5 pixels but .*ann\.json says 30 x 20"):
        load_coco_instances(path, folder)
    with pytest.raises(ValueError, match="unknown split 'test'; choose one of fit, val, all"):
        load_coco_instances(path, folder, split="test")
    with pytest.raises(FileNotFoundError, match="no images folder"):
        load_coco_instances(path, tmp_path / "nowhere")
