"""The Lovász-Softmax loss (Berman, Triki and Blaschko, CVPR 2018): a surrogate of 1 - IoU.

IoU is a set function of the mispredicted pixels, so it has no gradient. Its Lovász extension
does: sort the pixels of class ``c`` by their error ``|[y = c] - p_c|``, largest first, and
weight each error by how much the Jaccard loss ``1 - |G \\ M| / |G ∪ M|`` grows when that
pixel joins the mispredicted set ``M`` (``G``: the pixels of class ``c``). The weights sum to
the Jaccard loss of all pixels, and for hard 0/1 predictions the extension is exactly the
Jaccard loss, ``1 - IoU_c``. The loss is the mean over classes, computed over the whole batch
at once (the paper's default for softmax), and so it optimises the score that
:class:`~seglab.metrics.ConfusionMatrix` reports rather than a pixel-wise proxy.

* :func:`lovasz_softmax` / :class:`LovaszSoftmaxLoss`: the loss alone.
* Cross-entropy + Lovász, the usual pairing (CE shapes the probabilities, Lovász the overlap),
  lives in :mod:`seglab.losses.combined`: :func:`~seglab.losses.combined.ce_lovasz_loss` /
  :class:`~seglab.losses.combined.CELovaszLoss`.

Void pixels (``ignore_index``) count nowhere, as in every loss of :mod:`seglab.losses`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seglab._checks import IGNORE_INDEX, check_choice
from seglab.losses._common import LossModule, _check_index_target, _per_class

__all__ = ["lovasz_softmax", "LovaszSoftmaxLoss"]

CLASS_CHOICES = ("present", "all")


def _lovasz_weights(truth_sorted: torch.Tensor) -> torch.Tensor:
    """The growth of the Jaccard loss along the sorted pixels (the extension's gradient).

    Args:
        truth_sorted: ``(P,)`` 1.0 where the pixel belongs to the class, in order of
            decreasing error.

    Returns:
        ``(P,)`` weights: ``J(S_i) - J(S_{i-1})`` with ``S_i`` the first ``i`` pixels.
    """
    total = truth_sorted.sum()
    # After the first i pixels are mispredicted: G \ M keeps the class pixels not yet passed,
    # G ∪ M adds the non-class pixels passed so far.
    intersection = total - truth_sorted.cumsum(0)
    union = total + (1.0 - truth_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_softmax(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    ignore_index: int | None = IGNORE_INDEX,
    classes: str = "present",
    weight: torch.Tensor | Sequence[float] | None = None,
) -> torch.Tensor:
    """Lovász-Softmax loss: the mean over classes of the Lovász extension of ``1 - IoU_c``.

    Args:
        logits: raw scores, one channel per class.
        target: class indices.
        ignore_index: target value that counts nowhere; ``None`` for none.
        classes: ``"present"`` scores only the classes that occur in the (non-void) target, as
            in the paper's code; ``"all"`` also punishes the largest probability put on an
            absent class.
        weight: optional per-class weights ``(K,)`` for the mean over classes.

    Returns:
        Scalar loss in [0, 1]; 0 when every pixel is void or (with ``"present"``) no class
        occurs.

    Raises:
        ValueError: for a bad ``classes`` choice, mismatched shapes, target values out of
            range or a bad ``weight`` length.
        TypeError: for non-tensor inputs or integer logits.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)`
        - output: scalar

    Example:
        >>> logits = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])  # (1, 2, 1, 2), confident
        >>> lovasz_softmax(logits, torch.tensor([[[0, 1]]])).item() < 1e-3
        True
    """
    check_choice("classes", classes, CLASS_CHOICES)
    valid = _check_index_target(logits, target, ignore_index)
    num_classes = logits.shape[1]
    class_weight = _per_class(weight, num_classes, "weight", logits)
    # (N, K, H, W) -> (P, K) pixel rows, void pixels dropped.
    probs = logits.softmax(dim=1).movedim(1, -1).reshape(-1, num_classes)
    labels = target.reshape(-1)
    if valid is not None:
        keep = valid.reshape(-1)
        probs, labels = probs[keep], labels[keep]
    if labels.numel() == 0:
        return logits.sum() * 0.0  # keeps the graph, so backward gives zero gradients
    losses, scored = [], []
    for index in range(num_classes):
        truth = (labels == index).to(probs.dtype)
        if classes == "present" and not bool(truth.any()):
            continue
        errors = (truth - probs[:, index]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, _lovasz_weights(truth[order])))
        scored.append(index)
    if not losses:
        return logits.sum() * 0.0
    stacked = torch.stack(losses)
    if class_weight is None:
        return stacked.mean()
    weights = class_weight[scored]
    return (stacked * weights).sum() / weights.sum().clamp_min(1e-12)


class LovaszSoftmaxLoss(LossModule):
    """Module form of :func:`lovasz_softmax`.

    Shape:
        - logits: :math:`(N, K, H, W)`
        - target: :math:`(N, H, W)`
        - output: scalar

    Example:
        >>> criterion = LovaszSoftmaxLoss(classes="all")
        >>> criterion(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)).shape
        torch.Size([])
    """

    function = staticmethod(lovasz_softmax)
    weight: torch.Tensor | None

    def __init__(
        self,
        *,
        ignore_index: int | None = IGNORE_INDEX,
        classes: str = "present",
        weight: torch.Tensor | Sequence[float] | None = None,
    ) -> None:
        check_choice("classes", classes, CLASS_CHOICES)
        super().__init__(ignore_index=ignore_index, classes=classes, weight=weight)
