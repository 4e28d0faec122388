"""Building blocks shared by the segmentation models.

* :class:`SegmentationModel`: the base class. It checks the input, pads it to a multiple of the
  network's total stride, runs the network and crops the logits back, so every model accepts any
  ``H, W >= 1`` and returns logits at input size. It also keeps ``config``, the constructor
  arguments that rebuild the model with ``create_model(**model.config)``.
* :func:`conv_bn_relu`: 3x3 (or any) convolution, batch norm, ReLU.
* :func:`bilinear_upsampling_weight` / :func:`init_bilinear_`: the FCN initialisation of a
  transposed convolution as bilinear interpolation.
* :func:`scaled_channels`: channel count times a width multiplier.
* Argument checks with messages that name the argument and, for closed sets, the valid values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SegmentationModel",
    "conv_bn_relu",
    "bilinear_upsampling_weight",
    "init_bilinear_",
    "init_weights_",
    "scaled_channels",
    "pad_to_multiple",
    "check_positive_int",
    "check_positive_float",
    "check_probability",
    "check_choice",
]


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an ``int >= 1`` (bools excluded), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_positive_float(name: str, value: Any) -> float:
    """Return ``float(value)`` if it is a finite number ``> 0``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_probability(name: str, value: Any) -> float:
    """Return ``float(value)`` if it lies in ``[0, 1)``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    choices = list(choices)
    if isinstance(value, bool) or value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")
    return value


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1.

    Example:
        >>> scaled_channels(64, 0.25)
        16
    """
    return max(1, int(round(channels * width)))


def conv_bn_relu(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    dilation: int = 1,
    batch_norm: bool = True,
) -> nn.Sequential:
    """Convolution with "same" padding, then (optionally) batch norm, then ReLU.

    The convolution has no bias when batch norm follows, because the norm's shift replaces it.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, out_channels, H, W)``

    Example:
        >>> conv_bn_relu(3, 8)(torch.zeros(1, 3, 5, 5)).shape
        torch.Size([1, 8, 5, 5])
    """
    padding = dilation * (kernel_size - 1) // 2
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            padding=padding,
            dilation=dilation,
            bias=not batch_norm,
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def bilinear_upsampling_weight(channels: int, kernel_size: int) -> torch.Tensor:
    """Weight of a ``ConvTranspose2d(channels, channels, kernel_size)`` doing bilinear upsampling.

    This is the ``upsample_filt`` initialisation of the FCN reference code (Long et al. 2015):
    one 2-D bilinear kernel on the diagonal (channel ``c`` to channel ``c``), zeros elsewhere.
    With ``stride = f``, ``kernel_size = 2 f`` and ``padding = f // 2`` the layer reproduces
    ``F.interpolate(..., scale_factor=f, mode="bilinear", align_corners=False)`` away from the
    border.

    Shape:
        - Output: ``(channels, channels, kernel_size, kernel_size)``

    Example:
        >>> bilinear_upsampling_weight(1, 4)[0, 0, 0]
        tensor([0.0625, 0.1875, 0.1875, 0.0625])
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - torch.abs(torch.arange(kernel_size, dtype=torch.float64) - center) / factor
    kernel = (taps[:, None] * taps[None, :]).float()
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = kernel
    return weight


def init_bilinear_(layer: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """Initialise a square, ``C -> C`` transposed convolution to bilinear upsampling (in place)."""
    channels, kernel_size = layer.in_channels, layer.kernel_size[0]
    with torch.no_grad():
        layer.weight.copy_(bilinear_upsampling_weight(channels, kernel_size))
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def init_weights_(module: nn.Module) -> None:
    """He (fan-out) initialisation for convolutions, unit/zero for norms, as torchvision does."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of ``image`` so that H and W are multiples of ``multiple``.

    Reflect padding is used when it is possible (the pad is smaller than the side), because a
    mirrored border looks like image content to the network, unlike a block of zeros. Tiny
    inputs, where reflection is impossible, fall back to replicating the edge.

    Shape:
        - Input: ``(N, C, H, W)``
        - Output: ``(N, C, H', W')`` with ``H' = ceil(H / multiple) * multiple`` (same for W)

    Example:
        >>> pad_to_multiple(torch.zeros(1, 3, 97, 131), 32).shape
        torch.Size([1, 3, 128, 160])
    """
    if torch.jit.is_tracing():
        # ONNX export traces the model: Python branches on the size would be frozen at the
        # example input's size, so the traced graph picks the mode with tensor ops instead.
        return _pad_to_multiple_traceable(image, multiple)
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode)


def _pad_to_multiple_traceable(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """:func:`pad_to_multiple` without Python branches on the size, for tracing (ONNX export).

    The padded image is a gather of rows and columns of the input, with indices computed for
    both reflect and replicate padding and chosen by a tensor condition. Values are copied,
    never computed, so the result equals :func:`pad_to_multiple`'s exactly, at every size, in
    a graph whose H and W are dynamic.

    Shape:
        - Input: ``(N, C, H, W)``
        - Output: ``(N, C, H', W')``, as :func:`pad_to_multiple`
    """
    height, width = image.shape[-2:]  # 0-d tensors while tracing, ints otherwise
    # (m - s % m) % m rather than -s % m: no negative operand for the exported modulo.
    pad_h = (multiple - height % multiple) % multiple
    pad_w = (multiple - width % multiple) % multiple
    reflect = (pad_h < height) & (pad_w < width)
    if not isinstance(reflect, torch.Tensor):  # called eagerly, with int sizes
        reflect = torch.tensor(reflect)

    def indices(size, pad) -> torch.Tensor:
        index = torch.arange(size + pad, device=image.device)
        inside = index < size
        mirrored = torch.where(inside, index, 2 * (size - 1) - index)
        clamped = torch.where(inside, index, size - 1)
        return torch.where(reflect, mirrored, clamped)

    return image.index_select(2, indices(height, pad_h)).index_select(3, indices(width, pad_w))


class SegmentationModel(nn.Module):
    """Base class: input checks, padding to the network stride, cropping, stored config.

    Subclasses implement :meth:`forward_padded` for inputs whose sides are multiples of
    ``size_multiple`` and call ``super().__init__(**constructor_kwargs)``.

    Attributes:
        name: the registry name (set by :func:`seglab.models.register_model`).
        size_multiple: the total stride of the network; inputs are padded to a multiple of it.
        config: ``{"name": ..., "num_classes": ..., "in_channels": ..., ...}``, so that
            ``create_model(**model.config)`` rebuilds the same architecture.
    """

    name: str = ""
    size_multiple: int = 32

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", config["num_classes"])
        self.in_channels = check_positive_int("in_channels", config["in_channels"])
        self.config: dict[str, Any] = {"name": self.name, **config}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits at input size.

        Shape:
            - Input: ``(N, in_channels, H, W)`` float, any ``H, W >= 1``
            - Output: ``(N, num_classes, H, W)`` logits
        """
        if image.ndim != 4 or image.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects a (N, {self.in_channels}, H, W) tensor, "
                f"got shape {tuple(image.shape)}"
            )
        height, width = image.shape[-2:]
        logits = self.forward_padded(pad_to_multiple(image, self.size_multiple))
        return logits[..., :height, :width]

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Logits for an input whose H and W are multiples of ``size_multiple``."""
        raise NotImplementedError
