"""Paired transforms: the same geometry for the image and its mask.

Each transform is a callable ``(image, mask) -> (image, mask)`` on torch tensors:

- image: ``(C, H, W)`` float (in [0, 1] before :class:`Normalize`);
- mask: ``(H, W)`` integer index mask, ``(K, H, W)`` multi-label mask (float or bool), or
  ``None`` when only the image is transformed.

Masks are always resampled with **nearest** neighbour so that labels are never blended. Pixels
that a rotation or a crop brings in from outside the image are ``ignore_index`` in index masks
and 0 ("absent") in multi-label masks; the image gets 0 there.

Randomness: each random transform takes an optional ``generator`` (a seeded
:class:`torch.Generator` makes a sequence of calls reproducible). Without one it draws from
torch's global generator, which is what you want inside :class:`~torch.utils.data.DataLoader`
workers: PyTorch seeds each worker differently, whereas a generator object would be copied
into every worker with the same state and all workers would draw the same "random" numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seglab._checks import IGNORE_INDEX
from seglab.convert import image_to_tensor
from seglab.limits import DEFAULT_IMG_SIZE

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Compose",
    "Resize",
    "RandomScaleCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "RandomGrayscale",
    "luma",
    "rotate_hue",
    "ColorJitter",
    "Normalize",
    "make_normalize",
    "resize_pair",
    "to_tensor_pair",
    "nearest_indices",
    "hflip_pair",
    "rotate_pair",
    "crop_pair",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Pair = tuple[torch.Tensor, "torch.Tensor | None"]


def size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as ``(H, W)``; a single int means a square."""

    def is_int(value) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if is_int(size):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and len(size) == 2 and all(map(is_int, size)):
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"size must be an int or a pair of ints (H, W), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return pair


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=generator))


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """A random int in ``[low, high]`` (both included)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _check_probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return p


def _mask_fill(mask: torch.Tensor, ignore_index: int) -> float:
    # Index masks mark unknown pixels as void; multi-label masks have no void, so "absent".
    return float(ignore_index) if mask.ndim == 2 else 0.0


def nearest_indices(size_in: int, size_out: int) -> torch.Tensor:
    """Source index of each output pixel when resampling ``size_in`` pixels to ``size_out``.

    Each output pixel takes the input pixel under its centre: ``floor((i + 0.5) * in / out)``,
    computed in exact integer arithmetic, so there is no float rounding at ties (PIL and
    torch's ``nearest-exact`` use the same rule in floating point).

    Example:
        >>> nearest_indices(4, 2).tolist(), nearest_indices(2, 5).tolist()
        ([1, 3], [0, 0, 1, 1, 1])
    """
    return (torch.arange(size_out) * 2 + 1) * size_in // (2 * size_out)


def resize_pair(image: torch.Tensor, mask: torch.Tensor | None, size: int | Sequence[int]) -> Pair:
    """Resize the image bilinearly (antialiased) and the mask with nearest neighbour.

    Args:
        image: the image.
        mask: index or multi-label mask, or None.
        size: output size, int (square) or ``(H, W)``.

    Shape:
        - image: ``(C, H, W)`` float; mask: ``(H, W)`` or ``(K, H, W)``.
        - output: the same, at ``size``.

    Example:
        >>> image, mask = resize_pair(torch.rand(3, 8, 6), torch.zeros(8, 6, dtype=torch.long), 4)
        >>> tuple(image.shape), tuple(mask.shape)
        ((3, 4, 4), (4, 4))
    """
    size = size_pair(size)
    if tuple(image.shape[-2:]) != size:
        # Antialiasing averages over the footprint when shrinking, like PIL, instead of
        # sampling four pixels and aliasing fine fur texture.
        image = F.interpolate(
            image[None], size=size, mode="bilinear", align_corners=False, antialias=True
        )[0]
    if mask is not None and tuple(mask.shape[-2:]) != size:
        # Nearest neighbour so that labels are not blended; index_select keeps the dtype.
        rows = nearest_indices(mask.shape[-2], size[0]).to(mask.device)
        cols = nearest_indices(mask.shape[-1], size[1]).to(mask.device)
        mask = mask.index_select(-2, rows).index_select(-1, cols)
    return image, mask


def to_tensor_pair(
    image: np.ndarray, mask: np.ndarray | None, size: int | Sequence[int] | None = None
) -> Pair:
    """Turn a freshly decoded image and mask into tensors, resizing them on the way.

    The same result as :func:`seglab.convert.image_to_tensor` followed by
    :func:`resize_pair` (images within 1/255), but several times faster for 8-bit images: they
    are resized as uint8 in channels-last layout (torch's vectorised path) and only the small
    result is converted to float.

    Args:
        image: ``(H, W, C)`` or ``(H, W)`` array, uint8 (scaled by 1/255) or float in [0, 1].
        mask: ``(H, W)`` or ``(K, H, W)`` array, or None.
        size: output size, or None to keep the input size.

    Shape:
        - output: ``(C, H, W)`` float32 image and ``(H, W)`` / ``(K, H, W)`` mask.

    Example:
        >>> image, mask = to_tensor_pair(np.zeros((6, 8, 3), np.uint8), np.ones((6, 8), int), 4)
        >>> tuple(image.shape), tuple(mask.shape), image.dtype
        ((3, 4, 4), (4, 4), torch.float32)
    """
    if size is not None:
        size = size_pair(size)
    if mask is not None:
        if size is not None and mask.shape[-2:] != size:
            rows = nearest_indices(mask.shape[-2], size[0]).numpy()
            cols = nearest_indices(mask.shape[-1], size[1]).numpy()
            mask = mask[..., rows, :][..., cols]
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype != np.uint8 or size is None or image.shape[:2] == size:
        tensor = image_to_tensor(image)
        return (tensor if size is None else resize_pair(tensor, None, size)[0]), mask
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    batch = batch.contiguous(memory_format=torch.channels_last)
    resized = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized[0].float().div_(255.0).contiguous(), mask


def hflip_pair(image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
    """Mirror image and mask left-right.

    Shape:
        - image: ``(C, H, W)``; mask: ``(H, W)``, ``(K, H, W)`` or None; output: the same.

    Example:
        >>> hflip_pair(torch.tensor([[[1.0, 2.0]]]), torch.tensor([[0, 1]]))[1].tolist()
        [[1, 0]]
    """
    return image.flip(-1), None if mask is None else mask.flip(-1)


def crop_pair(
    image: torch.Tensor,
    mask: torch.Tensor | None,
    top: int,
    left: int,
    size: int | Sequence[int],
    *,
    ignore_index: int = IGNORE_INDEX,
) -> Pair:
    """Cut the window ``[top, top + H) x [left, left + W)``; parts outside the image are filled.

    ``top`` and ``left`` may be negative or the window may extend past the image: the missing
    pixels are 0 in the image and ``ignore_index`` in an index mask (0 in a multi-label mask).

    Shape:
        - image: ``(C, H_in, W_in)``; mask: ``(H_in, W_in)``, ``(K, H_in, W_in)`` or None.
        - output: ``(C, H, W)`` and ``(H, W)`` / ``(K, H, W)``.

    Example:
        >>> crop_pair(torch.ones(1, 2, 2), torch.zeros(2, 2, dtype=torch.long), -1, 0, 3)[1]
        tensor([[255, 255, 255],
                [  0,   0, 255],
                [  0,   0, 255]])
    """
    out_h, out_w = size_pair(size)
    height, width = image.shape[-2:]
    # Pad only as much as the window sticks out, then slice: no copy when it fits.
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom, pad_right = max(0, top + out_h - height), max(0, left + out_w - width)
    padding = (pad_left, pad_right, pad_top, pad_bottom)
    top, left = top + pad_top, left + pad_left
    if any(padding):
        image = F.pad(image, padding, value=0.0)
    image = image[..., top : top + out_h, left : left + out_w]
    if mask is not None:
        if any(padding):
            mask = F.pad(mask, padding, value=_mask_fill(mask, ignore_index))
        mask = mask[..., top : top + out_h, left : left + out_w]
    return image, mask


def rotate_pair(
    image: torch.Tensor,
    mask: torch.Tensor | None,
    angle: float,
    *,
    ignore_index: int = IGNORE_INDEX,
) -> Pair:
    """Rotate about the image centre by ``angle`` degrees, counter-clockwise as displayed.

    The canvas keeps its size. The image is sampled bilinearly (0 outside), the mask with
    nearest neighbour (``ignore_index`` outside; 0 for multi-label masks). Rectangular images
    rotate without shear: the rotation is done in pixel units, not in the normalised
    ``[-1, 1]`` coordinates of :func:`torch.nn.functional.affine_grid`.

    Shape:
        - image: ``(C, H, W)`` float; mask: ``(H, W)``, ``(K, H, W)`` or None; output: the same.

    Example:
        >>> mask = torch.tensor([[1, 0], [0, 0]])
        >>> rotate_pair(torch.zeros(1, 2, 2), mask, 90.0)[1].tolist()
        [[0, 0], [1, 0]]
    """
    height, width = image.shape[-2:]
    radians = math.radians(angle)
    cos, sin = math.cos(radians), math.sin(radians)
    # affine_grid maps output to input positions in normalised units, x scaled by W/2 and y by
    # H/2. The pixel-space rotation R becomes S^-1 R S with S = diag(W/2, H/2). Sampling the
    # input at R(-angle) of each output pixel turns the picture by +angle; with y pointing down
    # that is a counter-clockwise turn on screen.
    theta = torch.tensor(
        [[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0]],
        dtype=torch.float32,
    )[None]
    grid = F.affine_grid(theta, [1, 1, height, width], align_corners=False)
    image = F.grid_sample(
        image[None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0]
    if mask is None:
        return image, None
    # Shift labels up by one so that the zero padding of grid_sample marks "outside".
    batch = (mask[None, None] if mask.ndim == 2 else mask[None]).float() + 1.0
    rotated = F.grid_sample(batch, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    rotated = rotated[0, 0] if mask.ndim == 2 else rotated[0]
    fill = _mask_fill(mask, ignore_index)
    rotated = torch.where(rotated == 0, fill, rotated - 1.0)
    return image, rotated.to(mask.dtype)


class Compose:
    """Apply paired transforms in order.

    Example:
        >>> pipeline = Compose([RandomHorizontalFlip(p=1.0), Resize(2)])
        >>> pipeline(torch.rand(3, 4, 4), torch.zeros(4, 4, dtype=torch.long))[1].shape
        torch.Size([2, 2])
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        for transform in self.transforms:
            image, mask = transform(image, mask)
        return image, mask

    def __repr__(self) -> str:
        inner = ", ".join(repr(transform) for transform in self.transforms)
        return f"Compose([{inner}])"


class Resize:
    """Resize to a fixed ``size`` (int or (H, W)): image bilinear, mask nearest.

    Example:
        >>> Resize((2, 3))(torch.rand(3, 4, 6), None)[0].shape
        torch.Size([3, 2, 3])
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size_pair(size)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        return resize_pair(image, mask, self.size)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class RandomScaleCrop:
    """Scale by a random factor, then cut a random window of ``size``.

    When the scaled image is smaller than ``size`` it lands at a random place in the window
    and the rest is padding (image 0, index mask ``ignore_index``, multi-label mask 0).

    Args:
        scale: range ``(low, high)`` of the scale factor, drawn uniformly.
        size: output size, int or (H, W).
        ignore_index: mask value of padded pixels.
        generator: optional seeded generator (see the module notes on workers).

    Raises:
        ValueError: if the scale range is not ``0 < low <= high``.

    Example:
        >>> crop = RandomScaleCrop((0.5, 2.0), 16, generator=torch.Generator().manual_seed(0))
        >>> crop(torch.rand(3, 20, 30), torch.zeros(20, 30, dtype=torch.long))[1].shape
        torch.Size([16, 16])
    """

    def __init__(
        self,
        scale: tuple[float, float] = (0.5, 2.0),
        size: int | Sequence[int] = DEFAULT_IMG_SIZE,
        *,
        ignore_index: int = IGNORE_INDEX,
        generator: torch.Generator | None = None,
    ) -> None:
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got {scale}")
        self.scale = (float(scale[0]), float(scale[1]))
        self.size = size_pair(size)
        self.ignore_index = ignore_index
        self.generator = generator

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        factor = _uniform(*self.scale, self.generator)
        height, width = image.shape[-2:]
        scaled = (max(1, round(height * factor)), max(1, round(width * factor)))
        image, mask = resize_pair(image, mask, scaled)
        out_h, out_w = self.size
        # Offsets range over every window that overlaps the image as much as possible: inside
        # the image when it is larger, around it (negative offsets) when it is smaller.
        top = _randint(min(0, scaled[0] - out_h), max(0, scaled[0] - out_h), self.generator)
        left = _randint(min(0, scaled[1] - out_w), max(0, scaled[1] - out_w), self.generator)
        return crop_pair(image, mask, top, left, self.size, ignore_index=self.ignore_index)

    def __repr__(self) -> str:
        return f"RandomScaleCrop(scale={self.scale}, size={self.size})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``.

    Raises:
        ValueError: if ``p`` is not in [0, 1].

    Example:
        >>> RandomHorizontalFlip(p=1.0)(torch.zeros(1, 1, 2), torch.tensor([[0, 1]]))[1].tolist()
        [[1, 0]]
    """

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        self.p = _check_probability(p)
        self.generator = generator

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        if float(torch.rand(1, generator=self.generator)) < self.p:
            return hflip_pair(image, mask)
        return image, mask

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """Rotate by a random angle drawn uniformly from ``[-degrees, degrees]`` (or a range).

    See :func:`rotate_pair`: image bilinear with 0 outside, mask nearest with
    ``ignore_index`` outside (0 for multi-label masks).

    Args:
        degrees: largest absolute angle, or a range ``(low, high)`` in degrees.
        ignore_index: mask value of pixels rotated in from outside.
        generator: optional seeded generator.

    Raises:
        ValueError: for a negative ``degrees`` or a range with ``low > high``.

    Example:
        >>> rotate = RandomRotation(15, generator=torch.Generator().manual_seed(0))
        >>> rotate(torch.rand(3, 8, 8), torch.zeros(8, 8, dtype=torch.long))[1].shape
        torch.Size([8, 8])
    """

    def __init__(
        self,
        degrees: float | tuple[float, float] = 10.0,
        *,
        ignore_index: int = IGNORE_INDEX,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(degrees, int | float):
            if degrees < 0:
                raise ValueError(f"degrees must be non-negative, got {degrees}")
            degrees = (-float(degrees), float(degrees))
        if len(degrees) != 2 or degrees[0] > degrees[1]:
            raise ValueError(f"degrees must be a number or a range (low, high), got {degrees}")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.ignore_index = ignore_index
        self.generator = generator

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        angle = _uniform(*self.degrees, self.generator)
        return rotate_pair(image, mask, angle, ignore_index=self.ignore_index)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes of the image; the mask is kept.

    Each factor is drawn uniformly from ``[1 - amount, 1 + amount]``; the hue shift from
    ``[-hue, hue]`` turns of the colour wheel. The hue shift is a rotation of the RGB cube about
    its grey axis, a close and much cheaper stand-in for an HSV round trip. Results are
    clipped to [0, 1], so apply :class:`Normalize` after this.

    Raises:
        ValueError: for negative amounts, or ``hue`` above 0.5.

    Example:
        >>> jitter = ColorJitter(hue=0.1, generator=torch.Generator().manual_seed(0))
        >>> mask = torch.zeros(2, 2, dtype=torch.long)
        >>> jitter(torch.rand(3, 2, 2), mask)[1] is mask
        True
    """

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        hue: float = 0.0,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        amounts = {
            "brightness": brightness,
            "contrast": contrast,
            "saturation": saturation,
            "hue": hue,
        }
        for name, amount in amounts.items():
            if amount < 0:
                raise ValueError(f"{name} must be non-negative, got {amount}")
        if hue > 0.5:
            raise ValueError(f"hue must be at most 0.5 (half a turn), got {hue}")
        self.brightness, self.contrast, self.saturation, self.hue = (
            brightness,
            contrast,
            saturation,
            hue,
        )
        self.generator = generator

    def _factor(self, amount: float) -> float:
        return _uniform(max(0.0, 1.0 - amount), 1.0 + amount, self.generator)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        # Steps with amount 0 are skipped, so they draw no random numbers and cost nothing.
        is_rgb = image.shape[0] == 3
        if self.brightness:
            image = image * self._factor(self.brightness)
        if self.contrast:
            mean = (luma(image) if is_rgb else image).mean()
            image = (image - mean) * self._factor(self.contrast) + mean
        if is_rgb and self.saturation:
            gray = luma(image)
            image = (image - gray) * self._factor(self.saturation) + gray
        if is_rgb and self.hue:
            image = rotate_hue(image, _uniform(-self.hue, self.hue, self.generator))
        return image.clamp(0.0, 1.0), mask

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


class RandomGrayscale:
    """Replace the image by its grey version (in all three channels) with probability ``p``.

    Takes the colour evidence away from some training images, so that a model must also use
    shapes: a pet model trained on three breeds leans on their coat colours (its IoU drops by
    0.10 on grey images; docs/benchmarks.md, "Colour robustness").

    Raises:
        ValueError: if ``p`` is not in [0, 1].

    Example:
        >>> image = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1)
        >>> [round(v, 3) for v in RandomGrayscale(p=1.0)(image, None)[0].flatten().tolist()]
        [0.299, 0.299, 0.299]
    """

    def __init__(self, p: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        self.p = _check_probability(p)
        self.generator = generator

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        if image.shape[0] == 3 and float(torch.rand(1, generator=self.generator)) < self.p:
            return luma(image).expand(3, -1, -1).clone(), mask
        return image, mask

    def __repr__(self) -> str:
        return f"RandomGrayscale(p={self.p})"


def luma(image: torch.Tensor) -> torch.Tensor:
    """Grey level of an RGB image, with the ITU-R 601 weights that PIL and torchvision use.

    Args:
        image: ``(3, H, W)`` float RGB.

    Returns:
        ``(1, H, W)``: ``0.299 R + 0.587 G + 0.114 B``.
    """
    return (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]


def rotate_hue(image: torch.Tensor, turns: float) -> torch.Tensor:
    """Turn the hue of an RGB image by ``turns`` of the colour wheel (greys stay grey).

    Args:
        image: ``(3, H, W)`` float RGB in [0, 1].
        turns: the hue turn; 0.5 is half a turn (red becomes cyan).

    Returns:
        ``(3, H, W)``, not clipped: a turned colour can leave [0, 1] slightly.
    """
    angle = turns * 2.0 * math.pi
    cos, sin = math.cos(angle), math.sin(angle)
    third, root = 1.0 / 3.0, math.sqrt(1.0 / 3.0)
    diagonal, minus, plus = (
        cos + (1 - cos) * third,
        third * (1 - cos) - root * sin,
        third * (1 - cos) + root * sin,
    )
    # Rodrigues' rotation about the (1, 1, 1) axis: greys stay grey, colours turn around it.
    matrix = torch.tensor(
        [[diagonal, minus, plus], [plus, diagonal, minus], [minus, plus, diagonal]],
        dtype=image.dtype,
    )
    return torch.einsum("ij,jhw->ihw", matrix, image)


class Normalize:
    """Subtract ``mean`` and divide by ``std`` per channel; the mask is kept.

    Use it last, after the transforms that expect images in [0, 1].

    Raises:
        ValueError: if mean and std differ in length or a std is not positive, and (when
            called) if the image's channel count does not match.

    Example:
        >>> Normalize([0.5], [0.25])(torch.ones(1, 1, 1), None)[0].item()
        2.0
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(
                f"mean and std need one value per channel, got {len(mean)} and {len(std)}"
            )
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        if (self.std <= 0).any():
            raise ValueError(f"std must be positive, got {list(std)}")

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None) -> Pair:
        if image.shape[0] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channels but the image has {image.shape[0]}"
            )
        return (image - self.mean) / self.std, mask

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


def make_normalize(
    normalize: str | tuple[Sequence[float], Sequence[float]] | None,
) -> Normalize | None:
    """The :class:`Normalize` a dataset's ``normalize`` argument asks for.

    Args:
        normalize: ``None`` (keep [0, 1]), ``"imagenet"`` (the ImageNet mean and std that
            torchvision backbones expect), or a ``(mean, std)`` pair.

    Raises:
        ValueError: for any other value (the valid ones are listed).

    Example:
        >>> make_normalize(None) is None
        True
        >>> make_normalize(([0.5], [0.25]))(torch.ones(1, 1, 1), None)[0].item()
        2.0
    """
    if normalize is None:
        return None
    if isinstance(normalize, str):
        if normalize == "imagenet":
            return Normalize(IMAGENET_MEAN, IMAGENET_STD)
        raise ValueError(
            f"unknown normalize {normalize!r}; choose one of None, 'imagenet', or (mean, std)"
        )
    if isinstance(normalize, Sequence) and len(normalize) == 2:
        return Normalize(*normalize)
    raise ValueError(
        f"unknown normalize {normalize!r}; choose one of None, 'imagenet', or (mean, std)"
    )
