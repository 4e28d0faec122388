"""Batch-level augmentation that mixes two training images: Copy-Paste.

Simple Copy-Paste (Ghiasi et al., CVPR 2021) pastes the labelled objects of one image onto
another. A small dataset then shows its objects against many more backgrounds than it has
photos, so the model must recognise an object by its own look rather than by the scene it was
photographed in. Here it runs on a batch, after the per-image transforms: image ``i`` takes
the foreground of image ``perm[i]`` of the same batch (a random derangement, so never its own),
optionally mirrored.

Foreground is every pixel whose label is neither ``background`` nor ``ignore_index`` (for
multi-label targets, every pixel with any label set). The pasted pixels replace the image
and the labels below them; what the paste hides is correctly labelled as the pasted object.
"""

from __future__ import annotations

import torch

from seglab._checks import IGNORE_INDEX

__all__ = ["copy_paste"]


def _derangement(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A random permutation with no fixed point: ``i + shift`` over a random cyclic order."""
    order = torch.randperm(n, generator=generator).to(device)
    shift = int(torch.randint(1, n, (1,), generator=generator)) if n > 1 else 0
    source = torch.empty_like(order)
    source[order] = order.roll(-shift)
    return source


@torch.no_grad()
def copy_paste(
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    p: float = 0.5,
    flip: bool = True,
    background: int = 0,
    ignore_index: int | None = IGNORE_INDEX,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste the foreground of another image of the batch onto each image with chance ``p``.

    Args:
        images: ``(N, C, H, W)`` float images (normalised or not: pixels are copied).
        targets: ``(N, H, W)`` class indices, or ``(N, K, H, W)`` multi-label {0, 1} masks.
        p: probability that an image receives a paste.
        flip: mirror each pasted foreground with probability 0.5.
        background: class index that is not pasted (index targets).
        ignore_index: label that is not pasted (index targets); None for none.
        generator: optional seeded generator; by default torch's global one, which the
            trainer reseeds every epoch so that a resumed run repeats the same pastes.

    Returns:
        New ``(images, targets)``; the inputs are not modified.

    Raises:
        ValueError: if ``p`` is outside [0, 1] or the shapes do not match.

    Example:
        >>> images = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> targets = torch.tensor([[[0, 0], [0, 0]], [[1, 0], [0, 0]]])
        >>> _, mixed = copy_paste(images, targets, p=1.0, flip=False)
        >>> mixed[0].tolist()  # image 0 received image 1's object
        [[1, 0], [0, 0]]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"copy-paste probability must be in [0, 1], got {p}")
    multilabel = targets.ndim == 4
    if images.ndim != 4 or targets.shape[0] != images.shape[0]:
        raise ValueError(
            f"copy_paste takes (N, C, H, W) images and (N, H, W) or (N, K, H, W) targets, "
            f"got {tuple(images.shape)} and {tuple(targets.shape)}"
        )
    if tuple(targets.shape[-2:]) != tuple(images.shape[-2:]):
        raise ValueError(
            f"targets {tuple(targets.shape)} and images {tuple(images.shape)} differ in size"
        )
    n = images.shape[0]
    if n < 2 or p == 0.0:
        return images, targets
    device = images.device
    source = _derangement(n, generator, device)
    chosen = (torch.rand(n, generator=generator) < p).to(device)
    mirrored = (torch.rand(n, generator=generator) < 0.5).to(device) & flip
    src_images, src_targets = images[source], targets[source]
    if flip:
        # Mirror the sources whose flag is set: pick from the mirrored copy there.
        src_images = torch.where(mirrored.view(n, 1, 1, 1), src_images.flip(-1), src_images)
        flag = mirrored.view(n, *([1] * (targets.ndim - 1)))
        src_targets = torch.where(flag, src_targets.flip(-1), src_targets)
    if multilabel:
        paste = src_targets.bool().any(dim=1)
    else:
        paste = src_targets != background
        if ignore_index is not None:
            paste &= src_targets != ignore_index
    paste &= chosen.view(n, 1, 1)
    mixed_images = torch.where(paste.unsqueeze(1), src_images, images)
    mask_view = paste.unsqueeze(1) if multilabel else paste
    mixed_targets = torch.where(mask_view, src_targets, targets)
    return mixed_images, mixed_targets
