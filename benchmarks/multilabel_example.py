"""The worked example of docs/multiclass_vs_multilabel.md, computed with seglab's functions.

Case 1, exclusive classes: softmax + categorical cross-entropy (``seglab.losses.cross_entropy``).
Case 2, related labels that can be true together: sigmoid + binary cross-entropy
(``seglab.losses.binary_cross_entropy``). Decoding uses ``seglab.labels.probabilities_to_labels``.
Re-run it after changing the losses; the page quotes its output.

Usage:
    .venv/bin/python benchmarks/multilabel_example.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seglab.labels import probabilities_to_labels
from seglab.losses import binary_cross_entropy, cross_entropy


def rounded(values: torch.Tensor, digits: int = 3) -> list:
    return [round(float(v), digits) for v in values]


def main() -> None:
    # A 1 x 2 image: pixel A (left) and pixel B (right). Shapes: logits (N, K, H, W) = (1, 3, 1, 2).
    print("## Case 1: exclusive classes [background, cat, dog] -> softmax + cross-entropy\n")
    logits = torch.tensor([[0.5, 1.5], [2.0, 0.2], [1.0, -0.3]]).view(1, 3, 1, 2)
    target = torch.tensor([[[1, 0]]])  # A is a cat, B is background
    probabilities = logits.softmax(dim=1)
    per_pixel = cross_entropy(logits, target, reduction="none")
    for name, column in (("A", 0), ("B", 1)):
        print(
            f"pixel {name}: logits {rounded(logits[0, :, 0, column], 2)} -> softmax "
            f"{rounded(probabilities[0, :, 0, column])} (sum 1), target class {int(target[0, 0, column])}, "
            f"CE = -log p[target] = {per_pixel[0, 0, column]:.4f}"
        )
    print(f"mean CE = {cross_entropy(logits, target):.4f}")
    print(f"decoded (argmax): {probabilities_to_labels(logits, 'softmax')[0, 0].tolist()}\n")

    print("## Case 2: related labels [human, asian, glasses] -> sigmoid + binary cross-entropy\n")
    logits = torch.tensor([[2.0, -2.0], [1.0, -1.5], [-1.0, -0.5]]).view(1, 3, 1, 2)
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]).view(1, 3, 1, 2)
    probabilities = logits.sigmoid()
    per_entry = binary_cross_entropy(logits, target, reduction="none")
    for name, column in (("A", 0), ("B", 1)):
        print(
            f"pixel {name}: logits {rounded(logits[0, :, 0, column], 2)} -> sigmoid "
            f"{rounded(probabilities[0, :, 0, column])} (independent), target "
            f"{target[0, :, 0, column].int().tolist()}, BCE per label "
            f"{rounded(per_entry[0, :, 0, column], 4)}"
        )
    print(
        f"mean BCE over the 6 (pixel, label) entries = {binary_cross_entropy(logits, target):.4f}"
    )
    decoded = probabilities_to_labels(logits, "sigmoid")[0, :, 0]
    print(
        f"decoded (sigmoid > 0.5), pixel A: {decoded[:, 0].tolist()}, pixel B: {decoded[:, 1].tolist()}\n"
    )

    print("## The wrong head for case 2\n")
    pixel_a = logits[:, :, :, :1]
    softmax_a = pixel_a.softmax(dim=1)
    print(
        f"softmax of pixel A's logits: {rounded(softmax_a[0, :, 0, 0])}; argmax keeps only class "
        f"{int(softmax_a.argmax(dim=1))} (human), 'asian' is lost"
    )
    # Even a perfect softmax can only split the mass between the two true labels: with the
    # soft target [0.5, 0.5, 0] (torch's probability targets) the loss cannot go below log 2.
    confident = torch.tensor([10.0, 10.0, -10.0]).view(1, 3, 1, 1)
    soft_target = torch.tensor([0.5, 0.5, 0.0]).view(1, 3, 1, 1)
    both_true = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1, 1)
    print(
        f"logits [10, 10, -10]: softmax CE against [0.5, 0.5, 0] = "
        f"{F.cross_entropy(confident, soft_target):.4f} (= log 2, its floor); "
        f"sigmoid BCE against [1, 1, 0] = {binary_cross_entropy(confident, both_true):.6f}"
    )


if __name__ == "__main__":
    main()
