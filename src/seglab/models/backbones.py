"""VGG16 and ResNet backbones in plain PyTorch, with torchvision's parameter names.

The state-dict keys of :class:`VGG16Backbone` and :class:`ResNetBackbone` at ``width=1.0`` and
``in_channels=3`` are exactly those of torchvision's ``vgg16`` / ``vgg16_bn`` (``features.N.*``)
and ``resnet18/34/50/101`` (``conv1``, ``bn1``, ``layerX.Y.*``), minus the ImageNet classifier
(``classifier.*`` and ``fc.*``). So ImageNet weights saved from torchvision load with
:func:`seglab.models.load_backbone_weights`, without torchvision installed.

``width`` multiplies every channel count, for CPU-sized models; weights then no longer fit.
"""

from __future__ import annotations

import torch
from torch import nn

from seglab.models.blocks import (
    check_choice,
    check_positive_float,
    check_positive_int,
    scaled_channels,
)

__all__ = [
    "VGG16_STAGES",
    "RESNET_LAYERS",
    "VGG16Backbone",
    "ResNetBackbone",
    "BasicBlock",
    "Bottleneck",
]

# torchvision's configuration "D": conv widths of the five stages, each stage ending in a pool.
VGG16_STAGES: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)


class VGG16Backbone(nn.Module):
    """VGG16 convolutional part (Simonyan & Zisserman 2015), named like torchvision.

    ``features`` is the same ``nn.Sequential`` as torchvision's ``vgg16().features`` (conv, ReLU,
    and a max-pool at the end of each stage) or, with ``batch_norm=True``, as
    ``vgg16_bn().features`` (conv, BN, ReLU), so the indices ``N`` in ``features.N.weight`` match.

    Args:
        in_channels: image channels.
        width: channel multiplier (1.0 = torchvision shapes).
        batch_norm: use the ``vgg16_bn`` layout.
        return_indices: the max-pools also return their argmax indices (for DeconvNet's
            unpooling). Pools have no parameters, so names are unchanged.

    Shape:
        - Input: ``(N, in_channels, H, W)``, H and W multiples of 32
        - Output of :meth:`forward`: five stage outputs after each pool, strides 2 to 32; with
          ``return_indices`` a list of ``(features, indices)`` pairs.

    Example:
        >>> stages = VGG16Backbone(width=0.125)(torch.zeros(1, 3, 64, 64))
        >>> [tuple(s.shape[1:]) for s in stages]
        [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4), (64, 2, 2)]
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        width: float = 1.0,
        batch_norm: bool = False,
        return_indices: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_float("width", width)
        self.return_indices = return_indices
        self.stage_channels = [scaled_channels(stage[-1], width) for stage in VGG16_STAGES]
        layers: list[nn.Module] = []
        channels = in_channels
        for stage in VGG16_STAGES:
            for out in stage:
                out = scaled_channels(out, width)
                layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                channels = out
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, return_indices=return_indices))
        self.features = nn.Sequential(*layers)
        for layer in self.modules():
            # torchvision's VGG initialisation.
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
            elif isinstance(layer, nn.BatchNorm2d):
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, image: torch.Tensor) -> list:
        """Outputs of the five pools (see the class docstring)."""
        stages: list = []
        x = image
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                if self.return_indices:
                    x, indices = layer(x)
                    stages.append((x, indices))
                else:
                    x = layer(x)
                    stages.append(x)
            else:
                x = layer(x)
        return stages


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        dilation=dilation,
        bias=False,
    )


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Unlike torchvision, dilation > 1 is supported (on both convolutions), so that DeepLab can
    use ResNet-18/34 at output stride 8 or 16.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a residual connection (ResNet-50/101).

    The stride sits on the 3x3 convolution ("ResNet v1.5"), as in torchvision.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# Block type and blocks per stage, as in torchvision's resnet builders.
RESNET_LAYERS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


class ResNetBackbone(nn.Module):
    """ResNet (He et al. 2016) without its classifier, named like torchvision.

    Args:
        name: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        in_channels: image channels.
        width: channel multiplier (1.0 = torchvision shapes; 0.5 halves every layer).
        replace_stride_with_dilation: for ``layer2``, ``layer3``, ``layer4``, replace the
            stride 2 by dilation, as torchvision's argument of the same name. ``(False, False,
            True)`` gives output stride 16, ``(False, True, True)`` output stride 8.

    Attributes:
        channels: output channels of ``layer1`` .. ``layer4``.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output of :meth:`forward`: ``[layer1, layer2, layer3, layer4]`` outputs, strides
          4, 8, 16, 32 (less where a stride was replaced by dilation)

    Example:
        >>> net = ResNetBackbone("resnet18", width=0.25)
        >>> [tuple(f.shape[1:]) for f in net(torch.zeros(1, 3, 64, 64))]
        [(16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2)]
    """

    def __init__(
        self,
        name: str = "resnet50",
        in_channels: int = 3,
        *,
        width: float = 1.0,
        replace_stride_with_dilation: tuple[bool, bool, bool] = (False, False, False),
    ) -> None:
        super().__init__()
        check_choice("backbone", name, RESNET_LAYERS)
        check_positive_int("in_channels", in_channels)
        check_positive_float("width", width)
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                "replace_stride_with_dilation must have 3 entries (layer2, layer3, layer4), "
                f"got {replace_stride_with_dilation!r}"
            )
        block, blocks_per_layer = RESNET_LAYERS[name]
        stem = scaled_channels(64, width)
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._in_channels, self._dilation = stem, 1
        dilate = (False, *replace_stride_with_dilation)
        self.channels: list[int] = []
        for index, (planes, count) in enumerate(
            zip((64, 128, 256, 512), blocks_per_layer, strict=True)
        ):
            stride = 1 if index == 0 else 2
            layer = self._make_layer(
                block, scaled_channels(planes, width), count, stride, dilate[index]
            )
            self.add_module(f"layer{index + 1}", layer)
            self.channels.append(self._in_channels)
        del self._in_channels, self._dilation
        for layer in self.modules():
            # torchvision's ResNet initialisation.
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(layer, nn.BatchNorm2d):
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)

    def _make_layer(
        self, block: type[nn.Module], planes: int, count: int, stride: int, dilate: bool
    ) -> nn.Sequential:
        previous_dilation = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or self._in_channels != out_channels:
            downsample = nn.Sequential(
                _conv1x1(self._in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
            )
        # As in torchvision, the first block (which strides or not) keeps the previous dilation
        # and the following blocks use the new one.
        blocks = [block(self._in_channels, planes, stride, downsample, previous_dilation)]
        blocks += [block(out_channels, planes, dilation=self._dilation) for _ in range(1, count)]
        self._in_channels = out_channels
        return nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of ``layer1`` to ``layer4`` (see the class docstring)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features
