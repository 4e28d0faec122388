"""Centre NMS and pixel grouping on hand-made cases; one-image prediction, checkpoint settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seglab.checkpoint import save_checkpoint
from seglab.instance.grouping import (
    GROUPING_SETTINGS,
    checkpoint_grouping,
    find_centers,
    group_instances,
    predict_instances,
)
from seglab.instance.targets import instance_targets
from seglab.models.panoptic_deeplab import PanopticDeepLab


def two_discs(height: int = 24, width: int = 40):
    """Two touching discs; perfect targets taken from instance_targets."""
    yy, xx = np.mgrid[:height, :width]
    labels = np.zeros((height, width), np.int64)
    labels[(yy - 12) ** 2 + (xx - 12) ** 2 <= 64] = 1
    labels[(yy - 12) ** 2 + (xx - 26) ** 2 <= 49] = 2
    return labels, instance_targets(labels, sigma=2.0)


def test_two_discs_with_perfect_outputs_are_recovered_exactly():
    labels, targets = two_discs()
    prob = torch.from_numpy((labels > 0).astype(np.float32))
    center = torch.from_numpy(targets["center"])
    center[12, 26] = 0.9  # the second peak a little lower: ids follow peak height
    result = group_instances(prob, center, torch.from_numpy(targets["offset"]))
    assert torch.equal(result.labels, torch.from_numpy(labels))
    assert result.centers.tolist() == [[12, 12], [12, 26]]
    assert result.scores.tolist() == pytest.approx([1.0, 0.9])


def test_scores_are_centre_times_mean_probability():
    labels, targets = two_discs()
    prob = torch.from_numpy(np.where(labels == 1, 0.8, np.where(labels == 2, 0.6, 0.1)))
    result = group_instances(prob, targets["center"], targets["offset"])
    assert result.scores.tolist() == pytest.approx([0.8, 0.6])
    assert result.scores.dtype == torch.float64


def test_no_centre_or_no_foreground_gives_empty():
    labels, targets = two_discs()
    prob = torch.from_numpy((labels > 0).astype(np.float32))
    offset = torch.from_numpy(targets["offset"])
    none = group_instances(prob, torch.zeros(24, 40), offset)
    assert len(none) == 0 and not none.labels.any() and none.centers.shape == (0, 2)
    empty = group_instances(torch.zeros(24, 40), targets["center"], offset)
    assert len(empty) == 0 and not empty.labels.any()


def test_top_k_min_area_and_thresholds():
    labels, targets = two_discs()
    prob = torch.from_numpy((labels > 0).astype(np.float32))
    offset = torch.from_numpy(targets["offset"])
    one = group_instances(prob, targets["center"], offset, top_k=1)
    assert torch.equal(one.labels, torch.from_numpy((labels > 0).astype(np.int64)))
    # A centre above every Gaussian peak drops everything; min_area drops the smaller disc.
    assert len(group_instances(prob, targets["center"], offset, threshold=1.0)) == 0
    small = int((labels == 2).sum())
    result = group_instances(prob, targets["center"], offset, min_area=small + 1)
    assert len(result) == 1 and result.labels.max() == 1 and not result.labels[labels == 2].any()


def test_pixels_join_the_nearest_pointed_centre_on_ties_the_higher():
    # One row, zero offsets: pixels split at the midpoint; the exact midpoint (x = 3) is a tie.
    center = torch.zeros(1, 7)
    center[0, 0], center[0, 6] = 0.5, 0.7
    result = group_instances(torch.ones(1, 7), center, torch.zeros(2, 1, 7))
    assert result.labels.tolist() == [[2, 2, 2, 1, 1, 1, 1]]


def brute_force_nms(heat: np.ndarray, kernel: int, threshold: float) -> set:
    half = kernel // 2
    height, width = heat.shape
    peaks = set()
    for y in range(height):
        for x in range(width):
            window = heat[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]
            if heat[y, x] > threshold and heat[y, x] >= window.max():
                peaks.add((y, x))
    return peaks


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_find_centers_matches_brute_force(kernel):
    rng = np.random.default_rng(kernel)
    heat = rng.random((13, 17)).astype(np.float32)
    centers, values = find_centers(
        torch.from_numpy(heat), threshold=0.3, nms_kernel=kernel, top_k=None
    )
    assert {tuple(c) for c in centers.tolist()} == brute_force_nms(heat, kernel, 0.3)
    assert torch.all(values[:-1] >= values[1:])
    top, _ = find_centers(torch.from_numpy(heat), threshold=0.3, nms_kernel=kernel, top_k=2)
    assert top.tolist() == centers[:2].tolist()


def test_errors():
    prob, heat, offset = torch.ones(4, 5), torch.zeros(4, 5), torch.zeros(2, 4, 5)
    with pytest.raises(ValueError, match=r"foreground_prob must be an \(H, W\) map"):
        group_instances(torch.ones(4), heat, offset)
    with pytest.raises(ValueError, match=r"offset must be \(2, H, W\)"):
        group_instances(prob, heat, torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="must share"):
        group_instances(prob, torch.zeros(4, 6), offset)
    with pytest.raises(ValueError, match="min_area must be an int >= 0"):
        group_instances(prob, heat, offset, min_area=-1)
    with pytest.raises(ValueError, match="nms_kernel must be a positive odd int"):
        find_centers(heat, nms_kernel=4)
    with pytest.raises(ValueError, match="top_k must be a positive int or None"):
        find_centers(heat, top_k=0)


def test_checkpoint_grouping_reads_and_checks_settings():
    settings = {"threshold": 0.2, "nms_kernel": 3, "top_k": None, "min_area": 4}
    assert checkpoint_grouping({"grouping": settings}) == settings
    assert checkpoint_grouping({"grouping": None}) == {} == checkpoint_grouping({})
    assert set(GROUPING_SETTINGS) <= set(group_instances.__code__.co_varnames)
    with pytest.raises(ValueError, match="the checkpoint's grouping must be a dict"):
        checkpoint_grouping({"grouping": [1]})
    with pytest.raises(ValueError, match="unknown grouping setting 'sigma'.*valid settings: thr"):
        checkpoint_grouping({"grouping": {"sigma": 1.0}})
    for bad in (float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="grouping setting threshold must be a finite"):
            checkpoint_grouping({"grouping": {"threshold": bad}})


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = PanopticDeepLab(base_channels=2)
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        {
            "model": model.config,
            "state_dict": model.state_dict(),
            "class_names": ["background", "nucleus"],
            "task": "instance",
            # Centre threshold below everything: the random model still yields instances.
            "grouping": {"threshold": -1e9, "nms_kernel": 3, "foreground_threshold": -1.0},
        },
    )
    return path


def test_predict_instances_matches_manual_grouping(tiny_checkpoint):
    from seglab.checkpoint import load_checkpoint
    from seglab.data.dsb2018 import normalize_image
    from seglab.models.panoptic_deeplab import instance_model_from_checkpoint

    model = instance_model_from_checkpoint(load_checkpoint(tiny_checkpoint))
    image = np.random.default_rng(1).integers(0, 255, (17, 23, 3), dtype=np.uint8)
    result = predict_instances(model, image, threshold=0.0, nms_kernel=3, foreground_threshold=0.0)
    with torch.no_grad():
        out = model(normalize_image(image)[None])
    manual = group_instances(
        out["semantic"].softmax(1)[0, 1],
        out["center"][0, 0],
        out["offset"][0],
        threshold=0.0,
        nms_kernel=3,
        foreground_threshold=0.0,
    )
    assert torch.equal(result.labels, manual.labels) and result.labels.shape == (17, 23)


def test_shipped_checkpoint_loads_and_predicts(monkeypatch):
    import seglab.pretrained as module
    from seglab.checkpoint import load_checkpoint
    from seglab.models.panoptic_deeplab import instance_model_from_checkpoint

    state = load_checkpoint(module.default_instance_checkpoint())
    assert state["task"] == "instance" and set(state["grouping"]) == {"threshold", "nms_kernel"}
    model = instance_model_from_checkpoint(state)
    image = np.zeros((40, 40, 3), np.uint8)
    image[10:20, 10:20] = 220  # one bright square nucleus on black
    result = predict_instances(model, image, **state["grouping"])
    assert result.labels.shape == (40, 40)
    monkeypatch.setattr(module, "NUCLEI_WEIGHTS", "missing.pt")
    with pytest.raises(FileNotFoundError, match="this installation has no .*missing.pt; pass"):
        module.default_instance_checkpoint()
