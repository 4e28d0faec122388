"""GrabCut database error rate: hand-computed cases, a brute-force reference, and errors."""

import numpy as np
import pytest

from seglab.metrics import grabcut_error_counts, grabcut_error_rate


def test_hand_computed_case():
    # Columns: counted-correct fg, counted-wrong fg, counted-correct bg, counted-wrong bg,
    # gt border (128) inside the unknown region, known background (64), known foreground (255).
    gt = np.array([[255, 255, 0, 0, 128, 0, 255]])
    trimap = np.array([[128, 128, 128, 128, 128, 64, 255]])
    pred = np.array([[1, 0, 0, 1, 1, 1, 0]])
    # Counted: the first four pixels; wrong: the second and the fourth. The border pixel and
    # the mistakes outside the unknown region do not count.
    assert grabcut_error_counts(pred, gt, trimap) == (2, 4)
    assert grabcut_error_rate(pred, gt, trimap) == 0.5


def test_perfect_and_inverted_predictions():
    gt = np.array([[0, 255], [255, 0]], np.uint8)
    trimap = np.full((2, 2), 128, np.uint8)
    assert grabcut_error_rate(gt == 255, gt, trimap) == 0.0
    assert grabcut_error_rate(gt != 255, gt, trimap) == 1.0


def test_matches_brute_force_loop():
    rng = np.random.default_rng(0)
    gt = rng.choice([0, 128, 255], size=(20, 30), p=[0.5, 0.1, 0.4])
    trimap = rng.choice([0, 64, 128, 255], size=(20, 30))
    pred = rng.integers(0, 2, size=(20, 30))
    errors = counted = 0
    for p, g, t in zip(pred.ravel(), gt.ravel(), trimap.ravel(), strict=True):
        if t == 128 and g != 128:
            counted += 1
            errors += int(p != (g == 255))
    assert grabcut_error_counts(pred, gt, trimap) == (errors, counted)
    assert grabcut_error_rate(pred, gt, trimap) == pytest.approx(errors / counted)
    # A boolean prediction is read the same way.
    assert grabcut_error_counts(pred.astype(bool), gt, trimap) == (errors, counted)


def test_errors():
    gt = np.array([[0, 255]])
    trimap = np.array([[128, 128]])
    with pytest.raises(ValueError, match="same shape"):
        grabcut_error_rate(np.array([[0, 1, 1]]), gt, trimap)
    with pytest.raises(ValueError, match=r"pred values must be in \{0, 1\}; found \[255\]"):
        grabcut_error_rate(np.array([[0, 255]]), gt, trimap)
    with pytest.raises(ValueError, match=r"gt values must be in .*found \[1\]"):
        grabcut_error_rate(np.array([[0, 1]]), np.array([[0, 1]]), trimap)
    with pytest.raises(ValueError, match=r"trimap values must be in .*found \[3\]"):
        grabcut_error_rate(np.array([[0, 1]]), gt, np.array([[3, 128]]))
    with pytest.raises(ValueError, match="no pixel to count"):
        grabcut_error_rate(np.array([[0, 1]]), np.array([[128, 255]]), np.array([[128, 255]]))
