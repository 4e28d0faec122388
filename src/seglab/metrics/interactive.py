"""Error rate of interactive foreground extraction on the GrabCut database.

Blake et al. (ECCV 2004) score a segmentation by the share of mislabelled pixels inside the
region the user left unknown. The database stores:

- ground truth ``gt``: 0 = background, 255 = foreground, 128 = mixed border pixels (a thin
  band that is not counted);
- user trimap ``trimap`` (``lasso/`` and ``rect/`` folders): 0 and 64 = background,
  128 = unknown, 255 = foreground.

So the error rate is ``#{pred != (gt == 255)} / #{trimap == 128 and gt != 128}``, counted over
``trimap == 128 and gt != 128``. Per image, then averaged over images; the pooled ratio over a
whole set comes from summing :func:`grabcut_error_counts`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grabcut_error_counts", "grabcut_error_rate"]

GT_VALUES = (0, 128, 255)
TRIMAP_VALUES = (0, 64, 128, 255)
UNKNOWN = 128
FOREGROUND = 255
IGNORED_GT = 128


def grabcut_error_counts(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> tuple[int, int]:
    """Mislabelled and counted pixels of one image, GrabCut database protocol.

    Args:
        pred: ``(H, W)`` predicted labels, 1 (or ``True``) = foreground, 0 = background.
        gt: ``(H, W)`` ground truth in {0, 128, 255}; 128 pixels are not counted.
        trimap: ``(H, W)`` user trimap in {0, 64, 128, 255}; only 128 pixels are counted.

    Returns:
        ``(errors, counted)``: mislabelled pixels and pixels counted.

    Raises:
        ValueError: if the shapes differ, ``pred`` is not binary, or ``gt`` / ``trimap`` hold
            values outside their sets.

    Example:
        >>> gt = np.array([[0, 255, 255, 128]])
        >>> trimap = np.array([[128, 128, 255, 128]])
        >>> grabcut_error_counts(np.array([[1, 1, 1, 0]]), gt, trimap)
        (1, 2)
    """
    pred, gt, trimap = np.asarray(pred), np.asarray(gt), np.asarray(trimap)
    if not pred.shape == gt.shape == trimap.shape:
        raise ValueError(
            f"pred, gt and trimap must have the same shape, got {pred.shape}, {gt.shape} "
            f"and {trimap.shape}"
        )
    _check_values("pred", pred, (0, 1))
    _check_values("gt", gt, GT_VALUES)
    _check_values("trimap", trimap, TRIMAP_VALUES)
    counted = (trimap == UNKNOWN) & (gt != IGNORED_GT)
    wrong = (pred.astype(bool) != (gt == FOREGROUND)) & counted
    return int(wrong.sum()), int(counted.sum())


def grabcut_error_rate(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    """Share of mislabelled pixels in the trimap's unknown region, ignoring gt's border band.

    Args:
        pred: ``(H, W)`` predicted labels, 1 (or ``True``) = foreground, 0 = background.
        gt: ``(H, W)`` ground truth in {0, 128, 255}.
        trimap: ``(H, W)`` user trimap in {0, 64, 128, 255}.

    Returns:
        The error rate in [0, 1].

    Raises:
        ValueError: as :func:`grabcut_error_counts`, and when no pixel is counted (no
            ``trimap == 128`` pixel outside the ground truth's 128 band).

    Example:
        >>> gt = np.array([[0, 255, 255, 128]])
        >>> trimap = np.array([[128, 128, 255, 128]])
        >>> grabcut_error_rate(np.array([[1, 1, 1, 0]]), gt, trimap)
        0.5
    """
    errors, counted = grabcut_error_counts(pred, gt, trimap)
    if counted == 0:
        raise ValueError(
            "no pixel to count: the trimap has no unknown (128) pixel outside the ground "
            "truth's 128 band"
        )
    return errors / counted


def _check_values(name: str, array: np.ndarray, valid: tuple[int, ...]) -> None:
    bad = ~np.isin(array, valid)
    if bad.any():
        raise ValueError(
            f"{name} values must be in {{{', '.join(map(str, valid))}}}; found "
            f"{np.unique(array[bad])[:5].tolist()}"
        )
