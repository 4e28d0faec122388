"""Paired transforms: the same geometry for the image and its mask.

Each transform is a callable ``(image, mask) -> (image, mask)`` on torch tensors: the image is
``(C, H, W)`` float, the mask ``(H, W)`` int64 (index mask) or ``(K, H, W)`` (multi-label).
Masks are always resampled with **nearest** neighbour so that labels are never blended, and
pixels that a rotation or crop brings in from outside are ``ignore_index``. Randomness comes
from torch's global generator, which the training loop reseeds every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "Compose",
    "Resize",
    "RandomScaleCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "ColorJitter",
    "Normalize",
    "resize_pair",
]


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # Nearest interpolation so that labels are not blended.
    batch = mask[None, None] if mask.ndim == 2 else mask[None]
    out = F.interpolate(batch.float(), size=size, mode="nearest-exact")
    out = out[0, 0] if mask.ndim == 2 else out[0]
    return out.to(mask.dtype)


def resize_pair(
    image: torch.Tensor, mask: torch.Tensor | None, size: int | Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resize the image bilinearly (antialiased) and the mask with nearest neighbour.

    Shape:
        - image: ``(C, H, W)`` float; mask: ``(H, W)`` or ``(K, H, W)``.
        - output: the same, at ``size``.
    """
    size = _size_pair(size)
    if tuple(image.shape[-2:]) != size:
        image = F.interpolate(
            image[None], size=size, mode="bilinear", align_corners=False, antialias=True
        )[0]
    if mask is not None and tuple(mask.shape[-2:]) != size:
        mask = _resize_mask(mask, size)
    return image, mask


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, image, mask):
        for transform in self.transforms:
            image, mask = transform(image, mask)
        return image, mask


class Resize:
    """Resize to a fixed ``size`` (int or (H, W)); mask by nearest neighbour."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size_pair(size)

    def __call__(self, image, mask):
        return resize_pair(image, mask, self.size)


class RandomScaleCrop:
    """Scale by a random factor, then take a random crop of ``size`` (padding if needed).

    Args:
        scale: range of the scale factor.
        size: output size, int or (H, W).
        ignore_index: mask value of padded pixels (for multi-label masks: 0 is used).
    """

    def __init__(
        self,
        scale: tuple[float, float] = (0.5, 2.0),
        size: int | Sequence[int] = 128,
        *,
        ignore_index: int = 255,
    ) -> None:
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got {scale}")
        self.scale = scale
        self.size = _size_pair(size)
        self.ignore_index = ignore_index

    def __call__(self, image, mask):
        factor = float(torch.empty(1).uniform_(*self.scale))
        height, width = image.shape[-2:]
        scaled = (max(1, round(height * factor)), max(1, round(width * factor)))
        image, mask = resize_pair(image, mask, scaled)
        out_h, out_w = self.size
        pad_h, pad_w = max(out_h - scaled[0], 0), max(out_w - scaled[1], 0)
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
            fill = self.ignore_index if mask.ndim == 2 else 0
            mask = F.pad(mask, (0, pad_w, 0, pad_h), value=fill)
        top = int(torch.randint(0, image.shape[-2] - out_h + 1, (1,)))
        left = int(torch.randint(0, image.shape[-1] - out_w + 1, (1,)))
        return (
            image[..., top : top + out_h, left : left + out_w],
            mask[..., top : top + out_h, left : left + out_w],
        )


class RandomHorizontalFlip:
    """Flip left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image, mask):
        if float(torch.rand(1)) < self.p:
            return image.flip(-1), mask.flip(-1)
        return image, mask


class RandomRotation:
    """Rotate by a random angle in ``[-degrees, degrees]`` about the centre.

    The image is sampled bilinearly with zero fill, the mask with nearest neighbour and
    ``ignore_index`` fill (0 for multi-label masks).
    """

    def __init__(self, degrees: float = 10.0, *, ignore_index: int = 255) -> None:
        self.degrees = degrees
        self.ignore_index = ignore_index

    def __call__(self, image, mask):
        angle = math.radians(float(torch.empty(1).uniform_(-self.degrees, self.degrees)))
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=torch.float32)[None]
        grid = F.affine_grid(theta, [1, 1, *image.shape[-2:]], align_corners=False)
        image = F.grid_sample(image[None], grid, mode="bilinear", align_corners=False)[0]
        # Shift labels by one so that zero padding marks "outside", then map it to the fill.
        batch = (mask[None, None] if mask.ndim == 2 else mask[None]).float() + 1.0
        rotated = F.grid_sample(batch, grid, mode="nearest", align_corners=False)
        rotated = rotated[0, 0] if mask.ndim == 2 else rotated[0]
        fill = self.ignore_index if mask.ndim == 2 else 0
        rotated = torch.where(rotated == 0, torch.tensor(float(fill) + 1.0), rotated) - 1.0
        return image, rotated.to(mask.dtype)


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes of the image only."""

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        hue: float = 0.0,
    ) -> None:
        self.brightness, self.contrast, self.saturation, self.hue = (
            brightness,
            contrast,
            saturation,
            hue,
        )

    @staticmethod
    def _factor(amount: float) -> float:
        return float(torch.empty(1).uniform_(1 - amount, 1 + amount)) if amount else 1.0

    def __call__(self, image, mask):
        image = image * self._factor(self.brightness)
        mean = image.mean()
        image = (image - mean) * self._factor(self.contrast) + mean
        if image.shape[0] == 3:
            gray = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
            image = (image - gray) * self._factor(self.saturation) + gray
            if self.hue:
                # A hue shift is a rotation of the chroma plane about the gray axis.
                angle = float(torch.empty(1).uniform_(-self.hue, self.hue)) * 2 * math.pi
                image = _rotate_hue(image, angle)
        return image.clamp(0.0, 1.0), mask


def _rotate_hue(image: torch.Tensor, angle: float) -> torch.Tensor:
    cos, sin = math.cos(angle), math.sin(angle)
    third, root = 1.0 / 3.0, math.sqrt(1.0 / 3.0)
    # Rodrigues rotation about the (1, 1, 1) axis.
    matrix = torch.tensor(
        [
            [
                cos + (1 - cos) * third,
                third * (1 - cos) - root * sin,
                third * (1 - cos) + root * sin,
            ],
            [
                third * (1 - cos) + root * sin,
                cos + third * (1 - cos),
                third * (1 - cos) - root * sin,
            ],
            [
                third * (1 - cos) - root * sin,
                third * (1 - cos) + root * sin,
                cos + third * (1 - cos),
            ],
        ],
        dtype=image.dtype,
    )
    return torch.einsum("ij,jhw->ihw", matrix, image)


class Normalize:
    """Subtract ``mean`` and divide by ``std`` per channel (after all other transforms)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        if (self.std <= 0).any():
            raise ValueError(f"std must be positive, got {list(std)}")

    def __call__(self, image, mask):
        return (image - self.mean) / self.std, mask
