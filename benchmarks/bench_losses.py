"""Loss and label-format speed: seglab against the torch built-ins and an smp-style Dice.

seglab's losses add input validation (one host sync to check target values), ``ignore_index``
for BCE and Dice, and the all-ignored = 0 rule on top of the torch kernels. This script measures
what that costs, forward + backward, at the Oxford-IIIT Pet practice size (batch 16, 128x128,
3 classes, 5 % void pixels). The Dice peer re-implements segmentation_models_pytorch's
multiclass ``DiceLoss`` (one-hot via ``F.one_hot``, masked sums) inline, because smp itself
pulls a CUDA torch; its values are checked against seglab's before timing.

Timings are the CPU time of the process (``time.process_time``) per call, one torch thread,
median over ``--repeats`` alternating runs after warm-up. CPU time rather than wall time because
the machine is shared: another process taking the core does not count against either side.
Still, compare ratios within one run rather than absolute times across runs.

Usage:
    nice .venv/bin/python benchmarks/bench_losses.py
    nice .venv/bin/python benchmarks/bench_losses.py --batch 8 --size 256 --classes 21

Needs no dataset (synthetic logits and targets).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from seglab.labels import one_hot
from seglab.losses import binary_cross_entropy, cross_entropy, dice_loss


def smp_style_dice(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """segmentation_models_pytorch ``DiceLoss("multiclass", ignore_index=...)``, smooth=1."""
    num_classes = logits.shape[1]
    probs = logits.softmax(dim=1)
    n = target.shape[0]
    y_true = target.view(n, -1)
    y_pred = probs.view(n, num_classes, -1)
    mask = y_true != ignore_index
    y_pred = y_pred * mask.unsqueeze(1)
    y_true = F.one_hot((y_true * mask).long(), num_classes).permute(0, 2, 1) * mask.unsqueeze(1)
    dims = (0, 2)
    intersection = (y_pred * y_true).sum(dims)
    cardinality = (y_pred + y_true).sum(dims)
    score = (2.0 * intersection + 1.0) / (cardinality + 1.0).clamp_min(1e-7)
    loss = (1.0 - score) * (y_true.sum(dims) > 0).to(score.dtype)
    return loss.mean()


def time_call(function: Callable[[], object]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def forward_backward(loss_fn, logits: torch.Tensor, target: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        leaf = logits.detach().requires_grad_()
        loss_fn(leaf, target).backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.classes, args.size, args.size)
    logits = torch.randn(shape, generator=generator)
    target = torch.randint(0, args.classes, (args.batch, args.size, args.size), generator=generator)
    target[torch.rand(target.shape, generator=generator) < 0.05] = 255
    labels = (torch.rand(shape, generator=generator) < 0.3).float()
    labels_void = labels.clone()
    labels_void[torch.rand(shape, generator=generator) < 0.05] = 255
    mask_np = target.numpy()

    # Same numbers before timing: otherwise a speed comparison means nothing.
    checks = {
        "CE": (cross_entropy(logits, target), F.cross_entropy(logits, target, ignore_index=255)),
        "Dice": (dice_loss(logits, target), smp_style_dice(logits, target)),
        "BCE": (
            binary_cross_entropy(logits, labels),
            F.binary_cross_entropy_with_logits(logits, labels),
        ),
    }
    for name, (ours, peer) in checks.items():
        torch.testing.assert_close(ours, peer, rtol=1e-5, atol=1e-6, msg=f"{name} values differ")

    cases: list[tuple[str, str, Callable[[], object], str, Callable[[], object]]] = [
        (
            "cross-entropy, ignore_index=255",
            "seglab.cross_entropy",
            forward_backward(cross_entropy, logits, target),
            "F.cross_entropy",
            forward_backward(lambda x, t: F.cross_entropy(x, t, ignore_index=255), logits, target),
        ),
        (
            "BCE, no void",
            "seglab.binary_cross_entropy",
            forward_backward(binary_cross_entropy, logits, labels),
            "F.binary_cross_entropy_with_logits",
            forward_backward(F.binary_cross_entropy_with_logits, logits, labels),
        ),
        (
            "BCE, 5 % void entries",
            "seglab.binary_cross_entropy",
            forward_backward(binary_cross_entropy, logits, labels_void),
            "masked F.bce_with_logits (reduction='none')",
            forward_backward(
                lambda x, t: (
                    (
                        F.binary_cross_entropy_with_logits(
                            x, torch.where(t == 255, 0.0, t), reduction="none"
                        )
                        * (t != 255)
                    ).sum()
                    / (t != 255).sum()
                ),
                logits,
                labels_void,
            ),
        ),
        (
            "soft Dice (softmax), ignore_index=255",
            "seglab.dice_loss",
            forward_backward(dice_loss, logits, target),
            "smp-style DiceLoss",
            forward_backward(smp_style_dice, logits, target),
        ),
        (
            "one-hot (torch)",
            "seglab.one_hot",
            lambda: one_hot(target, args.classes),
            "F.one_hot + permute + void mask",
            lambda: (
                F.one_hot(torch.where(target == 255, 0, target), args.classes).permute(0, 3, 1, 2)
                * (target != 255).unsqueeze(1)
            ).float(),
        ),
        (
            "one-hot (NumPy)",
            "seglab.one_hot",
            lambda: one_hot(mask_np, args.classes),
            "np.eye indexing + void mask",
            lambda: (
                np.eye(args.classes, dtype=np.float32)[np.where(mask_np == 255, 0, mask_np)]
                * (mask_np != 255)[..., None]
            ).transpose(0, 3, 1, 2),
        ),
    ]

    rows = []
    for title, ours_name, ours, peer_name, peer in tqdm(cases, desc="cases"):
        for _ in range(3):  # warm-up
            ours()
            peer()
        ours_times, peer_times = [], []
        for _ in range(args.repeats):  # alternate, so load changes hit both alike
            ours_times.append(time_call(ours))
            peer_times.append(time_call(peer))
        ours_ms = 1000 * statistics.median(ours_times)
        peer_ms = 1000 * statistics.median(peer_times)
        rows.append((title, ours_name, ours_ms, peer_name, peer_ms, ours_ms / peer_ms))

    print(
        f"\nbatch {args.batch}, {args.classes} classes, {args.size}x{args.size}, CPU, "
        f"{args.threads} thread(s), torch {torch.__version__}; median CPU time of {args.repeats}; "
        "forward + backward for losses\n"
    )
    print("| case | seglab | ms | peer | ms | seglab / peer |")
    print("|---|---|---:|---|---:|---:|")
    for title, ours_name, ours_ms, peer_name, peer_ms, ratio in rows:
        print(
            f"| {title} | `{ours_name}` | {ours_ms:.2f} | {peer_name} | {peer_ms:.2f} | {ratio:.2f} |"
        )
    print("\nValues checked equal (rtol 1e-5) for CE, BCE and Dice before timing.")


if __name__ == "__main__":
    main()
