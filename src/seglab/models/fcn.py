"""FCN-32s, FCN-16s and FCN-8s on a VGG16 backbone.

Reference: J. Long, E. Shelhamer, T. Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015.

Differences from the reference Caffe model, and why:

* No 100-pixel padding on ``conv1_1`` and no ``Crop`` layers. The original pads the input by 100
  so that ``fc6`` (a 7x7 convolution without padding) still sees a map on small images, then
  crops the upsampled scores at fixed offsets. Here ``fc6`` pads by 3 ("same"), the transposed
  convolutions use ``padding = stride / 2`` so each one multiplies the size exactly by its
  stride, and all maps align without crops. Inputs are padded to a multiple of 32 (see
  :class:`~seglab.models.blocks.SegmentationModel`).
* Every upsampling layer is a learned ``ConvTranspose2d`` initialised to bilinear interpolation
  (the paper fixes the last one; learning it costs little and never hurts the fit).
* ``score_pool4`` and ``score_pool3`` start at zero, so that FCN-16s/8s start out computing what
  FCN-32s/16s compute, as in the paper's staged training.
"""

from __future__ import annotations

import torch
from torch import nn

from seglab.models.backbones import VGG16Backbone
from seglab.models.blocks import (
    SegmentationModel,
    check_positive_float,
    check_probability,
    init_bilinear_,
    scaled_channels,
)
from seglab.models.registry import register_model

__all__ = ["FCN", "FCN32s", "FCN16s", "FCN8s"]


def _upsampling(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Transposed convolution that multiplies the size by ``factor`` exactly, bilinear at start."""
    layer = nn.ConvTranspose2d(
        channels, channels, kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False
    )
    return init_bilinear_(layer)


class FCN(SegmentationModel):
    """Fully convolutional network on VGG16; subclasses pick the finest fused stride.

    Args:
        num_classes: number of output channels K.
        in_channels: image channels.
        width: channel multiplier of the backbone and of fc6/fc7 (1.0: VGG16's 64..512 channels
            and 4096-channel fc6/fc7, the paper's model, whose backbone loads torchvision
            ``vgg16`` weights; 0.25 is a CPU-sized model).
        batch_norm: use the ``vgg16_bn`` backbone (BN after each convolution).
        dropout: dropout after fc6 and fc7 (0.5 in the paper).

    Shape:
        - Input: ``(N, in_channels, H, W)``, any size (padded to a multiple of 32 internally)
        - Output: ``(N, num_classes, H, W)`` logits
    """

    #: strides whose pool features are fused into the scores (none for FCN-32s)
    fused_strides: tuple[int, ...] = ()

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        *,
        width: float = 1.0,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            width=width,
            batch_norm=batch_norm,
            dropout=dropout,
        )
        check_positive_float("width", width)
        check_probability("dropout", dropout)
        self.backbone = VGG16Backbone(in_channels, width=width, batch_norm=batch_norm)
        pool3, pool4, pool5 = self.backbone.stage_channels[2:]
        fc_channels = scaled_channels(4096, width)
        # fc6/fc7 of VGG as convolutions; padding 3 keeps fc6's output the size of pool5.
        self.fc6 = nn.Sequential(
            nn.Conv2d(pool5, fc_channels, kernel_size=7, padding=3),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.fc7 = nn.Sequential(
            nn.Conv2d(fc_channels, fc_channels, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.score_fr = nn.Conv2d(fc_channels, num_classes, kernel_size=1)
        for layer in (self.fc6[0], self.fc7[0], self.score_fr):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        # Layer names follow the reference Caffe model (score_pool4, upscore2, ...).
        if 16 in self.fused_strides:
            self.upscore2 = _upsampling(num_classes, 2)
            self.score_pool4 = _zero_conv1x1(pool4, num_classes)
        if 8 in self.fused_strides:
            self.upscore_pool4 = _upsampling(num_classes, 2)
            self.score_pool3 = _zero_conv1x1(pool3, num_classes)
        final_stride = min(self.fused_strides, default=32)
        self.upscore = _upsampling(num_classes, final_stride)

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:
        stages = self.backbone(image)
        score = self.score_fr(self.fc7(self.fc6(stages[4])))  # stride 32
        if 16 in self.fused_strides:
            score = self.upscore2(score) + self.score_pool4(stages[3])  # stride 16
        if 8 in self.fused_strides:
            score = self.upscore_pool4(score) + self.score_pool3(stages[2])  # stride 8
        return self.upscore(score)


def _zero_conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A score layer for a skip, starting at zero so the fused net starts as the coarser one."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


@register_model("fcn32s")
class FCN32s(FCN):
    """FCN-32s (Long et al., CVPR 2015): VGG16 scores upsampled 32x in one step.

    See :class:`FCN` for the arguments.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, num_classes, H, W)``

    Example:
        >>> model = FCN32s(num_classes=2, width=0.125)
        >>> model(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 2, 64, 64])
    """

    fused_strides = ()


@register_model("fcn16s")
class FCN16s(FCN):
    """FCN-16s (Long et al., CVPR 2015): fuses pool4 scores, then upsamples 16x.

    See :class:`FCN` for the arguments.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, num_classes, H, W)``

    Example:
        >>> model = FCN16s(num_classes=2, width=0.125)
        >>> model(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 2, 64, 64])
    """

    fused_strides = (16,)


@register_model("fcn8s")
class FCN8s(FCN):
    """FCN-8s (Long et al., CVPR 2015): fuses pool4 then pool3 scores, then upsamples 8x.

    See :class:`FCN` for the arguments.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, num_classes, H, W)``

    Example:
        >>> model = FCN8s(num_classes=21, width=0.125)
        >>> model(torch.zeros(1, 3, 97, 131)).shape
        torch.Size([1, 21, 97, 131])
    """

    fused_strides = (16, 8)
