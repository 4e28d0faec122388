"""Sliding-window (tiled) inference: a network run on overlapping tiles of a large image.

A fully convolutional network can take a whole image, but its activations grow with the image:
a 4096 x 4096 image through a U-Net needs gigabytes. :func:`tiled_forward` runs the network on
``tile x tile`` windows instead, with neighbouring windows overlapping by ``overlap`` pixels,
and blends the outputs (logits, heatmaps, offsets: anything per pixel) into full-size maps.
In the overlap each output is weighted by a ramp that falls towards its window's edge, where a
network sees the least context, so seams do not show. The network's memory is bounded by the
tile; the blended maps cost ``channels x H x W`` floats, like the output itself.

Windows are laid out by :func:`tile_starts`: a step of ``tile - overlap`` and a last window
flush with the image's end, so every window is a full tile (an image side shorter than the
tile is one window of that side).

Example:
    >>> import torch
    >>> net = torch.nn.Conv2d(3, 2, kernel_size=3, padding=1)
    >>> image = torch.randn(1, 3, 100, 80)
    >>> out = tiled_forward(net, image, tile=64, overlap=16)
    >>> out.shape
    torch.Size([1, 2, 100, 80])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["blend_weights", "check_tiling", "tile_starts", "tiled_forward"]

_MIN_TILE = 16


def check_tiling(tile: Any, overlap: Any = None) -> tuple[int, int]:
    """Validate a tile side and an overlap (None: a quarter of the tile).

    Raises:
        ValueError: unless ``tile`` is an int >= 16 and ``overlap`` an int with
            ``0 <= overlap <= tile // 2``.

    Example:
        >>> check_tiling(256)
        (256, 64)
    """
    if overlap is None and isinstance(tile, int):
        overlap = tile // 4
    for name, value in (("tile", tile), ("overlap", overlap)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if tile < _MIN_TILE:
        raise ValueError(f"tile must be >= {_MIN_TILE} pixels, got {tile}")
    if not 0 <= overlap <= tile // 2:
        raise ValueError(f"overlap must be in 0..tile/2 = 0..{tile // 2}, got {overlap}")
    return tile, overlap


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of windows of side ``tile`` covering ``[0, length)``.

    Example:
        >>> tile_starts(100, 64, 16)
        [0, 36]
        >>> tile_starts(200, 64, 16)
        [0, 48, 96, 136]
        >>> tile_starts(50, 64, 16)
        [0]
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def blend_weights(height: int, width: int, overlap: int) -> torch.Tensor:
    """``(height, width)`` weights of one window: 1 inside, a linear ramp over the ``overlap``
    pixels next to each edge (never 0, so that an image border covered by one window keeps
    its value).

    Example:
        >>> [round(value, 3) for value in blend_weights(6, 6, 2)[3].tolist()]  # a middle row
        [0.333, 0.667, 1.0, 1.0, 0.667, 0.333]
    """

    def ramp(length: int) -> torch.Tensor:
        index = torch.arange(length, dtype=torch.float32)
        distance = torch.minimum(index, length - 1 - index)  # to the nearer edge
        return torch.clamp((distance + 1) / (overlap + 1), max=1.0)

    return ramp(height)[:, None] * ramp(width)[None, :]


def _as_dict(output: Any) -> tuple[dict[str, torch.Tensor], bool]:
    if isinstance(output, torch.Tensor):
        return {"": output}, True
    if isinstance(output, dict) and all(isinstance(v, torch.Tensor) for v in output.values()):
        return output, False
    raise TypeError(f"the network must return a tensor or a dict of tensors, got {type(output)}")


@torch.no_grad()
def tiled_forward(
    forward: Callable[[torch.Tensor], Any],
    image: torch.Tensor,
    *,
    tile: int,
    overlap: int | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Run ``forward`` on overlapping tiles of ``image`` and blend the outputs.

    Args:
        forward: the network (or any callable) mapping ``(N, C, h, w)`` to ``(N, K, h, w)``
            or to a dict of such tensors (each with its own ``K``).
        image: the prepared input, on any device.
        tile: window side in pixels (see :func:`check_tiling`).
        overlap: pixels shared by neighbouring windows (default ``tile // 4``).
        device: where ``forward`` runs (default: the image's device). Blending happens on the
            CPU in float32, so only one tile at a time lives on ``device``.

    Returns:
        What ``forward`` returns, at the image's full size, on the CPU, float32.

    Raises:
        ValueError: for bad tiling settings or an image that is not ``(N, C, H, W)``, or an
            output whose size differs from its tile's.

    Shape:
        - Input: ``(N, C, H, W)``
        - Output: ``(N, K, H, W)`` (per dict entry)
    """
    tile, overlap = check_tiling(tile, overlap)
    if image.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) image, got shape {tuple(image.shape)}")
    batch, _, height, width = image.shape
    device = torch.device(device) if device is not None else image.device
    tile_h, tile_w = min(tile, height), min(tile, width)
    weights = blend_weights(tile_h, tile_w, overlap)
    total = torch.zeros(height, width)
    sums: dict[str, torch.Tensor] = {}
    single = True
    for y in tile_starts(height, tile, overlap):
        for x in tile_starts(width, tile, overlap):
            window = image[..., y : y + tile_h, x : x + tile_w].to(device)
            outputs, single = _as_dict(forward(window))
            for key, value in outputs.items():
                if tuple(value.shape[-2:]) != (tile_h, tile_w) or value.shape[0] != batch:
                    raise ValueError(
                        f"output {key or 'tensor'} has shape {tuple(value.shape)} for a "
                        f"({batch}, C, {tile_h}, {tile_w}) tile; tiling needs per-pixel outputs"
                    )
                if key not in sums:
                    sums[key] = torch.zeros(batch, value.shape[1], height, width)
                sums[key][..., y : y + tile_h, x : x + tile_w] += value.float().cpu() * weights
            total[y : y + tile_h, x : x + tile_w] += weights
    blended = {key: value / total for key, value in sums.items()}
    return blended[""] if single else blended
