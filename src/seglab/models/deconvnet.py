"""DeconvNet: a VGG16 encoder and a mirrored decoder of unpooling and deconvolution layers.

Reference: H. Noh, S. Hong, B. Han, "Learning Deconvolution Network for Semantic
Segmentation", ICCV 2015.

Differences from the reference model, and why:

* ``fc6`` is a 7x7 convolution with padding 3 and ``deconv-fc6`` a 7x7 transposed convolution
  with padding 3, so both keep the size of ``pool5``. The paper's unpadded 7x7 turns a
  224x224 input's 7x7 ``pool5`` into 1x1 and back; "same" padding lets any input size through
  (inputs are padded to a multiple of 32, see
  :class:`~seglab.models.blocks.SegmentationModel`).
* The 3x3 stride-1 "deconvolution" layers of the decoder are written as ``Conv2d``: a stride-1
  transposed convolution is a convolution with a flipped kernel, so the family of functions is
  the same, and ``Conv2d`` is the faster kernel on CPU.
* The max-pools return their argmax indices, and each ``MaxUnpool2d`` puts the values back at
  those positions ("switches" in the paper), which is what recovers the object's fine shape.
"""

from __future__ import annotations

import torch
from torch import nn

from seglab.models.backbones import VGG16_STAGES, VGG16Backbone
from seglab.models.blocks import (
    SegmentationModel,
    check_positive_float,
    conv_bn_relu,
    init_weights_,
    scaled_channels,
)
from seglab.models.registry import register_model

__all__ = ["DeconvNet"]


@register_model("deconvnet")
class DeconvNet(SegmentationModel):
    """DeconvNet (Noh et al., ICCV 2015) with batch norm, as in the paper.

    The encoder is ``vgg16_bn`` (its ``backbone.features.N.*`` names match torchvision's, so
    ImageNet weights load at ``width=1.0``), followed by fc6 (7x7) and fc7 (1x1) as
    convolutions. The decoder mirrors it: ``deconv-fc6``, then per stage a ``MaxUnpool2d`` with
    the encoder's pool indices and 3x3 convolutions with BN and ReLU, and a 1x1 score layer.

    Args:
        num_classes: number of output channels K.
        in_channels: image channels.
        width: channel multiplier (1.0: VGG16's channels and 4096-channel fc6/fc7, the paper's
            model of about 250 M parameters; 0.25 is a CPU-sized model).

    Shape:
        - Input: ``(N, in_channels, H, W)``, any size (padded to a multiple of 32 internally).
          In training mode, ``N * ceil(H / 32) * ceil(W / 32)`` must exceed 1, because the
          batch norms after fc6/fc7 need more than one value per channel.
        - Output: ``(N, num_classes, H, W)`` logits

    Example:
        >>> model = DeconvNet(num_classes=2, width=0.125)
        >>> model(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 2, 64, 64])
    """

    def __init__(self, num_classes: int, in_channels: int = 3, *, width: float = 1.0) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, width=width)
        check_positive_float("width", width)
        self.backbone = VGG16Backbone(
            in_channels, width=width, batch_norm=True, return_indices=True
        )
        pool5 = self.backbone.stage_channels[-1]
        fc_channels = scaled_channels(4096, width)
        self.fc6 = conv_bn_relu(pool5, fc_channels, kernel_size=7)
        self.fc7 = conv_bn_relu(fc_channels, fc_channels, kernel_size=1)
        self.deconv_fc6 = nn.Sequential(
            nn.ConvTranspose2d(fc_channels, pool5, kernel_size=7, padding=3, bias=False),
            nn.BatchNorm2d(pool5),
            nn.ReLU(inplace=True),
        )
        self.unpool = nn.MaxUnpool2d(kernel_size=2, stride=2)
        # decoder[0] mirrors stage 5, decoder[4] mirrors stage 1. Each stage keeps its width
        # and its last layer narrows to the width of the stage before, as in the paper.
        stages = [[scaled_channels(c, width) for c in stage] for stage in VGG16_STAGES]
        decoder = []
        for index in reversed(range(len(stages))):
            channels = stages[index]
            out_last = stages[index - 1][-1] if index > 0 else channels[-1]
            outs = [*channels[:-1], out_last]
            layers = []
            in_channels_ = channels[-1]
            for out in outs:
                layers.append(conv_bn_relu(in_channels_, out))
                in_channels_ = out
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        self.score = nn.Conv2d(stages[0][-1], num_classes, kernel_size=1)
        for module in (self.fc6, self.fc7, self.deconv_fc6, self.decoder, self.score):
            init_weights_(module)

    def forward_padded(self, image: torch.Tensor) -> torch.Tensor:
        stages = self.backbone(image)
        x = self.deconv_fc6(self.fc7(self.fc6(stages[-1][0])))
        # Unpool to the size each pool had on its input: the previous stage's output (or the
        # image for the first pool).
        sizes = [image.shape[-2:]] + [features.shape[-2:] for features, _ in stages[:-1]]
        for block, (_, indices), size in zip(
            self.decoder, reversed(stages), reversed(sizes), strict=True
        ):
            if torch.jit.is_tracing():
                x = block(_unpool2x_traceable(x, indices))
            else:
                x = block(self.unpool(x, indices, output_size=size))
        return self.score(x)


def _unpool2x_traceable(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``MaxUnpool2d(2, 2)`` as a scatter, for tracing (ONNX export).

    The TorchScript ONNX exporter has no ``max_unpool2d``, and ``F.max_unpool2d`` checks
    sizes in Python, which fails on traced sizes. The pool indices are flat positions in each
    ``(H, W)`` plane, so scattering into a flat zero plane is the same operation, with the same
    values. The input side is a multiple of 32, so every pool halved exactly and unpooling
    doubles.

    Shape:
        - Input: ``x`` and ``indices`` ``(N, C, H, W)``
        - Output: ``(N, C, 2 H, 2 W)``
    """
    n, c, h, w = x.shape
    flat = x.new_zeros(n, c, 4 * h * w).scatter(2, indices.flatten(2), x.flatten(2))
    return flat.view(n, c, 2 * h, 2 * w)
