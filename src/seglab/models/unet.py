"""U-Net: a contracting path, an expanding path, and skip concatenations between them.

Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015.

Differences from the paper, and why:

* The 3x3 convolutions are padded, so the output has the input's size and no cropping of the
  skip features is needed (the paper's unpadded convolutions shrink a 572x572 tile to 388x388).
  Inputs are padded (reflect) to a multiple of 16 and the logits cropped back, see
  :class:`~seglab.models.blocks.SegmentationModel`.
* Each convolution is followed by batch norm, which makes training from scratch with Adam
  much less sensitive to the learning rate.
* ``base_channels`` defaults to 32, not the paper's 64: a quarter of the compute, which makes
  CPU training practical, at little cost on small data sets such as the Oxford-IIIT Pet subset.
"""

from __future__ import annotations

import torch
from torch import nn

from seglab.models.blocks import SegmentationModel, check_positive_int, conv_bn_relu, init_weights_
from seglab.models.registry import register_model

__all__ = ["UNet"]

# Number of 2x downsamplings; the paper's U-Net has four.
UNET_DEPTH = 4


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_relu(in_channels, out_channels), conv_bn_relu(out_channels, out_channels)
    )


class Up(nn.Module):
    """2x upsampling that halves the channels, concatenation with the skip, two convolutions."""

    def __init__(self, in_channels: int, bilinear: bool) -> None:
        super().__init__()
        out_channels = in_channels // 2
        if bilinear:
            self.upsample = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, kernel_size=1),
            )
        else:
            # The paper's "up-convolution": a 2x2 transposed convolution with stride 2.
            self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = double_conv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.upsample(x)], dim=1))


@register_model("unet")
class UNet(SegmentationModel):
    """U-Net (Ronneberger et al., MICCAI 2015) with padded convolutions and batch norm.

    Args:
        num_classes: number of output channels K.
        in_channels: image channels.
        base_channels: channels of the first level; level ``i`` has ``base_channels * 2**i``
            (default 32, the paper uses 64; 16 or 8 make very small models).
        bilinear: upsample with bilinear interpolation and a 1x1 convolution instead of the
            paper's 2x2 transposed convolution.

    Shape:
        - Input: ``(N, in_channels, H, W)``, any size (padded to a multiple of 16 internally).
          In training mode, ``N * ceil(H / 16) * ceil(W / 16)`` must exceed 1, because the
          batch norms of the bottleneck need more than one value per channel.
        - Output: ``(N, num_classes, H, W)`` logits

    Example:
        >>> model = UNet(num_classes=2, base_channels=8)
        >>> model(torch.zeros(1, 3, 97, 131)).shape
        torch.Size([1, 2, 97, 131])
    """

    size_multiple = 2**UNET_DEPTH

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        *,
        base_channels: int = 32,
        bilinear: bool = False,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            base_channels=base_channels,
            bilinear=bilinear,
        )
        check_positive_int("base_channels", base_channels)
        channels = [base_channels * 2**level for level in range(UNET_DEPTH + 1)]
        self.encoder = nn.ModuleList([double_conv(in_channels, channels[0])])
        self.encoder.extend(
            double_conv(channels[level - 1], channels[level]) for level in range(1, UNET_DEPTH + 1)
        )
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.decoder = nn.ModuleList(
            Up(channels[level], bilinear) for level in range(UNET_DEPTH, 0, -1)
        )
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)
        init_weights_(self)

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:
        skips = []
        x = image
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for block in self.decoder:
            x = block(x, skips.pop())
        return self.head(x)
