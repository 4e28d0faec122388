"""DeepLabv3+: a dilated ResNet, atrous spatial pyramid pooling (ASPP) and a light decoder.

Reference: L.-C. Chen, Y. Zhu, G. Papandreou, F. Schroff, H. Adam, "Encoder-Decoder with Atrous
Separable Convolution for Semantic Image Segmentation", ECCV 2018.

Differences from the paper, and why:

* The backbone is a ResNet (as in torchvision's DeepLabv3 and most PyTorch ports), not the
  aligned Xception, so ImageNet weights from a torchvision ``resnet*`` file load directly. ASPP
  and decoder use standard (not depthwise-separable) 3x3 convolutions, as those ports do.
* The image-pooling branch of ASPP has no batch norm (a 1x1 convolution with bias, then ReLU).
  Batch norm on a 1x1 pooled map sees a single value per channel when the batch has one image,
  which PyTorch rejects in training mode; without it, batch size 1 trains.
* Inputs are padded to a multiple of the output stride and the logits cropped back, see
  :class:`~seglab.models.blocks.SegmentationModel`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seglab.models.backbones import RESNET_LAYERS, ResNetBackbone
from seglab.models.blocks import (
    SegmentationModel,
    check_choice,
    check_positive_float,
    check_probability,
    conv_bn_relu,
    init_weights_,
    scaled_channels,
)
from seglab.models.registry import register_model

__all__ = ["ASPP", "DeepLabV3Plus"]

# ASPP dilation rates at output stride 16; they double at output stride 8 (paper, Sec. 3.1).
_ASPP_RATES_OS16 = (6, 12, 18)
# Which of layer2, layer3, layer4 trade their stride for dilation.
_DILATED_LAYERS = {16: (False, False, True), 8: (False, True, True)}


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling; concat, 1x1.

    Args:
        in_channels: input channels.
        out_channels: channels of each branch and of the output.
        rates: dilation rates of the three 3x3 branches.
        dropout: dropout after the projection.

    Shape:
        - Input: ``(N, in_channels, H, W)``
        - Output: ``(N, out_channels, H, W)``

    Example:
        >>> ASPP(16, 8, rates=(1, 2, 3))(torch.zeros(1, 16, 4, 4)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(
        self, in_channels: int, out_channels: int, rates: tuple[int, ...], dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(in_channels, out_channels, kernel_size=1)])
        self.branches.extend(
            conv_bn_relu(in_channels, out_channels, dilation=rate) for rate in rates
        )
        # No batch norm here: see the module docstring (batch size 1 in training).
        self.image_pooling = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, kernel_size=1),
            nn.ReLU(inplace=True),
        )
        self.project = nn.Sequential(
            conv_bn_relu((len(rates) + 2) * out_channels, out_channels, kernel_size=1),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        # Upsampling a 1x1 map bilinearly is a broadcast, so expand it.
        outputs.append(self.image_pooling(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outputs, dim=1))


@register_model("deeplabv3plus")
class DeepLabV3Plus(SegmentationModel):
    """DeepLabv3+ (Chen et al., ECCV 2018) on a ResNet backbone.

    The ResNet replaces the stride of its last stage(s) by dilation to reach the output stride.
    ASPP runs on ``layer4`` with rates (6, 12, 18) at output stride 16, (12, 24, 36) at 8. The
    decoder projects ``layer1`` (stride 4) to 48 channels, concatenates the ASPP output
    upsampled to that size, refines with two 3x3 convolutions and upsamples the scores 4x
    (bilinear) to the input size.

    Args:
        num_classes: number of output channels K.
        in_channels: image channels.
        backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``
            (``backbone.*`` names match torchvision's ResNet at ``width=1.0``).
        output_stride: 16 or 8 (8 is finer and about 3x as costly).
        width: channel multiplier of the backbone and of the head (1.0: 256-channel ASPP and
            decoder, 48-channel low-level projection, as in the paper).
        dropout: dropout after the ASPP projection (0.1, as in the reference implementation).

    Shape:
        - Input: ``(N, in_channels, H, W)``, any size (padded to a multiple of the output
          stride internally). In training mode the ASPP batch norms need
          ``N * ceil(H / output_stride) * ceil(W / output_stride) > 1``.
        - Output: ``(N, num_classes, H, W)`` logits

    Example:
        >>> model = DeepLabV3Plus(num_classes=3, backbone="resnet18", width=0.25)
        >>> model(torch.zeros(1, 3, 97, 131)).shape
        torch.Size([1, 3, 97, 131])
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        *,
        backbone: str = "resnet50",
        output_stride: int = 16,
        width: float = 1.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            backbone=backbone,
            output_stride=output_stride,
            width=width,
            dropout=dropout,
        )
        check_choice("backbone", backbone, RESNET_LAYERS)
        check_choice("output_stride", output_stride, _DILATED_LAYERS)
        check_positive_float("width", width)
        check_probability("dropout", dropout)
        self.size_multiple = output_stride
        self.backbone = ResNetBackbone(
            backbone,
            in_channels,
            width=width,
            replace_stride_with_dilation=_DILATED_LAYERS[output_stride],
        )
        low_channels, high_channels = self.backbone.channels[0], self.backbone.channels[-1]
        head_channels = scaled_channels(256, width)
        low_projected = scaled_channels(48, width)
        rates = tuple(rate * 16 // output_stride for rate in _ASPP_RATES_OS16)
        self.aspp = ASPP(high_channels, head_channels, rates, dropout)
        self.low_level_project = conv_bn_relu(low_channels, low_projected, kernel_size=1)
        self.decoder = nn.Sequential(
            conv_bn_relu(head_channels + low_projected, head_channels),
            conv_bn_relu(head_channels, head_channels),
        )
        self.classifier = nn.Conv2d(head_channels, num_classes, kernel_size=1)
        for module in (self.aspp, self.low_level_project, self.decoder, self.classifier):
            init_weights_(module)

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:
        features = self.backbone(image)
        low = self.low_level_project(features[0])
        high = F.interpolate(
            self.aspp(features[-1]), size=low.shape[-2:], mode="bilinear", align_corners=False
        )
        scores = self.classifier(self.decoder(torch.cat([high, low], dim=1)))
        return F.interpolate(scores, size=image.shape[-2:], mode="bilinear", align_corners=False)
