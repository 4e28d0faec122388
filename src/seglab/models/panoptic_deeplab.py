"""Bottom-up instance segmentation: semantic logits, an instance-centre heatmap and offsets.

Reference: B. Cheng, M. D. Collins, Y. Zhu, T. Liu, T. S. Huang, H. Adam, L.-C. Chen,
"Panoptic-DeepLab: A Simple, Strong, and Fast Baseline for Bottom-Up Panoptic Segmentation",
CVPR 2020.

The network predicts, at every pixel, (1) semantic class logits, (2) a class-agnostic heatmap
of instance centres and (3) a 2-D offset ``(dy, dx)`` from the pixel to the centre of its
instance. :func:`seglab.instance.grouping.group_instances` turns the three into an instance
label map: centres are the peaks of the heatmap, and each foreground pixel joins the centre
closest to where its offset points.

Differences from the paper, and why:

* The trunk is the U-Net of :mod:`seglab.models.unet` (padded convolutions, batch norm) rather
  than an ImageNet-pretrained ResNet with dual ASPP/decoders: seglab trains from scratch on
  the CPU, and a small U-Net at full resolution suits small, densely packed objects such as
  nuclei better than an output stride of 4.
* One decoder is shared by the three heads (the paper has a semantic and an instance decoder);
  each head still has its own 3x3 convolution before the 1x1 prediction, as in the paper's
  heads. ``dual_decoder=True`` gives the paper's split (a second U-Net decoder for the centre
  and offset heads) at about 1.4x the compute.

These models are **not** in the semantic registry (:func:`seglab.models.create_model`), whose
models all return one ``(N, K, H, W)`` tensor; build them with :func:`create_instance_model`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seglab.models.blocks import (
    check_positive_float,
    check_positive_int,
    conv_bn_relu,
    init_weights_,
    pad_to_multiple,
)
from seglab.models.unet import UNET_DEPTH, Up, double_conv

__all__ = [
    "PanopticDeepLab",
    "INSTANCE_MODELS",
    "create_instance_model",
    "instance_model_from_checkpoint",
]


def _head(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_relu(in_channels, hidden), nn.Conv2d(hidden, out_channels, 1))


class PanopticDeepLab(nn.Module):
    """Panoptic-DeepLab heads (Cheng et al., CVPR 2020) on a U-Net trunk.

    Args:
        num_classes: semantic classes K (2 for background / nucleus).
        in_channels: image channels.
        base_channels: channels of the first U-Net level; level ``i`` has
            ``base_channels * 2**i``.
        head_channels: channels of each head's 3x3 convolution (default ``2 * base_channels``).
        dual_decoder: give the centre and offset heads their own decoder, as in the paper.
        offset_scale: the offset head's output is multiplied by this many pixels, so that
            offsets of ten pixels or so are reached with weights of ordinary size (from the
            small initialisation of the head, raw pixel outputs take hundreds of steps to grow).

    Attributes:
        config: ``{"name": "panoptic_deeplab", ...}`` such that
            ``create_instance_model(**model.config)`` rebuilds the architecture.

    Shape:
        - Input: ``(N, in_channels, H, W)``, any ``H, W >= 1`` (padded to a multiple of 16
          internally, outputs cropped back)
        - Output: a dict with ``"semantic"`` ``(N, K, H, W)`` logits, ``"center"``
          ``(N, 1, H, W)`` heatmap (linear, trained against a Gaussian of peak 1) and
          ``"offset"`` ``(N, 2, H, W)`` offsets ``(dy, dx)`` in pixels to the instance centre

    Example:
        >>> model = PanopticDeepLab(num_classes=2, base_channels=4)
        >>> out = model(torch.zeros(1, 3, 37, 50))
        >>> [tuple(out[key].shape) for key in ("semantic", "center", "offset")]
        [(1, 2, 37, 50), (1, 1, 37, 50), (1, 2, 37, 50)]
    """

    name = "panoptic_deeplab"
    size_multiple = 2**UNET_DEPTH

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 3,
        *,
        base_channels: int = 16,
        head_channels: int | None = None,
        dual_decoder: bool = False,
        offset_scale: float = 8.0,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.in_channels = check_positive_int("in_channels", in_channels)
        check_positive_int("base_channels", base_channels)
        if head_channels is None:
            head_channels = 2 * base_channels
        check_positive_int("head_channels", head_channels)
        if not isinstance(dual_decoder, bool):
            raise ValueError(f"dual_decoder must be True or False, got {dual_decoder!r}")
        check_positive_float("offset_scale", offset_scale)
        self.offset_scale = float(offset_scale)
        self.config: dict[str, Any] = {
            "name": self.name,
            "num_classes": num_classes,
            "in_channels": in_channels,
            "base_channels": base_channels,
            "head_channels": head_channels,
            "dual_decoder": dual_decoder,
            "offset_scale": float(offset_scale),
        }
        channels = [base_channels * 2**level for level in range(UNET_DEPTH + 1)]
        self.encoder = nn.ModuleList([double_conv(in_channels, channels[0])])
        self.encoder.extend(
            double_conv(channels[level - 1], channels[level]) for level in range(1, UNET_DEPTH + 1)
        )
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

        def decoder() -> nn.ModuleList:
            return nn.ModuleList(Up(channels[level], False) for level in range(UNET_DEPTH, 0, -1))

        self.decoder = decoder()
        self.instance_decoder = decoder() if dual_decoder else None
        self.semantic_head = _head(channels[0], head_channels, num_classes)
        self.center_head = _head(channels[0], head_channels, 1)
        self.offset_head = _head(channels[0], head_channels, 2)
        init_weights_(self)
        for head in (self.semantic_head, self.center_head, self.offset_head):
            # Small final layers, as in the reference code: He initialisation would start the
            # heatmap and offsets at values in the tens and swamp the first steps with them.
            nn.init.normal_(head[-1].weight, std=0.01)
            nn.init.zeros_(head[-1].bias)

    @staticmethod
    def _decode(blocks: nn.ModuleList, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        for block in blocks:
            x = block(x, skips.pop())
        return x

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Semantic logits, centre heatmap and offsets at input size (see the class docstring)."""
        if image.ndim != 4 or image.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects a (N, {self.in_channels}, H, W) tensor, "
                f"got shape {tuple(image.shape)}"
            )
        height, width = image.shape[-2:]
        x = pad_to_multiple(image, self.size_multiple)
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        bottleneck = skips.pop()  # the bottleneck is not a skip
        semantic_features = self._decode(self.decoder, bottleneck, skips)
        instance_features = (
            semantic_features
            if self.instance_decoder is None
            else self._decode(self.instance_decoder, bottleneck, skips)
        )
        crop = (..., slice(0, height), slice(0, width))
        return {
            "semantic": self.semantic_head(semantic_features)[crop],
            "center": self.center_head(instance_features)[crop],
            "offset": self.offset_scale * self.offset_head(instance_features)[crop],
        }


INSTANCE_MODELS: dict[str, type[nn.Module]] = {PanopticDeepLab.name: PanopticDeepLab}


def create_instance_model(name: str = "panoptic_deeplab", **kwargs: Any) -> nn.Module:
    """Build a bottom-up instance model by name (its own small registry, see the module doc).

    Args:
        name: one of :data:`INSTANCE_MODELS` (``"panoptic_deeplab"``).
        **kwargs: constructor arguments, e.g. ``num_classes``, ``base_channels``.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).

    Example:
        >>> model = create_instance_model("panoptic_deeplab", base_channels=4)
        >>> create_instance_model(**model.config).config == model.config
        True
    """
    if name not in INSTANCE_MODELS:
        raise ValueError(
            f"unknown instance model {name!r}; valid models: {', '.join(sorted(INSTANCE_MODELS))}"
        )
    return INSTANCE_MODELS[name](**kwargs)


def instance_model_from_checkpoint(checkpoint: dict) -> nn.Module:
    """Rebuild the instance model of a checkpoint dict and load its weights (eval mode).

    Raises:
        ValueError: if the checkpoint holds another kind of model (its ``task`` is not
            ``"instance"``).
    """
    if checkpoint.get("task") != "instance":
        raise ValueError(
            f"this checkpoint is a {checkpoint.get('task')!r} model, not an instance model; "
            "use a checkpoint written by seglab.engine.train_instance"
        )
    model = create_instance_model(**checkpoint["model"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
